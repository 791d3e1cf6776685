"""Faster CPU kernels for the layers where PyTorch's generic ones are slow, swapped in only
while the engine trains.

The registry keeps the tutorial architectures exactly as written (`nn.MaxPool2d`,
`nn.AvgPool2d`, `nn.Dropout`, `nn.Conv2d`). During training, `accelerated(model)` replaces
those modules with ones that compute the same function and the same gradients with fewer,
longer, vectorised passes over memory, then puts the originals back. None of them owns a
parameter of its own, so the state dict and the saved weights are unaffected; tests check
each against the module it replaces.

Measured per 256 images, forward and backward, channels-last bfloat16 on the 2-core CPU:
stride-1 max pooling 6.2 -> 2.9 ms, dropout 6.0 -> 2.8 ms; per 512 images LeNet-5's first
average pooling 4.5 -> 2.2 ms and its last conv (a 5x5 kernel on a 5x5 map) 1.4 -> 0.6 ms.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from digits.training.accel import native
from digits.training.accel.fused import find_stages

# glibc's mallopt parameters (malloc.h). Training allocates and frees the same large
# activation buffers every step; with the default dynamic thresholds glibc returns them to the
# kernel and every step pays thousands of page faults (measured: ~4,700 per CNN step,
# roughly a third of its time). Keeping freed memory in the heap removes them.
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


# --- memory layout ------------------------------------------------------------------------------


def _dense(x: torch.Tensor) -> torch.Tensor:
    """x itself if it is stored densely as NCHW or channels-last, else a contiguous copy."""
    if x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)):
        return x
    return x.contiguous()


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _storage(x: torch.Tensor) -> tuple[torch.Tensor, int, int, bool]:
    """A dense NCHW or channels-last map as flat per-image (or per-plane) storage rows, with the
    offsets of one step right and one step down in that storage."""
    n, c, h, w = x.shape
    if _is_channels_last(x):  # storage is N, H, W, C
        return x.permute(0, 2, 3, 1).reshape(n, h * w * c), c, w * c, True
    return x.reshape(n * c, h * w), 1, w, False


def _step_mask(later: torch.Tensor, earlier: torch.Tensor, winner: torch.Tensor) -> torch.Tensor:
    """1 where `later` beat `earlier` (winner = their maximum), 0 where `earlier` won or tied,
    in the values' own dtype: sign(winner - earlier). Comparisons that produce bool masks, and
    bool-times-float products, are 2-5x slower on CPU (bfloat16 most of all)."""
    return (winner - earlier).sign_()


# --- MaxPool2d(2, stride=1) ---------------------------------------------------------------------


class _MaxPool2x2S1(torch.autograd.Function):
    """2x2 max pooling with stride 1 as two shifted maxima over each image's flat storage: the
    neighbour to the right is one pixel on, the one below one row on, in NCHW or channels-last
    storage alike. Every operation is one long contiguous run, so it vectorises fully; the
    stray column where a row wraps into the next is cut off at the end.

    Ties go to the left column, then the upper row: the first maximum in row-major order, the
    element `max_pool2d` picks, so gradients land where PyTorch's would.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = x.shape
        flat, right, down, cl = _storage(x)
        left = flat[:, :-right]
        rows = torch.maximum(left, flat[:, right:])
        take_right = _step_mask(flat[:, right:], left, rows)
        up = rows[:, :-down]
        pooled = torch.maximum(up, rows[:, down:])
        take_down = _step_mask(rows[:, down:], up, pooled)
        ctx.save_for_backward(take_right, take_down)
        ctx.layout = (n, c, h, w, cl, right, down)
        padded = F.pad(pooled, (0, right))  # back to whole rows: (h - 1) rows of w pixels
        if cl:
            out = padded.view(n, h - 1, w, c)[:, :, :-1].permute(0, 3, 1, 2)
            return out.contiguous(memory_format=torch.channels_last)
        return padded.view(n, c, h - 1, w)[..., :-1].contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        take_right, take_down = ctx.saved_tensors
        n, c, h, w, cl, right, down = ctx.layout
        # Onto the flat grid of `pooled`; the wrap-around column gets zero gradient.
        if cl:
            rows = F.pad(grad.permute(0, 2, 3, 1), (0, 0, 0, 1)).reshape(n, (h - 1) * w * c)
        else:
            rows = F.pad(grad, (0, 1)).reshape(n * c, (h - 1) * w)
        flat = _spread(_spread(rows[:, :-right], take_down, down), take_right, right)
        if cl:
            return flat.view(n, h, w, c).permute(0, 3, 1, 2)
        return flat.view(n, c, h, w)


def _spread(grad: torch.Tensor, take_later: torch.Tensor, offset: int) -> torch.Tensor:
    """Send each gradient to the earlier element, or to the one `offset` later where
    `take_later` is 1; the result is `offset` longer."""
    later = grad * take_later
    out = grad.new_empty(grad.shape[0], grad.shape[1] + offset)
    torch.sub(grad, later, out=out[:, :-offset])
    out[:, -offset:].zero_()
    out[:, offset:].add_(later)
    return out


class MaxPool2x2Stride1(nn.Module):
    """Drop-in for `nn.MaxPool2d(2, stride=1)`, in the input's own dtype and layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _MaxPool2x2S1.apply(_dense(x))


# --- AvgPool2d(2, 2) ------------------------------------------------------------------------------

_QUARTER = 0.25  # mean of a 2x2 window


class _AvgPool2x2(torch.autograd.Function):
    """2x2 average pooling with stride 2: sums of neighbours over the flat storage (long
    contiguous runs), then every second row and column."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w = x.shape
        flat, right, down, cl = _storage(x)
        pairs = flat[:, :-right] + flat[:, right:]
        quads = F.pad(pairs[:, :-down] + pairs[:, down:], (0, right))  # (h - 1) whole rows
        ctx.layout = (n, c, h, w, cl)
        if cl:
            return (quads.view(n, h - 1, w, c)[:, ::2, ::2] * _QUARTER).permute(0, 3, 1, 2)
        return quads.view(n, c, h - 1, w)[..., ::2, ::2] * _QUARTER

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c, h, w, cl = ctx.layout
        g = grad * _QUARTER
        # Fill the even rows (each gradient twice along the row), then copy them onto the odd
        # rows: whole-row copies are long contiguous runs, unlike a 2x2 broadcast.
        if cl:
            g = g.permute(0, 2, 3, 1)  # (n, h/2, w/2, c)
            out = g.new_empty(n, h // 2, 2, w // 2, 2, c)
            out[:, :, 0] = g[:, :, :, None, :].expand(n, h // 2, w // 2, 2, c)
            out[:, :, 1] = out[:, :, 0]
            return out.view(n, h, w, c).permute(0, 3, 1, 2)
        out = g.new_empty(n, c, h // 2, 2, w // 2, 2)
        out[:, :, :, 0] = g[..., None].expand(n, c, h // 2, w // 2, 2)
        out[:, :, :, 1] = out[:, :, :, 0]
        return out.view(n, c, h, w)


# Below this many pixels per map the generic kernel is as fast (measured: faster at 10x10,
# 2x slower at 28x28).
_FAST_POOL_MIN_PIXELS = 256


class AvgPool2x2(nn.Module):
    """Drop-in for `nn.AvgPool2d(2, 2)`, in the input's dtype and layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 2 or w % 2 or h * w < _FAST_POOL_MIN_PIXELS:
            return F.avg_pool2d(x, 2, 2)
        return _AvgPool2x2.apply(_dense(x))


# --- Dropout ----------------------------------------------------------------------------------

_LANE_STATES = 1 << 16  # each random int64 word is cut into four uniform int16 lanes
_LANE_MIN = -(1 << 15)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:  # type: ignore[override]
        cut = round(p * _LANE_STATES)
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
        lanes = words.view(torch.int16)[:n]
        # bool -> uint8 -> float is the fast conversion path (bool -> float is 2x slower)
        keep = (lanes >= _LANE_MIN + cut).view(torch.uint8).to(x.dtype)
        keep.mul_(_LANE_STATES / (_LANE_STATES - cut))
        keep = keep.as_strided(x.shape, x.stride())  # laid out like x: no layout conversion
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
        return _Dropout.apply(_dense(x), self.p)


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
    if type(module) is nn.MaxPool2d and _pair(module.kernel_size) == (2, 2) and _pair(module.stride) == (1, 1) \
            and _pair(module.padding) == (0, 0) and _pair(module.dilation) == (1, 1) and not module.ceil_mode \
            and not module.return_indices:
        return MaxPool2x2Stride1()
    if type(module) is nn.AvgPool2d and _pair(module.kernel_size) == (2, 2) and _pair(module.stride) == (2, 2) \
            and _pair(module.padding) == (0, 0) and not module.ceil_mode and module.divisor_override is None:
        return AvgPool2x2()
    if type(module) is nn.Dropout:
        return FastDropout(module.p)
    if type(module) is nn.Conv2d and _pair(module.padding) == (0, 0) and _pair(module.stride) == (1, 1) \
            and _pair(module.dilation) == (1, 1) and module.groups == 1 and module.padding_mode == "zeros":
        return FullConvAsLinear(module)
    return None


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _fused_stages(model: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Module]]:
    """(parent, name, replacement) for every run of modules a fused native module replaces
    (see `digits.training.accel.fused`), when the native kernels are available."""
    if native.library() is None:
        return
    for parent, names, kind in find_stages(model):
        yield parent, names[0], kind.build([parent._modules[n] for n in names])
        for name in names[1:]:
            yield parent, name, nn.Identity()


@contextlib.contextmanager
def accelerated(model: nn.Module, fused: bool = True) -> Iterator[nn.Module]:
    """Swap in the fused stages (if `fused`) and the fast modules for the duration of the
    block, then restore the originals."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []

    def swap(parent: nn.Module, name: str, fast: nn.Module) -> None:
        child = parent._modules[name]
        fast.train(child.training)
        setattr(parent, name, fast)
        swapped.append((parent, name, child))

    for parent, name, fast in list(_fused_stages(model)) if fused else []:
        swap(parent, name, fast)
    for parent in list(model.modules()):  # listed first: the loop edits the tree
        for name, child in list(parent.named_children()):
            fast = _fast_version(child)
            if fast is not None:
                swap(parent, name, fast)
    try:
        yield model
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)
