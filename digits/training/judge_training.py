"""Training the reader's judge (`digits.recognition.judge`): its drawings and its loop.

It is trained here, in minutes, on drawings made the way the bench writes numbers: MNIST
*training* digits traced with a pen and stroke-template digits, alone or two written into
each other; letters from the templates and the training fonts (never the held-out ones).
`python -m digits train-judge` runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from digits.recognition.judge import ANSWERS, NAME, ONE, TWO, JudgeNet, view
from digits.recognition.preprocess import NoInk, ink_map
from digits.synthetic import negatives
from digits.synthetic.penstyle import skeleton_strokes, write_number
from digits.synthetic.sketches import Stroke, from_left, writer_glyph
from digits.training.data import Split
from digits.weights import save_weights

MIX = (0.4, 0.35, 0.25)  # share of each answer among the drawings it learns from
TOUCHING_GAPS = (-0.15, 0.03)  # two digits' ink from overlapping by 15% of their height to touching
PENS = (0.06, 0.22)  # pen widths as a share of the digit height: the bench's pens to the app's brush on small digits
SKETCH = (320, 160)  # the canvas each drawing is written on (the bench's numbers, scaled down)
VAL_SHARE = 0.1  # of the drawings made, this share is kept to measure the judge
BATCH = 128
MAX_SHIFT = (1, 2)  # training views move by up to this many pixels (rows, columns)


def _digit(rng: np.random.Generator, mnist: np.ndarray) -> list[Stroke]:
    """A training digit traced with a pen, or a template digit by a new writer (half each)."""
    if rng.random() < 0.5:
        return from_left(skeleton_strokes(mnist[int(rng.integers(len(mnist)))]))
    return writer_glyph(int(rng.integers(10)), rng)


def _letter(rng: np.random.Generator, fonts: tuple[str, ...]) -> list[Stroke]:
    """A template letter by a new writer, or a letter in a training font (half each)."""
    if fonts and rng.random() < 0.5:
        char = negatives.FONT_LETTERS[int(rng.integers(len(negatives.FONT_LETTERS)))]
        strokes = skeleton_strokes(negatives.font_glyph(char, fonts[int(rng.integers(len(fonts)))]))
        if strokes:
            return from_left(strokes)
    return negatives.letter_strokes(list(negatives.LETTERS)[int(rng.integers(len(negatives.LETTERS)))], rng)


def drawing(answer: int, rng: np.random.Generator, mnist: np.ndarray, fonts: tuple[str, ...]) -> np.ndarray:
    """An RGBA sketch of one digit, two digits written into each other, or a letter."""
    if answer == TWO:
        glyphs, gaps = [_digit(rng, mnist), _digit(rng, mnist)], TOUCHING_GAPS
    else:
        glyphs, gaps = [_digit(rng, mnist) if answer == ONE else _letter(rng, fonts)], (0.0, 0.0)
    return write_number(glyphs, rng, SKETCH, gaps, pens=PENS)[0]


def judge_set(n: int, seed: int, mnist: Split) -> Split:
    """n views with their answers; `mnist` must be training digits."""
    rng = np.random.default_rng(seed)
    images, fonts = mnist.images[:, 0].numpy(), negatives.font_split()[0]
    views, answers = [], []
    while len(views) < n:
        answer = int(rng.choice(len(ANSWERS), p=MIX))
        ink = ink_map(drawing(answer, rng, images, fonts))
        if not isinstance(ink, NoInk):
            views.append(view(ink))
            answers.append(answer)
    return Split(torch.from_numpy(np.stack(views))[:, None], torch.tensor(answers))


def _shifted(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    dy, dx = (int(torch.randint(-m, m + 1, (1,), generator=rng)) for m in MAX_SHIFT)
    return torch.roll(x, (dy, dx), (2, 3))


def answers_right(model: nn.Module, split: Split) -> list[float]:
    """The share of each answer's views the judge gets right."""
    model.eval()
    with torch.no_grad():
        said = model(split.images).argmax(1)
    return [float((said[split.labels == k] == k).float().mean()) for k in range(len(ANSWERS))]


def fit(mnist: Split, count: int, epochs: int, seed: int = 0, lr: float = 3e-3,
        on_epoch: Callable[[int, float, list[float]], None] | None = None) -> tuple[JudgeNet, dict[str, Any]]:
    """Make `count` drawings, keep VAL_SHARE of them to measure, and train the judge with
    Adam and a one-cycle schedule. The digit models' engine (`engine.train`) is built around
    MNIST's ten classes, recipes and visitors; this three-answer model needs none of that.
    Returns the judge and its card."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    made = judge_set(count, seed, mnist)
    n_val = int(VAL_SHARE * count)
    val, train = Split(made.images[:n_val], made.labels[:n_val]), Split(made.images[n_val:], made.labels[n_val:])
    model, shifts = JudgeNet(), torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr / 3)
    steps = epochs * -(-len(train) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train))
        for i in range(0, len(train), BATCH):
            batch = order[i:i + BATCH]
            loss = nn.functional.cross_entropy(model(_shifted(train.images[batch], shifts)), train.labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        right = answers_right(model, val)
        if on_epoch:
            on_epoch(epoch, float(loss.detach()), right)
    card = {"model": NAME, "answers": list(ANSWERS), "drawings": count, "validation_drawings": n_val,
            "mix": dict(zip(ANSWERS, MIX)), "touching_gaps": list(TOUCHING_GAPS), "pens": list(PENS), "epochs": epochs,
            "seed": seed, "lr": lr, "batch": BATCH, "val_right": dict(zip(ANSWERS, (round(r, 4) for r in right))),
            "digits_from": "MNIST training split (traced with a pen) and stroke templates",
            "letters_from": "letter templates and the training fonts (every fourth font held out)",
            "seconds": round(time.perf_counter() - start, 1),
            "command": f"python -m digits train-judge --count {count} --epochs {epochs} --seed {seed}"}
    return model.eval(), card


def save(model: JudgeNet, card: dict[str, Any], directory: os.PathLike | str | None = None) -> None:
    save_weights(model, NAME, card, directory)
