"""MNIST's form: what a 28x28 digit looks like (its box, its centre, its strokes) and what the
pipelines that make one return. Shared by `preprocess` (images) and `strokes` (the pad)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits.config import IMAGE_SIZE

INK_BOX = 20  # MNIST digits are scaled to fit a 20x20 box ...
FIELD = IMAGE_SIZE  # ... inside a 28x28 field
# Mean centre of mass of MNIST's training digits, (row, col) = (14.00, 14.01) in pixel
# indices (bench/stroke_width.py): MNIST puts it at 14, not at the geometric 13.5.
FIELD_CENTRE = 14.0

# Stroke width of MNIST digits, in 28x28 pixels, measured with `stroke_width` on the
# training digits (bench/stroke_width.py): 2nd percentile, median, 98th percentile. Only
# strokes outside MNIST's own range are redrawn: redrawing MNIST-like digits costs accuracy.
MNIST_STROKE_LOW = 1.25
MNIST_STROKE_MEDIAN = 2.25
MNIST_STROKE_HIGH = 4.02
MIN_DIGIT_FRACTION = 0.04  # ink box under 4% of the image's longer side: a dot, not a digit

EMPTY_NO_INK = "no ink"
EMPTY_FAINT = "ink too faint"
EMPTY_SMALL = "ink too small to be a digit"


@dataclass(frozen=True)
class NoInk:
    """What `ink_map` gives for a drawing with nothing to read, and why."""

    reason: str

    def __str__(self) -> str:
        return self.reason


NO_INK, TOO_FAINT = NoInk(EMPTY_NO_INK), NoInk(EMPTY_FAINT)


@dataclass(frozen=True)
class Placement:
    """Where the 28x28 came from: the digit's box on the input, and where that box, scaled
    to `size`, sits in the 28x28 field. `to_input` maps a 28x28 map back onto the input."""

    input_shape: tuple[int, int]  # (height, width) of the input image
    bbox: tuple[int, int, int, int]  # (top, bottom, left, right) on the input, exclusive
    size: tuple[int, int]  # (h, w) of the box in the 28x28 field
    offset: tuple[int, int]  # (top, left) of the box in the field; may be slightly outside it


@dataclass(frozen=True)
class Preprocessed:
    """The 28x28 image in [0, 1] (ink = 1), or `empty` with the reason."""

    image28: np.ndarray | None
    empty_reason: str | None = None
    stroke_width: float | None = None  # measured, in 28x28 pixels, before any redraw
    redrawn: bool = False
    placement: Placement | None = None

    @property
    def empty(self) -> bool:
        return self.image28 is None
