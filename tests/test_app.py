"""The app's handlers called directly, for the edge cases a browser rarely produces."""

import numpy as np
import pytest

import demo
from digits.evaluate import MISTAKES_SHOWN, MistakeGallery
from digits.recognition.inference import NOT_A_DIGIT, ModelStore, Prediction
from digits.synthetic.sketches import (
    DIGIT_ASPECT,
    app_canvas,
    draw_strokes,
    number_canvas,
    render,
    writer_glyph,
    writer_strokes,
)
from digits.training.jobs import JobState
from digits.weights import read_card, runs_of
from ui import cards, draw, feedback, pad, state, train, views


@pytest.fixture(scope="module")
def app():
    store = ModelStore()
    return state.AppState(store=store, job=None, training_enabled=False, max_epochs=3, mistakes=MistakeGallery(store))


def pad_strokes(unit_strokes, box=(60, 48, 150, 240), mode=views.ONE_DIGIT) -> dict:
    """Strokes in a unit box laid out on the pad, as the page sends them."""
    left, top, w, h = box
    return {**pad.empty_pad(mode), "strokes": [[[left + x * w, top + y * h] for x, y in s] for s in unit_strokes]}


def digit_on_pad(digit: int, seed: int = 0) -> dict:
    return pad_strokes(writer_strokes(digit, np.random.default_rng(seed)), (110, 60, 216 * DIGIT_ASPECT, 216))


LETTER_A = [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.22, 0.62), (0.78, 0.62)]]


def _editor(layer, composite=None):
    return {"background": None, "layers": [layer] if layer is not None else [], "composite": composite}


def test_an_empty_pad_or_image_shows_the_hint(app):
    for value in (pad.empty_pad(), None, _editor(None), {"background": None, "layers": [None], "composite": None}):
        results = draw.classify(app, value, "lenet5")
        assert results["empty"] and "models" not in results, value


def test_strokes_give_every_models_answer_and_what_they_see(app):
    results = draw.classify(app, digit_on_pad(7), "modern")
    assert results["mode"] == "digit" and results["selected"] == "modern" and results["where"] == "server"
    assert [m["display"] for m in results["models"]] == ["MLP", "Simple CNN", "LeNet-5", "Modern CNN"]
    assert all(int(np.argmax(m["probs"])) == 7 and not m["refused"] for m in results["models"])
    assert all(abs(sum(m["probs"]) - 1) < 1e-4 for m in results["models"])
    assert len(results["seen"]) == 28 * 28 and max(results["seen"]) == 1.0
    assert views.shown_label(results) == "7"


def test_images_still_work_huge_and_opaque(app):
    canvas = render(2, canvas=3000, brush=100, variant=0)
    assert views.shown_label(draw.classify(app, _editor(canvas, canvas), "lenet5")) == "2"
    transparent = np.zeros((336, 336, 4), np.uint8)
    transparent[:, :, :3] = 255  # colour present, alpha zero everywhere: nothing is visible
    assert draw.classify(app, _editor(transparent, transparent), "lenet5")["empty"]
    opaque = np.full((336, 336, 4), 255, np.uint8)  # opaque everywhere: ink is what differs
    opaque[60:280, 160:176, :3] = 0
    assert views.shown_label(draw.classify(app, _editor(None, opaque), "lenet5")) == "1"


def test_a_drawn_letter_is_refused_and_the_label_says_not_a_digit(app):
    results = draw.classify(app, pad_strokes(LETTER_A), "modern")
    modern = next(m for m in results["models"] if m["name"] == "modern")
    assert modern["refused"] and views.shown_label(results) == NOT_A_DIGIT and not results["several"]


def test_a_number_written_in_one_digit_mode_points_to_number_mode(app):
    canvas = number_canvas("2026", (336, 336))
    results = draw.classify(app, _editor(canvas, canvas), "modern")
    assert views.shown_label(results) == NOT_A_DIGIT and results["several"]


def test_results_of_predictions_keep_refusals_and_probabilities():
    probs = [0.3 if i == 4 else 0.7 / 9 for i in range(10)]
    refused = Prediction("cnn", None, probs, np.zeros((28, 28)), reason=NOT_A_DIGIT)
    sure = Prediction("mlp", 4, [0.95 if i == 4 else 0.05 / 9 for i in range(10)], np.zeros((28, 28)))
    results = views.digit_results({"mlp": sure, "cnn": refused}, "cnn")
    assert [m["refused"] for m in results["models"]] == [False, True]
    assert views.shown_label(results) == NOT_A_DIGIT
    assert views.shown_label({**results, "selected": "mlp"}) == "4"
    assert views.shown_label(None) is None and views.shown_label(views.empty_results()) is None


def test_number_mode_reads_every_models_number(app):
    canvas = number_canvas("305", canvas=(336, 336), height_frac=0.3, gap=0.3)
    results = draw.classify(app, _editor(canvas, canvas), "modern", views.A_NUMBER)
    assert results["mode"] == "number" and [r["text"] for r in results["readings"]] == ["305"] * 4
    assert all(r["digits"] == 3 and 0 < r["confidence"] <= 1 for r in results["readings"])
    assert results["picture"].startswith("data:image/png;base64,")
    assert views.shown_label(results) == "305"
    assert draw.classify(app, pad.empty_pad(views.A_NUMBER), "modern", views.A_NUMBER)["mode"] == "number"


def test_number_mode_reads_the_pads_strokes_in_their_order(app):
    """The page sends number mode's strokes; the reader gets them, not only their picture: a 1
    written into the 3 before it is one piece of ink, parted by the order it was drawn in."""
    from tests.test_reading import _pad_number

    rng = np.random.default_rng(0)
    strokes = _pad_number([writer_glyph(3, rng), writer_glyph(1, rng)], overlap=0.25)
    results = draw.classify(app, strokes, "modern", views.A_NUMBER)
    assert [r["text"] for r in results["readings"]] == ["31"] * 4


def test_number_mode_names_the_piece_that_is_not_a_digit(app):
    m = [[(0.0, 1.0), (0.08, 0.0), (0.5, 0.65), (0.92, 0.0), (1.0, 1.0)]]  # an M after the digits
    letter = draw_strokes(m, 800, 24, (610, 80, 170, 240)).crop((0, 0, 800, 400))
    from PIL import Image

    canvas = np.asarray(Image.alpha_composite(Image.fromarray(number_canvas("24")), letter))
    results = draw.classify(app, _editor(canvas, canvas), "modern", views.A_NUMBER)
    modern = next(r for r in results["readings"] if r["name"] == "modern")
    assert modern["refused"] and "piece 3 of 3 is not a digit" in modern["why"] and "best guess 24" in modern["why"]


def test_a_broken_drawing_is_a_readable_error(app):
    server_answer = draw.server_answer(app)
    said = server_answer([{"strokes": [[["x", 1]]], "width": 336, "height": 336, "pen": 28}, "modern", views.ONE_DIGIT])
    assert "Could not read that drawing" in said["error"]
    with pytest.raises(Exception, match="Could not read"):
        draw.classify(app, {"strokes": "nope"}, "modern")


def test_the_api_takes_strokes_as_json_or_images_as_base64():
    import base64
    import io
    import json

    from PIL import Image

    assert draw.decode_drawing(json.dumps(pad.empty_pad()))["strokes"] == []
    buf = io.BytesIO()
    Image.fromarray(app_canvas(3)).save(buf, format="PNG")
    png = buf.getvalue()
    assert draw.decode_drawing(base64.b64encode(png).decode()) == png
    assert draw.decode_drawing("data:image/png;base64," + base64.b64encode(png).decode()) == png


def test_stroke_and_mode_events_never_reach_the_server(app):
    """The pad's change, the model and the mode switch are answered in the browser; only the
    explanations (while open) and the feedback buttons run on the server."""
    blocks = demo.build_app(app)
    names = {block._id: getattr(block, "elem_id", None) for block in blocks.blocks.values()}

    def events(elem_id: str, event: str) -> list:
        return [f for f in blocks.fns.values() if any(names.get(t[0]) == elem_id and t[1] == event for t in f.targets)]

    assert events("sketch", "change") and all(f.fn is None and f.js for f in events("sketch", "change"))
    assert all(f.fn is None for f in events("model-dd", "change") if "answers" in {names[o._id] for o in f.outputs})
    assert [f for f in events("sketch", "input") if f.fn is not None]  # explanations, only while the panel is open


def test_training_views_render_every_state():
    assert "No training job" in train.progress_html(JobState())
    s = JobState(status="running", model="mlp", progress={"step": 5, "total_steps": 10, "epoch": 1, "epochs": 2,
                                                         "batch": 5, "batches": 5, "loss": 0.5, "val_acc": None,
                                                         "eta": 3.0})
    assert "width:50.0%" in train.progress_html(s)
    assert train.curve_frame(s)["value"].isna().all()
    s.curve = [{"step": 1, "loss": 2.0, "val_acc": None, "phase": "train"},
               {"step": 2, "loss": 1.5, "val_acc": 0.9, "phase": "epoch_end"}]
    frame = train.curve_frame(s)
    assert list(frame["metric"]) == ["loss", "val accuracy"] and frame["value"].dtype == float


def test_models_table_lists_every_model(app):
    table = cards.models_table(app.store)
    assert list(table["model"]) == ["MLP", "Simple CNN", "LeNet-5", "Modern CNN"]
    assert all(v.endswith("%") for v in table["test accuracy"])
    assert all(v.startswith("all four together") for v in table["not a digit"])  # the shipped panel
    modern = table[table["model"] == "Modern CNN"].iloc[0]
    runs = runs_of(app.store.card("modern"))
    assert modern["train time"] == f"{sum(r['train_seconds'] for r in runs):.0f} s in {len(runs)} runs"
    script = cards.reproduce_script(app.store).split("\n\n")
    heads = [f"# {m}: {t}" for m, t in zip(table["model"], table["train time"])]
    assert [block.splitlines()[0] for block in script] == heads
    assert script[-1].splitlines()[1:] == [r["command"] for r in runs]  # the modern CNN's, in the order they ran


def test_the_commands_follow_the_models_table(app):
    """New weights refresh the models table; its change refreshes the commands under it."""
    blocks = demo.build_app(app)
    names = {block._id: getattr(block, "elem_id", None) for block in blocks.blocks.values()}
    fns = [f for f in blocks.fns.values()
           if any(names.get(t[0]) == "models-table" and t[1] == "change" for t in f.targets)]
    assert [[names[o._id] for o in f.outputs] for f in fns] == [["models-commands"]]
    assert fns[0].fn() == cards.reproduce_script(app.store)


def test_the_shipped_cards_reproduce_their_weights_from_scratch():
    """Each card's lineage starts with a run from scratch and ends with the run that wrote it;
    each run after the first is a fine-tune of the one before."""
    for name in ("mlp", "cnn", "lenet5", "modern"):
        card = read_card(name)
        runs = card["lineage"]
        assert "--finetune" not in runs[0]["command"], name
        assert all("--finetune" in r["command"] for r in runs[1:]), name
        assert runs[-1]["command"] == card["command"] and runs[-1]["date"] == card["date"], name
        assert [r["date"] for r in runs] == sorted(r["date"] for r in runs), name


def test_mistakes_gallery_shows_real_errors(app, mnist):
    gallery = views.mistakes_gallery(app.mistakes.get("mlp"))
    assert len(gallery) == MISTAKES_SHOWN
    assert app.mistakes.get("mlp") is app.mistakes.get("mlp")  # computed once per weight file
    for image, caption in gallery:
        true, said = caption.split("true ")[1].split(", said ")
        assert true != said and image.shape == (84, 84)


def test_training_off_hides_the_train_tab(app):
    blocks = demo.build_app(app)  # app fixture: training_enabled=False, job=None
    labels = [getattr(b, "label", None) for b in blocks.blocks.values()]
    assert "Models" in labels and "Draw & compare" in labels
    assert "Train" not in labels
    assert train.start_training(app, "mlp", 1, 64, 0.01) == "Training is switched off on this server."


def test_training_on_shows_the_train_tab(monkeypatch):
    monkeypatch.setenv("DIGITS_TRAINING", "on")
    monkeypatch.setenv("DIGITS_MAX_EPOCHS", "3")
    shared = state.AppState.from_env()
    assert shared.training_enabled and shared.job is not None and shared.job.max_epochs == 3
    labels = [getattr(b, "label", None) for b in demo.build_app(shared).blocks.values()]
    assert "Train" in labels


def test_number_mode_swaps_the_digit_buttons_for_a_typed_number(app, tmp_path):
    *buttons, number, ask = feedback.feedback_mode(views.A_NUMBER)
    assert len(buttons) == 10 and not any(b["visible"] for b in buttons) and number["visible"]
    assert "type the number" in ask
    *buttons, number, ask = feedback.feedback_mode(views.ONE_DIGIT)
    assert all(b["visible"] for b in buttons) and not number["visible"] and "click the digit" in ask


def test_right_confirms_what_the_page_showed_without_predicting_again(app, tmp_path, monkeypatch):
    from digits.visitors.store import FeedbackStore

    shared = state.AppState(store=app.store, job=None, training_enabled=False, max_epochs=1,
                            mistakes=app.mistakes, feedback=FeedbackStore(tmp_path / "fb"))
    drawing = digit_on_pad(3)
    shown = draw.classify(shared, drawing, "modern")
    said, _ = feedback.give_feedback(shared, drawing, shown, True, " ")
    assert "Type the number" in said and not list(shared.feedback.drawings())
    monkeypatch.setattr(views, "digit_results", lambda *a, **k: pytest.fail("predicted again"))
    said, table = feedback.give_feedback(shared, drawing, shown, True, feedback.RIGHT_LABEL)
    assert "kept as **3**" in said and [d.label for d in shared.feedback.drawings()] == ["3"]
    kept = next(iter(shared.feedback.drawings()))
    assert kept.image28 is not None and set(kept.answers) == {"mlp", "cnn", "lenet5", "modern"}


def test_why_says_the_four_models_refuse_a_letter_together(app):
    from digits.explain.explanations import DEFAULT_METHOD
    from ui import why

    summary = why.why_views(app, pad_strokes(LETTER_A), "mlp", DEFAULT_METHOD, True)[0]
    assert summary.startswith("**Not a digit, the four models together say**: MLP's best guess is")
    assert why.why_views(app, digit_on_pad(3), "mlp", DEFAULT_METHOD, True)[0].startswith("**MLP says 3**")
