"""The training fast path computes the same function as the modules it replaces."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from digits.models import create_model, list_models
from digits.training.accel import native
from digits.training.accel.fastpath import (
    AvgPool2x2,
    FastDropout,
    FullConvAsLinear,
    MaxPool2x2Stride1,
    accelerated,
    tune_allocator,
)
from digits.training.accel.fused import ConvReluPoolStem, ConvTanhPool
from digits.training.augment import affine_grid, dilate, erode

LAYOUTS = [torch.contiguous_format, torch.channels_last]


def _same_function(fast: nn.Module, reference, x: torch.Tensor, atol: float = 1e-6) -> torch.Tensor:
    """Check outputs and input gradients agree; return the fast output."""
    x1 = x.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    want = reference(x1)
    got = fast(x2)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=atol)
    g = torch.randn_like(want)
    want.backward(g)
    got.backward(g)
    assert torch.allclose(x2.grad, x1.grad, atol=atol)
    return got


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("values", ["random", "ties", "relu"])
def test_max_pool_2x2_stride_1_matches_pytorch_including_ties(layout, values):
    torch.manual_seed(0)
    x = {"random": torch.randn(3, 4, 12, 9), "ties": torch.randint(0, 2, (3, 4, 12, 9)).float(),
         "relu": torch.randn(3, 4, 12, 9).relu()}[values].contiguous(memory_format=layout)
    out = _same_function(MaxPool2x2Stride1(), lambda t: F.max_pool2d(t, 2, stride=1), x)
    assert out.is_contiguous(memory_format=layout)  # the next layer gets the layout it expects


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [28, 16, 10])  # fast path, its threshold, the generic fallback
def test_avg_pool_2x2_matches_pytorch(layout, size):
    torch.manual_seed(0)
    x = torch.randn(3, 6, size, size).contiguous(memory_format=layout)
    _same_function(AvgPool2x2(), lambda t: F.avg_pool2d(t, 2, 2), x)


def test_fast_pools_work_in_bfloat16():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 28, 28).contiguous(memory_format=torch.channels_last).bfloat16()
    assert torch.equal(MaxPool2x2Stride1()(x), F.max_pool2d(x, 2, stride=1))
    assert torch.allclose(AvgPool2x2()(x).float(), F.avg_pool2d(x, 2, 2).float(), atol=2e-2)


def test_affine_grid_matches_pytorch():
    torch.manual_seed(0)
    theta = torch.randn(16, 2, 3)
    want = F.affine_grid(theta, [16, 1, 28, 20], align_corners=False)
    assert torch.allclose(affine_grid(theta, 28, 20), want, atol=1e-5)


def test_fast_dropout_keeps_the_right_share_and_preserves_the_mean():
    torch.manual_seed(0)
    p = 0.2
    x = torch.ones(1_000_000)
    y = FastDropout(p).train()(x)
    kept = (y != 0).float().mean().item()
    assert kept == pytest.approx(1 - p, abs=0.003)
    assert y.mean().item() == pytest.approx(1.0, abs=0.005)  # inverted-dropout scaling
    values = torch.unique(y).tolist()
    assert len(values) == 2 and values[0] == 0.0
    assert values[1] == pytest.approx(1 / (1 - p), rel=1e-4)


def test_fast_dropout_gradient_is_the_mask():
    torch.manual_seed(1)
    x = torch.randn(64, 100, requires_grad=True)
    y = FastDropout(0.5).train()(x)
    y.sum().backward()
    mask = (y.detach() != 0).float() * 2.0
    assert torch.allclose(x.grad, mask)


def test_fast_dropout_keeps_a_channels_last_layout():
    x = torch.ones(4, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    y = FastDropout(0.5).train()(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal((y != 0), (y != 0).contiguous())  # mask values, not a layout artefact


def test_fast_dropout_is_identity_in_eval_and_for_p0_and_zero_for_p1():
    x = torch.randn(8, 10)
    assert torch.equal(FastDropout(0.3).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)
    assert torch.equal(FastDropout(1.0).train()(x), torch.zeros_like(x))


def test_fast_dropout_masks_differ_between_calls_and_follow_the_seed():
    x = torch.ones(4096)
    drop = FastDropout(0.5).train()
    torch.manual_seed(3)
    a, b = drop(x), drop(x)
    torch.manual_seed(3)
    assert not torch.equal(a, b)
    assert torch.equal(drop(x), a)


def test_full_conv_as_linear_matches_the_conv_and_its_gradients():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 120, 5)
    fast = FullConvAsLinear(conv)
    x = torch.randn(32, 16, 5, 5, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    conv(x).square().sum().backward()
    grads = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    out = fast(x2)
    assert torch.allclose(out, conv(x2), atol=1e-5)
    out.square().sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-4)
    for g, p in zip(grads, conv.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-4)


def test_full_conv_as_linear_falls_back_to_a_conv_on_larger_maps():
    conv = nn.Conv2d(6, 16, 5)
    x = torch.randn(2, 6, 14, 14)
    assert torch.allclose(FullConvAsLinear(conv)(x), conv(x), atol=1e-6)


@pytest.mark.parametrize("name", list_models())
def test_accelerated_models_compute_the_same_function_and_restore_themselves(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.rand(16, 1, 28, 28)
    before = model(x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    keys = list(state)
    kinds = [type(m) for m in model.modules()]
    with accelerated(model) as fast:
        assert list(fast.state_dict()) == keys  # a best-epoch snapshot saves under the real names
        assert torch.allclose(fast(x), before, atol=1e-5)
        fast.train()
        loss = F.cross_entropy(fast(x), torch.arange(16) % 10)
        loss.backward()  # every parameter still learns through the swapped modules
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fast.parameters())
        fast.load_state_dict(state)  # undo the BatchNorm statistics that train mode updated
        fast.eval()
    assert [type(m) for m in model.modules()] == kinds
    assert torch.equal(model(x), before)


def test_accelerated_swaps_the_slow_modules():
    fused = native.library() is not None
    model = create_model("cnn")
    with accelerated(model):
        # the whole stem (conv, ReLU, pool, dropout, flatten) is one native module where the
        # kernels build (tests/test_native.py), else each slow layer has its drop-in
        assert sum(isinstance(m, ConvReluPoolStem) for m in model.modules()) == int(fused)
        assert any(isinstance(m, FastDropout) for m in model.modules()) == (not fused)
        assert any(isinstance(m, MaxPool2x2Stride1) for m in model.modules()) == (not fused)
        assert not any(type(m) in (nn.Dropout, nn.MaxPool2d) for m in model.modules())
    model = create_model("lenet5")
    with accelerated(model):
        assert any(isinstance(m, FullConvAsLinear) for m in model.modules())
        assert sum(isinstance(m, ConvTanhPool) for m in model.modules()) == (2 if fused else 0)
        assert any(isinstance(m, AvgPool2x2) for m in model.modules()) == (not fused)


def test_without_native_kernels_the_pytorch_drop_ins_are_used(monkeypatch):
    with native.turned_off():
        model = create_model("lenet5")
        with accelerated(model):
            assert not any(isinstance(m, ConvTanhPool) for m in model.modules())
            assert any(isinstance(m, AvgPool2x2) for m in model.modules())
        model = create_model("cnn")
        with accelerated(model):
            assert not any(isinstance(m, ConvReluPoolStem) for m in model.modules())
            assert any(isinstance(m, FastDropout) for m in model.modules())


def test_tune_allocator_applies_on_glibc_and_is_idempotent():
    import platform

    first = tune_allocator()
    assert first is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
    assert tune_allocator() is first


def test_fast_dilation_and_erosion_equal_the_pooling_definitions():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    assert torch.equal(dilate(x), F.max_pool2d(x, 3, stride=1, padding=1))
    assert torch.equal(erode(x), -F.max_pool2d(-x, 3, stride=1, padding=1))


def test_float32_runs_use_the_drop_ins_not_the_fused_stages():
    model = create_model("lenet5")
    with accelerated(model, fused=False):  # what a float32 run gets (accel.training with bf16=False)
        assert not any(isinstance(m, ConvTanhPool) for m in model.modules())
        assert any(isinstance(m, AvgPool2x2) for m in model.modules())
        assert any(isinstance(m, FullConvAsLinear) for m in model.modules())
