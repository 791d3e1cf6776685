"""Measurements: accuracy on a split, latency per image, throughput, and the model table."""

from __future__ import annotations

import math
import statistics
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from digits.config import IMAGE_SIZE
from digits.models import count_parameters, get_spec
from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import Preprocessed
from digits.training.data import MNISTData, Split, load_split, normalize
from digits.visitors.store import Drawing, FeedbackStore
from digits.weights import WeightsError, available_weights, load_model_and_card, runs_of

LATENCY_REPEATS = 50
THROUGHPUT_BATCH = 1000
MISTAKES_SHOWN = 12  # test digits per model in the Models tab's gallery
EVAL_BATCH = 1000  # validation/test passes: no gradients, so a large batch is fine


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, device: torch.device | None = None,
                   batch_size: int = EVAL_BATCH, bf16: bool = False) -> torch.Tensor:
    """Logits for [0, 1] images, in batches, on the model's device."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = normalize(images[start:start + batch_size].to(device)).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(model(x).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def accuracy(model: nn.Module, split: Split, device: torch.device | None = None, bf16: bool = False) -> float:
    """Share of the split classified correctly, in [0, 1]: right / total in Python's floats, so
    it equals the figure a card stores (a float32 mean made 4962/5000 0.99239999 < 0.9924, and
    a run exactly as good as the current weights was turned away)."""
    logits = predict_logits(model, split.images, device, bf16=bf16)
    return int((logits.argmax(1) == split.labels.cpu()).sum()) / len(split.labels)


@torch.inference_mode()
def latency_ms(model: nn.Module, batch: int = 1, repeats: int = LATENCY_REPEATS) -> float:
    """Median milliseconds of one forward pass of `batch` images (after warm-up)."""
    device = next(model.parameters()).device
    x = normalize(torch.rand(batch, 1, IMAGE_SIZE, IMAGE_SIZE, device=device))
    model.eval()
    for _ in range(3):
        model(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def throughput(model: nn.Module, batch: int = THROUGHPUT_BATCH, repeats: int = 5) -> float:
    """Images per second at a large batch."""
    return batch / (latency_ms(model, batch, repeats) / 1000)


def misclassified(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  limit: int = 12) -> list[tuple[int, int, int]]:
    """(index, true label, predicted) for the first `limit` errors on a split."""
    pred = predict_logits(model, images).argmax(1)
    wrong = (pred != labels).nonzero().flatten()[:limit].tolist()
    return [(i, int(labels[i]), int(pred[i])) for i in wrong]


@dataclass
class ModelReport:
    name: str
    display_name: str
    parameters: int
    test_acc: float | None
    val_acc: float | None
    train_seconds: float | None
    ms_per_image: float
    images_per_second: float
    error: str | None = None


def evaluate_all(data: MNISTData | None, directory=None, timing: bool = True) -> list[ModelReport]:
    """One report per model with weights; broken files are reported, not raised."""
    reports = []
    for name in available_weights(directory):
        spec = get_spec(name)
        try:
            model, card = load_model_and_card(name, directory)
        except WeightsError as exc:
            reports.append(ModelReport(name, spec.display_name, 0, None, None, None, 0, 0, str(exc)))
            continue
        reports.append(ModelReport(
            name=name,
            display_name=spec.display_name,
            parameters=count_parameters(model),
            test_acc=accuracy(model, data.test) if data else card.get("test_accuracy"),
            val_acc=accuracy(model, data.val) if data else card.get("val_accuracy"),
            train_seconds=sum(r.get("train_seconds") or 0 for r in runs_of(card)),  # every run that made them
            ms_per_image=latency_ms(model) if timing else 0.0,
            images_per_second=throughput(model) if timing else 0.0,
        ))
    return reports


def format_table(reports: list[ModelReport]) -> str:
    head = (f"{'model':<10} {'params':>9} {'test acc':>9} {'val acc':>8} {'train s':>8} {'ms/img@1':>9} "
            f"{'img/s@1000':>11}")
    lines = [head, "-" * len(head)]
    for r in reports:
        if r.error:
            lines.append(f"{r.name:<10} ERROR {r.error}")
            continue
        pct = lambda v: f"{100 * v:.2f}%" if v is not None else "-"  # noqa: E731
        secs = f"{r.train_seconds:.1f}" if r.train_seconds is not None else "-"
        lines.append(f"{r.name:<10} {r.parameters:>9,} {pct(r.test_acc):>9} {pct(r.val_acc):>8} {secs:>8} "
                     f"{r.ms_per_image:>9.3f} {r.images_per_second:>11,.0f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Mistake:
    index: int  # in the MNIST test split
    true: int
    predicted: int
    image28: np.ndarray  # [0, 1], ink = 1


class MistakeGallery:
    """The test digits each model gets wrong, computed once per weight file version and
    shared by every caller (thread-safe); the test split is loaded once, on first use."""

    def __init__(self, store: ModelStore, limit: int = MISTAKES_SHOWN, data_dir: str | None = None):
        self.store, self.limit, self.data_dir = store, limit, data_dir
        self._lock = threading.Lock()
        self._test: Split | None = None
        self._cache: dict[tuple[str, int | None], list[Mistake]] = {}

    def get(self, name: str) -> list[Mistake]:
        """Raises WeightsError for unusable weights and DataNotFoundError without MNIST."""
        model = self.store.get(name)
        key = (name, self.store.version(name))
        with self._lock:
            if key not in self._cache:
                if self._test is None:
                    self._test = load_split(False, self.data_dir)
                rows = misclassified(model, self._test.images, self._test.labels, self.limit)
                self._cache[key] = [Mistake(i, t, p, self._test.images[i, 0].numpy()) for i, t, p in rows]
            return self._cache[key]


# --- visitors' drawings (digits/visitors/store.py) ---------------------------------------------------

WILSON_Z = 1.96  # 95% interval
VISITOR_MISTAKES_SHOWN = 12


def wilson_interval(correct: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval for a proportion: honest at small n and near 0% or 100%."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[t, p]: how often true digit t was read as p."""
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (np.asarray(true, np.int64), np.asarray(predicted, np.int64)), 1)
    return counts


@dataclass
class VisitorScore:
    model: str
    correct: int
    n: int  # visitors' drawings it is scored on (labelled digits it was not trained on)
    low: float
    high: float
    confusion: np.ndarray
    mistakes: list[tuple[Drawing, int]]  # (drawing, what the model said), newest first

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None


def fair_drawings(feedback: FeedbackStore, card: dict) -> list[Drawing]:
    """Labelled single-digit drawings the model's weights never trained on: those stored
    after the last visitor drawing its training used (the card's `feedback.through_id`)."""
    through = int((card.get("feedback") or {}).get("through_id") or 0)
    return [d for d in feedback.drawings(after_id=through) if d.digit is not None and d.image28 is not None]


def score_visitors(models: ModelStore, feedback: FeedbackStore,
                   names: list[str] | None = None) -> dict[str, VisitorScore]:
    """Every available model (or the named ones) on the visitors' drawings it has not seen."""
    scores = {}
    for name in names or models.available():
        drawings = fair_drawings(feedback, models.card(name))
        said = [p.digit for p in models.predict_many([Preprocessed(d.image28) for d in drawings], name)]
        true = [d.digit for d in drawings]
        correct = sum(t == s for t, s in zip(true, said))
        wrong = [(d, s) for d, s in zip(drawings, said) if s != d.digit][::-1][:VISITOR_MISTAKES_SHOWN]
        scores[name] = VisitorScore(name, correct, len(drawings), *wilson_interval(correct, len(drawings)),
                                    confusion_matrix(np.array(true, np.int64), np.array(said, np.int64)), wrong)
    return scores


def format_visitor_table(scores: dict[str, VisitorScore], mnist: dict[str, float | None]) -> str:
    head = f"{'model':<10} {'visitors':>9} {'95% interval':>17} {'drawings':>9} {'MNIST test':>11}"
    lines = [head, "-" * len(head)]
    for name, s in scores.items():
        acc = "-" if s.accuracy is None else f"{100 * s.accuracy:.2f}%"
        interval = "-" if not s.n else f"{100 * s.low:.1f}-{100 * s.high:.1f}%"
        test = mnist.get(name)
        lines.append(f"{name:<10} {acc:>9} {interval:>17} {s.n:>9} "
                     f"{'-' if test is None else f'{100 * test:.2f}%':>11}")
    return "\n".join(lines)
