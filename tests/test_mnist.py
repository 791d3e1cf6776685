"""Claims checked on the real MNIST test split (skipped, with the reason, when MNIST is unreachable)."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from digits.evaluate import accuracy
from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import preprocess
from digits.training.data import VALIDATION_SIZE
from digits.training.engine import TrainConfig, train
from digits.weights import available_weights, load_model, read_card

SAMPLE = 1000  # test digits used by the pipeline round trips (the full split is in bench/)
UPSCALED_PX = 400
THICKEN_PX = 9  # max-filter size at 400 px: strokes roughly twice as wide


def test_splits_are_the_real_ones(mnist):
    assert len(mnist.train) == 60_000 - VALIDATION_SIZE and len(mnist.val) == VALIDATION_SIZE
    assert len(mnist.test) == 10_000  # train=False, not the training set loaded twice
    assert not torch.equal(mnist.test.images[:100], mnist.train.images[:100])
    assert 0 <= mnist.train.images.min() and mnist.train.images.max() <= 1


def test_short_lenet5_run_beats_95_percent(mnist):
    cfg = TrainConfig.from_recipe("lenet5", epochs=1, batch_size=128, max_batches=300, seed=0)
    result = train(cfg, mnist)
    assert accuracy(result.model, mnist.test) > 0.95


@pytest.mark.parametrize("name", available_weights())
def test_shipped_weights_reproduce_their_card(mnist, name):
    card = read_card(name)
    measured = accuracy(load_model(name), mnist.test)
    assert abs(100 * measured - 100 * card["test_accuracy"]) <= 0.05, (measured, card["test_accuracy"])


def _sample(mnist, n=SAMPLE):
    idx = torch.arange(n)
    return mnist.test.images[idx, 0].numpy(), mnist.test.labels[idx].numpy()


@pytest.mark.slow
def test_upscaled_thickened_test_digits_are_recognised(mnist):
    images, labels = _sample(mnist)
    store = ModelStore()
    hits = refused = 0
    for img, label in zip(images, labels):
        big = Image.fromarray((255 * img).astype(np.uint8)).resize((UPSCALED_PX, UPSCALED_PX), Image.BILINEAR)
        from PIL import ImageFilter

        thick = 255 - np.asarray(big.filter(ImageFilter.MaxFilter(THICKEN_PX)))  # black on white
        p = store.predict(thick, "lenet5")
        hits += p.best_guess == label
        refused += p.reason is not None
    assert hits / len(labels) >= 0.98 and refused / len(labels) <= 0.03


@pytest.mark.parametrize("name", ["lenet5", "mlp"])
def test_png_round_trip_matches_direct_evaluation(mnist, name):
    images, labels = _sample(mnist)
    store = ModelStore()
    model = store.get(name)
    direct = accuracy(model, type(mnist.test)(torch.from_numpy(images)[:, None], torch.from_numpy(labels)))
    hits = 0
    for img, label in zip(images, labels):
        buf = io.BytesIO()
        Image.fromarray((255 * img).round().astype(np.uint8)).save(buf, format="PNG")
        hits += store.predict(buf.getvalue(), name).best_guess == label  # refusals: tests/test_not_a_digit.py
    assert abs(hits / len(labels) - direct) <= 0.003  # 3 of 1000; the full split is in bench/


def test_pipeline_keeps_mnist_digits_nearly_unchanged(mnist):
    images, _ = _sample(mnist, 200)
    diffs = [np.abs(preprocess(img).image28 - img).mean() for img in images]
    assert np.median(diffs) < 0.02


def test_made_once_makes_each_split_once_per_source_content():
    from digits.training.data import MadeOnce, Split

    cache, calls = MadeOnce(keep=1), []

    def make(tag):
        def build():
            calls.append(tag)
            return Split(torch.full((2, 1, 28, 28), float(len(calls))), torch.zeros(2, dtype=torch.long))
        return build

    a = Split(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    b = Split(torch.ones(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    first = cache.get("k", a, make("a"))
    assert cache.get("k", a, make("again")) is first and calls == ["a"]  # same key, same content: kept
    cache.get("k", b, make("b"))  # other content: made, and the older one dropped (keep=1)
    cache.get("k", a, make("a2"))
    assert calls == ["a", "b", "a2"]
