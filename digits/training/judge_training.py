"""Training the reader's judge and pair reader (`digits.recognition.judge`): drawings, one loop.

It is trained here, in minutes, on drawings made the way the bench writes numbers: MNIST
*training* digits traced with a pen and stroke-template digits, alone or two written into
each other; letters from the templates and the training fonts (never the held-out ones).
The pair reader learns the two digits of the judge's "two digits" drawings.
`python -m digits train-judge` (`--pairs`: the pair reader) runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from digits.recognition.judge import ANSWERS, NAME, ONE, PAIR_NAME, SIDES, TWO, JudgeNet, pair_net, view
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


def _labelled_digit(rng: np.random.Generator, mnist: np.ndarray, labels: np.ndarray | None = None,
                    ) -> tuple[list[Stroke], int]:
    """A training digit traced with a pen, or a template digit by a new writer (half each),
    and which digit it is (-1 for an MNIST digit without `labels`)."""
    if rng.random() < 0.5:
        k = int(rng.integers(len(mnist)))
        return from_left(skeleton_strokes(mnist[k])), -1 if labels is None else int(labels[k])
    digit = int(rng.integers(10))
    return writer_glyph(digit, rng), digit


def _digit(rng: np.random.Generator, mnist: np.ndarray) -> list[Stroke]:
    return _labelled_digit(rng, mnist)[0]


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


def pair_drawing(rng: np.random.Generator, mnist: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """An RGBA sketch of two digits written into each other (as the judge's), and the two."""
    (left, a), (right, b) = _labelled_digit(rng, mnist, labels), _labelled_digit(rng, mnist, labels)
    return write_number([left, right], rng, SKETCH, TOUCHING_GAPS, pens=PENS)[0], [a, b]


def pair_set(n: int, seed: int, mnist: Split) -> Split:
    """n views of two digits with their digits ((n, SIDES) labels); `mnist`: training digits."""
    rng = np.random.default_rng(seed)
    images, labels = mnist.images[:, 0].numpy(), mnist.labels.numpy()
    views, pairs = [], []
    while len(views) < n:
        image, pair = pair_drawing(rng, images, labels)
        ink = ink_map(image)
        if not isinstance(ink, NoInk):
            views.append(view(ink))
            pairs.append(pair)
    return Split(torch.from_numpy(np.stack(views))[:, None], torch.tensor(pairs))


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


def _train(model: JudgeNet, made: Split, loss_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
           epochs: int, seed: int, lr: float, measure: Callable[[nn.Module, Split], list[float]],
           on_epoch: Callable[[int, float, list[float]], None] | None) -> list[float]:
    """Keep VAL_SHARE of the drawings to measure, train on the rest with Adam and a one-cycle
    schedule, and return the last measure. The digit models' engine (`engine.train`) is built
    around MNIST's ten classes, recipes and visitors; these small networks need none of that."""
    n_val = int(VAL_SHARE * len(made))
    val, train = Split(made.images[:n_val], made.labels[:n_val]), Split(made.images[n_val:], made.labels[n_val:])
    shifts = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr / 3)
    steps = epochs * -(-len(train) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train))
        for i in range(0, len(train), BATCH):
            batch = order[i:i + BATCH]
            loss = loss_of(model(_shifted(train.images[batch], shifts)), train.labels[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        right = measure(model, val)
        if on_epoch:
            on_epoch(epoch, float(loss.detach()), right)
    return right


def _card(name: str, count: int, epochs: int, seed: int, lr: float, start: float, command: str) -> dict[str, Any]:
    return {"model": name, "drawings": count, "validation_drawings": int(VAL_SHARE * count),
            "touching_gaps": list(TOUCHING_GAPS), "pens": list(PENS), "epochs": epochs, "seed": seed, "lr": lr,
            "batch": BATCH, "digits_from": "MNIST training split (traced with a pen) and stroke templates",
            "seconds": round(time.perf_counter() - start, 1),
            "command": f"python -m digits {command} --count {count} --epochs {epochs} --seed {seed}"}


def fit(mnist: Split, count: int, epochs: int, seed: int = 0, lr: float = 3e-3,
        on_epoch: Callable[[int, float, list[float]], None] | None = None) -> tuple[JudgeNet, dict[str, Any]]:
    """Make `count` drawings and train the judge on them. Returns the judge and its card."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    made, model = judge_set(count, seed, mnist), JudgeNet()
    right = _train(model, made, nn.functional.cross_entropy, epochs, seed, lr, answers_right, on_epoch)
    card = _card(NAME, count, epochs, seed, lr, start, "train-judge")
    card |= {"answers": list(ANSWERS), "mix": dict(zip(ANSWERS, MIX)),
             "val_right": dict(zip(ANSWERS, (round(r, 4) for r in right))),
             "letters_from": "letter templates and the training fonts (every fourth font held out)"}
    return model.eval(), card


def _pair_loss(logits: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.view(len(pairs), SIDES, 10).transpose(1, 2), pairs)


def pairs_right(model: nn.Module, split: Split) -> list[float]:
    """The share of views whose left digit, right digit, and both, the pair reader names."""
    model.eval()
    with torch.no_grad():
        said = model(split.images).view(len(split), SIDES, 10).argmax(2)
    right = said == split.labels
    return [float(right[:, 0].float().mean()), float(right[:, 1].float().mean()), float(right.all(1).float().mean())]


PAIR_MEASURES = ("left digit", "right digit", "both")


def fit_pairs(mnist: Split, count: int, epochs: int, seed: int = 0, lr: float = 3e-3,
              on_epoch: Callable[[int, float, list[float]], None] | None = None) -> tuple[JudgeNet, dict[str, Any]]:
    """Make `count` drawings of two digits written into each other and train the pair reader
    on them. Returns it and its card."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    made, model = pair_set(count, seed, mnist), pair_net()
    right = _train(model, made, _pair_loss, epochs, seed, lr, pairs_right, on_epoch)
    card = _card(PAIR_NAME, count, epochs, seed, lr, start, "train-judge --pairs")
    card |= {"answers": ["left digit", "right digit"],
             "val_right": dict(zip(PAIR_MEASURES, (round(r, 4) for r in right)))}
    return model.eval(), card


def save(model: JudgeNet, card: dict[str, Any], directory: os.PathLike | str | None = None) -> None:
    """The judge or the pair reader (its card names which) into the weights folder."""
    save_weights(model, card["model"], card, directory)
