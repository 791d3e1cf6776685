"""Under the canvas: the visitor confirms or corrects the answer, stored only with consent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from digits.recognition.inference import NOT_A_DIGIT
from digits.visitors.store import MAX_LABEL_DIGITS, FeedbackError, FeedbackUnavailable, anonymous_session, record

from .cards import ModelsTab, visitor_table
from .draw import DrawTab, decode_drawing
from .state import PREDICT_CONCURRENCY, AppState
from .views import A_NUMBER, ONE_DIGIT, shown_label

RIGHT_LABEL = "✓ Right"
NOT_DIGIT_LABEL = "✗ Not a digit"  # the visitor says the drawing is no digit at all
CONSENT_LABEL = "Keep this drawing to evaluate and improve the models (no names, no IP addresses)"


FEEDBACK_ASK = {ONE_DIGIT: "Is it right? Confirm, or click the digit you drew.",
                A_NUMBER: "Is it right? Confirm, or type the number you wrote and press Enter."}


@dataclass
class FeedbackRow:
    consent: gr.Checkbox
    buttons: list[gr.Button]  # "✓ Right", 0-9, "✗ Not a digit": each button's value is its label
    number: gr.Textbox  # number mode: the number the visitor wrote, in place of the 0-9 buttons
    message: gr.Markdown

    @property
    def digit_buttons(self) -> list[gr.Button]:
        return self.buttons[1:-1]


def feedback_row() -> FeedbackRow:
    """Under the canvas: confirm the answer or give the right digit, in one click (in number
    mode, the right number, typed)."""
    consent = gr.Checkbox(label=CONSENT_LABEL, value=False, elem_id="fb-consent")
    with gr.Row(elem_id="fb-buttons"):
        buttons = [gr.Button(RIGHT_LABEL, size="sm", variant="secondary", elem_id="fb-right", min_width=60)]
        buttons += [gr.Button(str(d), size="sm", elem_id=f"fb-{d}", min_width=32) for d in range(10)]
        buttons.append(gr.Button(NOT_DIGIT_LABEL, size="sm", elem_id="fb-not-digit", min_width=60))
    number = gr.Textbox(label="The number you wrote", placeholder="e.g. 2026, then Enter", max_lines=1,
                        max_length=MAX_LABEL_DIGITS, visible=False, elem_id="fb-number")
    message = gr.Markdown(FEEDBACK_ASK[ONE_DIGIT], elem_id="fb-msg")
    return FeedbackRow(consent, buttons, number, message)


def feedback_mode(mode: str) -> list:
    """The row in this mode: 0-9 buttons for a digit, a box to type a number in."""
    digit = mode != A_NUMBER
    return [*(gr.update(visible=digit) for _ in range(10)), gr.update(visible=not digit, value=""),
            FEEDBACK_ASK[ONE_DIGIT if digit else A_NUMBER]]


def give_feedback(app: AppState, drawing: Any, shown: dict | None, consent: bool, label: str,
                  request: gr.Request | None = None, table: bool = True) -> tuple[str, Any]:
    """A visitor's "right" or correction: stored only with consent; every failure is a message.
    ✓ Right confirms what the page showed (`shown`, the results dict), never a new prediction.
    With `table`, the Models tab's visitor table too (it scores every model on every drawing)."""
    if not consent:
        return ("Tick **Keep this drawing** first: nothing is stored without it.", gr.skip())
    if app.feedback is None:
        return (f"Could not save: {app.feedback_problem}. The models still answer.", gr.skip())
    if label == NOT_DIGIT_LABEL:
        label = NOT_A_DIGIT
    elif label == RIGHT_LABEL:
        label = shown_label(shown)
        if label is None:
            return "Draw a digit first.", gr.skip()
    elif not str(label).strip():
        return "Type the number you wrote first.", gr.skip()
    session = anonymous_session(getattr(request, "session_hash", None), app.salt)
    try:
        row = record(app.feedback, app.store, drawing, label, session)
    except FeedbackUnavailable as exc:
        return f"Could not save: {exc}. The models still answer.", gr.skip()
    except (FeedbackError, ValueError, OSError) as exc:
        return f"Not kept: {exc}.", gr.skip()
    return f"Thank you: kept as **{label}** (drawing #{row}).", visitor_table(app) if table else gr.skip()


def wire_feedback(app: AppState, d: DrawTab, f: FeedbackRow, m: ModelsTab) -> None:
    """Each button sends its own value as the label, with what the page showed; the API's
    `feedback` endpoint takes the drawing and the label a caller gives."""

    def on_feedback(pad: dict, shown: dict, consent: bool, label: str, request: gr.Request):
        return give_feedback(app, pad, shown, consent, label, request)

    served = dict(show_progress="hidden", concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="feedback",
                  api_visibility="private")
    for button in f.buttons:
        button.click(on_feedback, [d.pad, d.answers, f.consent, button], [f.message, m.visitors], **served)
    f.number.submit(on_feedback, [d.pad, d.answers, f.consent, f.number], [f.message, m.visitors], **served)
    d.mode.change(feedback_mode, [d.mode], [*f.digit_buttons, f.number, f.message], show_progress="hidden",
                  api_visibility="private")
    # A new stroke: ask again (no thanks left over from the last drawing); in the browser only.
    ask = "(mode) => (" + json.dumps(FEEDBACK_ASK) + ")[mode]"
    d.pad.change(None, [d.mode], [f.message], js=ask, show_progress="hidden", api_visibility="private")

    def feedback(drawing: str, label: str, consent: bool = False, request: gr.Request = None) -> str:
        """Keep a labelled drawing (the pad's strokes as JSON, or a base64 PNG/JPEG): label is a
        digit, a whole number or "not a digit"; consent must be true. Answers what happened."""
        if not str(label or "").strip() or label in (RIGHT_LABEL, NOT_DIGIT_LABEL):
            return "Not kept: give the label (a digit, a whole number or 'not a digit')."
        return give_feedback(app, decode_drawing(drawing), None, consent, label, request, table=False)[0]

    gr.api(feedback, api_name="feedback", concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="feedback")
