"""The "not a digit" threshold as a trade: letters refused against digits answered right.

The models' panel refuses a drawing when the four energies summed fall under its threshold
(`weights/panel.json`, fitted to refuse at most 0.5% of validation digits). A lower threshold
answers more digits and refuses fewer letters. Each row is a threshold: the fitted one, then
those at which a given share of *validation* letters is refused (new writers' letters, seed
32,001: what a choice may look at); the columns are measured on test drawings, the curve's
letters (`refusal_curve.py`) and the best model's answers on `answered_right.py`'s sets, a
refusal counted as a miss.

    python bench/panel_trade.py [--count 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from answered_right import mnist_test, writer_canvases, writer_photos, writer_test  # noqa: E402
from panel_options import BEST, images_of, panel_scores  # noqa: E402
from refusal_curve import SEED, digit_drawings  # noqa: E402

from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.strokes import preprocess_strokes  # noqa: E402
from digits.synthetic.writers import writer_letters  # noqa: E402

VAL_LETTER_SEED = 32_001  # validation letters by new writers (no test set uses it)
CURVE_COUNT = 1000  # refusal_curve.py's default: its letters are these
VAL_LETTERS_REFUSED = (0.92, 0.91, 0.90, 0.88, 0.85)  # the rows below the fitted threshold


def scored(store: ModelStore, prepared: list) -> tuple[np.ndarray, np.ndarray]:
    """Each drawing's summed energy and the best model's digit; a drawing with no ink to read
    is refused (energy -inf), as `predict` refuses it."""
    ink = np.array([not p.empty for p in prepared])
    summed, digit = np.full(len(prepared), -np.inf), np.full(len(prepared), -1)
    summed[ink], digit[ink] = panel_scores(store, images_of(prepared))
    return summed, digit


def letters(count: int) -> tuple[list, list]:
    """Validation letters (for choosing) and the curve's test letters (for reporting)."""
    rng = np.random.default_rng(SEED)
    digit_drawings(CURVE_COUNT, rng)  # the curve draws its digits first, then its letters
    test = writer_letters(CURVE_COUNT, rng)
    val = writer_letters(count, np.random.default_rng(VAL_LETTER_SEED))
    return [preprocess_strokes(s) for s in val], [preprocess_strokes(s) for s in test]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="new writers' digits and validation letters")
    args = parser.parse_args()
    torch.set_num_threads(2)
    store = ModelStore()
    found = store.panel()
    if found is None:
        sys.exit("no panel fitted for these weights: run `python -m digits calibrate --model all`")
    panel = found[0]
    val_letters, test_letters = (scored(store, s)[0] for s in letters(args.count))
    digit_sets = {"MNIST test": mnist_test(), "new writers": writer_test(args.count),
                  "as canvases": writer_canvases(args.count), "as photos": writer_photos(args.count)}
    answered = {name: (*scored(store, prepared), labels) for name, (prepared, labels) in digit_sets.items()}
    rows = [("fitted", panel.energy_threshold)] + [
        (f"val letters {100 * r:.0f}%", float(np.quantile(val_letters, r))) for r in VAL_LETTERS_REFUSED]
    print(f"{'threshold':<26} {'letters refused':>17}   {BEST} right / refused")
    print(f"{'':<26} {'val / test':>17}   " + " ".join(f"{name:>16}" for name in answered))
    for label, threshold in rows:
        cells = " ".join(f"{100 * ((e >= threshold) & (d == y)).mean():7.2f} /{100 * (e < threshold).mean():5.2f}%"
                         for e, d, y in answered.values())
        print(f"{label:<17} {threshold:8.3f} {100 * (val_letters < threshold).mean():8.1f}% /"
              f"{100 * (test_letters < threshold).mean():5.1f}%   {cells}")


if __name__ == "__main__":
    main()
