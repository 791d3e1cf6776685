"""One background training job per server, in its own process.

Training runs in a child process so it never holds the server's GIL and survives the
browser tab that started it; the parent keeps a thread-safe snapshot of its progress
that any number of UI sessions can poll. One job at a time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from digits.training.engine import Progress, TrainConfig

# Leave one core for serving predictions while a job trains.
TRAIN_THREADS = max(1, (os.cpu_count() or 2) - 1)
PROGRESS_INTERVAL_S = 0.25  # the child sends at most 4 progress messages a second
JOIN_TIMEOUT_S = 5.0
ORPHAN_CHECK_S = 1.0  # how often the child checks that the server is still alive


JobStatus = Literal["idle", "starting", "running", "cancelling", "done", "cancelled", "failed"]


@dataclass
class JobState:
    """What the UI shows; a copy is handed out, never the live object."""

    status: JobStatus = "idle"
    model: str | None = None
    config: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    curve: list[dict[str, float]] = field(default_factory=list)  # loss and val_acc over steps
    message: str = ""
    card: dict[str, Any] | None = None
    replaced: bool = False
    started: float | None = None
    finished: float | None = None
    backend: str = ""  # device, precision, native kernels (engine.describe_backend)

    @property
    def active(self) -> bool:
        return self.status in ("starting", "running", "cancelling")


def _cancel_when_orphaned(parent: int, cancel: Any) -> None:
    """If the server dies, stop training (a cancelled run writes nothing) instead of running on."""
    while not cancel.is_set():
        if os.getppid() != parent:
            cancel.set()
            return
        time.sleep(ORPHAN_CHECK_S)


def _worker(cfg: TrainConfig, data_dir: str | None, weights_dir: str | None, out: mp.Queue,
            cancel: Any, threads: int, parent: int) -> None:
    """Child process: load data, train through the shared engine, save, report."""
    import torch

    from digits.training.data import load_mnist
    from digits.training.engine import describe_backend
    from digits.training.fit import fit_and_save

    threading.Thread(target=_cancel_when_orphaned, args=(parent, cancel), daemon=True).start()
    torch.set_num_threads(threads)
    try:
        data = load_mnist(data_dir)
        last = [0.0]

        def report(p: Progress) -> None:
            now = time.monotonic()
            if p.phase != "train" or now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                out.put(("progress", asdict(p)))

        out.put(("running", describe_backend(cfg)))
        outcome = fit_and_save(cfg, data, weights_dir, on_progress=report, cancel=cancel)
        out.put(("finished", {"message": outcome.message, "card": outcome.card or None,
                              "replaced": outcome.replaced, "cancelled": cancel.is_set()}))
    except Exception as exc:  # reported to the UI, not lost in a child's stderr
        out.put(("failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))


class TrainingJob:
    """The server's single training slot: start, cancel, and a snapshot to poll."""

    def __init__(self, data_dir: str | None = None, weights_dir: str | None = None,
                 max_epochs: int | None = None, max_batches: int | None = None,
                 threads: int = TRAIN_THREADS):
        self.data_dir = data_dir
        self.weights_dir = weights_dir
        self.max_epochs = max_epochs
        self.max_batches = max_batches
        self.threads = threads
        self._ctx = mp.get_context("spawn")  # a fresh interpreter: no copied locks or threads
        self._lock = threading.Lock()
        self._state = JobState()
        self._process: mp.Process | None = None
        self._cancel = None
        self._listeners: list = []
        self._monitor_thread: threading.Thread | None = None

    def on_finish(self, callback) -> None:
        """Call `callback(state)` in the monitor thread when a job ends (e.g. reload models)."""
        self._listeners.append(callback)

    def snapshot(self) -> JobState:
        with self._lock:
            s = self._state
            return JobState(s.status, s.model, s.config, dict(s.progress) if s.progress else None,
                            list(s.curve), s.message, s.card, s.replaced, s.started, s.finished, s.backend)

    def limit(self, cfg: TrainConfig) -> TrainConfig:
        """Apply the server's caps (epochs, batches), whatever the caller asked for."""
        epochs = min(cfg.recipe.epochs, self.max_epochs) if self.max_epochs else cfg.recipe.epochs
        batches = cfg.max_batches
        if self.max_batches:
            batches = min(batches or self.max_batches, self.max_batches)
        return replace(cfg.with_recipe(epochs=max(1, epochs)), max_batches=batches)

    def start(self, cfg: TrainConfig, in_process: bool = False) -> tuple[bool, str]:
        """Start a job unless one is running; returns (started, message). `in_process` runs it
        in a thread of this process instead of a child (ZeroGPU: the GPU belongs to the
        process that runs the decorated function)."""
        cfg = self.limit(cfg)
        with self._lock:
            if self._state.active:
                return False, f"a training job for '{self._state.model}' is already running; wait or cancel it"
            if in_process:
                out, self._cancel = queue.Queue(), threading.Event()
                self._process = threading.Thread(
                    target=_worker, args=(cfg, self.data_dir, self.weights_dir, out, self._cancel, self.threads,
                                          os.getppid()), daemon=True, name=f"digits-train-{cfg.model}")
            else:
                out = self._ctx.Queue()
                self._cancel = self._ctx.Event()
                self._process = self._ctx.Process(
                    target=_worker,
                    args=(cfg, self.data_dir, self.weights_dir, out, self._cancel, self.threads, os.getpid()),
                    daemon=True, name=f"digits-train-{cfg.model}")
            self._state = JobState(status="starting", model=cfg.model, config=cfg.to_dict(),
                                   message="starting: loading MNIST", started=time.time())
            self._process.start()
            self._monitor_thread = threading.Thread(target=self._monitor, args=(self._process, out), daemon=True)
            self._monitor_thread.start()
        return True, f"started training {cfg.model}"

    def cancel(self) -> bool:
        with self._lock:
            if not self._state.active or self._cancel is None:
                return False
            self._cancel.set()
            self._state.status = "cancelling"
            self._state.message = "cancelling: finishing the current batch"
            return True

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the job ends (tests, CLI); returns the final snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.snapshot().active:
            if deadline is not None and time.monotonic() > deadline:
                return self.snapshot()
            time.sleep(0.05)
        if self._monitor_thread is not None:  # finish callbacks run before wait() returns
            self._monitor_thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return self.snapshot()

    def _monitor(self, process: mp.Process, out: mp.Queue) -> None:
        ended = False
        while not ended:
            try:
                kind, payload = out.get(timeout=0.5)
            except queue.Empty:
                if not process.is_alive():
                    code = getattr(process, "exitcode", None)
                    self._end("failed", f"the training process exited unexpectedly (code {code})")
                    ended = True
                continue
            ended = self._handle(kind, payload)
        process.join(JOIN_TIMEOUT_S)
        state = self.snapshot()
        for callback in self._listeners:
            callback(state)

    def _handle(self, kind: str, payload: Any) -> bool:
        with self._lock:
            s = self._state
            if kind == "running":
                if s.status == "starting":
                    s.status = "running"
                s.backend = payload
                s.message = self._training_message(s)
            elif kind == "progress" and payload["phase"] in ("done", "cancelled"):
                pass  # the final summary carries no batch position; keep the last real one
            elif kind == "progress":
                s.progress = payload
                s.curve.append({"step": payload["step"], "loss": payload["loss"],
                                "val_acc": payload["val_acc"], "phase": payload["phase"]})
                if s.status == "running":
                    s.message = self._training_message(s)
            elif kind == "finished":
                s.card, s.replaced, s.message = payload["card"], payload["replaced"], payload["message"]
        if kind == "finished":
            self._end("cancelled" if payload["cancelled"] else "done", payload["message"])
            return True
        if kind == "failed":
            self._end("failed", payload)
            return True
        return False

    @staticmethod
    def _training_message(s: JobState) -> str:
        return f"training ({s.backend})" if s.backend else "training"

    def _end(self, status: str, message: str) -> None:
        with self._lock:
            self._state.status = status
            self._state.message = message
            self._state.finished = time.time()
