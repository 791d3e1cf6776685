"""Stray marks: a tap beside the drawing on the pad, a speck of dust on a photo, left out of
the digit instead of stretching its box."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from digits.recognition import preprocess as images
from digits.recognition.inference import ModelStore
from digits.recognition.stray import stray_marks
from digits.recognition.strokes import Strokes, preprocess_strokes, strokes_to_28, without_strays
from digits.synthetic.photos import photographed, specked
from digits.synthetic.sketches import writer_strokes
from digits.synthetic.writers import as_pad, writer_drawings

DIGIT = (100.0, 50.0, 200.0, 250.0)  # a digit's ink box on the pad: 100 wide, 200 tall


def test_a_small_mark_apart_from_the_drawing_is_stray():
    assert stray_marks([DIGIT, (300, 300, 310, 310)]) == [1]
    assert stray_marks([(300, 300, 310, 310), DIGIT]) == [0]


@pytest.mark.parametrize("mark", [
    (150, 100, 160, 110),  # inside the digit's box: a tap in a 0's hole, a dot on a stroke
    (200, 100, 210, 110),  # touching the box: a stroke's end lifted and put down again
    (205, 100, 215, 110),  # 5 apart of the box's 200: under the 5% gap
    (240, 60, 320, 240),  # apart, but as tall as a digit: a second digit, not a tap
])
def test_marks_near_the_drawing_or_as_large_as_a_digit_are_kept(mark):
    assert stray_marks([DIGIT, mark]) == []


def test_several_taps_are_dropped_and_a_lone_mark_never_is():
    assert stray_marks([DIGIT, (0, 0, 8, 8), (300, 300, 310, 310)]) == [2, 1]  # the furthest apart first
    assert stray_marks([(0, 0, 8, 8)]) == []
    assert stray_marks([(0, 0, 8, 8), (300, 300, 308, 308)]) == []  # two dots: neither is small beside the other


def with_tap(s: Strokes, at: tuple[float, float]) -> Strokes:
    return replace(s, strokes=s.strokes + (np.array([at, (at[0] + 1.0, at[1] + 1.0)]),))


def test_a_tap_in_a_corner_leaves_the_digit_as_drawn():
    three = as_pad(writer_strokes(3, np.random.default_rng(1)), np.random.default_rng(2))
    tapped = with_tap(three, (3.0, 3.0))
    assert len(without_strays(tapped).strokes) == len(three.strokes)
    image, _ = strokes_to_28(tapped)
    np.testing.assert_array_equal(image, strokes_to_28(three)[0])
    assert preprocess_strokes(tapped).placement == preprocess_strokes(three).placement
    assert ModelStore().predict(tapped.as_dict(), "modern").digit == 3


def test_no_stroke_of_a_writers_digit_is_taken_for_a_tap(mnist):
    """Digits drawn in several strokes (a 4, a 5's flag, a 7's bar) keep every stroke."""
    for s, _ in writer_drawings(mnist.test, 400, np.random.default_rng(3)):
        assert len(without_strays(s).strokes) == len(s.strokes)


def test_specks_on_a_photo_are_not_read_as_part_of_the_digit():
    rng = np.random.default_rng(4)
    seven = as_pad(writer_strokes(7, rng), rng)
    seven = replace(seven, strokes=tuple(p * [1, 0.7] + [0, 90] for p in seven.strokes))  # clear of the top
    photo = photographed(seven, rng)
    dusty = specked(photo, rng, top_share=1 / 8)  # where the digit is not
    clean, read = images.preprocess(photo), images.preprocess(dusty)
    assert read.placement.bbox == clean.placement.bbox
    assert np.abs(read.image28 - clean.image28).max() < 0.05
    assert ModelStore().predict(dusty, "modern").digit == 7


def test_an_image_at_mnists_scale_keeps_its_pieces(mnist):
    """A piece a pixel from a 28x28 digit is a broken stroke as often as dust: kept."""
    image = mnist.test.images[0, 0].numpy().copy()
    image[0:2, 0:2] = 1.0
    np.testing.assert_array_equal(images.without_strays(image), image)
