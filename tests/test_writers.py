"""Drawings that vary as new writers do: the ranges they are drawn from."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digits.recognition.strokes import PAD_PX, PEN_PX
from digits.synthetic.photos import INK, PAPER, PHOTO_SCALE, SHADOW, VIGNETTE, photographed, uneven_light
from digits.synthetic.sketches import writer_strokes
from digits.synthetic.writers import (
    FLAG_ANGLE_DEG,
    FLAG_LENGTH,
    UPRIGHT_DEG,
    WRITERS,
    as_pad,
    flagged_ones,
    flagged_training,
    with_flag,
    writer_drawings,
)
from digits.training.data import Split
from tests.conftest import synthetic_data

SQUARE = [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]  # one stroke round a unit box


def test_a_writing_style_sets_the_size_pen_and_shape_of_a_drawing():
    upright = replace(WRITERS, slant_deg=0, turn_deg=0, aspect=(0.5, 0.5), size=(0.4, 0.4), pen=(2.0, 2.0),
                      wobble=0.0)
    drawn = as_pad(SQUARE, np.random.default_rng(0), upright)
    points = np.concatenate(drawn.strokes)
    width, height = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    assert np.isclose(height, 0.4 * PAD_PX) and np.isclose(width, 0.5 * height)
    assert np.isclose(drawn.pen, 2.0 * PEN_PX)
    slanted = as_pad(SQUARE, np.random.default_rng(0), replace(upright, slant_deg=40))
    assert not np.allclose(np.concatenate(slanted.strokes), points)


def test_wider_ranges_draw_the_same_digits_from_the_same_stream():
    """`bench/writer_stress.py` compares styles on the same digits: a style changes how each is
    drawn, never which are drawn."""
    split = synthetic_data(n=64).test
    fitted = writer_drawings(split, 40, np.random.default_rng(3))
    wider = writer_drawings(split, 40, np.random.default_rng(3), replace(WRITERS, slant_deg=40, aspect=(1.25, 1.6)))
    assert [label for _, label in fitted] == [label for _, label in wider]
    assert all(len(a.strokes) == len(b.strokes) for (a, _), (b, _) in zip(fitted, wider))
    assert not np.allclose(fitted[0][0].strokes[0], wider[0][0].strokes[0])


def test_a_flag_falls_from_the_top_of_the_stem_down_and_to_the_left():
    stem = [[(0.5, 0.0), (0.5, 0.5)], [(0.5, 0.5), (0.5, 1.0)]]  # a traced 1: short strokes, unit height
    for seed in range(20):
        flag, *rest = with_flag(stem, np.random.default_rng(seed))
        assert rest == stem and flag[1] == (0.5, 0.0)  # drawn from the top, the 1 itself untouched
        dx, dy = np.subtract(flag[0], flag[1])
        assert dx < 0 < dy  # down and to the left
        assert FLAG_LENGTH[0] <= np.hypot(dx, dy) <= FLAG_LENGTH[1]
        assert FLAG_ANGLE_DEG[0] <= np.degrees(np.arctan2(-dx, dy)) <= FLAG_ANGLE_DEG[1]


def test_flagged_ones_are_upright_ones_with_one_stroke_more(mnist):
    """`--flagged-ones`: only 1s, only those upright enough that a flag cannot make a 7's
    angle with the stem, each drawn as a new writer draws, with the flag as its first stroke."""
    split = Split(mnist.train.images[:400], mnist.train.labels[:400])
    upright = replace(WRITERS, slant_deg=0, turn_deg=0, aspect=(1.0, 1.0), size=(0.4, 0.4), wobble=0.0)
    drawn = flagged_ones(split, 12, np.random.default_rng(0), upright)
    assert 0 < len(drawn) <= 12 and {label for _, label in drawn} == {1}
    for strokes, _ in drawn:
        (x0, y0), (x1, y1) = strokes.strokes[0]
        top = min((p for s in strokes.strokes[1:] for p in s), key=lambda p: p[1])
        assert np.allclose((x1, y1), top) and x0 < x1 and y0 > y1
        body = np.concatenate(strokes.strokes[1:])
        low = body[np.argmax(body[:, 1])]
        assert abs(np.degrees(np.arctan2(x1 - low[0], low[1] - y1))) <= UPRIGHT_DEG + 1
    training = flagged_training(split, 12, seed=0)
    assert training.images.shape[1:] == (1, 28, 28) and set(training.labels.tolist()) == {1}


def test_uneven_light_falls_off_as_asked():
    across = uneven_light(np.ones((50, 80), np.float32), 0.4, 0.0, 0.0)
    assert across.max() == pytest.approx(1.0) and across.min() == pytest.approx(0.6)
    assert (np.diff(across[10]) <= 0).all()  # darker towards the light's angle (along x)
    corners = uneven_light(np.ones((50, 80), np.float32), 0.0, 0.3, 0.0)
    assert corners[0, 0] == pytest.approx(0.7, abs=0.01) and corners[25, 40] == pytest.approx(1.0, abs=0.01)


def test_a_photo_is_the_pads_drawing_at_photo_scale_on_grey_paper():
    rng = np.random.default_rng(0)
    strokes = as_pad(writer_strokes(3, rng), rng)
    photo = photographed(strokes, rng, pen=6.0)
    assert photo.dtype == np.uint8
    assert photo.shape == (round(strokes.height * PHOTO_SCALE), round(strokes.width * PHOTO_SCALE))
    assert np.median(photo) > 255 * PAPER[0] * (1 - SHADOW[1]) * (1 - VIGNETTE[1]) - 20  # mostly paper
    assert photo.min() < 255 * (INK[1] + 0.15)  # and some ink
