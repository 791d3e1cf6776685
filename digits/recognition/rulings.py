"""Ruled lines and a notebook's margin line, taken out of a photo's ink.

A digit photographed in a notebook sits on printed lines that run across the page. They
are ink to `preprocess` (30% darker than the paper, as clear as a pencil), so the digit's
box spans the page and the digit shrinks to a dot. A printed line differs from a digit's
strokes in four ways used here, none enough alone: it runs from one side of the image to
the other, near level (a margin: near upright), it is thin, with paper on both sides, and
it is fainter than the pen. Lines are voted for on a small copy (a Hough transform, tilted
up to RULE_TILT_DEG: a phone seldom meets the page square); each is followed across the
full image, column by column, as a smooth curve (a page bows); and it is a ruling where a
thin ridge lies on that curve in RULE_COVER of the columns, out to both sides, at under
RULE_FAINT of the pen's ink. Its pixels are cleared up to halfway from its ink to the pen's:
a pen stroke crossing it keeps its ink. A 7's bar cut tight to the image is on its edge and
as dark as the pen: it stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.transform import hough_line, hough_line_peaks

RULE_MIN_PX = 96  # images narrower than this (a 28x28, a scan of one digit) are never ruled
RULE_FIND_PX = 256  # lines are voted for on a copy this size (its longer side) ...
RULE_FIND_INK = 0.02  # ... among its pixels with more ink than this
RULE_TILT_DEG = 8.0  # a ruling lies within this of level (a margin: of upright)
RULE_TILT_STEPS = 33
RULE_SPAN = 0.3  # a line runs at least this share of the image's width (a tilted one may leave it)
RULE_PEAK_GAP = 4  # lines closer than this (the small copy's pixels) are one line
RULE_STEPS = 48  # a line is followed at this many columns across the image ...
RULE_WINDOW = 0.02  # ... looking this share of the image's height (at least RULE_WINDOW_PX) either side
RULE_WINDOW_PX = 6
RULE_COLUMNS = 5  # ... in a strip of this many columns, averaged against the grain
RULE_SEEN = 0.05  # a column where the line's ink is under this has lost the line
RULE_COVER = 0.6  # a ruling runs on a smooth curve through at least this share of the columns ...
RULE_ENDS = 0.1  # ... among them some of this share at either end: it crosses the image ...
RULE_LONG = 0.85  # ... unless it fades at an end (a dark corner) after this share of the columns
RULE_FAINT = 0.8  # ... and its ink (the median along it) is under this share of the pen's ...
PEN_CORE = 0.5  # ... which is the upper quartile of the ink above this share of the strongest
PEN_QUANTILE = 0.75
RULE_BEND = 2  # the curve through the line is quadratic (px off it at most) ...
RULE_REFITS = 3  # ... refitted without the columns further off than this many times their median
RULE_TRIM = 3
RULE_CLEAR = 0.5  # pixels of the line are cleared up to this share of the way from its ink to the pen's ...
RULE_BLUR_PX = 2  # ... within its half-width and this much more either side, judged by the
RULE_GRAIN_PX = 3  # ... mean ink of this many pixels square (a pixel of grain on the line is no pen)


@dataclass(frozen=True)
class Ruling:
    """A printed line across the image: rows `curve(x)` (a quadratic in the column), its ink
    (the median, and at `columns` as `inks`: the light across a photo varies) and half-width
    in pixels. Vertical lines are found in the transposed image."""

    curve: np.ndarray
    ink: float
    half_width: float
    columns: np.ndarray
    inks: np.ndarray


def candidates(ink: np.ndarray) -> list[tuple[float, float]]:
    """Near-level straight lines long enough to cross the image, as (angle, distance) in the
    full image's pixels (skimage's normal form: x cos a + y sin a = d)."""
    h, w = ink.shape
    scale = RULE_FIND_PX / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = np.asarray(Image.fromarray(np.ascontiguousarray(ink, np.float32), mode="F")
                           .resize(size, Image.Resampling.BOX))
    else:
        small, scale = ink, 1.0
    tilt = np.deg2rad(RULE_TILT_DEG)
    angles = np.pi / 2 + np.linspace(-tilt, tilt, RULE_TILT_STEPS)
    votes, thetas, dists = hough_line(small > RULE_FIND_INK, theta=angles)
    _, found_a, found_d = hough_line_peaks(votes, thetas, dists, min_distance=RULE_PEAK_GAP,
                                           threshold=RULE_SPAN * small.shape[1])
    return [(float(a), float(d) / scale) for a, d in zip(found_a, found_d)]


def _ridge(ink: np.ndarray, x: int, guess: int, reach: int, search: int) -> tuple[float, float, int] | None:
    """Where a thin line crosses column x within `search` rows of `guess`: its row (the middle
    of the run of rows with at least half its ink), its ink and its width (px), from a strip
    of columns averaged; None where no line is seen, or where the ink runs to the end of the
    window of `reach` rows either side (a pen's stroke, or a stroke on the image's edge)."""
    h = ink.shape[0]
    top, bottom = max(0, guess - reach), min(h, guess + reach + 1)
    lo, hi = max(0, guess - search - top), min(bottom - top, guess + search + 1 - top)
    if bottom - top < 3 or lo >= hi:
        return None
    profile = ink[top:bottom, x - RULE_COLUMNS // 2:x + RULE_COLUMNS // 2 + 1].mean(axis=1)
    peak = lo + int(np.argmax(profile[lo:hi]))
    if profile[peak] < RULE_SEEN:
        return None
    half = profile >= profile[peak] / 2
    first = peak - int(np.argmin(half[peak::-1])) + 1 if not half[:peak + 1].all() else 0
    last = peak + int(np.argmin(half[peak:])) - 1 if not half[peak:].all() else len(profile) - 1
    if first == 0 or last == len(profile) - 1:
        return None  # no paper on one side: a wide stroke, or a bar cut by the image's edge
    return top + (first + last) / 2, float(profile[peak]), last - first + 1


def _columns(ink: np.ndarray, angle: float, dist: float) -> tuple[np.ndarray, np.ndarray]:
    """The columns a line is followed at, where the line near (angle, dist) lies inside the
    image (a tilted line may leave it at the top or bottom), and its row at each."""
    h, w = ink.shape
    xs = np.linspace(RULE_COLUMNS, w - 1 - RULE_COLUMNS, RULE_STEPS).astype(int)
    rows = np.round((dist - xs * np.cos(angle)) / np.sin(angle)).astype(int)
    inside = (rows >= 0) & (rows < h)
    return xs[inside], rows[inside]


def _trace(ink: np.ndarray, xs: np.ndarray, rows: np.ndarray, search: int) -> np.ndarray:
    """The thin ridge found at each column within `search` of its row: row, ink, width (NaN:
    lost)."""
    reach = max(RULE_WINDOW_PX, int(RULE_WINDOW * ink.shape[0]))
    ridges = [_ridge(ink, int(x), int(y), reach, min(search, reach)) for x, y in zip(xs, rows)]
    return np.array([r if r is not None else (np.nan,) * 3 for r in ridges], float).reshape(-1, 3)


def _smooth(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A quadratic through the ridge's rows, refitted without the columns where a pen crossing
    the line pulled the ridge away."""
    near = np.ones(len(xs), bool)
    for _ in range(RULE_REFITS):
        curve = np.polyfit(xs[near], ys[near], 2)
        off = np.abs(np.polyval(curve, xs) - ys)
        near = off <= max(RULE_BEND, RULE_TRIM * float(np.median(off[near])))
    return curve


def _reaches(on: np.ndarray, rows: np.ndarray, height: int) -> bool:
    """Whether the line runs to the image's side: it is seen in one of the first RULE_ENDS of
    the columns, or there it leaves the image by its top or bottom (a tilted line)."""
    ends = max(1, round(RULE_ENDS * len(on)))
    return bool(on[:ends].any()) or min(rows[0], height - 1 - rows[0]) <= RULE_WINDOW_PX


def follow(ink: np.ndarray, angle: float, dist: float) -> Ruling | None:
    """The line near (angle, dist) followed across the image: found near the straight line,
    then again close to the smooth curve through it (a pen running beside the line drew the
    first look away); None where it does not run on that curve from side to side."""
    xs, rows = _columns(ink, angle, dist)
    if len(xs) < RULE_SPAN * RULE_STEPS:
        return None
    ridges = _trace(ink, xs, rows, ink.shape[0])
    seen = ~np.isnan(ridges[:, 0])
    if seen.sum() < max(3, RULE_COVER * len(xs)):
        return None
    curve = _smooth(xs[seen], ridges[seen, 0])
    close = np.polyval(curve, xs)
    ridges = _trace(ink, xs, np.round(close).astype(int), RULE_BEND + 1)
    on = np.abs(ridges[:, 0] - close) <= RULE_BEND  # NaN (lost) is not on it
    both_sides = _reaches(on, close, ink.shape[0]) and _reaches(on[::-1], close[::-1], ink.shape[0])
    if on.sum() < RULE_COVER * len(xs) or not (both_sides or on.sum() >= RULE_LONG * len(xs)):
        return None
    return Ruling(curve, float(np.median(ridges[on, 1])), float(np.median(ridges[on, 2])) / 2, xs[on], ridges[on, 1])


def clear(ink: np.ndarray, ruling: Ruling, pen: float) -> None:
    """Clear, in place, the ruling's pixels fainter than the pen (a pen crossing it keeps its
    ink; the grain on the line goes with it)."""
    h, w = ink.shape
    rows = np.polyval(ruling.curve, np.arange(w))
    reach = ruling.half_width + RULE_BLUR_PX
    top, bottom = max(0, int(rows.min() - reach)), min(h, int(np.ceil(rows.max() + reach)) + 1)
    if top >= bottom:
        return
    band = ink[top:bottom]
    on_line = np.abs(np.arange(top, bottom)[:, None] - rows[None, :]) <= reach
    line_ink = np.interp(np.arange(w), ruling.columns, ruling.inks)
    local = ndimage.uniform_filter(band, RULE_GRAIN_PX)  # the grain on the line is no pen
    band[on_line & (local <= line_ink + RULE_CLEAR * np.maximum(pen - line_ink, 0))] = 0


def pen_level(ink: np.ndarray) -> float:
    """The pen's ink along its strokes' middle: the upper quartile of the clear ink (at least
    PEN_CORE of the strongest; the strongest itself is where strokes cross)."""
    return float(np.quantile(ink[ink >= PEN_CORE * float(ink.max(initial=0.0))], PEN_QUANTILE))


def level_rulings(ink: np.ndarray) -> tuple[list[Ruling], float]:
    """The printed lines running across the image near level, fainter than the pen (a line
    as dark as the pen is a digit's stroke: a 2's base running off the photo), and the pen's
    ink."""
    lines = [r for r in (follow(ink, a, d) for a, d in candidates(ink)) if r is not None]
    pen = pen_level(ink) if lines else 0.0
    return [r for r in lines if r.ink < RULE_FAINT * pen], pen


def remeasured(ink: np.ndarray, ruling: Ruling) -> Ruling | None:
    """The ruling's ink read again in another map of the same image (None where it is not
    seen there)."""
    rows = np.round(np.polyval(ruling.curve, ruling.columns)).astype(int)
    ridges = _trace(ink, ruling.columns, rows, RULE_BEND + 1)
    seen = ~np.isnan(ridges[:, 1])
    if not seen.any():
        return None
    return replace(ruling, ink=float(np.median(ridges[seen, 1])), columns=ruling.columns[seen], inks=ridges[seen, 1])


def without_rulings(ink: np.ndarray, grey: Callable[[], np.ndarray | None] | None = None) -> np.ndarray:
    """The ink map less ruled lines and margin lines (the module's docstring); the very map
    where there are none. `grey`, where given, makes the map the lines are found in: a colour
    photo's grey, where a red margin is fainter than the pen, as it is not in the strongest
    of its channels; they are cleared from `ink`, judged by their ink there."""
    if min(ink.shape) < RULE_MIN_PX:
        return ink
    lines_in = grey() if grey is not None else None
    out = ink
    for turned in (False, True):  # level lines, then a margin: upright, found in the transposed map
        source = out if lines_in is None else lines_in
        found, pen = level_rulings(source.T if turned else source)
        if found and out is ink:
            out = ink.copy()
        target = out.T if turned else out
        if lines_in is not None and found:
            found, pen = [r for r in (remeasured(target, r) for r in found) if r is not None], pen_level(target)
        for ruling in found:
            clear(target, ruling, pen)
    return out
