"""Safe weight files: safetensors for tensors, a JSON card beside them, atomic writes.

Loading never unpickles anything. Every failure (missing, truncated, corrupt, wrong
architecture) is one `WeightsError` that names the file and the reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from digits.config import weights_dir
from digits.models import create_model, list_models

WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"
CARD_METADATA_KEY = "card"  # the card is also embedded in the safetensors header


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


class WeightsError(RuntimeError):
    """A weight file that cannot be used, with the path and the reason."""

    def __init__(self, path: os.PathLike | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def weights_path(name: str, directory: os.PathLike | str | None = None) -> Path:
    return weights_dir(directory) / f"{name}{WEIGHTS_SUFFIX}"


def card_path(name: str, directory: os.PathLike | str | None = None) -> Path:
    return weights_dir(directory) / f"{name}{CARD_SUFFIX}"


def atomic_write(path: Path, write: callable) -> None:
    """Write through a temporary file in the same folder, fsync, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; weight files are meant to be shared
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_weights(model: nn.Module, name: str, card: dict[str, Any],
                 directory: os.PathLike | str | None = None) -> Path:
    """Save tensors and card atomically. The card read back is the one inside the safetensors
    header, so a crash between the two writes leaves at most a stale JSON copy, never new
    tensors with an old card; a crash during a write leaves the old file intact."""
    path = weights_path(name, directory)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    card_json = json.dumps(card, indent=2, sort_keys=False)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={CARD_METADATA_KEY: card_json}))
    atomic_write(card_path(name, directory), lambda tmp: Path(tmp).write_text(card_json + "\n"))
    return path


def _read_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header metadata of one safetensors file, read in one go."""
    if not path.exists():
        raise WeightsError(path, "file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {key: fh.get_tensor(key) for key in fh.keys()}, fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(path, f"not a readable safetensors file (truncated or corrupt): {exc}") from None


def read_tensors(path: os.PathLike | str) -> dict[str, torch.Tensor]:
    return _read_file(Path(path))[0]


def _card_from(metadata: dict[str, str], path: Path) -> dict[str, Any]:
    try:
        return json.loads(metadata[CARD_METADATA_KEY])
    except KeyError:
        raise WeightsError(path, "no card in the file's header") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(path, f"unreadable card in the file's header: {exc}") from None


def check_compatible(model: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Raise WeightsError unless tensors hold exactly the model's parameters and shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise WeightsError(path, f"does not match the architecture: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise WeightsError(
                path, f"does not match the architecture: '{key}' has shape {tuple(tensors[key].shape)}, "
                      f"the model needs {tuple(value.shape)}")


def read_card(name: str, directory: os.PathLike | str | None = None) -> dict[str, Any]:
    """The card saved inside the weight file's header: it always describes those tensors. (The
    JSON file beside it is a human-readable copy; it is read only for files without a card.)"""
    path = weights_path(name, directory)
    if path.exists():
        try:
            with safe_open(str(path), framework="pt") as fh:
                metadata = fh.metadata() or {}
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(path, f"not a readable safetensors file (truncated or corrupt): {exc}") from None
        if CARD_METADATA_KEY in metadata:
            return _card_from(metadata, path)
    copy = card_path(name, directory)
    try:
        return json.loads(copy.read_text())
    except FileNotFoundError:
        raise WeightsError(copy, "card not found") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(copy, f"unreadable card: {exc}") from None


RUN_KEYS = ("date", "command", "train_seconds", "test_accuracy")  # one run of a card's lineage


def runs_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    """The training runs that made a model's weights, oldest first (`lineage`): a fine-tune
    starts from the weights before it, so its own command alone does not reproduce them.
    A card written before cards kept their lineage gives its own run only."""
    return card.get("lineage") or [{k: card.get(k) for k in RUN_KEYS}]


def lineage(card: dict[str, Any], previous: dict[str, Any] | None, finetuned: bool) -> list[dict[str, Any]]:
    """A new card's lineage: the previous weights' runs, then this one, for a fine-tune; this
    run alone for weights trained from scratch."""
    this = {k: card.get(k) for k in RUN_KEYS}
    return [*runs_of(previous), this] if finetuned and previous else [this]


def load_model_and_card(name: str, directory: os.PathLike | str | None = None,
                        device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The model and the card from one read of its file, so the two always belong together."""
    path = weights_path(name, directory)
    tensors, metadata = _read_file(path)
    model = create_model(name)
    check_compatible(model, tensors, path)
    model.load_state_dict(tensors)
    card = _card_from(metadata, path) if CARD_METADATA_KEY in metadata else read_card(name, directory)
    return model.to(device).eval(), card


def load_model(name: str, directory: os.PathLike | str | None = None,
               device: torch.device | str = "cpu") -> nn.Module:
    """Build the registered architecture and fill it from its safetensors file."""
    path = weights_path(name, directory)
    tensors = read_tensors(path)
    model = create_model(name)
    check_compatible(model, tensors, path)
    model.load_state_dict(tensors)
    return model.to(device).eval()


def available_weights(directory: os.PathLike | str | None = None) -> list[str]:
    """Registered model names that have a weight file (validity is checked on load)."""
    return [n for n in list_models() if weights_path(n, directory).exists()]
