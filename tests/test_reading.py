"""Whole numbers: segmentation (pure functions and properties), reading, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from digits.recognition import judge, reading
from digits.recognition.inference import NOT_A_DIGIT, ModelStore, Prediction
from digits.recognition.pieces import (
    Piece,
    attach_fragments,
    digit_groups,
    group_pieces,
    ink_paths,
    prepare,
    several_digits,
    strokes,
)
from digits.recognition.preprocess import ink_map
from digits.recognition.reading import RULES, Reader, read, read_all
from digits.recognition.trust import Trust
from digits.synthetic import negatives
from digits.synthetic.penstyle import pen_number, write_number
from digits.synthetic.sketches import (
    APP_CANVAS_PX,
    APP_NUMBER_BRUSH_RADIUS_PX,
    app_canvas,
    draw_strokes,
    number_canvas,
    writer_glyph,
)
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def store():
    return ModelStore()


def _count(store, image) -> int:
    return len(Reader(store, "modern").segment(ink_map(image)))


@pytest.mark.parametrize("digit", range(10))
def test_one_digit_reads_exactly_as_predict(store, digit):
    canvas = app_canvas(digit, variant=1)
    r, p = read(canvas, "lenet5", store), store.predict(canvas, "lenet5")
    assert r.text == str(p.digit) and r.digits[0].probabilities == p.probabilities and r.reason is None


@pytest.mark.parametrize("text", ["2026", "147", "77", "4590", "31", "808", "1969"])
def test_numbers_read_left_to_right(store, text):
    r = read(number_canvas(text), "modern", store)
    assert r.text == text
    assert [b[0] for b in r.boxes] == sorted(b[0] for b in r.boxes)  # boxes left to right
    assert all(0 <= b[0] < b[2] <= 800 and 0 <= b[1] < b[3] <= 400 for b in r.boxes)


DETACHED = {  # digits written in strokes that do not touch
    5: [[(0.3, 0.0), (0.9, 0.0)],
        [(0.2, 0.12), (0.16, 0.44), (0.55, 0.38), (0.88, 0.62), (0.75, 0.92), (0.4, 1.0), (0.08, 0.88)]],
    7: [[(0.05, 0.0), (0.85, 0.0)], [(0.97, 0.06), (0.38, 1.0)]],
    4: [[(0.62, 0.0), (0.05, 0.68), (0.95, 0.68)], [(0.72, 0.84), (0.72, 1.1)]],
}


@pytest.mark.parametrize("digit", sorted(DETACHED))
def test_a_digit_of_several_strokes_stays_one_digit(store, digit):
    image = np.asarray(draw_strokes(DETACHED[digit], 336, 20, (90, 50, 150, 240)))
    assert len(strokes(ink_map(image))) == 2  # two pieces of ink ...
    assert _count(store, image) == 1  # ... one digit
    assert read(image, "modern", store).text == str(digit)


def test_a_sevens_bar_over_the_next_digit_does_not_swallow_it(store):
    image = number_canvas("71", gap=-0.25)  # the 7's bar reaches over the 1
    assert _count(store, image) == 2 and read(image, "modern", store).text == "71"


@pytest.mark.parametrize("text", ["000", "5002", "7777"])
def test_several_digits_in_one_piece_of_ink_come_apart_one_cut_at_a_time(store, text):
    image = number_canvas(text, gap=-0.1)  # every digit overlaps the next: all of it is one piece
    assert len(strokes(ink_map(image))) == 1
    assert read(image, "modern", store).text == text


def test_a_letter_the_judge_is_sure_is_no_digit_is_not_cut_into_digits(store):
    """An X written alone in number mode, 1.2 times as wide as tall: cut down the middle its
    halves read "75", surely; the judge is sure it is no digit, so it stays whole and refused.
    "7777" written in one piece is wider than two digits: cut as before (the test above)."""
    from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX

    w, h = NUMBER_PAD
    x = [[(0.35, 0.25), (0.65, 0.75)], [(0.65, 0.25), (0.35, 0.75)]]
    pad = {"strokes": [[[u * w, v * h] for u, v in s] for s in x], "width": w, "height": h, "pen": NUMBER_PEN_PX}
    reader, ink = Reader(store, "modern"), ink_map(pad)
    (group,) = digit_groups(ink)
    assert 1.0 < group.aspect < 1.5 and reader.judge_is_sure(ink, [group], judge.OTHER) == [(True,)]
    assert len(reader.best_cut(ink, group, reader.one_digit_score(ink, group, 0))) == 2  # a cut would win
    assert len(reader.split_touching(ink, group)) == 1
    assert read(pad, "modern", store).reason == NOT_A_DIGIT


@pytest.mark.parametrize("seed", [3, 7])
def test_a_letter_the_judge_is_certain_of_between_two_digits_refuses_the_number(store, seed):
    """An A written between a 2 and a 5 on the number pad reads "245", its A a sure 4, unless
    the judge, all but certain that piece is no digit, vetoes it: then every model refuses
    the number, and still reads the digits around it."""
    from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX

    rng = np.random.default_rng(seed)
    glyphs = [writer_glyph(2, rng), negatives.letter_strokes("A", rng), writer_glyph(5, rng)]
    drawn: list = []
    write_number(glyphs, rng, NUMBER_PAD, (-0.08, 0.6), NUMBER_PEN_PX, strokes_out=drawn)
    pad = {"strokes": drawn, "width": NUMBER_PAD[0], "height": NUMBER_PAD[1], "pen": NUMBER_PEN_PX}
    readings = read_all(pad, store)
    assert all(r.reason == NOT_A_DIGIT and r.text is None for r in readings.values())
    assert [p.digit for p in readings["modern"].digits] == [2, None, 5]
    assert readings["modern"].digits[1].best_guess == 4
    unvetoed = replace(RULES, looks=replace(RULES.looks, veto=1.01))
    assert Reader(store, "modern", unvetoed).segment_and_read(ink_map(pad), reading.pad_of(pad))[2].text == "245"


def test_touching_digits_are_cut_where_the_classifier_is_surest(store):
    image = number_canvas("00", gap=-0.05)  # the two rings touch: one piece of ink
    assert len(group_pieces(strokes(ink_map(image)))) == 1
    assert read(image, "modern", store).text == "00"


@settings(max_examples=25, deadline=None)
@given(text=st.text("0123456789", min_size=2, max_size=4), gap=st.floats(0.35, 0.8),
       scale=st.floats(0.35, 0.7), dx=st.integers(-40, 40), dy=st.integers(-30, 30))
def test_count_never_changes_for_well_separated_digits(store, text, gap, scale, dx, dy):
    image = number_canvas(text, canvas=(1000, 400), height_frac=scale, gap=gap, shift=(dx, dy))
    assert _count(store, image) == len(text)


def test_reasons_and_json_shape(store):
    blank = np.zeros((400, 800, 4), np.uint8)
    assert read(blank, "cnn", store).reason == "empty" and read(blank, "cnn", store).text is None
    readings = read_all(number_canvas("42"), store)
    assert sorted(readings) == sorted(store.available())
    row = readings["modern"].as_dict()
    assert row["text"] == "42" and row["reason"] is None and len(row["digits"]) == 2
    assert all(len(d["probabilities"]) == 10 and len(d["box"]) == 4 for d in row["digits"])


def test_cli_read_json(tmp_path):
    Image.fromarray(number_canvas("305")).save(tmp_path / "n.png")
    (tmp_path / "bad.png").write_bytes(b"nope")
    proc = subprocess.run([sys.executable, "-m", "digits", "read", "--model", "modern", "--json",
                           str(tmp_path / "n.png"), str(tmp_path / "bad.png")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1 and rows[0]["text"] == "305" and rows[0]["file"].endswith("n.png")
    assert [d["digit"] for d in rows[0]["digits"]] == [3, 0, 5]
    assert rows[1]["text"] is None and "not an image" in rows[1]["error"]


def test_several_digits_tells_a_number_from_one_digit_of_several_strokes():
    assert several_digits(ink_map(number_canvas("2026", (336, 336))))
    assert several_digits(ink_map(number_canvas("11", (336, 336))))
    for digit in (4, 5, 7):  # drawn with two strokes each
        assert not several_digits(ink_map(app_canvas(digit, variant=1)))
    assert not several_digits(ink_map(np.zeros((336, 336, 4), np.uint8)))  # empty


def test_a_short_fragment_joins_the_nearest_digit_instead_of_standing_alone():
    tall = Piece(np.zeros((10, 10), bool), (0, 0, 3, 10))
    other = Piece(np.zeros((10, 10), bool), (6, 0, 9, 10))
    flag = Piece(np.zeros((10, 10), bool), (3, 0, 5, 2))  # a 5's flag drawn apart, beside the first
    for p in (tall, other, flag):
        p.mask[p.box[1]:p.box[3], p.box[0]:p.box[2]] = True
    groups = attach_fragments([tall, flag, other])
    assert [g.box for g in groups] == [(0, 0, 5, 10), (6, 0, 9, 10)]


def test_a_wide_digit_beside_others_is_judged_on_its_own_ink(store):
    """A round 0 (as wide as tall) between two digits stays one digit: the cut is weighed on the 0's own ink,
    not on the whole drawing's (which no single digit explains)."""
    image = np.asarray(draw_strokes(
        [[(0.1, 0.0), (0.1, 1.0)], _ring(0.45, 0.5, 0.21, 0.5), [(0.8, 0.0), (0.8, 1.0)]],
        800, 24, (100, 80, 600, 240)).crop((0, 0, 800, 400)))
    assert read(image, "modern", store).text == "101"


def _ring(cx: float, cy: float, rx: float, ry: float) -> list[tuple[float, float]]:
    return [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]


def test_dots_beside_a_digit_join_it_but_a_one_stands_alone(store):
    """Two dots one above the other (a colon, slips of the pen) are as tall as half a digit but
    have far less ink than any digit: they are part of their neighbour, not a "1". A real 1
    between two 8s (the least ink beside the most) stays a digit."""
    dots = [[(0.97, 0.5), (0.975, 0.52)], [(0.97, 0.95), (0.975, 0.97)]]  # right of the 7, clear of it
    image = np.asarray(draw_strokes([[(0.1, 0.05), (0.8, 0.05), (0.35, 1.0)], *dots], 800, 24,
                                    (250, 100, 250, 220)).crop((0, 0, 800, 400)))
    assert len(group_pieces(strokes(ink_map(image)))) == 2  # the colon really is a piece of its own
    assert read(image, "modern", store).text == "7"
    assert read(number_canvas("818", rng=np.random.default_rng(3)), "modern", store).text == "818"


class _Sure:
    """A stand-in classifier: a whole group reads as a 4, 95% sure; each half of a cut as a
    digit, 99.9% sure (a wide 4 whose halves look like a 4 and a 1)."""

    def predict_many(self, prepared, model, pieces=False):
        sure = 0.95 if len(prepared) == 1 else 0.999
        return [Prediction(model, 4, [sure] + [(1 - sure) / 9] * 9, None) for _ in prepared]

    def trust(self, model):
        return Trust()  # probabilities on the scale the rules were chosen in


def test_a_group_no_wider_than_the_numbers_other_digits_is_rather_one_digit():
    """One writer's digits are alike in width: two touching digits are about twice as wide as
    one. A group no wider than the widest other digit of the number needs much surer halves
    to be cut; a group twice as wide as it, or with no other digit to compare, does not."""
    ink = ink_map(number_canvas("00", gap=-0.05))
    (group,) = group_pieces(strokes(ink))
    assert len(Reader(_Sure(), "modern").split_touching(ink, group)) == 2
    assert len(Reader(_Sure(), "modern").split_touching(ink, group, neighbour_width=group.width // 2)) == 2
    assert len(Reader(_Sure(), "modern").split_touching(ink, group, neighbour_width=group.width)) == 1


@pytest.mark.parametrize("pair", ["17", "14"])
def test_a_one_touching_its_neighbour_in_a_number_is_cut_out(store, pair):
    """A 1 written into its neighbour makes a group too narrow to be tried as a wide one, and
    the model refuses it whole; beside other digits it gets a second look, cut where the model
    is sure of both halves."""
    image = np.concatenate([number_canvas("5", (400, 400)), number_canvas(pair, (400, 400), gap=-0.4)], axis=1)
    groups = attach_fragments(group_pieces(strokes(ink_map(image))))
    assert len(groups) == 2 and groups[1].width < RULES.cuts.touching_aspect * groups[1].height
    assert read(image, "modern", store).text == "5" + pair


@pytest.mark.parametrize("pair", ["23", "35", "88"])
def test_two_digits_leaning_into_each_other_read_as_one_doubted_digit_are_cut(store, pair):
    """Two digits written into each other make a narrow group the model reads as one digit,
    but unsure of it (an "88" as an 8 at 74%); beside other digits it gets a second look, and
    is cut where the model is far surer of both halves."""
    image = np.concatenate([number_canvas("5", (400, 400)), number_canvas(pair, (400, 400), gap=-0.4)], axis=1)
    ink = ink_map(image)
    groups = attach_fragments(group_pieces(strokes(ink)))
    assert len(groups) == 2 and groups[1].aspect < RULES.cuts.touching_aspect
    whole = store.predict_many(prepare(ink, groups), "modern", pieces=True)[1]
    assert whole.digit is not None and whole.top_probability < RULES.looks.doubt  # read, but doubted
    assert read(image, "modern", store).text == "5" + pair


@pytest.mark.parametrize("seed", range(4))
def test_a_new_writers_number_written_with_clear_gaps_reads_exactly(store, seed):
    """`penstyle.write_number` lays a writer's digits left to right (the bench's stand-in for
    pen-written numbers); with clear gaps between their ink every digit is read, in order."""
    rng = np.random.default_rng(seed)
    text = "".join(str(d) for d in rng.integers(0, 10, 4))
    image, spans, layers = write_number([writer_glyph(int(d), rng) for d in text], rng, (800, 400), (0.3, 0.6))
    assert len(spans) == len(layers) == 4 and all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    assert read(image, "modern", store).text == text


def _ink_columns(layer: np.ndarray) -> tuple[int, int]:
    xs = np.nonzero(layer[..., 3].max(0) > 0)[0]
    return int(xs[0]), int(xs[-1]) + 1


@pytest.mark.parametrize("brush", [None, 28.0])
def test_gaps_between_the_ink_keep_a_thick_pens_digits_apart(brush):
    """`write_number`'s gaps hold between the strokes' boxes: a pen wider than the gap joins
    the digits' ink. With `ink_gaps` they hold between the ink's boxes, whatever the pen, and
    the same rng still draws the same number."""
    gap = 0.05  # of the digit height
    text = "4170"

    def written(ink_gaps: bool):
        rng = np.random.default_rng(3)
        glyphs = [writer_glyph(int(d), rng) for d in text]
        return write_number(glyphs, rng, (800, 400), (gap, gap), brush, ink_gaps)

    (_, _, thin), (_, _, layers) = written(False), written(True)
    heights = [int(np.ptp(np.nonzero(layer[..., 3].max(1) > 0)[0])) for layer in layers]  # ink: > h
    assert heights == [int(np.ptp(np.nonzero(layer[..., 3].max(1) > 0)[0])) for layer in thin]  # the same digits
    height = min(heights)
    ink = [_ink_columns(layer) for layer in layers]
    between = [b[0] - a[1] for a, b in zip(ink, ink[1:])]
    assert all(0 < g <= gap * height for g in between), (between, height)
    touching = [b[0] - a[1] for a, b in zip(map(_ink_columns, thin), map(_ink_columns, thin[1:]))]
    assert all(g < 0 for g in touching)  # by the strokes' boxes, the pen's width overlaps each gap


def _without_judge(monkeypatch) -> None:
    monkeypatch.setattr(judge, "shipped", lambda name=judge.NAME: None)  # nor the pair reader


@pytest.mark.parametrize(("pair", "seed"), [("85", 0), ("21", 1), ("14", 7), ("47", 1)])
def test_two_digits_written_into_each_other_alone_are_read_with_the_judge(store, monkeypatch, pair, seed):
    """A lone group the model refuses or doubts is either one letter or two digits written into
    each other; the judge, which sees the whole group, tells them apart. Without it the pair
    reads as one digit or none."""
    rng = np.random.default_rng(seed)
    image = write_number([writer_glyph(int(d), rng) for d in pair], rng, (800, 400), (-0.06, -0.02))[0]
    assert len(attach_fragments(group_pieces(strokes(ink_map(image))))) == 1  # one piece of ink
    assert read(image, "modern", store).text == pair
    _without_judge(monkeypatch)
    assert read(image, "modern", store).text != pair


@pytest.mark.parametrize("letter", ["N", "H", "V", "U", "h", "M", "W", "A", "K"])
def test_the_judge_lets_no_refused_letter_through(store, monkeypatch, letter):
    """Letters whose halves could pass for digits (a V as "11", an h as "14") stay refused: the
    judge is not sure they are two digits."""
    readings = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        readings.append(write_number([negatives.letter_strokes(letter, rng)], rng, (800, 400), (0.0, 0.0))[0])
    with_judge = [read(image, "modern", store).reason for image in readings]
    _without_judge(monkeypatch)
    without = [read(image, "modern", store).reason for image in readings]
    assert NOT_A_DIGIT in without
    assert all(a == NOT_A_DIGIT for a, b in zip(with_judge, without) if b == NOT_A_DIGIT)


@pytest.mark.parametrize(("digit", "seed"), [("6", 4), ("6", 34)])
def test_a_wide_digit_the_judge_is_sure_of_is_not_cut(store, monkeypatch, digit, seed):
    """A digit written nearly twice as wide as usual, beside a 5: without the judge the reader
    cuts it into two sure halves; the judge, sure it is one digit, keeps it whole."""
    rng = np.random.default_rng(seed)
    wide = [[(x * 1.9, y) for x, y in s] for s in writer_glyph(int(digit), rng)]
    image = np.concatenate([write_number([writer_glyph(5, rng)], rng, (400, 400), (0, 0))[0],
                            write_number([wide], rng, (500, 400), (0, 0))[0]], axis=1)
    assert read(image, "modern", store).text == "5" + digit
    _without_judge(monkeypatch)
    assert len(read(image, "modern", store).digits) == 3


@pytest.mark.parametrize(("picks", "text", "seed"), [((5123, 5832), "44", 0), ((6392, 8610), "54", 1),
                                               ((3419, 2040), "15", 2)])
def test_a_digit_the_judge_calls_one_is_not_cut_into_a_digit_and_a_fragment(store, mnist, picks, text, seed):
    """MNIST test digits whose strokes run on (a 4's long bar, a 5's flag), traced with a pen and
    written as a number: cut at the judge's 99% into a digit and a sure fragment ("44" read
    "446"), though it gave them "one digit" 75-97%; `one_sure` keeps them whole."""
    glyphs = [mnist.test.images[k, 0].numpy() for k in picks]
    image = pen_number(glyphs, np.random.default_rng(seed), (800, 400), (-0.08, 0.6), ink_gaps=True)[0]
    assert read(image, "modern", store).text == text
    strict = replace(RULES, looks=replace(RULES.looks, one_sure=RULES.looks.judge_sure))
    assert len(Reader(store, "modern", strict).segment_and_read(ink_map(image))[2].digits) == len(text) + 1


class _HalvesAreSure:
    """A stand-in classifier that reads every piece it is shown (here: the halves of a cut)
    as a 5, 99.9% sure."""

    def predict_many(self, prepared, model, pieces=False):
        return [Prediction(model, 5, [0.0] * 5 + [0.999] + [0.001 / 4] * 4, None) for _ in prepared]

    def trust(self, model):
        return Trust()


@pytest.mark.parametrize("digit", ["3", "5", "8"])
def test_a_refused_digit_the_judge_is_sure_of_is_not_cut_on_a_second_look(monkeypatch, digit):
    """A wide digit beside a 1 that the model refuses whole (as it refuses some MNIST 5s with a
    long flag) gets a second look, and the cut's halves read as sure digits ("15" -> "153").
    The judge, sure the piece is one digit, keeps it whole, as it does for wide groups."""
    rng = np.random.default_rng(0)
    wide = [[(1.5 * x, y) for x, y in s] for s in writer_glyph(int(digit), rng)]
    image = np.concatenate([write_number([writer_glyph(1, rng)], rng, (300, 400), (0, 0))[0],
                            write_number([wide], rng, (400, 400), (0, 0))[0]], axis=1)
    ink = ink_map(image)
    pieces = attach_fragments(group_pieces(strokes(ink)))
    assert len(pieces) == 2 and RULES.looks.narrow_pair <= pieces[1].aspect < RULES.cuts.touching_aspect
    said = [Prediction("modern", 1, [0.0, 1.0] + [0.0] * 8, None),
            Prediction("modern", None, [0.1] * 10, None, reason=NOT_A_DIGIT)]
    assert len(Reader(_HalvesAreSure(), "modern").second_look(ink, pieces, said, lone=False)) == 2
    _without_judge(monkeypatch)
    assert len(Reader(_HalvesAreSure(), "modern").second_look(ink, pieces, said, lone=False)) == 3


def _bar(x0: int, width: int, height: int) -> Piece:
    piece = Piece(np.zeros((60, 60), bool), (x0, 0, x0 + width, height))
    piece.mask[:height, x0:x0 + width] = True
    return piece


def test_a_thin_stroke_with_a_quarter_of_a_digits_ink_joins_it_but_a_one_stands_alone():
    """A traced digit that fell apart leaves a thin stroke beside it, tall enough to pass for a
    digit, with under a quarter of a digit's ink: it joins its neighbour. A 1 has at least 0.3."""
    digits = [_bar(0, 10, 40), _bar(30, 10, 40)]
    stray = _bar(12, 4, 23)  # 92 pixels: 0.23 of a digit's 400
    one = _bar(48, 4, 36)  # 144 pixels: 0.36
    assert stray.ink < RULES.pieces.fragment_ink * digits[0].ink < 0.3 * digits[0].ink < one.ink
    groups = attach_fragments([*digits, stray, one])
    assert [g.box for g in groups] == [(0, 0, 16, 40), (30, 0, 40, 40), (48, 0, 52, 36)]


def test_a_bent_cut_slips_between_two_slanted_strokes_no_column_can_part():
    """Two parallel slanted strokes whose columns overlap: every straight column crosses ink,
    the cheapest bent path crosses none and leaves one stroke on each side."""
    ink = np.zeros((200, 200))
    for y in range(20, 180):
        x = 60 + (180 - y) // 16  # leaning right by 10 columns
        ink[y, x:x + 6] = 1.0
        ink[y, x + 16:x + 22] = 1.0
    piece = Piece(ink > 0, (60, 20, 92, 180))
    assert all((ink[:, x] > 0).any() for x in range(60, 92))  # no clean column
    path = ink_paths(ink, piece, [76])[0]
    assert len(path) == 160
    assert sum(ink[20 + y, x] for y, x in enumerate(path)) == 0
    left = np.arange(200)[None, :] < path[:, None]  # each row's columns left of the path
    assert int(ink[20:180][left].sum()) == int(ink[20:180][~left].sum()) == 6 * 160  # one stroke each side


@pytest.mark.parametrize(("text", "seed"), [("457", 1), ("598", 64), ("489", 9)])
def test_digits_written_into_each_other_are_read_with_bent_cuts(store, monkeypatch, text, seed):
    """A number whose digits are written into each other (boxes overlapping by 2-8% of their
    height): the judge is sure a piece holds two, and only a cut that bends around the
    strokes gives each digit its own ink."""
    rng = np.random.default_rng(seed)
    assert "".join(str(d) for d in rng.integers(0, 10, 3)) == text  # the writer's number
    image = write_number([writer_glyph(int(d), rng) for d in text], rng, (800, 400), (-0.08, -0.02))[0]
    assert read(image, "modern", store).text == text
    monkeypatch.setattr(reading, "ink_paths", lambda *args: [])
    assert read(image, "modern", store).text != text


@pytest.mark.parametrize(("text", "seed"), [("74", 78), ("06", 57), ("79", 82), ("56", 145)])
def test_the_pair_reader_picks_the_cut_that_keeps_each_digit_whole(store, monkeypatch, text, seed):
    """Two digits written deep into each other (boxes overlapping by 4-12% of their height):
    the surest cut carries a piece of one digit into the other (a 6 without its left stroke
    reads as a 5, a 4 as a 1). The pair reader, seeing the group whole, knows the two digits,
    and the reader takes the cut whose halves read as it reads them."""
    rng = np.random.default_rng(seed)
    assert "".join(str(d) for d in rng.integers(0, 10, 2)) == text  # the writer's number
    image = write_number([writer_glyph(int(d), rng) for d in text], rng, (800, 400), (-0.12, -0.04))[0]
    assert read(image, "modern", store).text == text
    shipped = judge.shipped
    monkeypatch.setattr(judge, "shipped", lambda name=judge.NAME: None if name == judge.PAIR_NAME else shipped(name))
    without = read(image, "modern", store).text
    assert without != text and without is not None and without[0] == text[0]  # the cut went wrong, not the judge


def test_disagreement_weighs_each_cut_against_the_one_the_pair_reader_agrees_with_most():
    reader = reading.Reader(None, "modern")  # disagreement asks no model
    seen_whole = np.full((2, 10), 0.001)
    seen_whole[0, 2], seen_whole[1, 6] = 0.5, 0.99  # "26" seen whole (the left side less sure)
    said = [[_said(2), _said(6)], [_said(2), _said(5)], [_said(2), _said(None)]]
    off = reader.disagreement(seen_whole, said)
    assert off[0] == 0 and off[1] == pytest.approx(reading.RULES.cuts.pair_weight * np.log(0.99 / 0.001))
    assert off[2] >= off[1] > 0  # a refused half agrees with nothing
    assert not reader.disagreement(None, said).any()  # without a pair reader, cuts are weighed as before


def _said(digit: int | None) -> Prediction:
    return Prediction("modern", digit, [0.1] * 10, None, reason=None if digit is not None else NOT_A_DIGIT)


@pytest.mark.parametrize(("text", "seed"), [("243", 38), ("698", 41), ("490", 158), ("704", 242)])
def test_neighbours_cut_from_one_group_are_cut_again_seen_together(store, monkeypatch, text, seed):
    """A number crowded onto the app's canvas with number mode's pen (boxes overlapping by up
    to 8% of the digits' height): a cut leaves a piece of one digit on its neighbour, and the
    rest reads as a sure digit (a 4 without its first stroke is a 1). Seen together, the pair
    reader knows both digits, and the two are cut again where their halves read as it reads
    them."""
    rng = np.random.default_rng(seed)
    assert "".join(str(d) for d in rng.integers(0, 10, 3)) == text  # the writer's number
    canvas, pen = (APP_CANVAS_PX, APP_CANVAS_PX), 2 * APP_NUMBER_BRUSH_RADIUS_PX
    image = write_number([writer_glyph(int(d), rng) for d in text], rng, canvas, (-0.08, 0.0), pen)[0]
    assert read(image, "modern", store).text == text
    ink, reader = ink_map(image), Reader(store, "modern")
    groups = digit_groups(ink)
    pieces = reader.split_groups(ink, groups)
    again = reader.cut_again(ink, pieces, reader.predict(prepare(ink, pieces)), groups)
    assert len(again) == len(pieces)  # cuts move; none is added or taken away, nor any ink
    assert (np.logical_or.reduce([p.mask for p in again]) == np.logical_or.reduce([p.mask for p in pieces])).all()
    monkeypatch.setattr(Reader, "cut_again", lambda self, ink, pieces, said, groups: pieces)
    without = read(image, "modern", store).text
    assert without != text and without is not None and len(without) == len(text)  # the same count, a digit wrong


@pytest.mark.parametrize(("text", "seed"), [("062", 200), ("299", 275), ("200", 425), ("069", 564)])
def test_two_digits_no_cut_parts_are_named_by_the_pair_reader(store, monkeypatch, text, seed):
    """A number crowded onto the app's canvas where two digits share strokes: the judge is sure
    the piece holds two, but every cut leaves a half the model refuses. The pair reader, which
    saw the piece whole, names both, for every model; without that step the number is refused."""
    rng = np.random.default_rng(seed)
    assert "".join(str(d) for d in rng.integers(0, 10, 3)) == text  # the writer's number
    canvas, pen = (APP_CANVAS_PX, APP_CANVAS_PX), 2 * APP_NUMBER_BRUSH_RADIUS_PX
    image = write_number([writer_glyph(int(d), rng) for d in text], rng, canvas, (-0.08, 0.0), pen)[0]
    ink = ink_map(image)
    pieces, _, said = Reader(store, "modern").segment_and_read(ink)
    assert said.text == text
    named = [k for k, p in enumerate(pieces) if p.named is not None]
    assert len(named) == 2 and named[1] == named[0] + 1  # one piece, cut in two
    assert not (pieces[named[0]].mask & pieces[named[1]].mask).any()
    for r in read_all(image, store).values():  # every model shows the pair reader's digits there
        assert [r.digits[k].digit for k in named] == [int(text[k]) for k in named]
    monkeypatch.setattr(Reader, "name_pairs", lambda self, ink, pieces, said, groups: pieces)
    assert read(image, "modern", store).reason == NOT_A_DIGIT


def test_a_drawing_of_one_group_is_never_named_by_the_pair_reader(store, monkeypatch):
    """A letter alone (an H is a 1 and a 4 to the pair reader) stays refused: step 8 only
    names pieces of a number of several groups of ink, and only where the judge is sure."""
    reader, piece = Reader(store, "modern"), _bar(0, 20, 40)
    monkeypatch.setattr(Reader, "judged", lambda self, ink, pieces, looked, answer: looked)
    monkeypatch.setattr(Reader, "named_halves", lambda self, ink, p: [p, p])
    ink, pieces, number = np.ones((40, 60)), [piece], [piece, _bar(40, 10, 40)]
    assert reader.name_pairs(ink, pieces, [_said(None)], groups=[piece]) is pieces  # alone: unchanged
    named = reader.name_pairs(ink, pieces, [_said(None)], groups=number)
    assert len(named) == 2 and all(p is piece for p in named)
    assert reader.name_pairs(ink, pieces, [_said(3)], groups=number) is pieces  # read: never asked


def _pad_number(glyphs, overlap: float, size: float = 200, top: float = 68, left: float = 150) -> dict:
    """Glyphs (strokes in units of their height) written left to right on number mode's pad,
    each box overlapping the one before by `overlap` of the height: the pad's value, strokes
    in the order a writer draws them."""
    from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX

    strokes, x = [], left
    for glyph in glyphs:
        strokes += [[[x + u * size, top + v * size] for u, v in s] for s in glyph]
        x += (max(u for s in glyph for u, _ in s) - overlap) * size
    return {"strokes": strokes, "width": NUMBER_PAD[0], "height": NUMBER_PAD[1], "pen": NUMBER_PEN_PX}


def test_the_pads_strokes_part_a_1_written_into_the_digit_before_it(store):
    """Step 9: a 1 written into the 3 before it is one piece of ink, read as a sure 3 from the
    picture alone; the pad's strokes, in the order drawn, part it into 3 and 1."""
    rng = np.random.default_rng(0)
    pad = _pad_number([writer_glyph(3, rng), writer_glyph(1, rng)], overlap=0.25)
    ink = ink_map(pad)
    assert len(digit_groups(ink)) == 1 and read(ink, "modern", store).text == "3"  # the ink alone
    assert read(pad, "modern", store).text == "31"
    assert {r.text for r in read_all(pad, store).values()} == {"31"}  # every model reads the parted pieces
    pieces = Reader(store, "modern").segment(ink, reading.pad_of(pad))
    assert [p.own is not None for p in pieces] == [True, True] and pieces[0].box[0] < pieces[1].box[0]


@pytest.mark.parametrize("digit", [4, 5, 7])
def test_a_digit_written_in_several_strokes_is_not_parted(store, digit):
    """A 4, 5 or 7 drawn in two strokes, alone and after another digit, reads as one digit:
    its strokes' parts are not two sure digits as tall as it."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        glyph = writer_glyph(digit, rng)
        if len(glyph) < 2:
            continue
        for glyphs, text in (([glyph], str(digit)), ([writer_glyph(8, rng), glyph], f"8{digit}")):
            pad = _pad_number(glyphs, overlap=-0.1)
            if read(ink_map(pad), "modern", store).text == text:  # read right from the ink alone ...
                assert read(pad, "modern", store).text == text  # ... and from the strokes


def test_a_letter_between_digits_is_not_parted_into_strokes(store):
    """An X between two digits is two strokes, each a 1 to the model: not parted (the judge is
    sure it is no digit; its strokes are not side by side in the order drawn), so refused."""
    rng = np.random.default_rng(4)
    glyphs = [writer_glyph(2, rng), negatives.letter_strokes("X", rng), writer_glyph(5, rng)]
    pad = _pad_number(glyphs, overlap=0.0, size=150)
    reader, ink = Reader(store, "modern"), ink_map(pad)
    pieces = reader.segment(ink)
    said = reader.predict(prepare(ink, pieces))
    assert len(pieces) == 3 and said[1].digit is None
    assert reader.part_by_strokes(ink, pieces, said, digit_groups(ink), reading.pad_of(pad)) is pieces
    assert read(pad, "modern", store).reason == NOT_A_DIGIT


def test_a_strokes_centre_line_is_dense_and_ends_where_it_does():
    """Step 9 asks which piece holds a stroke along its whole line, not only at its points."""
    from digits.recognition.strokes import centre_line

    line = centre_line(np.array([[0.0, 0.0], [30.0, 40.0], [30.0, 45.0]]))
    assert np.allclose(line[0], [0, 0]) and np.allclose(line[-1], [30, 45])
    assert np.hypot(*np.diff(line, axis=0).T).max() <= 1.0 + 1e-9 and len(line) >= 55
    assert np.allclose(centre_line(np.array([[5.0, 6.0]])), [[5.0, 6.0]])  # a dot is its point
