"""Forward + backward time of LeNet-5's two Conv -> Tanh -> AvgPool stages, and of a whole
training step, with the native fused kernels and with the PyTorch path the engine otherwise
uses (channels-last bfloat16 with `digits.fastpath`'s drop-ins).

    python bench/lenet_stages.py [--batch 512] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digits import native  # noqa: E402
from digits.engine import bf16_supported  # noqa: E402
from digits.fastpath import accelerated, tune_allocator  # noqa: E402
from digits.fused import ConvTanhPool  # noqa: E402
from digits.models import create_model  # noqa: E402

WARMUP = 5


def median_ms(fn: Callable[[], None], repeats: int) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def stage_step(stage: nn.Module, x: torch.Tensor, bf16: bool) -> Callable[[], None]:
    params = list(stage.parameters())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        grad = torch.randn_like(stage(x))  # dense, laid out like the output, as in training

    def step() -> None:
        for p in params:
            p.grad = None
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = stage(x)
        out.backward(grad)
    return step


def model_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bf16: bool) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=512, help="(default: 512, LeNet-5's recipe)")
    parser.add_argument("--repeats", type=int, default=50, help="(default: 50)")
    args = parser.parse_args()
    if native.library() is None:
        sys.exit(f"native kernels unavailable: {native.status()}")
    tune_allocator()
    bf16 = bf16_supported(torch.device("cpu"))
    cl = torch.channels_last
    torch.manual_seed(0)
    model = create_model("lenet5").to(memory_format=cl)
    n = args.batch
    inputs = {0: torch.randn(n, 1, 28, 28).contiguous(memory_format=cl),
              # the second stage's input comes from the first: it needs a gradient too
              3: torch.randn(n, 6, 14, 14).contiguous(memory_format=cl).requires_grad_()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {n}, "
          f"{'bfloat16' if bf16 else 'float32'}; median ms of forward + backward")
    print(f"{'':<34} {'PyTorch path':>12} {'fused':>8} {'speed-up':>9}")
    for first, label in ((0, "stage 1: conv 1->6, tanh, pool"), (3, "stage 2: conv 6->16, tanh, pool")):
        plain = nn.Sequential(*model[first:first + 3])
        with native.turned_off(), accelerated(plain):  # the drop-ins used without native kernels
            slow = median_ms(stage_step(plain, inputs[first], bf16), args.repeats)
        fast = median_ms(stage_step(ConvTanhPool(model[first]), inputs[first], bf16), args.repeats)
        print(f"{label:<34} {slow:>12.2f} {fast:>8.2f} {slow / fast:>8.1f}x")
    x, y = inputs[0], torch.randint(0, 10, (n,))
    with native.turned_off(), accelerated(model):
        slow = median_ms(model_step(model, x, y, bf16), args.repeats)
    with accelerated(model):
        fast = median_ms(model_step(model, x, y, bf16), args.repeats)
    print(f"{'whole model (no augmentation)':<34} {slow:>12.2f} {fast:>8.2f} {slow / fast:>8.1f}x")


if __name__ == "__main__":
    main()
