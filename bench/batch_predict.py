"""`python -m digits predict --model all` over many 800x800 canvases: files per second.

Writes N sketchpad-style canvases (pen-style digits, transparent background; a few hundred
distinct drawings copied to N files) into a temporary folder, runs the CLI on the folder
with --json, checks one line per file and model in input order, and prints the rate.

    python bench/batch_predict.py [--files 10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from digits.models import list_models
from digits.synthetic.sketches import render

CANVAS = 800
DISTINCT = 200  # drawings rendered; the rest of the files are copies of them


def write_canvases(folder: Path, n: int) -> list[Path]:
    rng = np.random.default_rng(0)
    originals = []
    for i in range(min(n, DISTINCT)):
        path = folder / f"{i:05d}.png"
        Image.fromarray(render(i % 10, canvas=CANVAS, brush=float(rng.uniform(10, 40)), rng=rng)).save(path)
        originals.append(path)
    for i in range(len(originals), n):
        shutil.copyfile(originals[i % len(originals)], folder / f"{i:05d}.png")
    return sorted(folder.glob("*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000, help="canvases to classify (default: 10000)")
    parser.add_argument("--workers", type=int, default=None, help="CLI worker processes (default: one per core)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digits-batch-") as tmp:
        files = write_canvases(Path(tmp), args.files)
        cmd = [sys.executable, "-m", "digits", "predict", "--model", "all", "--json", tmp]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
        seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in out]
    models = len(list_models())
    assert len(rows) == len(files) * models, (len(rows), len(files))
    assert [r["file"] for r in rows[::models]] == [str(f) for f in files], "output not in input order"
    print(f"{len(files)} canvases of {CANVAS}x{CANVAS}, every model ({models}): {seconds:.1f} s, "
          f"{len(files) / seconds:.0f} files/s (process start and model loading included)")


if __name__ == "__main__":
    main()
