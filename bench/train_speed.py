"""Seconds per epoch: the tutorial's loop (DataLoader + ToTensor, batch 100) vs the project's engine.

Same architecture, one epoch each, in one process. The tutorial loop is the classic one:
torchvision MNIST with transforms.ToTensor(), a DataLoader of batch 100, plain SGD. All the
tutorial loops run first: the engine tunes the process's memory allocator when it starts
(`digits.training.accel.fastpath.tune_allocator`), and the tutorial loop must not profit from that.
The last column times the engine without the recipe's augmentation (the model alone).

    python bench/train_speed.py [--models lenet5 cnn] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from digits.config import data_dir
from digits.models import Augment, create_model
from digits.training.data import load_mnist
from digits.training.engine import TrainConfig, train

TUTORIAL_BATCH = 100
TUTORIAL_LR = 0.01


def tutorial_epoch(name: str, root: str) -> float:
    """One epoch of the tutorial-style loop over the full 60,000 training images."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    ds = datasets.MNIST(root, train=True, download=True, transform=transforms.ToTensor())
    loader = DataLoader(ds, batch_size=TUTORIAL_BATCH, shuffle=True)
    model = create_model(name)
    opt = torch.optim.SGD(model.parameters(), lr=TUTORIAL_LR)
    start = time.perf_counter()
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return time.perf_counter() - start


def engine_epoch(name: str, data, augment: bool = True) -> float:
    """One epoch of the project's engine with the model's own recipe (augmentation included
    unless `augment` is False), scaled to 60,000 images so both loops are timed on the same
    amount of work."""
    overrides = {} if augment else {"augment": Augment()}
    cfg = TrainConfig.from_recipe(name, epochs=1, seed=0, **overrides)
    return train(cfg, data).seconds * 60_000 / len(data.train)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet5", "cnn", "mlp"], help="(default: lenet5 cnn mlp)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    root = str(data_dir(args.data_dir))
    data = load_mnist(root)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    slow = {name: tutorial_epoch(name, root) for name in args.models}
    print(f"{'model':<8} {'tutorial s/epoch':>17} {'engine s/epoch':>15} {'speed-up':>9} {'engine, no aug':>15}")
    for name in args.models:
        fast = engine_epoch(name, data)
        bare = engine_epoch(name, data, augment=False)
        print(f"{name:<8} {slow[name]:>17.1f} {fast:>15.1f} {slow[name] / fast:>8.1f}x {bare:>13.1f} s", flush=True)


if __name__ == "__main__":
    main()
