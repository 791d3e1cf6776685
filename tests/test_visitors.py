"""Training on visitors' drawings: the time split, the data a run sees, the replacement rule,
and a short fine-tune end to end."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from digits.recognition.inference import ModelStore
from digits.synthetic.sketches import app_canvas
from digits.training.data import MNISTData, Split
from digits.training.engine import TrainConfig, selection_score
from digits.training.fit import VisitorRun, fit_and_save, is_better
from digits.visitors import store as fb
from digits.visitors.finetune import (
    MNIST_TOLERANCE,
    REPLAY_PER_VISITOR,
    VISITOR_REPEATS,
    NoVisitorDrawings,
    visitor_split,
    with_visitors,
)
from tests.conftest import ROOT


@pytest.fixture
def store(tmp_path):
    s, models = fb.FeedbackStore(tmp_path / "feedback"), ModelStore()
    for v in range(2):
        for d in range(10):
            fb.record(s, models, app_canvas(d, variant=v), str(d), f"writer{v}")
    s.add(b"png", None, "2026", {}, "writer0")  # a number: not a training example for one digit
    return s


def test_newest_drawings_validate_and_the_cutoff_is_recorded(store):
    split = visitor_split(store)
    assert len(split.train) == 16 and len(split.val) == 4  # 20 single digits, the newest fifth held out
    assert split.through_id == 16 and split.val.labels.tolist() == [6, 7, 8, 9]


def test_too_few_drawings_is_a_clear_error(tmp_path):
    with pytest.raises(NoVisitorDrawings, match="at least 2"):
        visitor_split(fb.FeedbackStore(tmp_path))


def test_data_mixes_visitors_with_all_of_mnist_or_a_replay_sample(store, tiny_data):
    split = visitor_split(store)
    full = with_visitors(tiny_data, split, finetune=False)
    assert len(full.train) == len(tiny_data.train) + VISITOR_REPEATS * 16
    tuned = with_visitors(tiny_data, split, finetune=True)
    replay = min(REPLAY_PER_VISITOR * 16, len(tiny_data.train))
    assert len(tuned.train) == replay + VISITOR_REPEATS * 16
    assert tuned.visitors_val is split.val and tuned.val is tiny_data.val


def test_selection_keeps_mnist_within_the_floor():
    assert selection_score({"val_acc": 0.99}, None) == 0.99
    ok = selection_score({"val_acc": 0.990, "visitor_val_acc": 0.90}, mnist_floor=0.989)
    below = selection_score({"val_acc": 0.985, "visitor_val_acc": 0.99}, mnist_floor=0.989)
    assert ok == 0.90 and below < ok  # better on visitors never buys a drop on MNIST


def _result(val, visitor):
    entry = {"epoch": 1, "val_acc": val, "visitor_val_acc": visitor}
    return SimpleNamespace(val_acc=val, best_epoch=1, history=[entry])


def test_replacement_weighs_mnist_and_visitors():
    run = VisitorRun(None, object(), None, old_val=0.990, old_visitor_val=0.80)
    previous = {"val_accuracy": 0.990}
    assert is_better(_result(0.990 - MNIST_TOLERANCE, 0.85), run, previous)
    assert not is_better(_result(0.990 - 2 * MNIST_TOLERANCE, 0.95), run, previous)  # MNIST fell too far
    assert not is_better(_result(0.995, 0.75), run, previous)  # worse on visitors
    plain = VisitorRun(None, None, None, None, None)
    assert is_better(_result(0.991, None), plain, previous) and not is_better(_result(0.98, None), plain, previous)


@pytest.mark.slow
def test_finetune_on_visitors_end_to_end(store, mnist, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for f in (ROOT / "weights").glob("lenet5.*"):
        shutil.copy(f, weights / f.name)
    cfg = TrainConfig.from_recipe("lenet5", epochs=2, max_batches=12, lr=8e-4, feedback=True, finetune=True)
    outcome = fit_and_save(cfg, mnist, weights, feedback_folder=store.folder)
    card = outcome.card
    assert card["feedback"]["through_id"] == 16 and card["feedback"]["train_drawings"] == 16
    assert card["feedback"]["val_drawings"] == 4 and card["feedback"]["finetuned"] is True
    assert card["feedback"]["previous_val_accuracy_now"] > 0.98  # it started from the shipped weights
    assert "--feedback --finetune" in card["command"]
    assert outcome.replaced == (card["val_accuracy"] >= card["feedback"]["previous_val_accuracy_now"]
                                - MNIST_TOLERANCE and card["feedback"]["visitor_val_accuracy"]
                                >= card["feedback"]["previous_visitor_val_accuracy"])


def test_enough_visitor_drawings_join_the_refusal_threshold(mnist):
    """The threshold spares the visitors' own digits too, once there are enough of them to
    have a 1% quantile; a handful of drawings leaves the rule as MNIST and pen digits set it."""
    from digits.recognition import trust
    from digits.synthetic.penstyle import pen_split
    from digits.training.fit import MIN_VISITORS_FOR_THRESHOLD, fit_trust
    from digits.weights import load_model_and_card

    model, _ = load_model_and_card("lenet5", ROOT / "weights")
    visitors = pen_split(mnist.test, MIN_VISITORS_FOR_THRESHOLD + 20, 11)
    without, figures, _ = fit_trust(model, mnist.val)
    fitted, with_visitors, _ = fit_trust(model, mnist.val, visitors)
    assert "visitor_val" not in figures and with_visitors["visitor_val"]["rejected"] <= trust.DIGIT_REJECTION_BUDGET
    assert fitted.threshold <= without.threshold and fitted.temperature == without.temperature
    few = Split(visitors.images[:MIN_VISITORS_FOR_THRESHOLD - 1], visitors.labels[:MIN_VISITORS_FOR_THRESHOLD - 1])
    assert fit_trust(model, mnist.val, few)[0] == without


def test_calibrate_after_a_visitor_run_still_spares_the_visitors_drawings(mnist, tmp_path):
    """`python -m digits calibrate` refits the refusal rule on the same sets a --feedback run
    fitted it on: the visitors' drawings stored after the last one the weights trained on."""
    import numpy as np

    from digits.recognition.trust import DIGIT_REJECTION_BUDGET
    from digits.synthetic.penstyle import pen_split
    from digits.training.fit import MIN_VISITORS_FOR_THRESHOLD, calibrate
    from digits.weights import load_model_and_card, save_weights

    weights, folder = tmp_path / "weights", tmp_path / "feedback"
    model, card = load_model_and_card("lenet5", ROOT / "weights")
    save_weights(model, "lenet5", {**card, "feedback": {"through_id": 5}}, weights)
    drawn, s = pen_split(mnist.test, MIN_VISITORS_FOR_THRESHOLD + 20, 11), fb.FeedbackStore(folder)
    for image, label in zip(drawn.images[:, 0].numpy(), drawn.labels.tolist()):
        s.add(b"png", image.astype(np.float32), str(label), {}, "writer")
    fitted = calibrate("lenet5", mnist, weights, folder)
    assert fitted["fitted_on"]["visitor_val"] == len(drawn) - 5  # the first five trained the weights
    assert fitted["visitor_val"]["rejected"] <= DIGIT_REJECTION_BUDGET
    save_weights(model, "lenet5", card, weights)  # weights never trained on visitors: no visitor set
    assert "visitor_val" not in calibrate("lenet5", mnist, weights, folder)["fitted_on"]


def test_the_panel_spares_the_visitors_drawings_none_of_its_members_trained_on(mnist, tmp_path):
    import numpy as np

    from digits.synthetic.penstyle import pen_split
    from digits.training.fit import MIN_VISITORS_FOR_THRESHOLD, panel_visitors, refit_panel
    from digits.weights import load_model_and_card, save_weights

    weights, folder = tmp_path / "weights", tmp_path / "feedback"
    shutil.copytree(ROOT / "weights", weights)
    assert panel_visitors(weights, folder) is None  # no member trained on visitors' drawings
    for name, through in (("lenet5", 5), ("mlp", 9)):
        model, card = load_model_and_card(name, weights)
        save_weights(model, name, {**card, "feedback": {"through_id": through}}, weights)
    drawn, s = pen_split(mnist.test, MIN_VISITORS_FOR_THRESHOLD + 20, 11), fb.FeedbackStore(folder)
    for image, label in zip(drawn.images[:, 0].numpy(), drawn.labels.tolist()):
        s.add(b"png", image.astype(np.float32), str(label), {}, "writer")
    visitors = panel_visitors(weights, folder)
    assert len(visitors) == len(drawn) - 9  # after the newest drawing any member trained on
    small = MNISTData(mnist.train, Split(mnist.val.images[:400], mnist.val.labels[:400]), mnist.test)
    fitted = refit_panel(small, weights, visitors)
    assert fitted["fitted_on"]["visitor_val"] == len(visitors)
    assert fitted["rejected"]["visitor_val"] <= fitted["energy_rejection_budget"] + 1e-9

