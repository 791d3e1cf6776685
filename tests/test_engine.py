import threading

import torch

from digits.evaluate import accuracy
from digits.models import Augment
from digits.training.engine import TrainConfig, train


def _cfg(**kw):
    base = dict(epochs=3, batch_size=32, lr=3e-3, seed=0, device="cpu", bf16=False)
    base.update(kw)
    return TrainConfig.from_recipe("lenet5", **base)


def test_loss_goes_down_and_progress_fires(tiny_data):
    events = []
    result = train(_cfg(augment=Augment()), tiny_data, on_progress=events.append)
    train_events = [e for e in events if e.phase == "train"]
    assert len(train_events) == result.history[-1]["epoch"] * 12  # 384 images / 32
    assert [e.phase for e in events if e.phase != "train"] == ["epoch_end"] * 3 + ["done"]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert accuracy(result.model, tiny_data.val) > 0.9
    assert all(e.eta >= 0 for e in events) and events[-1].val_acc == result.val_acc


def test_cancel_stops_within_one_batch(tiny_data):
    cancel = threading.Event()
    seen = []

    def on_progress(p):
        seen.append(p)
        if p.phase == "train" and p.step == 5:
            cancel.set()

    result = train(_cfg(epochs=50), tiny_data, on_progress=on_progress, cancel=cancel)
    assert result.cancelled
    assert max(p.step for p in seen) == 5
    assert seen[-1].phase == "cancelled"


def test_max_batches_caps_the_run(tiny_data):
    steps = []
    train(_cfg(epochs=10, max_batches=7), tiny_data, on_progress=lambda p: steps.append(p.step))
    assert max(steps) == 7


def test_seeded_runs_are_reproducible_on_cpu(tiny_data):
    a = train(_cfg(epochs=1), tiny_data).model.state_dict()
    b = train(_cfg(epochs=1), tiny_data).model.state_dict()
    c = train(_cfg(epochs=1, seed=1), tiny_data).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_best_epoch_is_chosen_on_validation(tiny_data):
    result = train(_cfg(epochs=3), tiny_data)
    best = max(result.history, key=lambda h: h["val_acc"])
    assert result.best_epoch == best["epoch"]
    assert abs(accuracy(result.model, tiny_data.val) - best["val_acc"]) < 1e-6


def test_describe_backend_names_device_precision_and_speedups_without_building(monkeypatch):
    from digits.config import ACCEL_ENV
    from digits.training.accel import native
    from digits.training.engine import describe_backend

    native.reset()
    calls = []
    monkeypatch.setattr(native, "_load", lambda: calls.append(1) or (None, "unused"))
    cfg = TrainConfig.from_recipe("lenet5", device="cpu", bf16=False)
    assert describe_backend(TrainConfig.from_recipe("lenet5", device="cpu", bf16=True)) == \
        "cpu, bfloat16 autocast, native kernels: 2 fused stages"
    assert describe_backend(TrainConfig.from_recipe("cnn", device="cpu", bf16=True)) == \
        "cpu, bfloat16 autocast, native kernels: 1 fused stage"
    assert describe_backend(cfg) == "cpu, float32, drop-in modules (the fused stages run in bfloat16 only)"
    assert describe_backend(TrainConfig.from_recipe("mlp", device="cpu", bf16=False)) == "cpu, float32, drop-in modules"
    assert describe_backend(TrainConfig.from_recipe("lenet5", device="cpu", bf16=False, accel=False)) == \
        "cpu, float32, speed-ups off"
    monkeypatch.setenv(ACCEL_ENV, "0")
    assert describe_backend(cfg) == "cpu, float32, speed-ups off"
    assert calls == []  # describing never builds (or loads) the kernels
    native.reset()


def test_accel_off_trains_the_plain_module_tree(tiny_data, monkeypatch):
    from digits.config import ACCEL_ENV

    monkeypatch.setenv(ACCEL_ENV, "0")
    result = train(_cfg(epochs=1, max_batches=2), tiny_data)
    assert result.backend["accelerated"] == []
    monkeypatch.delenv(ACCEL_ENV)
    assert train(_cfg(epochs=1, max_batches=2), tiny_data).backend["accelerated"] != []


def test_config_holds_the_models_recipe_with_overrides():
    from digits.models import get_spec
    cfg = TrainConfig.from_recipe("cnn", lr=0.5, seed=4, max_batches=None)
    assert cfg.recipe.lr == 0.5 and cfg.seed == 4 and cfg.max_batches is None
    assert cfg.recipe.epochs == get_spec("cnn").recipe.epochs  # untouched fields come from the registry
    flat = cfg.to_dict()
    assert flat["lr"] == 0.5 and flat["model"] == "cnn" and "recipe" not in flat
