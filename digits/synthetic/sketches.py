"""Pen-style drawings of digits, rendered the way a browser sketchpad renders strokes.

Used for the app's sample drawings and by bench/drawn_digits.py. Each digit has one or
more stroke templates in a unit box (x right, y down); `render` draws them with a round
brush on a transparent RGBA canvas, optionally perturbed like a different writer.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from digits.recognition.strokes import NUMBER_PEN_PX, PAD_PX, PEN_PX

Stroke = list[tuple[float, float]]

# Each digit: a list of variants; each variant: strokes as (points, smooth). Smooth strokes
# pass through their points on a Catmull-Rom curve; the others are straight segments with
# sharp corners (the 7's elbow, the 4's cross).
_C, _S = True, False
_ZERO = [(0.5 + 0.42 * math.sin(t), 0.5 - 0.5 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 17)]
TEMPLATES: dict[int, list[list[tuple[Stroke, bool]]]] = {
    0: [[(_ZERO, _C)]],
    1: [[([(0.5, 0.0), (0.5, 1.0)], _S)],
        [([(0.25, 0.22), (0.55, 0.0), (0.55, 1.0)], _S)]],
    2: [[([(0.1, 0.25), (0.35, 0.02), (0.72, 0.04), (0.88, 0.28), (0.7, 0.55), (0.1, 1.0)], _C),
         ([(0.1, 1.0), (0.95, 0.98)], _S)]],
    3: [[([(0.1, 0.12), (0.5, 0.0), (0.85, 0.18), (0.75, 0.4), (0.45, 0.48), (0.8, 0.6), (0.88, 0.82),
           (0.5, 1.0), (0.1, 0.88)], _C)]],
    4: [[([(0.62, 0.0), (0.05, 0.68), (0.95, 0.68)], _S), ([(0.72, 0.3), (0.72, 1.0)], _S)],
        [([(0.15, 0.0), (0.1, 0.55), (0.9, 0.55)], _S), ([(0.8, 0.0), (0.8, 1.0)], _S)]],
    5: [[([(0.88, 0.0), (0.22, 0.0), (0.16, 0.44)], _S),
         ([(0.16, 0.44), (0.55, 0.38), (0.88, 0.62), (0.75, 0.92), (0.4, 1.0), (0.08, 0.88)], _C)]],
    6: [[([(0.78, 0.04), (0.42, 0.2), (0.15, 0.62), (0.3, 0.95), (0.65, 0.98), (0.85, 0.72), (0.6, 0.5),
           (0.3, 0.55), (0.15, 0.68)], _C)]],
    7: [[([(0.05, 0.0), (0.95, 0.0), (0.38, 1.0)], _S)],
        [([(0.05, 0.0), (0.95, 0.0), (0.38, 1.0)], _S), ([(0.3, 0.52), (0.8, 0.52)], _S)]],
    8: [[([(0.5, 0.48), (0.18, 0.26), (0.5, 0.0), (0.82, 0.24), (0.5, 0.48), (0.14, 0.74), (0.5, 1.0),
           (0.86, 0.74), (0.5, 0.48)], _C)]],
    9: [[([(0.82, 0.25), (0.5, 0.48), (0.16, 0.3), (0.45, 0.0), (0.82, 0.2), (0.8, 0.6), (0.66, 1.0)], _C)],
        [([(0.82, 0.22), (0.5, 0.45), (0.18, 0.25), (0.5, 0.0), (0.82, 0.2)], _C), ([(0.82, 0.1), (0.8, 1.0)], _S)]],
}

CURVE_STEPS = 12  # points per Catmull-Rom segment
DIGIT_ASPECT = 0.62  # a template's unit box is drawn this much as wide as it is tall

# The app's pad, as digits/recognition/strokes.py defines it (one place), for tests and benches.
APP_CANVAS_PX = PAD_PX
APP_BRUSH_WIDTH_PX = PEN_PX  # the stroke width the pad's pen draws (what `render` takes)
APP_BRUSH_RADIUS_PX = PEN_PX // 2
APP_NUMBER_BRUSH_RADIUS_PX = NUMBER_PEN_PX // 2


def catmull_rom(points: Stroke, steps: int = CURVE_STEPS) -> Stroke:
    """A smooth curve through the points (endpoints repeated as their own tangents)."""
    if len(points) < 3:
        return list(points)
    p = np.array([points[0]] + list(points) + [points[-1]], dtype=float)
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, steps, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(tuple(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                                    + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)))
    out.append(tuple(p[-2]))
    return out


def writer_strokes(digit: int, rng: np.random.Generator | None = None, variant: int | None = None) -> list[Stroke]:
    """The digit's strokes in a unit box; with rng, jittered, slanted and stretched like a new writer."""
    options = TEMPLATES[digit]
    strokes = options[variant % len(options) if variant is not None else
                      (int(rng.integers(len(options))) if rng is not None else 0)]
    out = []
    slant = float(rng.uniform(-0.25, 0.25)) if rng is not None else 0.0
    width = float(rng.uniform(0.75, 1.15)) if rng is not None else 1.0
    for stroke, smooth in strokes:
        pts = np.array(stroke, dtype=float)
        if rng is not None:
            pts = pts + rng.normal(0, 0.035, pts.shape)
        pts[:, 0] = 0.5 + (pts[:, 0] - 0.5) * width + slant * (0.5 - pts[:, 1])
        pts = [tuple(p) for p in pts]
        out.append(catmull_rom(pts) if smooth else pts)
    return out


def from_left(strokes: list[Stroke], aspect: float = 1.0) -> list[Stroke]:
    """Strokes stretched `aspect` times in x, moved so their ink's left edge is at x = 0 (how
    `penstyle.write_number` lays out glyphs side by side)."""
    left = min(x for stroke in strokes for x, _ in stroke)
    return [[((x - left) * aspect, y) for x, y in stroke] for stroke in strokes]


def writer_glyph(digit: int, rng: np.random.Generator) -> list[Stroke]:
    """A new writer's strokes for the digit in units of its height, its ink's left edge at x = 0."""
    return from_left(writer_strokes(digit, rng), DIGIT_ASPECT)


def draw_strokes(strokes: list[Stroke], canvas: int, brush: float, box: tuple[float, float, float, float],
                 colour: tuple[int, int, int, int] = (0, 0, 0, 255), background=(0, 0, 0, 0),
                 supersample: int = 2) -> Image.Image:
    """Round-capped strokes scaled into box = (left, top, width, height) on a canvas, anti-aliased."""
    s = supersample
    img = Image.new("RGBA", (canvas * s, canvas * s), background)
    draw = ImageDraw.Draw(img)
    left, top, w, h = (v * s for v in box)
    r = brush * s / 2
    for stroke in strokes:
        pts = [(left + x * w, top + y * h) for x, y in stroke]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=max(1, int(round(2 * r))), joint="curve")
        for x, y in (pts[0], pts[-1]) if len(pts) > 1 else pts:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return img.resize((canvas, canvas), Image.Resampling.BOX) if s > 1 else img


def render(digit: int, canvas: int = 800, brush: float = 20, height_frac: float = 0.6,
           centre: tuple[float, float] = (0.5, 0.5), rng: np.random.Generator | None = None,
           variant: int | None = None) -> np.ndarray:
    """An RGBA sketchpad-like canvas (black ink, transparent background) holding one digit."""
    strokes = writer_strokes(digit, rng, variant)
    height = height_frac * canvas
    width = height * DIGIT_ASPECT
    box = (centre[0] * canvas - width / 2, centre[1] * canvas - height / 2, width, height)
    return np.asarray(draw_strokes(strokes, canvas, brush, box))


def app_canvas(digit: int, **kwargs) -> np.ndarray:
    """The digit as the app's sketchpad would hold it: its canvas size and brush width."""
    return render(digit, canvas=APP_CANVAS_PX, brush=APP_BRUSH_WIDTH_PX, **kwargs)


def number_canvas(text: str, canvas: tuple[int, int] = (800, 400), brush: float = 24, height_frac: float = 0.6,
                  gap: float = 0.2, rng: np.random.Generator | None = None, shift: tuple[float, float] = (0, 0),
                  variants: dict[int, int] | None = None) -> np.ndarray:
    """A whole number drawn left to right on one RGBA canvas: `gap` is the space between
    digits as a share of a digit's width (negative: they overlap); `shift` moves it all (px)."""
    width, height = canvas
    h = height * height_frac
    w = h * DIGIT_ASPECT
    x = (width - len(text) * w - (len(text) - 1) * gap * w) / 2 + shift[0]
    img = Image.new("RGBA", canvas, (0, 0, 0, 0))
    for ch in text:
        d = int(ch)
        variant = (variants or {}).get(d, 0) if rng is None else None
        layer = draw_strokes(writer_strokes(d, rng, variant), max(canvas), brush,
                             (x, (height - h) / 2 + shift[1], w, h))
        img = Image.alpha_composite(img, layer.crop((0, 0, width, height)))
        x += w * (1 + gap)
    return np.asarray(img)
