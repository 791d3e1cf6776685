"""Ruled paper: a notebook's printed lines and margin line taken out of a photo's ink, and
every stroke of a digit left in."""

from __future__ import annotations

import numpy as np
import pytest

from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import _paper, _stretch, _unit, ink_from_array, preprocess
from digits.recognition.reading import read
from digits.recognition.rulings import RULE_MIN_PX, without_rulings
from digits.synthetic.photos import photographed, ruled
from digits.synthetic.sketches import number_canvas, writer_strokes
from digits.synthetic.writers import as_pad

PAPER, PEN = 230, 40  # grey levels of the test pages (of 255)


def _ink(image: np.ndarray) -> np.ndarray:
    """The ink map before rulings are taken out: the paper's difference, stretched."""
    arr = _unit(image)
    return _stretch(np.abs(arr - _paper(arr)))


def _page(size: int = 300) -> np.ndarray:
    return np.full((size, size), PAPER, np.uint8)


def test_a_faint_line_across_the_page_is_cleared_and_the_pen_crossing_it_kept():
    page = _page()
    page[120:123, :] = 190  # a printed line, about 17% darker than the paper
    page[20:280, 148:156] = PEN  # a 1 written across it
    out = without_rulings(_ink(page))
    assert out[118:125, :140].max() == 0 and out[118:125, 160:].max() == 0
    assert out[121, 148:156].min() > 0.9  # the pen where it crosses the line


def test_a_margin_line_down_the_page_is_cleared():
    page = _page()
    page[:, 40:43] = 180
    page[60:240, 140:148] = PEN
    out = without_rulings(_ink(page))
    assert out[:, 35:50].max() == 0 and out[60:240, 140:148].min() > 0.9


@pytest.mark.parametrize("grey", [PEN, 90])
def test_a_stroke_as_dark_as_the_pen_is_no_ruling(grey):
    """A 7 cut tight to its ink: its bar runs across the whole image, as dark as the rest of
    the pen (or nearly: a bar pressed more lightly)."""
    page = _page()
    page[0:8, :] = grey
    rows = np.arange(8, 300)
    for y in rows:  # the downstroke, from the bar's right end to the bottom left
        x = int(290 - (y - 8) * 0.6)
        page[y, x - 4:x + 4] = PEN
    ink = _ink(page)
    assert without_rulings(ink) is ink


def test_a_small_image_is_never_ruled():
    page = _page(RULE_MIN_PX - 1)
    page[40:42, :] = 190
    page[10:80, 40:44] = PEN
    ink = _ink(page)
    assert without_rulings(ink) is ink


def test_a_photo_on_plain_paper_is_left_as_it_is():
    rng = np.random.default_rng(5)
    for digit in range(10):
        ink = _ink(photographed(as_pad(writer_strokes(digit, rng, variant=0), rng), rng))
        assert without_rulings(ink) is ink, digit


def test_a_photo_on_ruled_paper_reads_as_on_plain_paper():
    """Writers' digits photographed on plain paper and on ruled paper with darker lines and a
    margin line: the same box, and the same answer (before, the lines' box was the page's).
    A fine pen running along a line at a shallow angle may lose a stretch there."""
    store, rng, boxed, same = ModelStore(), np.random.default_rng(11), 0, 0
    for digit in range(10):
        photo = photographed(as_pad(writer_strokes(digit, rng, variant=0), rng), rng)
        plain, lined = preprocess(photo), preprocess(ruled(photo, rng, margin=True, darkness=(0.3, 0.45)))
        boxed += np.abs(np.subtract(plain.placement.bbox, lined.placement.bbox)).max() <= 0.02 * photo.shape[0]
        same += store.predict_prepared(lined, "modern").digit == store.predict_prepared(plain, "modern").digit == digit
    assert boxed >= 9 and same >= 9, (boxed, same)


def test_a_number_on_ruled_paper_is_read():
    canvas = number_canvas("305", (800, 400))[:, :, 3].astype(np.float32) / 255
    photo = (PAPER - (PAPER - PEN) * canvas).astype(np.uint8)
    lined = ruled(photo, np.random.default_rng(2), margin=True, darkness=(0.3, 0.3))
    assert read(lined, "modern", ModelStore()).text == "305"


def test_a_red_margin_in_a_colour_photo_is_cleared():
    """In the strongest channel a red margin is as dark as a black pen; in grey it is faint."""
    page = np.full((300, 300, 3), PAPER, np.uint8)
    page[:, 40:43] = (235, 60, 70)
    page[60:240, 140:148] = PEN
    out = ink_from_array(page)
    assert out[:, 35:50].max() == 0 and out[60:240, 140:148].min() > 0.9
