"""Drawings that vary as new writers do: the ranges they are drawn from."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digits.recognition.strokes import PAD_PX, PEN_PX
from digits.synthetic.photos import INK, PAPER, PHOTO_SCALE, SHADOW, VIGNETTE, photographed, uneven_light
from digits.synthetic.sketches import writer_strokes
from digits.synthetic.writers import WRITERS, as_pad, writer_drawings
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
