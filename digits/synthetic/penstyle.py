"""Pen-style drawings made from pixels: a glyph (an MNIST digit, a letter typeset in a font)
traced along its skeleton and redrawn with a round brush on a sketchpad-like canvas.

Used to fit the "not a digit" threshold and the calibration on drawings that look like what
visitors send (digits/recognition/trust.py), to make font letters look pen-written (digits/synthetic/negatives.py),
and by the benches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
from PIL import Image
from skimage.morphology import skeletonize

from digits.recognition.preprocess import preprocess
from digits.synthetic.sketches import APP_BRUSH_WIDTH_PX, APP_CANVAS_PX, draw_strokes, render
from digits.training.data import Split

Stroke = list[tuple[float, float]]

TRACE_PX = 112  # glyphs are traced at this size (4x an MNIST digit): smooth enough, and quick
TRACE_LEVEL = 100  # 8-bit level above which an upscaled pixel is ink
BRUSH_RANGE = (0.3, 1.4)  # brush width, as a share of the app's default brush (thin pens to thick)
HEIGHT_RANGE = (0.4, 0.85)  # glyph height, as a share of the canvas


def skeleton_strokes(glyph: np.ndarray) -> list[Stroke]:
    """Short strokes joining 8-connected skeleton pixels of a [0, 1] ink image, in a unit box."""
    ys, xs = np.nonzero(glyph > 0)
    if len(ys) == 0:
        return []
    side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1  # a square around the ink keeps the aspect
    square = np.zeros((side, side), np.float32)
    part = glyph[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    square[:part.shape[0], :part.shape[1]] = part
    big = np.asarray(Image.fromarray((255 * square).astype(np.uint8)).resize(
        (TRACE_PX, TRACE_PX), Image.BILINEAR)) > TRACE_LEVEL
    sk = skeletonize(big)
    ys, xs = np.nonzero(sk)
    if len(ys) == 0:
        return []
    top, left = ys.min(), xs.min()
    size = max(ys.max() - top, xs.max() - left, 1)
    on = set(zip(ys.tolist(), xs.tolist()))
    strokes = []
    for y, x in on:
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
            if (y + dy, x + dx) in on:
                strokes.append([((x - left) / size, (y - top) / size),
                                ((x + dx - left) / size, (y + dy - top) / size)])
    return strokes


def pen_canvas(strokes: list[Stroke], rng: np.random.Generator, canvas: int = APP_CANVAS_PX,
               aspect: float = 1.0, brush: float | None = None) -> np.ndarray:
    """Strokes in a unit box drawn at a random size, place and brush on a transparent canvas."""
    brush = brush if brush is not None else rng.uniform(*BRUSH_RANGE) * APP_BRUSH_WIDTH_PX * canvas / APP_CANVAS_PX
    room = canvas - 2 * brush
    height = rng.uniform(*HEIGHT_RANGE) * room / max(aspect, 1.0)  # wide glyphs fit in width too
    width = height * aspect
    left = brush + rng.uniform(0, max(room - width, 0.0))
    top = brush + rng.uniform(0, max(room - height, 0.0))
    return np.asarray(draw_strokes(strokes, canvas, brush, (left, top, width, height), supersample=1))


def traced(glyph: np.ndarray, rng: np.random.Generator, canvas: int = APP_CANVAS_PX) -> np.ndarray:
    """A [0, 1] glyph image redrawn with a pen (the skeleton's unit box keeps its aspect)."""
    return pen_canvas(skeleton_strokes(glyph), rng, canvas)


def pen_digits(mnist: np.ndarray, labels: np.ndarray, templates: int, rng: np.random.Generator,
               canvas: int = APP_CANVAS_PX) -> Iterator[tuple[np.ndarray, int]]:
    """(canvas, digit) pairs, one at a time: the given MNIST digits traced with a pen, then `templates` digits
    drawn from digits/synthetic/sketches.py's stroke templates by new writers. Pass MNIST validation
    images when fitting anything, MNIST test images only for reporting."""
    for img, label in zip(mnist, labels):
        yield traced(img, rng, canvas), int(label)
    for _ in range(templates):
        digit = int(rng.integers(10))
        height = rng.uniform(*HEIGHT_RANGE)
        margin = height / 2 + 0.04
        centre = (rng.uniform(margin * 0.62, 1 - margin * 0.62), rng.uniform(margin, 1 - margin))
        brush = rng.uniform(*BRUSH_RANGE) * APP_BRUSH_WIDTH_PX * canvas / APP_CANVAS_PX
        yield render(digit, canvas, brush, height, centre, rng), digit


def as_split(drawings: Iterable[tuple[np.ndarray, int]]) -> Split:
    """Labelled drawings through the app's pipeline (empty ones dropped) as a Split; an
    iterator is consumed one drawing at a time."""
    kept = [(p.image28, label) for p, label in ((preprocess(img), label) for img, label in drawings) if not p.empty]
    return Split(torch.from_numpy(np.stack([im for im, _ in kept]))[:, None],
                 torch.tensor([label for _, label in kept], dtype=torch.long))


def pen_split(mnist: Split, count: int, seed: int) -> Split:
    """`count` pen-style digits, half traced from the first MNIST images given, half from templates."""
    rng = np.random.default_rng(seed)
    half = count // 2
    return as_split(pen_digits(mnist.images[:half, 0].numpy(), mnist.labels[:half].numpy(), count - half, rng))


NUMBER_HEIGHT = (0.3, 0.55)  # a number's digit height, as a share of the canvas height
NUMBER_BRUSH = (0.06, 0.12)  # its pen width, as a share of the digit height
ONE_WRITER = 0.1  # one writer's digits differ in height by up to 10% ...
WAVY = 0.04  # ... and sit on a baseline that wanders by this share of their height


def pen_number(glyphs: list[np.ndarray], rng: np.random.Generator, canvas: tuple[int, int],
               gap_range: tuple[float, float], brush_px: float | None = None, ink_gaps: bool = False,
               ) -> tuple[np.ndarray, list[tuple[int, int]], list[np.ndarray]]:
    """[0, 1] glyph images traced along their skeletons and written as one number
    (`write_number`)."""
    return write_number([skeleton_strokes(g) for g in glyphs], rng, canvas, gap_range, brush_px, ink_gaps)


def write_number(glyphs: list[list[Stroke]], rng: np.random.Generator, canvas: tuple[int, int],
                 gap_range: tuple[float, float], brush_px: float | None = None, ink_gaps: bool = False,
                 pens: tuple[float, float] = NUMBER_BRUSH, strokes_out: list | None = None,
                 ) -> tuple[np.ndarray, list[tuple[int, int]], list[np.ndarray]]:
    """Glyphs (strokes in units of their height, left edge at 0) written left to right with
    one pen, as people write a number: one writer's heights, a slightly wavy baseline, gaps
    drawn from `gap_range` (a share of the digit height; negative: the boxes overlap). The gaps
    hold between the strokes' boxes, so a pen wider than a gap joins the digits' ink; with
    `ink_gaps`, between the boxes of the ink (each gap widened by the pen). The pen is
    `brush_px` wide, or a random share of the digit height within `pens`. Returns the RGBA
    canvas, each glyph's columns (x0, x1), and each glyph alone on a canvas of its own;
    `strokes_out` gets the strokes as drawn, in canvas pixels and in order (a pad's value)."""
    sizes = rng.uniform(1 - ONE_WRITER, 1 + ONE_WRITER, len(glyphs))
    shares = [max((x for st in t for x, _ in st), default=0.5) for t in glyphs]  # width / height
    gaps = rng.uniform(*gap_range, len(glyphs) - 1)
    width, height = canvas
    extent = float(sum(sz * w for sz, w in zip(sizes, shares)) + sum(gaps))  # in digit heights
    # Both drawn either way: the same rng gives the same numbers with any pen.
    tall, pen_share = rng.uniform(*NUMBER_HEIGHT) * height, rng.uniform(*pens)
    widened = (len(glyphs) - 1) * ink_gaps  # how many pen widths the gaps add
    if brush_px is None:
        h = min(tall, 0.9 * width / max(extent + pen_share * widened, 1e-6))
        brush = pen_share * h
    else:
        h = min(tall, (0.9 * width - brush_px * widened) / max(extent, 1e-6))
        brush = brush_px
    room = width - brush - extent * h - brush * widened  # the last place the number may start
    x, base = rng.uniform(brush, max(brush, room)), rng.uniform(0.35, 0.65) * height
    img, spans, layers = Image.new("RGBA", canvas, (0, 0, 0, 0)), [], []
    for k, strokes in enumerate(glyphs):
        size = h * sizes[k]
        top = base - size / 2 + rng.normal(0, WAVY) * size
        layer = draw_strokes(strokes, max(canvas), brush, (x, top, size, size)).crop((0, 0, width, height))
        if strokes_out is not None:
            strokes_out.extend([[x + u * size, top + v * size] for u, v in stroke] for stroke in strokes)
        img = Image.alpha_composite(img, layer)
        layers.append(np.asarray(layer))
        spans.append((int(x), int(x + size * shares[k])))
        x += size * shares[k] + (gaps[k] * h + brush * ink_gaps if k < len(gaps) else 0)
    return np.asarray(img), spans, layers
