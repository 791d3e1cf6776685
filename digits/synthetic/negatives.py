"""Things that are not digits, drawn the way visitors draw: the examples each model is shown
so it learns to be unsure of them (outlier exposure, digits/training/engine.py) and the drawings the
"not a digit" figures are measured on (bench/not_a_digit.py).

Kinds, all made here without downloads:
  pen-letter  letters and symbols from hand-made stroke templates, jittered like new writers;
  font-letter the same letters typeset in the fonts on this machine, traced and redrawn with a pen;
  shape       triangles, squares, stars, hearts, smileys, arrows, spirals, crosses, zigzags;
  scribble    tangles of one long random stroke;
  pair        two digits side by side (a number is not one digit);
  touching    two MNIST training digits traced with one pen, touching or overlapping;
  part        a wrong cut through a number of two such digits: a slice of a digit, or a digit
              with a slice of its neighbour (what reading a number must not take for a digit).
Letters that many people write like a digit (O o I l i S s Z z B b G g q T, and D, J, Q, a,
t, ?, !) are left out: teaching a model to refuse them would teach it to refuse real digits.
"""

from __future__ import annotations

import glob
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digits.synthetic.penstyle import as_split, pen_canvas, pen_number, traced
from digits.synthetic.sketches import APP_CANVAS_PX, Stroke, catmull_rom, from_left, number_canvas
from digits.training.data import NOT_A_DIGIT, MadeOnce, Split

LEFT_OUT = "O o I l i S s Z z B b G g q T D J Q a t ? !"  # written like digits by many: never negatives
KINDS = ("pen-letter", "font-letter", "shape", "scribble", "pair", "touching", "part")
FONT_GLOBS = ("/usr/share/fonts/truetype/**/*.ttf", "/usr/share/fonts/opentype/**/*.otf")
FONT_LETTERS = "ACEFHKLMNPRUVWXYcefhkmnruvwxy+#@&%*"
GLYPH_PX = 96  # font size letters are typeset at before tracing
JITTER = 0.035  # template points move this much (unit box) from writer to writer
SLANT = 0.25

_C, _S = True, False  # smooth (Catmull-Rom) or straight strokes, as in digits/synthetic/sketches.py


def _arc(cx: float, cy: float, r: float, start: float, end: float, n: int = 9, ry: float | None = None):
    return [(cx + r * math.cos(t), cy + (ry or r) * math.sin(t)) for t in np.linspace(start, end, n)]


# Each glyph: (strokes as (points, smooth), width / height). Unit box, y down.
LETTERS: dict[str, tuple[list, float]] = {
    "A": ([([(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], _S), ([(0.22, 0.62), (0.78, 0.62)], _S)], 0.85),
    "C": ([(_arc(0.55, 0.5, 0.5, -0.8, -2 * math.pi + 0.8, 11, 0.5), _C)], 0.8),
    "E": ([([(0.9, 0.0), (0.05, 0.0), (0.05, 1.0), (0.9, 1.0)], _S), ([(0.05, 0.5), (0.7, 0.5)], _S)], 0.7),
    "F": ([([(0.9, 0.0), (0.05, 0.0), (0.05, 1.0)], _S), ([(0.05, 0.5), (0.7, 0.5)], _S)], 0.65),
    "H": ([([(0.05, 0.0), (0.05, 1.0)], _S), ([(0.95, 0.0), (0.95, 1.0)], _S), ([(0.05, 0.5), (0.95, 0.5)], _S)],
          0.8),
    "K": ([([(0.1, 0.0), (0.1, 1.0)], _S), ([(0.9, 0.0), (0.1, 0.55), (0.95, 1.0)], _S)], 0.75),
    "L": ([([(0.1, 0.0), (0.1, 1.0), (0.9, 1.0)], _S)], 0.65),
    "M": ([([(0.0, 1.0), (0.08, 0.0), (0.5, 0.65), (0.92, 0.0), (1.0, 1.0)], _S)], 1.0),
    "N": ([([(0.05, 1.0), (0.05, 0.0), (0.95, 1.0), (0.95, 0.0)], _S)], 0.8),
    "P": ([([(0.1, 1.0), (0.1, 0.0)], _S), ([(0.1, 0.0), (0.65, 0.02), (0.9, 0.25), (0.65, 0.5), (0.1, 0.52)], _C)],
          0.65),
    "R": ([([(0.1, 1.0), (0.1, 0.0)], _S), ([(0.1, 0.0), (0.65, 0.02), (0.9, 0.25), (0.65, 0.5), (0.1, 0.52)], _C),
           ([(0.4, 0.52), (0.95, 1.0)], _S)], 0.7),
    "U": ([([(0.05, 0.0), (0.05, 0.65), (0.5, 1.0), (0.95, 0.65), (0.95, 0.0)], _C)], 0.8),
    "V": ([([(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)], _S)], 0.85),
    "W": ([([(0.0, 0.0), (0.22, 1.0), (0.5, 0.3), (0.78, 1.0), (1.0, 0.0)], _S)], 1.1),
    "X": ([([(0.0, 0.0), (1.0, 1.0)], _S), ([(1.0, 0.0), (0.0, 1.0)], _S)], 0.85),
    "Y": ([([(0.0, 0.0), (0.5, 0.5)], _S), ([(1.0, 0.0), (0.5, 0.5), (0.5, 1.0)], _S)], 0.85),
    "e": ([([(0.1, 0.5), (0.9, 0.5), (0.8, 0.15), (0.5, 0.0), (0.12, 0.3), (0.2, 0.85), (0.55, 1.0),
             (0.9, 0.85)], _C)], 0.85),
    "h": ([([(0.1, 0.0), (0.1, 1.0)], _S), ([(0.1, 0.62), (0.5, 0.4), (0.85, 0.55), (0.88, 1.0)], _C)], 0.65),
    "k": ([([(0.1, 0.0), (0.1, 1.0)], _S), ([(0.8, 0.4), (0.1, 0.72), (0.85, 1.0)], _S)], 0.6),
    "m": ([([(0.02, 1.0), (0.02, 0.1)], _S), ([(0.02, 0.3), (0.25, 0.02), (0.48, 0.25), (0.5, 1.0)], _C),
           ([(0.5, 0.3), (0.74, 0.02), (0.97, 0.25), (0.98, 1.0)], _C)], 1.2),
    "n": ([([(0.08, 1.0), (0.08, 0.05)], _S), ([(0.08, 0.35), (0.5, 0.02), (0.9, 0.3), (0.92, 1.0)], _C)], 0.9),
    "r": ([([(0.15, 1.0), (0.15, 0.05)], _S), ([(0.15, 0.45), (0.5, 0.05), (0.9, 0.1)], _C)], 0.7),
    "u": ([([(0.08, 0.0), (0.1, 0.7), (0.45, 1.0), (0.9, 0.7)], _C), ([(0.9, 0.0), (0.92, 1.0)], _S)], 0.9),
    "w": ([([(0.0, 0.0), (0.2, 1.0), (0.5, 0.35), (0.8, 1.0), (1.0, 0.0)], _C)], 1.2),
    "x": ([([(0.05, 0.0), (0.95, 1.0)], _S), ([(0.95, 0.0), (0.05, 1.0)], _S)], 1.0),
    "y": ([([(0.05, 0.0), (0.5, 0.55)], _S), ([(0.95, 0.0), (0.25, 1.0)], _S)], 0.8),
    "+": ([([(0.5, 0.0), (0.5, 1.0)], _S), ([(0.0, 0.5), (1.0, 0.5)], _S)], 1.0),
    "#": ([([(0.35, 0.0), (0.25, 1.0)], _S), ([(0.75, 0.0), (0.65, 1.0)], _S), ([(0.0, 0.33), (1.0, 0.33)], _S),
           ([(0.0, 0.67), (1.0, 0.67)], _S)], 0.9),
    "=": ([([(0.0, 0.3), (1.0, 0.3)], _S), ([(0.0, 0.7), (1.0, 0.7)], _S)], 1.4),
    "*": ([([(0.5, 0.0), (0.5, 1.0)], _S), ([(0.07, 0.25), (0.93, 0.75)], _S), ([(0.93, 0.25), (0.07, 0.75)], _S)],
          1.0),
    "&": ([([(0.95, 1.0), (0.2, 0.4), (0.25, 0.05), (0.55, 0.0), (0.6, 0.3), (0.05, 0.7), (0.25, 1.0),
             (0.6, 0.95), (0.95, 0.55)], _C)], 0.8),
    "%": ([([(0.9, 0.0), (0.1, 1.0)], _S), (_arc(0.2, 0.18, 0.15, 0, 2 * math.pi), _C),
           (_arc(0.8, 0.82, 0.15, 0, 2 * math.pi), _C)], 0.8),
}

_STAR = [(0.5 + 0.5 * math.sin(4 * math.pi * k / 5), 0.55 - 0.5 * math.cos(4 * math.pi * k / 5)) for k in range(6)]
SHAPES: dict[str, tuple[list, float]] = {
    "triangle": ([([(0.5, 0.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.0)], _S)], 1.1),
    "square": ([([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)], _S)], 1.0),
    "star": ([(_STAR, _S)], 1.0),
    "heart": ([([(0.5, 1.0), (0.08, 0.5), (0.05, 0.18), (0.28, 0.0), (0.5, 0.22), (0.72, 0.0), (0.95, 0.18),
                 (0.92, 0.5), (0.5, 1.0)], _C)], 1.0),
    "smiley": ([(_arc(0.5, 0.5, 0.5, 0, 2 * math.pi, 17), _C), ([(0.33, 0.33), (0.33, 0.4)], _S),
                ([(0.67, 0.33), (0.67, 0.4)], _S), (_arc(0.5, 0.55, 0.25, 0.3, math.pi - 0.3, 7), _C)], 1.0),
    "arrow": ([([(0.0, 0.5), (1.0, 0.5)], _S), ([(0.7, 0.2), (1.0, 0.5), (0.7, 0.8)], _S)], 1.5),
    "spiral": ([([(0.5 + 0.05 * t * math.cos(t), 0.5 + 0.05 * t * math.sin(t)) for t in np.linspace(0, 9.5, 40)],
                 _C)], 1.0),
    "zigzag": ([([(0.0, 0.2), (0.25, 0.8), (0.5, 0.2), (0.75, 0.8), (1.0, 0.2)], _S)], 1.6),
    "cross-box": ([([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)], _S), ([(0.0, 0.0), (1.0, 1.0)], _S),
                   ([(1.0, 0.0), (0.0, 1.0)], _S)], 1.0),
}


def _jittered(glyph: tuple[list, float], rng: np.random.Generator) -> tuple[list, float]:
    """A template as a new writer draws it: points moved, slanted, width stretched."""
    strokes, aspect = glyph
    slant = rng.uniform(-SLANT, SLANT)
    out = []
    for points, smooth in strokes:
        pts = np.array(points, dtype=float) + rng.normal(0, JITTER, (len(points), 2))
        pts[:, 0] += slant * (0.5 - pts[:, 1])
        pts = [tuple(p) for p in pts]
        out.append(catmull_rom(pts) if smooth else pts)
    return out, aspect * rng.uniform(0.8, 1.2)


def letter_strokes(char: str, rng: np.random.Generator) -> list[Stroke]:
    """A template letter as a new writer draws it, in units of its height, its ink's left
    edge at x = 0 (how `penstyle.write_number` lays out glyphs)."""
    return from_left(*_jittered(LETTERS[char], rng))


def _from_templates(glyphs: dict[str, tuple[list, float]], rng: np.random.Generator) -> np.ndarray:
    strokes, aspect = _jittered(glyphs[list(glyphs)[int(rng.integers(len(glyphs)))]], rng)
    return pen_canvas(strokes, rng, aspect=aspect)


def pen_letter(rng: np.random.Generator) -> np.ndarray:
    return _from_templates(LETTERS, rng)


def shape(rng: np.random.Generator) -> np.ndarray:
    return _from_templates(SHAPES, rng)


def scribble(rng: np.random.Generator) -> np.ndarray:
    """One long smooth stroke through many random points: a tangle, not a digit."""
    points = [tuple(p) for p in rng.uniform(0, 1, (int(rng.integers(9, 16)), 2))]
    return pen_canvas([catmull_rom(points)], rng, aspect=rng.uniform(0.7, 1.4))


PAIR_GAP = (0.15, 0.6)  # space between the two, as a share of a digit's width


def pair(rng: np.random.Generator) -> np.ndarray:
    text = "".join(str(d) for d in rng.integers(0, 10, 2))
    return number_canvas(text, canvas=(APP_CANVAS_PX, APP_CANVAS_PX), brush=rng.uniform(14, 30),
                         height_frac=rng.uniform(0.3, 0.5), gap=rng.uniform(*PAIR_GAP), rng=rng)


TOUCHING_GAP = (-0.3, 0.0)  # the two digits' boxes overlap by up to 30% of their height
PART_GAP = (-0.1, 0.3)  # a wrong cut is made through numbers written as people write them ...
CUT_AT = (0.25, 0.75)  # ... at this share of a digit's width (a digit kept whole beside the slice) ...
ALONE_CUT_AT = (0.35, 0.65)  # ... or this share, for a slice alone (most of a digit is still that digit)
ALONE_ASPECT = 0.7  # a slice alone only of a digit this wide (a slice of a 1 or a narrow 7 is still one)


def _glyph_pair(glyphs: np.ndarray, rng: np.random.Generator, gap_range: tuple[float, float]):
    return pen_number(list(glyphs[rng.integers(len(glyphs), size=2)]), rng, (APP_CANVAS_PX, APP_CANVAS_PX),
                      gap_range)


def touching(rng: np.random.Generator, glyphs: np.ndarray) -> np.ndarray:
    return _glyph_pair(glyphs, rng, TOUCHING_GAP)[0]


def part(rng: np.random.Generator, glyphs: np.ndarray) -> np.ndarray | None:
    """A wrong cut: a digit with a slice of its neighbour, or a slice of a wide digit alone."""
    if rng.random() < 0.5:
        image, spans, _ = _glyph_pair(glyphs, rng, PART_GAP)
        k = int(rng.integers(2))  # the digit the cut goes through; the other one is kept whole
        (x0, x1), keep_left, cut_at = spans[k], k == 1, CUT_AT
    else:
        image = traced(glyphs[int(rng.integers(len(glyphs)))], rng)
        cols, rows = np.nonzero(image[..., 3].any(0))[0], np.nonzero(image[..., 3].any(1))[0]
        x0, x1, keep_left, cut_at = int(cols[0]), int(cols[-1]) + 1, bool(rng.random() < 0.5), ALONE_CUT_AT
        if x1 - x0 < ALONE_ASPECT * (rows[-1] - rows[0] + 1):
            return None
    cut, image = int(x0 + rng.uniform(*cut_at) * (x1 - x0)), image.copy()
    if keep_left:
        image[:, cut:, 3] = 0
    else:
        image[:, :cut, 3] = 0
    return image


@cache
def fonts() -> tuple[str, ...]:
    """The font files on this machine, sorted (install more with Debian's fonts-* packages)."""
    return tuple(sorted({f for pattern in FONT_GLOBS for f in glob.glob(pattern, recursive=True)}))


HELD_OUT_EVERY = 4  # every 4th font is never trained on: the figures' letters are typeset in those


def font_split() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fonts training may use, fonts kept for measuring)."""
    every = fonts()
    return (tuple(f for i, f in enumerate(every) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1),
            tuple(f for i, f in enumerate(every) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1))


def font_glyph(char: str, font: str) -> np.ndarray:
    """One character typeset in a font, as a [0, 1] ink image."""
    img = Image.new("L", (2 * GLYPH_PX, 2 * GLYPH_PX), 0)
    ImageDraw.Draw(img).text((GLYPH_PX, GLYPH_PX), char, fill=255, font=ImageFont.truetype(font, GLYPH_PX),
                             anchor="mm")
    return np.asarray(img, dtype=np.float32) / 255


def font_letter(rng: np.random.Generator, font_files: tuple[str, ...] | None = None) -> np.ndarray | None:
    font_files = font_files if font_files is not None else font_split()[0]
    if not font_files:
        return None
    char = FONT_LETTERS[int(rng.integers(len(FONT_LETTERS)))]
    return traced(font_glyph(char, font_files[int(rng.integers(len(font_files)))]), rng)


MAKERS = {"pen-letter": pen_letter, "font-letter": font_letter, "shape": shape, "scribble": scribble,
          "pair": pair}
FROM_DIGITS = {"touching": touching, "part": part}  # made from training digits, when a run passes them
# How often each kind is drawn: letters are what visitors try most. The kinds made of digits
# (touching, part) are not in the shipped mix: training with them made reading numbers no
# better and letters in a number less often refused (README, "Whole numbers").
MIX = {"pen-letter": 0.35, "font-letter": 0.3, "shape": 0.12, "scribble": 0.13, "pair": 0.1}


@dataclass
class Negative:
    kind: str
    canvas: np.ndarray  # RGBA, as the sketchpad sends it


def canvases(n: int, seed: int, kinds: dict[str, float] | None = None,
             font_files: tuple[str, ...] | None = None, glyphs: np.ndarray | None = None) -> Iterator[Negative]:
    """n non-digit drawings, one at a time (a canvas is 0.45 MB), kinds drawn with the given
    weights (default MIX); `glyphs` ([N, 28, 28] training digits in [0, 1]) for the kinds made
    of digits."""
    mix = dict(kinds or MIX)
    if not (font_files if font_files is not None else font_split()[0]):
        mix.pop("font-letter", None)  # no fonts on this machine: the other kinds only
    if glyphs is None or not len(glyphs):
        mix = {k: w for k, w in mix.items() if k not in FROM_DIGITS}
    if not mix:
        return
    names, weights = list(mix), np.array(list(mix.values()), dtype=float)
    rng = np.random.default_rng(seed)
    made_count = 0
    while made_count < n:
        kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        made = (font_letter(rng, font_files) if kind == "font-letter"
                else FROM_DIGITS[kind](rng, glyphs) if kind in FROM_DIGITS else MAKERS[kind](rng))
        if made is not None:
            made_count += 1
            yield Negative(kind, made)


def negative_split(n: int, seed: int, kinds: dict[str, float] | None = None,
                   font_files: tuple[str, ...] | None = None, glyphs: np.ndarray | None = None) -> Split:
    """Non-digit drawings through the app's pipeline, labelled NOT_A_DIGIT (see `canvases`)."""
    return as_split((neg.canvas, NOT_A_DIGIT) for neg in canvases(n, seed, kinds, font_files, glyphs))


_RUNS = MadeOnce(keep=1)  # one run's set at a time (12,000 images are 38 MB)


def training_negatives(n: int, seed: int, digits: Split) -> Split:
    """A run's negatives, the kinds made of digits made from its training digits; kept, so
    training every model in one process draws them once."""
    return _RUNS.get((n, seed), digits, lambda: negative_split(n, seed, glyphs=digits.images[:, 0].numpy()))


def font_names(font_files: tuple[str, ...] | None = None) -> list[str]:
    return [Path(f).stem for f in (font_files if font_files is not None else fonts())]


def negative_recipe() -> dict[str, Any]:
    """What a run's negatives were made of, for its card."""
    return {"negative_kinds": MIX, "negative_fonts": font_names(font_split()[0]),
            "left_out_as_digit_like": LEFT_OUT}
