"""Test accuracy and training time of each model's default recipe over several seeds.

Every run picks its best epoch on the validation split (the last 5,000 training images);
the test split is only measured at the end. Data is loaded once, before the clock starts.

    python bench/seeds.py [--models mlp cnn lenet5 modern] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from digits.evaluate import accuracy
from digits.models import list_models
from digits.training.data import load_mnist
from digits.training.engine import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list_models(), help="(default: all)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="(default: 0 1 2)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = load_mnist(args.data_dir)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, seeds {args.seeds}")
    print(f"{'model':<8} {'test acc (mean ± sd)':>21} {'min':>7} {'max':>7} {'val acc':>8} {'train s':>8}")
    for name in args.models:
        tests, vals, secs = [], [], []
        for seed in args.seeds:
            result = train(TrainConfig.from_recipe(name, seed=seed), data)
            tests.append(100 * accuracy(result.model, data.test))
            vals.append(100 * result.val_acc)
            secs.append(result.seconds)
            print(f"  {name} seed {seed}: test {tests[-1]:.2f}%  val {vals[-1]:.2f}%  {secs[-1]:.1f} s", flush=True)
        sd = statistics.stdev(tests) if len(tests) > 1 else 0.0
        print(f"{name:<8} {statistics.mean(tests):>13.2f}% ± {sd:.2f} {min(tests):>6.2f}% {max(tests):>6.2f}% "
              f"{statistics.mean(vals):>7.2f}% {statistics.mean(secs):>8.1f}", flush=True)


if __name__ == "__main__":
    main()
