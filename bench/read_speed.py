"""How long reading a whole number takes: `read_all` (every model, segmenting once) on an
800x400 canvas holding four digits, against `predict_all` on one digit of the same canvas
size, on one torch thread (the app's setting). Also how many numbers are read right, for
template digits well apart, touching, and overlapping a little, and for numbers of 2-5 MNIST
*test* digits traced with a pen, written as people write numbers: one writer's brush and
height (within 10%), a slightly wavy baseline, gaps from slightly overlapping boxes to wide
(between the boxes of the strokes, or of the ink as the issue's held-out numbers; with the
bench's pens or the app's 28 px brush); and for numbers of 2-5 pen-template digits written
the same way, on this canvas, on the app's square sketchpad with each of its brushes (one
digit drawn large; a number's finer pen), and on number mode's pad, twice as wide, with its pen;
the last two also as the pad's strokes, as the app reads them (their order is step 9's).
Last, letters written in number mode (the letter templates by new writers, and letters in
fonts no training run uses, traced with a pen): how many the reader refuses, instead of
reading slices of them as digits; and a pen letter written between two digits ("2A5"), as
the pad's strokes.

    python bench/read_speed.py [--repeats 100] [--numbers 200] [--letters 200]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from not_a_digit import HELD_OUT_SEED as LETTERS_SEED  # seeds no training run uses
from timing import median_ms

from digits.recognition.inference import NOT_A_DIGIT, ModelStore
from digits.recognition.preprocess import preprocess
from digits.recognition.reading import read, read_all
from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX
from digits.synthetic import negatives
from digits.synthetic.penstyle import pen_number, write_number
from digits.synthetic.sketches import (
    APP_BRUSH_RADIUS_PX,
    APP_BRUSH_WIDTH_PX,
    APP_CANVAS_PX,
    APP_NUMBER_BRUSH_RADIUS_PX,
    number_canvas,
    writer_glyph,
)
from digits.training.data import load_split

CANVAS = (800, 400)
APP_CANVAS = (APP_CANVAS_PX, APP_CANVAS_PX)  # the app's sketchpad, where visitors write numbers
GAP_RANGE = (-0.08, 0.6)  # space between digits, as a share of a digit's height (negative: overlap)
TEMPLATE_SEED = 1  # the pen-template writers of the numbers written as the MNIST ones are
PEN_SEED = 1_000  # the MNIST-test numbers written with two pens


def mnist_number(images, labels, rng: np.random.Generator, brush_px: float | None = None,
                 ink_gaps: bool = False) -> tuple[np.ndarray, str, list[np.ndarray]]:
    """2-5 MNIST test digits traced with one pen and written left to right on an 800x400
    canvas: the canvas, the number, and each digit alone on a canvas of its own."""
    pick = rng.choice(len(labels), size=int(rng.integers(2, 6)), replace=False)
    image, _, layers = pen_number([images[i, 0].numpy() for i in pick], rng, CANVAS, GAP_RANGE, brush_px, ink_gaps)
    return image, "".join(str(int(labels[i])) for i in pick), layers


def template_number(rng: np.random.Generator, canvas: tuple[int, int] = CANVAS, brush_px: float | None = None,
                    ink_gaps: bool = False, strokes_out: list | None = None,
                    ) -> tuple[np.ndarray, str, list[np.ndarray]]:
    """2-5 pen-template digits of a new writer, written as `mnist_number` writes MNIST digits
    (gaps between the boxes of their strokes, or with `ink_gaps` of their ink: closer than
    `number_canvas`'s template boxes); `strokes_out` gets the strokes as drawn."""
    text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(2, 6))))
    glyphs = [writer_glyph(int(d), rng) for d in text]
    image, _, layers = write_number(glyphs, rng, canvas, GAP_RANGE, brush_px, ink_gaps, strokes_out=strokes_out)
    return image, text, layers


def template_pad(rng: np.random.Generator, canvas: tuple[int, int], pen: float) -> tuple[dict, str, list[np.ndarray]]:
    """`template_number`'s number (the same for the same rng) as the pad sends it: its strokes in
    the order drawn, the pad's size and pen. The reader gets their order (`docs/reading.md` step 9)."""
    drawn: list = []
    _, text, layers = template_number(rng, canvas, pen, strokes_out=drawn)
    return pad_value(drawn, canvas, pen), text, layers


def pad_value(drawn: list, canvas: tuple[int, int], pen: float) -> dict:
    """Strokes drawn by `write_number` as the pad sends them: its size and pen."""
    return {"strokes": drawn, "width": canvas[0], "height": canvas[1], "pen": pen}


def report(name: str, make: Callable[[], tuple[np.ndarray, str, list[np.ndarray]]], n: int,
           store: ModelStore) -> None:
    """How many of n numbers from `make` the modern CNN reads exactly, with the right count,
    refuses, and would read with a perfect segmentation (each digit alone, as drawn)."""
    exact = count = refused = alone = 0
    for _ in range(n):
        image, text, layers = make()
        r = read(image, "modern", store)
        exact += r.text == text
        count += len(r.digits) == len(text)
        refused += r.reason == "not a digit"
        alone += each_alone(layers, text, store)
    print(f"modern reads {name} (2-5 digits): {exact / n:.1%} exactly, digit count right "
          f"{count / n:.1%}, refused as not a digit {refused / n:.1%} of {n}")
    print(f"  the same numbers, each digit read alone as drawn (a perfect segmentation): {alone / n:.1%} exactly")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--numbers", type=int, default=200)
    parser.add_argument("--letters", type=int, default=200, help="of each kind")
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = ModelStore()
    store.warm_up()
    four, one = number_canvas("2026", CANVAS), number_canvas("7", CANVAS)
    print(f"median ms, {args.repeats} runs, one thread, {CANVAS[0]}x{CANVAS[1]} canvas")
    print(f"read_all, four digits    {median_ms(lambda: read_all(four, store), args.repeats):7.1f}")
    print(f"read_all, one digit      {median_ms(lambda: read_all(one, store), args.repeats):7.1f}")
    print(f"predict_all, one digit   {median_ms(lambda: store.predict_all(one), args.repeats):7.1f}")
    if args.numbers:
        read_numbers(args.numbers, store)
    if args.letters:
        refuse_letters(args.letters, store)


def read_numbers(n: int, store: ModelStore) -> None:
    """How well the modern CNN reads numbers: template boxes at three gaps, MNIST-test and
    pen-template numbers written as people write."""
    rng = np.random.default_rng(0)
    for name, gap in (("apart", 0.25), ("touching", 0.0), ("overlapping 10%", -0.1)):
        texts = ["".join(map(str, rng.integers(0, 10, int(rng.integers(2, 5))))) for _ in range(n)]
        right = sum(read(number_canvas(t, CANVAS, gap=gap, rng=rng), "modern", store).text == t for t in texts)
        print(f"modern reads {name:<16} {right / len(texts):.1%} of {len(texts)} numbers (2-4 digits)")
    test = load_split(False)
    report("MNIST-test numbers", lambda: mnist_number(test.images, test.labels, rng), n, store)
    # The same numbers (a new rng for each row; templates by the writers of TEMPLATE_SEED) with
    # the pens above and with the app's 28 px brush, a pen 0.14 of these digits' height (about
    # 200 px); the gaps between the strokes' boxes, as above (a pen wider than a gap joins two
    # digits' ink), or between the ink's boxes.
    for gaps, ink_gaps in (("strokes", False), ("ink", True)):
        for pen, brush in (("the pens above", None), ("the app's 28 px brush", APP_BRUSH_WIDTH_PX)):
            report(f"MNIST-test numbers (seed {PEN_SEED}), {pen}, gaps between the {gaps}",
                   partial(mnist_number, test.images, test.labels, np.random.default_rng(PEN_SEED), brush, ink_gaps),
                   n, store)
            report(f"pen-template numbers, {pen}, gaps between the {gaps}",
                   partial(template_number, np.random.default_rng(TEMPLATE_SEED), CANVAS, brush, ink_gaps), n, store)
    for name, radius in (("one-digit", APP_BRUSH_RADIUS_PX), ("number", APP_NUMBER_BRUSH_RADIUS_PX)):
        same_writers = np.random.default_rng(TEMPLATE_SEED)  # the same writers and numbers with each pen
        report(f"app canvas, {name} brush", partial(template_number, same_writers, APP_CANVAS, 2 * radius), n, store)
    # Where a visitor writes a number: number mode's pad, twice as wide as tall, and its pen.
    report(f"the number pad, {NUMBER_PAD[0]}x{NUMBER_PAD[1]}, its pen",
           partial(template_number, np.random.default_rng(TEMPLATE_SEED), NUMBER_PAD, NUMBER_PEN_PX), n, store)
    # The same numbers as the app reads them: the pad's strokes, in the order they were drawn.
    pads = (("app canvas, number brush", APP_CANVAS), (f"the number pad, {NUMBER_PAD[0]}x{NUMBER_PAD[1]}", NUMBER_PAD))
    for name, canvas in pads:
        same_writers = np.random.default_rng(TEMPLATE_SEED)
        report(f"{name}, the pad's strokes", partial(template_pad, same_writers, canvas, NUMBER_PEN_PX), n, store)


def refuse_letters(n: int, store: ModelStore) -> None:
    """How many letters (pen templates; fonts no training run uses) written alone in number
    mode the modern CNN refuses, and how many numbers with a pen letter between two digits."""
    for kind, seed in (("pen-letter", LETTERS_SEED), ("font-letter", LETTERS_SEED + 4)):
        drawn = negatives.canvases(n, seed, {kind: 1}, negatives.font_split()[1])
        refused = sum(read(neg.canvas, "modern", store).reason == NOT_A_DIGIT for neg in drawn)
        print(f"modern refuses {refused / n:.1%} of {n} {kind}s written in number mode")
    rng = np.random.default_rng(LETTERS_SEED)
    refused = sum(read(letter_between(rng), "modern", store).reason == NOT_A_DIGIT for _ in range(n))
    print(f"modern refuses {refused / n:.1%} of {n} numbers with a pen letter between two digits (the pad's strokes)")


def letter_between(rng: np.random.Generator) -> dict:
    """A pen letter by a new writer between two of their digits, written on the number pad with
    its pen, as the pad sends it."""
    letters = list(negatives.LETTERS)
    glyphs = [writer_glyph(int(rng.integers(10)), rng),
              negatives.letter_strokes(letters[int(rng.integers(len(letters)))], rng),
              writer_glyph(int(rng.integers(10)), rng)]
    drawn: list = []
    write_number(glyphs, rng, NUMBER_PAD, GAP_RANGE, NUMBER_PEN_PX, strokes_out=drawn)
    return pad_value(drawn, NUMBER_PAD, NUMBER_PEN_PX)


def each_alone(layers: list[np.ndarray], text: str, store: ModelStore) -> bool:
    """Would the number be read right if it were cut perfectly? Each digit alone, as drawn,
    judged as a number's digit is (the lenient piece threshold)."""
    predictions = store.predict_many([preprocess(layer) for layer in layers], "modern", pieces=True)
    return all(p.digit == int(d) for p, d in zip(predictions, text))


if __name__ == "__main__":
    main()
