"""How long an explanation takes, on one torch thread (the app's setting): per model and
method, and every model at once (what the Draw tab's panel computes), on a 336x336
sketchpad canvas, preprocessing included. Then again while a training job runs in another
process (`python -m digits train`, into a temporary folder).

    python bench/explain_speed.py [--repeats 100] [--no-training]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch
from timing import median_ms

from digits.explain.explanations import METHODS, explain, explain_all
from digits.recognition.inference import ModelStore
from digits.synthetic.sketches import app_canvas

TRAINING_WARMUP_S = 10  # the job loads MNIST and starts its batches


def cycling(fn, canvases):
    """A call of fn on the next canvas each time (ten digits, round and round)."""
    turn = iter(range(10**9))
    return lambda: fn(canvases[next(turn) % len(canvases)])


def table(store: ModelStore, repeats: int) -> list[tuple[str, str, float]]:
    canvases = [app_canvas(d, variant=0) for d in range(10)]
    rows = []
    for method in METHODS:
        for model in store.available():
            one = cycling(lambda c, m=model, k=method: explain(c, m, k, store=store), canvases)
            rows.append((model, method, median_ms(one, repeats)))
        every = cycling(lambda c, k=method: explain_all(c, k, store=store), canvases)
        rows.append(("all four", method, median_ms(every, repeats)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--no-training", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    store = ModelStore()
    store.warm_up()
    results = {"idle": table(store, args.repeats)}
    if not args.no_training:
        with tempfile.TemporaryDirectory() as tmp:
            job = subprocess.Popen([sys.executable, "-m", "digits", "train", "--model", "modern", "--weights-dir",
                                    tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
            try:
                time.sleep(TRAINING_WARMUP_S)
                results["training"] = table(store, args.repeats)
            finally:
                job.kill()
    print(f"median ms, {args.repeats} explanations each, one thread, 336x336 canvas")
    print(f"{'model':<9} {'method':<22} " + " ".join(f"{k:>9}" for k in results))
    for i, (model, method, _) in enumerate(results["idle"]):
        print(f"{model:<9} {method:<22} " + " ".join(f"{rows[i][2]:>9.1f}" for rows in results.values()))


if __name__ == "__main__":
    main()
