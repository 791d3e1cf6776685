"""Scans cropped tight: each test digit cut out to its own ink and scaled to fill a small
square (its longer side the square's side, aspect kept), dark on light, as a scanner's or a
dataset's digit arrives (USPS's are 16x16): its ink runs onto the border of the image. Each
model's answers through the same path as `digits.predict`, right / refused, a refusal
counted as a miss. MNIST test digits, and the test drawings of `answered_right.py` (new
writers) drawn on the pad.

    python bench/tight_scans.py [--count 2000] [--sizes 16 28 64 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from answered_right import WRITER_SEED, outcomes  # noqa: E402
from refusal_curve import digit_drawings  # noqa: E402

from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.preprocess import preprocess  # noqa: E402
from digits.recognition.strokes import render_pad  # noqa: E402
from digits.synthetic.photos import cropped_tight  # noqa: E402
from digits.training.data import load_split  # noqa: E402

SIZES = (16, 28, 64, 200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="digits of each kind (default: 2000)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    torch.set_num_threads(2)
    test = load_split(False)
    pick = np.random.default_rng(0).choice(len(test.labels), args.count, replace=False)
    kinds = {"MNIST test": ([test.images[i, 0].numpy() for i in pick], test.labels.numpy()[pick])}
    pairs = digit_drawings(args.count, np.random.default_rng(WRITER_SEED))
    kinds["new writers"] = ([render_pad(s) for s, _ in pairs], np.array([label for _, label in pairs]))
    store = ModelStore()
    print("| scans cropped tight | " + " | ".join(store.available()) + " |")
    print("| --- " * (len(store.available()) + 1) + "|")
    for kind, (inks, labels) in kinds.items():
        for size in args.sizes:
            prepared = [preprocess(cropped_tight(ink, size)) for ink in inks]
            cells = []
            for name in store.available():
                _, _, refused, right = outcomes(store, name, prepared, labels)
                cells.append(f"{100 * right.mean():.2f} / {100 * refused.mean():.2f}%")
            print(f"| {kind}, {size} px | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
