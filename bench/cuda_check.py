"""The CUDA path, end to end: every model trained with its full recipe on the GPU, saved, and
read back on the CPU the way the app reads it.

For each model: `fit_and_save` exactly as `python -m digits train --model NAME` runs it (the
device is picked automatically, bfloat16 autocast where the GPU has it), into a temporary
weights folder; then the saved weights are loaded on the CPU, scored on the MNIST test split
there, and compared with the GPU's own test figure and logits. Prints one line per model.

    python bench/cuda_check.py [--models mlp cnn lenet5 modern] [--epochs N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from digits.evaluate import accuracy, predict_logits
from digits.models import list_models
from digits.training.data import load_mnist
from digits.training.engine import TrainConfig
from digits.training.fit import fit_and_save
from digits.weights import load_model_and_card

COMPARED = 2000  # test images whose logits are compared between the GPU and the CPU


def check(name: str, data, epochs: int | None, folder: str) -> str:
    cfg = TrainConfig.from_recipe(name, epochs=epochs)
    start = time.perf_counter()
    outcome = fit_and_save(cfg, data, folder, force=True)
    wall = time.perf_counter() - start
    card = outcome.card
    cpu_model, _ = load_model_and_card(name, folder)
    cpu_acc = accuracy(cpu_model, data.test)
    gpu_model = cpu_model.to("cuda") if torch.cuda.is_available() else cpu_model
    images = data.test.images[:COMPARED]
    gpu_logits = predict_logits(gpu_model, images).cpu()
    cpu_logits = predict_logits(cpu_model.cpu(), images)
    agree = (gpu_logits.argmax(1) == cpu_logits.argmax(1)).float().mean().item()
    return (f"{name:7s} {card['device']:6s} {card['backend']['precision']:8s} {card['epochs_run']:2d} epochs "
            f"train {card['train_seconds']:6.1f} s (all {wall:5.1f} s)  val {100 * card['val_accuracy']:.2f}%  "
            f"test on GPU {100 * card['test_accuracy']:.2f}%, on CPU {100 * cpu_acc:.2f}%  "
            f"GPU/CPU answers agree {100 * agree:.2f}%, max |logit diff| {(gpu_logits - cpu_logits).abs().max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list_models())
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none (CPU)'}")
    data = load_mnist()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            print(check(name, data, args.epochs, folder), flush=True)


if __name__ == "__main__":
    main()
