"""Stray marks: test digits drawn as new writers draw them, with a tap beside the digit on the
pad, and photographed with specks of dust on the paper; the modern CNN's answers with the
stray-mark rule (`digits/recognition/stray.py`) off and on, a refusal counted as a miss.

A tap: a dot of the pad's pen anywhere on the pad outside the digit's ink (some land a
stroke's width from it, where nothing tells them from a stroke's end). Specks: three dark
dots 4-12 px across anywhere on the photo of about 1,000 px (some land on the digit).

    python bench/stray_marks.py [--count 2000]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from answered_right import PHOTO_SEED, WRITER_SEED, outcomes  # noqa: E402
from refusal_curve import digit_drawings  # noqa: E402

from digits.recognition import stray  # noqa: E402
from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.preprocess import preprocess  # noqa: E402
from digits.recognition.strokes import Strokes, ink_box, preprocess_strokes, render_pad  # noqa: E402
from digits.synthetic.photos import photographed, specked  # noqa: E402
from digits.visitors.store import canvas_png  # noqa: E402

TAP_SEED = WRITER_SEED + 10  # where each tap lands ...
SPECK_SEED = WRITER_SEED + 11  # ... and each speck


def tapped(s: Strokes, rng: np.random.Generator) -> Strokes:
    """The strokes and a tap (two points a pixel apart) outside the digit's ink box."""
    x0, y0, x1, y1 = ink_box(np.concatenate(s.strokes), s.pen)
    while True:
        x, y = rng.uniform(0, s.width), rng.uniform(0, s.height)
        if not (x0 - s.pen / 2 <= x <= x1 + s.pen / 2 and y0 - s.pen / 2 <= y <= y1 + s.pen / 2):
            return replace(s, strokes=s.strokes + (np.array([[x, y], [x + 1.0, y + 1.0]]),))


def answered(store: ModelStore, prepare, inputs: list, labels: np.ndarray) -> str:
    """Right / refused for the modern CNN, with the rule off, then on."""
    cells = []
    for size in (0.0, stray.STRAY_SIZE):  # a mark under 0% of the rest's size: none is stray
        shipped, stray.STRAY_SIZE = stray.STRAY_SIZE, size
        try:
            _, _, refused, right = outcomes(store, "modern", [prepare(x) for x in inputs], labels)
        finally:
            stray.STRAY_SIZE = shipped
        cells.append(f"{100 * right.mean():.2f} / {100 * refused.mean():.2f}%")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="test drawings (default: 2000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    pairs = digit_drawings(args.count, np.random.default_rng(WRITER_SEED))
    labels = np.array([label for _, label in pairs])
    taps = np.random.default_rng(TAP_SEED)
    with_taps = [tapped(s, taps) for s, _ in pairs]
    photo_rng, speck_rng = np.random.default_rng(PHOTO_SEED), np.random.default_rng(SPECK_SEED)
    photos = [photographed(s, photo_rng) for s, _ in pairs]
    store = ModelStore()
    rows = {
        "strokes, as drawn": (preprocess_strokes, [s for s, _ in pairs]),
        "strokes, a tap beside the digit": (preprocess_strokes, with_taps),
        "canvases (PNG), a tap beside the digit": (lambda s: preprocess(canvas_png(render_pad(s))), with_taps),
        "photos, as taken": (preprocess, photos),
        "photos, three specks of dust": (preprocess, [specked(p, speck_rng) for p in photos]),
    }
    print("| test drawings (modern CNN) | rule off: right / refused | rule on |")
    print("| --- | --- | --- |")
    for name, (prepare, inputs) in rows.items():
        print(f"| {name} | {answered(store, prepare, inputs, labels)} |", flush=True)


if __name__ == "__main__":
    main()
