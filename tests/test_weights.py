import os
from unittest import mock

import pytest
import torch

from digits.models import create_model
from digits.recognition.inference import ModelStore
from digits.weights import WeightsError, load_model, read_card, save_weights, weights_path

CARD = {"model": "lenet5", "test_accuracy": 0.5, "val_accuracy": 0.5}


def _saved(tmp_path, name="lenet5", seed=0):
    torch.manual_seed(seed)
    model = create_model(name)
    save_weights(model, name, dict(CARD, model=name), tmp_path)
    return model


def test_round_trip_is_exact(tmp_path):
    model = _saved(tmp_path)
    loaded = load_model("lenet5", tmp_path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert read_card("lenet5", tmp_path) == CARD
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(WeightsError, match="lenet5.safetensors: file not found"):
        load_model("lenet5", tmp_path)


def test_truncated_file_is_a_clear_error(tmp_path):
    _saved(tmp_path)
    path = weights_path("lenet5", tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated or corrupt") as err:
        load_model("lenet5", tmp_path)
    assert err.value.path == path


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = weights_path("lenet5", tmp_path)
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(WeightsError, match="lenet5.safetensors"):
        load_model("lenet5", tmp_path)


def test_pickle_is_never_loaded(tmp_path):
    """A torch.save pickle under the weights name is rejected, not unpickled."""
    torch.save(create_model("lenet5").state_dict(), weights_path("lenet5", tmp_path))
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        load_model("lenet5", tmp_path)


def test_architecture_mismatch_is_a_clear_error(tmp_path):
    save_weights(create_model("mlp"), "lenet5", CARD, tmp_path)  # mlp tensors under lenet5's name
    with pytest.raises(WeightsError, match="does not match the architecture"):
        load_model("lenet5", tmp_path)


def test_shape_mismatch_names_the_tensor(tmp_path):
    model = create_model("lenet5")
    state = model.state_dict()
    state["9.weight"] = torch.zeros(84, 99)
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights_path("lenet5", tmp_path)))
    with pytest.raises(WeightsError, match=r"'9.weight' has shape \(84, 99\)"):
        load_model("lenet5", tmp_path)


def test_crash_during_save_keeps_previous_weights(tmp_path):
    old = _saved(tmp_path, seed=0)
    before = weights_path("lenet5", tmp_path).read_bytes()
    torch.manual_seed(1)
    new = create_model("lenet5")

    def crash(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt("simulated crash mid-save")

    with mock.patch("digits.weights.save_file", crash), pytest.raises(KeyboardInterrupt):
        save_weights(new, "lenet5", CARD, tmp_path)
    assert weights_path("lenet5", tmp_path).read_bytes() == before
    loaded = load_model("lenet5", tmp_path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in old.state_dict().items())
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_store_skips_broken_files_and_reports_why(tmp_path):
    _saved(tmp_path, "lenet5")
    weights_path("mlp", tmp_path).write_bytes(b"broken")
    store = ModelStore(tmp_path)
    assert store.available() == ["lenet5"]
    assert "mlp" in store.errors and "truncated or corrupt" in store.errors["mlp"]


def test_store_reloads_changed_weights(tmp_path):
    _saved(tmp_path, seed=0)
    store = ModelStore(tmp_path)
    first = store.get("lenet5")
    _saved(tmp_path, seed=1)
    os.utime(weights_path("lenet5", tmp_path), ns=(1, 10**18))
    second = store.get("lenet5")
    assert first is not second
    assert not torch.equal(first.state_dict()["0.weight"], second.state_dict()["0.weight"])
