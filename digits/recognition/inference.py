"""Prediction: preprocess once, run one or every model, with models loaded once and cached.

`ModelStore` is the one thread-safe object that holds loaded models; it reloads a model
when its weight file changes on disk, so freshly trained weights are picked up without
a restart.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from digits.config import normalize, weights_dir
from digits.models import DEFAULT_MODEL, get_spec, list_models
from digits.recognition.panel import is_current, panel_path, read_panel
from digits.recognition.preprocess import Preprocessed, preprocess
from digits.recognition.trust import Panel, Trust, energy
from digits.weights import WeightsError, load_model_and_card, weights_path

# Inference runs in the caller's thread; a prediction is tiny, so more threads only add
# hand-off overhead and compete with a training job.
INFERENCE_THREADS = 1


class _ThreadPin:
    """Run predictions on INFERENCE_THREADS torch threads, restoring the caller's setting after.

    Torch's thread count is process-wide: with its default (every core) and anything else
    running, a tiny forward pass is several times slower. Concurrent predictions share one
    pin (a count of users), so the setting is restored only when the last one leaves.
    """

    def __init__(self, threads: int):
        self.threads = threads
        self._lock = threading.Lock()
        self._users = 0
        self._saved = threads

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = torch.get_num_threads()
                if self._saved != self.threads:
                    torch.set_num_threads(self.threads)
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and torch.get_num_threads() != self._saved:
                torch.set_num_threads(self._saved)


pinned_threads = _ThreadPin(INFERENCE_THREADS)


EMPTY = "empty"  # no ink, or too little or too faint to be anything
NOT_A_DIGIT = "not a digit"  # ink, but the model is not sure enough that it is any digit (digits/recognition/trust.py)


@dataclass(frozen=True)
class Prediction:
    model: str
    digit: int | None  # None when the image holds no digit: `reason` says why
    probabilities: list[float]  # the calibrated ten-way distribution (all zeros when empty)
    image28: np.ndarray | None  # the [0, 1] 28x28 image the model saw (before normalisation)
    latency_ms: float = 0.0  # this model's forward pass
    empty_reason: str | None = None  # what the pipeline found when empty ("ink too faint", ...)
    reason: str | None = None  # None, EMPTY or NOT_A_DIGIT

    @property
    def confidence(self) -> float:
        return max(self.probabilities) if self.digit is not None else 0.0

    @property
    def best_guess(self) -> int | None:
        """The digit the model leans to, even when it refuses (None when empty)."""
        return None if self.reason == EMPTY else int(np.argmax(self.probabilities))

    @property
    def top_probability(self) -> float:
        return max(self.probabilities)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI and the app's API share."""
        return {"model": self.model, "digit": self.digit,
                "probabilities": [round(v, 6) for v in self.probabilities], "reason": self.reason}


@dataclass
class LoadedModel:
    model: nn.Module
    mtime: int | None
    card: dict[str, Any] = field(default_factory=dict)
    trust: Trust = field(default_factory=Trust)


EMPTY_PROBABILITIES = [0.0] * 10


class ModelStore:
    """Loaded models by name, thread-safe, refreshed when a weight file changes."""

    def __init__(self, directory: os.PathLike | str | None = None):
        self.directory = Path(weights_dir(directory))
        self._lock = threading.Lock()
        self._models: dict[str, LoadedModel] = {}
        self.errors: dict[str, str] = {}  # name -> why its weights could not be used
        self._panel: tuple[int, Panel | None] | None = None  # (panel.json's mtime, what it holds)

    def version(self, name: str) -> int | None:
        """The weight file's modification time in ns: changes whenever new weights are saved."""
        try:
            return weights_path(name, self.directory).stat().st_mtime_ns
        except OSError:
            return None

    def entry(self, name: str) -> LoadedModel:
        """The model with the current weights and the card and trust read with them (one look
        at the weight file); raises WeightsError if they are unusable."""
        mtime = self.version(name)
        with self._lock:
            cached = self._models.get(name)
            if cached is not None and cached.mtime == mtime:
                return cached
            try:
                model, card = load_model_and_card(name, self.directory)
            except WeightsError as exc:
                self._models.pop(name, None)
                self.errors[name] = exc.reason
                raise
            self.errors.pop(name, None)
            self._models[name] = LoadedModel(model, mtime, card, Trust.from_card(card))
            return self._models[name]

    def get(self, name: str) -> nn.Module:
        return self.entry(name).model

    def card(self, name: str) -> dict[str, Any]:
        return self.entry(name).card

    def trust(self, name: str) -> Trust:
        """The model's calibration and "not a digit" threshold, from its card."""
        return self.entry(name).trust

    def available(self) -> list[str]:
        """Registered models whose weights load; broken files are skipped (see `errors`)."""
        return [name for name, _ in self.loaded(None)]

    def warm_up(self) -> None:
        """Load every model and run it once, so the first visitor does not pay for lazy setup."""
        blank = torch.zeros(1, 1, 28, 28)
        loaded = self.loaded(None)  # outside inference mode: parameters loaded in it could not get gradients
        with torch.inference_mode():
            for _, e in loaded:
                e.model(normalize(blank))

    def predict(self, image: Any, model: str = DEFAULT_MODEL) -> Prediction:
        return self.predict_prepared(preprocess(image), model)

    def predict_prepared(self, prepared: Preprocessed, model: str) -> Prediction:
        model = get_spec(model).name  # an unknown name fails here, drawn or not
        if prepared.empty:  # answered without loading a model
            return _empty_prediction(prepared, model)
        return self.judged([prepared], [model])[model][0]

    def predict_many(self, prepared: list[Preprocessed], model: str, pieces: bool = False) -> list[Prediction]:
        """Many preprocessed images through one model in a single batch (with `pieces`, the
        digits of one number, refused by the trust's lenient piece threshold)."""
        return self.predict_each(prepared, [model], pieces)[model]

    def predict_each(self, prepared: list[Preprocessed], names: list[str],
                     pieces: bool = False) -> dict[str, list[Prediction]]:
        """Many preprocessed images through each named model, each model run once on the batch
        (the batch CLI)."""
        drawn = [p for p in prepared if not p.empty]
        judged = self.judged(drawn, names, pieces) if drawn else {name: [] for name in names}
        out = {}
        for name in names:
            answers = iter(judged[name])
            out[name] = [_empty_prediction(p, name) if p.empty else next(answers) for p in prepared]
        return out

    def predict_all(self, image: Any, models: list[str] | None = None) -> dict[str, Prediction]:
        """Preprocess once, then every available model (or the given ones)."""
        return self.classify_all(preprocess(image), models)

    def classify_all(self, prepared: Preprocessed, models: list[str] | None = None) -> dict[str, Prediction]:
        """`predict_all` of a drawing already preprocessed (the app decodes each drawing once)."""
        if prepared.empty:  # answered without loading the given models
            return {name: _empty_prediction(prepared, name) for name in (models or self.available())}
        names = [name for name, _ in self.loaded(models)]
        return {name: answers[0] for name, answers in self.judged([prepared], names).items()}

    def judged(self, prepared: list[Preprocessed], names: list[str],
               pieces: bool = False) -> dict[str, list[Prediction]]:
        """The named models' answers to drawings (none empty), each model run once. Whole drawings
        are refused by the models' panel when one is fitted for these weights (`panel()`), by
        each model's own card otherwise; a number's pieces always by their own cards."""
        found = None if pieces else self.panel()
        run = {**(dict(found[1]) if found else {}), **dict(self.loaded(names))}
        with pinned_threads:  # one pin around every model
            outs = {name: _forward(e.model, prepared) for name, e in run.items()}
        accepted = None
        if found:
            accepted = found[0].accepts({n: energy(outs[n][0], run[n].trust.temperature) for n in found[0].members})
        return {name: _answers(run[name].trust, *outs[name], prepared, name, pieces, accepted) for name in names}

    def panel(self) -> tuple[Panel, list[tuple[str, LoadedModel]]] | None:
        """The models' panel (digits/recognition/panel.py) and its members, when it was fitted
        for the weights and calibration in use; None otherwise."""
        found = self._panel_file()
        if found is None:
            return None
        try:
            members = self.loaded(list(found.members))
        except WeightsError:
            return None
        return (found, members) if is_current(found, {n: e.card for n, e in members}) else None

    def panel_version(self) -> int | None:
        """panel.json's modification time in ns (None without one)."""
        try:
            return panel_path(self.directory).stat().st_mtime_ns
        except OSError:
            return None

    def _panel_file(self) -> Panel | None:
        mtime = self.panel_version()
        if mtime is None:
            return None
        with self._lock:
            if self._panel is None or self._panel[0] != mtime:
                self._panel = (mtime, read_panel(self.directory))
            return self._panel[1]

    def loaded(self, names: list[str] | None) -> list[tuple[str, LoadedModel]]:
        """(name, entry) for the given names (errors raised), or for every registered model
        whose weights load (broken ones skipped): one look at each weight file."""
        if names:
            return [(name, self.entry(name)) for name in names]
        loaded = []
        for name in list_models():
            try:
                loaded.append((name, self.entry(name)))
            except WeightsError:
                pass
        return loaded


def _empty_prediction(prepared: Preprocessed, model: str) -> Prediction:
    return Prediction(model, None, list(EMPTY_PROBABILITIES), None, 0.0, prepared.empty_reason, EMPTY)


def _forward(net: nn.Module, prepared: list[Preprocessed]) -> tuple[torch.Tensor, float]:
    """The model's logits for a batch, and its latency per drawing in ms."""
    x = normalize(torch.from_numpy(np.stack([p.image28 for p in prepared]))[:, None])
    start = time.perf_counter()
    with pinned_threads, torch.inference_mode():
        logits = net(x)
    return logits, (time.perf_counter() - start) * 1000 / len(prepared)


def _answers(trust: Trust, logits: torch.Tensor, latency: float, prepared: list[Preprocessed], model: str,
             pieces: bool = False, accepted: torch.Tensor | None = None) -> list[Prediction]:
    """Predictions from logits: calibrated, and refused by `accepted` (the panel's verdict)
    when given, else by the model's own trust."""
    probs = trust.probabilities(logits)
    digit = accepted if accepted is not None and not pieces else trust.is_digit(probs, pieces, logits)
    return [Prediction(model, int(row.argmax()) if ok else None, row.tolist(), p.image28, latency,
                       reason=None if ok else NOT_A_DIGIT)
            for row, ok, p in zip(probs, digit.tolist(), prepared)]


_default_store: ModelStore | None = None
_default_lock = threading.Lock()


def default_store() -> ModelStore:
    """The process-wide store over $DIGITS_WEIGHTS (or weights/), created on first use."""
    global _default_store
    with _default_lock:
        if _default_store is None or _default_store.directory != Path(weights_dir()):
            _default_store = ModelStore()
        return _default_store


def predict(image: Any, model: str = DEFAULT_MODEL) -> Prediction:
    """Classify one drawing or image with one model (`.digit` is None when it is empty)."""
    return default_store().predict(image, model)


def predict_all(image: Any) -> dict[str, Prediction]:
    """Classify one image with every available model: name -> Prediction."""
    return default_store().predict_all(image)
