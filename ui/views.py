"""Pure view helpers: answers, readings and tables as HTML, pictures and frames (tested
without a browser)."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from digits.evaluate import Mistake
from digits.models import get_spec
from digits.recognition.inference import EMPTY, NOT_A_DIGIT, ModelStore, Prediction
from digits.recognition.preprocess import NoInk
from digits.recognition.reading import Reading
from digits.weights import WeightsError

ONE_DIGIT, A_NUMBER = "One digit", "A number"  # the Draw tab's "Write" choice
MISTAKE_PX = 84  # each misclassified test digit in the gallery: 28 x 3
READING_PX = 300  # number mode: the copy of the drawing with each digit's box
READING_DIGIT_PX = 56  # ... and each digit's 28x28, twice as large
SHORT_OF_CERTAIN = 0.9995  # from here to 1, a probability shows as ">99.9%" (as in views.js)


def percent(p: float) -> str:
    """A probability as a visitor reads it (views.js's `pct`): whole percents, but one short of
    certain never reads as 100% (99.7% stays 99.7%), nor a small one as 0%."""
    whole = math.floor(100 * p + 0.5)  # halves round up, as JavaScript's Math.round
    if whole >= 100 and p < 1:
        return f"{100 * p:.1f}%" if p < SHORT_OF_CERTAIN else ">99.9%"
    return "<1%" if whole <= 0 and p > 0 else f"{whole}%"


def enlarge(image28: np.ndarray, size: int) -> np.ndarray:
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


def seen_list(image28: np.ndarray | None) -> list[float] | None:
    """The 28x28 as the results dict carries it (three decimals: small, and exact enough)."""
    return None if image28 is None else [round(float(v), 3) for v in np.asarray(image28).ravel()]


def empty_results(mode: str = ONE_DIGIT, selected: str | None = None, reason: str = "no ink") -> dict[str, Any]:
    """The results of an empty pad: the hint for this mode."""
    return {"mode": "number" if mode == A_NUMBER else "digit", "selected": selected, "empty": reason}


def digit_results(preds: dict[str, Prediction], selected: str | None, several: bool = False,
                  where: str = "server", unavailable: dict[str, str] | None = None) -> dict[str, Any]:
    """Every model's answer as the results dict that `digits/web/static/views.js` draws (the
    browser's models make the same dict)."""
    shown = [p for p in preds.values() if p.reason != EMPTY]
    if not shown:
        first = next(iter(preds.values()), None)
        return empty_results(ONE_DIGIT, selected, (first.empty_reason if first else None) or "no ink")
    return {"mode": "digit", "where": where, "selected": selected, "several": several,
            "seen": seen_list(shown[0].image28),
            "unavailable": [{"display": get_spec(n).display_name, "why": why}
                            for n, why in (unavailable or {}).items()],
            "models": [{"name": p.model, "display": get_spec(p.model).display_name,
                        "probs": [round(v, 6) for v in p.probabilities], "refused": p.reason == NOT_A_DIGIT,
                        "ms": round(p.latency_ms, 3)} for p in shown]}


def number_results(readings: dict[str, Reading], ink: np.ndarray | NoInk, selected: str | None) -> dict[str, Any]:
    """Every model's reading of a number, and the picture of the selected one's digits."""
    chosen = readings.get(selected or "") or next(iter(readings.values()), None)
    if chosen is None or chosen.reason == EMPTY or isinstance(ink, NoInk):
        return empty_results(A_NUMBER, selected)
    rows = []
    for name, r in readings.items():
        refused = r.reason == NOT_A_DIGIT
        rows.append({"name": name, "display": get_spec(name).display_name, "text": r.text, "refused": refused,
                     "why": number_refusal(r) if refused else "", "confidence": round(r.confidence, 6),
                     "digits": len(r.digits), "ms": round(sum(p.latency_ms for p in r.digits), 3)})
    return {"mode": "number", "where": "server", "selected": chosen.model, "readings": rows,
            "picture": png_data_url(reading_picture(ink, chosen))}


def png_data_url(picture: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def shown_label(results: dict[str, Any] | None) -> str | None:
    """What the page showed for the selected model, as a label ("7", "2026", "not a digit"),
    or None when it showed nothing: the answer a visitor's ✓ Right confirms."""
    if not isinstance(results, dict) or results.get("empty"):
        return None
    if results.get("mode") == "number":
        rows = results.get("readings") or []
        r = next((x for x in rows if x.get("name") == results.get("selected")), rows[0] if rows else None)
        return None if r is None else NOT_A_DIGIT if r.get("refused") else r.get("text")
    models = results.get("models") or []
    m = next((x for x in models if x.get("name") == results.get("selected")), models[0] if models else None)
    if m is None or not m.get("probs"):
        return None
    return NOT_A_DIGIT if m.get("refused") else str(int(np.argmax(m["probs"])))


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


def number_refusal(r: Reading) -> str:
    """Why a number was refused: which piece is not a digit, and the best guess for the whole."""
    refused = [str(i + 1) for i, p in enumerate(r.digits) if p.digit is None]
    guess = "".join(str(p.best_guess) for p in r.digits)
    where = f"piece {', '.join(refused)} of {len(r.digits)}" if len(r.digits) > 1 else "it"
    return f"{where} is not a digit; best guess {guess}"
