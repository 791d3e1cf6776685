"""How far the refusal holds beyond the writers it was fitted on. `bench/answered_right.py`
measures test digits drawn within the ranges of `writers.WRITERS` (slant, rotation, aspect,
size, pen, wobble), the ranges the "not a digit" rule was fitted within. Real writers are
not bound by them: here each range in turn is pushed beyond, on the same drawings (the same
MNIST test digits traced and templates, drawn from the same random stream), and each model is
measured through `digits.predict`'s path: answered right / refused (a refusal is a miss). The
first rows are the fitted ranges on three seeds: the spread between samples.

    python bench/writer_stress.py [--count 2000]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from answered_right import WRITER_SEED  # noqa: E402  (bench/ is this script's folder)

from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.strokes import preprocess_strokes  # noqa: E402
from digits.synthetic.writers import WRITERS, Writing, writer_drawings  # noqa: E402
from digits.training.data import Split, load_split  # noqa: E402

SEEDS = (WRITER_SEED, WRITER_SEED + 1, WRITER_SEED + 2)
BEYOND = {
    "slant up to 40 degrees": replace(WRITERS, slant_deg=40),
    "rotation up to 25 degrees": replace(WRITERS, turn_deg=25),
    "narrow, aspect 0.5-0.75": replace(WRITERS, aspect=(0.5, 0.75)),
    "wide, aspect 1.25-1.6": replace(WRITERS, aspect=(1.25, 1.6)),
    "small, 15-35% of the pad": replace(WRITERS, size=(0.15, 0.35)),
    "large, 85-100% of the pad": replace(WRITERS, size=(0.85, 1.0)),
    "thin pen, 0.1-0.25x": replace(WRITERS, pen=(0.1, 0.25)),
    "thick pen, 1.6-2.5x": replace(WRITERS, pen=(1.6, 2.5)),
    "three times the wobble": replace(WRITERS, wobble=3 * WRITERS.wobble),
}


def row(store: ModelStore, test: Split, n: int, seed: int, style: Writing) -> str:
    pairs = writer_drawings(test, n, np.random.default_rng(seed), style)
    prepared, labels = [preprocess_strokes(s) for s, _ in pairs], np.array([label for _, label in pairs])
    cells = []
    for name in store.available():
        answers = store.predict_many(prepared, name)
        refused = np.array([a.digit is None for a in answers])
        right = ~refused & (np.array([int(np.argmax(a.probabilities)) for a in answers]) == labels)
        cells.append(f"{100 * right.mean():.2f} / {100 * refused.mean():.2f}%")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="test digits per row (default: 2000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    store, test = ModelStore(), load_split(False)
    print("| drawings | " + " | ".join(store.available()) + " |")
    print("| --- " * (len(store.available()) + 1) + "|")
    for seed in SEEDS:
        print(f"| fitted ranges, seed {seed} | {row(store, test, args.count, seed, WRITERS)} |", flush=True)
    for name, style in BEYOND.items():
        print(f"| {name} | {row(store, test, args.count, SEEDS[0], style)} |", flush=True)


if __name__ == "__main__":
    main()
