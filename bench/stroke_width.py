"""Measure MNIST's stroke width and centre of mass with the pipeline's own estimator.

The constants MNIST_STROKE_* in digits/recognition/preprocess.py come from this script:
    python bench/stroke_width.py [--count N]
"""

from __future__ import annotations

import argparse

import numpy as np

from digits.recognition.preprocess import crop, ink_bbox, stroke_width
from digits.training.data import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=60_000, help="training digits to measure (default: all)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    train = load_split(True, args.data_dir)
    images = train.images[: args.count, 0].numpy()
    widths, coms = [], []
    for img in images:
        widths.append(stroke_width(crop(img, ink_bbox(img))))
        ys, xs = np.indices(img.shape)
        coms.append(((ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()))
    w = np.array(widths)
    c = np.array(coms)
    print(f"MNIST training digits measured: {len(w)}")
    percentiles = (2, 5, 10, 50, 90, 95, 98)
    print("stroke width (28x28 px): " + "  ".join(f"p{q} {np.percentile(w, q):.2f}" for q in percentiles))
    print(f"centre of mass (row, col): mean {c.mean(0).round(2)}  std {c.std(0).round(2)}")


if __name__ == "__main__":
    main()
