"""The judge: is a group of ink one digit, two digits written into each other, or no digit?

The digit models read one digit at a time, and they were taught to refuse two digits side by
side as they refuse a letter, so their doubt cannot tell a "21" written into each other from
an "N". The reader's rules then have to choose between cutting letters into digits and
leaving touching digits whole. The judge sees the whole group at its own width and says
which of the three it is, so the reader (`reading.third_look`) cuts a doubted group only
where the judge is sure it holds two digits.

The pair reader is the judge's second opinion on such a group: which digit is on the left and
which on the right, seen whole. A cut through two digits that run deep into each other
carries a piece of one into the other (a 6 that loses its left stroke reads as a 5, an 8 as
a 3), and such a wrong cut can read surer than the right one; the reader
(`Reader.best_cut`) prefers the cut whose halves the model reads as the pair reader does.
The pair reader never names a digit itself: each model still reads each piece.

This module is what reading needs: the two networks, their view of a group and their
weights. Their training lives in `digits.training.judge_training`.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from PIL import Image
from torch import nn

from digits.weights import WeightsError, check_compatible, read_tensors, weights_path

NAME = "judge"  # weights/judge.safetensors, beside the digit models' (not a registered model)
PAIR_NAME = "pair"  # weights/pair.safetensors: the pair reader
VIEW = (28, 56)  # a group is seen at this height and up to this width, keeping its aspect
ONE, TWO, OTHER = 0, 1, 2  # the judge's three answers
ANSWERS = ("one digit", "two digits", "not digits")
INK_LEVEL = 0.1  # ink above this belongs to the group's box


SIDES = 2  # the pair reader's answers: the left digit, then the right one
PAIR_HIDDEN = 128  # the pair reader names two digits of ten, not one answer of three: a wider layer


class JudgeNet(nn.Module):
    """Three 3x3 convolutions and two linear layers over the 28x56 view."""

    def __init__(self, outputs: int = len(ANSWERS), hidden: int = 64) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(64 * (VIEW[0] // 4) * (VIEW[1] // 4), hidden),
                                  nn.ReLU(), nn.Linear(hidden, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def view(ink: np.ndarray) -> np.ndarray:
    """A group's ink ([0, 1], any size) cropped to its box and scaled, aspect kept, to fit
    the 28x56 view, centred. All zeros when there is no ink."""
    out = np.zeros(VIEW, np.float32)
    ys, xs = np.nonzero(ink > INK_LEVEL)
    if len(ys) == 0:
        return out
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = min(VIEW[0] / crop.shape[0], VIEW[1] / crop.shape[1])
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = Image.fromarray((np.clip(crop, 0, 1) * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR)
    top, left = (VIEW[0] - h) // 2, (VIEW[1] - w) // 2
    out[top:top + h, left:left + w] = np.asarray(small, dtype=np.float32) / 255
    return out


def pair_net() -> JudgeNet:
    """The pair reader: the judge's network with ten answers for each side."""
    return JudgeNet(SIDES * 10, PAIR_HIDDEN)


def load(directory: os.PathLike | str | None = None, name: str = NAME) -> JudgeNet:
    """The judge (or, with `name=PAIR_NAME`, the pair reader) from its safetensors file
    (WeightsError when missing or damaged)."""
    path = weights_path(name, directory)
    tensors = read_tensors(path)
    model = pair_net() if name == PAIR_NAME else JudgeNet()
    check_compatible(model, tensors, path)
    model.load_state_dict(tensors)
    return model.eval()


def shipped(name: str = NAME) -> JudgeNet | None:
    """The judge (or the pair reader) in the weights folder, loaded once per process and
    folder; None without one (the reader then reads as it did before it)."""
    return _loaded(str(weights_path(name)), name)


@functools.cache
def _loaded(path: str, name: str) -> JudgeNet | None:
    try:
        return load(os.path.dirname(path), name)
    except WeightsError:
        return None


def answers(judge: JudgeNet, inks: list[np.ndarray]) -> np.ndarray:
    """How sure the judge is of each answer (columns ONE, TWO, OTHER) for each group's ink."""
    with torch.no_grad():
        return torch.softmax(judge(_views(inks)), dim=1).numpy()


def _views(inks: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack([view(ink) for ink in inks]))[:, None]


def pair_digits(pair: JudgeNet, inks: list[np.ndarray]) -> np.ndarray:
    """How sure the pair reader is of each digit on each side: (groups, SIDES, 10)."""
    with torch.no_grad():
        return torch.softmax(pair(_views(inks)).view(len(inks), SIDES, 10), dim=2).numpy()
