"""The models' panel: one drawing judged "not a digit" by the sum of every model's energy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from digits.models import list_models
from digits.recognition import trust
from digits.recognition.inference import ModelStore
from digits.recognition.panel import PANEL_FILE, read_panel, stamp, write_panel
from digits.recognition.strokes import preprocess_strokes
from digits.synthetic.sketches import app_canvas
from digits.synthetic.writers import writer_drawings, writer_letters
from digits.training.data import MNISTData, Split
from tests.conftest import ROOT

SEED = 88_000  # drawings no training run or bench uses


@pytest.fixture(scope="module")
def store() -> ModelStore:
    return ModelStore()


def test_the_panel_refuses_by_the_sum_of_its_members_energies():
    panel = trust.Panel(3.0, {"a": {}, "b": {}})
    energies = {"a": torch.tensor([0.5, 2.0, 1.0]), "b": torch.tensor([2.6, 0.5, 1.0]), "c": torch.tensor([9.0] * 3)}
    assert panel.accepts(energies).tolist() == [True, False, False]  # "c" is not a member: not counted


def test_the_panel_threshold_is_fitted_to_its_budget_on_every_set():
    gen = torch.Generator().manual_seed(0)
    sets = [{name: torch.randn(4000, generator=gen) * s + shift for name, shift in (("a", 2.0), ("b", 3.0))}
            for s in (1.0, 1.5, 2.0)]
    fitted = trust.fit_panel(sets[0], sets[1:], {"a": {}, "b": {}})
    refused = [1 - fitted.accepts(e).float().mean().item() for e in sets]
    budgets = [trust.MNIST_ENERGY_REJECTION_BUDGET] + 2 * [trust.ENERGY_REJECTION_BUDGET]
    assert all(r <= b + 1e-9 for r, b in zip(refused, budgets))  # MNIST validation (the first) held tighter
    assert max(r / b for r, b in zip(refused, budgets)) >= 0.8  # and no lower than it needs to be


def test_the_shipped_panel_is_fitted_for_the_shipped_weights(store):
    found = store.panel()
    assert found is not None and list(found[0].members) == list_models()
    record = json.loads((ROOT / "weights" / PANEL_FILE).read_text())
    for fitted_on in ("mnist_val", "pen_val", "writer_val"):
        assert record["rejected"][fitted_on] <= record["energy_rejection_budget"] + 1e-9
    assert record["rejected"]["mnist_val"] <= record["mnist_energy_rejection_budget"] + 1e-9


def test_the_panel_refuses_more_letters_than_any_model_alone_at_its_own_rule(store, mnist):
    """On drawings that vary as new writers do: the panel refuses more letters than each
    model's own card, and about as few digits."""
    rng = np.random.default_rng(SEED)
    digits = [preprocess_strokes(s) for s, _ in writer_drawings(mnist.test, 200, rng)]
    letters = [preprocess_strokes(s) for s in writer_letters(200, rng)]
    x = {k: torch.tensor(np.stack([p.image28 for p in v]))[:, None] for k, v in (("d", digits), ("l", letters))}
    from digits.config import normalize

    energies = {k: {n: trust.energy(store.get(n)(normalize(v)).detach(), store.trust(n).temperature)
                    for n in list_models()} for k, v in x.items()}
    panel = store.panel()[0]
    panel_letters = 1 - panel.accepts(energies["l"]).float().mean().item()
    assert 1 - panel.accepts(energies["d"]).float().mean().item() <= 0.02
    for name in list_models():
        own = (energies["l"][name] < store.trust(name).energy_threshold).float().mean().item()
        assert panel_letters >= own, (name, panel_letters, own)
    assert panel_letters >= 0.9


@pytest.fixture
def weights_copy(tmp_path):
    for f in (ROOT / "weights").iterdir():
        if f.is_file():
            shutil.copy(f, tmp_path / f.name)
    return tmp_path


def test_a_fitted_panel_judges_for_every_model_and_a_stale_one_is_not_used(weights_copy):
    store = ModelStore(weights_copy)
    three = app_canvas(3, variant=0)
    assert store.predict(three, "lenet5").digit == 3
    members = {n: stamp(store.card(n)) for n in list_models()}
    write_panel(trust.Panel(1e9, members), {}, weights_copy)  # no drawing reaches it
    answers = store.predict_all(three)
    assert all(p.digit is None and p.reason == "not a digit" and p.best_guess == 3 for p in answers.values())
    assert store.predict(three, "mlp").digit is None  # one model asked: judged by the panel too
    members["cnn"] = {**members["cnn"], "date": "before these weights"}
    write_panel(trust.Panel(1e9, members), {}, weights_copy)
    assert store.panel() is None and store.predict(three, "lenet5").digit == 3  # each card's own rule again


def test_a_numbers_pieces_are_judged_by_their_own_cards(weights_copy):
    from digits.recognition.preprocess import preprocess

    store = ModelStore(weights_copy)
    write_panel(trust.Panel(1e9, {n: stamp(store.card(n)) for n in list_models()}), {}, weights_copy)
    prepared = [preprocess(app_canvas(d, variant=0)) for d in (4, 7)]
    assert [p.digit for p in store.predict_many(prepared, "modern", pieces=True)] == [4, 7]
    assert [p.digit for p in store.predict_many(prepared, "modern")] == [None, None]


def test_refitting_writes_a_panel_for_the_weights_in_the_folder(weights_copy, mnist):
    from digits.training.fit import refit_panel

    (weights_copy / PANEL_FILE).unlink()
    small = MNISTData(mnist.train, Split(mnist.val.images[:400], mnist.val.labels[:400]), mnist.test)
    fitted = refit_panel(small, weights_copy)
    assert fitted is not None and fitted["members"] == list_models()
    assert read_panel(weights_copy).energy_threshold == pytest.approx(fitted["energy_threshold"], abs=1e-5)
    assert ModelStore(weights_copy).panel() is not None
    assert max(fitted["rejected"].values()) <= trust.ENERGY_REJECTION_BUDGET + 1e-9
    assert fitted["rejected"]["mnist_val"] <= trust.MNIST_ENERGY_REJECTION_BUDGET + 1e-9


def test_a_run_that_saves_weights_refits_the_panel_for_them(weights_copy, mnist):
    from digits.training.engine import TrainConfig
    from digits.training.fit import fit_and_save

    small = MNISTData(mnist.train, Split(mnist.val.images[:400], mnist.val.labels[:400]), mnist.test)
    before = read_panel(weights_copy)
    outcome = fit_and_save(TrainConfig.from_recipe("lenet5", max_batches=3), small, weights_copy,
                           force=True)
    assert outcome.replaced
    after = read_panel(weights_copy)
    assert after.members["lenet5"] == stamp(outcome.card) != before.members["lenet5"]
    assert ModelStore(weights_copy).panel() is not None  # fitted for the new weights: in use
