"""Pieces of ink: the number reader's geometry, without a model (`docs/reading.md`).

Steps 1-2 find each digit's group of ink (`digit_groups`); step 3's cuts are made here
(`cut_candidates`, `ink_paths`, `straight_halves`, `path_halves`) and chosen by `reading.Reader`,
which asks the models. Every piece keeps a mask on the whole image, so a cut or a join is
mask arithmetic and each digit is read on its own ink (`own_ink`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from digits.recognition.preprocess import BBOX_LEVEL, NoInk, Preprocessed, normalize_ink
from digits.recognition.strokes import Strokes, render_some


@dataclass(frozen=True)
class PieceRules:
    """Steps 1-2: pieces of ink, and the pieces that make one digit."""

    speck_share: float = 0.02  # a piece with less than 2% of the largest piece's ink is a speck
    inside_share: float = 0.6  # the narrower piece lies this much inside the wider's columns: one digit
    fragment_height: float = 0.35  # a piece under this share of the tallest piece's height is part of a digit ...
    fragment_ink: float = 0.25  # ... as is one with under this share of the other pieces' median ink (a 1: 0.3 up)


@dataclass(frozen=True)
class CutRules:
    """Step 3: cutting a wide group where it holds touching digits."""

    touching_aspect: float = 0.9  # a group wider than 0.9x its height may be two touching digits (one is 0.4-0.8)
    search: tuple[float, float] = (0.25, 0.75)  # cuts are looked for in the middle half of such a group
    candidates: int = 3  # the columns with the least ink tried as cuts ...
    even_cuts: int = 5  # ... and as many evenly spaced ones (two rings touch where the ink is thickest)
    wide_aspect: float = 1.5  # wider than this, a group is more likely two digits than one ...
    wide_penalty: float = 4.0  # ... by these log-odds per unit of width/height above it
    three_aspect: float = 1.5  # a group wider than this may hold three digits: cut at its thirds too, looking ...
    ahead_aspect: float = 0.9  # ... one cut ahead in each side at least this wide
    refused_cost: float = 3.0  # log-odds against a way of cutting for each piece the model says is not a digit
    like_neighbour: float = 1.1  # a group no wider than 1.1x the widest other group of the number ...
    neighbour_bonus: float = 5.0  # ... is more likely one digit by these log-odds (one writer's digits are alike)
    half_height: float = 0.6  # each side of a cut spans at least this share of the group's height
    odds_floor: float = 1e-9  # probabilities are clipped to [1e-9, 1 - 1e-9] before taking log-odds
    step_cost: float = 0.05  # a bent cut pays this (in rows of full ink) for each column it steps aside ...
    anchor_cost: float = 0.01  # ... and this per row for each column it strays from the column it started near
    bent_handicap: float = 1.0  # log-odds against a bent cut, which may carve a slice out of a digit
    pair_weight: float = 1.0  # log-odds against a cut per unit of log probability the pair reader gives its halves'
    pair_floor: float = 1e-3  # digits below the cut it agrees with most (each side's probability clipped at this)


PIECES, CUTS = PieceRules(), CutRules()

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) on the input image, exclusive ends


@dataclass
class Piece:
    """Ink that may be one digit: its mask and box, and what later steps learned of it (`named`
    and `no_digit` set by `reading.Reader`, `own` by `stroke_piece`; a cut or a join starts afresh)."""

    mask: np.ndarray  # bool, the whole image's size
    box: Box
    named: np.ndarray | None = None  # its digit's probabilities where the pair reader named it (step 8)
    own: np.ndarray | None = None  # its own strokes' ink, where the pad's strokes parted it from a neighbour (step 9)
    no_digit: bool = False  # the judge is all but certain it is no digit: it refuses the number (step 10)

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]

    @property
    def ink(self) -> int:
        return int(self.mask.sum())

    @property
    def aspect(self) -> float:
        """Width over height (a 1 is about 0.1-0.4 of its height wide, most digits 0.5-0.9)."""
        return self.width / max(self.height, 1)


def bounding_box(mask: np.ndarray, within: Box | None = None) -> Box:
    """The mask's bounding box; `within`: a box known to hold all of it (faster)."""
    x0, y0, x1, y1 = within or (0, 0, mask.shape[1], mask.shape[0])
    ys, xs = np.nonzero(mask[y0:y1, x0:x1])
    return x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1


def strokes(ink: np.ndarray, rules: PieceRules = PIECES) -> list[Piece]:
    """Connected pieces of clear ink, specks dropped, left to right."""
    peak = float(ink.max(initial=0.0))
    if peak <= 0:
        return []
    labels, n = ndimage.label(ink >= BBOX_LEVEL * peak, structure=np.ones((3, 3)))
    if n == 0:
        return []
    boxes = ndimage.find_objects(labels)  # each piece's ink summed inside its own box: 10x quicker
    mass = [float(ink[b][labels[b] == i + 1].sum(dtype=np.float64)) for i, b in enumerate(boxes)]
    keep = [i + 1 for i, m in enumerate(mass) if m >= rules.speck_share * max(mass)]
    pieces = [Piece(labels == i, (boxes[i - 1][1].start, boxes[i - 1][0].start, boxes[i - 1][1].stop,
                                  boxes[i - 1][0].stop)) for i in keep]
    return sorted(pieces, key=lambda p: (p.box[0] + p.box[2]) / 2)


def belong_together(a: Piece, b: Piece, rules: PieceRules = PIECES) -> bool:
    """One digit: the narrower piece's columns lie mostly inside the wider piece's."""
    narrow, wide = (a, b) if a.width <= b.width else (b, a)
    overlap = min(narrow.box[2], wide.box[2]) - max(narrow.box[0], wide.box[0])
    return overlap >= rules.inside_share * narrow.width


def join_pieces(a: Piece, b: Piece) -> Piece:
    mask = a.mask | b.mask
    return Piece(mask, bounding_box(mask))


def _gap(a: Piece, b: Piece) -> int:
    """Horizontal space between two boxes (0 when their columns overlap)."""
    return max(0, max(a.box[0], b.box[0]) - min(a.box[2], b.box[2]))


def attach_fragments(groups: list[Piece], rules: PieceRules = PIECES) -> list[Piece]:
    """A piece far shorter than the tallest (a 5's flag, a 7's bar drawn apart), or with far
    less ink than the other pieces (dots, a slip of the pen), joins the nearest digit instead
    of standing as a digit of its own."""
    tallest = max((g.height for g in groups), default=0)
    inks = [g.ink for g in groups]
    small = [g.height < rules.fragment_height * tallest
             or len(groups) > 1 and inks[k] < rules.fragment_ink * float(np.median(inks[:k] + inks[k + 1:]))
             for k, g in enumerate(groups)]
    out = [g for g, is_small in zip(groups, small) if not is_small]
    for piece in (g for g, is_small in zip(groups, small) if is_small):
        if not out:
            out.append(piece)
            continue
        near = min(range(len(out)), key=lambda i: _gap(piece, out[i]))
        out[near] = join_pieces(out[near], piece)
    return sorted(out, key=lambda p: (p.box[0] + p.box[2]) / 2)


def group_pieces(pieces: list[Piece], rules: PieceRules = PIECES) -> list[Piece]:
    """Join the pieces of each digit (repeatedly, so three strokes become one digit)."""
    groups = list(pieces)
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if belong_together(groups[i], groups[j], rules):
                    groups[i] = join_pieces(groups[i], groups[j])
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
    return sorted(groups, key=lambda p: (p.box[0] + p.box[2]) / 2)


def digit_groups(ink: np.ndarray, rules: PieceRules = PIECES) -> list[Piece]:
    """Steps 1-2: each digit's strokes with its fragments, left to right."""
    return attach_fragments(group_pieces(strokes(ink, rules), rules), rules)


def cut_candidates(ink: np.ndarray, piece: Piece, rules: CutRules = CUTS) -> list[int]:
    """Columns (on the input) with the least ink in the middle of a wide group."""
    x0, _, x1, _ = piece.box
    column_ink = (ink * piece.mask)[:, x0:x1].sum(0)
    lo, hi = int(rules.search[0] * piece.width), int(rules.search[1] * piece.width)
    if hi - lo < 1:
        return []
    order = np.argsort(column_ink[lo:hi], kind="stable")[:rules.candidates]
    even = np.linspace(lo, hi, rules.even_cuts).round().astype(int)
    thirds = [piece.width // 3, 2 * piece.width // 3] if piece.aspect >= rules.three_aspect else []
    return sorted({x0 + lo + int(i) for i in order} | {x0 + int(i) for i in [*even, *thirds]})


def straight_halves(piece: Piece, cut: int) -> list[Piece]:
    """The ink left and right of a straight cut: a path with the same column in every row."""
    return path_halves(piece, np.full(piece.height, cut))


def ink_paths(ink: np.ndarray, piece: Piece, starts: list[int], rules: CutRules = CUTS) -> list[np.ndarray]:
    """A bent cut near each start column: the path from the group's top row to its bottom
    row (a step of at most one column per row, within the middle half) that crosses the
    least ink, held loosely near its start column. It slips between two digits' slanted or
    curved strokes where no straight column can. Returns each path's column per row."""
    x0, y0, x1, y1 = piece.box
    lo, hi = int(rules.search[0] * piece.width), int(rules.search[1] * piece.width)
    mine = (ink * piece.mask)[y0:y1, x0:x1]
    rows = (mine / float(mine.max()))[:, lo:hi]  # 1: the darkest ink
    anchor = rules.anchor_cost * np.abs(np.arange(x0 + lo, x0 + hi)[None, :] - np.array(starts)[:, None])
    cost = rows[0][None, :] + anchor  # (start, column): the cheapest path to each cell so far
    steps = np.zeros((len(starts),) + rows.shape, dtype=np.int8)  # where each cell's path came from
    padded = np.full((len(starts), rows.shape[1] + 2), np.inf)
    for y in range(1, len(rows)):
        padded[:, 1:-1] = cost
        from_left, from_right = padded[:, :-2] + rules.step_cost, padded[:, 2:] + rules.step_cost
        best = np.minimum(cost, np.minimum(from_left, from_right))
        steps[:, y] = np.where(best == cost, 0, np.where(best == from_left, -1, 1))
        cost = best + rows[y][None, :] + anchor
    return [_trace_back(steps[k], int(cost[k].argmin())) + lo + x0 for k in range(len(starts))]


def _trace_back(steps: np.ndarray, end: int) -> np.ndarray:
    """The path's column in each row, from its cheapest end in the bottom row upwards."""
    path = np.empty(len(steps), dtype=int)
    x = end
    for y in range(len(steps) - 1, -1, -1):
        path[y] = x
        x += int(steps[y, x])
    return path


def path_halves(piece: Piece, path: np.ndarray) -> list[Piece]:
    """The ink left and right of a cut (`path`: its column in each row of the piece's box),
    as pieces; a side without ink is left out."""
    x0, y0, x1, y1 = piece.box
    left = np.zeros_like(piece.mask)
    left[y0:y1] = piece.mask[y0:y1] & (np.arange(piece.mask.shape[1])[None, :] < path[:, None])
    return [Piece(m, bounding_box(m, piece.box)) for m in (left, piece.mask & ~left) if m[y0:y1, x0:x1].any()]


EDGE_PX = 2  # a piece's mask grows this much to keep the soft, anti-aliased edge of its strokes


def prepare(ink: np.ndarray, pieces: list[Piece]) -> list[Preprocessed]:
    """Each piece through the single-digit pipeline; one piece is the whole drawing, exactly
    as `predict` sees it."""
    if len(pieces) == 1:
        return [normalize_ink(ink)]
    return [normalize_ink(own_ink(ink, p)) for p in pieces]


def own_ink(ink: np.ndarray, piece: Piece) -> np.ndarray:
    """The piece's ink with its soft edge, cut out around its box (no other digit's ink)."""
    ink = ink if piece.own is None else piece.own
    x0, y0, x1, y1 = piece.box
    h, w = ink.shape
    ys = slice(max(0, y0 - EDGE_PX), min(h, y1 + EDGE_PX))
    xs = slice(max(0, x0 - EDGE_PX), min(w, x1 + EDGE_PX))
    return ink[ys, xs] * ndimage.binary_dilation(piece.mask[ys, xs], iterations=EDGE_PX)


def share_on(mask: np.ndarray, line: np.ndarray) -> float:
    """The share of a stroke's centre line that lies on `mask`."""
    h, w = mask.shape
    xs = np.clip(line[:, 0].astype(int), 0, w - 1)
    ys = np.clip(line[:, 1].astype(int), 0, h - 1)
    return float(mask[ys, xs].mean()) if len(line) else 0.0


def left_to_right(first: Piece, then: Piece) -> bool:
    """Whether a part drawn first lies left of the part drawn after it (by their middles)."""
    return first.box[0] + first.box[2] < then.box[0] + then.box[2]


def stroke_piece(piece: Piece, pad: Strokes, which: list[int]) -> Piece | None:
    """Some of the piece's strokes as a piece of their own: their clear ink within it, and
    their own ink (not the other strokes' where they cross)."""
    own = render_some(pad, which)
    mask = piece.mask & (own >= BBOX_LEVEL)
    return Piece(mask, bounding_box(mask, piece.box), own=own) if mask.any() else None


def one_group(a: Piece, b: Piece, groups: list[Piece]) -> bool:
    """Whether two pieces were cut from one group of ink."""
    return any((a.mask & g.mask).any() and (b.mask & g.mask).any() for g in groups)


def several_digits(ink: np.ndarray | NoInk) -> bool:
    """Whether a drawing holds groups of ink side by side, as a number's digits are (each
    group a digit's strokes with its fragments): what one-digit mode cannot read."""
    return not isinstance(ink, NoInk) and len(digit_groups(ink)) > 1
