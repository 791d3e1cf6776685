"""Train, measure on the test split, write a card and save: the step the CLI and the app share."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import resolve_device
from .data import MNISTData
from .engine import CancelToken, ProgressCallback, TrainConfig, TrainResult, train
from .evaluate import accuracy
from .models import count_parameters, get_spec
from .weights import WeightsError, read_card, save_weights, weights_dir

CANDIDATES_DIR = "candidates"  # runs that did not beat the current weights are kept here


@dataclass
class Outcome:
    """What a finished run did with its weights."""

    name: str
    card: dict[str, Any]
    previous: dict[str, Any] | None
    replaced: bool
    path: Path | None  # None when the run was cancelled and nothing was written
    message: str


PRECISION_FLAGS = {"bfloat16": "bf16", "float32": "fp32"}  # card precision -> the CLI's --precision


def reproduce_command(cfg: TrainConfig, precision: str | None = None) -> str:
    """The CLI command that repeats this run: recipe, seed, the precision it really used, and
    whether the speed-ups ran (their kernels round differently from PyTorch's)."""
    r = cfg.recipe
    args = ["python", "-m", "digits", "train", "--model", cfg.model, "--epochs", str(r.epochs),
            "--batch-size", str(r.batch_size), "--lr", repr(r.lr), "--seed", str(cfg.seed)]
    if cfg.max_batches is not None:
        args += ["--max-batches", str(cfg.max_batches)]
    if precision in PRECISION_FLAGS:
        args += ["--precision", PRECISION_FLAGS[precision]]
    if not cfg.accel:
        args.append("--no-accel")
    return shlex.join(args)


def build_card(result: TrainResult, test_acc: float, previous: dict[str, Any] | None) -> dict[str, Any]:
    cfg = result.config
    spec = get_spec(cfg.model)
    return {
        "model": cfg.model,
        "display_name": spec.display_name,
        "description": spec.description,
        "architecture": spec.architecture,
        "parameters": count_parameters(result.model),
        "recipe": {**cfg.to_dict(), "bf16": result.backend.get("precision") == "bfloat16"},  # as it ran
        "backend": result.backend,
        "epochs": cfg.recipe.epochs,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "seed": cfg.seed,
        "val_accuracy": round(result.val_acc, 6),
        "test_accuracy": round(test_acc, 6),
        "train_seconds": round(result.seconds, 2),
        "device": result.backend.get("device", str(resolve_device(cfg.device))),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "command": reproduce_command(cfg, result.backend.get("precision")),
        "history": result.history,
        "previous": None if previous is None else {
            k: previous.get(k) for k in ("val_accuracy", "test_accuracy", "date", "command")},
    }


def current_card(name: str, directory: os.PathLike | str | None) -> dict[str, Any] | None:
    try:
        return read_card(name, directory)
    except WeightsError:
        return None


def fit_and_save(cfg: TrainConfig, data: MNISTData, directory: os.PathLike | str | None = None,
                 on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 force: bool = False) -> Outcome:
    """Train; then replace the weights only if validation accuracy did not get worse.

    The decision uses the validation split (the test split is only reported). A worse
    run is saved under weights/candidates/ so nothing is lost and nothing is silently
    replaced. A cancelled run writes nothing.
    """
    directory = weights_dir(directory)
    previous = current_card(cfg.model, directory)
    result = train(cfg, data, on_progress=on_progress, cancel=cancel)
    if result.cancelled:
        return Outcome(cfg.model, {}, previous, False, None, "cancelled: the previous weights are untouched")
    test_acc = accuracy(result.model, data.test)
    card = build_card(result, test_acc, previous)
    better = previous is None or result.val_acc >= previous.get("val_accuracy", 0.0)
    if better or force:
        path = save_weights(result.model, cfg.model, card, directory)
        message = (f"saved {path}: test {100 * test_acc:.2f}%"
                   + (f" (was {100 * previous['test_accuracy']:.2f}%)" if previous else ""))
        return Outcome(cfg.model, card, previous, True, path, message)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = save_weights(result.model, f"{cfg.model}-{stamp}", card, directory / CANDIDATES_DIR)
    message = (f"kept the previous weights (validation {100 * previous['val_accuracy']:.2f}% beats "
               f"this run's {100 * result.val_acc:.2f}%); this run is saved as {path}")
    return Outcome(cfg.model, card, previous, False, path, message)
