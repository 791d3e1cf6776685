"""Does learning from visitors help? Writer splits on pen-style drawings.

Two sources of "visitors", each split by writer:
  pen-mnist  MNIST digits traced along their skeletons and redrawn with a round pen on a
             sketchpad canvas (bench/drawn_digits.py). MNIST's training and test writers are
             disjoint people, so the visitors are drawn from *training* digits (the last
             5,000, the validation tail, are never used) and the held-out writers from *test*
             digits: nothing of the test split is trained on.
  writers    digits/sketches.py's stroke templates, each writer with habits of its own kept
             across drawings (slant, width, wobble, which form of 1, 4, 7 and 9, brush size).

The visitors' drawings go in through `record` (the code `python -m digits feedback add` and
the app use); the model is then fine-tuned exactly as `python -m digits train --model modern
--feedback --finetune --force` does (into a temporary copy of weights/), and scored on the
held-out writers before and after, next to its MNIST test accuracy.

    python bench/visitor_finetune.py [--source pen-mnist|writers] [--model modern] [--drawings 1500]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits import feedback as fb
from digits.data import load_mnist
from digits.engine import TrainConfig
from digits.evaluate import accuracy
from digits.inference import ModelStore
from digits.sketches import APP_CANVAS_PX, TEMPLATES, catmull_rom, draw_strokes
from digits.training import fit_and_save
from digits.visitors import FINETUNE_EPOCHS, FINETUNE_LR_SCALE
from digits.weights import load_model_and_card

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))  # drawn_digits.py's pen tracing
TRAIN_WRITERS = 30
HELD_OUT = 30
HELD_OUT_SEED = 10_000  # held-out writers' seeds start here: no writer is in both groups


@dataclass
class Writer:
    """One person's habits, fixed across their drawings."""

    slant: float
    width: float
    wobble: float
    brush: float
    forms: dict[int, int]  # which template of each digit this writer uses

    @classmethod
    def from_seed(cls, seed: int) -> Writer:
        rng = np.random.default_rng(seed)
        return cls(slant=float(rng.uniform(-0.5, 0.5)), width=float(rng.uniform(0.55, 1.35)),
                   wobble=float(rng.uniform(0.02, 0.08)), brush=float(rng.uniform(14, 40)),
                   forms={d: int(rng.integers(len(TEMPLATES[d]))) for d in range(10)})

    def draw(self, digit: int, rng: np.random.Generator) -> np.ndarray:
        strokes = []
        for stroke, smooth in TEMPLATES[digit][self.forms[digit]]:
            pts = np.array(stroke, float) + rng.normal(0, self.wobble, (len(stroke), 2))
            pts[:, 0] = 0.5 + (pts[:, 0] - 0.5) * self.width + self.slant * (0.5 - pts[:, 1])
            pts = [tuple(p) for p in pts]
            strokes.append(catmull_rom(pts) if smooth else pts)
        height = rng.uniform(0.45, 0.75) * APP_CANVAS_PX
        box = ((APP_CANVAS_PX - 0.62 * height) / 2, (APP_CANVAS_PX - height) / 2, 0.62 * height, height)
        return np.asarray(draw_strokes(strokes, APP_CANVAS_PX, self.brush, box))


def pen_mnist(images: np.ndarray, labels, seed: int):
    """MNIST digits redrawn with a pen on a sketchpad canvas (bench/drawn_digits.py)."""
    from drawn_digits import canvas_from_strokes

    from digits.penstyle import skeleton_strokes

    rng = np.random.default_rng(seed)
    for img, label in zip(images, labels):
        yield canvas_from_strokes(skeleton_strokes(img), rng), int(label)


def drawings(seeds: range, per_writer: int):
    for seed in seeds:
        writer, rng = Writer.from_seed(seed), np.random.default_rng(seed + 1)
        for i in range(per_writer):
            yield writer.draw(i % 10, rng), i % 10


def held_out_accuracy(models: ModelStore, name: str, held_out: list) -> float:
    return float(np.mean([models.predict(img, name).digit == d for img, d in held_out]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="pen-mnist", choices=["pen-mnist", "writers"])
    parser.add_argument("--model", default="modern")
    parser.add_argument("--drawings", type=int, default=1500, help="visitors' drawings added (and held out)")
    args = parser.parse_args()
    data = load_mnist()
    n = args.drawings
    if args.source == "writers":
        per_writer = n // TRAIN_WRITERS
        visitors = list(drawings(range(TRAIN_WRITERS), per_writer))
        held_out = list(drawings(range(HELD_OUT_SEED, HELD_OUT_SEED + HELD_OUT), per_writer))
    else:
        pick = np.random.default_rng(0).permutation(len(data.train))[:n]  # training writers, not the val tail
        visitors = list(pen_mnist(data.train.images[pick, 0].numpy(), data.train.labels[pick], seed=1))
        held_out = list(pen_mnist(data.test.images[:n, 0].numpy(), data.test.labels[:n], seed=2))
    with tempfile.TemporaryDirectory() as tmp:
        weights, folder = Path(tmp) / "weights", Path(tmp) / "feedback"
        shutil.copytree(ROOT / "weights", weights, ignore=shutil.ignore_patterns("candidates"))
        models, store = ModelStore(weights), fb.FeedbackStore(folder)
        before = {n: held_out_accuracy(models, n, held_out) for n in models.available()}
        for img, digit in visitors:
            fb.record(store, models, img, str(digit), "visitors", source="cli")
        test_before = accuracy(load_model_and_card(args.model, weights)[0], data.test)
        lr = load_model_and_card(args.model, weights)[1]["recipe"]["lr"] * FINETUNE_LR_SCALE
        cfg = TrainConfig.from_recipe(args.model, epochs=FINETUNE_EPOCHS, lr=lr, feedback=True, finetune=True)
        outcome = fit_and_save(cfg, data, weights, force=True, feedback_folder=folder)
        print(outcome.message)
        after = held_out_accuracy(ModelStore(weights), args.model, held_out)
        test_after = accuracy(load_model_and_card(args.model, weights)[0], data.test)
    print(f"{args.source}: {len(visitors)} visitors' drawings added; {len(held_out)} drawings of other writers "
          "held out")
    print("held-out writers before, every model: " + ", ".join(f"{n} {100 * a:.1f}%" for n, a in before.items()))
    print(f"{args.model}: held-out writers {100 * before[args.model]:.2f}% -> {100 * after:.2f}% "
          f"({100 * (after - before[args.model]):+.2f} points); MNIST test {100 * test_before:.2f}% -> "
          f"{100 * test_after:.2f}% ({100 * (test_after - test_before):+.2f} points)")


if __name__ == "__main__":
    main()
