"""Hosting on Hugging Face Spaces: the front matter, the Space's own folder, and the ZeroGPU
wiring checked with a stand-in `spaces` module that records what it decorated."""

from __future__ import annotations

import re
import sys
import types

import pytest

from digits import space
from digits.training.engine import TrainConfig
from digits.training.gpu import MAX_CALL_S, fits, gpu_seconds
from tests.conftest import ROOT


def _pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^\s#;]+)", text, re.M))


def test_the_front_matter_agrees_with_requirements_and_pyproject():
    meta = space.front_matter((ROOT / "README.md").read_text())
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == _pins((ROOT / "requirements.txt").read_text())["gradio"]
    assert (ROOT / meta["app_file"]).is_file()
    python = meta["python_version"]
    assert python in ("3.10", "3.12")  # what ZeroGPU runs
    minimum = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert tuple(map(int, python.split("."))) >= tuple(map(int, minimum.groups()))


def test_the_space_folder_has_its_own_pins_front_matter_and_lfs_rules(tmp_path):
    out = space.write_space(tmp_path / "space", runtime=False)
    pins = _pins((out / "requirements.txt").read_text())
    local = _pins((ROOT / "requirements.txt").read_text())
    assert pins["torch"] == space.SPACE_TORCH["torch"] != local["torch"]
    assert pins["torchvision"] == space.SPACE_TORCH["torchvision"] and "spaces" in pins
    assert {k: v for k, v in pins.items() if k in local and k not in space.SPACE_TORCH} == \
        {k: v for k, v in local.items() if k not in space.SPACE_TORCH}
    meta = space.front_matter((out / "README.md").read_text())
    assert meta["python_version"] == "3.12" and meta["sdk_version"] == pins["gradio"] and meta["app_file"] == "demo.py"
    assert (out / meta["app_file"]).is_file() and (out / "ui" / "draw.py").is_file()
    assert sorted(p.name for p in (out / "weights").glob("*.safetensors")) == [
        "cnn.safetensors", "judge.safetensors", "lenet5.safetensors", "mlp.safetensors", "modern.safetensors",
        "pair.safetensors"]
    lfs = (out / ".gitattributes").read_text()
    for pattern in ("*.safetensors", "*.png", "*.onnx", "*.wasm"):
        assert f"{pattern} filter=lfs" in lfs
    assert not (out / "tests").exists() and not list(out.rglob("__pycache__"))
    for binary in out.rglob("*"):
        if binary.suffix in (".safetensors", ".png", ".onnx", ".wasm"):
            assert f"*{binary.suffix}" in lfs, binary


def test_gpu_time_is_estimated_from_the_recipe():
    modern = TrainConfig.from_recipe("modern")
    assert 20 < gpu_seconds(modern) < 60  # 10 epochs at 1.25 s on the GPU, start-up, a margin
    assert gpu_seconds(TrainConfig.from_recipe("modern", epochs=20)) > gpu_seconds(modern)
    assert fits(modern)[0] and "of GPU time" in fits(modern)[1]
    ok, message = fits(TrainConfig.from_recipe("modern", epochs=400))
    assert not ok and f"{MAX_CALL_S} s" in message


@pytest.fixture
def stand_in_spaces(monkeypatch):
    """A `spaces` module that records each decorated function and its duration."""
    recorded = []
    module = types.ModuleType("spaces")

    def GPU(duration=60):  # noqa: N802 - the real decorator's name
        def decorate(fn):
            recorded.append((fn, duration))
            fn.zerogpu_duration = duration
            return fn
        return decorate

    module.GPU = GPU
    monkeypatch.setitem(sys.modules, "spaces", module)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("DIGITS_TRAINING", "on")
    return recorded


def _event_fns(blocks) -> list:
    return [f.fn for f in blocks.fns.values() if f.fn is not None]


def test_on_zerogpu_the_start_event_calls_the_decorated_function(stand_in_spaces, monkeypatch):
    import demo
    from ui import state

    monkeypatch.setenv("DIGITS_MAX_EPOCHS", "400")
    blocks = demo.build_app(state.AppState.from_env())
    ((decorated, duration),) = stand_in_spaces
    assert decorated in _event_fns(blocks)  # ZeroGPU looks for it among the events' own functions
    args = ("modern", 10, 256, 0.006, False, False, False)
    assert duration(*args) == gpu_seconds(TrainConfig.from_recipe("modern", epochs=10))
    assert duration("modern", 400, 256, 0.006) == MAX_CALL_S
    check = next(f for f in _event_fns(blocks) if getattr(f, "__name__", "") == "check")
    assert "of GPU time" in check(*args)
    with pytest.raises(Exception, match="more than one GPU call"):
        check("modern", 400, 256, 0.006, False, False, False)


def test_the_decorated_job_trains_and_streams_its_progress(stand_in_spaces, monkeypatch, mnist, tmp_path):
    import shutil

    import demo
    from ui import state

    for f in (ROOT / "weights").glob("mlp.*"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("DIGITS_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("DIGITS_TRAIN_MAX_BATCHES", "20")
    blocks = demo.build_app(state.AppState.from_env())
    ((train_on_gpu, _),) = stand_in_spaces
    views = list(train_on_gpu("mlp", 1, 256, 0.002, False, False, False))
    progress, curve, card = views[-1]
    assert len(views) >= 2 and "done" in progress and "test accuracy" in card
    assert blocks.app_state.job.snapshot().status == "done"


def test_off_zerogpu_spaces_is_never_imported(monkeypatch):
    import subprocess

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    probe = "import demo, sys\ndemo.build_app()\nprint('spaces' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"DIGITS_FEEDBACK": "off", "DIGITS_TRAINING": "on", "PATH": ""})
    assert out.stdout.strip().splitlines()[-1] == "False"
