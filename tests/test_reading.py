"""Whole numbers: segmentation (pure functions and properties), reading, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from digits.inference import ModelStore, Prediction
from digits.preprocess import ink_map
from digits.reading import (
    FRAGMENT_COST,
    Piece,
    best_path,
    candidates,
    digit_score,
    read,
    read_all,
    segment,
    slices,
    strokes,
)
from digits.sketches import app_canvas, draw_strokes, number_canvas


@pytest.fixture(scope="module")
def store():
    return ModelStore()


def _count(store, image) -> int:
    return len(segment(ink_map(image), store, "modern"))


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


def test_touching_digits_are_cut_where_the_classifier_is_surest(store):
    image = number_canvas("00", gap=-0.05)  # the two rings touch: one piece of ink
    assert len(strokes(ink_map(image))) == 1
    assert read(image, "modern", store).text == "00"


@pytest.mark.parametrize(("text", "gap"), [("000", -0.05), ("000", -0.1), ("838", -0.15)])
def test_three_touching_digits_are_all_cut_apart(store, text, gap):
    image = number_canvas(text, gap=gap)  # every digit touches the next: one piece of ink
    assert len(strokes(ink_map(image))) == 1
    assert read(image, "modern", store).text == text


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


def _piece(box, shape=(10, 12)) -> Piece:
    mask = np.zeros(shape, bool)
    mask[box[1]:box[3], box[0]:box[2]] = True
    return Piece(mask, box)


def test_best_path_picks_the_runs_with_the_highest_total():
    # atoms 0, 1, 2: "0 and 1 as one digit, then 2" beats "each alone", which beats "all three as one"
    scores = {(0, 1): -2.0, (1, 2): -2.0, (2, 3): -0.1, (0, 2): -0.5, (0, 3): -6.0, (1, 3): -9.0}
    assert best_path(3, scores) == [(0, 2), (2, 3)]
    assert best_path(3, {**scores, (0, 3): -0.2}) == [(0, 3)]
    assert best_path(3, {(0, 1): -1.0, (1, 2): -1.0, (2, 3): -1.0}) == [(0, 1), (1, 2), (2, 3)]


def test_candidates_never_join_pieces_across_a_wide_gap_or_two_sure_digits_side_by_side():
    left, near, far = _piece((0, 0, 2, 10)), _piece((3, 0, 5, 10)), _piece((9, 0, 11, 10))
    runs = candidates([left, near, far])
    assert (0, 2) in runs and runs[(0, 2)].box == (0, 0, 5, 10)  # 1 px apart: may be one digit
    assert (1, 3) not in runs and (0, 3) not in runs  # 4 px apart under a 10 px height: never one
    assert (0, 2) not in candidates([left, near, far], settled=frozenset({id(left), id(near)}))


def test_a_fragment_is_never_a_digit_on_its_own():
    tall, flag = _piece((0, 0, 3, 10)), _piece((3, 0, 5, 2))  # a 5's flag drawn apart
    sure = store_free_prediction(digit=1, p=0.999)
    assert digit_score(flag, sure, tallest=10) <= digit_score(tall, sure, tallest=10) - FRAGMENT_COST


def store_free_prediction(digit: int, p: float) -> Prediction:
    probs = [(1 - p) / 9] * 10
    probs[digit] = p
    return Prediction("modern", digit, probs, None)


def test_slices_cover_a_wide_piece_exactly_and_leave_a_narrow_one_whole():
    image = number_canvas("00", gap=-0.05)
    ink = ink_map(image)
    (piece,) = strokes(ink)
    parts = slices(ink, piece, piece.height)
    assert len(parts) > 2 and all(p.cut_from == piece.box for p in parts)
    assert (np.logical_or.reduce([p.mask for p in parts]) == piece.mask).all()
    assert sum(p.mask.sum() for p in parts) == piece.mask.sum()  # no column in two slices
    (one,) = strokes(ink_map(app_canvas(1, variant=0)))
    assert slices(ink_map(app_canvas(1, variant=0)), one, one.height) == [one]


def test_a_wide_digit_beside_others_is_judged_on_its_own_ink(store):
    """A round 0 (as wide as tall) between two digits stays one digit: the cut is weighed on the 0's own ink,
    not on the whole drawing's (which no single digit explains)."""
    image = np.asarray(draw_strokes(
        [[(0.1, 0.0), (0.1, 1.0)], _ring(0.45, 0.5, 0.21, 0.5), [(0.8, 0.0), (0.8, 1.0)]],
        800, 24, (100, 80, 600, 240)).crop((0, 0, 800, 400)))
    assert read(image, "modern", store).text == "101"


def _ring(cx: float, cy: float, rx: float, ry: float) -> list[tuple[float, float]]:
    return [(cx + rx * np.cos(t), cy + ry * np.sin(t)) for t in np.linspace(0, 2 * np.pi, 40)]
