"""MNIST as in-memory tensors: one load, batches by indexing, a fixed validation split."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from digits.config import DATA_ENV, data_dir, normalize  # noqa: F401 (normalize: used by training from here)

# The last 5,000 of the 60,000 training images are held out for every choice made
# during training (best epoch); the test split is only ever used for reporting.
VALIDATION_SIZE = 5_000
NOT_A_DIGIT = -1  # the label of a non-digit drawing in a training split (digits/synthetic/negatives.py)

_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataNotFoundError(RuntimeError):
    """MNIST is not on disk and could not be downloaded."""


@dataclass
class Split:
    """Images as float tensors in [0, 1], shape (N, 1, 28, 28), and int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


FINGERPRINT_IMAGES = 256  # a split's first images identify it well enough for a per-process cache


class MadeOnce:
    """Splits drawn from other splits (pen tracings, negatives: seconds to minutes to make),
    kept per process so every model trained in it draws them once. Keyed by the caller's
    arguments and the source split's content; at most `keep` at a time."""

    def __init__(self, keep: int = 1):
        self.keep, self._made, self._lock = keep, {}, threading.Lock()

    @staticmethod
    def fingerprint(split: Split) -> str:
        return hashlib.sha1(split.images[:FINGERPRINT_IMAGES].numpy().tobytes()).hexdigest()

    def get(self, key: Hashable, source: Split, make: Callable[[], Split]) -> Split:
        full = (key, len(source), self.fingerprint(source))
        with self._lock:
            if full not in self._made:
                while len(self._made) >= self.keep:
                    self._made.pop(next(iter(self._made)))
                self._made[full] = make()
            return self._made[full]


@dataclass
class MNISTData:
    train: Split
    val: Split
    test: Split
    visitors_val: Split | None = None  # the newest visitors' drawings, when training on them


def with_training(data: MNISTData, extra: Split) -> MNISTData:
    """The run's training split with more drawings mixed in (validation and test untouched)."""
    train = Split(torch.cat([data.train.images, extra.images]), torch.cat([data.train.labels, extra.labels]))
    return replace(data, train=train)


def _has_raw_files(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).exists() or (raw / f"{name}.gz").exists() for name in _RAW_FILES)


def _load_torchvision(root: Path, train: bool) -> Split:
    from torchvision.datasets import MNIST

    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            ds = MNIST(str(root), train=train, download=True)
    except Exception as exc:  # network errors, checksum errors, permission errors
        raise DataNotFoundError(
            f"MNIST was not found under '{root}/MNIST/raw' and could not be downloaded "
            f"({type(exc).__name__}: {exc}). Put the four MNIST files "
            f"({', '.join(_RAW_FILES)}) there, or point --data-dir / ${DATA_ENV} "
            "at a folder that holds MNIST/raw."
        ) from None
    images = ds.data.to(torch.float32).div_(255.0).unsqueeze(1)
    return Split(images.contiguous(), ds.targets.to(torch.int64))


def load_split(train: bool, root: str | os.PathLike | None = None) -> Split:
    """One MNIST split (train=False is the 10,000-image test set)."""
    path = data_dir(root)
    return _load_torchvision(path, train)


def load_mnist(root: str | os.PathLike | None = None, val_size: int = VALIDATION_SIZE) -> MNISTData:
    """Training images minus a fixed validation tail, plus the test split."""
    full = load_split(True, root)
    test = load_split(False, root)
    cut = len(full) - val_size
    return MNISTData(
        train=Split(full.images[:cut], full.labels[:cut]),
        val=Split(full.images[cut:], full.labels[cut:]),
        test=test,
    )


def mnist_available(root: str | os.PathLike | None = None) -> bool:
    """True when the raw files are already on disk (no download attempted)."""
    return _has_raw_files(data_dir(root))

