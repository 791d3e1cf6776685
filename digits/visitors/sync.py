"""Keep visitors' drawings beyond a restart: a Space's disk is wiped every time it restarts.

Where `$DIGITS_FEEDBACK_REPO` names a Hugging Face dataset repo (with `$HF_TOKEN`) or a folder
(a mounted Storage Bucket, any disk), new drawings are pushed there every
`$DIGITS_FEEDBACK_PUSH_S` seconds and once more on shutdown, and on start the app restores
every drawing already there, under its own id, so ids continue and scores are unchanged.

Each push is one new folder `drawings/FIRST-LAST-RANDOM/` (PNGs, rows.jsonl): a name no other
push can take, so no file already there is ever rewritten, even when two app instances
push at once. `huggingface_hub.CommitScheduler` pushes a folder the same way, but it
cannot restore, and it cannot target a plain folder (a bucket, the tests' stand-in);
this module is the same idea on a small interface with two backends.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path

import numpy as np

from digits.config import IMAGE_SIZE
from digits.remote import Remote, remote_from_env
from digits.visitors.store import Drawing, FeedbackStore

REPO_ENV = "DIGITS_FEEDBACK_REPO"
PUSH_ENV = "DIGITS_FEEDBACK_PUSH_S"
DEFAULT_PUSH_S = 60.0  # a drawing reaches the repo within a minute
STATE_FILE = "sync_state.json"  # beside the database: the last id pushed
DRAWINGS = "drawings"
ROWS = "rows.jsonl"

log = logging.getLogger(__name__)


def _row(d: Drawing, file: str) -> dict:
    image28 = None if d.image28 is None else base64.b64encode(
        (np.clip(d.image28, 0, 1) * 255).round().astype(np.uint8).tobytes()).decode()
    return {"id": d.id, "file": file, "label": d.label, "created": d.created, "session": d.session,
            "answers": d.answers, "source": d.source, "image28": image28, "strokes": d.strokes}


def _drawing(row: dict, png: bytes) -> Drawing:
    packed = row.get("image28")
    image28 = None if packed is None else np.frombuffer(base64.b64decode(packed), np.uint8).reshape(
        IMAGE_SIZE, IMAGE_SIZE).astype(np.float32) / 255
    return Drawing(int(row["id"]), float(row["created"]), row["session"], row["label"], png, image28,
                   row.get("answers") or {}, row.get("source", "app"), row.get("strokes"))


class FeedbackSync:
    """Pushes new drawings to a remote in the background and restores them from it."""

    def __init__(self, store: FeedbackStore, remote: Remote, interval_s: float = DEFAULT_PUSH_S):
        self.store, self.remote, self.interval_s = store, remote, interval_s
        self.state_path = store.folder / STATE_FILE
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one push at a time (the thread's and shutdown's)
        self._thread: threading.Thread | None = None

    @property
    def pushed_through(self) -> int:
        try:
            return int(json.loads(self.state_path.read_text())["through_id"])
        except (OSError, ValueError, KeyError):
            return 0

    def _mark(self, through_id: int) -> None:
        self.state_path.write_text(json.dumps({"through_id": through_id}))

    def push(self) -> int:
        """The drawings not yet pushed, as one new batch folder; returns how many went."""
        with self._lock:
            rows = list(self.store.drawings(after_id=self.pushed_through))
            if not rows:
                return 0
            name = f"{rows[0].id:08d}-{rows[-1].id:08d}-{uuid.uuid4().hex[:12]}"
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / name
                folder.mkdir()
                with open(folder / ROWS, "w") as out:
                    for d in rows:
                        (folder / f"{d.id:08d}.png").write_bytes(d.canvas_png)
                        out.write(json.dumps(_row(d, f"{d.id:08d}.png")) + "\n")
                self.remote.put_folder(folder, f"{DRAWINGS}/{name}")
            self._mark(rows[-1].id)
            return len(rows)

    def pull(self) -> int:
        """Every drawing in the remote that this store lacks, under its own id; returns how many."""
        restored, newest = 0, 0
        for rows_path in (f for f in self.remote.files(DRAWINGS + "/") if f.endswith("/" + ROWS)):
            batch = rows_path.rsplit("/", 1)[0]
            rows = [json.loads(line) for line in self.remote.read(rows_path).decode().splitlines() if line.strip()]
            have = self.store.ids(min(r["id"] for r in rows) - 1, max(r["id"] for r in rows)) if rows else set()
            missing = [r for r in rows if r["id"] not in have]
            restored += self.store.restore([_drawing(r, self.remote.read(f"{batch}/{r['file']}")) for r in missing])
            newest = max([newest, *(r["id"] for r in rows)])
        if newest > self.pushed_through:
            self._mark(newest)  # what came from the remote need not go back
        return restored

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.push()
            except Exception as exc:  # the network or the hub: retried on the next wake
                log.warning("pushing visitors' drawings failed, will retry: %s", exc)

    def start(self) -> FeedbackSync:
        self._thread = threading.Thread(target=self._run, name="feedback-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self, flush: bool = True) -> int:
        """Stop the thread; with `flush`, push what is left (a graceful shutdown). Returns how many."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval_s + 5)
        return self.push() if flush else 0


def push_interval(env: dict[str, str] | None = None) -> float:
    env = os.environ if env is None else env
    try:
        return max(1.0, float(env.get(PUSH_ENV, DEFAULT_PUSH_S)))
    except ValueError:
        return DEFAULT_PUSH_S


def start_sync(store: FeedbackStore | None, env: dict[str, str] | None = None,
               remote: Remote | None = None) -> tuple[FeedbackSync | None, str | None]:
    """Restore from the remote the environment names, then push in the background. Returns the
    running sync (None when nothing is set) and a problem a visitor or host should read."""
    if store is None:
        return None, None
    problem = None
    if remote is None:
        remote, problem = remote_from_env(REPO_ENV, "dataset", env)
    if remote is None:
        return None, problem
    sync = FeedbackSync(store, remote, push_interval(env))
    try:
        restored = sync.pull()
        log.info("restored %d visitors' drawings", restored)
    except Exception as exc:  # the app serves anyway; pushes still name batches no one else takes
        problem = f"could not restore the drawings kept in {REPO_ENV} ({type(exc).__name__}: {exc})"
    return sync.start(), problem
