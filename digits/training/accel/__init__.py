"""Optional CPU speed-ups for training, in one place behind one switch.

What trains is always the module tree that `digits/models.py` defines. While a CPU run
trains, `training(model, device)` swaps some of its modules for ones that compute the same
function and gradients faster, and puts the originals back afterwards (state-dict keys never
change):

- `fastpath.py`: glibc allocator tuning, and drop-in modules (stride-1 max pooling, dropout,
  2x2 average pooling, a conv whose kernel covers its input as one matrix product);
- `fused.py`: fused native stages (LeNet-5's Conv -> Tanh -> AvgPool, the tutorial CNN's stem);
- `native.py` and `csrc/`: the C kernels behind them, built on first use.

`DIGITS_ACCEL=0` (or `TrainConfig(accel=False)`) turns all of it off: the engine is then plain
PyTorch, and a learner can read it top to bottom without this package.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from digits.config import accel_enabled
from digits.training.accel import native
from digits.training.accel.fastpath import accelerated, tune_allocator
from digits.training.accel.fused import find_stages


def active(device: torch.device, enabled: bool = True) -> bool:
    return device.type == "cpu" and enabled and accel_enabled()


@contextlib.contextmanager
def training(model: nn.Module, device: torch.device, enabled: bool = True, bf16: bool = True) -> Iterator[nn.Module]:
    """The model with the speed-ups swapped in for the block (CPU only; otherwise as it is).
    The fused C stages only in bfloat16: in float32 oneDNN's own kernels are as fast or
    faster (bench/fused_stages.py: 2.0x for LeNet-5 in bfloat16, 0.9x in float32)."""
    if not active(device, enabled):
        yield model
        return
    tune_allocator()
    with accelerated(model, fused=bf16):
        yield model


def describe(model: nn.Module, device: torch.device, enabled: bool = True, bf16: bool = True) -> str:
    """What `training` will do for this model, for a log line; never builds anything."""
    if device.type != "cpu":
        return ""
    if not active(device, enabled):
        return "speed-ups off"
    stages = len(find_stages(model))
    if not stages:
        return "drop-in modules"
    if not bf16:
        return "drop-in modules (the fused stages run in bfloat16 only)"
    status = native.known_status()
    if status.startswith(("turned off", "build failed", "no C compiler", "not built on")):
        return f"native kernels off: {status}"
    return f"native kernels: {stages} fused stage{'s' if stages > 1 else ''}"


__all__ = ["accelerated", "active", "describe", "find_stages", "native", "training", "tune_allocator"]
