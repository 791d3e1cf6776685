"""Stray marks: a tap beside the drawing on the pad, a speck of dust on a photo of paper.

The digit is read from the box of all its ink, so one small mark apart from it stretches the
box: the digit shrinks into a corner of the 28x28 and is refused or misread. A mark is stray
when it is small beside the rest of the drawing and lies outside the rest's box, apart from
it; strays are dropped one at a time (the furthest apart first) until none is left. The rule
sees only boxes, so the pad's strokes (`strokes.py`), an image's pieces of ink
(`preprocess.py`) and the browser's twin (`digits/web/static/strokes.js`) share it.
"""

from __future__ import annotations

import numpy as np

STRAY_SIZE = 0.3  # a mark whose longer side is under this share of the rest's longer side ...
STRAY_GAP = 0.05  # ... and that lies at least this share of it outside the rest's box is stray

Box = tuple[float, float, float, float]  # x0, y0, x1, y1; the ends exclusive for pixels


def union(boxes: np.ndarray) -> np.ndarray:
    """The box around boxes given as rows of (x0, y0, x1, y1)."""
    return np.concatenate([boxes[:, :2].min(axis=0), boxes[:, 2:].max(axis=0)])


def longer_side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1]))


def gap(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two boxes lie, along the axis that parts them most (0 when they overlap)."""
    return float(max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3], 0.0))


def apart(boxes: np.ndarray, k: int, alive: np.ndarray) -> float:
    """Mark k's gap from the other live marks' box as a share of that box's longer side, or 0
    where it is not stray (not small beside them, or not apart)."""
    rest = union(boxes[alive & (np.arange(len(boxes)) != k)])
    reach = longer_side(rest)
    share = gap(boxes[k], rest) / reach if reach > 0 else 0.0
    small = longer_side(boxes[k]) < STRAY_SIZE * reach
    return share if small and share >= STRAY_GAP else 0.0


def stray_marks(boxes: list[Box] | np.ndarray) -> list[int]:
    """The stray marks among the marks' boxes, in the order they are dropped."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    alive, dropped = np.ones(len(b), bool), []
    while alive.sum() > 1:
        whole = union(b[alive])
        # A stray mark lies outside the others' box, so it holds one of the whole box's edges.
        edge = (b[:, 0] == whole[0]) | (b[:, 1] == whole[1]) | (b[:, 2] == whole[2]) | (b[:, 3] == whole[3])
        shares = {int(k): apart(b, int(k), alive) for k in np.flatnonzero(alive & edge)}
        k = max(shares, key=lambda i: (shares[i], -i), default=None)
        if k is None or shares[k] <= 0:
            break
        alive[k] = False
        dropped.append(k)
    return dropped
