"""The Draw tab: the sketchpad, the answers that follow every stroke, Clear, and the API."""

from __future__ import annotations

import base64
import binascii
import html
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.components.image_editor import EditorData

from digits.models import DEFAULT_MODEL, UnknownModelError, get_spec
from digits.recognition.inference import EMPTY, NOT_A_DIGIT
from digits.recognition.preprocess import ImageInputError, ink_map, preprocess_ink
from digits.recognition.reading import read_ink_all, several_digits
from digits.synthetic.sketches import APP_BRUSH_RADIUS_PX, APP_CANVAS_PX, APP_NUMBER_BRUSH_RADIUS_PX, example_paths

from .feedback import FeedbackRow, feedback_row
from .state import PREDICT_CONCURRENCY, AppState
from .views import (
    A_NUMBER,
    COMPARE_COLUMNS,
    COMPARE_EMPTY,
    ONE_DIGIT,
    PREVIEW_PX,
    answer_html,
    answer_line_html,
    compare_table,
    empty_answers,
    enlarge,
    label_value,
    number_refusal,
    reading_picture,
    reading_table,
)

EDITOR_CHROME_PX = 60  # room for the editor's toolbar: the canvas fits at 100%, the zoom its Clear returns to
SKETCH_LABELS = {ONE_DIGIT: "Draw one digit", A_NUMBER: "Write a number: its digits side by side"}
BRUSH_RADIUS_PX = {ONE_DIGIT: APP_BRUSH_RADIUS_PX, A_NUMBER: APP_NUMBER_BRUSH_RADIUS_PX}  # a finer pen for numbers

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
# None clears only once (gradio-app/gradio#9978), the bin clears every time. The Clear button
# only presses the bin in the browser; the bin's own `clear` event (one per Clear) then resets
# the answers, the explanations and the feedback row, and selects the brush again.
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


def pen(mode: str) -> gr.Brush:
    """The sketchpad's brush in each writing mode: black only, finer for a number."""
    return gr.Brush(colors=["#000000"], color_mode="fixed", default_size=BRUSH_RADIUS_PX[mode])


def draw_tab(choices: list[tuple[str, str]], default: str | None, collecting: bool) -> DrawTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            sketch = DrawingPad(
                label=SKETCH_LABELS[ONE_DIGIT], type="numpy", image_mode="RGBA", format="png",
                canvas_size=(APP_CANVAS_PX, APP_CANVAS_PX), height=APP_CANVAS_PX + EDITOR_CHROME_PX,
                fixed_canvas=True,
                brush=pen(ONE_DIGIT),
                eraser=gr.Eraser(default_size=2 * APP_BRUSH_RADIUS_PX), layers=False, elem_id="sketch")
            answer_line = gr.HTML(answer_line_html(None), elem_id="answer-line")
            with gr.Row():
                predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn")
                clear_btn = gr.Button("Clear", elem_id="clear-btn")
            feedback = feedback_row() if collecting else None
        with gr.Column(scale=2, min_width=260):
            model = gr.Dropdown(choices=choices, value=default, label="Model", elem_id="model-dd")
            mode = gr.Radio([ONE_DIGIT, A_NUMBER], value=ONE_DIGIT, label="Write", elem_id="write-mode",
                            info="One digit: draw it large. A number: its digits side by side, a little apart")
            answer = gr.HTML(answer_html(None), elem_id="answer")
            probs = gr.Label(num_top_classes=3, label="Probabilities", elem_id="probs")
            seen = gr.Image(label="What the model sees (28×28)", format="png", height=PREVIEW_PX + 40,
                            interactive=False, elem_id="seen")
    # Not wrapped: on a phone the table scrolls sideways instead of breaking its headers.
    compare = gr.Dataframe(headers=COMPARE_COLUMNS, label=COMPARE_EMPTY, interactive=False, elem_id="compare")
    samples = gr.Examples(examples=[[p] for p in example_paths()], inputs=[sketch], label="Sample drawings")
    return DrawTab(sketch, mode, model, answer, answer_line, probs, seen, compare, predict_btn, clear_btn, samples,
                   feedback)


def unreadable(exc: Exception) -> gr.Error:
    """A bad input as a message the visitor can read (the server carries on)."""
    if isinstance(exc, ImageInputError):
        return gr.Error(f"Could not read that image: {exc}.", title="Not a readable image")
    return gr.Error(f"Could not read that image ({type(exc).__name__}).", title="Not a readable image")


def classify(app: AppState, sketch: Any, model: str | None, mode: str = ONE_DIGIT):
    """Sketchpad value -> (answer, compact answer, probabilities, what the model sees, compare table)."""
    if mode == A_NUMBER:
        return classify_number(app, sketch, model)
    try:
        ink = ink_map(sketch)  # decoded once: the models' 28x28 view and, if refused, its groups of ink
        preds = app.store.classify_all(preprocess_ink(ink))
    except (ValueError, TypeError, OSError, AttributeError) as exc:  # a bad upload must not break the page
        raise unreadable(exc) from None
    chosen = preds.get(model or "") or next(iter(preds.values()), None)
    if chosen is None or chosen.reason == EMPTY:
        return answer_html(chosen), answer_line_html(chosen), None, None, compare_table({})
    unavailable = {n: reason for n, reason in app.store.errors.items() if n not in preds}
    if model in unavailable:
        gr.Warning(f"{get_spec(model).display_name} is unavailable ({unavailable[model]}); "
                   f"showing {get_spec(chosen.model).display_name}.")
    several = chosen.reason == NOT_A_DIGIT and several_digits(ink)  # a number, in this mode?
    return (answer_html(chosen, several), answer_line_html(chosen, several), label_value(chosen),
            enlarge(chosen.image28), compare_table(preds, unavailable))


def classify_number(app: AppState, sketch: Any, model: str | None):
    """Number mode: every model's reading; the selected one's digits, boxes and 28x28 views."""
    try:
        ink = ink_map(sketch)
        readings = read_ink_all(ink, app.store)
    except (ValueError, TypeError, OSError, AttributeError) as exc:
        raise unreadable(exc) from None
    r = readings.get(model or "") or next(iter(readings.values()), None)
    if r is None or r.reason == EMPTY or isinstance(ink, str):
        return cleared_outputs(A_NUMBER)
    name, conf = get_spec(r.model).display_name, r.confidence
    if r.reason == NOT_A_DIGIT:
        return (*number_refusal(r), None, reading_picture(ink, r), reading_table(readings))
    sure = f"{100 * conf:.0f}% sure" + (" of them all" if len(r.digits) > 1 else "")
    note = f"{len(r.digits)} digit{'s' * (len(r.digits) != 1)}, {sure}"
    return (f"<div class='answer'><div class='digit'>{html.escape(r.text)}</div>"
            f"<div class='note'>{html.escape(name)}: {note}</div></div>",
            f"<div class='answer-line'><b class='digit'>{html.escape(r.text)}</b> "
            f"<span>{html.escape(name)}</span></div>",
            {r.text: conf}, reading_picture(ink, r), reading_table(readings))


def cleared_outputs(mode: str = ONE_DIGIT):
    """What the Draw tab shows on an empty canvas (after Clear): what to draw in this mode."""
    return *empty_answers(mode), None, None, compare_table({})


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
    d.sketch.clear(cleared_outputs, [d.mode], outputs, cancels=[drawn, redrawn], show_progress="hidden",
                   api_visibility="private")
    d.sketch.clear(None, None, None, js=SELECT_BRUSH_JS)
    # The Clear button only presses the bin (in the browser): the bin's event above is the one reset.
    d.clear_btn.click(None, None, None, js=CLEAR_JS)
    d.mode.change(lambda mode: gr.update(label=SKETCH_LABELS[mode], brush=pen(mode)), [d.mode], [d.sketch],
                  show_progress="hidden", api_visibility="private")
    # Loading a sample does not count as a change of the sketchpad: predict explicitly.
    sampled = d.samples.load_input_event.then(on_draw, inputs, outputs, api_visibility="private", **served)
    return [drawn, redrawn, sampled]


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


def wire_api(app: AppState) -> None:
    """An API-only endpoint that runs just one model on a base64 image (bench/app_latency.py)."""
    def predict(image: str, model: str = DEFAULT_MODEL) -> dict:
        """A base64 PNG/JPEG (or data: URL) and a model name -> {model, digit, probabilities, reason}."""
        return api_predict(app, image, model)

    gr.api(predict, api_name="predict", concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="predict")
