"""Latency of preprocessing + one model, and of predict_all, on an 800x800 sketchpad canvas.

Also the PNG round trip on the full MNIST test split: each 28x28 test image is written as a
PNG file's bytes, sent through the pipeline, and scored against the direct tensor evaluation.

    python bench/predict_speed.py [--repeats 200] [--round-trip]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
import torch

from digits.recognition.inference import INFERENCE_THREADS, ModelStore
from digits.recognition.preprocess import preprocess
from digits.synthetic.sketches import render

CANVAS = 800


def timed(fn, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def round_trip(store: ModelStore, names: list[str], data_dir: str | None) -> None:
    from PIL import Image

    from digits.evaluate import accuracy
    from digits.training.data import load_split

    test = load_split(False, data_dir)
    pngs = []
    for img in test.images[:, 0].numpy():
        buf = io.BytesIO()
        Image.fromarray((255 * img).round().astype(np.uint8)).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    prepared = [preprocess(p) for p in pngs]
    labels = test.labels.numpy()
    print(f"\nPNG round trip on the full test split ({len(labels)} images):")
    print(f"{'model':<8} {'direct':>8} {'via PNG':>8} {'diff':>7}")
    for name in names:
        direct = accuracy(store.get(name), test)
        hits = sum(store.predict_prepared(p, name).digit == y for p, y in zip(prepared, labels))
        via = hits / len(labels)
        print(f"{name:<8} {100 * direct:>7.2f}% {100 * via:>7.2f}% {100 * (via - direct):>+6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200, help="(default: 200)")
    parser.add_argument("--round-trip", action="store_true", help="also run the full-split PNG round trip")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(INFERENCE_THREADS)
    store = ModelStore()
    store.warm_up()
    names = store.available()
    canvas = render(5, canvas=CANVAS, brush=24, height_frac=0.6, variant=0)
    print(f"{CANVAS}x{CANVAS} RGBA canvas, {args.repeats} runs, torch threads {torch.get_num_threads()}")
    med, p95 = timed(lambda: preprocess(canvas), args.repeats)
    print(f"{'preprocess only':<22} median {med:6.2f} ms   p95 {p95:6.2f} ms")
    for name in names:
        med, p95 = timed(lambda name=name: store.predict(canvas, name), args.repeats)
        print(f"{'preprocess + ' + name:<22} median {med:6.2f} ms   p95 {p95:6.2f} ms")
    med, p95 = timed(lambda: store.predict_all(canvas), args.repeats)
    print(f"{'predict_all':<22} median {med:6.2f} ms   p95 {p95:6.2f} ms")
    if args.round_trip:
        round_trip(store, names, args.data_dir)


if __name__ == "__main__":
    main()
