"""LeNet-style stages, Conv2d -> Tanh -> AvgPool2d(2, 2), run as fused native kernels.

PyTorch runs such a stage as separate kernels that each read and write the whole
activation; the C kernels in digits/csrc (built by `digits.native`) do the tanh and the pool
in one pass, and when the conv has a single 5x5 input channel (LeNet-5's first stage), the
conv as well: forward, and the weight and bias gradients straight from the saved tanh output.
Measured per 512 images, forward and backward, bfloat16 on the 2-core CPU against the PyTorch
path the engine otherwise takes (`bench/lenet_stages.py`): LeNet-5's first stage 6.5 -> 2.4 ms,
its second 4.7 -> 3.5 ms, the whole model 13.4 -> 7.0 ms.

Used by `digits.fastpath.accelerated` during training on CPU when the kernels are available;
anything they do not cover (other devices, dtypes, shapes) runs the original modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import native

POOL = 2  # the stage's average pool: 2x2, stride 2
FUSED_KERNEL = 5  # the single-channel conv kernel the C code is specialised for


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
        x = x.float().contiguous()
        w = weight.detach().float().contiguous()
        b = bias.detach().float().contiguous()
        n, _, h, wd = x.shape
        c = w.shape[0]
        ho, wo = h + 2 * padding - FUSED_KERNEL + 1, wd + 2 * padding - FUSED_KERNEL + 1
        t = x.new_empty(n, c, ho, wo, dtype=dtype)
        p = x.new_empty(n, c, ho // POOL, wo // POOL, dtype=dtype)
        _run("conv_tanh_pool_fwd", dtype, _ptr(x), _ptr(w), _ptr(b), _ptr(t), _ptr(p), n, c, h, wd, padding)
        ctx.save_for_backward(x, t)
        ctx.padding = padding
        ctx.param_dtypes = (weight.dtype, bias.dtype)
        return p

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, t = ctx.saved_tensors
        grad = grad.to(t.dtype).contiguous()
        n, _, h, wd = x.shape
        c = t.shape[1]
        dw = x.new_empty(c, 1, FUSED_KERNEL, FUSED_KERNEL)
        db = x.new_empty(c)
        _run("conv_tanh_pool_bwd", t.dtype, _ptr(x), _ptr(grad), _ptr(t), _ptr(dw), _ptr(db), n, c, h, wd,
             ctx.padding)
        return None, dw.to(ctx.param_dtypes[0]), db.to(ctx.param_dtypes[1]), None, None


def _plain_conv(conv: nn.Conv2d) -> bool:
    return (conv.padding_mode == "zeros" and isinstance(conv.padding, tuple) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.bias is not None)


def _is_stage_pool(pool: nn.Module) -> bool:
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)
    return (type(pool) is nn.AvgPool2d and pair(pool.kernel_size) == (POOL, POOL) and pair(pool.stride) == (POOL, POOL)
            and pair(pool.padding) == (0, 0) and not pool.ceil_mode and pool.divisor_override is None)


def is_stage(conv: nn.Module, act: nn.Module, pool: nn.Module) -> bool:
    """Whether three consecutive modules form a stage that `ConvTanhPool` can replace."""
    return type(conv) is nn.Conv2d and _plain_conv(conv) and type(act) is nn.Tanh and _is_stage_pool(pool)


def find_stages(model: nn.Module) -> list[tuple[nn.Sequential, list[str]]]:
    """Every Conv2d -> Tanh -> AvgPool2d(2, 2) run of consecutive children of a Sequential:
    (the Sequential, the three children's names)."""
    found = []
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        i = 0
        while i + 2 < len(names):
            if is_stage(*(parent._modules[n] for n in names[i:i + 3])):
                found.append((parent, names[i:i + 3]))
                i += 3
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
        self.conv_fused = (conv.in_channels == 1 and conv.kernel_size == (FUSED_KERNEL, FUSED_KERNEL)
                           and conv.padding[0] == conv.padding[1])

    def _reference(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(torch.tanh(F.conv2d(x, self.weight, self.bias, padding=self.padding)), POOL, POOL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = _storage_dtype()
        h = x.shape[-2] + 2 * self.padding[0] - self.weight.shape[-2] + 1
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
