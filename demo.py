"""digits: draw a digit and watch an MLP, a CNN, LeNet-5 and a modern CNN disagree.

The Gradio UI only: this file puts the page together from `ui/` (one module per tab or
panel), and every callback there is a thin adapter over the `digits` library.
Run it with `python demo.py`; a Hugging Face Space runs the same file.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import warnings

import gradio as gr
import torch
from PIL import Image

from digits import web
from digits.models import DEFAULT_MODEL
from digits.recognition.inference import INFERENCE_THREADS
from digits.recognition.preprocess import MAX_PIXELS
from ui.cards import models_tab, wire_models
from ui.draw import draw_tab, wire_api, wire_draw
from ui.feedback import feedback_row, wire_feedback
from ui.state import FEEDBACK_OFF, PREDICT_CONCURRENCY, AppState
from ui.views import model_choices
from ui.why import why_panel, wire_why

MAX_UPLOAD = "10mb"  # an upload larger than this is refused before it is read (a canvas PNG is ~5 kB)
QUEUE_SIZE = 64  # events waiting beyond this are refused at once ("busy, try again") instead of piling up

CSS = web.script("style.css") + """
.job .track {height:14px; background:var(--neutral-200); border-radius:7px; overflow:hidden; margin:6px 0}
.job .track .fill {height:100%; background:var(--color-accent); transition:width .4s}
.job .status {text-transform:uppercase; font-size:12px; padding:1px 6px; border-radius:4px;
  background:var(--neutral-200)}
#why-models .grid-wrap {min-height:0; max-height:none}
#why-models label.float, #why-features label.float {position:static; margin-bottom:4px}
@media (max-width: 640px) {
  #why-models .grid-container {grid-template-columns:repeat(2, minmax(0, 1fr))}
  #why-features .grid-container {grid-template-columns:repeat(3, minmax(0, 1fr))}
}
"""
# The why panel's galleries: Gradio 6 gives a gallery of height "auto" a 450 px floor (one row
# of four evidence maps fits its row instead); a label floats over the pictures, and over a
# wrapped label's second line (it sits above them instead); on a phone, four or six columns of
# at least 100 px run off the screen (two and three fit).

INTRO = ("# ✍️ digits\nDraw a digit, or write a whole number. Four PyTorch models, from a one-layer MLP "
         "to a modern CNN, say what they see, side by side, and say so when it is not a digit. "
         "Every stroke updates the answers.")


def build_app(app: AppState | None = None) -> gr.Blocks:
    app = app or AppState.from_env()
    choices = model_choices(app.store)
    default = DEFAULT_MODEL if any(v == DEFAULT_MODEL for _, v in choices) else (choices[0][1] if choices else None)
    gr.set_static_paths([web.STATIC, app.web.root if app.web else web.STATIC])
    with gr.Blocks(title="digits: draw a digit, compare models") as demo:
        gr.Markdown(INTRO)
        if app.notices:  # misconfiguration the host should see; the app serves anyway
            gr.Markdown("\n".join(f"⚠️ {n}" for n in app.notices), elem_id="notices")
        with gr.Tabs():
            with gr.Tab("Draw & compare", id="draw"):
                draw = draw_tab(app, choices, default)
                feedback = feedback_row() if app.feedback_problem != FEEDBACK_OFF else None
                why = why_panel()
            if app.training_enabled:
                from ui.train import train_tab, wire_train  # the training side loads only when it is on

                with gr.Tab("Train", id="train"):
                    train = train_tab(app, collecting=app.feedback is not None)
            with gr.Tab("Models", id="models"):
                models = models_tab(app, default)
        wire_draw(app, draw)
        wire_why(app, draw, why)
        if feedback is not None:
            wire_feedback(app, draw, feedback, models)
        wire_api(app)
        wire_models(app, models)
        if app.training_enabled:
            wire_train(app, demo, train, draw, models, default)
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


def shut_down_gracefully(app: AppState) -> None:
    """On SIGTERM (a Space stopping, Ctrl-C's polite cousin) and at exit: push what is left."""
    atexit.register(app.shutdown)

    def on_term(signum, frame):
        app.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)


if __name__ == "__main__":
    torch.set_num_threads(INFERENCE_THREADS)
    refuse_huge_images()
    demo = build_app()
    shut_down_gracefully(demo.app_state)
    demo.queue(default_concurrency_limit=PREDICT_CONCURRENCY, max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        css=CSS,
        theme=gr.themes.Soft(),
        show_error=True,  # Gradio's own input checks (a broken upload) reach the visitor with their message
        max_file_size=MAX_UPLOAD,
    )
