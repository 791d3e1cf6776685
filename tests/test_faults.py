"""Faults while serving and training: a weight file turned to garbage, the training process
killed (mid-epoch and mid-save), and a weights folder that is read-only or full when a job ends."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from digits.training.data import mnist_available
from digits.training.engine import TrainConfig
from digits.training.jobs import TrainingJob
from digits.weights import load_model, read_card
from tests.conftest import ROOT
from tests.devserver import call, running_app

JOB_TIMEOUT_S = 120
SMALL_DISK = "400k"  # holds the shipped LeNet-5 weights (about 250 kB) but not a second copy


SEVEN = json.dumps({"strokes": [[[90, 80], [250, 80], [150, 290]]], "width": 336, "height": 336, "pen": 28})


def test_garbage_weights_while_serving(tmp_path):
    with running_app(None, tmp_path / "app.log") as app, httpx.Client(base_url=app.url, timeout=60) as client:
        kind, outputs = call(client, "classify", [SEVEN, "lenet5"])
        assert kind == "complete" and not outputs[0]["unavailable"] and len(outputs[0]["models"]) == 4
        good = (app.weights / "lenet5.safetensors").read_bytes()
        (app.weights / "lenet5.safetensors").write_bytes(b"garbage, not tensors")
        kind, outputs = call(client, "classify", [SEVEN, "lenet5"])
        assert kind == "complete"
        (gone,) = outputs[0]["unavailable"]
        assert gone["display"] == "LeNet-5" and gone["why"].startswith("not a readable safetensors file")
        answered = {m["display"]: int(np.argmax(m["probs"])) for m in outputs[0]["models"]}
        assert answered == {"MLP": 7, "Simple CNN": 7, "Modern CNN": 7}  # the others keep answering
        (app.weights / "lenet5.safetensors").write_bytes(good)
        kind, outputs = call(client, "classify", [SEVEN, "lenet5"])
        assert not outputs[0]["unavailable"] and outputs[0]["selected"] == "lenet5"


needs_mnist = pytest.mark.skipif(not mnist_available(), reason="real MNIST is not reachable: set DIGITS_DATA")


def _weights_copy(tmp_path: Path, names=("mlp", "lenet5")) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    for name in names:
        for suffix in (".safetensors", ".json"):
            shutil.copy(ROOT / "weights" / f"{name}{suffix}", folder)
    return folder


@needs_mnist
def test_training_killed_mid_epoch_leaves_the_weights_and_says_it_died(tmp_path):
    from ui.train import progress_html

    weights = _weights_copy(tmp_path)
    before = (weights / "mlp.safetensors").read_bytes()
    job = TrainingJob(weights_dir=str(weights))
    ok, _ = job.start(TrainConfig.from_recipe("mlp", epochs=3))
    assert ok
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not (job.snapshot().progress or {}).get("batch"):
        assert time.monotonic() < deadline, "the job never reported a batch"
        time.sleep(0.1)
    os.kill(job._process.pid, signal.SIGKILL)
    state = job.wait(JOB_TIMEOUT_S)
    assert state.status == "failed" and "-9" in state.message
    assert "failed" in progress_html(state) and "exited unexpectedly" in progress_html(state)
    assert (weights / "mlp.safetensors").read_bytes() == before
    load_model("mlp", weights)


# A child process that saves new weights and SIGKILLs itself at a chosen point of the save.
KILL_MID_SAVE = """
import os, signal, sys
import digits.weights as w
from digits.models import create_model
when, folder = sys.argv[1], sys.argv[2]
replace = os.replace
calls = []
def dying_replace(src, dst):
    calls.append(dst)
    if when == "before-tensors" or (when == "between" and len(calls) == 2):
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)
w.os.replace = dying_replace
w.save_weights(create_model("lenet5"), "lenet5", {"marker": "new"}, folder)
"""


@pytest.mark.parametrize("when", ["before-tensors", "between"])
def test_killed_mid_save_never_pairs_tensors_with_another_card(tmp_path, when):
    weights = _weights_copy(tmp_path, ("lenet5",))
    old_tensors = (weights / "lenet5.safetensors").read_bytes()
    proc = subprocess.run([sys.executable, "-c", KILL_MID_SAVE, when, str(weights)], cwd=ROOT, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    card = read_card("lenet5", weights)
    load_model("lenet5", weights)  # whatever is there loads
    if when == "before-tensors":
        assert (weights / "lenet5.safetensors").read_bytes() == old_tensors and card.get("marker") is None
    else:  # new tensors landed, the JSON copy did not: the card read is the one inside the new file
        assert (weights / "lenet5.safetensors").read_bytes() != old_tensors and card == {"marker": "new"}


@contextlib.contextmanager
def _small_disk(size: str):
    """A real tmpfs of a few hundred kB (root only); skipped, saying why, where mounting is not allowed."""
    folder = Path(tempfile.mkdtemp(prefix="digits-disk-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
        folder.rmdir()


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_job_that_cannot_save_says_why_and_leaves_nothing_half_written(tmp_path, fault):
    with _small_disk(SMALL_DISK) as disk:
        for suffix in (".safetensors", ".json"):
            shutil.copy(ROOT / "weights" / f"lenet5{suffix}", disk)
        before = (disk / "lenet5.safetensors").read_bytes()
        if fault == "read-only":
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        job = TrainingJob(weights_dir=str(disk), max_batches=5)
        assert job.start(TrainConfig.from_recipe("lenet5", epochs=1))[0]
        state = job.wait(JOB_TIMEOUT_S)
        expected = "No space left on device" if fault == "full" else "Read-only file system"
        assert state.status == "failed" and expected in state.message
        assert (disk / "lenet5.safetensors").read_bytes() == before
        leftovers = [p.name for p in disk.rglob("*") if p.name.endswith(".tmp")]
        assert leftovers == []
        load_model("lenet5", disk)
