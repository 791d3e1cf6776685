"""The Models tab: each model's card, its MNIST mistakes, and its score on visitors' drawings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from digits.evaluate import score_visitors
from digits.explain.overlay import confusion_picture
from digits.models import get_spec, list_models
from digits.recognition.inference import ModelStore
from digits.weights import WeightsError, runs_of

from .state import AppState
from .views import MISTAKE_PX, enlarge, mistakes_gallery


@dataclass
class ModelsTab:
    table: gr.Dataframe
    commands: gr.Code
    pick: gr.Dropdown
    show_btn: gr.Button
    gallery: gr.Gallery
    visitors: gr.Dataframe
    confusion: gr.Image
    visitor_gallery: gr.Gallery


# Wide enough that no heading breaks inside a word; the long columns wrap (model, test accuracy,
# parameters, train time, date, not a digit, architecture).
MODELS_TABLE_WIDTHS = ["120px", "130px", "120px", "150px", "115px", "270px", "400px"]


def models_tab(app: AppState, default: str | None) -> ModelsTab:
    table = gr.Dataframe(models_table(app.store), interactive=False, wrap=True, elem_id="models-table",
                         column_widths=MODELS_TABLE_WIDTHS)
    with gr.Accordion("The commands that made these weights, from scratch", open=False):
        commands = gr.Code(reproduce_script(app.store), language="shell", interactive=False, show_label=False,
                           elem_id="models-commands")
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
    return ModelsTab(table, commands, pick, show_btn, gallery, visitors, confusion, visitor_gallery)


def refusal_rule(card: dict[str, Any], panel: bool = False) -> str:
    """The card's calibration and refusal rules in a few words; `panel`: one drawing is judged
    by the four models together (digits/recognition/trust.py)."""
    t = card.get("trust")
    if not t:
        return "never refuses (no calibration in this card)"
    own = (f"energy < {t['energy_threshold']:.2f}" if t.get("energy_threshold") is not None
           else f"< {100 * t['threshold']:.0f}% sure")
    one = f"all four together (alone: {own})" if panel else own
    return f"{one} · in a number: < {100 * t.get('piece_threshold', 0):.0f}% sure · T {t['temperature']:.2f}"


def models_table(store: ModelStore) -> pd.DataFrame:
    rows, panel = [], store.panel() is not None
    for name in list_models():
        spec = get_spec(name)
        try:
            card = store.card(name)
        except WeightsError as exc:
            rows.append({"model": spec.display_name, "test accuracy": f"unavailable: {exc.reason}",
                         "parameters": "", "train time": "", "date": "", "not a digit": "",
                         "architecture": spec.architecture})
            continue
        rows.append({
            "model": spec.display_name,
            "test accuracy": f"{100 * card['test_accuracy']:.2f}%",
            "parameters": f"{card['parameters']:,}",
            "train time": train_time(card),
            "date": card["date"][:10],
            "not a digit": refusal_rule(card, panel),
            "architecture": spec.architecture,
        })
    return pd.DataFrame(rows)


def train_time(card: dict[str, Any]) -> str:
    """Every run that made the weights, added up: a fine-tune's own seconds undersell them."""
    runs = runs_of(card)
    total = sum(r.get("train_seconds") or 0 for r in runs)
    return f"{total:.0f} s" + (f" in {len(runs)} runs" if len(runs) > 1 else "")


def reproduce(card: dict[str, Any]) -> str:
    """The commands that make the weights from scratch, in the order they ran."""
    return " && ".join(r["command"] for r in runs_of(card) if r.get("command"))


def reproduce_script(store: ModelStore) -> str:
    """Every model's commands, one per line under a comment naming it: the table's rows stay
    short, and a learner copies the lot."""
    blocks = []
    for name in list_models():
        try:
            card = store.card(name)
        except WeightsError as exc:
            blocks.append(f"# {get_spec(name).display_name}: no weights ({exc.reason})")
            continue
        head = f"# {get_spec(name).display_name}: {train_time(card)}"
        blocks.append("\n".join([head] + [r["command"] for r in runs_of(card) if r.get("command")]))
    return "\n\n".join(blocks) + "\n"


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
            [(enlarge(d.image28, MISTAKE_PX), f"#{d.id}: visitor said {d.label}, model said {said}")
             for d, said in score.mistakes])


def wire_models(app: AppState, m: ModelsTab) -> None:
    m.table.change(lambda: reproduce_script(app.store), None, [m.commands], api_visibility="private")  # new weights
    def show_mistakes(name: str):
        try:
            return mistakes_gallery(app.mistakes.get(name))
        except Exception as exc:  # no MNIST on this server, or broken weights
            gr.Warning(f"The gallery needs the MNIST test split: {exc}")
            return []

    m.show_btn.click(show_mistakes, [m.pick], [m.gallery], api_visibility="private")
    m.show_btn.click(lambda name: visitor_views(app, name), [m.pick], [m.confusion, m.visitor_gallery],
                     api_visibility="private")
