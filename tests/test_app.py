"""The app's handlers called directly, for the edge cases a browser rarely produces."""

import numpy as np
import pytest

import demo
from digits.evaluate import MISTAKES_SHOWN, MistakeGallery
from digits.recognition.inference import ModelStore
from digits.synthetic.sketches import app_canvas, draw_strokes, number_canvas, render
from digits.training.jobs import JobState
from ui import cards, draw, feedback, state, train, views


@pytest.fixture(scope="module")
def app():
    store = ModelStore()
    return state.AppState(store=store, job=None, training_enabled=False, max_epochs=3, mistakes=MistakeGallery(store))


def _editor(layer, composite=None, background=None):
    return {"background": background, "layers": [layer] if layer is not None else [], "composite": composite}


def test_empty_value_shows_the_hint(app):
    answer, _, label, seen, compare = draw.classify(app, _editor(None), "lenet5")
    assert "Draw a digit" in answer and label is None and seen is None
    assert compare["label"] == views.COMPARE_EMPTY and compare["value"].data.empty


def test_none_value_and_none_layer(app):
    for value in (None, {"background": None, "layers": [None], "composite": None}):
        answer, _, label, _, _ = draw.classify(app, value, "lenet5")
        assert "Draw a digit" in answer and label is None


def test_drawing_gives_digit_probabilities_preview_and_compare(app):
    canvas = app_canvas(7, variant=0)
    answer, _, label, seen, compare = draw.classify(app, _editor(canvas, canvas), "modern")
    assert "<div class='digit'>7</div>" in answer
    assert set(label) == {str(d) for d in range(10)} and abs(sum(label.values()) - 1) < 1e-4
    assert seen.shape == (views.PREVIEW_PX, views.PREVIEW_PX) and seen.dtype == np.uint8
    table = compare["value"].data
    assert list(table["model"]) == ["MLP", "Simple CNN", "LeNet-5", "Modern CNN"]
    assert list(table["answer"]) == ["7"] * 4 and compare["label"] == "All models agree."


def test_huge_canvas(app):
    canvas = render(2, canvas=3000, brush=100, variant=0)
    answer, _, label, _, _ = draw.classify(app, _editor(canvas, canvas), "lenet5")
    assert label is not None and "<div class='digit'>2</div>" in answer and max(label, key=label.get) == "2"


def test_rgba_canvas_with_no_alpha_anywhere(app):
    transparent = np.zeros((336, 336, 4), np.uint8)
    transparent[:, :, :3] = 255  # colour present, alpha zero everywhere: nothing is visible
    answer, _, label, _, _ = draw.classify(app, _editor(transparent, transparent), "lenet5")
    assert "Draw a digit" in answer and label is None
    opaque = np.full((336, 336, 4), 255, np.uint8)  # opaque everywhere: ink is what differs
    opaque[60:280, 160:176, :3] = 0
    answer, _, label, _, _ = draw.classify(app, _editor(None, opaque), "lenet5")
    assert "<div class='digit'>1</div>" in answer


def test_low_confidence_says_unsure():
    from digits.recognition.inference import Prediction

    p = Prediction("lenet5", 3, [0.05, 0, 0, 0.4, 0.3, 0.25, 0, 0, 0, 0], np.zeros((28, 28)))
    assert "not sure" in views.answer_html(p)


def test_compare_marks_disagreement():
    from digits.recognition.inference import Prediction

    probs = lambda d: [0.9 if i == d else 0.1 / 9 for i in range(10)]  # noqa: E731
    preds = {"mlp": Prediction("mlp", 1, probs(1), None), "cnn": Prediction("cnn", 7, probs(7), None),
             "lenet5": Prediction("lenet5", 7, probs(7), None)}
    update = views.compare_table(preds, {"modern": "file not found"})
    assert update["label"] == "The models disagree: 1 of 3 say otherwise."
    styles = update["value"]._compute().ctx  # (row, column) -> the CSS the browser gets
    assert [views.DIFFERS_CSS in "; ".join(f"{k}: {v}" for k, v in styles[(r, 0)]) for r in range(3)] == [
        True, False, False]
    assert update["value"].data.iloc[3]["runner-up"] == "unavailable: file not found"


def test_a_refusal_in_the_answer_the_compare_table_and_the_feedback_label(app):
    from digits.recognition.inference import NOT_A_DIGIT, Prediction

    probs = [0.3 if i == 4 else 0.7 / 9 for i in range(10)]
    refused = Prediction("cnn", None, probs, np.zeros((28, 28)), reason=NOT_A_DIGIT)
    sure = Prediction("mlp", 4, [0.95 if i == 4 else 0.05 / 9 for i in range(10)], None)
    answer = views.answer_html(refused)
    assert views.REFUSAL in answer and "best guess 4 (30%)" in answer and "class='digit'" not in answer
    assert views.label_value(refused) is None  # no bar chart crowning the refused guess
    update = views.compare_table({"mlp": sure, "cnn": refused})
    table = update["value"].data
    assert list(table["answer"]) == ["4", "not a digit"] and table.iloc[1]["runner-up"] == "guess 4 (30%)"
    assert update["label"] == "The models disagree: 1 of 2 say otherwise."
    both = views.compare_table({"cnn": refused, "lenet5": refused})
    assert both["label"] == "No model thinks this is a digit."


def test_a_drawn_letter_is_refused_by_the_app(app):
    strokes = [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.22, 0.62), (0.78, 0.62)]]  # a capital A
    canvas = np.asarray(draw_strokes(strokes, 336, 28, (60, 60, 200, 220)))
    answer, line, label, seen, compare = draw.classify(app, _editor(canvas, canvas), "modern")
    assert views.REFUSAL in answer and views.REFUSAL in line and label is None and seen is not None
    assert "not a digit" in list(compare["value"].data["answer"])


def test_a_number_written_in_one_digit_mode_is_refused_with_a_pointer_to_number_mode(app):
    canvas = number_canvas("2026", (336, 336))
    answer, line, _, _, _ = draw.classify(app, _editor(canvas, canvas), "modern")
    assert views.REFUSAL in answer and views.NUMBER_HINT in answer and views.NUMBER_HINT in line
    letter = np.asarray(draw_strokes([[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.22, 0.62), (0.78, 0.62)]],
                                     336, 28, (60, 60, 200, 220)))  # a capital A: one group of ink
    answer, line, _, _, _ = draw.classify(app, _editor(letter, letter), "modern")
    assert views.REFUSAL in answer and views.NUMBER_HINT not in answer + line


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


def test_number_mode_reads_every_models_number(app):
    from digits.synthetic.sketches import number_canvas

    canvas = number_canvas("305", canvas=(336, 336), height_frac=0.3, gap=0.3)
    answer, line, label, seen, compare = draw.classify(app, _editor(canvas, canvas), "modern", views.A_NUMBER)
    assert "<div class='digit'>305</div>" in answer and "3 digits" in answer and "305" in line
    assert "sure of them all" in answer
    one = number_canvas("7", canvas=(336, 336), height_frac=0.3)
    single = draw.classify(app, _editor(one, one), "modern", views.A_NUMBER)[0]
    assert "1 digit, " in single and "of them all" not in single  # "them all" only for several digits
    assert list(label) == ["305"] and 0 < label["305"] <= 1
    assert seen.ndim == 3 and seen.shape[1] >= views.READING_PX  # the boxes above the three 28x28 views
    table = compare["value"].data
    assert list(table["reading"]) == ["305"] * 4 and compare["label"] == "All models read the same number."
    empty = draw.classify(app, _editor(None), "modern", views.A_NUMBER)
    assert "Write a number" in empty[0] and "Write a number" in empty[1] and empty[2] is None
    assert "Write a number" in draw.cleared_outputs(views.A_NUMBER)[0]  # Clear keeps the mode's hint
    assert "Draw a digit" in draw.cleared_outputs(views.ONE_DIGIT)[0]


def test_number_mode_swaps_the_digit_buttons_for_a_typed_number(app, tmp_path):
    *buttons, number, ask = feedback.feedback_mode(views.A_NUMBER)
    assert len(buttons) == 10 and not any(b["visible"] for b in buttons) and number["visible"]
    assert "type the number" in ask
    *buttons, number, ask = feedback.feedback_mode(views.ONE_DIGIT)
    assert all(b["visible"] for b in buttons) and not number["visible"] and "click the digit" in ask
    from digits.visitors.store import FeedbackStore

    shared = state.AppState(store=app.store, job=None, training_enabled=False, max_epochs=1,
                            mistakes=app.mistakes, feedback=FeedbackStore(tmp_path / "fb"))
    canvas = number_canvas("305", canvas=(336, 336), height_frac=0.3, gap=0.3)
    said, _ = feedback.give_feedback(shared, _editor(canvas, canvas), "modern", True, " ", mode=views.A_NUMBER)
    assert "Type the number" in said and not list(shared.feedback.drawings())
    said, table = feedback.give_feedback(shared, _editor(canvas, canvas), "modern", True, "305", mode=views.A_NUMBER)
    assert "kept as **305**" in said and [d.label for d in shared.feedback.drawings()] == ["305"]


def test_number_mode_names_the_piece_that_is_not_a_digit(app):
    m = [[(0.0, 1.0), (0.08, 0.0), (0.5, 0.65), (0.92, 0.0), (1.0, 1.0)]]  # an M after the digits
    letter = draw_strokes(m, 800, 24, (610, 80, 170, 240)).crop((0, 0, 800, 400))
    from PIL import Image

    canvas = np.asarray(Image.alpha_composite(Image.fromarray(number_canvas("24")), letter))
    answer, line, label, picture, compare = draw.classify(app, _editor(canvas, canvas), "modern", views.A_NUMBER)
    assert views.REFUSAL in answer and "piece 3 of 3 is not a digit" in answer and "best guess 24" in answer
    assert label is None and picture is not None and "not a digit" in list(compare["value"].data["reading"])


def test_clear_resets_once_through_the_editors_bin(app):
    """The Clear button only presses the editor's bin (in the browser): the bin's `clear`
    event is the one reset of the answers, the explanations and the feedback row."""
    blocks = demo.build_app(app)
    names = {block._id: getattr(block, "elem_id", None) for block in blocks.blocks.values()}

    def served(elem_id: str, event: str) -> list:
        return [f for f in blocks.fns.values() if f.fn is not None
                and any(names.get(t[0]) == elem_id and t[1] == event for t in f.targets)]

    assert served("clear-btn", "click") == []
    assert any(f.js for f in blocks.fns.values() if any(names.get(t[0]) == "clear-btn" for t in f.targets))
    reset = {names[o._id] for f in served("sketch", "clear") for o in f.outputs}
    assert {"answer", "compare", "why-summary", "fb-msg", "fb-number"} <= reset
