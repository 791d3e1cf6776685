"""Does learning from visitors help? Writer splits on pen-style drawings.

Two sources of "visitors", each split by writer:
  pen-mnist  MNIST digits traced along their skeletons and redrawn with a round pen on a
             sketchpad canvas (bench/drawn_digits.py). MNIST's training and test writers are
             disjoint people, so the visitors are drawn from *training* digits (the last
             5,000, the validation tail, are never used) and the held-out writers from *test*
             digits: nothing of the test split is trained on.
  writers    digits/synthetic/sketches.py's stroke templates, each writer with habits of its own kept
             across drawings (slant, width, wobble, which form of 1, 4, 7 and 9, brush size).

The visitors' drawings go in through `record` (the code `python -m digits feedback add` and
the app use); the model is then fine-tuned exactly as `python -m digits train --model modern
--feedback --finetune --force` does (into a temporary copy of weights/), and scored on the
held-out writers before and after, next to its MNIST test accuracy.

It prints how many held-out digits were refused (a refusal counts as wrong), and how many
held-out font letters the model refuses before and after (the refusal threshold is refitted
after the fine-tune, with the visitors' newest drawings among the digits it must spare).

    python bench/visitor_finetune.py [--source pen-mnist|writers] [--model modern] [--drawings 1500]
                                     [--letters 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits.evaluate import accuracy, predict_logits
from digits.recognition import trust
from digits.recognition.inference import ModelStore
from digits.synthetic import negatives
from digits.synthetic.sketches import APP_CANVAS_PX, TEMPLATES, catmull_rom, draw_strokes
from digits.training.data import load_mnist
from digits.training.engine import TrainConfig
from digits.training.fit import fit_and_save
from digits.visitors import store as fb
from digits.visitors.finetune import FINETUNE_EPOCHS, FINETUNE_LR_SCALE
from digits.weights import load_model_and_card

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))  # drawn_digits.py's pen tracing
from not_a_digit import HELD_OUT_SEED as LETTERS_SEED  # noqa: E402  (seeds no training run uses)

FONT_LETTERS_SEED = LETTERS_SEED + 4  # bench/not_a_digit.py's held-out font letters
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

    from digits.synthetic.penstyle import skeleton_strokes

    rng = np.random.default_rng(seed)
    for img, label in zip(images, labels):
        yield canvas_from_strokes(skeleton_strokes(img), rng), int(label)


def drawings(seeds: range, per_writer: int):
    for seed in seeds:
        writer, rng = Writer.from_seed(seed), np.random.default_rng(seed + 1)
        for i in range(per_writer):
            yield writer.draw(i % 10, rng), i % 10


def held_out_answers(models: ModelStore, name: str, held_out: list) -> tuple[float, float]:
    """Accuracy on the held-out writers (a refusal counts as wrong), and the share refused."""
    answers = [models.predict(img, name).digit for img, _ in held_out]
    return (float(np.mean([a == d for a, (_, d) in zip(answers, held_out)])),
            float(np.mean([a is None for a in answers])))


def letters_refused(weights: Path, name: str, letters) -> float:
    """The share of held-out font letters (fonts no training run uses) the model refuses."""
    net, card = load_model_and_card(name, weights)
    t = trust.Trust.from_card(card)
    return trust.rejection_rate(t.probabilities(predict_logits(net, letters.images)).max(1).values, t.threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="pen-mnist", choices=["pen-mnist", "writers"])
    parser.add_argument("--model", default="modern")
    parser.add_argument("--drawings", type=int, default=1500, help="visitors' drawings added (and held out)")
    parser.add_argument("--keep", default=None, help="keep the fine-tuned weights and the drawings in this folder")
    parser.add_argument("--letters", type=int, default=1000, help="held-out font letters, refused before and after")
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
    workdir = contextlib.nullcontext(tempfile.mkdtemp(dir=args.keep)) if args.keep else tempfile.TemporaryDirectory()
    with workdir as tmp:
        weights, folder = Path(tmp) / "weights", Path(tmp) / "feedback"
        shutil.copytree(ROOT / "weights", weights, ignore=shutil.ignore_patterns("candidates"))
        models, store = ModelStore(weights), fb.FeedbackStore(folder)
        before = {n: held_out_answers(models, n, held_out) for n in models.available()}
        for img, digit in visitors:
            fb.record(store, models, img, str(digit), "visitors", source="cli")
        test_before = accuracy(load_model_and_card(args.model, weights)[0], data.test)
        letters = negatives.negative_split(args.letters, FONT_LETTERS_SEED, {"font-letter": 1},
                                           negatives.font_split()[1])
        letters_before = letters_refused(weights, args.model, letters)
        lr = load_model_and_card(args.model, weights)[1]["recipe"]["lr"] * FINETUNE_LR_SCALE
        cfg = TrainConfig.from_recipe(args.model, epochs=FINETUNE_EPOCHS, lr=lr, feedback=True, finetune=True)
        outcome = fit_and_save(cfg, data, weights, force=True, feedback_folder=folder)
        print(outcome.message)
        after, refused_after = held_out_answers(ModelStore(weights), args.model, held_out)
        test_after = accuracy(load_model_and_card(args.model, weights)[0], data.test)
        letters_after = letters_refused(weights, args.model, letters)
    print(f"{args.source}: {len(visitors)} visitors' drawings added; {len(held_out)} drawings of other writers "
          "held out")
    print("held-out writers before, every model: " + ", ".join(f"{n} {100 * a:.1f}%" for n, (a, _) in before.items()))
    acc_before, refused_before = before[args.model]
    print(f"{args.model}: held-out writers {100 * acc_before:.2f}% -> {100 * after:.2f}% "
          f"({100 * (after - acc_before):+.2f} points; refused {100 * refused_before:.2f}% -> "
          f"{100 * refused_after:.2f}%); MNIST test {100 * test_before:.2f}% -> "
          f"{100 * test_after:.2f}% ({100 * (test_after - test_before):+.2f} points); held-out font letters "
          f"refused {100 * letters_before:.1f}% -> {100 * letters_after:.1f}%")


if __name__ == "__main__":
    main()
