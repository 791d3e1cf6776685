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

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from answered_right import WRITER_SEED, outcomes, writer_test  # noqa: E402  (bench/ is this script's folder)

from digits.recognition.inference import ModelStore  # noqa: E402
from digits.synthetic.writers import WRITERS, Writing  # noqa: E402

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


def row(store: ModelStore, n: int, seed: int, style: Writing) -> str:
    prepared, labels = writer_test(n, seed, style)
    cells = []
    for name in store.available():
        _, _, refused, right = outcomes(store, name, prepared, labels)
        cells.append(f"{100 * right.mean():.2f} / {100 * refused.mean():.2f}%")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="test digits per row (default: 2000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    store = ModelStore()
    print("| drawings | " + " | ".join(store.available()) + " |")
    print("| --- " * (len(store.available()) + 1) + "|")
    for seed in SEEDS:
        print(f"| fitted ranges, seed {seed} | {row(store, args.count, seed, WRITERS)} |", flush=True)
    for name, style in BEYOND.items():
        print(f"| {name} | {row(store, args.count, SEEDS[0], style)} |", flush=True)


if __name__ == "__main__":
    main()
