"""Network stages run as fused native kernels while training on CPU.

Two kinds of stage, each a run of consecutive modules in a Sequential:
- LeNet's Conv2d -> Tanh -> AvgPool2d(2, 2) (`ConvTanhPool`);
- the tutorial CNN's stem Conv2d(1 -> C, 5x5) -> ReLU -> MaxPool2d(2, stride 1) -> Dropout
  -> Flatten (`ConvReluPoolStem`).
PyTorch runs such a stage as separate kernels that each read and write the whole
activation; the C kernels in csrc/ (built by `native.py`) take each image through the whole
stage while it is in cache. A single-channel 5x5 conv runs in the kernel too, and
its backward pass computes the weight and bias gradients straight from the saved activation.
Measured per 512 images, forward and backward, bfloat16 on the 2-core CPU against the PyTorch
path the engine otherwise takes (`bench/fused_stages.py`): LeNet-5's first stage 6.3 -> 2.3 ms,
its second 4.2 -> 3.0 ms, the CNN's stem 17.1 -> 7.4 ms.

Used by `digits.training.accel.fastpath.accelerated` during training on CPU when the kernels are available;
anything they do not cover (other devices, dtypes, shapes) runs the original modules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from digits.training.accel import native

POOL = 2  # pooling windows are 2x2 (stride 2 for LeNet's average pool, 1 for the CNN's max pool)
FUSED_KERNEL = 5  # the single-channel conv kernel the C code is specialised for
_HASH_STATES = 1 << 32  # dropout's keep decision compares a 32-bit hash with a cut


def _storage_dtype() -> torch.dtype:
    """What PyTorch would store the stage's activations in: bfloat16 under CPU autocast."""
    if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16:
        return torch.bfloat16
    return torch.float32


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _run(name: str, dtype: torch.dtype, *args: int) -> None:
    """Call a kernel for `dtype` storage; they return -1 when their scratch memory is refused."""
    if getattr(native.library(), f"{name}_{native.SUFFIXES[dtype]}")(*args) != 0:
        raise MemoryError(f"native kernel {name}: out of memory")


def _conv_size(x: torch.Tensor, padding: tuple[int, ...]) -> tuple[int, int]:
    """Height and width of a 5x5 conv's output on x."""
    return (x.shape[-2] + 2 * padding[0] - FUSED_KERNEL + 1, x.shape[-1] + 2 * padding[1] - FUSED_KERNEL + 1)


def _conv_operands(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """The fused single-channel convs' operands, float32 and contiguous, and (n, c, h, w)."""
    x = x.float().contiguous()
    w = weight.detach().float().contiguous()
    b = bias.detach().float().contiguous()
    return x, w, b, (x.shape[0], w.shape[0], x.shape[2], x.shape[3])


def _conv_grads(name: str, ctx, grad: torch.Tensor, *extra) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias gradients of a fused single-channel conv stage from its backward kernel,
    given the saved (images, activation) and the kernel's trailing arguments."""
    x, saved = ctx.saved_tensors
    grad = grad.to(saved.dtype).contiguous()
    n, _, h, wd = x.shape
    c = saved.shape[1]
    dw = x.new_empty(c, 1, FUSED_KERNEL, FUSED_KERNEL)
    db = x.new_empty(c)
    _run(name, saved.dtype, _ptr(x), _ptr(grad), _ptr(saved), _ptr(dw), _ptr(db), n, c, h, wd, ctx.padding, *extra)
    return dw.to(ctx.param_dtypes[0]), db.to(ctx.param_dtypes[1])


class _TanhPool(torch.autograd.Function):
    """tanh then 2x2 average pool of a contiguous (N, C, H, W) tensor; saves tanh's output."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        z = z.contiguous()
        n, c, h, w = z.shape
        t = torch.empty_like(z)
        p = z.new_empty(n, c, h // POOL, w // POOL)
        _run("tanh_pool_fwd", z.dtype, _ptr(z), _ptr(t), _ptr(p), n * c, h, w)
        ctx.save_for_backward(t)
        return p

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (t,) = ctx.saved_tensors
        grad = grad.to(t.dtype).contiguous()
        n, c, h, w = t.shape
        dz = torch.empty_like(t)
        _run("tanh_pool_bwd", t.dtype, _ptr(grad), _ptr(t), _ptr(dz), n * c, h, w)
        return dz


class _ConvTanhPool(torch.autograd.Function):
    """Conv2d(1 -> C, 5x5, padding) -> tanh -> 2x2 average pool. The conv runs in float32
    (as precise as PyTorch's, more than its bfloat16 autocast conv); activations are stored
    in `dtype`. Its input gets no gradient: it is meant for a network's first layer, and
    `ConvTanhPool` only calls it when the input does not need one."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: int,  # type: ignore[override]
                dtype: torch.dtype) -> torch.Tensor:
        x, w, b, (n, c, h, wd) = _conv_operands(x, weight, bias)
        ho, wo = _conv_size(x, (padding, padding))
        t = x.new_empty(n, c, ho, wo, dtype=dtype)
        p = x.new_empty(n, c, ho // POOL, wo // POOL, dtype=dtype)
        _run("conv_tanh_pool_fwd", dtype, _ptr(x), _ptr(w), _ptr(b), _ptr(t), _ptr(p), n, c, h, wd, padding)
        ctx.save_for_backward(x, t)
        ctx.padding = padding
        ctx.param_dtypes = (weight.dtype, bias.dtype)
        return p

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        dw, db = _conv_grads("conv_tanh_pool_bwd", ctx, grad)
        return None, dw, db, None, None


def _plain_conv(conv: nn.Conv2d) -> bool:
    return (conv.padding_mode == "zeros" and isinstance(conv.padding, tuple) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.bias is not None)


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _is_stage_pool(pool: nn.Module) -> bool:
    return (type(pool) is nn.AvgPool2d and _pair(pool.kernel_size) == (POOL, POOL)
            and _pair(pool.stride) == (POOL, POOL) and _pair(pool.padding) == (0, 0) and not pool.ceil_mode
            and pool.divisor_override is None)


def is_stage(conv: nn.Module, act: nn.Module, pool: nn.Module) -> bool:
    """Whether three consecutive modules form a stage that `ConvTanhPool` can replace."""
    return type(conv) is nn.Conv2d and _plain_conv(conv) and type(act) is nn.Tanh and _is_stage_pool(pool)


def _single_channel(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and _plain_conv(conv) and conv.in_channels == 1
            and conv.kernel_size == (FUSED_KERNEL, FUSED_KERNEL) and conv.padding[0] == conv.padding[1])


def is_stem(conv: nn.Module, act: nn.Module, pool: nn.Module, drop: nn.Module, flat: nn.Module) -> bool:
    """Whether five consecutive modules form the stem that `ConvReluPoolStem` can replace."""
    return (_single_channel(conv) and type(act) is nn.ReLU
            and type(pool) is nn.MaxPool2d and _pair(pool.kernel_size) == (POOL, POOL) and _pair(pool.stride) == (1, 1)
            and _pair(pool.padding) == (0, 0) and _pair(pool.dilation) == (1, 1) and not pool.ceil_mode
            and not pool.return_indices
            and type(drop) is nn.Dropout and drop.p < 1
            and type(flat) is nn.Flatten and flat.start_dim == 1 and flat.end_dim == -1)


@dataclass(frozen=True)
class StageKind:
    """A run of modules that one fused module replaces (the others become Identity)."""

    length: int
    matches: Callable[..., bool]
    build: Callable[[Sequence[nn.Module]], nn.Module]


STAGE_KINDS = (
    StageKind(5, is_stem, lambda mods: ConvReluPoolStem(mods[0], mods[3].p)),
    StageKind(3, is_stage, lambda mods: ConvTanhPool(mods[0])),
)


def find_stages(model: nn.Module) -> list[tuple[nn.Sequential, list[str], StageKind]]:
    """Every run of consecutive children of a Sequential that a fused module can replace:
    (the Sequential, the children's names, the kind)."""
    found = []
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        i = 0
        while i < len(names):
            for kind in STAGE_KINDS:
                run = names[i:i + kind.length]
                if len(run) == kind.length and kind.matches(*(parent._modules[n] for n in run)):
                    found.append((parent, run, kind))
                    i += kind.length
                    break
            else:
                i += 1
    return found


class ConvTanhPool(nn.Module):
    """Drop-in for the three modules of a Conv2d -> Tanh -> AvgPool2d(2, 2) stage, sharing the
    conv's parameters (under the same names, so the optimizer and state dict see no change).

    Single-channel 5x5 convs with "same"-style symmetric padding run wholly in the native
    kernel; other convs run in PyTorch (in NCHW: oneDNN's channels-last backward is 2x slower
    for 6 input channels) followed by the native tanh + pool. The output is NCHW."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.padding = conv.padding
        self.conv_fused = _single_channel(conv)

    def _reference(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(torch.tanh(F.conv2d(x, self.weight, self.bias, padding=self.padding)), POOL, POOL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = _storage_dtype()
        h = x.shape[-2] + 2 * self.padding[0] - self.weight.shape[-2] + 1  # any kernel size here
        w = x.shape[-1] + 2 * self.padding[1] - self.weight.shape[-1] + 1
        if (x.device.type != "cpu" or x.dim() != 4 or h % POOL or w % POOL or h <= 0 or w <= 0
                or self.weight.dtype != torch.float32 or native.library() is None):
            return self._reference(x)
        if self.conv_fused and not x.requires_grad:  # the fused kernel has no gradient for x
            return _ConvTanhPool.apply(x, self.weight, self.bias, self.padding[0], dtype)
        z = F.conv2d(x.contiguous(), self.weight.contiguous(), self.bias, padding=self.padding)
        if z.dtype not in native.SUFFIXES:
            return F.avg_pool2d(torch.tanh(z), POOL, POOL)
        return _TanhPool.apply(z)


class _ConvReluPool(torch.autograd.Function):
    """Conv2d(1 -> C, 5x5, padding) -> ReLU -> MaxPool2d(2, stride 1) -> dropout -> flatten.
    The conv runs in float32; the ReLU output is saved in `dtype` for the backward pass, which
    recomputes the pooling winners and the dropout mask (a hash of `key` and the position)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, padding: int,  # type: ignore[override]
                dtype: torch.dtype, key: int, cut: int, scale: float) -> torch.Tensor:
        x, w, b, (n, c, h, wd) = _conv_operands(x, weight, bias)
        ho, wo = _conv_size(x, (padding, padding))
        r = x.new_empty(n, c, ho, wo, dtype=dtype)
        out = x.new_empty(n, c * (ho - 1) * (wo - 1), dtype=dtype)
        _run("conv_relu_maxpool_fwd", dtype, _ptr(x), _ptr(w), _ptr(b), _ptr(r), _ptr(out), n, c, h, wd, padding,
             key, cut, scale)
        ctx.save_for_backward(x, r)
        ctx.padding, ctx.dropout = padding, (key, cut, scale)
        ctx.param_dtypes = (weight.dtype, bias.dtype)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        dw, db = _conv_grads("conv_relu_maxpool_bwd", ctx, grad, *ctx.dropout)
        return None, dw, db, None, None, None, None, None


class ConvReluPoolStem(nn.Module):
    """Drop-in for Conv2d(1 -> C, 5x5) -> ReLU -> MaxPool2d(2, stride 1) -> Dropout(p) ->
    Flatten, the tutorial CNN's feature extractor, sharing the conv's parameters.

    Dropout keeps each value with probability 1 - p (p rounded to 1/2^32) and scales it by
    1/(1 - p), like `nn.Dropout`; its mask comes from a counter-based hash keyed by a number
    drawn from PyTorch's generator, so runs seeded with `torch.manual_seed` repeat exactly and
    the mask is recomputed in the backward pass rather than stored."""

    def __init__(self, conv: nn.Conv2d, p: float) -> None:
        super().__init__()
        self.weight = conv.weight
        self.bias = conv.bias
        self.padding = conv.padding
        self.p = p

    def _reference(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(F.conv2d(x, self.weight, self.bias, padding=self.padding)), POOL, 1)
        return F.dropout(h, self.p, self.training).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = _conv_size(x, self.padding)
        if (x.device.type != "cpu" or x.dim() != 4 or h < POOL or w < POOL or x.requires_grad
                or self.weight.dtype != torch.float32 or native.library() is None):
            return self._reference(x)
        key, cut, scale = 0, 0, 1.0  # no dropout
        if self.training and self.p > 0:
            key = int(torch.randint(0, _HASH_STATES, (1,)).item())
            cut = min(round(self.p * _HASH_STATES), _HASH_STATES - 1)
            scale = 1.0 / (1.0 - self.p)
        return _ConvReluPool.apply(x, self.weight, self.bias, self.padding[0], _storage_dtype(), key, cut, scale)
