"""`python -m digits {train,evaluate,predict,read,explain,feedback,list}`: argparse wiring over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from PIL import Image

from digits import cli_web, config
from digits.explain.explanations import DEFAULT_METHOD, METHODS
from digits.models import DEFAULT_MODEL, UnknownModelError, get_spec, list_models
from digits.recognition.inference import NOT_A_DIGIT
from digits.training.data import DataNotFoundError, MNISTData, load_mnist
from digits.training.engine import SHIPPED_NEGATIVES, Progress, TrainConfig
from digits.visitors.finetune import FINETUNE_EPOCHS, FINETUNE_LR_SCALE, NoVisitorDrawings
from digits.visitors.store import FeedbackUnavailable
from digits.weights import WeightsError


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(round(fraction * width))
    return "#" * filled + "." * (width - filled)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m:d}:{s:02d}"


class ProgressPrinter:
    """A one-line progress bar on a terminal, one line per epoch elsewhere."""

    REFRESH_S = 0.2

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        line = (f"epoch {p.epoch}/{p.epochs} [{_bar(p.fraction)}] batch {p.batch}/{p.batches} "
                f"loss {p.loss:.4f} acc {100 * p.train_acc:.2f}%"
                + (f" val {100 * p.val_acc:.2f}%" if p.val_acc is not None else "")
                + f" ETA {_clock(p.eta)}")
        if p.phase == "train":
            if self.tty and now - self.last >= self.REFRESH_S:
                self.stream.write("\r" + line + "\033[K")
                self.stream.flush()
                self.last = now
        elif p.phase == "epoch_end":
            self.stream.write(("\r" if self.tty else "") + line + ("\033[K" if self.tty else "") + "\n")
            self.stream.flush()


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help=f"MNIST root (default: ${config.DATA_ENV} or '{config.DEFAULT_DATA_DIR}')")
    p.add_argument("--weights-dir", default=None,
                   help=f"where weights are read and written (default: ${config.WEIGHTS_ENV} or weights/)")
    p.add_argument("--feedback-dir", default=None,
                   help=f"the visitors' drawings (default: ${config.FEEDBACK_ENV} or {config.DEFAULT_FEEDBACK_DIR})")


def _add_feedback_parser(sub) -> None:
    fb = sub.add_parser("feedback", help="the visitors' labelled drawings: add, stats, export, push, pull")
    fb_sub = fb.add_subparsers(dest="action", required=True)
    add = fb_sub.add_parser("add", help="add labelled image files, exactly as the app's correction does")
    add.add_argument("files", nargs="+", help="image files, directories or globs")
    add.add_argument("--label", required=True, help="a digit 0-9, a whole number, or 'not a digit'")
    add.add_argument("--session", default="cli", help="the session id stored with the rows (default: cli)")
    _add_common(add)
    _add_common(fb_sub.add_parser("stats", help="how many drawings, sessions and labels"))
    exp = fb_sub.add_parser("export", help="PNGs in one folder per label plus labels.jsonl")
    exp.add_argument("out", help="folder to write")
    _add_common(exp)
    _add_common(fb_sub.add_parser("push", help="new drawings to the repo or folder $DIGITS_FEEDBACK_REPO names"))
    _add_common(fb_sub.add_parser("pull", help="drawings from $DIGITS_FEEDBACK_REPO into the local store"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m digits", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(sub)

    e = sub.add_parser("evaluate", help="table of every model: accuracy on the test split, speed")
    e.add_argument("--no-timing", action="store_true", help="skip the latency and throughput columns")
    e.add_argument("--feedback", action="store_true",
                   help="score every model on the visitors' drawings it was not trained on (Wilson 95%% interval)")
    _add_common(e)

    pr = _add_files_parser(sub, "predict", "classify image files")
    pr.add_argument("--workers", type=int, default=None,
                    help="worker processes, one torch thread each (default: one per core)")
    pr.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_common(pr)

    rd = _add_files_parser(sub, "read", "read whole numbers: split each image into digits, left to right")
    rd.add_argument("--json", action="store_true", help="one JSON object per line and model")
    _add_common(rd)

    x = _add_files_parser(sub, "explain", "write PNGs of what a model looked at (attribution and feature maps)")
    x.add_argument("--method", default=DEFAULT_METHOD, choices=list(METHODS), help=f"default: {DEFAULT_METHOD}")
    x.add_argument("--out", required=True, help="folder for the PNGs (created if missing)")
    _add_common(x)

    _add_feedback_parser(sub)

    cal = sub.add_parser("calibrate", help="refit each model's temperature and 'not a digit' threshold on "
                                            "validation digits (and, after a --feedback run, the visitors' drawings it "
                                            "did not train on) and write them into its card (tensors untouched); then "
                                            "the models' panel, which judges one drawing with every model")
    cal.add_argument("--model", default="all", help="a model name or 'all' (default)")
    _add_common(cal)
    j = sub.add_parser("train-judge", help="train the reader's judge (one digit, two written into each other, or "
                                           "no digit) on drawings made from MNIST training digits and letters")
    j.add_argument("--count", type=int, default=30_000, help="drawings to make (a tenth kept to measure it)")
    j.add_argument("--epochs", type=int, default=8)
    j.add_argument("--seed", type=int, default=0)
    j.add_argument("--pairs", action="store_true", help="train the pair reader instead: which two digits a group "
                                                        "the judge says holds two is")
    _add_common(j)
    ls = sub.add_parser("list", help="registered models and their weight files")
    _add_common(ls)
    cli_web.add_parsers(sub, _add_common)
    return parser


def _add_files_parser(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A command that takes image files and a model (predict, read, explain); the caller adds
    its own options, then `_add_common`."""
    p = sub.add_parser(name, help=help)
    p.add_argument("files", nargs="+", help="image files (PNG, JPEG, ...), directories or globs")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"a model name or 'all' (default: {DEFAULT_MODEL})")
    return p


def _add_train_parser(sub) -> None:
    t = sub.add_parser("train", help="train one model (or all) and save its weights and card")
    t.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"one of {', '.join(list_models())}, or 'all' (default: {DEFAULT_MODEL})")
    t.add_argument("--epochs", type=int, default=None, help="default: the model's recipe")
    t.add_argument("--batch-size", type=int, default=None, help="default: the model's recipe")
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the model's recipe)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    t.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    t.add_argument("--max-batches", type=int, default=None, help="stop after this many batches (default: none)")
    t.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="bf16: bfloat16 autocast; auto: bf16 where the CPU or GPU has it (default: auto)")
    t.add_argument("--no-accel", action="store_true",
                   help="plain PyTorch: no CPU speed-ups from digits/training/accel (default: on; also DIGITS_ACCEL=0)")
    t.add_argument("--force", action="store_true",
                   help="replace the weights even if validation accuracy is lower (default: keep the better)")
    t.add_argument("--feedback", action="store_true",
                   help="also train on the visitors' drawings; validate on the newest of them too")
    t.add_argument("--finetune", action="store_true",
                   help=f"start from the current weights (default {FINETUNE_EPOCHS} epochs at "
                        f"{FINETUNE_LR_SCALE}x the recipe's learning rate, MNIST replayed)")
    t.add_argument("--negatives", type=int, default=0, metavar="N",
                   help="also show the model N non-digit drawings (letters, shapes, scribbles) so it learns "
                        f"to be unsure of them: outlier exposure (the shipped CNNs used {SHIPPED_NEGATIVES}, "
                        "the MLP twice as many)")
    t.add_argument("--pen-digits", type=int, default=0, metavar="N",
                   help="also train on N MNIST training digits traced and redrawn as new writers draw "
                        "on the pad: slant, size, pen, wobble (the shipped MLP, CNN and LeNet-5 used 15000)")
    t.add_argument("--flagged-ones", type=int, default=0, metavar="N",
                   help="also train on N MNIST training 1s redrawn with a flag at the top, as many writers "
                        "outside the US write a 1 (MNIST's seldom did)")
    _add_common(t)


class _Exit(Exception):
    """Ends a command with this exit status, after `fail` has said why."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def fail(message: Any, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise _Exit(code, str(message))


def _load_data(data_dir) -> MNISTData:
    try:
        return load_mnist(data_dir)
    except DataNotFoundError as exc:
        fail(exc, 2)


def cmd_train(args) -> int:
    from digits.training.engine import describe_backend
    from digits.training.fit import fit_and_save

    names = list_models() if args.model == "all" else [args.model]
    for name in names:
        get_spec(name)  # unknown names fail before the data loads
    data = _load_data(args.data_dir)
    for name in names:
        cfg = train_config(name, args)
        r = cfg.recipe
        print(f"training {name}: {r.epochs} epochs, batch {r.batch_size}, lr {r.lr}, seed {cfg.seed} "
              f"({describe_backend(cfg)})", file=sys.stderr)
        try:
            outcome = fit_and_save(cfg, data, args.weights_dir, on_progress=ProgressPrinter(), force=args.force,
                                   feedback_folder=args.feedback_dir)
        except (NoVisitorDrawings, WeightsError, FeedbackUnavailable) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(outcome.message)
    return 0


def train_config(name: str, args) -> TrainConfig:
    """The CLI's flags over the model's recipe; fine-tuning has its own epochs and a lower lr."""
    recipe = get_spec(name).recipe
    epochs, lr = args.epochs, args.lr
    if args.finetune:
        epochs = epochs or FINETUNE_EPOCHS
        lr = lr or recipe.lr * FINETUNE_LR_SCALE
    return TrainConfig.from_recipe(name, epochs=epochs, batch_size=args.batch_size, lr=lr, seed=args.seed,
                                   device=args.device, max_batches=args.max_batches,
                                   bf16={"auto": None, "bf16": True, "fp32": False}[args.precision],
                                   accel=not args.no_accel, feedback=args.feedback, finetune=args.finetune,
                                   negatives=args.negatives, pen_digits=args.pen_digits,
                                   flagged_ones=args.flagged_ones)


def cmd_evaluate(args) -> int:
    from digits.evaluate import evaluate_all, format_table

    if args.feedback:
        return visitor_table(args)
    data = _load_data(args.data_dir)
    reports = evaluate_all(data, args.weights_dir, timing=not args.no_timing)
    if not reports:
        print(f"no weights found in {config.weights_dir(args.weights_dir)}", file=sys.stderr)
        return 1
    print(format_table(reports))
    return 1 if any(r.error for r in reports) else 0


def cmd_predict(args) -> int:
    from digits.batch import expand, predict_files
    from digits.recognition.inference import ModelStore

    names = ModelStore(args.weights_dir).available() if args.model == "all" else [get_spec(args.model).name]
    failed = False
    for file, result in predict_files(expand(args.files), names, args.weights_dir, args.workers):
        for name in names:
            row: dict = {"file": file, "model": name}
            if isinstance(result, str):
                row.update(digit=None, probabilities=None, error=result)
                failed = True
            else:
                row.update(result[name].as_dict(), file=file)
            _print_row(row, args.json)
        if not args.json and _all_refused(result) and _several_digits(file):
            print(f"{file}\tseveral digits side by side? `python -m digits read` reads numbers", file=sys.stderr)
    return 1 if failed else 0


def _all_refused(result) -> bool:
    return not isinstance(result, str) and all(p.reason == NOT_A_DIGIT for p in result.values())


def _several_digits(file: str) -> bool:
    """The app's "Several digits?" hint: groups of ink side by side (the reader's first steps)."""
    from digits.recognition.pieces import several_digits
    from digits.recognition.preprocess import ink_map

    try:
        return several_digits(ink_map(file))
    except (ValueError, OSError):
        return False


def _print_row(row: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(row))
    elif "error" in row:
        print(f"{row['file']}\t{row['model']}\terror: {row['error']}")
    else:
        said = row["reason"] if row["digit"] is None else row["digit"]
        top = max(row["probabilities"])
        guess = f" (best guess {row['probabilities'].index(top)})" if row["reason"] == NOT_A_DIGIT else ""
        print(f"{row['file']}\t{row['model']}\t{said}\t{100 * top:.1f}%{guess}")


def cmd_read(args) -> int:
    """One line per file and model: the number, or the reason there is none."""
    from digits.batch import expand
    from digits.recognition.inference import ModelStore
    from digits.recognition.reading import read, read_all

    store = ModelStore(args.weights_dir)
    names = store.available() if args.model == "all" else [get_spec(args.model).name]
    failed = False
    for file in expand(args.files):
        try:
            readings = read_all(file, store) if args.model == "all" else {names[0]: read(file, names[0], store)}
        except (ValueError, OSError) as exc:
            readings, failed = {n: exc for n in names}, True
        for name, r in readings.items():
            row = ({"file": file, "model": name, "text": None, "digits": [], "reason": None, "error": str(r)}
                   if isinstance(r, Exception) else {"file": file, **r.as_dict()})
            print(json.dumps(row) if args.json else
                  f"{file}\t{name}\t" + (f"error: {row['error']}" if "error" in row else row["text"] or row["reason"]))
    return 1 if failed else 0


def cmd_explain(args) -> int:
    """Per file and model: FILE.MODEL.drawing.png (the evidence on the input), .28x28.png (for
    the answer | for the runner-up) and, for CNNs, .features.png (kernel | feature map)."""
    from digits.batch import expand
    from digits.explain.explanations import explain
    from digits.explain.overlay import answer_maps, drawing_overlay, feature_sheet
    from digits.recognition.inference import ModelStore

    store = ModelStore(args.weights_dir)
    names = store.available() if args.model == "all" else [get_spec(args.model).name]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = False
    for file in expand(args.files):
        for name in names:
            try:
                e = explain(file, name, args.method, store=store)
            except (ValueError, OSError) as exc:
                print(f"{file}\t{name}\terror: {exc}", file=sys.stderr)
                failed = True
                continue
            if e is None:
                print(f"{file}\t{name}\tempty: nothing to explain")
                continue
            stem = out / f"{Path(file).stem}.{name}"
            pictures = {"drawing": drawing_overlay(e), "28x28": np.hstack(answer_maps(e))}
            if e.features:
                pictures["features"] = feature_sheet(e.features)
            for kind, rgb in pictures.items():
                Image.fromarray(rgb).save(f"{stem}.{kind}.png")
            said = f"not a digit (best guess {e.digit}" if e.refused else f"{e.digit} ("
            print(f"{file}\t{name}\t{said}{', ' if e.refused else ''}runner-up {e.runner_up})"
                  f"\t{stem}.{{{','.join(pictures)}}}.png")
    return 1 if failed else 0


def _feedback_store(args):
    from digits.visitors.store import FeedbackStore

    folder = config.feedback_dir(args.feedback_dir)
    if folder is None:
        fail(f"visitor drawings are switched off (${config.FEEDBACK_ENV}=off)", 1)
    try:
        return FeedbackStore(folder)
    except FeedbackUnavailable as exc:
        fail(exc, 1)


def visitor_table(args) -> int:
    from digits.evaluate import format_visitor_table, score_visitors
    from digits.recognition.inference import ModelStore

    models = ModelStore(args.weights_dir)
    scores = score_visitors(models, _feedback_store(args))
    print(format_visitor_table(scores, {n: models.card(n).get("test_accuracy") for n in scores}))
    print("(each model is scored only on drawings stored after the last one its weights trained on)")
    return 0


def cmd_feedback(args) -> int:
    from digits.batch import expand
    from digits.recognition.inference import ModelStore
    from digits.visitors.store import FeedbackError, export, record

    store = _feedback_store(args)
    if args.action in ("push", "pull"):
        return feedback_remote(store, args.action)
    if args.action == "stats":
        print(json.dumps(store.stats(), indent=2))
    elif args.action == "export":
        print(f"exported {export(store, args.out)} drawings to {args.out}")
    else:
        models, failed, added = ModelStore(args.weights_dir), False, 0
        for file in expand(args.files):
            try:
                record(store, models, file, args.label, args.session, source="cli")
                added += 1
            except (FeedbackError, ValueError, OSError) as exc:
                print(f"{file}\terror: {exc}", file=sys.stderr)
                failed = True
        print(f"added {added} drawings labelled '{args.label}' to {store.path}")
        return 1 if failed else 0
    return 0


def feedback_remote(store, action: str) -> int:
    """`feedback push` / `feedback pull` against $DIGITS_FEEDBACK_REPO."""
    from digits.remote import remote_from_env
    from digits.visitors.sync import REPO_ENV, FeedbackSync

    remote, problem = remote_from_env(REPO_ENV, "dataset")
    if remote is None:
        fail(problem or f"set ${REPO_ENV} to a dataset repo (USER/NAME, with $HF_TOKEN) or a folder", 1)
    sync = FeedbackSync(store, remote)
    if action == "push":
        print(f"pushed {sync.push()} drawings (through id {sync.pushed_through})")
    else:
        print(f"restored {sync.pull()} drawings into {store.path} ({store.count()} in all)")
    return 0


def cmd_list(args) -> int:
    from digits.weights import read_card

    for name in list_models():
        spec = get_spec(name)
        try:
            card = read_card(name, args.weights_dir)
            status = f"test {100 * card['test_accuracy']:.2f}%  ({card['date']})"
        except WeightsError as exc:
            status = f"no usable weights: {exc.reason}"
        print(f"{name:<8} {spec.display_name:<12} {status}")
    return 0


def cmd_calibrate(args) -> int:
    from digits.training.fit import calibrate, panel_visitors, refit_panel

    names = list_models() if args.model == "all" else [get_spec(args.model).name]
    data = _load_data(args.data_dir)
    for name in names:
        try:
            fitted = calibrate(name, data, args.weights_dir, args.feedback_dir)
        except WeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{name}: temperature {fitted['temperature']:.3f}, not a digit below energy "
              f"{fitted.get('energy_threshold', float('nan')):.2f} "
              f"(refuses {100 * fitted['mnist_val']['rejected']:.2f}% of MNIST validation, "
              f"{100 * fitted['pen_val']['rejected']:.2f}% of pen-style validation digits, "
              f"{100 * fitted['writer_val']['rejected']:.2f}% of new writers' validation digits"
              + (f", {100 * fitted['visitor_val']['rejected']:.2f}% of the visitors' unseen drawings"
                 if "visitor_val" in fitted else "") + ")")
    panel = refit_panel(data, args.weights_dir, panel_visitors(args.weights_dir, args.feedback_dir))
    if panel:
        shares = ", ".join(f"{100 * v:.2f}% of {k}" for k, v in panel["rejected"].items())
        print(f"panel ({', '.join(panel['members'])}): not a digit below summed energy "
              f"{panel['energy_threshold']:.2f} (refuses {shares})")
    return 0


def cmd_train_judge(args) -> int:
    from digits.recognition import judge
    from digits.training import judge_training

    names = judge_training.PAIR_MEASURES if args.pairs else judge.ANSWERS
    what = "the pair reader" if args.pairs else "the judge"

    def report(epoch: int, loss: float, right: list[float]) -> None:
        shares = ", ".join(f"{name} {100 * r:.1f}%" for name, r in zip(names, right))
        print(f"epoch {epoch}/{args.epochs}: loss {loss:.3f}; right on held-back drawings: {shares}", flush=True)

    print(f"making {args.count} drawings and training {what} ...", flush=True)
    train = _load_data(args.data_dir).train
    fit = judge_training.fit_pairs if args.pairs else judge_training.fit
    model, card = fit(train, args.count, args.epochs, args.seed, on_epoch=report)
    judge_training.save(model, card, args.weights_dir)
    print(f"saved {card['model']} ({card['seconds']:.0f} s)")
    return 0


COMMANDS = {"train": cmd_train, "train-judge": cmd_train_judge, "calibrate": cmd_calibrate, "evaluate": cmd_evaluate,
            "predict": cmd_predict, "read": cmd_read, "explain": cmd_explain, "feedback": cmd_feedback,
            "list": cmd_list}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return (COMMANDS.get(args.command) or args.func)(args)
    except _Exit as exc:
        return exc.code
    except UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more (Python's documented way)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
