"""The background job: one at a time, caps, progress, cancel, weights untouched on cancel."""

import pytest

from digits.training.engine import TrainConfig
from digits.training.jobs import TrainingJob
from digits.weights import weights_path


def test_caps_apply_whatever_was_asked():
    job = TrainingJob(max_epochs=3, max_batches=50)
    cfg = job.limit(TrainConfig.from_recipe("mlp", epochs=100))
    assert cfg.recipe.epochs == 3 and cfg.max_batches == 50
    assert job.limit(TrainConfig.from_recipe("mlp", epochs=2, max_batches=10)).max_batches == 10


@pytest.mark.slow
def test_job_runs_refuses_a_second_start_and_saves(mnist, tmp_path):
    job = TrainingJob(weights_dir=str(tmp_path), max_batches=40, threads=1)
    finished = []
    job.on_finish(finished.append)
    ok, _ = job.start(TrainConfig.from_recipe("lenet5", epochs=1))
    assert ok
    again, message = job.start(TrainConfig.from_recipe("mlp", epochs=1))
    assert not again and "already running" in message
    state = job.wait(timeout=120)
    assert state.status == "done", state.message
    assert state.card["model"] == "lenet5" and state.replaced
    assert weights_path("lenet5", tmp_path).exists()
    assert state.curve and state.progress["step"] == 40
    assert finished and finished[0].status == "done"
    assert state.backend.startswith("cpu, ")  # the child said how it computes


@pytest.mark.slow
def test_cancel_keeps_previous_weights(mnist, tmp_path):
    job = TrainingJob(weights_dir=str(tmp_path), threads=1)
    job.start(TrainConfig.from_recipe("lenet5", epochs=1, max_batches=40))
    assert job.wait(timeout=120).status == "done"
    before = weights_path("lenet5", tmp_path).read_bytes()
    job.start(TrainConfig.from_recipe("lenet5", epochs=5))
    import time

    deadline = time.monotonic() + 60
    while (job.snapshot().progress or {}).get("step", 0) < 5:
        assert time.monotonic() < deadline, job.snapshot().message
        time.sleep(0.05)
    assert job.snapshot().message == f"training ({job.snapshot().backend})"
    assert job.cancel()
    t0 = time.monotonic()
    state = job.wait(timeout=30)
    assert state.status == "cancelled" and time.monotonic() - t0 < 5
    assert weights_path("lenet5", tmp_path).read_bytes() == before


def test_cancel_without_a_job_is_a_no_op():
    assert TrainingJob().cancel() is False
    assert not TrainingJob().snapshot().active


@pytest.mark.parametrize("status,active", [("running", True), ("cancelling", True), ("done", False)])
def test_active_states(status, active):
    from digits.training.jobs import JobState

    assert JobState(status=status).active is active
