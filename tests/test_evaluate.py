"""digits/evaluate.py: accuracy, misclassified digits, the model table."""

import torch
from torch import nn

from digits.evaluate import ModelReport, accuracy, evaluate_all, format_table, misclassified, predict_logits
from digits.training.data import Split
from digits.weights import weights_path
from tests.conftest import synthetic_data


class BandReader(nn.Module):
    """Reads the synthetic digits exactly: class k lights row band k (see conftest.synthetic_data)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))  # evaluate.py finds the device from a parameter

    def forward(self, x):
        bands = torch.stack([x[:, 0, 2 + 2 * k:4 + 2 * k, 4:24].mean(dim=(1, 2)) for k in range(10)], dim=1)
        return bands + self.dummy


def test_accuracy_and_misclassified_count_exactly():
    data = synthetic_data(200)
    model = BandReader()
    assert accuracy(model, data.test) == 1.0
    labels = data.test.labels.clone()
    labels[[3, 7, 11]] = (labels[[3, 7, 11]] + 1) % 10  # three wrong labels
    wrong = Split(data.test.images, labels)
    assert abs(accuracy(model, wrong) - (1 - 3 / len(labels))) < 1e-6
    rows = misclassified(model, wrong.images, wrong.labels, limit=10)
    assert [r[0] for r in rows] == [3, 7, 11]
    assert all(true == int(labels[i]) and said == int(data.test.labels[i]) for i, true, said in rows)
    assert len(misclassified(model, wrong.images, wrong.labels, limit=2)) == 2


def test_accuracy_is_right_over_total_exactly_as_a_card_stores_it():
    """38 wrong of 5,000 is 0.9924, the figure a card stores, not a float32 mean's 0.99239999:
    a run exactly as good as the current weights is not turned away."""
    data = synthetic_data(20_000)  # its test split: the last quarter, 5,000 images
    labels = data.test.labels.clone()
    labels[:38] = (labels[:38] + 1) % 10
    measured = accuracy(BandReader(), Split(data.test.images, labels))
    assert measured == 4962 / 5000 and measured >= round(measured, 6) == 0.9924


def test_predict_logits_batches_and_restores_training_mode():
    model = BandReader().train()
    images = synthetic_data(130).train.images
    whole = predict_logits(model, images, batch_size=1000)
    pieces = predict_logits(model, images, batch_size=7)
    assert whole.shape == (len(images), 10) and torch.allclose(whole, pieces)
    assert model.training


def test_format_table_shows_percentages_and_errors():
    ok = ModelReport("lenet5", "LeNet-5", 61706, 0.9925, 0.9926, 14.0, 0.167, 34450.0)
    broken = ModelReport("mlp", "MLP", 0, None, None, None, 0, 0, "weights/mlp.safetensors: file not found")
    table = format_table([ok, broken]).splitlines()
    assert table[0].split()[:3] == ["model", "params", "test"]
    assert "99.25%" in table[2] and "61,706" in table[2] and "34,450" in table[2]
    assert table[3].startswith("mlp") and "ERROR" in table[3] and "file not found" in table[3]


def test_evaluate_all_reports_broken_files_without_raising(tmp_path):
    weights_path("lenet5", tmp_path).write_bytes(b"not tensors")
    reports = evaluate_all(None, tmp_path, timing=False)
    assert [r.name for r in reports] == ["lenet5"] and "truncated or corrupt" in reports[0].error
