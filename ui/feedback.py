"""Under the canvas: the visitor confirms or corrects the answer, stored only with consent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from digits.models import DEFAULT_MODEL
from digits.recognition.inference import NOT_A_DIGIT
from digits.recognition.reading import read
from digits.visitors.store import MAX_LABEL_DIGITS, FeedbackError, FeedbackUnavailable, anonymous_session, record

from .cards import ModelsTab, visitor_table
from .state import PREDICT_CONCURRENCY, AppState
from .views import A_NUMBER, ONE_DIGIT

if TYPE_CHECKING:  # draw.py builds this row: importing it here at run time would be circular
    from .draw import DrawTab

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


def feedback_cleared(mode: str) -> tuple[Any, str]:
    return gr.update(value=""), FEEDBACK_ASK.get(mode, FEEDBACK_ASK[ONE_DIGIT])


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
    elif not str(label).strip():
        return "Type the number you wrote first.", gr.skip()
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
    f.number.submit(on_feedback, [d.sketch, d.model, f.consent, f.number, d.mode], [f.message, m.visitors],
                    api_visibility="private", **served)
    d.mode.change(feedback_mode, [d.mode], [*f.digit_buttons, f.number, f.message], show_progress="hidden",
                  api_visibility="private")
    # A new drawing: no thanks or typed number left over (Clear's button presses the bin).
    d.sketch.clear(feedback_cleared, [d.mode], [f.number, f.message], show_progress="hidden",
                   api_visibility="private")
