"""Train, measure on the test split, write a card and save: the step the CLI and the app share."""

from __future__ import annotations

import datetime as dt
import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from digits.config import feedback_dir, resolve_device
from digits.evaluate import accuracy, fair_drawings, predict_logits
from digits.models import count_parameters, get_spec, list_models
from digits.recognition import trust
from digits.recognition.panel import stamp, write_panel
from digits.synthetic.negatives import negative_recipe, training_negatives
from digits.synthetic.penstyle import pen_split
from digits.synthetic.writers import flagged_training, writer_digits, writer_traced
from digits.training.data import MadeOnce, MNISTData, Split, with_training
from digits.training.engine import CancelToken, ProgressCallback, TrainConfig, TrainResult, train
from digits.visitors.finetune import (
    MNIST_TOLERANCE,
    NEGATIVE_REPLAY_SHARE,
    NoVisitorDrawings,
    VisitorSplit,
    drawings_split,
    visitor_split,
    with_visitors,
)
from digits.visitors.store import FeedbackStore
from digits.weights import WeightsError, lineage, load_model_and_card, read_card, save_weights, weights_dir

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
    if cfg.negatives:
        args += ["--negatives", str(cfg.negatives)]
    if cfg.pen_digits:
        args += ["--pen-digits", str(cfg.pen_digits)]
    if cfg.flagged_ones:
        args += ["--flagged-ones", str(cfg.flagged_ones)]
    return shlex.join(args)


def build_card(result: TrainResult, test_acc: float, previous: dict[str, Any] | None) -> dict[str, Any]:
    cfg = result.config
    spec = get_spec(cfg.model)
    card = {
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
    card["lineage"] = lineage(card, previous, cfg.finetune)  # the commands that reproduce it from scratch
    return card


PEN_DIGITS = 1000  # pen-style drawings of MNIST validation digits the threshold also answers to
PEN_SEED = 7
# The visitors' validation drawings join the threshold's sets only from this many on: with
# fewer, its 1% quantile is one or two drawings, and one odd drawing would set the refusal.
MIN_VISITORS_FOR_THRESHOLD = 100


_PEN_VAL = MadeOnce(keep=2)


def pen_val(val: Split) -> Split:
    """Pen-style drawings of validation digits, made once per process (tracing a thousand
    digits takes seconds)."""
    return _PEN_VAL.get("pen", val, lambda: pen_split(val, PEN_DIGITS, PEN_SEED))


_WRITER_VAL = MadeOnce(keep=1)
WRITER_DIGITS, WRITER_SEED = 2000, 31_000  # validation drawings as new writers draw them


def writer_val(val: Split) -> Split:
    """Validation digits as new writers draw them on the pad (digits/synthetic/writers.py)."""
    count = min(WRITER_DIGITS, 2 * len(val))  # a small validation split (tests) gets as many as it has digits
    return _WRITER_VAL.get("writers", val, lambda: writer_digits(val, count, WRITER_SEED))


_PEN_TRAIN = MadeOnce(keep=1)


def pen_training(train: Split, count: int, seed: int) -> Split:
    """Training digits traced and redrawn as new writers draw them on the pad (slant, size,
    pen, wobble: digits/synthetic/writers.py), made once per process: MNIST is scanned ink on
    paper from 250 writers, visitors draw with a round pen in their own hand."""
    return _PEN_TRAIN.get(("writers", count, seed), train, lambda: writer_traced(train, count, seed))


def fit_trust(model: torch.nn.Module, val: Split,
              visitors: Split | None = None) -> tuple[trust.Trust, dict[str, Any], dict[str, int]]:
    """Temperature and "not a digit" threshold for trained weights, what they do to the
    digits they were fitted on (see digits/recognition/trust.py), and how many of each there were. With
    enough of the visitors' newest drawings, those too: the refusal must spare the digits of
    the people who use the app."""
    sets = {"mnist_val": val, "pen_val": pen_val(val)}
    if visitors is not None and len(visitors) >= MIN_VISITORS_FOR_THRESHOLD:
        sets["visitor_val"] = visitors
    sets["writer_val"] = writer_val(val)  # the temperature and energy threshold only, not numbers' pieces
    logits = {k: predict_logits(model, s.images) for k, s in sets.items()}
    real = [lg for k, lg in logits.items() if k not in ("mnist_val", "writer_val")]
    every = (torch.cat(list(logits.values())), torch.cat([s.labels for s in sets.values()]))
    fitted = trust.fit(logits["mnist_val"], val.labels, *real, writer_logits=(logits["writer_val"],),
                       temperature_from=every)
    figures = {k: {m: round(v, 6) for m, v in trust.report(fitted, logits[k], s.labels).items()}
               for k, s in sets.items()}
    return fitted, figures, {k: len(s) for k, s in sets.items()}


def trust_card(model: torch.nn.Module, data: MNISTData, negatives: int,
               visitors: Split | None = None) -> dict[str, Any]:
    """The card's "trust" entry: calibration and the refusal rule, how they were fitted, and
    what the model was shown of non-digits."""
    fitted, figures, fitted_on = fit_trust(model, data.val, visitors)
    method = ("outlier exposure (trained to be unsure of non-digits), then the energy score; the calibrated top "
              "probability for each digit of a number" if negatives else
              "the energy score; the calibrated top probability for each digit of a number")
    return {"trust": {**fitted.as_dict(), "method": method, "digit_rejection_budget": trust.DIGIT_REJECTION_BUDGET,
                      "energy_rejection_budget": trust.ENERGY_REJECTION_BUDGET,
                      "mnist_energy_rejection_budget": trust.MNIST_ENERGY_REJECTION_BUDGET,
                      "piece_rejection_budget": trust.PIECE_REJECTION_BUDGET,
                      "fitted_on": fitted_on, **figures,
                      "negatives": negatives, **(negative_recipe() if negatives else {})}}


def calibrate(name: str, data: MNISTData, directory: os.PathLike | str | None = None,
              feedback_folder: os.PathLike | str | None = None) -> dict[str, Any]:
    """Refit the current weights' trust (same tensors, new card) and return it."""
    model, card = load_model_and_card(name, directory)
    negatives = (card.get("trust") or {}).get("negatives", 0)
    card.update(trust_card(model, data, negatives, unseen_visitors(card, feedback_folder)))
    save_weights(model, name, card, directory)
    return card["trust"]


def refit_panel(data: MNISTData, directory: os.PathLike | str | None = None,
                visitors: Split | None = None) -> dict[str, Any] | None:
    """Fit the models' panel (digits/recognition/trust.py) for every model with usable weights
    in `directory`, on the sets each card's energy rule answers to (with enough of the
    visitors' newest drawings, those too), and write panel.json; None with fewer than two
    models (nothing written)."""
    loaded = {}
    for name in list_models():
        try:
            loaded[name] = load_model_and_card(name, directory)
        except WeightsError:
            pass
    if len(loaded) < 2:
        return None
    sets = {"mnist_val": data.val, "pen_val": pen_val(data.val), "writer_val": writer_val(data.val)}
    if visitors is not None and len(visitors) >= MIN_VISITORS_FOR_THRESHOLD:
        sets["visitor_val"] = visitors
    energies = {k: {name: trust.energy(predict_logits(model, s.images), trust.Trust.from_card(card).temperature)
                    for name, (model, card) in loaded.items()} for k, s in sets.items()}
    fitted = trust.fit_panel(energies["mnist_val"], [e for k, e in energies.items() if k != "mnist_val"],
                             {name: stamp(card) for name, (_, card) in loaded.items()})
    figures = {"energy_rejection_budget": trust.ENERGY_REJECTION_BUDGET,
               "mnist_energy_rejection_budget": trust.MNIST_ENERGY_REJECTION_BUDGET,
               "fitted_on": {k: len(s) for k, s in sets.items()},
               "rejected": {k: round(1.0 - fitted.accepts(e).float().mean().item(), 6) for k, e in energies.items()}}
    write_panel(fitted, figures, directory)
    return {"energy_threshold": fitted.energy_threshold, "members": list(loaded), **figures}


def panel_visitors(directory: os.PathLike | str | None = None,
                   feedback_folder: os.PathLike | str | None = None) -> Split | None:
    """For a panel with weights trained on visitors' drawings, the labelled drawings none of
    its members trained on (stored after the newest one any of them used)."""
    cards = [c for c in (current_card(name, directory) for name in list_models()) if c is not None]
    trained = [c for c in cards if c.get("feedback")]
    if not trained:
        return None
    newest = max(trained, key=lambda c: int(c["feedback"].get("through_id") or 0))
    return unseen_visitors(newest, feedback_folder)


def unseen_visitors(card: dict[str, Any], feedback_folder: os.PathLike | str | None) -> Split | None:
    """For weights trained on visitors' drawings, the labelled drawings stored after the last
    one they trained on: a refit must spare them, as the training run's fit did."""
    folder = feedback_dir(feedback_folder) if card.get("feedback") else None
    drawings = fair_drawings(FeedbackStore(folder), card) if folder is not None else []
    return drawings_split(drawings) if drawings else None


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
    cfg = replace(cfg, negatives=cfg.negatives or negative_replay(cfg, previous, run))
    if cfg.negatives:
        run.data = with_training(run.data, training_negatives(cfg.negatives, cfg.seed, data.train))
    if cfg.pen_digits:
        run.data = with_training(run.data, pen_training(data.train, cfg.pen_digits, cfg.seed))
    if cfg.flagged_ones:
        run.data = with_training(run.data, flagged_training(data.train, cfg.flagged_ones, cfg.seed))
    result = train(cfg, run.data, on_progress=on_progress, cancel=cancel, init_state=run.init_state,
                   mnist_floor=run.mnist_floor)
    if result.cancelled:
        return Outcome(cfg.model, {}, previous, False, None, "cancelled: the previous weights are untouched")
    test_acc = accuracy(result.model, data.test)
    card = build_card(result, test_acc, previous)
    card.update(trust_card(result.model, data, cfg.negatives, run.visitors.val if run.visitors else None))
    if run.visitors is not None:
        card["feedback"] = visitor_card(result, run)
    if is_better(result, run, previous) or force:
        path = save_weights(result.model, cfg.model, card, directory)
        refit_panel(data, directory, run.visitors.val if run.visitors else None)
        message = (f"saved {path}: test {100 * test_acc:.2f}%"
                   + (f" (was {100 * previous['test_accuracy']:.2f}%)" if previous else ""))
        return Outcome(cfg.model, card, previous, True, path, message)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = save_weights(result.model, f"{cfg.model}-{stamp}", card, directory / CANDIDATES_DIR)
    message = (f"kept the previous weights (validation {100 * previous['val_accuracy']:.2f}% vs this run's "
               f"{100 * result.val_acc:.2f}%{visitor_note(result, run)}); this run is saved as {path}")
    return Outcome(cfg.model, card, previous, False, path, message)


def negative_replay(cfg: TrainConfig, previous: dict[str, Any] | None, run: VisitorRun) -> int:
    """Fine-tuning weights that learned to refuse non-digits shows them non-digits again (as
    MNIST is replayed), so the refusal is not forgotten; a share of the run's training images."""
    learned = ((previous or {}).get("trust") or {}).get("negatives", 0)
    return round(NEGATIVE_REPLAY_SHARE * len(run.data.train)) if cfg.finetune and learned else 0


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
