"""The Train tab: start and cancel a background job, its progress, curve and card."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

import gradio as gr
import pandas as pd

from digits.keep_weights import WEIGHTS_REPO_ENV
from digits.models import get_spec, list_models
from digits.training.engine import FINETUNE_EPOCHS, FINETUNE_LR_SCALE, SHIPPED_NEGATIVES, TrainConfig
from digits.training.gpu import fits, on_zerogpu
from digits.training.jobs import JobState

from .cards import ModelsTab, models_table, reproduce
from .draw import DrawTab
from .state import AppState
from .views import model_choices

POLL_S = 1.0  # training tab refresh
SPACE_ENV = "SPACE_ID"  # set by Hugging Face on every Space
CURVE_COLOURS = {"loss": "#6366f1", "val accuracy": "#10b981"}


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


def train_tab(app: AppState, collecting: bool) -> TrainTab:
    max_epochs = app.max_epochs
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
                       title="Loss and validation accuracy", height=260, x_axis_format="~g",  # steps, not 0.000000
                       elem_id="train-plot")
    card = gr.Markdown(elem_id="train-card")
    gr.Markdown(where_training_runs(app), elem_id="train-where")
    return TrainTab(model, epochs, batch, lr, feedback, finetune, negatives, start_btn, cancel_btn, msg, progress,
                    plot, card)


def where_training_runs(app: AppState, env: dict[str, str] | None = None) -> str:
    """Where a run computes and whether its weights outlive a restart, in plain words."""
    env = os.environ if env is None else env
    if on_zerogpu(env):
        text = ("Training runs on a ZeroGPU slice while this tab stays open, and costs your daily GPU quota: the "
                "Start button says how much first. ")
    else:
        text = "Training runs on the server in its own process: it carries on if you close this tab. "
    text += ("One job runs at a time. New weights replace the current ones only if their validation accuracy is at "
             "least as good.")
    if app.weights_remote is not None:
        text += f" New weights are kept in `{WEIGHTS_REPO_ENV}` and come back after a restart."
    elif env.get(SPACE_ENV):
        text += (" **This Space keeps no weights across a restart**: what you train here is lost when it restarts. "
                 f"The host can set `{WEIGHTS_REPO_ENV}` to keep them.")
    return text


def train_config(app: AppState, name: str, epochs: float, batch: float, lr: float, feedback: bool = False,
                 finetune: bool = False, negatives: bool = False) -> TrainConfig:
    cfg = TrainConfig.from_recipe(name, epochs=int(epochs), batch_size=int(batch), lr=float(lr),
                                  feedback=bool(feedback), finetune=bool(finetune),
                                  negatives=SHIPPED_NEGATIVES if negatives else 0)
    return app.job.limit(cfg) if app.job is not None else cfg


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
    cfg = train_config(app, name, epochs, batch, lr, feedback, finetune, negatives)
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
            f"{verdict}.\n\nReproduce: `{reproduce(c)}`")


def wire_train(app: AppState, demo: gr.Blocks, t: TrainTab, draw: DrawTab, models: ModelsTab,
               default: str | None) -> None:
    """Start, Cancel, and a progress timer that runs only while a job does: Start arms it, the
    poll that sees the job end disarms it, and a page (re)load arms it if a job is running."""
    gr.on([t.model.change, t.finetune.change], train_defaults, [t.model, t.finetune], [t.epochs, t.batch, t.lr],
          api_visibility="private")
    timer = gr.Timer(POLL_S, active=False)
    seen_finish = gr.State(None)
    polled = [t.progress, t.plot, t.card, seen_finish, draw.model, models.table, t.msg, timer]
    inputs = [t.model, t.epochs, t.batch, t.lr, t.feedback, t.finetune, t.negatives]
    if on_zerogpu():
        wire_gpu_train(app, t, inputs, draw, models, default)
        return

    def train(model: str, epochs: float, batch_size: float, learning_rate: float, visitors_drawings: bool = False,
              finetune: bool = False, negatives: bool = False) -> str:
        """Start a background training job (one per server); answers what happened."""
        return start_training(app, model, epochs, batch_size, learning_rate, visitors_drawings, finetune, negatives)

    t.start_btn.click(train, inputs, [t.msg],
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


def job_views(s: JobState) -> tuple:
    return progress_html(s), curve_frame(s), card_markdown(s)


def wire_gpu_train(app: AppState, t: TrainTab, inputs: list, draw: DrawTab, models: ModelsTab,
                   default: str | None) -> None:
    """ZeroGPU: Start checks the cost (CPU), then trains inside `@spaces.GPU`, streaming the views;
    Cancel stops the stream, which stops the run within a batch."""
    from .zerogpu import gpu_training  # imports `spaces`: only on ZeroGPU

    check, train_on_gpu = gpu_training(app, train_config, job_views, POLL_S)
    started = (t.start_btn.click(check, inputs, [t.msg], api_name="train")
               .success(train_on_gpu, inputs, [t.progress, t.plot, t.card], api_visibility="private"))

    def refreshed(current_model):
        choices = model_choices(app.store)
        keep = current_model if any(v == current_model for _, v in choices) else default
        return gr.update(choices=choices, value=keep), models_table(app.store)

    started.then(refreshed, [draw.model], [draw.model, models.table], api_visibility="private")
    t.cancel_btn.click(lambda: "Cancelled: the weights are unchanged.", None, [t.msg], cancels=[started],
                       api_visibility="private")
    gr.on([t.model.change, t.epochs.change, t.batch.change, t.negatives.change, t.finetune.change],
          lambda *a: fits(train_config(app, *a))[1], inputs, [t.msg], api_visibility="private")
