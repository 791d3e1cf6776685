"""Shared fixtures: real MNIST when reachable (skipped with a reason when not), tiny synthetic data."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

from digits.training.data import MNISTData, Split, load_mnist, mnist_available

ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(max(1, os.cpu_count() or 1))
# Visitors' drawings from in-process app builds go to a throwaway folder, never into the repo.
os.environ.setdefault("DIGITS_FEEDBACK", tempfile.mkdtemp(prefix="digits-feedback-"))


@pytest.fixture(scope="session")
def web_runtime() -> None:
    """onnxruntime-web vendored into the app's static files (the build step: `npm ci` and a copy),
    so the page answers in the browser; skipped, naming the command, where npm is missing."""
    from digits import web

    if not web.runtime_ready():
        try:
            web.build_runtime()
        except (web.RuntimeMissing, OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"onnxruntime-web could not be vendored ({exc}): run `python -m digits web-runtime`")


@pytest.fixture(scope="session")
def mnist() -> MNISTData:
    if not mnist_available():
        pytest.skip(f"real MNIST is not reachable: set DIGITS_DATA to a folder holding MNIST/raw "
                    f"(now {os.environ.get('DIGITS_DATA', 'unset, so ./data')})")
    return load_mnist()


def synthetic_data(n: int = 512, seed: int = 0) -> MNISTData:
    """Ten separable classes: class k lights up row band k (learnable in a few steps)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    images = torch.rand(n, 1, 28, 28, generator=gen) * 0.2
    for k in range(10):
        images[labels == k, 0, 2 + 2 * k:4 + 2 * k, 4:24] = 1.0
    cut = n * 3 // 4
    split = lambda a, b: Split(images[a:b], labels[a:b])  # noqa: E731
    return MNISTData(train=split(0, cut), val=split(cut, n), test=split(cut, n))


@pytest.fixture
def tiny_data() -> MNISTData:
    return synthetic_data()
