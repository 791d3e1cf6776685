"""Classify many image files fast: each file decoded and preprocessed once, files spread over
worker processes (one torch thread each), results in input order."""

from __future__ import annotations

import glob
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import torch

from digits.config import accel_enabled
from digits.recognition.inference import ModelStore, Prediction
from digits.recognition.preprocess import preprocess
from digits.training.accel.fastpath import tune_allocator

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
INLINE_BELOW = 64  # fewer files than this: starting worker processes costs more than it saves
CHUNK = 32  # files handed to a worker at a time

FileResult = tuple[str, dict[str, Prediction] | str]  # (file, predictions by model, or the error)


def expand(paths: Iterable[str]) -> list[str]:
    """Files as given; a directory stands for the images in it (sorted); a glob for its matches."""
    out: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            out += sorted(str(p) for p in Path(path).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif glob.has_magic(path):
            out += sorted(glob.glob(path, recursive=True))
        else:
            out.append(path)  # kept even if missing: it gets its own error row
    return out


_store: ModelStore | None = None
_models: list[str] = []


def _init_worker(weights_dir: str | None, models: list[str]) -> None:
    global _store, _models
    torch.set_num_threads(1)  # one thread per process: the processes share the cores
    if accel_enabled():  # the speed-up switch (DIGITS_ACCEL) covers this tweak here too
        tune_allocator()  # reuse the big decode buffers instead of mapping fresh pages per file
    _store, _models = ModelStore(weights_dir), models


def _prepare(file: str):
    try:
        return preprocess(Path(file))
    except Exception as exc:  # one bad file must not stop the others
        return f"{type(exc).__name__}: {exc}"


def _classify_chunk(files: list[str]) -> list[FileResult]:
    """Decode and preprocess each file once, then every requested model on the whole chunk."""
    prepared = [_prepare(f) for f in files]
    good = [p for p in prepared if not isinstance(p, str)]
    try:
        by_model = {name: iter(answers) for name, answers in _store.predict_each(good, _models).items()}
    except Exception as exc:  # e.g. unusable weights: every file says why
        return [(f, f"{type(exc).__name__}: {exc}") for f in files]
    # The 28x28 images stay in the worker: only answers cross the process boundary.
    return [(f, p if isinstance(p, str) else {name: replace(next(it), image28=None) for name, it in by_model.items()})
            for f, p in zip(files, prepared)]


def predict_files(files: list[str], models: list[str], weights_dir: str | None = None,
                  workers: int | None = None) -> Iterator[FileResult]:
    """(file, {model: Prediction} or error message) for every file, in input order."""
    workers = workers or os.cpu_count() or 1
    chunks = [files[i:i + CHUNK] for i in range(0, len(files), CHUNK)]
    if workers == 1 or len(files) < INLINE_BELOW:
        _init_worker(weights_dir, models)
        for chunk in chunks:
            yield from _classify_chunk(chunk)
        return
    # fork: the workers start at once, sharing the parent's imported modules (nothing has
    # started torch's thread pool yet); elsewhere the platform's default start method
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(weights_dir, models)) as pool:
        for results in pool.map(_classify_chunk, chunks):
            yield from results
