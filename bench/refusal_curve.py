"""The trade-off behind "not a digit": letters refused against digits refused, per model, on
drawings made to vary the way real writers do, through the pad's stroke path.

Digits: MNIST *test* digits traced along their skeletons and the stroke templates by new
writers; letters: the letter templates by new writers and letters in the held-out fonts,
traced. Every drawing gets a writer's slant (-25 to 25 degrees of shear), rotation
(-12 to 12), aspect (0.75-1.25), size (35-85% of the pad), pen (0.25-1.6x the pad's pen) and a
wobble of its points, then goes through `digits.predict` as the pad's strokes. For each model
the curve gives the share of letters refused at the threshold that refuses 0.5%, 1%, 2% and
3% of these digits, and both shares at the threshold in its card; the last row does the same
for the models' panel (the sum of the four energies, the rule the app uses when it is fitted).

    python bench/refusal_curve.py [--count 1000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from digits.config import normalize  # noqa: E402
from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.strokes import preprocess_strokes  # noqa: E402
from digits.synthetic.writers import WRITERS, Writing, writer_drawings, writer_letters  # noqa: E402
from digits.training.data import load_split  # noqa: E402

SEED = 77_000  # no training run or selection uses seeds this high
DIGITS_REFUSED = (0.005, 0.01, 0.02, 0.03)


def digit_drawings(n: int, rng: np.random.Generator, style: Writing = WRITERS) -> list[tuple]:
    """(strokes, label): half MNIST test digits traced, half the templates, by new writers."""
    return writer_drawings(load_split(False), n, rng, style)


def prepared(drawings: list) -> torch.Tensor:
    """The 28x28 of each drawing, normalised as the models see it."""
    # Strokes objects, not the pad's JSON: traced glyphs have more strokes than the pad may send.
    images = [preprocess_strokes(d).image28 for d in drawings]
    return normalize(torch.from_numpy(np.stack([im for im in images if im is not None]))[:, None])


def scores(store: ModelStore, name: str, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Higher = more digit-like: the calibrated top probability (what the app uses) and the
    energy score, T * logsumexp(logits / T) (Liu et al. 2020)."""
    t = store.trust(name).temperature
    with torch.no_grad():
        logits = store.get(name)(x) / t
    return {"top probability": torch.softmax(logits, 1).max(1).values.numpy(),
            "energy": (t * torch.logsumexp(logits, 1)).numpy()}


def curve(digits: np.ndarray, letters: np.ndarray) -> list[str]:
    return [f"{100 * float((letters < np.quantile(digits, r)).mean()):16.1f}%" for r in DIGITS_REFUSED]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="digits and letters each (default: 1000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)
    digits = prepared([strokes for strokes, _ in digit_drawings(args.count, rng)])
    letters = prepared(writer_letters(args.count, rng))
    store = ModelStore()
    cols = " ".join(f"{'at ' + format(100 * r, '.1f') + '% digits':>17}" for r in DIGITS_REFUSED)
    print(f"letters refused{'':<17} {cols}   card threshold: digits / letters refused")
    summed = {"digits": 0.0, "letters": 0.0}
    for name in store.available():
        d, lt = scores(store, name, digits), scores(store, name, letters)
        summed["digits"] = summed["digits"] + d["energy"]
        summed["letters"] = summed["letters"] + lt["energy"]
        t = store.trust(name)
        cards = {"top probability": t.threshold, "energy": t.energy_threshold}
        for kind in d:
            print(f"{name:<7} {kind:<24} " + " ".join(curve(d[kind], lt[kind]))
                  + at_card(d[kind], lt[kind], cards[kind]))
    found = store.panel()
    print(f"{'panel':<7} {'summed energy':<24} " + " ".join(curve(summed["digits"], summed["letters"]))
          + at_card(summed["digits"], summed["letters"], found[0].energy_threshold if found else None))


def at_card(digits: np.ndarray, letters: np.ndarray, threshold: float | None) -> str:
    """Both shares refused at the fitted threshold (the card's, or the panel's)."""
    return "" if threshold is None else (f"   {100 * float((digits < threshold).mean()):.1f}% / "
                                         f"{100 * float((letters < threshold).mean()):.1f}%")

if __name__ == "__main__":
    main()
