"""Answered right, refused, wrong: each model through the same path as `digits.predict`, on
the MNIST test split (each 28x28 image as a file would arrive) and on test digits drawn as new
writers draw them on the pad (bench/refusal_curve.py's digits, other drawings): as the pad
sends them (strokes), and as a canvas saved to PNG and read by `python -m digits predict`
(the image path, the way sketchpad drawings arrive as files), and photographed on unevenly lit
paper with a pen of the writer's own (`digits/synthetic/photos.py`, the way uploads from a phone
arrive). A refusal counts as a miss; ECE is the calibration error of the probabilities shown.

    python bench/answered_right.py [--count 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from refusal_curve import SEED, digit_drawings  # noqa: E402  (bench/ is this script's folder)

from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.preprocess import preprocess  # noqa: E402
from digits.recognition.strokes import preprocess_strokes, render_pad  # noqa: E402
from digits.recognition.trust import ece  # noqa: E402
from digits.synthetic.photos import photographed  # noqa: E402
from digits.synthetic.writers import WRITERS, Writing  # noqa: E402
from digits.training.data import load_split  # noqa: E402
from digits.visitors.store import canvas_png  # noqa: E402

WRITER_SEED = SEED + 1  # other drawings than the curve's
PHOTO_SEED = SEED + 2  # each photo's pen, paper and light


def mnist_test() -> tuple[list, np.ndarray]:
    test = load_split(False)
    return [preprocess((255 * img[0]).byte().numpy()) for img in test.images], test.labels.numpy()


def writer_test(n: int, seed: int = WRITER_SEED, style: Writing = WRITERS) -> tuple[list, np.ndarray]:
    pairs = digit_drawings(n, np.random.default_rng(seed), style)
    return [preprocess_strokes(s) for s, _ in pairs], np.array([label for _, label in pairs])


def writer_canvases(n: int, seed: int = WRITER_SEED) -> tuple[list, np.ndarray]:
    """`writer_test`'s drawings saved as the app saves a canvas (PNG, black ink whose alpha is
    the ink) and read through the image path instead of the strokes path."""
    pairs = digit_drawings(n, np.random.default_rng(seed))
    return [preprocess(canvas_png(render_pad(s))) for s, _ in pairs], np.array([label for _, label in pairs])


def writer_photos(n: int, seed: int = WRITER_SEED) -> tuple[list, np.ndarray]:
    """`writer_test`'s drawings photographed on paper (pen, paper, light, blur: photos.py)."""
    pairs, rng = digit_drawings(n, np.random.default_rng(seed)), np.random.default_rng(PHOTO_SEED)
    return [preprocess(photographed(s, rng)) for s, _ in pairs], np.array([label for _, label in pairs])


def outcomes(store: ModelStore, name: str, prepared: list,
             labels: np.ndarray) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """The model's answers, its best guesses, which it refused and which it answered right."""
    answers = store.predict_many(prepared, name)
    guess = np.array([int(np.argmax(a.probabilities)) for a in answers])
    refused = np.array([a.digit is None for a in answers])
    return answers, guess, refused, (~refused) & (guess == labels)


def row(store: ModelStore, name: str, prepared: list, labels: np.ndarray) -> str:
    answers, guess, refused, right = outcomes(store, name, prepared, labels)
    cal = ece(torch.tensor([a.probabilities for a in answers]), torch.from_numpy(labels))
    return (f"{100 * right.mean():8.2f}% {100 * refused.mean():8.2f}% {100 * ((~refused) & ~right).mean():8.2f}%"
            f" {100 * (guess == labels).mean():10.2f}% {100 * cal:6.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="writer-like test digits (default: 2000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sets = {"MNIST test": mnist_test(), "new writers": writer_test(args.count),
            "as canvases": writer_canvases(args.count), "as photos": writer_photos(args.count)}
    store = ModelStore()
    print(f"{'set':<12} {'model':<7} {'right':>9} {'refused':>9} {'wrong':>9} {'best guess':>11} {'ECE':>7}")
    for set_name, (prepared, labels) in sets.items():
        for name in store.available():
            print(f"{set_name:<12} {name:<7} " + row(store, name, prepared, labels))


if __name__ == "__main__":
    main()
