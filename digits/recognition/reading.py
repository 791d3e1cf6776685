"""Whole numbers: split a drawing into digits, left to right, and read each one.

Segmentation works on the ink map (`preprocess.ink_map`) in ten steps, numbered as in
`docs/reading.md`, each a function a test can call (steps 3-10 ask the models; steps 1-2
and the geometry of the cuts are `digits/recognition/pieces.py`):

1. `strokes`: connected pieces of ink (8-connectivity); specks are dropped.
2. `group_pieces`: pieces that belong to one digit are joined: a 4, 5 or 7 drawn in two or
   three strokes has pieces that overlap in x, while neighbouring digits do not (a 7's long
   bar may reach over the next digit without swallowing it: the narrower piece must sit
   mostly inside the wider one's columns). `attach_fragments` then joins a piece far shorter
   or lighter than the others (a 5's flag drawn apart, dots) to its nearest digit.
3. `split_touching`: a group much wider than a digit is tall may be two digits that touch;
   candidate cuts are the columns with the least ink, and the classifier picks between
   "no cut" and each cut by how sure it is of the pieces ("no cut" is favoured when the
   group is no wider than the number's other digits; a group the judge of step 5 is sure is
   one digit, or no digit (an X, no wider than two digits), is not cut; where it is sure of
   two, cuts that bend around the strokes, `ink_paths`, are tried too, and the cut whose
   halves read as the pair reader of step 6 reads the group whole is preferred). Each side
   of a cut is tried again, so three or more touching digits come apart one cut at a time.
4. `second_look`: in a drawing of several groups, a narrower piece the model refuses (often
   a 1 written into its neighbour) is cut where the model is sure of both halves; one it reads
   but doubts (two digits leaning into each other) where it is far surer of the halves.
5. `third_look`: a piece the model still refuses or doubts is shown to the judge
   (`digits/recognition/judge.py`, a small model that sees the whole piece and says "one digit", "two
   digits" or "not digits"); where it is sure of two, the piece is cut (straight or bent)
   where the model reads both halves as digits. The model's doubt alone cannot tell two
   digits written into each other from a letter: both are refused.
6. `pair_reading`: the pair reader (`judge.pair_net`) sees a group the judge is sure holds
   two digits whole and says which digit is on each side; steps 3, 5 and 7 prefer the cut
   whose halves the model reads as it does (`disagreement`).
7. `cut_again`: two neighbours read as digits and cut from one group of ink are cut again,
   seen together, where their halves read as the judge's pair reader reads the two whole (a
   4's first stroke left on the 8 beside it leaves a sure 1).
8. `name_pairs`: in a number, a piece still refused that the judge is sure holds two digits
   run so deep into each other that no cut leaves two digits (a 0 and a 9 sharing a stroke)
   is cut where its halves read most like the pair reader's reading of it whole, and the
   pair reader, sure of both, names them: one refused piece would refuse the whole number.
9. `part_by_strokes`: where the drawing is the pad's strokes, a piece of several strokes is
   parted between two of them, in the order drawn, where both parts read as sure digits: a
   1 written into the 3 before it is one piece of ink but a stroke of its own.
10. `veto`: in a number, a piece the judge is all but certain is no digit refuses the number,
   however surely a model reads it (an A between two digits, read as a sure 4).

Each digit is then the same 28x28 pipeline as a single drawing (`normalize_ink`), so a
drawing of one digit reads as `predict` reads it (unless the model refuses or doubts it and
the judge is sure it is two digits).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from typing import Any

import numpy as np

from digits.models import DEFAULT_MODEL, get_spec
from digits.recognition import judge
from digits.recognition.inference import EMPTY, NOT_A_DIGIT, ModelStore, Prediction, default_store, pinned_threads
from digits.recognition.pieces import (
    Box,
    CutRules,
    Piece,
    PieceRules,
    cut_candidates,
    digit_groups,
    ink_paths,
    join_pieces,
    left_to_right,
    one_group,
    own_ink,
    path_halves,
    prepare,
    share_on,
    straight_halves,
    stroke_piece,
)
from digits.recognition.preprocess import NoInk, Preprocessed, ink_map, normalize_ink
from digits.recognition.strokes import Strokes, centre_line, parse_strokes
from digits.recognition.trust import Trust


@dataclass(frozen=True)
class LookRules:
    """Steps 4-5: second looks at refused or doubted pieces, and the judge."""

    narrow_pair: float = 0.6  # a group 0.6-0.9x as wide as tall, in a number, may be two touching digits: ...
    pair_sure: float = 0.99  # ... refused, it is cut only where the model is at least this sure of both halves; ...
    doubt: float = 0.99  # ... read less sure than this, it is cut where the model is surer of the halves ...
    doubt_margin: float = 4.0  # ... by these log-odds (the least sure half against the whole) ...
    doubt_sure: float = 0.9  # ... and reads each half at least this sure
    judged_aspect: float = 0.4  # a refused or doubted piece at least this wide is shown to the judge ...
    judge_sure: float = 0.99  # ... and cut when it is this sure of two digits
    one_sure: float = 0.7  # a group the judge is this sure is one digit is never cut (steps 3-4)
    veto: float = 0.999  # a number's piece the judge is this sure is no digit refuses the number (step 10)
    pair_names: float = 0.99  # one still refused, in a number: the pair reader names both digits when this sure of each


@dataclass(frozen=True)
class StrokeRules:
    """Step 9: the pad's strokes, in the order they were drawn, part digits whose ink runs together."""

    share: float = 0.3  # a stroke belongs to the piece holding most of its line, if at least this share
    sure: float = 0.99  # both parts must read as digits at least this sure (each as tall as a cut's sides)
    most: int = 6  # a piece of more strokes is not parted: two digits are seldom more than six strokes


@dataclass(frozen=True)
class Rules:
    """Every tuned number of the reader, by step; docs/reading.md says which figure chose each."""

    pieces: PieceRules = field(default_factory=PieceRules)
    cuts: CutRules = field(default_factory=CutRules)
    looks: LookRules = field(default_factory=LookRules)
    strokes: StrokeRules = field(default_factory=StrokeRules)


RULES = Rules()



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


def _log_odds(p: float, floor: float) -> float:
    p = min(max(p, floor), 1 - floor)
    return float(np.log(p) - np.log1p(-p))


def _named(model: str, said: Prediction, piece: Piece) -> Prediction:
    """The digit the pair reader named for a piece (step 8), on the 28x28 the model was shown."""
    probabilities = [float(v) for v in piece.named]
    return Prediction(model, int(np.argmax(probabilities)), probabilities, said.image28, said.latency_ms)


def _vetoed(said: Prediction) -> Prediction:
    """A piece the judge vetoed (step 10): no digit, the model's probabilities kept as its best guess."""
    return replace(said, digit=None, reason=NOT_A_DIGIT)


def _reading(model: str, predictions: list[Prediction], pieces: list[Piece]) -> Reading:
    predictions = [_vetoed(p) if piece.no_digit else p if piece.named is None else _named(model, p, piece)
                   for p, piece in zip(predictions, pieces)]
    kept = [(p, piece.box) for p, piece in zip(predictions, pieces) if p.reason != EMPTY]
    if not kept:
        return Reading(model, None, reason=EMPTY)
    digits, boxes = [p for p, _ in kept], [b for _, b in kept]
    if any(p.digit is None for p in digits):  # one piece is not a digit: no number is claimed
        return Reading(model, None, digits, boxes, reason=NOT_A_DIGIT)
    return Reading(model, "".join(str(p.digit) for p in digits), digits, boxes)


@dataclass(frozen=True)
class Reader:
    """Reads numbers with one model, the model store and the rules: steps 3-5 ask the model."""

    store: ModelStore
    model: str
    rules: Rules = RULES

    def classify(self, ink: np.ndarray, pieces: list[Piece]) -> list[Prediction]:
        """Each piece on its own ink (never the whole drawing: a group is judged apart from the
        other digits beside it)."""
        return self.store.predict_many([normalize_ink(own_ink(ink, p)) for p in pieces], self.model, pieces=True)

    def predict(self, prepared: list[Preprocessed]) -> list[Prediction]:
        """Every digit in one batch. A lone digit is judged exactly as `predict` judges it."""
        return self.store.predict_many(prepared, self.model, pieces=len(prepared) > 1)

    def sureness(self, predictions: list[Prediction]) -> float:
        """How sure the model is of a way of cutting: the log-odds of its least sure piece (less
        `refused_cost` if that is not a digit). Log-odds, not log probability: log probability
        squeezes every sure reading to about 0, so the width handicap of a wide "one digit" (a
        fraction of a unit) beat any sure whole digit against halves only 77% sure. The least
        sure piece, not the mean: a cut that turns a 7's serif into a doubtful 5 beside a sure 7
        must not win."""
        c = self.rules.cuts
        return float(min(_log_odds(self.top(p), c.odds_floor) - c.refused_cost * (p.digit is None)
                         for p in predictions))

    @cached_property
    def trust(self) -> Trust:
        """The model's calibration, read once per reading (the store looks at the weight file)."""
        return self.store.trust(self.model)

    def top(self, reading: Prediction) -> float:
        """How sure the model is of a piece, on the scale the rules were chosen in: its top
        probability at its MNIST-validation temperature (the one it had then)."""
        return self.trust.top_at_mnist_temperature(reading.probabilities)

    def doubted(self, reading: Prediction) -> bool:
        return reading.reason != EMPTY and (reading.digit is None or self.top(reading) < self.rules.looks.doubt)

    def one_digit_score(self, ink: np.ndarray, piece: Piece, neighbour_width: int) -> float:
        """How sure the model is that a wide group is one digit, with a handicap that grows with
        its width beyond a wide digit's, and a head start when it is no wider than another digit
        of the same number (two touching digits are about twice as wide as one)."""
        c = self.rules.cuts
        like_neighbour = 0 < neighbour_width and piece.width <= c.like_neighbour * neighbour_width
        return (self.sureness(self.classify(ink, [piece])) - c.wide_penalty * max(0.0, piece.aspect - c.wide_aspect)
                + c.neighbour_bonus * like_neighbour)

    def split_touching(self, ink: np.ndarray, piece: Piece, neighbour_width: int = 0) -> list[Piece]:
        """Step 3: one digit, or two that touch, whichever the classifier is surer of. A cut must
        leave two pieces of nearly the group's height (a 9's tail or a 2's loop is not a digit).
        `neighbour_width`: the widest other group of the number (0 when there is none). A group
        the judge is `one_sure` is one digit (a wide 0, 4 or 7) is not cut, nor one no wider than two
        digits that it is sure is no digit (an X, whose halves read "75"): it learned one or two
        digits, so a wider group is not its to refuse ("7777" written in one piece)."""
        c = self.rules.cuts
        if piece.aspect < c.touching_aspect:
            return [piece]
        one, two, other = self.judge_is_sure(ink, [piece], judge.ONE, judge.TWO, judge.OTHER)[0]
        if one or (other and piece.aspect <= c.three_aspect):
            return [piece]
        return self.best_cut(ink, piece, self.one_digit_score(ink, piece, neighbour_width), bend=two)

    def best_cut(self, ink: np.ndarray, piece: Piece, to_beat: float, min_sure: float | None = None,
                 bend: bool = False) -> list[Piece]:
        """The two halves of the cut the model is surest of, if surer than `to_beat` (and, with
        `min_sure`, both read as digits at least that sure); else the piece whole. With `bend`
        (the judge is sure the piece holds two digits), cuts that follow the gaps in the ink
        are tried too, at a small handicap: straight cuts are surer to keep each digit whole."""
        cuts = list(self.cuts(ink, piece, bend))
        if not cuts:
            return [piece]
        seen_whole = self.pair_reading(ink, piece) if bend else None
        # room for three digits: look one cut ahead
        pairs, scores = self.weigh(ink, cuts, seen_whole, ahead=piece.aspect >= self.rules.cuts.three_aspect)
        best, best_score = [piece], to_beat
        for (halves, _), pair, score in zip(cuts, pairs, scores):
            sure = min_sure is None or all(p.digit is not None and self.top(p) >= min_sure for p in pair)
            if sure and score > best_score:
                best, best_score = halves, score
        return best

    def weigh(self, ink: np.ndarray, cuts: list[tuple[list[Piece], bool]], seen_whole: np.ndarray | None,
              ahead: bool = False) -> tuple[list[list[Prediction]], list[float]]:
        """The model's reading of each cut's halves (one batch) and the cut's score: how sure
        the model is of it (`sureness`, or with `ahead` `looked_ahead`), less `bent_handicap`
        for a bent cut and the pair reader's `disagreement` (`seen_whole`: its reading of the
        piece, or None)."""
        said = self.classify(ink, [half for halves, _ in cuts for half in halves])
        pairs = [said[2 * k:2 * k + 2] for k in range(len(cuts))]
        against = self.disagreement(seen_whole, pairs)
        sure_of = (self.looked_ahead(ink, [halves for halves, _ in cuts], pairs) if ahead
                   else [self.sureness(pair) for pair in pairs])
        return pairs, [sure - self.rules.cuts.bent_handicap * bent - off
                       for (_, bent), sure, off in zip(cuts, sure_of, against)]

    def looked_ahead(self, ink: np.ndarray, cuts: list[list[Piece]], pairs: list[list[Prediction]]) -> list[float]:
        """How sure the model is of each cut (`sureness` of its halves), where a half wide enough
        to be cut again (`ahead_aspect`) counts as the surer of itself whole and its own best
        straight cut: in "000" written in one piece, "0 | 00" is the way to three digits, though
        "00" alone is no digit. `best_cut` asks it only for a group with room for three digits
        (`three_aspect`): a letter is rarely that wide. One step ahead only, and only where it
        can raise the cut's score (a half doubted more than its sister); its cuts are read in
        one batch."""
        c = self.rules.cuts
        scores = [[self.sureness([p]) for p in pair] for pair in pairs]
        asked = [(k, j) for k, (halves, score) in enumerate(zip(cuts, scores)) for j, half in enumerate(halves)
                 if half.aspect >= c.ahead_aspect and score[j] < min(score[:j] + score[j + 1:], default=np.inf)]
        sub = [list(self.cuts(ink, cuts[k][j], bend=False)) for k, j in asked]
        said = iter(self.classify(ink, [h for found in sub for halves, _ in found for h in halves]))
        for (k, j), found in zip(asked, sub):
            best = max((self.sureness([next(said), next(said)]) for _ in found), default=-np.inf)
            scores[k][j] = max(scores[k][j], best)
        return [min(score) for score in scores]

    def pair_reading(self, ink: np.ndarray, piece: Piece) -> np.ndarray | None:
        """Step 6: how sure the pair reader, seeing the piece whole, is of each digit on each
        side ((SIDES, 10)); None without one."""
        pair = judge.shipped(judge.PAIR_NAME)
        return None if pair is None else judge.pair_digits(pair, [own_ink(ink, piece)])[0]

    def disagreement(self, seen_whole: np.ndarray | None, pairs: list[list[Prediction]]) -> np.ndarray:
        """Log-odds against each cut (`pairs`: the model's reading of its halves) that the pair
        reader, seeing the piece whole, reads less like its halves than the cut it agrees with
        most: `pair_weight` per unit of log probability (each side's clipped at `pair_floor`).
        All zeros without a pair reader. Relative to the best cut, so "one digit" is weighed
        against the cuts as before. A cut that carries a 6's left stroke into its neighbour
        leaves a sure 5; the pair reader saw the 6."""
        if seen_whole is None:
            return np.zeros(len(pairs))
        c = self.rules.cuts
        sides = np.log(np.maximum(seen_whole, c.pair_floor))
        said = np.array([[sides[k, p.digit] if p.digit is not None else np.log(c.pair_floor)
                          for k, p in enumerate(pair)] for pair in pairs])
        fit = said.sum(1)
        return c.pair_weight * (fit.max() - fit)

    def cuts(self, ink: np.ndarray, piece: Piece, bend: bool) -> Iterator[tuple[list[Piece], bool]]:
        """The two sides of each candidate cut that leaves both of nearly the group's height,
        and whether the cut bends (`ink_paths`, only with `bend`) or is a straight column."""
        c = self.rules.cuts
        starts = cut_candidates(ink, piece, c)
        sides = [(straight_halves(piece, cut), False) for cut in starts]
        if bend and starts:
            paths = {tuple(path): path for path in ink_paths(ink, piece, starts, c) if path.min() < path.max()}
            sides += [(path_halves(piece, path), True) for path in paths.values()]  # each bent path once
        for halves, bent in sides:
            if len(halves) == 2 and min(h.height for h in halves) >= c.half_height * piece.height:
                yield halves, bent

    def split_groups(self, ink: np.ndarray, groups: list[Piece]) -> list[Piece]:
        """Each group, cut where it holds touching digits, left to right."""
        out = []
        # Each group is weighed against the widest other group of the number, and so are its parts.
        todo = [(g, max((o.width for o in groups if o is not g), default=0)) for g in groups]
        while todo:  # a cut piece may itself be two digits (three touching in a row)
            piece, neighbour_width = todo.pop()
            parts = self.split_touching(ink, piece, neighbour_width)
            if len(parts) > 1:
                todo.extend((p, neighbour_width) for p in parts)
            else:
                out.extend(parts)
        return sorted(out, key=lambda p: (p.box[0] + p.box[2]) / 2)

    def second_look(self, ink: np.ndarray, pieces: list[Piece], said: list[Prediction], lone: bool) -> list[Piece]:
        """Step 4: in a number, a narrow piece the model refuses or doubts (`said`: its reading of
        each piece) is often two touching digits, one of them a 1 or both leaning into each
        other (together too narrow to be tried as wide groups are). A refused piece is cut
        where the model is at least `pair_sure` of both halves, so a letter beside digits is
        rarely read as two; a doubted one where the halves beat the whole by `doubt_margin`. A
        piece the judge is sure is one digit is not cut. Only drawings of several groups of ink
        are tried: a `lone` group (one letter, or one digit) never is."""
        if lone:
            return pieces
        lk = self.rules.looks
        looked = [lk.narrow_pair <= p.aspect < self.rules.cuts.touching_aspect and self.doubted(s)
                  for p, s in zip(pieces, said)]
        one = self.judged(ink, pieces, looked, judge.ONE)
        out = []
        for piece, reading, look, whole in zip(pieces, said, looked, one):
            out.extend(self.second_cut(ink, piece, reading) if look and not whole else [piece])
        return out

    def second_cut(self, ink: np.ndarray, piece: Piece, reading: Prediction) -> list[Piece]:
        lk = self.rules.looks
        if reading.digit is None:
            return self.best_cut(ink, piece, -np.inf, lk.pair_sure)
        return self.best_cut(ink, piece, self.sureness([reading]) + lk.doubt_margin, lk.doubt_sure)

    def third_look(self, ink: np.ndarray, pieces: list[Piece], said: list[Prediction], lone: bool) -> list[Piece]:
        """Step 5: a piece the model refuses or doubts, and the judge is sure holds two digits,
        cut where the model reads both halves as digits at least `pair_sure` (a lone group: the
        place a letter stands alone) or `doubt_sure` (in a number) sure. Without a judge, the
        pieces as they are."""
        lk = self.rules.looks
        looked = [p.aspect >= lk.judged_aspect and self.doubted(s) for p, s in zip(pieces, said)]
        two = self.judged(ink, pieces, looked, judge.TWO)
        min_sure = lk.pair_sure if lone else lk.doubt_sure
        out = []
        for piece, cut in zip(pieces, two):
            out.extend(self.best_cut(ink, piece, -np.inf, min_sure, bend=True) if cut else [piece])
        return out

    def cut_again(self, ink: np.ndarray, pieces: list[Piece], said: list[Prediction],
                  groups: list[Piece]) -> list[Piece]:
        """Step 7: two neighbours read as digits and cut from one group of ink (`groups`) are
        cut again, seen together: a cut that leaves a piece of one digit on the other (a 4's
        first stroke on the 8 beside it, the rest a sure 1) gives way to one whose halves read
        as the pair reader reads the two whole. A refused piece is left to refuse the number,
        so no letter is read here. Returns `pieces` itself when nothing changes."""
        out, readings, changed = list(pieces), list(said), False
        for k in range(len(out) - 1):
            if any(p.digit is None for p in readings[k:k + 2]) or not one_group(out[k], out[k + 1], groups):
                continue
            recut = self.recut_pair(ink, out[k], out[k + 1])
            if recut is not None:
                out[k:k + 2], readings[k:k + 2], changed = *recut, True
        return out if changed else pieces

    def recut_pair(self, ink: np.ndarray, left: Piece, right: Piece,
                   ) -> tuple[list[Piece], list[Prediction]] | None:
        """The halves and readings of the cut through both pieces weighed highest as `best_cut`
        weighs cuts where the judge is sure of two (bent cuts, the pair reader), if that is not
        the cut between them now; None where it is, or where the judge is not sure of two."""
        both = join_pieces(left, right)
        seen = self.pair_reading(ink, both) if self.judge_is_sure(ink, [both], judge.TWO)[0][0] else None
        if seen is None:
            return None
        cuts = [([left, right], False)] + list(self.cuts(ink, both, bend=True))
        pairs, scores = self.weigh(ink, cuts, seen)
        best = int(np.argmax(scores))  # ties keep the cut there is
        return (cuts[best][0], pairs[best]) if best > 0 else None

    def name_pairs(self, ink: np.ndarray, pieces: list[Piece], said: list[Prediction],
                   groups: list[Piece]) -> list[Piece]:
        """Step 8: in a number, a piece the model still refuses and the judge is sure holds two
        digits has no cut whose halves the model reads as digits: they share strokes. Rather
        than refuse the whole number, it is cut where its halves read most like the pair
        reader's reading of it whole, and the pair reader names the two, if at least
        `pair_names` sure of each. A drawing of one group of ink never is (a letter alone, an H,
        is two strokes a pair reader would gladly name). Returns `pieces` itself when nothing
        changes."""
        lk = self.rules.looks
        looked = [len(groups) > 1 and s.digit is None and p.aspect >= lk.judged_aspect for p, s in zip(pieces, said)]
        if not any(looked):
            return pieces
        out, changed = [], False
        for piece, two in zip(pieces, self.judged(ink, pieces, looked, judge.TWO)):
            named = self.named_halves(ink, piece) if two else None
            out.extend(named or [piece])
            changed |= named is not None
        return out if changed else pieces

    def named_halves(self, ink: np.ndarray, piece: Piece) -> list[Piece] | None:
        """The halves of the cut of `piece` the pair reader agrees with most, each carrying the
        digit it names there; None where it is not sure of both, or no cut parts the piece."""
        seen = self.pair_reading(ink, piece)
        cuts = [halves for halves, _ in self.cuts(ink, piece, bend=True)]
        if seen is None or not cuts or seen.max(axis=1).min() < self.rules.looks.pair_names:
            return None
        said = self.classify(ink, [half for halves in cuts for half in halves])
        closest = int(np.argmin(self.disagreement(seen, [said[2 * k:2 * k + 2] for k in range(len(cuts))])))
        return [replace(half, named=side) for half, side in zip(cuts[closest], seen)]

    def part_by_strokes(self, ink: np.ndarray, pieces: list[Piece], said: list[Prediction],
                        groups: list[Piece], pad: Strokes | None) -> list[Piece]:
        """Step 9: where the drawing is the pad's strokes, a piece holding several strokes is
        parted between two of them, in the order they were drawn (a number is written digit by
        digit; a stroke belongs to the piece holding most of it), where both parts read as
        digits at least `strokes.sure` sure, each as tall as a cut's sides must be: a 1 written
        into the 2 before it is a stroke of its own, though their ink is one. A lone refused
        piece never is (an H is a 1 and a 4), nor one the judge is sure is no digit (an X is
        two sure 1s). Returns `pieces` itself when nothing changes."""
        if pad is None:
            return pieces
        lines = [centre_line(points) for points in pad.strokes]
        shares = np.array([[share_on(piece.mask, line) for line in lines] for piece in pieces])
        owner = np.where(shares.max(axis=0) >= self.rules.strokes.share, shares.argmax(axis=0), -1)
        owned = [[int(i) for i in np.flatnonzero(owner == k)] for k in range(len(pieces))]
        looked = [len(owned[k]) > 1 and piece.named is None and not (reading.digit is None and len(groups) == 1)
                  for k, (piece, reading) in enumerate(zip(pieces, said))]
        no_digit = self.judged(ink, pieces, looked, judge.OTHER)
        out, changed = [], False
        for k, piece in enumerate(pieces):
            parts = None
            if looked[k] and not no_digit[k]:
                near = [(pieces[j], owned[j]) if 0 <= j < len(pieces) else None for j in (k - 1, k + 1)]
                parts = self.stroke_parts(ink, piece, pad, owned[k], *near)
            out.extend(parts or [piece])
            changed |= parts is not None
        return out if changed else pieces

    def stroke_parts(self, ink: np.ndarray, piece: Piece, pad: Strokes, inside: list[int],
                     before: tuple[Piece, list[int]] | None = None, after: tuple[Piece, list[int]] | None = None,
                     ) -> list[Piece] | None:
        """`piece` parted in two between consecutive strokes of `inside` where the model reads
        both parts surest; None where it holds more than `strokes.most` strokes (drawn in dabs,
        their order says little), where no parting reads as two sure digits side by side in the
        order drawn (the first part's middle left of the second's), each at least `half_height`
        as tall as the piece, or where a part goes on from the strokes of the digit beside it
        (`before`, `after`: a neighbour and its strokes) and reads with them as one sure digit:
        the rest of its stroke, left here by a cut."""
        if len(inside) > self.rules.strokes.most:
            return None
        partings = [(k, [stroke_piece(piece, pad, inside[:k]), stroke_piece(piece, pad, inside[k:])])
                    for k in range(1, len(inside))]
        partings = [(k, parts) for k, parts in partings if None not in parts and left_to_right(*parts)
                    and min(p.height for p in parts) >= self.rules.cuts.half_height * piece.height]
        if not partings:
            return None
        said = self.classify(ink, [p for _, parts in partings for p in parts])
        sure = [min(self.top(p) if p.digit is not None else 0.0 for p in said[2 * j:2 * j + 2])
                for j in range(len(partings))]
        best = int(np.argmax(sure))
        k = partings[best][0]
        if sure[best] < self.rules.strokes.sure or self.continues(ink, piece, pad, inside[:k], before, first=True) \
                or self.continues(ink, piece, pad, inside[k:], after, first=False):
            return None
        return partings[best][1]

    def continues(self, ink: np.ndarray, piece: Piece, pad: Strokes, part: list[int],
                  near: tuple[Piece, list[int]] | None, first: bool) -> bool:
        """Whether `part` of `piece`'s strokes was drawn right after (`first`) or right before
        the strokes of the neighbour `near`, and reads with them as one sure digit."""
        if near is None or not near[1] or (part[0] != near[1][-1] + 1 if first else part[-1] + 1 != near[1][0]):
            return False
        joined = stroke_piece(join_pieces(near[0], piece), pad, sorted(near[1] + part))
        reading = self.classify(ink, [joined])[0] if joined is not None else None
        return reading is not None and reading.digit is not None and self.top(reading) >= self.rules.strokes.sure

    def judged(self, ink: np.ndarray, pieces: list[Piece], looked: list[bool], answer: int) -> list[bool]:
        """For each piece, whether it is `looked` at and the judge is sure of `answer` for it
        (one batch for all the pieces looked at; False for the others)."""
        asked = [p for p, look in zip(pieces, looked) if look]
        said = iter(self.judge_is_sure(ink, asked, answer))
        return [look and next(said)[0] for look in looked]

    def judge_is_sure(self, ink: np.ndarray, pieces: list[Piece], *answers: int,
                      bar: float | None = None) -> list[tuple[bool, ...]]:
        """For each piece, whether the judge gives it each of `answers` at least `judge_sure`
        (`one_sure` for one digit; `bar` for every answer, where given; never, without a judge)."""
        judged = judge.shipped()
        if not pieces or judged is None:
            return [(False,) * len(answers)] * len(pieces)
        said = judge.answers(judged, [own_ink(ink, x) for x in pieces])[:, list(answers)]
        lk = self.rules.looks
        bars = [bar if bar is not None else lk.one_sure if a == judge.ONE else lk.judge_sure for a in answers]
        return [tuple(bool(p >= b) for p, b in zip(row, bars)) for row in said]

    def veto(self, ink: np.ndarray, pieces: list[Piece]) -> list[Piece]:
        """Step 10: in a number, each piece the judge is `veto` sure is no digit is marked so, and
        refuses the number for every model however surely it reads the piece: an A between two
        digits reads as a sure 4. A drawing of one piece reads as `predict`."""
        if len(pieces) < 2:
            return pieces
        vetoed = self.judge_is_sure(ink, pieces, judge.OTHER, bar=self.rules.looks.veto)
        return [replace(p, no_digit=True) if no else p for p, (no,) in zip(pieces, vetoed)]

    def segment_and_read(self, ink: np.ndarray, pad: Strokes | None = None,
                         ) -> tuple[list[Piece], list[Preprocessed], Reading]:
        """The digits of a drawing, left to right, their 28x28 views, and the model's reading. A
        refused or doubted piece gets a second and a third look, neighbours cut from one group
        a last one, and a piece still refused that the judge is sure holds two digits is named
        by the pair reader; last, the judge may veto a piece (step 10). Each step reuses the
        reading before it, so a drawing read at once costs no more."""
        groups = digit_groups(ink, self.rules.pieces)
        pieces = self.split_groups(ink, groups)
        prepared = prepare(ink, pieces)
        said = self.predict(prepared)
        for look in (self.second_look, self.third_look):  # each keeps a piece that needs no look, at no cost
            recut = look(ink, pieces, said, lone=len(groups) == 1)
            if len(recut) > len(pieces):
                pieces, prepared = recut, prepare(ink, recut)
                said = self.predict(prepared)
        lasts = (self.cut_again, self.name_pairs, partial(self.part_by_strokes, pad=pad))
        for last in lasts:  # each returns `pieces` itself when it changes nothing
            recut = last(ink, pieces, said, groups)
            if recut is not pieces:
                pieces, prepared = recut, prepare(ink, recut)
                said = self.predict(prepared)
        pieces = self.veto(ink, pieces)
        return pieces, prepared, _reading(self.model, said, pieces)

    def segment(self, ink: np.ndarray, pad: Strokes | None = None) -> list[Piece]:
        """The digits of a drawing, left to right."""
        return self.segment_and_read(ink, pad)[0]


def pad_of(image: Any) -> Strokes | None:
    """The pad's strokes, where the drawing is a pad's value (step 9 reads their order)."""
    return parse_strokes(image) if isinstance(image, dict) and "strokes" in image else None


def read(image: Any, model: str = DEFAULT_MODEL, store: ModelStore | None = None) -> Reading:
    """The number in a drawing, as one model reads it."""
    model = get_spec(model).name
    ink = ink_map(image)
    if isinstance(ink, NoInk):
        return Reading(model, None, reason=EMPTY)
    with pinned_threads:
        return Reader(store or default_store(), model).segment_and_read(ink, pad_of(image))[2]


def read_all(image: Any, store: ModelStore | None = None) -> dict[str, Reading]:
    """Every available model's reading, segmenting once (touching digits are cut where the
    default model is surest, so every model reads the same pieces)."""
    return read_ink_all(ink_map(image), store, pad_of(image))


def read_ink_all(ink: np.ndarray | NoInk, store: ModelStore | None = None,
                 pad: Strokes | None = None) -> dict[str, Reading]:
    """`read_all` of an ink map already made (the app decodes each drawing once); `pad`: the
    strokes it was drawn from, if any."""
    store = store or default_store()
    names = store.available()
    if isinstance(ink, NoInk) or not names:
        return {name: Reading(name, None, reason=EMPTY) for name in names}
    first = DEFAULT_MODEL if DEFAULT_MODEL in names else names[0]
    with pinned_threads:
        pieces, prepared, reading = Reader(store, first).segment_and_read(ink, pad)
        return {name: reading if name == first else _reading(name, Reader(store, name).predict(prepared), pieces)
                for name in names}
