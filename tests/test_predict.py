import threading

import numpy as np
import pytest

import digits
from digits.recognition.inference import ModelStore
from digits.synthetic.sketches import render
from digits.weights import available_weights

SHIPPED = available_weights()


@pytest.fixture(scope="module")
def store():
    if not SHIPPED:
        pytest.fail("weights/ holds no shipped weights")
    return ModelStore()


def test_every_registered_model_ships_weights():
    assert SHIPPED == digits.list_models()


def test_predict_api_shape():
    p = digits.predict(render(7, canvas=400, brush=16, variant=0), model="lenet5")
    assert isinstance(p.digit, int) and 0 <= p.digit <= 9
    assert len(p.probabilities) == 10 and abs(sum(p.probabilities) - 1) < 1e-5
    assert p.image28.shape == (28, 28)


def test_predict_empty_gives_none():
    p = digits.predict(np.zeros((300, 300, 4), np.uint8))
    assert p.digit is None and p.image28 is None and len(p.probabilities) == 10


def test_predict_all_gives_one_per_model():
    preds = digits.predict_all(render(3, canvas=400, brush=16, variant=0))
    assert list(preds) == SHIPPED
    assert all(p.model == name and len(p.probabilities) == 10 for name, p in preds.items())
    first = next(iter(preds.values())).image28
    assert all(np.array_equal(p.image28, first) for p in preds.values())  # preprocessed once


@pytest.mark.parametrize("digit", range(10))
def test_best_model_reads_clean_drawings(store, digit):
    p = store.predict(render(digit, canvas=400, brush=18, height_frac=0.6, variant=0), "modern")
    assert p.digit == digit


def test_concurrent_callers_get_consistent_answers(store):
    images = [render(d, canvas=300, brush=14, variant=0) for d in range(10)]
    expected = [store.predict(im, "lenet5").digit for im in images]
    errors, results = [], {}

    def worker(k):
        try:
            for _ in range(5):
                results[(k, _)] = [ModelStore.predict(store, im, "lenet5").digit for im in images]
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(r == expected for r in results.values())


def test_prediction_runs_on_one_thread_and_restores_the_callers_setting(monkeypatch):
    import torch

    from digits.recognition import inference
    from digits.synthetic.sketches import render

    seen = []
    original = inference._forward
    monkeypatch.setattr(inference, "_forward", lambda *a: (seen.append(torch.get_num_threads()), original(*a))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        inference.ModelStore().predict_all(render(4, canvas=200, brush=10))
        assert seen and set(seen) == {inference.INFERENCE_THREADS}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
