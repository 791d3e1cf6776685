"""The native kernels (digits/training/accel/csrc, native.py) and the fused LeNet stages (fused.py)."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from digits.training.accel import native
from digits.training.accel.fused import ConvReluPoolStem, ConvTanhPool, _TanhPool

HAVE_COMPILER = any(shutil.which(c) for c in ("cc", "gcc", "clang"))
BF16_TOL = 2**-7  # two bfloat16 steps at 1.0


@pytest.fixture
def fresh_native(monkeypatch, tmp_path):
    """A private build cache and a forgotten library, restored afterwards."""
    monkeypatch.setenv(native.CACHE_ENV, str(tmp_path))
    native.reset()
    yield tmp_path
    monkeypatch.undo()
    native.reset()


def _stage(conv: nn.Conv2d) -> nn.Sequential:
    return nn.Sequential(conv, nn.Tanh(), nn.AvgPool2d(2, 2))


def _grads(module: nn.Module, x: torch.Tensor, g: torch.Tensor, autocast: bool = False):
    module.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = module(x)
    out.backward(g)
    return out.detach().float(), [p.grad.clone() for p in module.parameters()]


def test_the_kernels_build_wherever_a_c_compiler_exists(fresh_native):
    lib = native.library()
    if HAVE_COMPILER:
        assert lib is not None, native.status()
        assert "built with" in native.status()
        assert list(fresh_native.glob("digits-kernels-*.so"))
    else:
        assert lib is None and "no C compiler" in native.status()


@pytest.mark.skipif(not HAVE_COMPILER, reason="no C compiler on this machine")
def test_a_build_is_cached_and_reused(fresh_native):
    native.library()
    (built,) = fresh_native.glob("digits-kernels-*.so")
    stamp = built.stat().st_mtime_ns
    native.reset()
    assert native.library() is not None
    assert list(fresh_native.glob("digits-kernels-*.so")) == [built]
    assert built.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert not list(fresh_native.glob("*.tmp"))


def test_digits_accel_0_turns_the_kernels_off_and_stages_fall_back(fresh_native, monkeypatch):
    from digits.config import ACCEL_ENV

    monkeypatch.setenv(ACCEL_ENV, "0")
    assert native.library() is None
    assert ACCEL_ENV in native.status()
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2)
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(ConvTanhPool(conv)(x), _stage(conv)(x))


@pytest.fixture(scope="module")
def kernels():
    """The built kernels (built here, not while tests are collected); skipped, saying why, without them."""
    lib = native.library()
    if lib is None:
        pytest.skip(f"native kernels unavailable: {native.status()}")
    return lib


needs_kernels = pytest.mark.usefixtures("kernels")


@needs_kernels
@pytest.mark.parametrize("batch, channels, size, padding", [(5, 6, 28, 2), (3, 4, 16, 0), (2, 3, 36, 2), (1, 2, 9, 1)])
def test_fused_conv_stage_matches_pytorch_in_float32(batch, channels, size, padding):
    torch.manual_seed(batch)
    conv = nn.Conv2d(1, channels, 5, padding=padding)
    fused = ConvTanhPool(conv)
    assert fused.conv_fused
    x = torch.randn(batch, 1, size, size)
    g = torch.randn(_stage(conv)(x).shape)
    want, want_grads = _grads(_stage(conv), x, g)
    got, got_grads = _grads(fused, x, g)
    assert torch.allclose(got, want, atol=1e-6)
    for a, b in zip(got_grads, want_grads):  # sums over thousands of terms, in another order
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


@needs_kernels
def test_fused_conv_stage_under_bf16_autocast_is_as_close_as_pytorchs_own():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2)
    x = torch.randn(64, 1, 28, 28)
    g = torch.randn(64, 6, 14, 14)
    exact, exact_grads = _grads(_stage(conv), x, g)  # float32 reference
    theirs, their_grads = _grads(_stage(conv), x, g, autocast=True)
    ours, our_grads = _grads(ConvTanhPool(conv), x, g, autocast=True)
    assert (ours - exact).abs().max() <= max(BF16_TOL, (theirs - exact).abs().max())
    for mine, pytorch, ref in zip(our_grads, their_grads, exact_grads):
        assert mine.dtype == torch.float32
        assert (mine - ref).abs().max() <= max(1e-3 * ref.abs().max(), (pytorch - ref).abs().max())


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", [(4, 16, 10, 10), (3, 6, 28, 28), (2, 5, 6, 8)])
def test_tanh_pool_kernel_equals_pytorch_bit_for_bit_in_bf16(dtype, shape):
    torch.manual_seed(0)
    z = (torch.randn(shape) * 3).to(dtype)
    z1, z2 = z.clone().requires_grad_(), z.clone().requires_grad_()
    want = F.avg_pool2d(torch.tanh(z1), 2, 2)
    got = _TanhPool.apply(z2)
    g = torch.randn(want.shape).to(dtype)
    want.backward(g)
    got.backward(g)
    if dtype == torch.bfloat16:
        assert torch.equal(got, want) and torch.equal(z2.grad, z1.grad)
    else:
        assert torch.allclose(got, want, atol=1e-6) and torch.allclose(z2.grad, z1.grad, atol=1e-6)


@needs_kernels
def test_multichannel_stage_runs_the_conv_in_pytorch_and_the_rest_natively():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 16, 5)
    fused = ConvTanhPool(conv)
    assert not fused.conv_fused
    x = torch.randn(8, 6, 14, 14, requires_grad=True).contiguous(memory_format=torch.channels_last)
    g = torch.randn(8, 16, 5, 5)
    want, want_grads = _grads(_stage(conv), x, g)
    got, got_grads = _grads(fused, x, g)
    assert torch.allclose(got, want, atol=1e-6)
    assert all((a - b).abs().max() <= 1e-5 * b.abs().max() for a, b in zip(got_grads, want_grads))


@needs_kernels
def test_weight_gradients_are_reproducible_and_nan_propagates():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2)
    fused = ConvTanhPool(conv)
    x = torch.randn(33, 1, 28, 28)
    g = torch.randn(33, 6, 14, 14)
    _, first = _grads(fused, x, g, autocast=True)
    _, second = _grads(fused, x, g, autocast=True)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    x[3, 0, 10, 10] = float("nan")
    out = fused(x)
    assert out[3].isnan().any() and not out[[0, 1, 2, 4]].isnan().any()


@needs_kernels
def test_shapes_the_kernels_do_not_cover_fall_back_to_pytorch():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2)
    x = torch.randn(2, 1, 27, 27)  # odd conv output: the pool would drop a row
    assert torch.equal(ConvTanhPool(conv)(x), _stage(conv)(x))
    double = nn.Conv2d(1, 6, 5, padding=2).double()
    xd = torch.randn(2, 1, 28, 28, dtype=torch.float64)
    assert torch.equal(ConvTanhPool(double)(xd), _stage(double)(xd))


@needs_kernels
def test_a_single_channel_stage_whose_input_needs_a_gradient_still_gets_one():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 6, 5, padding=2)
    x = torch.randn(4, 1, 28, 28)
    g = torch.randn(4, 6, 14, 14)
    grads = []
    for module in (_stage(conv), ConvTanhPool(conv)):
        xi = x.clone().requires_grad_()
        module(xi).backward(g)
        grads.append(xi.grad)
    assert grads[1] is not None and torch.allclose(grads[1], grads[0], atol=1e-6)


# --- the tutorial CNN's stem: Conv(1 -> C, 5x5) -> ReLU -> MaxPool(2, 1) -> Dropout -> Flatten ---

def _stem(conv: nn.Conv2d, p: float) -> nn.Sequential:
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2, stride=1), nn.Dropout(p), nn.Flatten())


@needs_kernels
@pytest.mark.parametrize("batch, channels, size, padding", [(6, 10, 28, 2), (3, 4, 20, 0), (2, 3, 36, 2)])
def test_fused_stem_without_dropout_matches_pytorch_in_float32(batch, channels, size, padding):
    torch.manual_seed(batch)
    conv = nn.Conv2d(1, channels, 5, padding=padding)
    reference, fused = _stem(conv, 0.2).eval(), ConvReluPoolStem(conv, 0.2).eval()
    x = torch.randn(batch, 1, size, size)
    g = torch.randn(reference(x).shape)
    want, want_grads = _grads(reference, x, g)
    got, got_grads = _grads(fused, x, g)
    assert torch.allclose(got, want, atol=1e-6)
    for a, b in zip(got_grads, want_grads):
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


@needs_kernels
def test_fused_stem_dropout_keeps_one_minus_p_scales_and_routes_gradients_through_the_mask():
    torch.manual_seed(0)
    p = 0.2
    conv = nn.Conv2d(1, 10, 5, padding=2)
    fused = ConvReluPoolStem(conv, p).train()
    x = torch.randn(16, 1, 28, 28)
    g = torch.randn(16, 10 * 27 * 27)
    got, got_grads = _grads(fused, x, g)
    plain = _stem(conv, p).eval()(x).detach()  # the same stem without dropout
    positive = plain > 0  # where dropout's decision shows in the output
    kept = (got != 0) & positive
    assert abs(kept.sum().item() / positive.sum().item() - (1 - p)) < 0.01
    assert torch.allclose(got[kept], plain[kept] / (1 - p), atol=1e-5)
    assert torch.all(got[~kept & positive] == 0)
    # the gradient equals PyTorch's for the same mask (elsewhere the ReLU stops it anyway)
    mask = kept.float() / (1 - p)
    reference = _stem(conv, p).eval()
    conv.zero_grad()
    (reference(x) * mask).backward(g)
    for a, b in zip(got_grads, [conv.weight.grad, conv.bias.grad]):
        assert (a - b).abs().max() <= 1e-5 * b.abs().max()


@needs_kernels
def test_fused_stem_masks_follow_torch_manual_seed():
    conv = nn.Conv2d(1, 4, 5, padding=2)
    fused = ConvReluPoolStem(conv, 0.5).train()
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(7)
    first = fused(x)
    torch.manual_seed(7)
    again = fused(x)
    other = fused(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@needs_kernels
def test_fused_stem_under_bf16_autocast_is_as_close_as_pytorchs_own():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 10, 5, padding=2)
    x = torch.randn(32, 1, 28, 28)
    g = torch.randn(32, 10 * 27 * 27)
    exact, exact_grads = _grads(_stem(conv, 0.2).eval(), x, g)
    theirs, their_grads = _grads(_stem(conv, 0.2).eval(), x, g, autocast=True)
    ours, our_grads = _grads(ConvReluPoolStem(conv, 0.2).eval(), x, g, autocast=True)
    scale = exact.abs().max()
    assert (ours - exact).abs().max() <= max(BF16_TOL * scale, (theirs - exact).abs().max())
    for mine, pytorch, ref in zip(our_grads, their_grads, exact_grads):
        assert (mine - ref).abs().max() <= max(1e-3 * ref.abs().max(), (pytorch - ref).abs().max())


@needs_kernels
def test_fused_stem_falls_back_when_the_input_needs_a_gradient():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 4, 5, padding=2)
    x = torch.randn(2, 1, 28, 28)
    grads = []
    for module in (_stem(conv, 0.2).eval(), ConvReluPoolStem(conv, 0.2).eval()):
        xi = x.clone().requires_grad_()
        module(xi).sum().backward()
        grads.append(xi.grad)
    assert grads[1] is not None and torch.allclose(grads[1], grads[0], atol=1e-6)


@pytest.mark.skipif(not HAVE_COMPILER, reason="no C compiler on this machine")
def test_an_unwritable_cache_falls_back_to_a_temporary_folder(fresh_native, monkeypatch):
    blocker = fresh_native / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(native.CACHE_ENV, str(blocker / "cache"))
    assert native.library() is not None, native.status()
    assert str(blocker) not in native.status()


def test_the_c_side_declares_exactly_the_signatures_python_uses(fresh_native, monkeypatch):
    lib = native.library()
    if lib is None:
        pytest.fail(f"the kernels did not build: {native.status()}")
    native.check_signatures(lib)  # the real pair agrees
    drifted = dict(native._SIGNATURES, tanh_pool_fwd=native._SIGNATURES["tanh_pool_fwd"][:-1])
    monkeypatch.setattr(native, "_SIGNATURES", drifted)
    with pytest.raises(native.SignatureMismatch, match="tanh_pool_fwd"):
        native.check_signatures(lib)
