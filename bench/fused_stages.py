"""Forward + backward time of each fused native stage (`digits.training.accel.fused`) against the PyTorch
path the engine otherwise takes (channels-last bfloat16 with `digits.training.accel.fastpath`'s drop-ins),
and of a whole training step of each model that has such stages.

    python bench/fused_stages.py [--models lenet5 cnn] [--batch 512] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from digits.models import create_model
from digits.training.accel import native
from digits.training.accel.fastpath import accelerated, tune_allocator
from digits.training.accel.fused import find_stages
from digits.training.engine import bf16_supported

WARMUP = 5
WIDTH = 62  # label column


def median_ms(fn: Callable[[], None], repeats: int) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def step(module: nn.Module, x: torch.Tensor, bf16: bool, target: torch.Tensor | None = None) -> Callable[[], None]:
    """One forward + backward: a cross-entropy loss for a whole model, else a fixed random
    gradient laid out like the output, as in training."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        grad = torch.randn_like(module(x))

    def run() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = module(x)
        if target is None:
            out.backward(grad)
        else:
            F.cross_entropy(out.float(), target).backward()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet5", "cnn"], help="(default: lenet5 cnn)")
    parser.add_argument("--batch", type=int, default=512, help="(default: 512, both models' recipe)")
    parser.add_argument("--repeats", type=int, default=50, help="(default: 50)")
    args = parser.parse_args()
    if native.library() is None:
        sys.exit(f"native kernels unavailable: {native.status()}")
    tune_allocator()
    bf16 = bf16_supported(torch.device("cpu"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{'bfloat16' if bf16 else 'float32'}; median ms of forward + backward")
    print(f"{'':<{WIDTH}} {'PyTorch path':>12} {'fused':>8} {'speed-up':>9}")
    for name in args.models:
        torch.manual_seed(0)
        model = create_model(name).to(memory_format=torch.channels_last).train()
        images = torch.randn(args.batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        for number, (parent, names, kind) in enumerate(find_stages(model), 1):
            mods = [parent._modules[n] for n in names]
            plain = nn.Sequential(*mods).train()
            # the stage's input: what the layers before it make of the images
            before = list(parent._modules).index(names[0])
            with torch.no_grad():
                x = parent[:before](images) if before else images
            x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(before > 0)
            with native.turned_off(), accelerated(plain):  # the drop-ins used without native kernels
                slow = median_ms(step(plain, x, bf16), args.repeats)
            fast = median_ms(step(kind.build(mods).train(), x, bf16), args.repeats)
            label = f"{name} stage {number}: " + " -> ".join(type(m).__name__ for m in mods)
            print(f"{label:<{WIDTH}} {slow:>12.2f} {fast:>8.2f} {slow / fast:>8.1f}x")
        target = torch.randint(0, 10, (args.batch,))
        with native.turned_off(), accelerated(model):
            slow = median_ms(step(model, images, bf16, target), args.repeats)
        with accelerated(model):
            fast = median_ms(step(model, images, bf16, target), args.repeats)
        label = f"{name}: whole model (no augmentation)"
        print(f"{label:<{WIDTH}} {slow:>12.2f} {fast:>8.2f} {slow / fast:>8.1f}x")


if __name__ == "__main__":
    main()
