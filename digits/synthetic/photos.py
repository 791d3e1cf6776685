"""Drawings as photographs of paper, what a visitor uploads from a phone: the writer's strokes
with a pen of their own, on paper of some grey, lit unevenly (a shadow across the page, a
camera's darker corners), slightly blurred and grainy. Scans of MNIST digits keep MNIST's own
strokes on evenly lit paper; photos are where uploads of real handwriting differ."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image, ImageFilter

from digits.recognition.strokes import Strokes, render_pad

PHOTO_SCALE = 3  # the pad's drawing photographed at about 1,000 px
PEN_PX = (4.0, 16.0)  # a fine pen to a marker, in the photo's pixels
BLUR_PX = (0.5, 1.5)  # the camera's focus
PAPER = (0.75, 0.95)  # the paper's grey where the light is full
INK = (0.05, 0.35)
GRAIN = 0.03  # the sensor's noise, as a standard deviation
SHADOW = (0.0, 0.5)  # the light falls off by up to this share across the page ...
VIGNETTE = (0.0, 0.4)  # ... and by up to this share in the corners


def uneven_light(page: np.ndarray, shadow: float, vignette: float, angle: float) -> np.ndarray:
    """`page` (grey, [0, 1]) under light that falls off by `shadow` across it (towards
    `angle`, radians) and by `vignette` in its corners."""
    h, w = page.shape
    y, x = np.mgrid[0:h, 0:w]
    ramp = np.cos(angle) * x + np.sin(angle) * y
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    corner = ((2 * y / h - 1) ** 2 + (2 * x / w - 1) ** 2) / 2  # 0 in the middle, 1 in the corners
    return (page * (1 - shadow * ramp) * (1 - vignette * corner)).astype(np.float32)


def photographed(s: Strokes, rng: np.random.Generator, pen: float | None = None) -> np.ndarray:
    """The strokes as a grey uint8 photo of paper (see the module's docstring), with a pen
    of `pen` pixels or one drawn from PEN_PX."""
    pen = float(rng.uniform(*PEN_PX)) if pen is None else pen
    big = replace(s, strokes=tuple(p * PHOTO_SCALE for p in s.strokes), width=s.width * PHOTO_SCALE,
                  height=s.height * PHOTO_SCALE, pen=pen)
    ink = Image.fromarray((255 * render_pad(big, supersample=1)).astype(np.uint8))
    ink = np.asarray(ink.filter(ImageFilter.GaussianBlur(rng.uniform(*BLUR_PX))), np.float32) / 255
    paper, level = rng.uniform(*PAPER), rng.uniform(*INK)
    page = uneven_light(paper - (paper - level) * ink, rng.uniform(*SHADOW), rng.uniform(*VIGNETTE),
                        rng.uniform(0, 2 * np.pi))
    page += rng.normal(0, GRAIN, page.shape).astype(np.float32)
    return (255 * np.clip(page, 0, 1)).astype(np.uint8)


SPECK_RADIUS_PX = (2.0, 6.0)  # dust on the paper or the scanner's glass ...
SPECK_GREY = 40  # ... as dark as a pen's ink (of 255)
TIGHT_INK = 0.05  # a scan cut to the digit's box: pixels above this share of full ink


def specked(photo: np.ndarray, rng: np.random.Generator, count: int = 3, top_share: float = 1.0) -> np.ndarray:
    """The photo with `count` dark dots of dust, anywhere in its top `top_share` of rows."""
    out, (h, w) = photo.copy(), photo.shape
    yy, xx = np.ogrid[:h, :w]
    for _ in range(count):
        y, x, r = rng.integers(0, int(h * top_share)), rng.integers(0, w), rng.uniform(*SPECK_RADIUS_PX)
        out[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = SPECK_GREY
    return out


def cropped_tight(ink: np.ndarray, size: int) -> np.ndarray:
    """A digit's ink ([0, 1]) cut to its box and scaled to fill a `size` square, aspect kept,
    dark on white: a scan cropped to the digit (USPS's are 16x16), its ink on the border."""
    ys, xs = np.nonzero(ink > TIGHT_INK)
    box = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = size / max(box.shape)
    h, w = max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale))
    small = Image.fromarray((255 * box).astype(np.uint8)).resize((w, h), Image.Resampling.LANCZOS)
    out = np.zeros((size, size), np.uint8)
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = np.asarray(small)
    return 255 - out


LINE_SPACING = (0.12, 0.3)  # a notebook's ruled lines, this share of the photo's height apart ...
LINE_PX = (2.0, 5.0)  # ... this thick ...
LINE_DARKNESS = (0.15, 0.45)  # ... taking this share of the paper's light (a pen takes 60-95%) ...
LINE_TILT_DEG = 6.0  # ... level within this (the phone not square to the page) ...
LINE_BOW = 0.01  # ... and bowed by up to this share of the height (the page not flat)
MARGIN_TILT_DEG = 4.0  # a margin line, upright within this, anywhere across the page


def _line_cover(distance: np.ndarray, thickness: float) -> np.ndarray:
    """How much of each pixel a line of `thickness` covers, from the pixel's distance to its middle."""
    return np.clip(thickness / 2 + 0.5 - distance, 0, 1)


def _rulings(shape: tuple[int, int], rng: np.random.Generator, margin: bool) -> tuple[np.ndarray, np.ndarray]:
    """How much of each pixel a notebook's ruled lines cover (see LINE_*), and its margin line
    (zero without `margin`)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    spacing, thickness = rng.uniform(*LINE_SPACING) * h, rng.uniform(*LINE_PX)
    level = (y - x * math.tan(math.radians(rng.uniform(-LINE_TILT_DEG, LINE_TILT_DEG)))
             - rng.uniform(-LINE_BOW, LINE_BOW) * h * (2 * x / w - 1) ** 2 - rng.uniform(0, spacing))
    lines = _line_cover(np.abs((level + spacing / 2) % spacing - spacing / 2), thickness)
    if not margin:
        return lines, np.zeros_like(lines)
    upright = math.tan(math.radians(rng.uniform(-MARGIN_TILT_DEG, MARGIN_TILT_DEG)))
    across = np.abs(x - rng.uniform(0.05, 0.95) * w - (y - h / 2) * upright)
    return lines, _line_cover(across, thickness)


def ruled(photo: np.ndarray, rng: np.random.Generator, margin: bool = False,
          darkness: tuple[float, float] = LINE_DARKNESS) -> np.ndarray:
    """The photo taken of ruled notebook paper: level lines printed under the ink across the
    whole page (see LINE_*), and with `margin` a margin line down it, all grey."""
    lines, margin_line = _rulings(photo.shape, rng, margin)
    cover = np.maximum(lines, margin_line)
    return np.clip(photo * (1 - rng.uniform(*darkness) * cover), 0, 255).astype(np.uint8)


LIGHT_BLUE = (150, 190, 235)  # a school notebook's printed lines ...
MARGIN_RED = (235, 90, 100)  # ... and its margin (of 255 on white)


def ruled_in_colour(photo: np.ndarray, rng: np.random.Generator, lines_rgb: tuple[int, int, int] = LIGHT_BLUE,
                    margin_rgb: tuple[int, int, int] | None = MARGIN_RED) -> np.ndarray:
    """The grey photo as an RGB photo of a notebook's page: coloured lines (and a margin line
    unless `margin_rgb` is None) filter the paper's light by their colour where they cover."""
    lines, margin_line = _rulings(photo.shape, rng, margin_rgb is not None)
    out = np.repeat(photo[..., None].astype(np.float32), 3, axis=2)
    for c in range(3):
        out[..., c] *= 1 - lines * (1 - lines_rgb[c] / 255)
        if margin_rgb is not None:
            out[..., c] *= 1 - margin_line * (1 - margin_rgb[c] / 255)
    return np.clip(out, 0, 255).astype(np.uint8)
