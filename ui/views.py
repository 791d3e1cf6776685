"""Pure view helpers: answers, readings and tables as HTML, pictures and frames (tested
without a browser)."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from digits.evaluate import Mistake
from digits.models import get_spec
from digits.recognition.inference import EMPTY, NOT_A_DIGIT, ModelStore, Prediction
from digits.recognition.reading import Reading
from digits.weights import WeightsError

ONE_DIGIT, A_NUMBER = "One digit", "A number"  # the Draw tab's "Write" choice
MISTAKE_PX = 84  # each misclassified test digit in the gallery: 28 x 3
PREVIEW_PX = 168  # "what the model sees": 28 x 6, nearest neighbour
READING_PX = 300  # number mode: the copy of the drawing with each digit's box
READING_DIGIT_PX = 56  # ... and each digit's 28x28, twice as large
UNSURE_BELOW = 0.8  # a calibrated probability below this: the answer says it is unsure (digits/recognition/trust.py)
REFUSAL = "That doesn't look like a digit"
NUMBER_HINT = "Several digits? Choose “A number” under Write."  # a number written in one-digit mode


def enlarge(image28: np.ndarray, size: int = PREVIEW_PX) -> np.ndarray:
    """A 28x28 [0, 1] image as a crisp, black-on-white uint8 picture."""
    img = Image.fromarray((255 * (1 - np.clip(image28, 0, 1))).astype(np.uint8), mode="L")
    return np.asarray(img.resize((size, size), Image.Resampling.NEAREST))


def mistakes_gallery(mistakes: list[Mistake]) -> list[tuple[np.ndarray, str]]:
    return [(enlarge(m.image28, MISTAKE_PX), f"#{m.index}: true {m.true}, said {m.predicted}") for m in mistakes]


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


HINTS = {ONE_DIGIT: ("Draw a digit", "Draw a digit: the answer appears here."),
         A_NUMBER: ("Write a number", "Write a number: the reading appears here.")}  # (answer, compact)


def empty_answers(mode: str = ONE_DIGIT) -> tuple[str, str]:
    """(answer, compact answer) on an empty canvas: what to draw in this mode."""
    hint, line = HINTS.get(mode, HINTS[ONE_DIGIT])
    return (f"<div class='answer empty'><div class='hint'>✍️ {hint}</div></div>",
            f"<div class='answer-line empty'>{line}</div>")


def answer_html(p: Prediction | None, several: bool = False) -> str:
    """The answer panel; `several`: the refused drawing holds several groups of ink (a number)."""
    name = "" if p is None else html.escape(get_spec(p.model).display_name)
    if p is not None and p.reason == NOT_A_DIGIT:
        hint = f"<div class='note number-hint'>{NUMBER_HINT}</div>" if several else ""
        return (f"<div class='answer refused'><div class='refusal'>{REFUSAL}</div>"
                f"<div class='note'>{name}: {_guess_note(p)}</div>{hint}</div>")
    if p is None or p.digit is None:
        why = "" if p is None or not p.empty_reason or p.empty_reason == "no ink" else f" ({p.empty_reason})"
        return f"<div class='answer empty'><div class='hint'>✍️ {HINTS[ONE_DIGIT][0]}{html.escape(why)}</div></div>"
    conf = p.confidence
    unsure = conf < UNSURE_BELOW
    note = f"not sure: maybe {p.digit}" if unsure else f"{100 * conf:.0f}% sure"
    cls = "answer unsure" if unsure else "answer"
    return f"<div class='{cls}'><div class='digit'>{p.digit}</div><div class='note'>{name}: {note}</div></div>"


def answer_line_html(p: Prediction | None, several: bool = False) -> str:
    """The compact answer shown next to the canvas on narrow screens (the full panel is below)."""
    if p is not None and p.reason == NOT_A_DIGIT:
        note = NUMBER_HINT if several else _guess_note(p)
        return f"<div class='answer-line refused'><b>{REFUSAL}</b> <span>{note}</span></div>"
    if p is None or p.digit is None:
        return empty_answers(ONE_DIGIT)[1]
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
    views = [enlarge(p.image28, READING_DIGIT_PX) for p in r.digits]
    strip = np.hstack(sum(([v, np.full((READING_DIGIT_PX, 6), 255, np.uint8)] for v in views), []))
    strip_rgb = np.stack([strip] * 3, axis=-1)
    canvas = np.full((small.height + READING_DIGIT_PX + 8, max(READING_PX, strip_rgb.shape[1]), 3), 255, np.uint8)
    canvas[:small.height, :READING_PX] = np.asarray(small)
    canvas[small.height + 8:, :strip_rgb.shape[1]] = strip_rgb
    return canvas


def number_refusal(r: Reading) -> tuple[str, str]:
    """(answer, compact answer) when a piece of the drawing is not a digit: which one, and the
    model's best guess for the whole."""
    refused = [str(i + 1) for i, p in enumerate(r.digits) if p.digit is None]
    guess = "".join(str(p.best_guess) for p in r.digits)
    where = f"piece {', '.join(refused)} of {len(r.digits)}" if len(r.digits) > 1 else "it"
    note = f"{html.escape(get_spec(r.model).display_name)}: {where} is not a digit; best guess {guess}"
    return (f"<div class='answer refused'><div class='refusal'>{REFUSAL}</div><div class='note'>{note}</div></div>",
            f"<div class='answer-line refused'><b>{REFUSAL}</b> <span>best guess {guess}</span></div>")
