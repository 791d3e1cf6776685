"""Accuracy on drawings that are not MNIST pixels: sketchpad canvases and scanned-style uploads.

Sources (none from MNIST's training split):
  pen-mnist   strokes traced along the skeletons of MNIST *test* digits, redrawn on an
              800x800 RGBA canvas the way a sketchpad does (black ink on transparent,
              round brush 8-40 px, digit 25-80% of the canvas, random position);
  pen-writer  the hand-made stroke templates of digits/synthetic/sketches.py, jittered, slanted and
              stretched like different writers, on the same kind of canvas;
  scan-mnist  MNIST test digits as scanned uploads: black on white, 64-400 px, blurred,
              noisy, random contrast and margins;
  scan-font   digits typeset in the fonts found on this machine, scanned the same way.

    python bench/drawn_digits.py [--per-source 1000] [--seed 0] [--save-examples DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import preprocess
from digits.synthetic.penstyle import skeleton_strokes
from digits.synthetic.sketches import draw_strokes, render
from digits.training.data import load_split

CANVAS = 800
BRUSH_RANGE = (8, 40)
HEIGHT_RANGE = (0.25, 0.8)
SCAN_RANGE = (64, 400)
FONT_GLOBS = ("/usr/share/fonts/truetype/**/*.ttf",)


def canvas_from_strokes(strokes, rng: np.random.Generator) -> np.ndarray:
    height = rng.uniform(*HEIGHT_RANGE) * CANVAS
    brush = rng.uniform(*BRUSH_RANGE)
    left = rng.uniform(brush, CANVAS - height * 0.8 - brush)
    top = rng.uniform(brush, CANVAS - height - brush)
    return np.asarray(draw_strokes(strokes, CANVAS, brush, (left, top, height, height), supersample=1))


def pen_mnist(images, rng):
    for img, label in images:
        yield canvas_from_strokes(skeleton_strokes(img), rng), label


def pen_writer(n, rng):
    for _ in range(n):
        digit = int(rng.integers(10))
        height = rng.uniform(*HEIGHT_RANGE)
        margin = height / 2 + 0.02
        centre = (rng.uniform(margin * 0.62, 1 - margin * 0.62), rng.uniform(margin, 1 - margin))
        yield render(digit, CANVAS, rng.uniform(*BRUSH_RANGE), height, centre, rng), digit


def scanned(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A [0, 1] ink image as a noisy black-on-white scan of a random size."""
    size = int(rng.integers(*SCAN_RANGE))
    ink_img = Image.fromarray((255 * ink).astype(np.uint8))
    margin = rng.uniform(0.05, 0.25)
    inner = max(8, int(size * (1 - 2 * margin)))
    ink_img = ink_img.resize((inner, inner), Image.BICUBIC)
    page = Image.new("L", (size, size), 0)
    page.paste(ink_img, ((size - inner) // 2, (size - inner) // 2))
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0, size / 150)))
    arr = np.asarray(page, dtype=np.float32) / 255
    paper, ink_level = rng.uniform(0.8, 1.0), rng.uniform(0.0, 0.3)
    out = paper - (paper - ink_level) * arr + rng.normal(0, 0.03, arr.shape)
    return (255 * np.clip(out, 0, 1)).astype(np.uint8)


def scan_mnist(images, rng):
    for img, label in images:
        yield scanned(img, rng), label


def font_digits(rng, n):
    import glob

    fonts = sorted({f for pattern in FONT_GLOBS for f in glob.glob(pattern, recursive=True)})
    if not fonts:
        return
    for _ in range(n):
        digit = int(rng.integers(10))
        font = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], 96)
        img = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(img).text((80, 80), str(digit), fill=255, font=font, anchor="mm")
        yield scanned(np.asarray(img, dtype=np.float32) / 255, rng), digit


def evaluate(source, store: ModelStore, names: list[str], save_dir: Path | None, tag: str):
    """Per model: (share answered right, share whose best guess is right, share refused as not a digit)."""
    hits = {n: [0, 0, 0] for n in names}
    total = empty = 0
    for i, (image, label) in enumerate(source):
        prepared = preprocess(image)
        total += 1
        if prepared.empty:
            empty += 1
            continue
        for n in names:
            p = store.predict_prepared(prepared, n)
            hits[n][0] += p.digit == label
            hits[n][1] += p.best_guess == label
            hits[n][2] += p.reason is not None
        if save_dir is not None and i < 8:
            Image.fromarray(image).save(save_dir / f"{tag}-{i}-label{label}.png")
    return {n: [h / max(total, 1) for h in hits[n]] for n in names}, total, empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-source", type=int, default=1000, help="drawings per source (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="(default: 0)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--save-examples", type=Path, default=None, help="write a few drawings here")
    args = parser.parse_args()
    if args.save_examples:
        args.save_examples.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    test = load_split(False, args.data_dir)
    pick = rng.choice(len(test), size=args.per_source, replace=False)
    mnist_pairs = [(test.images[i, 0].numpy(), int(test.labels[i])) for i in pick]
    store = ModelStore()
    names = store.available()
    sources = {
        "pen-mnist": pen_mnist(mnist_pairs, rng),
        "pen-writer": pen_writer(args.per_source, rng),
        "scan-mnist": scan_mnist(mnist_pairs, rng),
        "scan-font": font_digits(rng, args.per_source),
    }
    print("each model: answered right (best guess right, refused as not a digit)")
    print(f"{'source':<11} {'n':>5} {'empty':>5} " + " ".join(f"{n:>22}" for n in names))
    for tag, source in sources.items():
        start = time.perf_counter()
        acc, total, empty = evaluate(source, store, names, args.save_examples, tag)
        if total == 0:
            print(f"{tag:<11} (no inputs: no fonts found)" if tag == "scan-font" else f"{tag:<11} (none)")
            continue
        print(f"{tag:<11} {total:>5} {empty:>5} " + " ".join(
            f"{100 * acc[n][0]:>6.1f}% ({100 * acc[n][1]:.1f}%, {100 * acc[n][2]:.1f}%)" for n in names)
              + f"   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
