"""Drawings that vary as new writers do, through the pad's stroke path: MNIST digits traced
along their skeletons and the stroke templates, each with a writer's slant, rotation,
aspect, size, pen and a wobble of its points. Real writers refuse-test the models harder than
pen-traced MNIST alone: the refusal is fitted on these (a validation split) and measured on
them (the test split, `bench/refusal_curve.py`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from digits.recognition.strokes import PAD_PX, PEN_PX, Strokes, preprocess_strokes
from digits.synthetic import negatives
from digits.synthetic.penstyle import skeleton_strokes
from digits.synthetic.sketches import writer_strokes
from digits.training.data import Split


@dataclass(frozen=True)
class Writing:
    """How much new writers vary: each drawing draws its slant, rotation, aspect, size, pen
    and wobble from these ranges. The refusal is fitted and measured within `WRITERS`;
    `bench/writer_stress.py` pushes each range beyond it."""

    slant_deg: float = 25  # shear, either way
    turn_deg: float = 12  # rotation, either way
    aspect: tuple[float, float] = (0.75, 1.25)
    size: tuple[float, float] = (0.35, 0.85)  # the drawing's longer side, as a share of the pad
    pen: tuple[float, float] = (0.25, 1.6)  # the pen, as a share of the pad's
    wobble: float = 0.006  # points move this much (a share of the drawing's size)


WRITERS = Writing()


def as_pad(unit: list, rng: np.random.Generator, style: Writing = WRITERS) -> Strokes:
    """Strokes in a unit box, as a new writer would put them on the pad."""
    shear = math.tan(math.radians(rng.uniform(-style.slant_deg, style.slant_deg)))
    turn = math.radians(rng.uniform(-style.turn_deg, style.turn_deg))
    aspect, size = rng.uniform(*style.aspect), rng.uniform(*style.size) * PAD_PX
    out = []
    for s in (np.asarray(s, np.float64) - 0.5 for s in unit if len(s)):
        x, y = s[:, 0] * aspect + shear * s[:, 1], s[:, 1]
        x, y = x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)
        out.append(np.stack([x, y], 1) + rng.normal(0, style.wobble, (len(s), 2)))
    points = np.concatenate(out)
    scale = size / max(np.ptp(points[:, 0]), np.ptp(points[:, 1]), 1e-6)
    centre = rng.uniform(0.35, 0.65, 2) * PAD_PX
    strokes = tuple(np.clip((s - points.mean(0)) * scale + centre, 0, PAD_PX) for s in out)
    return Strokes(strokes, PAD_PX, PAD_PX, float(rng.uniform(*style.pen) * PEN_PX))


Drawing = tuple[Strokes, int]  # strokes on the pad, and the digit they are


def traced(split: Split, n: int, rng: np.random.Generator, style: Writing = WRITERS) -> list[Drawing]:
    """n of the split's digits, picked at random, traced and redrawn as new writers draw them."""
    picks = rng.choice(len(split.labels), min(n, len(split.labels)), replace=False)
    return [(as_pad(skeleton_strokes(split.images[i, 0].numpy()), rng, style), int(split.labels[i])) for i in picks]


def writer_drawings(split: Split, n: int, rng: np.random.Generator, style: Writing = WRITERS) -> list[Drawing]:
    """n drawings: half the split's digits traced, half the templates, as new writers draw them."""
    drawings = traced(split, n // 2, rng, style)
    return drawings + [(as_pad(writer_strokes(int(d), rng), rng, style), int(d))
                       for d in rng.integers(0, 10, n - n // 2)]


FLAG_LENGTH = (0.15, 0.4)  # a flagged 1's flag, as a share of the 1's height ...
FLAG_ANGLE_DEG = (25.0, 60.0)  # ... falling down and to the left from its top, at this angle to the vertical,
UPRIGHT_DEG = 15.0  # ... on 1s upright within this (the writer's slant comes after): a flag on a
# 1 leaning far to the right meets its stem at a 7's angle


def _stem(strokes: list) -> tuple[tuple[float, float], float]:
    """A traced 1's top and its lean from the vertical (degrees, positive to the right)."""
    points = [p for s in strokes for p in s]
    (x, y), (xb, yb) = min(points, key=lambda p: p[1]), max(points, key=lambda p: p[1])
    return (x, y), math.degrees(math.atan2(x - xb, max(yb - y, 1e-6)))


def with_flag(strokes: list, rng: np.random.Generator) -> list:
    """A traced 1 (unit box, height 1) with a flag drawn from its top."""
    (x, y), _ = _stem(strokes)
    angle, length = math.radians(rng.uniform(*FLAG_ANGLE_DEG)), rng.uniform(*FLAG_LENGTH)
    return [[(x - length * math.sin(angle), y + length * math.cos(angle)), (x, y)], *strokes]


def flagged_ones(split: Split, n: int, rng: np.random.Generator, style: Writing = WRITERS) -> list[Drawing]:
    """n of the split's upright 1s traced with a flag at the top, as many writers outside the US
    write a 1 (MNIST's writers seldom did: a model that never saw one reads it as a 7), drawn as
    new writers draw. The flag is drawn from ranges, not from the templates' 1 that tests use."""
    traced = (skeleton_strokes(split.images[i, 0].numpy()) for i in rng.permutation(len(split.labels))
              if split.labels[i] == 1)
    upright = (s for s in traced if s and abs(_stem(s)[1]) <= UPRIGHT_DEG)
    return [(as_pad(with_flag(s, rng), rng, style), 1) for s, _ in zip(upright, range(n))]


def writer_letters(n: int, rng: np.random.Generator) -> list[Strokes]:
    """Letters nobody writes like a digit, as new writers draw them: half the letter templates,
    half letters in the fonts no training run uses, traced (what "not a digit" is measured on)."""
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


def writer_digits(split: Split, n: int, seed: int) -> Split:
    """`writer_drawings` through the pad's path, as a split."""
    return rendered(writer_drawings(split, n, np.random.default_rng(seed)))


def writer_traced(split: Split, n: int, seed: int) -> Split:
    """Only traced digits: no templates, so a training set made here shares nothing with the
    templates' test drawings."""
    return rendered(traced(split, n, np.random.default_rng(seed)))


def flagged_training(split: Split, n: int, seed: int) -> Split:
    """`flagged_ones` through the pad's path, as a split."""
    return rendered(flagged_ones(split, n, np.random.default_rng(seed)))


def rendered(drawings: list[Drawing]) -> Split:
    """Drawings through the pad's own path to 28x28 (empty ones dropped)."""
    images, labels = [], []
    for strokes, label in drawings:
        prepared = preprocess_strokes(strokes)
        if not prepared.empty:
            images.append(prepared.image28)
            labels.append(label)
    return Split(torch.from_numpy(np.stack(images))[:, None], torch.tensor(labels, dtype=torch.long))
