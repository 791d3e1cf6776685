"""What every visitor's page shares: the model store, the training slot, the visitors'
drawings; and the server settings read from the environment."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from digits import config
from digits.evaluate import MistakeGallery
from digits.recognition.inference import ModelStore
from digits.visitors.store import FeedbackStore, FeedbackUnavailable
from digits.visitors.sync import start_sync
from digits.web import WebModels

PREDICT_CONCURRENCY = 4  # prediction events served at once (each runs on one torch thread)
TRAINING_ENV = "DIGITS_TRAINING"  # "off" hides the Train tab (public Spaces)
MAX_EPOCHS_ENV = "DIGITS_MAX_EPOCHS"
MAX_BATCHES_ENV = "DIGITS_TRAIN_MAX_BATCHES"  # caps every job (tests, tiny demos)
DEFAULT_MAX_EPOCHS = 20
FEEDBACK_OFF = "collection is switched off on this server"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


@dataclass
class AppState:
    """What every visitor shares: the model store, the training slot, the mistakes gallery."""

    store: ModelStore
    job: Any
    training_enabled: bool
    max_epochs: int
    mistakes: MistakeGallery
    feedback: FeedbackStore | None = None  # visitors' drawings; None when off or unusable
    feedback_problem: str | None = None  # "off", or why the store cannot be used
    salt: str = field(default_factory=lambda: secrets.token_hex(8))  # anonymises session ids
    web: WebModels | None = None  # the ONNX export the visitors' browsers run

    @classmethod
    def from_env(cls) -> "AppState":
        enabled = os.environ.get(TRAINING_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
        max_epochs = _env_int(MAX_EPOCHS_ENV) or DEFAULT_MAX_EPOCHS
        store = ModelStore()
        store.warm_up()
        job = None
        if enabled:  # the training side is loaded only when the Train tab exists
            from digits.training.jobs import TrainingJob

            job = TrainingJob(data_dir=os.environ.get(config.DATA_ENV), weights_dir=str(store.directory),
                              max_epochs=max_epochs, max_batches=_env_int(MAX_BATCHES_ENV))
        web = WebModels(store, config.cache_dir() / "web-models")
        return cls(store, job, enabled, max_epochs, MistakeGallery(store), *open_feedback(), web=web)


def open_feedback() -> tuple[FeedbackStore | None, str | None]:
    """The visitors' drawings store from $DIGITS_FEEDBACK, or why there is none: the app
    keeps predicting either way."""
    folder = config.feedback_dir()
    if folder is None:
        return None, FEEDBACK_OFF
    try:
        store = FeedbackStore(folder)
    except FeedbackUnavailable as exc:
        return None, str(exc)
    start_sync(store)  # only with $DIGITS_FEEDBACK_REPO and $HF_TOKEN: otherwise no network at all
    return store, None
