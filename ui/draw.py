"""The Draw tab: the pad, the answers after every stroke, and the app's JSON API.

One digit is answered in the visitor's browser (`digits/web/static/local.js`): the pad's
change event runs only JavaScript, so a stroke costs the server nothing. A number, a
browser without WebAssembly, or a page whose models have not loaded yet is answered by the
server function `answer`, at most once per pause in drawing. Both make the same results
dict, which the same template (`views.js`) draws.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from digits import web
from digits.models import DEFAULT_MODEL, UnknownModelError, get_spec
from digits.recognition.inference import NOT_A_DIGIT
from digits.recognition.pieces import several_digits
from digits.recognition.preprocess import ImageInputError, ink_map, preprocess, preprocess_ink
from digits.recognition.reading import pad_of, read_ink_all
from digits.recognition.strokes import StrokesError

from .pad import PADS, REPAINT, DrawingPad, empty_pad, results_template
from .state import PREDICT_CONCURRENCY, AppState
from .views import A_NUMBER, ONE_DIGIT, digit_results, empty_results, number_results

PAUSE_MS = 250  # the server is asked once the visitor has paused this long (numbers, fallback)
PAD_LABELS = {ONE_DIGIT: "Draw one digit", A_NUMBER: "Write a number: its digits side by side"}

# The answers component's own script: `digitsAnswer(pad)`, which the pad calls after every
# stroke, answers in the browser when its models are ready (one digit), else asks the server
# function after a pause; a newer stroke's answer always wins. It paints the answers and the
# phone's answer line at once, and keeps the component's value (what ✓ Right confirms).
ANSWERS_ON_LOAD = REPAINT + """
window.digitsServer = server;
const state = {pad: null, model: props.selected, mode: props.mode, seq: 0};
const paint = (results) => {
  element.innerHTML = digitsRender(results);
  if (window.digitsPaintLine) window.digitsPaintLine(results);
  setTimeout(() => { props.value = results; }, 0);  // Gradio's copy, after the visitor sees it
};
const answer = async () => {
  const seq = ++state.seq, pad = state.pad, mode = state.mode, model = state.model;
  let results;
  if (!pad || !pad.strokes || !pad.strokes.length) {
    results = {mode: mode === "A_NUMBER" ? "number" : "digit", selected: model, empty: "no ink"};
  } else if (mode !== "A_NUMBER" && window.digitsLocal && window.digitsLocal.ready) {
    results = await window.digitsLocal.answer(pad, model);
    results.several = window.digitsGroups.severalAfterRefusal(results, pad);  // a number in one-digit mode?
  } else {
    await new Promise((r) => setTimeout(r, PAUSE_MS));  // one server call per pause in drawing
    if (seq !== state.seq) return;
    try { results = await server.answer(pad, model, mode); }
    catch (err) { results = {error: "The server could not answer: " + (err && err.message || err)}; }
  }
  if (seq === state.seq) paint(results);
};
window.digitsAnswer = (pad) => { state.pad = pad; return answer(); };
window.digitsSelect = (model, mode) => {
  const modeChanged = mode !== state.mode;
  state.model = model; state.mode = mode;
  if (modeChanged) state.pad = null;  // the pad starts again, in the mode's size
  return answer();
};
if (!window.digitsLocalStarted) {
  window.digitsLocalStarted = true;
  server.web_models().then((where) => {
    if (where && where.runtime && window.digitsLocal) return window.digitsLocal.init(where.runtime, where.models);
  }).catch((err) => console.warn("digits: answering on the server:", err));
}""".replace("A_NUMBER", A_NUMBER).replace("PAUSE_MS", str(PAUSE_MS))

# The phone's answer line under the pad: painted by the answers' script.
LINE_ON_LOAD = REPAINT + """
window.digitsPaintLine = (results) => { element.innerHTML = digitsRender(results, "line"); };"""

SELECT_JS = "(model, mode) => { if (window.digitsSelect) window.digitsSelect(model, mode); }"

MODE_JS = "(mode) => (" + json.dumps({m: empty_pad(m) for m in PADS}) + ")[mode]"


@dataclass
class DrawTab:
    pad: DrawingPad
    mode: gr.Radio  # one digit, or a whole number
    model: gr.Dropdown
    answers: gr.HTML  # the results dict, drawn by views.js
    answer_line: gr.HTML  # the same, compact, under the pad on a phone


def file_url(path: Any) -> str:
    return f"/gradio_api/file={path}"


def draw_tab(app: AppState, choices: list[tuple[str, str]], default: str | None) -> DrawTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            pad = DrawingPad(label=PAD_LABELS[ONE_DIGIT], elem_id="sketch")
            answer_line = gr.HTML(empty_results(), html_template=results_template("line"), elem_id="answer-line",
                                  js_on_load=LINE_ON_LOAD, head=runtime_head())
        with gr.Column(scale=2, min_width=260):
            model = gr.Dropdown(choices=choices, value=default, label="Model", elem_id="model-dd")
            mode = gr.Radio([ONE_DIGIT, A_NUMBER], value=ONE_DIGIT, label="Write", elem_id="write-mode",
                            info="One digit: draw it large. A number: its digits side by side, a little apart")
            answers = gr.HTML(empty_results(), html_template=results_template(), elem_id="answers",
                              js_on_load=ANSWERS_ON_LOAD, head=runtime_head(), selected=default, mode=ONE_DIGIT,
                              server_functions=[server_answer(app), web_models_function(app)])
    return DrawTab(pad, mode, model, answers, answer_line)


def runtime_head() -> str:
    """The scripts the page needs for answering in the browser, served by the app itself."""
    files = [web.VENDOR / "ort.wasm.min.js"] if web.runtime_ready() else []
    files += [web.STATIC / f for f in web.PAGE_SCRIPTS]
    return "".join(f'<script src="{file_url(f)}"></script>' for f in files)


def web_models_function(app: AppState):
    def web_models(args: list | None = None) -> dict[str, str | None]:
        """Where the page loads onnxruntime-web and the current weights' ONNX files from (a
        server function: Gradio passes the JS call's arguments as one list)."""
        if not web.runtime_ready() or app.web is None:
            return {"runtime": None, "models": None}
        return {"runtime": file_url(f"{web.VENDOR}/"), "models": file_url(f"{app.web.folder()}/")}
    return web_models


def server_answer(app: AppState):
    def answer(args: list) -> dict[str, Any]:
        """The results dict for a drawing, on the server (numbers; browsers without the models).
        A server function: the JS call's arguments (pad, model, mode) arrive as one list."""
        pad, model, mode = (list(args or []) + [None, None, ONE_DIGIT])[:3]
        try:
            return classify(app, pad, model, mode)
        except gr.Error as exc:
            return {"error": exc.message}
    return answer


def unreadable(exc: Exception) -> gr.Error:
    """A bad input as a message the visitor can read (the server carries on)."""
    if isinstance(exc, (ImageInputError, StrokesError)):
        return gr.Error(f"Could not read that drawing: {exc}.", title="Not a readable drawing")
    return gr.Error(f"Could not read that drawing ({type(exc).__name__}).", title="Not a readable drawing")


def classify(app: AppState, drawing: Any, model: str | None, mode: str = ONE_DIGIT) -> dict[str, Any]:
    """A drawing (strokes or an image) -> the results dict: every model's answer, or reading.
    Strokes go straight to the 28x28 as in the browser; an image is decoded once."""
    strokes = isinstance(drawing, dict) and "strokes" in drawing
    try:
        ink = None if strokes and mode != A_NUMBER else ink_map(drawing)
        if mode == A_NUMBER:
            return number_results(read_ink_all(ink, app.store, pad_of(drawing)), ink, model)
        preds = app.store.classify_all(preprocess(drawing) if strokes else preprocess_ink(ink))
        chosen = preds.get(model or "") or next(iter(preds.values()), None)
        refused = chosen is not None and chosen.reason == NOT_A_DIGIT
        several = refused and several_digits(ink_map(drawing) if ink is None else ink)  # a number, in this mode?
    except (ValueError, TypeError, OSError, AttributeError) as exc:  # a bad input must not break the page
        raise unreadable(exc) from None
    unavailable = {name: why for name, why in app.store.errors.items() if name not in preds}
    return digit_results(preds, chosen.model if chosen else model, several, unavailable=unavailable)


def wire_draw(app: AppState, d: DrawTab) -> None:
    """Strokes are answered by the page's own script (the pad calls it); a model or mode change
    tells that script, in the browser. None of them is a server event."""
    for trigger in (d.model.change, d.mode.change):
        trigger(None, [d.model, d.mode], None, js=SELECT_JS, show_progress="hidden", api_visibility="private")
    d.mode.change(None, [d.mode], [d.pad], js=MODE_JS, show_progress="hidden", api_visibility="private")


DRAWING_FORMS = "The drawing must be the pad's strokes as JSON, or base64 (or a data: URL) of a PNG or JPEG file."


def decode_drawing(drawing: str) -> bytes | dict:
    """The API's drawing: the pad's strokes as JSON text, or base64 image bytes (bare or as a
    `data:image/...;base64,` URL)."""
    if not isinstance(drawing, str):
        raise gr.Error(DRAWING_FORMS)
    text = drawing.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise gr.Error(f"The drawing's JSON is not valid: {exc}.") from None
    try:
        return base64.b64decode(text.rpartition("base64,")[2], validate=True)
    except (binascii.Error, ValueError):
        raise gr.Error(DRAWING_FORMS) from None


def _checked(app: AppState, model: str) -> str:
    try:
        return get_spec(model).name
    except UnknownModelError as exc:
        raise gr.Error(str(exc)) from None


def wire_api(app: AppState) -> None:
    """The JSON API (`gradio_client` and "Use via API"): one model, every model, a number."""

    def predict(drawing: str, model: str = DEFAULT_MODEL) -> dict:
        """One model's answer: {model, digit, probabilities, reason}, as `python -m digits predict --json`."""
        name, value = _checked(app, model), decode_drawing(drawing)
        try:
            return app.store.predict(value, name).as_dict()
        except (ValueError, TypeError, OSError) as exc:
            raise unreadable(exc) from None

    def classify_all(drawing: str, model: str = DEFAULT_MODEL) -> dict:
        """Every model's answer (the results dict the page draws): {mode, selected, seen, models}."""
        return classify(app, decode_drawing(drawing), _checked(app, model))

    def read(drawing: str, model: str = DEFAULT_MODEL) -> dict:
        """Every model's reading of a number: {mode, selected, readings: [{name, text, ...}], picture}."""
        return classify(app, decode_drawing(drawing), _checked(app, model), A_NUMBER)

    served = dict(concurrency_limit=PREDICT_CONCURRENCY, concurrency_id="predict")
    gr.api(predict, api_name="predict", **served)
    gr.api(classify_all, api_name="classify", **served)
    gr.api(read, api_name="read", **served)
