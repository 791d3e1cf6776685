"""The judge: is a group of ink one digit, two digits written into each other, or no digit?

The digit models read one digit at a time, and they were taught to refuse two digits side by
side as they refuse a letter, so their doubt cannot tell a "21" written into each other from
an "N". The reader's rules then have to choose between cutting letters into digits and
leaving touching digits whole. The judge sees the whole group at its own width and says
which of the three it is, so the reader (`reading.third_look`) cuts a doubted group only
where the judge is sure it holds two digits.

This module is what reading needs: the network, its view of a group and its weights.
Its training lives in `digits.training.judge_training`.
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
VIEW = (28, 56)  # a group is seen at this height and up to this width, keeping its aspect
ONE, TWO, OTHER = 0, 1, 2  # the judge's three answers
ANSWERS = ("one digit", "two digits", "not digits")
INK_LEVEL = 0.1  # ink above this belongs to the group's box


class JudgeNet(nn.Module):
    """Three 3x3 convolutions and two linear layers over the 28x56 view."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(64 * (VIEW[0] // 4) * (VIEW[1] // 4), 64),
                                  nn.ReLU(), nn.Linear(64, len(ANSWERS)))

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


def load(directory: os.PathLike | str | None = None) -> JudgeNet:
    """The judge from its safetensors file (WeightsError when missing or damaged)."""
    path = weights_path(NAME, directory)
    tensors = read_tensors(path)
    model = JudgeNet()
    check_compatible(model, tensors, path)
    model.load_state_dict(tensors)
    return model.eval()


def shipped() -> JudgeNet | None:
    """The judge in the weights folder, loaded once per process and folder; None without one
    (the reader then reads as it did before the judge)."""
    return _loaded(str(weights_path(NAME)))


@functools.cache
def _loaded(path: str) -> JudgeNet | None:
    try:
        return load(os.path.dirname(path))
    except WeightsError:
        return None


def answers(judge: JudgeNet, inks: list[np.ndarray]) -> np.ndarray:
    """How sure the judge is of each answer (columns ONE, TWO, OTHER) for each group's ink."""
    views = torch.from_numpy(np.stack([view(ink) for ink in inks]))[:, None]
    with torch.no_grad():
        return torch.softmax(judge(views), dim=1).numpy()
