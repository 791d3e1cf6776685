"""The number reader's selection sets: how many numbers the modern CNN reads exactly and with
the right digit count under the shipped rules and under each rule changed, and how many pen
letters written alone in number mode it refuses. Every rule in `reading.Rules`
(`docs/reading.md`) was chosen on these sets; no report uses their seeds. Numbers of 2-5
digits, 300 of each by default: MNIST *validation* digits traced with a pen, gaps between the
strokes' boxes (seed 7) and between the ink's (seed 8); pen templates of new writers on the
app's canvas with number mode's pen (seed 7), and with the bench's pens, gaps between the
strokes (seed 9); pen letters alone in number mode, and between two digits on number mode's
pad, as its strokes. `read_speed.py` reports the MNIST-test numbers.

    python bench/read_select.py [--numbers 300] [--rule cuts.pair_weight=0.5] [--rule ...]

Each `--rule STEP.NAME=VALUE` (STEP: pieces, cuts or looks) is one row, measured alone.
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch
from read_speed import APP_CANVAS, letter_between, mnist_number, template_number

from digits.recognition.inference import NOT_A_DIGIT, ModelStore
from digits.recognition.preprocess import NoInk, ink_map
from digits.recognition.reading import RULES, Reader, Rules, pad_of
from digits.synthetic import negatives
from digits.synthetic.sketches import APP_NUMBER_BRUSH_RADIUS_PX
from digits.training.data import load_mnist

LETTERS_SEED = 7_777  # pen letters of writers the training runs never drew
BETWEEN_SEED = 4_242  # a pen letter between two digits ("2A5"), as the pad sends it


def selection_sets(n: int) -> dict[str, list[tuple[np.ndarray, str]]]:
    """Each set's ink maps and numbers."""
    val = load_mnist().val
    makers = {
        "MNIST val, strokes": partial(mnist_number, val.images, val.labels, np.random.default_rng(7)),
        "MNIST val, ink": partial(mnist_number, val.images, val.labels, np.random.default_rng(8), None, True),
        "templates, app canvas": partial(template_number, np.random.default_rng(7), APP_CANVAS,
                                         2 * APP_NUMBER_BRUSH_RADIUS_PX),
        "templates, strokes": partial(template_number, np.random.default_rng(9)),
    }
    return {name: [(ink_map(image), text) for image, text, _ in (make() for _ in range(n))]
            for name, make in makers.items()}


def changed(rules: Rules, rule: str) -> Rules:
    """`rules` with one `STEP.NAME=VALUE` changed."""
    path, value = rule.split("=", 1)
    step, name = path.split(".")
    part = getattr(rules, step)
    if not hasattr(part, name):
        raise SystemExit(f"no rule {path}")
    return replace(rules, **{step: replace(part, **{name: ast.literal_eval(value)})})


def row(reader: Reader, sets: dict[str, list[tuple[np.ndarray, str]]], letters: list[np.ndarray],
        between: list[tuple[np.ndarray, Any]]) -> str:
    """Exact / count right for each set, then letters refused: alone, and between two digits."""
    cells = []
    for items in sets.values():
        said = [reader.segment_and_read(ink)[2] for ink, _ in items]
        exact = np.mean([r.text == text for r, (_, text) in zip(said, items)])
        count = np.mean([len(r.digits) == len(text) for r, (_, text) in zip(said, items)])
        cells.append(f"{100 * exact:.1f} / {100 * count:.1f}%")
    refused = np.mean([reader.segment_and_read(ink)[2].reason == NOT_A_DIGIT for ink in letters])
    among = np.mean([reader.segment_and_read(ink, pad)[2].reason == NOT_A_DIGIT for ink, pad in between])
    return " | ".join(cells + [f"{100 * refused:.1f}%", f"{100 * among:.1f}%"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numbers", type=int, default=300, help="of each set (default: 300)")
    parser.add_argument("--letters", type=int, default=200)
    parser.add_argument("--rule", action="append", default=[], help="STEP.NAME=VALUE, one row each")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the app's setting
    store = ModelStore()
    sets = selection_sets(args.numbers)
    drawn = negatives.canvases(args.letters, LETTERS_SEED, {"pen-letter": 1}, negatives.font_split()[0])
    letters = [ink for ink in (ink_map(d.canvas) for d in drawn) if not isinstance(ink, NoInk)]
    rng = np.random.default_rng(BETWEEN_SEED)
    between = [(ink_map(pad), pad_of(pad)) for pad in (letter_between(rng) for _ in range(args.letters))]
    print("| rules | " + " | ".join(sets) + " | pen letters refused | a pen letter between two digits, refused |")
    print("| --- " * (len(sets) + 3) + "|")
    for rule in ["shipped"] + args.rule:
        rules = RULES if rule == "shipped" else changed(RULES, rule)
        print(f"| {rule} | {row(Reader(store, 'modern', rules), sets, letters, between)} |", flush=True)


if __name__ == "__main__":
    main()
