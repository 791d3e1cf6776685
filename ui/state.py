"""What every visitor's page shares: the model store, the training slot, the visitors'
drawings; and the server settings read from the environment."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from digits import config
from digits.evaluate import MistakeGallery
from digits.keep_weights import WEIGHTS_REPO_ENV, push_weights, restore_weights
from digits.models import list_models
from digits.recognition.inference import ModelStore
from digits.remote import Remote, remote_from_env
from digits.visitors.store import (
    MAX_PER_HOUR,
    MAX_STORE_MB,
    PER_HOUR_ENV,
    STORE_MB_ENV,
    FeedbackStore,
    FeedbackUnavailable,
)
from digits.visitors.sync import FeedbackSync, start_sync
from digits.web import WebModels

PREDICT_CONCURRENCY = 4  # prediction events served at once (each runs on one torch thread)
TRAINING_ENV = "DIGITS_TRAINING"  # "off" hides the Train tab (public Spaces)
MAX_EPOCHS_ENV = "DIGITS_MAX_EPOCHS"
MAX_BATCHES_ENV = "DIGITS_TRAIN_MAX_BATCHES"  # caps every job (tests, tiny demos)
DEFAULT_MAX_EPOCHS = 20
FEEDBACK_OFF = "collection is switched off on this server"
log = logging.getLogger("digits")


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


@dataclass
class AppState:
    """What every visitor shares: the model store, the training slot, the mistakes gallery, the
    visitors' drawings and where things are kept beyond a restart."""

    store: ModelStore
    job: Any  # digits.training.jobs.TrainingJob, or None: imported only when training is on
    training_enabled: bool
    max_epochs: int
    mistakes: MistakeGallery
    feedback: FeedbackStore | None = None  # visitors' drawings; None when off or unusable
    feedback_problem: str | None = None  # "off", or why the store cannot be used
    salt: str = field(default_factory=lambda: secrets.token_hex(8))  # anonymises session ids
    web: WebModels | None = None  # the ONNX export the visitors' browsers run
    sync: FeedbackSync | None = None  # pushes drawings to $DIGITS_FEEDBACK_REPO
    weights_remote: Remote | None = None  # where trained weights are kept ($DIGITS_WEIGHTS_REPO)
    notices: list[str] = field(default_factory=list)  # misconfiguration a host should read

    @classmethod
    def from_env(cls) -> AppState:
        enabled = os.environ.get(TRAINING_ENV, "on").strip().lower() not in ("off", "0", "false", "no")
        max_epochs = _env_int(MAX_EPOCHS_ENV) or DEFAULT_MAX_EPOCHS
        notices: list[str] = []
        store = ModelStore()
        weights_remote = keep_weights_from_env(store, notices)
        store.warm_up()
        job = None
        if enabled:  # the training side is loaded only when the Train tab exists
            from digits.training.jobs import TrainingJob

            job = TrainingJob(data_dir=os.environ.get(config.DATA_ENV), weights_dir=str(store.directory),
                              max_epochs=max_epochs, max_batches=_env_int(MAX_BATCHES_ENV))
            if weights_remote is not None:
                job.on_finish(lambda s: push_weights(weights_remote, s.model, store.directory) if s.replaced else None)
        feedback, problem, sync = open_feedback(notices)
        web = WebModels(store, config.cache_dir() / "web-models")
        for notice in notices:
            log.warning(notice)
        return cls(store, job, enabled, max_epochs, MistakeGallery(store), feedback, problem, web=web, sync=sync,
                   weights_remote=weights_remote, notices=notices)

    def shutdown(self) -> None:
        """A graceful stop (SIGTERM): push the drawings not yet kept."""
        if self.sync is not None:
            self.sync.stop(flush=True)


def keep_weights_from_env(store: ModelStore, notices: list[str]) -> Remote | None:
    """Restore weights trained earlier from $DIGITS_WEIGHTS_REPO, and the remote to push to."""
    remote, problem = remote_from_env(WEIGHTS_REPO_ENV, "model")
    if problem:
        notices.append(problem)
    if remote is not None:
        try:
            restored = restore_weights(remote, list_models(), store.directory)
            if restored:
                log.info("restored trained weights: %s", ", ".join(restored))
        except Exception as exc:  # the app serves the shipped weights anyway
            notices.append(f"could not restore weights from {WEIGHTS_REPO_ENV} ({type(exc).__name__}: {exc})")
    return remote


def open_feedback(notices: list[str]) -> tuple[FeedbackStore | None, str | None, FeedbackSync | None]:
    """The visitors' drawings store from $DIGITS_FEEDBACK, restored from and pushed to
    $DIGITS_FEEDBACK_REPO when set; or why there is none. The app keeps predicting either way."""
    folder = config.feedback_dir()
    if folder is None:
        return None, FEEDBACK_OFF, None
    try:
        store = FeedbackStore(folder, max_per_hour=_env_int(PER_HOUR_ENV) or MAX_PER_HOUR,
                              max_mb=_env_int(STORE_MB_ENV) or MAX_STORE_MB)
    except FeedbackUnavailable as exc:
        return None, str(exc), None
    sync, problem = start_sync(store)  # only when $DIGITS_FEEDBACK_REPO is set: otherwise no network at all
    if problem:
        notices.append(problem)
    return store, None, sync
