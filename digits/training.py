"""Train, measure on the test split, write a card and save: the step the CLI and the app share."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import feedback_dir, resolve_device
from .data import MNISTData
from .engine import CancelToken, ProgressCallback, TrainConfig, TrainResult, train
from .evaluate import accuracy
from .feedback import FeedbackStore
from .models import count_parameters, get_spec
from .visitors import MNIST_TOLERANCE, NoVisitorDrawings, VisitorSplit, visitor_split, with_visitors
from .weights import WeightsError, load_model_and_card, read_card, save_weights, weights_dir

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
    args += ["--feedback"] * cfg.feedback + ["--finetune"] * cfg.finetune
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


@dataclass
class VisitorRun:
    """What a run on visitors' drawings needs beyond the config: its data, the weights it
    starts from, and the current weights' figures on the same validation drawings."""

    data: MNISTData
    visitors: VisitorSplit | None
    init_state: dict[str, torch.Tensor] | None
    old_val: float | None  # the current weights on MNIST validation, measured now
    old_visitor_val: float | None

    @property
    def mnist_floor(self) -> float | None:
        return None if self.old_val is None else self.old_val - MNIST_TOLERANCE


def visitor_run(cfg: TrainConfig, data: MNISTData, directory: Path, feedback_folder=None) -> VisitorRun:
    """Plain MNIST for an ordinary run; with cfg.feedback, MNIST plus the visitors' drawings."""
    current = None
    if cfg.finetune or cfg.feedback:
        try:
            current, _ = load_model_and_card(cfg.model, directory)
        except WeightsError:
            if cfg.finetune:
                raise
    if not cfg.feedback:
        return VisitorRun(data, None, current.state_dict() if cfg.finetune else None, None, None)
    folder = feedback_dir(feedback_folder)
    if folder is None:
        raise NoVisitorDrawings("visitor drawings are switched off (DIGITS_FEEDBACK=off)")
    visitors = visitor_split(FeedbackStore(folder))
    mixed = with_visitors(data, visitors, cfg.finetune, cfg.seed)
    olds = (None, None) if current is None else (accuracy(current, data.val), accuracy(current, visitors.val))
    return VisitorRun(mixed, visitors, current.state_dict() if cfg.finetune else None, *olds)


def fit_and_save(cfg: TrainConfig, data: MNISTData, directory: os.PathLike | str | None = None,
                 on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 force: bool = False, feedback_folder: os.PathLike | str | None = None) -> Outcome:
    """Train; then replace the weights only if validation did not get worse.

    The decision uses the validation split (the test split is only reported); with visitors'
    drawings it weighs both (see `is_better`). A worse run is saved under weights/candidates/
    so nothing is lost and nothing is silently replaced. A cancelled run writes nothing.
    """
    directory = weights_dir(directory)
    previous = current_card(cfg.model, directory)
    run = visitor_run(cfg, data, directory, feedback_folder)
    result = train(cfg, run.data, on_progress=on_progress, cancel=cancel, init_state=run.init_state,
                   mnist_floor=run.mnist_floor)
    if result.cancelled:
        return Outcome(cfg.model, {}, previous, False, None, "cancelled: the previous weights are untouched")
    test_acc = accuracy(result.model, data.test)
    card = build_card(result, test_acc, previous)
    if run.visitors is not None:
        card["feedback"] = visitor_card(result, run)
    if is_better(result, run, previous) or force:
        path = save_weights(result.model, cfg.model, card, directory)
        message = (f"saved {path}: test {100 * test_acc:.2f}%"
                   + (f" (was {100 * previous['test_accuracy']:.2f}%)" if previous else ""))
        return Outcome(cfg.model, card, previous, True, path, message)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = save_weights(result.model, f"{cfg.model}-{stamp}", card, directory / CANDIDATES_DIR)
    message = (f"kept the previous weights (validation {100 * previous['val_accuracy']:.2f}% vs this run's "
               f"{100 * result.val_acc:.2f}%{visitor_note(result, run)}); this run is saved as {path}")
    return Outcome(cfg.model, card, previous, False, path, message)


def best_visitor_val(result: TrainResult) -> float | None:
    entry = next((h for h in result.history if h["epoch"] == result.best_epoch), {})
    return entry.get("visitor_val_acc")


def is_better(result: TrainResult, run: VisitorRun, previous: dict[str, Any] | None) -> bool:
    """Replace the current weights? Plain runs: MNIST validation at least as good. Runs on
    visitors' drawings: at least as good on the newest visitors' drawings and at most
    MNIST_TOLERANCE worse on MNIST validation, both against the current weights measured now."""
    if previous is None:
        return True
    if run.visitors is None or run.old_val is None:
        return result.val_acc >= previous.get("val_accuracy", 0.0)
    return result.val_acc >= run.mnist_floor and (best_visitor_val(result) or 0.0) >= run.old_visitor_val


def visitor_card(result: TrainResult, run: VisitorRun) -> dict[str, Any]:
    return {"through_id": run.visitors.through_id, "train_drawings": len(run.visitors.train),
            "val_drawings": len(run.visitors.val), "visitor_val_accuracy": best_visitor_val(result),
            "previous_visitor_val_accuracy": run.old_visitor_val, "previous_val_accuracy_now": run.old_val,
            "finetuned": result.config.finetune}


def visitor_note(result: TrainResult, run: VisitorRun) -> str:
    if run.visitors is None or run.old_visitor_val is None:
        return ""
    return (f"; visitors {100 * run.old_visitor_val:.2f}% vs {100 * (best_visitor_val(result) or 0):.2f}%, "
            f"MNIST validation now {100 * run.old_val:.2f}%")
