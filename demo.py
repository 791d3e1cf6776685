"""digits: draw a digit and watch an MLP, a CNN, LeNet-5 and a modern CNN disagree.

The Gradio UI only: every callback is a thin adapter over the `digits` library.
Run it with `python demo.py`; a Hugging Face Space runs the same file.
"""

from __future__ import annotations

import base64
import binascii
import html
import os
import secrets
import warnings
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch
from gradio.components.image_editor import EditorData
from PIL import Image, ImageDraw

from digits import config
from digits.engine import TrainConfig
from digits.evaluate import Mistake, MistakeGallery, score_visitors
from digits.explanations import DEFAULT_METHOD, METHODS, Method, explain_all
from digits.feedback import FeedbackError, FeedbackStore, FeedbackUnavailable, anonymous_session, record
from digits.inference import EMPTY, INFERENCE_THREADS, NOT_A_DIGIT, ModelStore, Prediction
from digits.jobs import JobState, TrainingJob
from digits.models import DEFAULT_MODEL, UnknownModelError, get_spec, list_models
from digits.negatives import SHIPPED_NEGATIVES
from digits.overlay import HEAT_PX, answer_maps, confusion_picture, drawing_overlay, feature_pairs, fit_width
from digits.preprocess import MAX_PIXELS, ImageInputError, ink_map
from digits.reading import Reading, read, read_ink_all
from digits.sketches import APP_BRUSH_RADIUS_PX, APP_CANVAS_PX, example_paths
from digits.sync import start_sync
from digits.visitors import FINETUNE_EPOCHS, FINETUNE_LR_SCALE
from digits.weights import WeightsError

EDITOR_CHROME_PX = 110  # the editor's toolbars around the canvas
MISTAKE_PX = 84  # each misclassified test digit in the gallery: 28 x 3
PREVIEW_PX = 168  # "what the model sees": 28 x 6, nearest neighbour
ONE_DIGIT, A_NUMBER = "One digit", "A number"  # the Draw tab's "Write" choice
READING_PX = 300  # number mode: the copy of the drawing with each digit's box
READING_DIGIT_PX = 56  # ... and each digit's 28x28, twice as large
UNSURE_BELOW = 0.8  # a calibrated probability below this: the answer says it is unsure (digits/trust.py)
REFUSAL = "That doesn't look like a digit"
POLL_S = 1.0  # training tab refresh
TRAINING_ENV = "DIGITS_TRAINING"  # "off" hides the Train tab (public Spaces)
MAX_EPOCHS_ENV = "DIGITS_MAX_EPOCHS"
MAX_BATCHES_ENV = "DIGITS_TRAIN_MAX_BATCHES"  # caps every job (tests, tiny demos)
DEFAULT_MAX_EPOCHS = 20
MAX_UPLOAD = "10mb"  # an upload larger than this is refused before it is read (a canvas PNG is ~5 kB)
QUEUE_SIZE = 64  # events waiting beyond this are refused at once ("busy, try again") instead of piling up
FEEDBACK_OFF = "collection is switched off on this server"
RIGHT_LABEL = "✓ Right"
NOT_DIGIT_LABEL = "✗ Not a digit"  # the visitor says the drawing is no digit at all
CONSENT_LABEL = "Keep this drawing to evaluate and improve the models (no names, no IP addresses)"
WHY_CONCURRENCY = 1  # explanations at once: they may queue behind each other, never behind answers
WHY_DRAWING_PX = 336  # the overlay on the drawing, at most this wide
WHY_EMPTY = "Draw a digit, and each model's evidence appears here."
WHY_NUMBER = "Explanations are for one digit: choose *Write: One digit* to see them."
FEATURES_LABEL = "Feature maps: each kernel (left) and what it made of your drawing (right)"
PREDICT_CONCURRENCY = 4  # prediction events served at once (each runs on one torch thread)
CURVE_COLOURS = {"loss": "#6366f1", "val accuracy": "#10b981"}


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


@dataclass
class AppState:
    """What every visitor shares: the model store, the training slot, the mistakes gallery."""

    store: ModelStore
    job: TrainingJob | None
    training_enabled: bool
    max_epochs: int
    mistakes: MistakeGallery
    feedback: FeedbackStore | None = None  # visitors' drawings; None when off or unusable
    feedback_problem: str | None = None  # "off", or why the store cannot be used
    salt: str = field(default_factory=lambda: secrets.token_hex(8))  # anonymises session ids

    @classmethod
    def from_env(cls) -> "AppState":
        enabled = os.environ.get(TRAINING_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
        max_epochs = _env_int(MAX_EPOCHS_ENV) or DEFAULT_MAX_EPOCHS
        store = ModelStore()
        store.warm_up()
        job = TrainingJob(data_dir=os.environ.get(config.DATA_ENV), weights_dir=str(store.directory),
                          max_epochs=max_epochs, max_batches=_env_int(MAX_BATCHES_ENV)) if enabled else None
        return cls(store, job, enabled, max_epochs, MistakeGallery(store), *open_feedback())


def open_feedback() -> tuple[FeedbackStore | None, str | None]:
    """The visitors' drawings store from $DIGITS_FEEDBACK, or why there is none: the app
    keeps predicting either way."""
    folder = config.feedback_dir()
    if folder is None:
        return None, FEEDBACK_OFF
    try:
        store = FeedbackStore(folder)
    except FeedbackUnavailable as exc:
        return None, str(exc)
    start_sync(store)  # only with $DIGITS_FEEDBACK_REPO and $HF_TOKEN: otherwise no network at all
    return store, None


# --- pure view helpers (tested without a browser) ---------------------------------------


def mistakes_gallery(mistakes: list[Mistake]) -> list[tuple[np.ndarray, str]]:
    return [(_enlarge(m.image28, MISTAKE_PX), f"#{m.index}: true {m.true}, said {m.predicted}") for m in mistakes]



def _enlarge(image28: np.ndarray, size: int = PREVIEW_PX) -> np.ndarray:
    """A 28x28 [0, 1] image as a crisp, black-on-white uint8 picture."""
    img = Image.fromarray((255 * (1 - np.clip(image28, 0, 1))).astype(np.uint8), mode="L")
    return np.asarray(img.resize((size, size), Image.Resampling.NEAREST))


def model_label(store: ModelStore, name: str) -> str:
    spec = get_spec(name)
    try:
        acc = store.card(name).get("test_accuracy")
    except WeightsError:
        return f"{spec.display_name} (no weights)"
    return f"{spec.display_name} · {100 * acc:.2f}%" if acc is not None else spec.display_name


def model_choices(store: ModelStore) -> list[tuple[str, str]]:
    return [(model_label(store, n), n) for n in store.available()]


def _guess_note(p: Prediction) -> str:
    """The best guess behind a refusal, in small print."""
    return f"best guess {p.best_guess} ({100 * p.top_probability:.0f}%)"


def answer_html(p: Prediction | None) -> str:
    name = "" if p is None else html.escape(get_spec(p.model).display_name)
    if p is not None and p.reason == NOT_A_DIGIT:
        return (f"<div class='answer refused'><div class='refusal'>{REFUSAL}</div>"
                f"<div class='note'>{name}: {_guess_note(p)}</div></div>")
    if p is None or p.digit is None:
        why = "" if p is None or not p.empty_reason or p.empty_reason == "no ink" else f" ({p.empty_reason})"
        return f"<div class='answer empty'><div class='hint'>✍️ Draw a digit{html.escape(why)}</div></div>"
    conf = p.confidence
    unsure = conf < UNSURE_BELOW
    note = f"not sure: maybe {p.digit}" if unsure else f"{100 * conf:.0f}% sure"
    cls = "answer unsure" if unsure else "answer"
    return f"<div class='{cls}'><div class='digit'>{p.digit}</div><div class='note'>{name}: {note}</div></div>"


def answer_line_html(p: Prediction | None) -> str:
    """The compact answer shown next to the canvas on narrow screens (the full panel is below)."""
    if p is not None and p.reason == NOT_A_DIGIT:
        return f"<div class='answer-line refused'><b>{REFUSAL}</b> <span>{_guess_note(p)}</span></div>"
    if p is None or p.digit is None:
        return "<div class='answer-line empty'>Draw a digit: the answer appears here.</div>"
    conf = p.confidence
    note = f"not sure ({100 * conf:.0f}%)" if conf < UNSURE_BELOW else f"{100 * conf:.0f}% sure"
    return (f"<div class='answer-line'><b class='digit'>{p.digit}</b> "
            f"<span>{html.escape(get_spec(p.model).display_name)}: {note}</span></div>")


def label_value(p: Prediction | None) -> dict[str, float] | None:
    """The ten bars; none for a refusal (a bar chart would crown the guess the model refused)."""
    if p is None or p.digit is None:
        return None
    return {str(d): float(v) for d, v in enumerate(p.probabilities)}


COMPARE_COLUMNS = ["model", "answer", "confidence", "runner-up", "latency"]
COMPARE_EMPTY = "Every model's answer appears here as you draw."
DIFFERS_CSS = "background-color: rgba(239, 68, 68, 0.15); color: #b91c1c; font-weight: 600"
UNAVAILABLE_CSS = "color: #6b7280; font-style: italic"
CONFIDENCE_BAR = "rgba(99, 102, 241, 0.25)"  # the confidence cell fills to its percentage


def _answer(p: Prediction) -> str:
    return str(p.digit) if p.digit is not None else NOT_A_DIGIT


def compare_rows(preds: dict[str, Prediction], unavailable: dict[str, str]) -> tuple[pd.DataFrame, str, list[str]]:
    """(one row per model, the verdict, each row's CSS): the data behind the compare table.
    A model that refuses says "not a digit", with its best guess where the runner-up goes."""
    answers = [_answer(p) for p in preds.values() if p.reason != EMPTY]
    majority = max(set(answers), key=answers.count) if answers else None
    rows, styles = [], []
    for name, p in preds.items():
        if p.reason == EMPTY:
            continue
        ranked = sorted(range(10), key=lambda d: -p.probabilities[d])
        other = ranked[0] if p.digit is None else ranked[1]
        rows.append([get_spec(name).display_name, _answer(p), 100 * p.top_probability,
                     f"{'guess ' * (p.digit is None)}{other} ({100 * p.probabilities[other]:.0f}%)",
                     f"{p.latency_ms:.2f} ms"])
        styles.append(DIFFERS_CSS if _answer(p) != majority else "")
    for name, reason in unavailable.items():
        rows.append([get_spec(name).display_name, None, None, f"unavailable: {reason}", ""])
        styles.append(UNAVAILABLE_CSS)
    others = sum(a != majority for a in answers)
    verdict = (COMPARE_EMPTY if not answers else
               ("No model thinks this is a digit." if majority == NOT_A_DIGIT else "All models agree.")
               if others == 0 else f"The models disagree: {others} of {len(answers)} say otherwise.")
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS), verdict, styles


def compare_styles(frame: pd.DataFrame, rows: list[str]) -> pd.DataFrame:
    """Each cell's CSS, computed for the whole table at once: the row's colour, and the
    confidence cell filled to its percentage (a bar)."""
    styles = pd.DataFrame([[css] * len(frame.columns) for css in rows], index=frame.index, columns=frame.columns)
    for i, value in frame["confidence"].items():
        if pd.notna(value):
            bar = f"background: linear-gradient(90deg, {CONFIDENCE_BAR} {value:.1f}%, transparent {value:.1f}%)"
            styles.loc[i, "confidence"] = "; ".join(filter(None, [rows[i], bar]))
    return styles


def compare_table(preds: dict[str, Prediction], unavailable: dict[str, str] | None = None) -> dict[str, Any]:
    """The compare table's update: a Styler (rows that disagree with the majority in red, the
    confidence as a bar) and the verdict as its label."""
    frame, verdict, rows = compare_rows(preds, unavailable or {})
    styler = (frame.style.apply(lambda f: compare_styles(f, rows), axis=None)
              .format({"confidence": "{:.1f}%"}, na_rep=""))
    return gr.update(value=styler, label=verdict)


def reading_table(readings: dict[str, Reading]) -> dict[str, Any]:
    """The compare table in number mode: each model's reading; confidence is the product of
    its digits' (how sure it is of the whole number)."""
    said = {name: r.text or (NOT_A_DIGIT if r.reason == NOT_A_DIGIT else None) for name, r in readings.items()}
    texts = [t for t in said.values() if t]
    majority = max(set(texts), key=texts.count) if texts else None
    rows, css = [], []
    for name, r in readings.items():
        rows.append([get_spec(name).display_name, said[name] or "–", 100 * r.confidence,
                     f"{len(r.digits)} digit{'s' * (len(r.digits) != 1)}",
                     f"{sum(p.latency_ms for p in r.digits):.2f} ms"])
        css.append(DIFFERS_CSS if said[name] != majority else "")
    frame = pd.DataFrame(rows, columns=["model", "reading", "confidence", "digits", "latency"])
    others = sum(t != majority for t in texts)
    verdict = (COMPARE_EMPTY if not texts else "All models read the same number." if others == 0 else
               f"The models disagree: {others} of {len(texts)} read it otherwise.")
    styler = frame.style.apply(lambda f: compare_styles(f, css), axis=None).format({"confidence": "{:.1f}%"})
    return gr.update(value=styler, label=verdict)


def reading_picture(ink: np.ndarray, r: Reading) -> np.ndarray:
    """A small copy of the drawing with each digit's box, above the 28x28 each model saw."""
    scale = READING_PX / ink.shape[1]
    small = Image.fromarray((255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8)).resize(
        (READING_PX, max(1, round(ink.shape[0] * scale))), Image.Resampling.BOX).convert("RGB")
    draw = ImageDraw.Draw(small)
    for x0, y0, x1, y1 in r.boxes:
        draw.rectangle((x0 * scale, y0 * scale, x1 * scale, y1 * scale), outline=(99, 102, 241), width=2)
    views = [_enlarge(p.image28, READING_DIGIT_PX) for p in r.digits]
    strip = np.hstack(sum(([v, np.full((READING_DIGIT_PX, 6), 255, np.uint8)] for v in views), []))
    strip_rgb = np.stack([strip] * 3, axis=-1)
    canvas = np.full((small.height + READING_DIGIT_PX + 8, max(READING_PX, strip_rgb.shape[1]), 3), 255, np.uint8)
    canvas[:small.height, :READING_PX] = np.asarray(small)
    canvas[small.height + 8:, :strip_rgb.shape[1]] = strip_rgb
    return canvas


def visitor_table(app: AppState) -> pd.DataFrame:
    """Each model on the visitors' drawings it never trained on, next to its MNIST figure."""
    columns = ["model", "visitors' drawings", "95% interval", "drawings scored", "MNIST test"]
    if app.feedback is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for name, s in score_visitors(app.store, app.feedback).items():
        test = app.store.card(name).get("test_accuracy")
        rows.append([get_spec(name).display_name, "-" if s.accuracy is None else f"{100 * s.accuracy:.1f}%",
                     "-" if not s.n else f"{100 * s.low:.1f}–{100 * s.high:.1f}%", s.n,
                     "-" if test is None else f"{100 * test:.2f}%"])
    return pd.DataFrame(rows, columns=columns)


def visitor_views(app: AppState, name: str):
    """(confusion matrix picture, gallery of visitors' drawings the model gets wrong)."""
    if app.feedback is None:
        return None, []
    score = score_visitors(app.store, app.feedback, [name]).get(name)
    if score is None or not score.n:
        return None, []
    return (confusion_picture(score.confusion),
            [(_enlarge(d.image28, MISTAKE_PX), f"#{d.id}: visitor said {d.label}, model said {said}")
             for d, said in score.mistakes])


def give_feedback(app: AppState, sketch: Any, model: str | None, consent: bool, label: str,
                  request: gr.Request | None = None, mode: str = ONE_DIGIT) -> tuple[str, Any]:
    """A visitor's "right" or correction: stored only with consent; every failure is a message."""
    if not consent:
        return ("Tick **Keep this drawing** first: nothing is stored without it.", gr.skip())
    if app.feedback is None:
        return (f"Could not save: {app.feedback_problem}. The models still answer.", gr.skip())
    if label == NOT_DIGIT_LABEL:
        label = NOT_A_DIGIT
    elif label == RIGHT_LABEL:
        label = current_answer(app, sketch, model, mode)
        if label is None:
            return "Draw a digit first.", gr.skip()
    session = anonymous_session(getattr(request, "session_hash", None), app.salt)
    try:
        row = record(app.feedback, app.store, sketch, label, session)
    except FeedbackUnavailable as exc:
        return f"Could not save: {exc}. The models still answer.", gr.skip()
    except (FeedbackError, ValueError, OSError) as exc:
        return f"Not kept: {exc}.", gr.skip()
    return f"Thank you: kept as **{label}** (drawing #{row}).", visitor_table(app)


def current_answer(app: AppState, sketch: Any, model: str | None, mode: str) -> str | None:
    """What the selected model says now: its digit, in number mode its reading, or "not a
    digit" (so ✓ Right on a refusal keeps the drawing as a non-digit)."""
    if sketch is None:
        return None
    said = (read(sketch, model or DEFAULT_MODEL, app.store) if mode == A_NUMBER
            else app.store.predict(sketch, model or DEFAULT_MODEL))
    if said.reason == NOT_A_DIGIT:
        return NOT_A_DIGIT
    return said.text if mode == A_NUMBER else None if said.digit is None else str(said.digit)


def refusal_rule(card: dict[str, Any]) -> str:
    """The card's calibration and refusal rule in a few words."""
    t = card.get("trust")
    if not t:
        return "never refuses (no calibration in this card)"
    return f"below {100 * t['threshold']:.0f}% sure (temperature {t['temperature']:.2f})"


def models_table(store: ModelStore) -> pd.DataFrame:
    rows = []
    for name in list_models():
        spec = get_spec(name)
        try:
            card = store.card(name)
        except WeightsError as exc:
            rows.append({"model": spec.display_name, "test accuracy": f"unavailable: {exc.reason}",
                         "parameters": "", "train time": "", "date": "", "not a digit": "",
                         "architecture": spec.architecture,
                         "reproduce": ""})
            continue
        rows.append({
            "model": spec.display_name,
            "test accuracy": f"{100 * card['test_accuracy']:.2f}%",
            "parameters": f"{card['parameters']:,}",
            "train time": f"{card['train_seconds']:.0f} s",
            "date": card["date"][:10],
            "not a digit": refusal_rule(card),
            "architecture": spec.architecture,
            "reproduce": card["command"],
        })
    return pd.DataFrame(rows)


# --- callbacks -----------------------------------------------------------------------------


def unreadable(exc: Exception) -> gr.Error:
    """A bad input as a message the visitor can read (the server carries on)."""
    if isinstance(exc, ImageInputError):
        return gr.Error(f"Could not read that image: {exc}.", title="Not a readable image")
    return gr.Error(f"Could not read that image ({type(exc).__name__}).", title="Not a readable image")


class DrawingPad(gr.Sketchpad):
    """A Sketchpad that hands the library the drawing undecoded: the uploaded files' paths, or
    the editor's in-memory PNG blobs. The library then checks each image's pixel budget on its
    header and decodes only the layer it reads (Gradio would decode all three first, and its
    errors carry no message the visitor can read). Gradio has already checked that every path
    is one of its uploads."""

    MAX_PENDING_BLOBS = 256  # blobs posted by editors but never claimed by a request (bounded memory)

    def get_block_name(self) -> str:
        return "imageeditor"  # the same front-end component as gr.Sketchpad

    def preprocess(self, payload: EditorData | None) -> dict | None:
        if payload is None:
            return None
        if payload.id is not None:  # the editor posted this stroke's PNGs as blobs
            blobs = self.blob_storage.pop(payload.id, None)
            while len(self.blob_storage) > self.MAX_PENDING_BLOBS:  # oldest first
                self.blob_storage.pop(next(iter(self.blob_storage)))
            if blobs is None:
                return None
            return {"background": blobs.background, "layers": list(blobs.layers), "composite": blobs.composite}

        def path(file: Any) -> str | None:
            return None if file is None else str(file.path)

        return {"background": path(payload.background), "layers": [path(layer) for layer in payload.layers],
                "composite": path(payload.composite)}


def classify(app: AppState, sketch: Any, model: str | None, mode: str = ONE_DIGIT):
    """Sketchpad value -> (answer, compact answer, probabilities, what the model sees, compare table)."""
    if mode == A_NUMBER:
        return classify_number(app, sketch, model)
    try:
        preds = app.store.predict_all(sketch)
    except (ValueError, TypeError, OSError, AttributeError) as exc:  # a bad upload must not break the page
        raise unreadable(exc) from None
    chosen = preds.get(model or "") or next(iter(preds.values()), None)
    if chosen is None or chosen.reason == EMPTY:
        return answer_html(chosen), answer_line_html(chosen), None, None, compare_table({})
    unavailable = {n: reason for n, reason in app.store.errors.items() if n not in preds}
    if model in unavailable:
        gr.Warning(f"{get_spec(model).display_name} is unavailable ({unavailable[model]}); "
                   f"showing {get_spec(chosen.model).display_name}.")
    return (answer_html(chosen), answer_line_html(chosen), label_value(chosen), _enlarge(chosen.image28),
            compare_table(preds, unavailable))


def classify_number(app: AppState, sketch: Any, model: str | None):
    """Number mode: every model's reading; the selected one's digits, boxes and 28x28 views."""
    try:
        ink = ink_map(sketch)
        readings = read_ink_all(ink, app.store)
    except (ValueError, TypeError, OSError, AttributeError) as exc:
        raise unreadable(exc) from None
    r = readings.get(model or "") or next(iter(readings.values()), None)
    if r is None or r.reason == EMPTY or isinstance(ink, str):
        return (answer_html(None).replace("Draw a digit", "Write a number"), answer_line_html(None), None, None,
                compare_table({}))
    name, conf = get_spec(r.model).display_name, r.confidence
    if r.reason == NOT_A_DIGIT:
        return (*number_refusal(r), None, reading_picture(ink, r), reading_table(readings))
    note = f"{len(r.digits)} digit{'s' * (len(r.digits) != 1)}, {100 * conf:.0f}% sure of them all"
    return (f"<div class='answer'><div class='digit'>{html.escape(r.text)}</div>"
            f"<div class='note'>{html.escape(name)}: {note}</div></div>",
            f"<div class='answer-line'><b class='digit'>{html.escape(r.text)}</b> "
            f"<span>{html.escape(name)}</span></div>",
            {r.text: conf}, reading_picture(ink, r), reading_table(readings))


def number_refusal(r: Reading) -> tuple[str, str]:
    """(answer, compact answer) when a piece of the drawing is not a digit: which one, and the
    model's best guess for the whole."""
    refused = [str(i + 1) for i, p in enumerate(r.digits) if p.digit is None]
    guess = "".join(str(p.best_guess) for p in r.digits)
    where = f"piece {', '.join(refused)} of {len(r.digits)}" if len(r.digits) > 1 else "it"
    note = f"{html.escape(get_spec(r.model).display_name)}: {where} is not a digit; best guess {guess}"
    return (f"<div class='answer refused'><div class='refusal'>{REFUSAL}</div><div class='note'>{note}</div></div>",
            f"<div class='answer-line refused'><b>{REFUSAL}</b> <span>best guess {guess}</span></div>")


def cleared_outputs():
    """What the Draw tab shows on an empty canvas (after Clear)."""
    return answer_html(None), answer_line_html(None), None, None, compare_table({})


def decode_png(image: str) -> bytes:
    """Base64 image bytes, bare or as a `data:image/...;base64,` URL (the API's input)."""
    try:
        return base64.b64decode(image.rpartition("base64,")[2], validate=True)
    except (binascii.Error, ValueError, AttributeError):
        raise gr.Error("The image must be base64 (or a data: URL) of a PNG or JPEG file.") from None


def api_predict(app: AppState, image: str, model: str) -> dict[str, Any]:
    """One model's answer as JSON, the same shape as `python -m digits predict --json`."""
    png = decode_png(image)
    try:
        return app.store.predict(png, model).as_dict()
    except UnknownModelError as exc:
        raise gr.Error(str(exc)) from None
    except (ValueError, TypeError, OSError) as exc:
        raise unreadable(exc) from None


def train_defaults(name: str, finetune: bool = False):
    """The recipe's epochs, batch size and learning rate; fine-tuning's own epochs and lr."""
    r = get_spec(name).recipe
    epochs, lr = (FINETUNE_EPOCHS, r.lr * FINETUNE_LR_SCALE) if finetune else (r.epochs, r.lr)
    return gr.update(value=epochs), gr.update(value=r.batch_size), gr.update(value=lr)


def start_training(app: AppState, name: str, epochs: float, batch: float, lr: float, feedback: bool = False,
                   finetune: bool = False, negatives: bool = False) -> str:
    if app.job is None:
        return "Training is switched off on this server."
    if feedback and app.feedback is None:
        return f"⚠️ There are no visitors' drawings to train on: {app.feedback_problem}."
    cfg = TrainConfig.from_recipe(name, epochs=int(epochs), batch_size=int(batch), lr=float(lr),
                                  feedback=bool(feedback), finetune=bool(finetune),
                                  negatives=SHIPPED_NEGATIVES if negatives else 0)
    ok, message = app.job.start(cfg)
    return message if ok else f"⚠️ {message}"


def cancel_training(app: AppState) -> str:
    if app.job is None or not app.job.cancel():
        return "No training job is running."
    return "Cancelling…"


def progress_html(s: JobState) -> str:
    if s.status == "idle":
        return "<div class='job idle'>No training job yet. Pick a model and press Start.</div>"
    p = s.progress or {}
    frac = p.get("step", 0) / max(1, p.get("total_steps", 1))
    if s.status == "done":
        frac = 1.0
    eta = p.get("eta", 0.0)
    detail = (f"epoch {p.get('epoch', 0)}/{p.get('epochs', '?')} · batch {p.get('batch', 0)}/{p.get('batches', '?')}"
              f" · loss {p.get('loss', float('nan')):.4f}"
              + (f" · val {100 * p['val_acc']:.2f}%" if p.get("val_acc") is not None else "")
              + (f" · ETA {int(eta) // 60}:{int(eta) % 60:02d}" if s.active else ""))
    return (f"<div class='job {s.status}'><div class='jobhead'><b>{html.escape(s.model or '')}</b> "
            f"<span class='status'>{s.status}</span> <span>{html.escape(detail) if p else ''}</span></div>"
            f"<div class='track'><div class='fill' style='width:{100 * frac:.1f}%'></div></div>"
            f"<div class='msg'>{html.escape(s.message.splitlines()[0] if s.message else '')}</div></div>")


def curve_frame(s: JobState) -> pd.DataFrame:
    rows = [{"step": c["step"], "metric": "loss", "value": c["loss"]} for c in s.curve if c["phase"] == "train"]
    rows += [{"step": c["step"], "metric": "val accuracy", "value": c["val_acc"]}
             for c in s.curve if c["phase"] == "epoch_end" and c["val_acc"] is not None]
    if not rows:  # the plot learns its series from the first value: name both up front
        rows = [{"step": 0, "metric": metric, "value": None} for metric in CURVE_COLOURS]
    frame = pd.DataFrame(rows, columns=["step", "metric", "value"])
    return frame.astype({"step": int, "metric": str, "value": float})


def card_markdown(s: JobState) -> str:
    c = s.card
    if not c:
        return ""
    prev = c.get("previous") or {}
    old = f"{100 * prev['test_accuracy']:.2f}%" if prev.get("test_accuracy") is not None else "none"
    verdict = ("replaced the previous weights" if s.replaced
               else "kept the previous weights (this run is saved as a candidate)")
    return (f"**{c['display_name']}**: test accuracy **{100 * c['test_accuracy']:.2f}%** (previous: {old}), "
            f"validation {100 * c['val_accuracy']:.2f}%, {c['train_seconds']:.0f} s, best epoch {c['best_epoch']}: "
            f"{verdict}.\n\nReproduce: `{c['command']}`")


# --- layout -------------------------------------------------------------------------------

CSS = """
.answer {text-align:center; padding:8px 0}
.answer .digit {font-size:96px; font-weight:700; line-height:1.0}
.answer.unsure .digit {color:#b45309}
.answer .note {font-size:15px; opacity:.8}
.answer.refused .refusal {font-size:30px; font-weight:700; padding:24px 0 8px; color:#b45309}
.answer-line.refused b {color:#b45309}
.answer.empty .hint {font-size:22px; padding:36px 0; opacity:.75}
.job .track {height:14px; background:var(--neutral-200); border-radius:7px; overflow:hidden; margin:6px 0}
.job .track .fill {height:100%; background:var(--color-accent); transition:width .4s}
.job .status {text-transform:uppercase; font-size:12px; padding:1px 6px; border-radius:4px;
  background:var(--neutral-200)}
#answer-line {display:none}
.answer-line {font-size:17px; padding:0 4px; line-height:1.2}
.answer-line .digit {font-size:28px; margin-right:6px; vertical-align:middle}
.answer-line.empty {opacity:.7; font-size:15px}
@media (max-width: 600px) {
  .answer .digit {font-size:72px}
  #answer-line {display:block}
  #sketch [data-testid="block-label"] {display:none}  /* it runs under the editor's toolbar */
}
"""

# The sketchpad starts (and, after Clear, restarts) with no tool selected; select the brush
# so a visitor can draw at once. Polls briefly because the editor mounts asynchronously.
# Buttons are found by their English label, else by their place in the editor's toolbars
# (the labels follow the browser's language).
EDITOR_BUTTON_JS = """
  const editorButton = (label, toolbar, index) => {
    const byLabel = document.querySelector(`#sketch button[aria-label="${label}"]`);
    if (byLabel) return byLabel;
    const bars = document.querySelectorAll(`#sketch ${toolbar}`);
    return bars.length ? bars[index < 0 ? bars.length + index : index] : null;
  };"""
SELECT_BRUSH_JS = """() => {""" + EDITOR_BUTTON_JS + """
  let tries = 40, seen = 0;
  const tick = () => {
    const brush = editorButton("Brush", "button.quite-round", 0);
    const erase = editorButton("Erase", "button.quite-round", 1);
    const busy = erase && erase.classList.contains('highlight');
    if (brush && !busy && !brush.classList.contains('highlight')) { brush.click(); seen = 0; }
    else if (brush) { seen += 1; }
    if (--tries > 0 && seen < 4) { setTimeout(tick, 150); }
  };
  setTimeout(tick, 150);
}"""

# Clear through the editor's own "Clear canvas" (its bin): setting the Sketchpad's value to
# None clears only once (gradio-app/gradio#9978), the bin clears every time. The bin's own
# `clear` event then resets the answers and selects the brush again.
# The editor exports a stroke's pixels asynchronously: a stroke finished just before Clear
# can reach the server after it. Such a late drawing is sent as empty when the editor has
# nothing to undo (its canvas is blank), so no stale answer lands on an empty canvas.
DROP_STALE_JS = """(sketch, ...rest) => {""" + EDITOR_BUTTON_JS + """
  const undo = editorButton("Undo", "button.icon-button", 3);
  const blank = undo && undo.disabled;
  return [blank ? null : sketch, ...rest];
}"""

CLEAR_JS = """() => {""" + EDITOR_BUTTON_JS + """
  const bin = editorButton("Clear canvas", "button.icon-button", -1);
  if (bin) bin.click();
}"""

INTRO = ("# ✍️ digits\nDraw a digit. Four PyTorch models, from a one-layer MLP to a modern CNN, "
         "say what they see, side by side. Every stroke updates the answers.")


@dataclass
class DrawTab:
    sketch: DrawingPad
    mode: gr.Radio  # one digit, or a whole number
    model: gr.Dropdown
    answer: gr.HTML
    answer_line: gr.HTML
    probs: gr.Label
    seen: gr.Image
    compare: gr.Dataframe
    predict_btn: gr.Button
    clear_btn: gr.Button
    samples: gr.Examples
    feedback: FeedbackRow | None  # None when collection is switched off


@dataclass
class FeedbackRow:
    consent: gr.Checkbox
    buttons: list[gr.Button]  # "✓ Right", 0-9, "✗ Not a digit": each button's value is its label
    message: gr.Markdown


def feedback_row() -> FeedbackRow:
    """Under the canvas: confirm the answer or give the right digit, in one click."""
    consent = gr.Checkbox(label=CONSENT_LABEL, value=False, elem_id="fb-consent")
    with gr.Row(elem_id="fb-buttons"):
        buttons = [gr.Button(RIGHT_LABEL, size="sm", variant="secondary", elem_id="fb-right", min_width=60)]
        buttons += [gr.Button(str(d), size="sm", elem_id=f"fb-{d}", min_width=32) for d in range(10)]
        buttons.append(gr.Button(NOT_DIGIT_LABEL, size="sm", elem_id="fb-not-digit", min_width=60))
    message = gr.Markdown("Is it right? Confirm, or click the digit you drew.", elem_id="fb-msg")
    return FeedbackRow(consent, buttons, message)


@dataclass
class TrainTab:
    model: gr.Dropdown
    epochs: gr.Slider
    batch: gr.Number
    lr: gr.Number
    feedback: gr.Checkbox
    finetune: gr.Checkbox
    negatives: gr.Checkbox
    start_btn: gr.Button
    cancel_btn: gr.Button
    msg: gr.Markdown
    progress: gr.HTML
    plot: gr.LinePlot
    card: gr.Markdown


@dataclass
class ModelsTab:
    table: gr.Dataframe
    pick: gr.Dropdown
    show_btn: gr.Button
    gallery: gr.Gallery
    visitors: gr.Dataframe
    confusion: gr.Image
    visitor_gallery: gr.Gallery


def draw_tab(choices: list[tuple[str, str]], default: str | None, collecting: bool) -> DrawTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            sketch = DrawingPad(
                label="Draw one digit", type="numpy", image_mode="RGBA", format="png",
                canvas_size=(APP_CANVAS_PX, APP_CANVAS_PX), height=APP_CANVAS_PX + EDITOR_CHROME_PX,
                fixed_canvas=True,
                brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=APP_BRUSH_RADIUS_PX),
                eraser=gr.Eraser(default_size=2 * APP_BRUSH_RADIUS_PX), layers=False, elem_id="sketch")
            answer_line = gr.HTML(answer_line_html(None), elem_id="answer-line")
            with gr.Row():
                predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn")
                clear_btn = gr.Button("Clear", elem_id="clear-btn")
            feedback = feedback_row() if collecting else None
        with gr.Column(scale=2, min_width=260):
            model = gr.Dropdown(choices=choices, value=default, label="Model", elem_id="model-dd")
            mode = gr.Radio([ONE_DIGIT, A_NUMBER], value=ONE_DIGIT, label="Write", elem_id="write-mode",
                            info="A number: write its digits side by side, a little apart")
            answer = gr.HTML(answer_html(None), elem_id="answer")
            probs = gr.Label(num_top_classes=3, label="Probabilities", elem_id="probs")
            seen = gr.Image(label="What the model sees (28×28)", format="png", height=PREVIEW_PX + 40,
                            interactive=False, elem_id="seen")
    # Not wrapped: on a phone the table scrolls sideways instead of breaking its headers.
    compare = gr.Dataframe(headers=COMPARE_COLUMNS, label=COMPARE_EMPTY, interactive=False, elem_id="compare")
    samples = gr.Examples(examples=[[p] for p in example_paths()], inputs=[sketch], label="Sample drawings")
    return DrawTab(sketch, mode, model, answer, answer_line, probs, seen, compare, predict_btn, clear_btn, samples,
                   feedback)


def train_tab(max_epochs: int, collecting: bool) -> TrainTab:
    names = list_models()
    first = get_spec(names[0]).recipe
    with gr.Row():
        model = gr.Dropdown(choices=[(get_spec(n).display_name, n) for n in names], value=names[0], label="Model",
                            elem_id="train-model")
        epochs = gr.Slider(1, max_epochs, value=min(first.epochs, max_epochs), step=1,
                           label=f"Epochs (at most {max_epochs})", elem_id="train-epochs")
        batch = gr.Number(value=first.batch_size, precision=0, minimum=8, maximum=4096, label="Batch size",
                          elem_id="train-batch")
        lr = gr.Number(value=first.lr, minimum=1e-5, maximum=1.0, label="Peak learning rate", elem_id="train-lr")
    with gr.Row():
        feedback = gr.Checkbox(label="Also train on visitors' drawings (the newest fifth validates)",
                               value=False, visible=collecting, elem_id="train-feedback")
        finetune = gr.Checkbox(label="Fine-tune the current weights (MNIST replayed beside them)", value=False,
                               elem_id="train-finetune")
        negatives = gr.Checkbox(label=f"Also show it {SHIPPED_NEGATIVES:,} non-digits (letters, shapes, scribbles) "
                                      "so it learns to refuse them (making them takes about a minute)",
                                value=False, elem_id="train-negatives")
    with gr.Row():
        start_btn = gr.Button("Start training", variant="primary", elem_id="start-btn")
        cancel_btn = gr.Button("Cancel", variant="stop", elem_id="cancel-btn")
    msg = gr.Markdown(elem_id="train-msg")
    progress = gr.HTML(progress_html(JobState()), elem_id="train-progress")
    plot = gr.LinePlot(curve_frame(JobState()), x="step", y="value", color="metric", color_map=CURVE_COLOURS,
                       title="Loss and validation accuracy", height=260, elem_id="train-plot")
    card = gr.Markdown(elem_id="train-card")
    gr.Markdown("Training runs on the server in its own process: it carries on if you close this tab, and one "
                "job runs at a time. New weights replace the current ones only if their validation accuracy is "
                "at least as good.")
    return TrainTab(model, epochs, batch, lr, feedback, finetune, negatives, start_btn, cancel_btn, msg, progress,
                    plot, card)


def models_tab(app: AppState, default: str | None) -> ModelsTab:
    table = gr.Dataframe(models_table(app.store), interactive=False, wrap=True, elem_id="models-table")
    gr.Markdown("**On visitors' own handwriting**: each model scored on the drawings visitors labelled, "
                "only those stored after the last one its weights trained on (95% Wilson interval).")
    visitors = gr.Dataframe(visitor_table(app), interactive=False, elem_id="visitor-table")
    with gr.Row():
        pick = gr.Dropdown(choices=[(get_spec(n).display_name, n) for n in list_models()], value=default,
                           label="Where does this model fail?")
        show_btn = gr.Button("Show the digits it gets wrong")
    gallery = gr.Gallery(label="Misclassified MNIST test digits", columns=6, height="auto")
    with gr.Row():
        confusion = gr.Image(label="On visitors' drawings: rows = the digit drawn, columns = what it said",
                             format="png", interactive=False, elem_id="visitor-confusion")
        visitor_gallery = gr.Gallery(label="Visitors' drawings it gets wrong", columns=4, height="auto",
                                     elem_id="visitor-mistakes")
    return ModelsTab(table, pick, show_btn, gallery, visitors, confusion, visitor_gallery)


@dataclass
class WhyPanel:
    accordion: gr.Accordion
    opened: gr.State
    method: gr.Radio
    summary: gr.Markdown
    on_drawing: gr.Image
    for_answer: gr.Image
    for_runner: gr.Image
    every_model: gr.Gallery
    features: gr.Gallery


def why_panel() -> WhyPanel:
    """A closed accordion under the Draw tab: the first screen stays simple."""
    with gr.Accordion("Why this answer? What each model looked at", open=False, elem_id="why") as accordion:
        opened = gr.State(False)
        method = gr.Radio([(label, key) for key, label in METHODS.items()], value=DEFAULT_METHOD,
                          label="Method", elem_id="why-method")
        summary = gr.Markdown(WHY_EMPTY, elem_id="why-summary")
        with gr.Row():
            picture = dict(format="png", interactive=False, height=HEAT_PX + 40, buttons=[])
            on_drawing = gr.Image(label="On your drawing", elem_id="why-drawing", **picture)
            for_answer = gr.Image(label="Evidence for the answer (28×28)", elem_id="why-answer", **picture)
            for_runner = gr.Image(label="Evidence for the runner-up", elem_id="why-runner", **picture)
        every_model = gr.Gallery(label="Every model's evidence for its own answer", columns=4, height="auto",
                                 object_fit="contain",
                                 elem_id="why-models")
        features = gr.Gallery(label=FEATURES_LABEL, columns=6, height="auto", object_fit="contain",
                              elem_id="why-features")
    return WhyPanel(accordion, opened, method, summary, on_drawing, for_answer, for_runner, every_model, features)


def why_outputs_of(w: WhyPanel) -> list:
    return [w.summary, w.on_drawing, w.for_answer, w.for_runner, w.every_model, w.features]


def why_cleared():
    return (WHY_EMPTY, None, gr.update(value=None, label="Evidence for the answer (28×28)"),
            gr.update(value=None, label="Evidence for the runner-up"), [], gr.update(value=[], label=FEATURES_LABEL))


def why_views(app: AppState, sketch: Any, model: str | None, method: Method, opened: bool):
    """The panel's six views for the selected model (and the row of every model's map)."""
    if not opened:
        return (gr.skip(),) * 6
    try:
        found = explain_all(sketch, method, store=app.store)
    except (ValueError, TypeError, OSError, AttributeError):  # the answer already said what is wrong
        return why_cleared()
    if not found:
        return why_cleared()
    e = found.get(model or "") or next(iter(found.values()))
    name = get_spec(e.model).display_name
    answer, runner = answer_maps(e)
    said = (f"**{name} says it is not a digit**: its best guess is {e.digit}" if e.refused
            else f"**{name} says {e.digit}**")
    summary = (f"{said} ({e.probabilities[e.digit]:.0%}); runner-up **{e.runner_up}** "
               f"({e.probabilities[e.runner_up]:.0%}). Red pixels pushed the model towards the digit, blue "
               f"away from it ({METHODS[method]}).")
    row = [(answer_maps(x)[0], f"{get_spec(n).display_name}: {x.digit}{' (not a digit)' * x.refused}")
           for n, x in found.items()]
    features = gr.update(value=feature_pairs(e.features), label=FEATURES_LABEL if e.features else
                         f"{name} has no convolutions, so no feature maps: each hidden unit sees every pixel")
    return (summary, fit_width(drawing_overlay(e), WHY_DRAWING_PX),
            gr.update(value=answer, label=f"Evidence for {e.digit} (28×28)"),
            gr.update(value=runner, label=f"Evidence for {e.runner_up}, the runner-up"), row, features)


def wire_draw(app: AppState, d: DrawTab) -> list:
    """Every stroke (change) re-predicts, the last one wins; Clear drops what is in flight.
    Returns the prediction events (the explanations follow them)."""
    inputs = [d.sketch, d.model, d.mode]
    outputs = [d.answer, d.answer_line, d.probs, d.seen, d.compare]
    on_draw = lambda s, m, mode: classify(app, s, m, mode)  # noqa: E731
    served = dict(show_progress="hidden", concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="predict")
    drawn = d.sketch.change(on_draw, inputs, outputs, trigger_mode="always_last", js=DROP_STALE_JS,
                            api_name="classify", **served)
    redrawn = gr.on([d.model.change, d.mode.change, d.predict_btn.click], on_draw, inputs, outputs,
                    api_visibility="private",
                    **served)
    # Clear: the editor's bin empties the canvas; its `clear` event drops every answer still
    # in flight (so none lands on the empty canvas), shows the hint and selects the brush.
    d.sketch.clear(cleared_outputs, None, outputs, cancels=[drawn, redrawn], show_progress="hidden",
                   api_visibility="private")
    d.sketch.clear(None, None, None, js=SELECT_BRUSH_JS)
    d.clear_btn.click(cleared_outputs, None, outputs, js=CLEAR_JS, cancels=[drawn, redrawn],
                      show_progress="hidden", api_visibility="private")
    # Loading a sample does not count as a change of the sketchpad: predict explicitly.
    sampled = d.samples.load_input_event.then(on_draw, inputs, outputs, api_visibility="private", **served)
    return [drawn, redrawn, sampled]


def wire_why(app: AppState, d: DrawTab, w: WhyPanel, predictions: list) -> None:
    """The explanation follows each answer as a second event in its own concurrency group, so
    it can lag on a busy server but never delays an answer; a closed panel computes nothing."""
    inputs, outputs = [d.sketch, d.model, w.method, w.opened, d.mode], why_outputs_of(w)

    def on_why(sketch: Any, model: str | None, method: Method, opened: bool, mode: str):
        if opened and mode == A_NUMBER:
            return (WHY_NUMBER, *why_cleared()[1:])
        return why_views(app, sketch, model, method, opened)

    served = dict(show_progress="hidden", concurrency_limit=WHY_CONCURRENCY, concurrency_id="explain",
                  api_visibility="private")
    events = [p.then(on_why, inputs, outputs, **served) for p in predictions]
    events.append(w.method.change(on_why, inputs, outputs, **served))
    events.append(w.accordion.expand(lambda: True, None, w.opened, api_visibility="private")
                  .then(on_why, inputs, outputs, **served))
    w.accordion.collapse(lambda: False, None, w.opened, api_visibility="private")
    for clear in (d.sketch.clear, d.clear_btn.click):
        clear(why_cleared, None, outputs, cancels=events, show_progress="hidden", api_visibility="private")


def wire_feedback(app: AppState, d: DrawTab, m: ModelsTab) -> None:
    """Each button sends its own value as the label; the first is also the public `feedback`
    endpoint (sketch, model, consent, label)."""
    f = d.feedback

    def on_feedback(sketch: Any, model: str | None, consent: bool, label: str, mode: str, request: gr.Request):
        return give_feedback(app, sketch, model, consent, label, request, mode)

    served = dict(show_progress="hidden", concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="feedback")
    for i, button in enumerate(f.buttons):
        button.click(on_feedback, [d.sketch, d.model, f.consent, button, d.mode], [f.message, m.visitors],
                     **(dict(api_name="feedback") if i == 0 else dict(api_visibility="private")), **served)


def wire_api(app: AppState) -> None:
    """An API-only endpoint that runs just one model on a base64 image (bench/app_latency.py)."""
    def predict(image: str, model: str = DEFAULT_MODEL) -> dict:
        """A base64 PNG/JPEG (or data: URL) and a model name -> {model, digit, probabilities, reason}."""
        return api_predict(app, image, model)

    gr.api(predict, api_name="predict", concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="predict")


def wire_models(app: AppState, m: ModelsTab) -> None:
    def show_mistakes(name: str):
        try:
            return mistakes_gallery(app.mistakes.get(name))
        except Exception as exc:  # no MNIST on this server, or broken weights
            gr.Warning(f"The gallery needs the MNIST test split: {exc}")
            return []

    m.show_btn.click(show_mistakes, [m.pick], [m.gallery], api_visibility="private")
    m.show_btn.click(lambda name: visitor_views(app, name), [m.pick], [m.confusion, m.visitor_gallery],
                     api_visibility="private")


def wire_train(app: AppState, demo: gr.Blocks, t: TrainTab, draw: DrawTab, models: ModelsTab,
               default: str | None) -> None:
    """Start, Cancel, and a progress timer that runs only while a job does: Start arms it, the
    poll that sees the job end disarms it, and a page (re)load arms it if a job is running."""
    gr.on([t.model.change, t.finetune.change], train_defaults, [t.model, t.finetune], [t.epochs, t.batch, t.lr],
          api_visibility="private")
    timer = gr.Timer(POLL_S, active=False)
    seen_finish = gr.State(None)
    polled = [t.progress, t.plot, t.card, seen_finish, draw.model, models.table, t.msg, timer]
    t.start_btn.click(lambda *a: start_training(app, *a), [t.model, t.epochs, t.batch, t.lr, t.feedback,
                                                           t.finetune, t.negatives], [t.msg],
                      api_name="train").then(lambda: gr.Timer(active=True), None, [timer], api_visibility="private")
    t.cancel_btn.click(lambda: cancel_training(app), None, [t.msg], api_visibility="private")

    def poll(last_finish, current_model):
        s = app.job.snapshot()
        updates = [progress_html(s), curve_frame(s), card_markdown(s)]
        keep_polling = gr.Timer(active=s.active)
        if s.finished is not None and s.finished != last_finish:
            choices = model_choices(app.store)
            keep = current_model if any(v == current_model for _, v in choices) else default
            # the job's card now tells how it ended: clear "started ..." / "Cancelling..."
            return (*updates, s.finished, gr.update(choices=choices, value=keep), models_table(app.store), "",
                    keep_polling)
        return (*updates, last_finish, gr.update(), gr.update(), gr.update(), keep_polling)

    timer.tick(poll, [seen_finish, draw.model], polled, show_progress="hidden", api_visibility="private")
    demo.load(poll, [seen_finish, draw.model], polled, show_progress="hidden", api_visibility="private")


def build_app(app: AppState | None = None) -> gr.Blocks:
    app = app or AppState.from_env()
    choices = model_choices(app.store)
    default = DEFAULT_MODEL if any(v == DEFAULT_MODEL for _, v in choices) else (choices[0][1] if choices else None)
    with gr.Blocks(title="digits: draw a digit, compare models") as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Draw & compare", id="draw"):
                draw = draw_tab(choices, default, collecting=app.feedback_problem != FEEDBACK_OFF)
                why = why_panel()
            if app.training_enabled:
                with gr.Tab("Train", id="train"):
                    train = train_tab(app.max_epochs, collecting=app.feedback is not None)
            with gr.Tab("Models", id="models"):
                models = models_tab(app, default)
        wire_why(app, draw, why, wire_draw(app, draw))
        if draw.feedback is not None:
            wire_feedback(app, draw, models)
        wire_api(app)
        wire_models(app, models)
        if app.training_enabled:
            wire_train(app, demo, train, draw, models, default)
        demo.load(None, None, None, js=SELECT_BRUSH_JS)
    demo.app_state = app  # tests reach the shared state through the Blocks object
    return demo


_built: gr.Blocks | None = None


def __getattr__(name: str) -> gr.Blocks:
    """`demo`, built on first access: importing this module (tests, tools) loads no model; Gradio's
    reload mode and anything that reads `demo.demo` get the app as usual."""
    global _built
    if name != "demo":
        raise AttributeError(name)
    if _built is None:
        _built = build_app()
    return _built

def refuse_huge_images() -> None:
    """Gradio decodes uploads with PIL before our code runs: make PIL refuse, from the image's
    header, anything above the pixel budget (a decompression bomb included)."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)


if __name__ == "__main__":
    torch.set_num_threads(INFERENCE_THREADS)
    refuse_huge_images()
    demo = build_app()
    demo.queue(default_concurrency_limit=PREDICT_CONCURRENCY, max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        css=CSS,
        theme=gr.themes.Soft(),
        show_error=True,  # Gradio's own input checks (a broken upload) reach the visitor with their message
        max_file_size=MAX_UPLOAD,
    )
