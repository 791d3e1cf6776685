"""Not a digit, and calibrated probabilities: the pure maths, the negatives, training with
them, and the shipped weights' refusals through predict, read and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from digits.evaluate import accuracy, predict_logits
from digits.models import list_models
from digits.recognition import trust
from digits.recognition.inference import EMPTY, ModelStore
from digits.recognition.inference import NOT_A_DIGIT as REFUSED
from digits.recognition.preprocess import preprocess
from digits.recognition.reading import read
from digits.synthetic import negatives
from digits.synthetic.penstyle import pen_canvas, skeleton_strokes
from digits.synthetic.sketches import APP_CANVAS_PX, app_canvas, draw_strokes, number_canvas
from digits.training.data import NOT_A_DIGIT, MNISTData, Split, with_training
from digits.training.engine import TrainConfig, loss_fn, train
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def store():
    return ModelStore()


# --- digits/recognition/trust.py: pure functions -------------------------------------------------------

def test_ece_is_zero_when_confidence_matches_accuracy_and_large_when_overconfident():
    labels = torch.tensor([0] * 8 + [1] * 2)
    honest = torch.tensor([[0.8, 0.2]] * 10)  # says 0 at 80%; right 8 times in 10
    assert trust.ece(honest, labels) == pytest.approx(0.0, abs=1e-6)
    sure = torch.tensor([[0.99, 0.01]] * 10)
    assert trust.ece(sure, labels) == pytest.approx(0.19, abs=1e-4)


def test_fit_temperature_recovers_the_temperature_that_made_the_labels():
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(20_000, 10, generator=gen)
    true_t = 2.0  # labels drawn from softmax(logits / 2): the right temperature is 2
    labels = torch.multinomial(torch.softmax(logits / true_t, 1), 1, generator=gen).squeeze(1)
    fitted = trust.fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.06)
    assert trust.nll(logits, labels, fitted) < trust.nll(logits, labels, 1.0)


def test_fit_threshold_refuses_at_most_the_allowed_share_of_every_digit_set():
    gen = torch.Generator().manual_seed(1)
    sets = [torch.rand(1000, generator=gen) ** 0.2, torch.rand(500, generator=gen) ** 0.1]
    t = trust.fit_threshold(sets, 0.02)
    assert all(trust.rejection_rate(s, t) <= 0.02 for s in sets)
    assert max(trust.rejection_rate(s, t) for s in sets) >= 0.015  # and no lower than it needs to be


def test_a_card_without_trust_never_refuses_and_keeps_the_raw_softmax():
    t = trust.Trust.from_card({})
    logits = torch.tensor([[0.1, 0.0, 0.05]])
    assert torch.allclose(t.probabilities(logits), torch.softmax(logits, 1))
    assert t.is_digit(t.probabilities(logits)).all()


# --- negatives -----------------------------------------------------------------------------

def _glyphs() -> np.ndarray:
    """Ten template digits as [0, 1] 28x28 images: what the kinds made of digits are drawn from."""
    return np.stack([preprocess(app_canvas(d, variant=0)).image28 for d in range(10)])


@pytest.mark.parametrize("kind", negatives.KINDS)
def test_every_kind_of_negative_is_drawn_as_ink_on_a_transparent_canvas(kind):
    made = list(negatives.canvases(3, seed=5, kinds={kind: 1.0}, glyphs=_glyphs()))
    assert [n.kind for n in made] == [kind] * 3
    for n in made:
        assert n.canvas.shape == (APP_CANVAS_PX, APP_CANVAS_PX, 4)
        assert 0.005 < (n.canvas[..., 3] > 128).mean() < 0.5  # some ink, mostly background


def test_kinds_made_of_digits_need_digits_to_be_made_of():
    mix = {"touching": 1.0, "part": 1.0, "shape": 0.5}
    assert {n.kind for n in negatives.canvases(6, seed=2, kinds=mix)} == {"shape"}
    assert {n.kind for n in negatives.canvases(12, seed=2, kinds=mix, glyphs=_glyphs())} >= {"touching", "part"}


def test_a_wrong_cut_through_a_pair_keeps_part_of_its_ink_and_nothing_else():
    glyphs, checked = _glyphs(), 0
    for seed in range(8):
        cut, rng = negatives.part(np.random.default_rng(seed), glyphs), np.random.default_rng(seed)
        if rng.random() < 0.5:  # the branch that cuts through a pair: the same pair, drawn again
            whole = negatives._glyph_pair(glyphs, rng, negatives.PART_GAP)[0][..., 3] > 0
            inked = cut[..., 3] > 0
            assert inked.any() and not (inked & ~whole).any() and inked.sum() < whole.sum()
            checked += 1
    assert checked


def test_letters_written_like_digits_are_never_negatives():
    for char in negatives.LEFT_OUT.split():
        assert char not in negatives.LETTERS and char not in negatives.FONT_LETTERS


def test_negative_split_goes_through_the_pipeline_and_is_labelled_not_a_digit():
    split = negatives.negative_split(20, seed=3)
    assert split.images.shape[1:] == (1, 28, 28) and len(split) >= 18  # a rare empty drawing is dropped
    assert (split.labels == NOT_A_DIGIT).all()
    assert 0.9 < split.images.amax(dim=(1, 2, 3)).min() <= 1.0  # MNIST-like: full-strength ink


def test_font_split_keeps_some_fonts_out_of_training():
    train_fonts, held_out = negatives.font_split()
    assert not set(train_fonts) & set(held_out)
    if negatives.fonts():
        assert held_out and train_fonts


def test_skeleton_tracing_keeps_a_glyph_recognisable_as_a_stroke_drawing():
    glyph = np.zeros((28, 28), np.float32)
    glyph[4:24, 13:15] = 1.0  # a vertical bar
    strokes = skeleton_strokes(glyph)
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    assert strokes and max(ys) - min(ys) > 0.9 and max(xs) - min(xs) < 0.2  # tall and thin, as drawn
    canvas = pen_canvas(strokes, np.random.default_rng(0))
    assert canvas.shape == (APP_CANVAS_PX, APP_CANVAS_PX, 4) and canvas[..., 3].max() == 255


# --- outlier exposure in the one training loop ---------------------------------------------

def test_loss_on_negatives_is_least_at_the_uniform_distribution():
    labels = torch.tensor([NOT_A_DIGIT, NOT_A_DIGIT])
    flat, peaked = torch.zeros(2, 10), torch.zeros(2, 10)
    peaked[:, 3] = 5.0
    assert loss_fn(flat, labels, 0.0) < loss_fn(peaked, labels, 0.0)
    digits = torch.tensor([3, 3])
    assert torch.isclose(loss_fn(peaked, digits, 0.0), torch.nn.functional.cross_entropy(peaked, digits))


def test_training_with_negatives_makes_the_model_less_sure_of_them(mnist):
    """The same short MNIST run with and without 300 negatives: only the exposed model learns
    to be unsure of letters it never saw (another seed's)."""
    digits = Split(mnist.train.images[:3000], mnist.train.labels[:3000])
    negs = negatives.negative_split(300, seed=11)
    plain_data = MNISTData(train=digits, val=mnist.val, test=mnist.test)
    exposed_data = with_training(plain_data, negs)
    cfg = TrainConfig.from_recipe("mlp", epochs=2, batch_size=64, label_smoothing=0.0, seed=0, accel=False, bf16=False)
    plain, exposed = train(cfg, plain_data).model, train(cfg, exposed_data).model
    probe = negatives.negative_split(100, seed=12, kinds={"pen-letter": 1, "font-letter": 1}).images

    def mean_top(model) -> float:
        return torch.softmax(predict_logits(model, probe), 1).max(1).values.mean().item()

    assert mean_top(exposed) < mean_top(plain) - 0.1
    assert accuracy(exposed, mnist.val) > accuracy(plain, mnist.val) - 0.03  # digits still read


# --- the shipped weights -------------------------------------------------------------------

def test_every_shipped_card_holds_a_fitted_temperature_and_threshold(store):
    for name in list_models():
        card = store.card(name)["trust"]
        assert 0.1 < card["temperature"] < 10 and 0.1 < card["threshold"] < 1
        assert 0 < card["piece_threshold"] <= card["threshold"]  # a number's digits: more lenient
        assert card["negatives"] > 0 and card["mnist_val"]["rejected"] <= trust.MAX_DIGIT_REJECTION + 1e-9
        assert card["mnist_val"]["ece_after"] < card["mnist_val"]["ece_before"]
        for fitted_on in ("mnist_val", "pen_val", "writer_val"):  # the one-drawing rule's budget, on each set
            assert card[fitted_on]["rejected"] <= card["energy_rejection_budget"] + 1e-9, (name, fitted_on)
        assert card["mnist_val"]["rejected"] <= card["mnist_energy_rejection_budget"] + 1e-9, name


def test_the_energy_rule_is_fitted_to_its_own_budget_on_every_set():
    """trust.fit: the energy threshold spares all but ENERGY_REJECTION_BUDGET of each digit set,
    new writers' drawings included, and the top-probability threshold all but its own."""
    gen = torch.Generator().manual_seed(0)
    sets = [torch.randn(4000, 10, generator=gen) * s + 6 * torch.eye(10)[torch.arange(4000) % 10]
            for s in (1.0, 1.5, 2.0)]
    labels = torch.arange(4000) % 10
    fitted = trust.fit(sets[0], labels, sets[1], writer_logits=(sets[2],))
    refused = [1 - fitted.is_digit(fitted.probabilities(lg), logits=lg).float().mean().item() for lg in sets]
    budgets = [trust.MNIST_ENERGY_REJECTION_BUDGET] + 2 * [trust.ENERGY_REJECTION_BUDGET]
    assert all(r <= b + 1e-9 for r, b in zip(refused, budgets))  # MNIST validation (the first) held tighter
    assert max(r / b for r, b in zip(refused, budgets)) >= 0.8  # and no lower than it needs to be
    tops = [fitted.probabilities(lg).max(1).values for lg in sets[:2]]
    assert max(trust.rejection_rate(t, fitted.threshold) for t in tops) <= trust.DIGIT_REJECTION_BUDGET + 1e-9


def test_the_temperature_is_fitted_on_every_set_it_is_given():
    """Logits z with labels drawn from softmax(z) are calibrated at T = 1; scaled by 2 they need
    T = 2. Fitted on MNIST (scaled) and a drawn set (not) together, the temperature lies
    between the two; the MNIST temperature, kept beside it, is MNIST's own."""
    gen = torch.Generator().manual_seed(1)
    z = 3 * torch.randn(8000, 10, generator=gen)
    labels = torch.multinomial(torch.softmax(z, 1), 1, generator=gen)[:, 0]
    mnist, drawn = 2 * z[:4000], z[4000:]
    alone = trust.fit(mnist, labels[:4000])
    both = trust.fit(mnist, labels[:4000], writer_logits=(drawn,),
                     temperature_from=(torch.cat([mnist, drawn]), labels))
    assert alone.temperature == pytest.approx(2.0, rel=0.1) == alone.mnist_temperature
    assert 1.1 < both.temperature < 1.9 and both.mnist_temperature == alone.temperature


def test_probabilities_are_taken_to_the_mnist_temperature_exactly():
    """The reader's scale: the top probability at the MNIST temperature, from the probabilities
    shown at the card's, is the softmax of the logits at the MNIST temperature."""
    logits = torch.tensor([4.0, 1.5, -2.0, 0.3, 0.0, -1.0, 2.2, -3.0, 0.5, 1.0])
    fitted = trust.Trust(temperature=0.6, mnist_temperature=0.4)
    shown = fitted.probabilities(logits).tolist()
    at_mnist = float(torch.softmax(logits / 0.4, 0).max())
    assert fitted.top_at_mnist_temperature(shown) == pytest.approx(at_mnist, abs=1e-6)
    assert trust.Trust(temperature=0.6).top_at_mnist_temperature(shown) == max(shown)  # no MNIST one: as shown


def _letter(char: str, seed: int = 0) -> np.ndarray:
    strokes, aspect = negatives._jittered(negatives.LETTERS[char], np.random.default_rng(seed))
    height = 0.6 * APP_CANVAS_PX
    box = ((APP_CANVAS_PX - height * aspect) / 2, (APP_CANVAS_PX - height) / 2, height * aspect, height)
    return np.asarray(draw_strokes(strokes, APP_CANVAS_PX, 28, box))


@pytest.mark.parametrize("char", ["A", "M", "K", "W", "E"])
def test_the_best_model_refuses_drawn_letters(store, char):
    p = store.predict(_letter(char), "modern")
    assert p.digit is None and p.reason == REFUSED
    assert p.best_guess is not None and abs(sum(p.probabilities) - 1) < 1e-4  # the ten-way guess is kept
    assert p.as_dict()["reason"] == "not a digit" and p.as_dict()["digit"] is None


@pytest.mark.parametrize("digit", range(10))
def test_drawn_digits_are_not_refused(store, digit):
    p = store.predict(app_canvas(digit, variant=0), "modern")
    assert p.digit == digit and p.reason is None and p.as_dict()["reason"] is None


def test_every_reason_an_answer_can_have(store):
    blank = np.zeros((APP_CANVAS_PX, APP_CANVAS_PX, 4), np.uint8)
    empty, letter, digit = (store.predict(x, "lenet5") for x in (blank, _letter("M"), app_canvas(3)))
    assert (empty.reason, letter.reason, digit.reason) == (EMPTY, REFUSED, None)
    assert empty.best_guess is None and letter.best_guess is not None and digit.best_guess == 3


def test_a_number_with_a_letter_in_it_is_not_read_as_a_number(store):
    strokes, _ = negatives._jittered(negatives.LETTERS["M"], np.random.default_rng(0))
    letter = draw_strokes(strokes, 800, 24, (610, 80, 170, 240)).crop((0, 0, 800, 400))  # right of the digits
    image = np.asarray(Image.alpha_composite(Image.fromarray(number_canvas("24")), letter))
    r = read(image, "modern", store)
    assert r.text is None and r.reason == REFUSED and r.as_dict()["reason"] == "not a digit"
    assert [p.digit for p in r.digits] == [2, 4, None] and len(r.boxes) == 3


def test_cli_predict_json_says_not_a_digit(tmp_path):
    path = tmp_path / "letter.png"
    Image.fromarray(_letter("A")).save(path)
    out = subprocess.run([sys.executable, "-m", "digits", "predict", "--model", "modern", "--json", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    row = json.loads(out.stdout.strip().splitlines()[0])
    assert out.returncode == 0 and row["digit"] is None and row["reason"] == "not a digit"
    assert len(row["probabilities"]) == 10 and abs(sum(row["probabilities"]) - 1) < 1e-3


def test_finetuning_weights_that_learned_to_refuse_replays_non_digits(tiny_data):
    from digits.training.fit import VisitorRun, negative_replay

    run = VisitorRun(tiny_data, None, None, None, None)
    tuned = TrainConfig.from_recipe("mlp", finetune=True)
    learned = {"trust": {"negatives": 12_000}}
    assert negative_replay(tuned, learned, run) == round(0.2 * len(tiny_data.train)) > 0
    assert negative_replay(tuned, {"trust": {"negatives": 0}}, run) == 0  # it never learned: nothing to keep
    assert negative_replay(TrainConfig.from_recipe("mlp"), learned, run) == 0  # a fresh run starts over


def test_an_explanation_says_when_the_model_refuses(store):
    from digits.explain.explanations import explain

    letter, digit = explain(_letter("M"), "modern", store=store), explain(app_canvas(3), "modern", store=store)
    assert letter.refused and not digit.refused and digit.digit == 3
    assert abs(sum(letter.probabilities) - 1) < 1e-4 and max(letter.probabilities) < store.trust("modern").threshold
