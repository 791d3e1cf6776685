"""The "Why this answer?" panel: each model's evidence, computed only while it is open."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from digits.explain.explanations import DEFAULT_METHOD, METHODS, Method, explain_all
from digits.explain.overlay import HEAT_PX, answer_maps, drawing_overlay, feature_pairs, fit_width
from digits.models import get_spec

from .draw import DrawTab
from .state import AppState
from .views import A_NUMBER, percent

WHY_CONCURRENCY = 1  # explanations at once: they may queue behind each other, never behind answers
WHY_DRAWING_PX = 336  # the overlay on the drawing, at most this wide
WHY_EMPTY = "Draw a digit, and each model's evidence appears here."
WHY_NUMBER = "Explanations are for one digit: choose *Write: One digit* to see them."
FEATURES_LABEL = "Feature maps: each kernel (left) and what it made of your drawing (right)"


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
    who = "the four models together say" if app.store.panel() is not None else f"{name} says"
    said = (f"**Not a digit, {who}**: {name}'s best guess is {e.digit}" if e.refused
            else f"**{name} says {e.digit}**")
    summary = (f"{said} ({percent(e.probabilities[e.digit])}); runner-up **{e.runner_up}** "
               f"({percent(e.probabilities[e.runner_up])}). Red pixels pushed the model towards the digit, blue "
               f"away from it ({METHODS[method]}).")
    row = [(answer_maps(x)[0], f"{get_spec(n).display_name}: {x.digit}{' (not a digit)' * x.refused}")
           for n, x in found.items()]
    features = gr.update(value=feature_pairs(e.features), label=FEATURES_LABEL if e.features else
                         f"{name} has no convolutions, so no feature maps: each hidden unit sees every pixel")
    return (summary, fit_width(drawing_overlay(e), WHY_DRAWING_PX),
            gr.update(value=answer, label=f"Evidence for {e.digit} (28×28)"),
            gr.update(value=runner, label=f"Evidence for {e.runner_up}, the runner-up"), row, features)


def wire_why(app: AppState, d: DrawTab, w: WhyPanel) -> None:
    """While the panel is open, each stroke (the pad's `input`), model, mode or method change
    asks the server to explain, in its own concurrency group so it never delays an answer; a
    closed panel costs nothing, not even a request."""
    inputs, outputs = [d.pad, d.model, w.method, w.opened, d.mode], why_outputs_of(w)

    def on_why(pad: Any, model: str | None, method: Method, opened: bool, mode: str):
        if opened and mode == A_NUMBER:
            return (WHY_NUMBER, *why_cleared()[1:])
        if not pad or not pad.get("strokes"):
            return why_cleared()
        return why_views(app, pad, model, method, opened)

    served = dict(show_progress="hidden", concurrency_limit=WHY_CONCURRENCY, concurrency_id="explain",
                  api_visibility="private", trigger_mode="always_last")
    for trigger in (d.pad.input, d.model.change, d.mode.change, w.method.change):
        trigger(on_why, inputs, outputs, **served)
    w.accordion.expand(lambda: True, None, w.opened, js="() => { window.digitsWhyOpen = true; }",
                       api_visibility="private").then(on_why, inputs, outputs, **served)
    w.accordion.collapse(lambda: False, None, w.opened, js="() => { window.digitsWhyOpen = false; }",
                         api_visibility="private")
