"""Faster CPU kernels for the few layers where PyTorch's generic ones are slow, swapped in
only while the engine trains.

The registry keeps the tutorial architectures exactly as written (`nn.Dropout`,
`nn.Conv2d`, ...). During training, `accelerated(model)` replaces those modules with ones
that compute the same function (and the same gradients) with fewer, vectorised passes over
memory, then puts the originals back. None of them has parameters, so the state dict and the
saved weights are unaffected. Measured on the 2-core CPU: `bernoulli_` dropout was a quarter
of the tutorial CNN's step, and LeNet-5's last 5x5 conv on a 5x5 map took 3x a matrix product.
(A shifted-maximum `MaxPool2d(2, stride=1)` was tried too: no faster once its layout
conversions are counted, so it is not here.)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

# glibc's mallopt parameters (malloc.h). Training allocates and frees the same large
# activation buffers every step; with the default dynamic thresholds glibc returns them to the
# kernel and every step pays thousands of page faults (measured: ~4,700 per CNN step, ~40% of
# its time). Keeping freed memory in the heap removes them.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's maximum on 64-bit
_TRIM_THRESHOLD_BYTES = 2**31 - 1  # never trim the heap top during a run
_TOP_PAD_BYTES = 64 << 20

_allocator_tuned = False


def tune_allocator() -> bool:
    """Stop glibc from handing activation buffers back to the kernel between steps.

    Returns True when the settings were applied (Linux with glibc); a no-op elsewhere.
    Process-wide and idempotent; the cost is that a finished run's peak memory stays
    reserved by the process.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (for example musl)
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES),
        (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES),
        (_M_TOP_PAD, _TOP_PAD_BYTES),
    ))
    _allocator_tuned = ok
    return ok


# --- Dropout ----------------------------------------------------------------------------------

_LANE_STATES = 1 << 16  # each random int64 word is cut into four uniform int16 lanes
_LANE_MIN = -(1 << 15)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:  # type: ignore[override]
        cut = round(p * _LANE_STATES)
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
        lanes = words.view(torch.int16)[:n].view(x.shape)
        keep = (lanes >= _LANE_MIN + cut).to(x.dtype).mul_(_LANE_STATES / (_LANE_STATES - cut))
        ctx.save_for_backward(keep)
        return x * keep

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (keep,) = ctx.saved_tensors
        return grad * keep, None


class FastDropout(nn.Module):
    """Drop-in for `nn.Dropout(p)`: same distribution (p rounded to 1/65536), drawn four
    lanes per random word instead of one `bernoulli_` call per element (4x fewer draws)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p >= 1:
            return torch.zeros_like(x)
        return _Dropout.apply(x.contiguous(), self.p)


# --- Conv2d whose kernel covers the whole input -------------------------------------------------


class FullConvAsLinear(nn.Module):
    """A conv whose kernel spans its whole (unpadded) input is a dense layer; computing it as
    one matrix product avoids the convolution kernels' overhead. Shares the conv's parameters."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        # The very same Parameter objects under the same names: the optimizer keeps updating
        # them and a state dict taken while swapped has the conv's keys.
        self.weight = conv.weight
        self.bias = conv.bias
        self.kernel_size = tuple(conv.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.kernel_size:
            return F.conv2d(x, self.weight, self.bias)
        out = F.linear(x.reshape(x.shape[0], -1), self.weight.reshape(self.weight.shape[0], -1), self.bias)
        return out[:, :, None, None]


# --- swapping ---------------------------------------------------------------------------------


def _fast_version(module: nn.Module) -> nn.Module | None:
    if type(module) is nn.Dropout:
        return FastDropout(module.p)
    if type(module) is nn.Conv2d and _pair(module.padding) == (0, 0) and _pair(module.stride) == (1, 1) \
            and _pair(module.dilation) == (1, 1) and module.groups == 1 and module.padding_mode == "zeros":
        return FullConvAsLinear(module)
    return None


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


@contextlib.contextmanager
def accelerated(model: nn.Module) -> Iterator[nn.Module]:
    """Swap in the fast modules for the duration of the block, then restore the originals."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            fast = _fast_version(child)
            if fast is not None:
                fast.train(child.training)
                setattr(parent, name, fast)
                swapped.append((parent, name, child))
    try:
        yield model
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)
