"""Handwriting as strokes: the drawing pad's value, and the 28x28 the models see made from it.

A pad sends what was drawn, not pixels: a list of strokes (each a list of (x, y) points in
the pad's own units), the pad's size and its pen width. That is small, exact and the same
on every screen. `strokes_to_28` turns it into MNIST's form directly: the ink's box (the
points' box grown by the pen) is scaled to fit 20x20, the strokes are drawn once at that
scale with an anti-aliased round pen, and the centre of mass is moved to (14, 14).
`digits/web/strokes.js` is the same function for the browser; tests hold the two together.
Pure functions only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from digits.config import IMAGE_SIZE
from digits.recognition.form import (
    EMPTY_NO_INK,
    EMPTY_SMALL,
    FIELD_CENTRE,
    INK_BOX,
    MIN_DIGIT_FRACTION,
    MNIST_STROKE_HIGH,
    MNIST_STROKE_LOW,
    MNIST_STROKE_MEDIAN,
    NO_INK,
    NoInk,
    Placement,
    Preprocessed,
)
from digits.recognition.stray import stray_marks

# The pad (ui/pad.py and the static page): its size in its own units, and its pens. The page
# scales it to the screen, so a stroke is the same drawing at any screen size.
PAD_PX = 336  # one digit: a square of 336 units
NUMBER_PAD = (672, 336)  # a number: twice as wide as tall
PEN_PX = 28  # one digit's pen width (12% of the pad: like a marker on paper)
NUMBER_PEN_PX = 12  # a number's finer pen: its digits are a third to a half as tall (bench/read_speed.py)


# Limits on what a pad may send (a public API must not be made to draw forever).
MAX_STROKES = 400  # a traced glyph has a few hundred short strokes; handwriting far fewer
MAX_POINTS = 6000  # each point costs 784 distances to draw the 28x28: this bounds it to ~0.1 s
MAX_PAD_PX = 4096



class StrokesError(ValueError):
    """A stroke value that cannot be read, with a message a caller can act on."""


@dataclass(frozen=True)
class Strokes:
    """What the pad drew: strokes of (x, y) points in pad units, the pad's size, the pen width."""

    strokes: tuple[np.ndarray, ...]  # each (n, 2) float64
    width: float
    height: float
    pen: float

    @property
    def empty(self) -> bool:
        return not self.strokes

    def as_dict(self) -> dict[str, Any]:
        return {"strokes": [s.tolist() for s in self.strokes], "width": self.width, "height": self.height,
                "pen": self.pen}


def _number(value: Any, name: str, low: float, high: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise StrokesError(f"{name} must be a number, not {value!r}") from None
    if not (math.isfinite(v) and low <= v <= high):
        raise StrokesError(f"{name} must be between {low:g} and {high:g} (got {v:g})")
    return v


def parse_strokes(value: Any) -> Strokes:
    """A pad's JSON value -> Strokes, checked: finite points inside the pad, within the limits."""
    if isinstance(value, Strokes):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("strokes"), list):
        raise StrokesError('a drawing is {"strokes": [[[x, y], ...], ...], "width": W, "height": H, "pen": P}')
    width = _number(value.get("width", PAD_PX), "width", 1, MAX_PAD_PX)
    height = _number(value.get("height", PAD_PX), "height", 1, MAX_PAD_PX)
    pen = _number(value.get("pen", PEN_PX), "pen", 0.5, max(width, height))
    raw = value["strokes"]
    if len(raw) > MAX_STROKES:
        raise StrokesError(f"too many strokes ({len(raw)}; the limit is {MAX_STROKES})")
    strokes, total = [], 0
    for stroke in raw:
        try:
            pts = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise StrokesError("each stroke must be a list of [x, y] points") from None
        total += len(pts)
        if total > MAX_POINTS:
            raise StrokesError(f"too many points (the limit is {MAX_POINTS})")
        if not np.isfinite(pts).all():
            raise StrokesError("points must be finite numbers")
        if len(pts):
            strokes.append(np.clip(pts, 0, [width, height]))
    return Strokes(tuple(strokes), width, height, pen)


def _segments(strokes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every stroke as segments (a, b); a single point is a segment of length zero."""
    starts, ends = [], []
    for pts in strokes:
        if len(pts) == 1:
            starts.append(pts)
            ends.append(pts)
        else:
            starts.append(pts[:-1])
            ends.append(pts[1:])
    return np.concatenate(starts), np.concatenate(ends)


def draw_28(a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Round-pen segments (a -> b, in 28x28 pixel-index coordinates) as [0, 1] ink: each pixel
    is covered by clip(radius + 0.5 - distance to the nearest segment, 0, 1). Written out per
    coordinate (pixels x segments): the same numbers as the vector form, several times faster."""
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    px, py = xs.reshape(-1, 1).astype(np.float64), ys.reshape(-1, 1).astype(np.float64)
    ax, ay = a[None, :, 0], a[None, :, 1]
    abx, aby = b[None, :, 0] - ax, b[None, :, 1] - ay
    length2 = abx * abx + aby * aby
    t = np.where(length2 > 0, ((px - ax) * abx + (py - ay) * aby) / np.where(length2 > 0, length2, 1), 0.0)
    t = np.clip(t, 0, 1)
    dx, dy = px - (ax + t * abx), py - (ay + t * aby)
    d = np.sqrt((dx * dx + dy * dy).min(axis=1))
    return np.clip(radius + 0.5 - d, 0, 1).reshape(IMAGE_SIZE, IMAGE_SIZE)


@dataclass(frozen=True)
class StrokeFit:
    """How a drawing's strokes map into the 28x28 field: field = (point - centre) * scale + shift."""

    scale: float
    centre: tuple[float, float]  # (x, y) in pad units: the ink box's centre
    shift: tuple[float, float]  # (x, y) in the field
    radius: float  # the pen's radius in 28x28 pixels
    box: tuple[float, float, float, float]  # the ink's box on the pad: (x0, y0, x1, y1)


def fit_strokes(s: Strokes) -> StrokeFit | str:
    """The scale and pen that put the ink's box in 20x20, or why there is no digit."""
    if s.empty:
        return EMPTY_NO_INK
    pts = np.concatenate(s.strokes)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    extent = max(x1 - x0, y1 - y0)  # the points' longer side; the ink adds one pen width
    if extent + s.pen < MIN_DIGIT_FRACTION * max(s.width, s.height):
        return EMPTY_SMALL
    scale = INK_BOX / (extent + s.pen)
    width = s.pen * scale
    if not MNIST_STROKE_LOW <= width <= MNIST_STROKE_HIGH and extent > 0:
        width = MNIST_STROKE_MEDIAN  # a pen far thinner or thicker than MNIST's: draw it at MNIST's median
        scale = (INK_BOX - width) / extent
    r = s.pen / 2
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    return StrokeFit(scale, centre, (FIELD_CENTRE, FIELD_CENTRE), width / 2, (x0 - r, y0 - r, x1 + r, y1 + r))


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(x, y) in pixel indices."""
    total = image.sum()
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return float((xs * image).sum() / total), float((ys * image).sum() / total)


def ink_box(points: np.ndarray, pen: float) -> tuple[float, float, float, float]:
    """A stroke's ink: its points' box grown by half the pen on every side."""
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    r = pen / 2
    return float(x0 - r), float(y0 - r), float(x1 + r), float(y1 + r)


def without_strays(s: Strokes) -> Strokes:
    """The strokes less any stray mark (a tap beside the drawing: `stray.py`)."""
    if len(s.strokes) < 2:
        return s
    drop = set(stray_marks([ink_box(pts, s.pen) for pts in s.strokes]))
    return replace(s, strokes=tuple(p for k, p in enumerate(s.strokes) if k not in drop)) if drop else s


def strokes_to_28(s: Strokes) -> tuple[np.ndarray | None, StrokeFit | str]:
    """The MNIST-style [0, 1] 28x28 image of the strokes (None and the reason when empty),
    stray taps left out: drawn once centred on the box, then again shifted so the centre of
    mass is at (14, 14)."""
    s = without_strays(s)
    fit = fit_strokes(s)
    if isinstance(fit, str):
        return None, fit
    a, b = _segments(s.strokes)
    centre = np.asarray(fit.centre)
    a, b = (a - centre) * fit.scale, (b - centre) * fit.scale
    first = draw_28(a + FIELD_CENTRE, b + FIELD_CENTRE, fit.radius)
    cx, cy = centre_of_mass(first)
    shift = (2 * FIELD_CENTRE - cx, 2 * FIELD_CENTRE - cy)  # the box centre's place that puts the mass at 14
    image = draw_28(a + shift, b + shift, fit.radius)
    return image.astype(np.float32), StrokeFit(fit.scale, fit.centre, shift, fit.radius, fit.box)


def render_pad(s: Strokes, supersample: int = 2) -> np.ndarray:
    """The strokes as the pad shows them: [0, 1] ink at the pad's size, drawn with its pen
    (round caps and joins), for the number reader, the explanations' overlay and stored PNGs."""
    k = supersample
    w, h = max(1, round(s.width)), max(1, round(s.height))
    img = Image.new("L", (w * k, h * k), 0)
    draw = ImageDraw.Draw(img)
    r = s.pen * k / 2
    for pts in s.strokes:
        xy = [(float(x) * k, float(y) * k) for x, y in pts]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=max(1, round(2 * r)), joint="curve")
        for x, y in xy if len(xy) > 1 else xy[:1]:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    if k > 1:
        img = img.resize((w, h), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32) / 255.0


def render_some(s: Strokes, which: list[int]) -> np.ndarray:
    """The ink of some of the strokes alone, as `render_pad` draws them all (the pad's size)."""
    return render_pad(replace(s, strokes=tuple(s.strokes[i] for i in which)))


def centre_line(points: np.ndarray, step: float = 1.0) -> np.ndarray:
    """A stroke's centre line as (x, y) points about `step` pad units apart: where its ink is."""
    if len(points) < 2:
        return points
    lengths = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    at = np.linspace(0.0, along[-1], max(2, int(along[-1] / step) + 1))
    return np.stack([np.interp(at, along, points[:, 0]), np.interp(at, along, points[:, 1])], axis=1)


def preprocess_strokes(value: Any) -> Preprocessed:
    """A pad's value -> `Preprocessed`, with the placement that maps 28x28 maps back onto the
    pad (the explanations draw on it)."""
    s = parse_strokes(value)
    image, fit = strokes_to_28(s)
    if image is None:
        return Preprocessed(None, fit)
    x0, y0, x1, y1 = fit.box
    size = (max(1, round((y1 - y0) * fit.scale)), max(1, round((x1 - x0) * fit.scale)))
    offset = (round((y0 - fit.centre[1]) * fit.scale + fit.shift[1] + 0.5),
              round((x0 - fit.centre[0]) * fit.scale + fit.shift[0] + 0.5))
    bbox = (int(np.floor(y0)), int(np.ceil(y1)), int(np.floor(x0)), int(np.ceil(x1)))
    placement = Placement((max(1, round(s.height)), max(1, round(s.width))), bbox, size, offset)
    return Preprocessed(image, stroke_width=2 * fit.radius, placement=placement)


def ink_of_strokes(value: Any) -> np.ndarray | NoInk:
    """The pad's drawing as an ink map (what the number reader and the stored PNG use)."""
    s = parse_strokes(value)
    return NO_INK if s.empty else render_pad(s)
