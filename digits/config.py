"""Settings read from the environment, and the constants every module shares."""

from __future__ import annotations

import os
from pathlib import Path

import torch

# MNIST pixel statistics over the 60,000 training images (ToTensor scale, [0, 1]).
# Training and inference both normalise with these through `digits.training.data.normalize`.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
IMAGE_SIZE = 28
NUM_CLASSES = 10

DATA_ENV = "DIGITS_DATA"
ACCEL_ENV = "DIGITS_ACCEL"  # "0" turns every CPU training speed-up off (digits/training/accel)
WEIGHTS_ENV = "DIGITS_WEIGHTS"
FEEDBACK_ENV = "DIGITS_FEEDBACK"  # the visitors' drawings folder, or "off"
CACHE_ENV = "DIGITS_CACHE"  # built native kernels, the browser's ONNX models
DEFAULT_DATA_DIR = "data"
DEFAULT_FEEDBACK_DIR = Path(DEFAULT_DATA_DIR) / "feedback"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEIGHTS_DIR = PROJECT_ROOT / "weights"


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Map [0, 1] ink images to the models' input scale (shared by training and inference)."""
    return (images - MNIST_MEAN) / MNIST_STD


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The MNIST root: explicit argument, then $DIGITS_DATA, then ./data."""
    return Path(override or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR)


def weights_dir(override: str | os.PathLike | None = None) -> Path:
    """Where weights are read and written: argument, then $DIGITS_WEIGHTS, then weights/."""
    return Path(override or os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR)


def feedback_dir(override: str | os.PathLike | None = None) -> Path | None:
    """Where visitors' drawings are kept: argument, then $DIGITS_FEEDBACK, then data/feedback;
    None when collection is switched off (DIGITS_FEEDBACK=off)."""
    value = str(override or os.environ.get(FEEDBACK_ENV) or DEFAULT_FEEDBACK_DIR)
    return None if value.strip().lower() in ("off", "0", "false", "no") else Path(value)


def accel_enabled() -> bool:
    """The CPU training speed-ups (digits.training.accel) are on unless DIGITS_ACCEL=0."""
    return os.environ.get(ACCEL_ENV, "1").strip() != "0"


def resolve_device(name: str | None = "auto") -> torch.device:
    """'auto' picks CUDA when present; 'cpu' and 'cuda' are taken literally."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def cache_dir() -> Path:
    """Where built artefacts are kept between runs: $DIGITS_CACHE, else ~/.cache/digits."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "digits")
