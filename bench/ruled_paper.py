"""Ruled paper: the test drawings of `answered_right.py` (new writers) photographed as there,
on a notebook's ruled paper (`digits.synthetic.photos.ruled`: level lines 12-30% of the photo's
height apart, 2-5 px thick, tilted up to 6 degrees and bowed a little, under the ink), with
light lines (15-30% darker than the paper), darker ones (30-45%), with a margin line down the
page besides, and in colour (`ruled_in_colour`: light blue lines, a red margin). Right /
refused, a refusal counted as a miss: the modern CNN with ruled lines left in
(`digits/recognition/rulings.py` off) and taken out, and the other three models with them
taken out.

    python bench/ruled_paper.py [--count 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from answered_right import PHOTO_SEED, WRITER_SEED, outcomes  # noqa: E402
from refusal_curve import digit_drawings  # noqa: E402

from digits.recognition import rulings  # noqa: E402
from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.preprocess import preprocess  # noqa: E402
from digits.synthetic.photos import photographed, ruled, ruled_in_colour  # noqa: E402

RULED_SEED = WRITER_SEED + 12  # each page's lines
NEVER = 10**9  # no image is this wide: nothing is taken for a ruling


def cell(store: ModelStore, names: list[str], prepared: list, labels: np.ndarray) -> str:
    """Right / refused, or the range of right over several models."""
    results = [outcomes(store, name, prepared, labels) for name in names]
    if len(names) == 1:
        _, _, refused, right = results[0]
        return f"{100 * right.mean():.2f} / {100 * refused.mean():.2f}%"
    rights = [100 * r[3].mean() for r in results]
    return f"{min(rights):.2f}-{max(rights):.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="test drawings (default: 2000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    pairs = digit_drawings(args.count, np.random.default_rng(WRITER_SEED))
    labels = np.array([label for _, label in pairs])
    photo_rng, lines = np.random.default_rng(PHOTO_SEED), np.random.default_rng(RULED_SEED)
    photos = [photographed(s, photo_rng) for s, _ in pairs]
    rows = {  # made one row at a time (2,000 photos of 1,008 px are 2 GB in grey)
        "as taken, plain paper": lambda: photos,
        "ruled, light lines (15-30% darker than the paper)": lambda: [ruled(p, lines, darkness=(0.15, 0.3))
                                                                      for p in photos],
        "ruled, darker lines (30-45%)": lambda: [ruled(p, lines, darkness=(0.3, 0.45)) for p in photos],
        "ruled, and a margin line": lambda: [ruled(p, lines, margin=True) for p in photos],
        "in colour: light blue lines, a red margin": lambda: [ruled_in_colour(p, lines) for p in photos],
    }
    store = ModelStore()
    others = [name for name in store.available() if name != "modern"]
    print("| photos of test drawings | modern, lines left in | modern, lines taken out | the other three, taken out |")
    print("| --- | --- | --- | --- |")
    for name, make in rows.items():
        images = make()
        shipped, rulings.RULE_MIN_PX = rulings.RULE_MIN_PX, NEVER
        try:
            before = cell(store, ["modern"], [preprocess(i) for i in images], labels)
        finally:
            rulings.RULE_MIN_PX = shipped
        prepared = [preprocess(i) for i in images]
        print(f"| {name} | {before} | {cell(store, ['modern'], prepared, labels)} "
              f"| {cell(store, others, prepared, labels)} |", flush=True)


if __name__ == "__main__":
    main()
