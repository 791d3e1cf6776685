"""The trade-off behind "not a digit": letters refused against digits refused, per model, on
drawings made to vary the way real writers do, through the pad's stroke path.

Digits: MNIST *test* digits traced along their skeletons and the stroke templates by new
writers; letters: the letter templates by new writers and letters in the held-out fonts,
traced. Every drawing gets a writer's slant (-25 to 25 degrees of shear), rotation
(-12 to 12), aspect (0.75-1.25), size (35-85% of the pad), pen (0.25-1.6x the pad's pen) and a
wobble of its points, then goes through `digits.predict` as the pad's strokes. For each model
the curve gives the share of letters refused at the threshold that refuses 0.5%, 1%, 2% and
3% of these digits, and both shares at the threshold in its card.

    python bench/refusal_curve.py [--count 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from digits.recognition.inference import ModelStore  # noqa: E402
from digits.recognition.preprocess import preprocess  # noqa: E402
from digits.recognition.strokes import PAD_PX, PEN_PX  # noqa: E402
from digits.synthetic import negatives  # noqa: E402
from digits.synthetic.penstyle import skeleton_strokes  # noqa: E402
from digits.synthetic.sketches import writer_strokes  # noqa: E402
from digits.training.data import load_split  # noqa: E402

SEED = 77_000  # no training run or selection uses seeds this high
DIGITS_REFUSED = (0.005, 0.01, 0.02, 0.03)


def as_pad(unit: list, rng: np.random.Generator) -> dict:
    """Strokes in a unit box, as a new writer would put them on the pad."""
    shear, turn = math.tan(math.radians(rng.uniform(-25, 25))), math.radians(rng.uniform(-12, 12))
    aspect, size = rng.uniform(0.75, 1.25), rng.uniform(0.35, 0.85) * PAD_PX
    pts = [np.asarray(s, np.float64) - 0.5 for s in unit if len(s)]
    out = []
    for s in pts:
        x, y = s[:, 0] * aspect + shear * s[:, 1], s[:, 1]
        x, y = x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)
        wobble = rng.normal(0, 0.006, (len(s), 2))
        out.append(np.stack([x, y], 1) + wobble)
    allp = np.concatenate(out)
    scale = size / max(np.ptp(allp[:, 0]), np.ptp(allp[:, 1]), 1e-6)
    centre = rng.uniform(0.35, 0.65, 2) * PAD_PX
    strokes = [[[float(v) for v in (p - allp.mean(0)) * scale + centre] for p in s] for s in out]
    return {"strokes": strokes, "width": PAD_PX, "height": PAD_PX, "pen": float(rng.uniform(0.25, 1.6) * PEN_PX)}


def digit_drawings(n: int, rng: np.random.Generator) -> list[dict]:
    test = load_split(False)
    picks = rng.choice(len(test.labels), n // 2, replace=False)
    traced = [as_pad(skeleton_strokes(test.images[i, 0].numpy()), rng) for i in picks]
    return traced + [as_pad(writer_strokes(int(d), rng), rng) for d in rng.integers(0, 10, n - n // 2)]


def letter_drawings(n: int, rng: np.random.Generator) -> list[dict]:
    """Half template letters by new writers, half letters in the held-out fonts, traced."""
    names = [c for c in negatives.LETTERS if c not in negatives.LEFT_OUT.split()]
    held_fonts = negatives.font_split()[1]
    out = []
    for k in range(n):
        if k % 2 == 0 or not held_fonts:
            out.append(as_pad(negatives.letter_strokes(names[int(rng.integers(len(names)))], rng), rng))
        else:
            char = negatives.FONT_LETTERS[int(rng.integers(len(negatives.FONT_LETTERS)))]
            glyph = negatives.font_glyph(char, held_fonts[int(rng.integers(len(held_fonts)))])
            out.append(as_pad(skeleton_strokes(glyph), rng))
    return out


def top_probabilities(store: ModelStore, name: str, drawings: list[dict]) -> np.ndarray:
    prepared = [preprocess(d) for d in drawings]
    kept = [p for p in prepared if not p.empty]
    preds = store.predict_many(kept, name)
    return np.array([p.top_probability for p in preds])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="digits and letters each (default: 1000)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(SEED)
    digits, letters = digit_drawings(args.count, rng), letter_drawings(args.count, rng)
    store = ModelStore()
    cols = " ".join(f"{'at ' + format(100 * r, '.1f') + '% digits':>17}" for r in DIGITS_REFUSED)
    print(f"letters refused {cols}   card threshold: digits refused / letters refused")
    for name in store.available():
        d, l_ = top_probabilities(store, name, digits), top_probabilities(store, name, letters)
        row = []
        for rate in DIGITS_REFUSED:
            threshold = float(np.quantile(d, rate))
            row.append(f"{100 * float((l_ < threshold).mean()):16.1f}%")
        card = store.trust(name).threshold
        print(f"{name:<15} " + " ".join(row) + f"   {100 * float((d < card).mean()):.1f}% / "
              f"{100 * float((l_ < card).mean()):.1f}%")


if __name__ == "__main__":
    main()
