"""Whole numbers: split a drawing into digits, left to right, and read each one.

Segmentation by recognition, on the ink map (`preprocess.ink_map`), in pure functions a test
can call:

1. `strokes`: connected pieces of ink (8-connectivity); specks are dropped.
2. Each piece is read on its own. One the model is sure is a single digit stays whole; any
   other piece that is wide enough to hold two digits is cut into vertical `slices`, at the
   columns with the least ink (where digits touch) and at even steps.
3. `candidates`: the pieces and slices, left to right, are atoms; every run of neighbouring
   atoms that could be one digit (not too wide, no wide gap inside) is a candidate: a 4
   drawn in two strokes is a run of two pieces, two touching digits are two runs of slices.
4. Every candidate is read in one batch and scored (`digit_score`: the calibrated
   confidence, less costs for "not a digit", for cutting through ink, for too wide or too
   short), and `best_path` picks the runs that cover the drawing with the highest total
   (dynamic programming).

The models learned to be unsure of what a wrong cut looks like (two digits touching, a
digit with a slice of its neighbour: digits/negatives.py), which is what makes their
confidence a fair judge here. Each digit is then the same 28x28 pipeline as a single
drawing (`normalize_ink`), so a drawing of one digit reads exactly as `predict` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .inference import EMPTY, NOT_A_DIGIT, ModelStore, Prediction, default_store, pinned_threads
from .models import DEFAULT_MODEL, get_spec
from .preprocess import BBOX_LEVEL, Preprocessed, ink_map, normalize_ink

SPECK_SHARE = 0.02  # a piece with less than 2% of the largest piece's ink is a speck
SURE_WHOLE = 0.95  # a piece read as one digit this surely (and not wide) is never cut
TOUCHING_ASPECT = 0.6  # a piece at least this wide (share of its height) may hold digits that touch ...
SLICE_STEP = 0.2  # ... and is sliced every 0.2x its height ...
SLICE_MINIMA = 3  # ... and at the 3 columns with the least ink (where two digits touch)
SLICE_MIN = 0.08  # cuts closer than this share of the height are one cut
MAX_ASPECT = 1.8  # a candidate is never wider than this share of the tallest piece's height ...
MAX_ATOMS = 10  # ... nor made of more than this many pieces and slices
JOIN_GAP = 0.15  # pieces further apart than this share of the tallest piece's height are never one digit
DIGIT_BONUS = 0.5  # log-odds for each digit read (without it, fewer, larger candidates would always win)
CUT_COST = 1.0  # log-odds against a digit cut out of a wider piece of ink (most digits do not touch)
REFUSED_COST = 3.0  # log-odds against a candidate the model says is not a digit
WIDE_ASPECT = 1.5  # wider than this, a candidate is more likely two digits than one ...
WIDE_PENALTY = 4.0  # ... by these log-odds per unit of width/height above it
HALF_HEIGHT = 0.6  # a digit cut from a wider piece spans at least this share of that piece's height
FRAGMENT_HEIGHT = 0.35  # a candidate under this share of the tallest piece's height is part of a digit ...
FRAGMENT_COST = 20.0  # ... by these log-odds (a 5's flag, a dot: never a digit on its own)

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) on the input image, exclusive ends


@dataclass
class Reading:
    model: str
    text: str | None  # "2026"; None when nothing (or not every digit) could be read
    digits: list[Prediction] = field(default_factory=list)  # left to right
    boxes: list[Box] = field(default_factory=list)  # each digit's box on the input image
    reason: str | None = None  # None when read; EMPTY when there is no ink; NOT_A_DIGIT when a piece is not one

    @property
    def confidence(self) -> float:
        """How sure the model is of the whole number: the product of its digits' confidences."""
        return float(np.prod([p.confidence for p in self.digits])) if self.digits else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON shape (`python -m digits read --json`)."""
        return {"model": self.model, "text": self.text, "reason": self.reason,
                "digits": [{"digit": p.digit, "box": list(b), "probabilities": [round(v, 6) for v in p.probabilities]}
                           for p, b in zip(self.digits, self.boxes)]}


@dataclass
class Piece:
    mask: np.ndarray  # bool, the whole image's size
    box: Box
    cut_from: Box | None = None  # for part of a wide piece cut apart (not the whole of it), that piece's box
    prepared: Preprocessed | None = None  # its own ink through the 28x28 pipeline, once made
    reading: Prediction | None = None  # how the model that segmented the drawing read it

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def _box(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def strokes(ink: np.ndarray) -> list[Piece]:
    """Connected pieces of clear ink, specks dropped, left to right."""
    peak = float(ink.max(initial=0.0))
    if peak <= 0:
        return []
    labels, n = ndimage.label(ink >= BBOX_LEVEL * peak, structure=np.ones((3, 3)))
    if n == 0:
        return []
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n + 1)[1:]
    keep = [i + 1 for i, m in enumerate(mass) if m >= SPECK_SHARE * mass.max()]
    boxes = ndimage.find_objects(labels)
    pieces = [Piece(labels == i, (boxes[i - 1][1].start, boxes[i - 1][0].start, boxes[i - 1][1].stop,
                                  boxes[i - 1][0].stop)) for i in keep]
    return sorted(pieces, key=lambda p: (p.box[0] + p.box[2]) / 2)


def cut_columns(ink: np.ndarray, piece: Piece) -> list[int]:
    """Where a wide piece may hold two touching digits apart (columns on the input): evenly
    spaced, and the columns with the least ink, which is where two digits usually touch."""
    x0, _, x1, _ = piece.box
    column_ink = (ink * piece.mask)[:, x0:x1].sum(0)
    step, near = max(1, round(SLICE_STEP * piece.height)), max(1, round(SLICE_MIN * piece.height))
    inner = np.arange(near, piece.width - near)
    lowest = inner[np.argsort(column_ink[inner], kind="stable")[:SLICE_MINIMA]] if len(inner) else []
    cuts: list[int] = []
    for c in [*sorted(int(c) for c in lowest), *range(step, piece.width - near, step)]:
        if all(abs(c - k) >= near for k in cuts):
            cuts.append(c)
    return [x0 + c for c in sorted(cuts)]


def slices(ink: np.ndarray, piece: Piece, tallest: int) -> list[Piece]:
    """A piece narrow enough for one digit as it is (or too short to hold digits that touch:
    a 5's flag); a wider one cut into vertical slices, from which runs of slices make the
    candidate digits."""
    if piece.width < TOUCHING_ASPECT * piece.height or piece.height < HALF_HEIGHT * tallest:
        return [piece]
    edges = [piece.box[0], *cut_columns(ink, piece), piece.box[2]]
    out = []
    for a, b in zip(edges, edges[1:]):
        mask = np.zeros_like(piece.mask)
        mask[:, a:b] = piece.mask[:, a:b]
        if mask.any():
            out.append(Piece(mask, _box(mask), piece.box))
    return out


EDGE_PX = 2  # a piece's mask grows this much to keep the soft, anti-aliased edge of its strokes


def prepare(ink: np.ndarray, pieces: list[Piece]) -> list[Preprocessed]:
    """Each piece through the single-digit pipeline; one piece is the whole drawing, exactly
    as `predict` sees it."""
    if len(pieces) == 1:
        return [normalize_ink(ink)]
    return [_prepared(ink, p) for p in pieces]


def _prepared(ink: np.ndarray, piece: Piece) -> Preprocessed:
    if piece.prepared is None:
        piece.prepared = normalize_ink(_own_ink(ink, piece))
    return piece.prepared


def _own_ink(ink: np.ndarray, piece: Piece) -> np.ndarray:
    """The piece's ink with its soft edge, cut out around its box (no other digit's ink)."""
    x0, y0, x1, y1 = piece.box
    h, w = ink.shape
    ys = slice(max(0, y0 - EDGE_PX), min(h, y1 + EDGE_PX))
    xs = slice(max(0, x0 - EDGE_PX), min(w, x1 + EDGE_PX))
    return ink[ys, xs] * ndimage.binary_dilation(piece.mask[ys, xs], iterations=EDGE_PX)


def _classify(store: ModelStore, ink: np.ndarray, pieces: list[Piece], model: str) -> list[Prediction]:
    """Each piece on its own ink (never the whole drawing: a group is judged apart from the
    other digits beside it)."""
    return store.predict_many([_prepared(ink, p) for p in pieces], model, pieces=True)


def _run_gap(run: list[Piece]) -> int:
    """The widest empty band of columns inside a run of pieces (0 when their columns overlap)."""
    spans = sorted((p.box[0], p.box[2]) for p in run)
    reach, widest = spans[0][1], 0
    for x0, x1 in spans[1:]:
        widest, reach = max(widest, x0 - reach), max(reach, x1)
    return widest


def _join(run: list[Piece]) -> Piece:
    """One piece of a run's ink; still a part of a wide piece unless it holds all of its columns."""
    mask = np.logical_or.reduce([p.mask for p in run])
    box = _box(mask)
    cut = [p.cut_from for p in run if p.cut_from and not box[0] <= p.cut_from[0] < p.cut_from[2] <= box[2]]
    return Piece(mask, box, cut[0] if cut else None)


def candidates(atoms: list[Piece], settled: frozenset[int] = frozenset()) -> dict[tuple[int, int], Piece]:
    """Every run of neighbouring atoms (left to right) that could be one digit: `(i, j)` is
    atoms i..j-1 joined. Too wide, with a wide empty gap inside, or holding two pieces side by
    side that are each surely a digit of their own (`settled`, by id): not a digit."""
    tallest = max(p.height for p in atoms)
    runs = {}
    for i in range(len(atoms)):
        for j in range(i + 1, min(len(atoms), i + MAX_ATOMS) + 1):
            run = atoms[i:j]
            sure = [p for p in run if id(p) in settled]
            if _run_gap(run) > JOIN_GAP * tallest or (len(sure) > 1 and _run_gap(sure) > 0):
                continue
            joined = run[0] if len(run) == 1 else _join(run)
            if joined.width > MAX_ASPECT * tallest:
                break
            runs[(i, j)] = joined
    return runs


def digit_score(p: Piece, pred: Prediction, tallest: int) -> float:
    """Log-odds that a candidate is one digit: the model's calibrated confidence, less a cost
    when it says "not a digit", when the candidate is wider than a digit, or too short to be
    one (a fragment; or a part of a wide piece lower than the digits that touch in it)."""
    aspect = p.width / max(p.height, 1)
    cut_height = p.cut_from[3] - p.cut_from[1] if p.cut_from else 0
    too_short = p.height < FRAGMENT_HEIGHT * tallest or p.height < HALF_HEIGHT * cut_height
    return (float(np.log(max(pred.top_probability, 1e-9))) - REFUSED_COST * (pred.digit is None)
            - WIDE_PENALTY * max(0.0, aspect - WIDE_ASPECT) - FRAGMENT_COST * too_short
            - CUT_COST * (p.cut_from is not None) + DIGIT_BONUS)


def best_path(n: int, scores: dict[tuple[int, int], float]) -> list[tuple[int, int]]:
    """The runs that cover atoms 0..n-1 with the highest total score: dynamic programming over
    where each digit starts. Single atoms are always runs, so a path always exists."""
    best: list[tuple[float, list[tuple[int, int]]]] = [(0.0, [])] + [(-np.inf, [])] * n
    for j in range(1, n + 1):
        for i in range(max(0, j - MAX_ATOMS), j):
            if (i, j) in scores and best[i][0] + scores[(i, j)] > best[j][0]:
                best[j] = (best[i][0] + scores[(i, j)], best[i][1] + [(i, j)])
    return best[n][1]


def segment(ink: np.ndarray, store: ModelStore, model: str) -> list[Piece]:
    """The digits of a drawing, left to right. Each piece of ink is read first; one the model
    is sure of as one digit stays whole, any other is sliced. The pieces and slices are the
    atoms; every run of them that could be a digit is read in one batch, and the way of
    covering the drawing with runs that the model is surest of as a whole wins."""
    pieces = strokes(ink)
    if not pieces:
        return []
    tallest = max(p.height for p in pieces)
    known = dict(zip(map(id, pieces), _classify(store, ink, pieces, model)))
    settled = frozenset(id(p) for p in pieces if _settled(p, known[id(p)]))
    atoms = sorted((s for p in pieces for s in ([p] if id(p) in settled else slices(ink, p, tallest))),
                   key=lambda p: (p.box[0] + p.box[2]) / 2)
    runs = candidates(atoms, settled)
    new = [p for p in runs.values() if id(p) not in known]
    if new:
        known.update(zip(map(id, new), _classify(store, ink, new, model)))
    scores = {key: digit_score(p, known[id(p)], tallest) for key, p in runs.items()}
    chosen = [runs[key] for key in best_path(len(atoms), scores)]
    for p in chosen:
        p.reading = known[id(p)]
    return sorted(chosen, key=lambda p: (p.box[0] + p.box[2]) / 2)


def _settled(piece: Piece, pred: Prediction) -> bool:
    """A piece the model reads as one digit with this much confidence, and not wide, is one."""
    return pred.digit is not None and pred.top_probability >= SURE_WHOLE and piece.width < WIDE_ASPECT * piece.height


def _read_segments(store: ModelStore, prepared: list[Preprocessed], pieces: list[Piece], model: str) -> Reading:
    # One batch: every digit at once (the segmenting model has read them already). A lone
    # digit is judged exactly as `predict` judges it.
    known = [p.reading for p in pieces]
    if len(pieces) > 1 and all(r is not None and r.model == model for r in known):
        predictions = known
    else:
        predictions = store.predict_many(prepared, model, pieces=len(pieces) > 1)
    kept = [(p, piece.box) for p, piece in zip(predictions, pieces) if p.reason != EMPTY]
    if not kept:
        return Reading(model, None, reason=EMPTY)
    digits, boxes = [p for p, _ in kept], [b for _, b in kept]
    if any(p.digit is None for p in digits):  # one piece is not a digit: no number is claimed
        return Reading(model, None, digits, boxes, reason=NOT_A_DIGIT)
    return Reading(model, "".join(str(p.digit) for p in digits), digits, boxes)


def read(image: Any, model: str = DEFAULT_MODEL, store: ModelStore | None = None) -> Reading:
    """The number in a drawing, as one model reads it."""
    store = store or default_store()
    model = get_spec(model).name
    ink = ink_map(image)
    if isinstance(ink, str):
        return Reading(model, None, reason=EMPTY)
    with pinned_threads:
        pieces = segment(ink, store, model)
        return _read_segments(store, prepare(ink, pieces), pieces, model)


def read_all(image: Any, store: ModelStore | None = None) -> dict[str, Reading]:
    """Every available model's reading, segmenting once (touching digits are cut where the
    default model is surest, so every model reads the same pieces)."""
    return read_ink_all(ink_map(image), store)


def read_ink_all(ink: np.ndarray | str, store: ModelStore | None = None) -> dict[str, Reading]:
    """`read_all` of an ink map already made (the app decodes each drawing once)."""
    store = store or default_store()
    names = store.available()
    if isinstance(ink, str) or not names:
        return {name: Reading(name, None, reason=EMPTY) for name in names}
    with pinned_threads:
        pieces = segment(ink, store, DEFAULT_MODEL if DEFAULT_MODEL in names else names[0])
        prepared = prepare(ink, pieces)
        return {name: _read_segments(store, prepared, pieces, name) for name in names}
