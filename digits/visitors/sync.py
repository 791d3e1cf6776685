"""Optional: copy new visitors' drawings to a private Hugging Face dataset repo, because a
Space's disk is wiped when it restarts.

Only when both $DIGITS_FEEDBACK_REPO and a token ($HF_TOKEN) are set; otherwise nothing here
touches the network. A background thread wakes every SYNC_INTERVAL_S, writes the drawings
newer than the last synced id as one batch folder (PNGs + rows.jsonl) and uploads it; a
failed upload is retried on the next wake, and no request ever waits for it. The upload
function is a parameter, so tests use a local stand-in.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from digits.visitors.store import FeedbackStore

REPO_ENV = "DIGITS_FEEDBACK_REPO"
TOKEN_ENV = "HF_TOKEN"
SYNC_INTERVAL_S = 300.0
STATE_FILE = "sync_state.json"  # beside the database: the last id that reached the repo

Upload = Callable[[Path, str], None]  # (local batch folder, path in the repo)
log = logging.getLogger(__name__)


def hub_upload(repo: str, token: str) -> Upload:
    """The real upload: a private dataset repo, created on first use."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo, repo_type="dataset", private=True, exist_ok=True)

    def upload(folder: Path, path_in_repo: str) -> None:
        api.upload_folder(folder_path=str(folder), path_in_repo=path_in_repo, repo_id=repo, repo_type="dataset",
                          commit_message=f"visitors' drawings: {path_in_repo}")
    return upload


class FeedbackSync:
    def __init__(self, store: FeedbackStore, upload: Upload, interval_s: float = SYNC_INTERVAL_S):
        self.store, self.upload, self.interval_s = store, upload, interval_s
        self.state_path = store.folder / STATE_FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def synced_through(self) -> int:
        try:
            return int(json.loads(self.state_path.read_text())["through_id"])
        except (OSError, ValueError, KeyError):
            return 0

    def sync_once(self) -> int:
        """Upload the drawings not yet synced as one batch; returns how many went up."""
        rows = list(self.store.drawings(after_id=self.synced_through))
        if not rows:
            return 0
        name = f"batch-{rows[0].id:08d}-{rows[-1].id:08d}"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / name
            folder.mkdir()
            with open(folder / "rows.jsonl", "w") as out:
                for d in rows:
                    (folder / f"{d.id:08d}.png").write_bytes(d.canvas_png)
                    out.write(json.dumps({"id": d.id, "file": f"{d.id:08d}.png", "label": d.label,
                                          "created": d.created, "session": d.session, "answers": d.answers,
                                          "source": d.source}) + "\n")
            self.upload(folder, f"drawings/{name}")
        self.state_path.write_text(json.dumps({"through_id": rows[-1].id}))
        return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sync_once()
            except Exception as exc:  # the network or the hub: retried on the next wake
                log.warning("feedback sync failed, will retry: %s", exc)

    def start(self) -> FeedbackSync:
        self._thread = threading.Thread(target=self._run, name="feedback-sync", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()


def start_sync(store: FeedbackStore | None, env: dict[str, str] | None = None,
               upload: Upload | None = None) -> FeedbackSync | None:
    """A running sync when the repo and token are set (and a store exists), else None."""
    env = os.environ if env is None else env
    repo, token = env.get(REPO_ENV, "").strip(), env.get(TOKEN_ENV, "").strip()
    if store is None or not repo or not token:
        return None
    return FeedbackSync(store, upload or hub_upload(repo, token)).start()


def copy_upload(target: Path) -> Upload:
    """A local stand-in for the hub (tests, dry runs): the batch folder copied under target."""
    def upload(folder: Path, path_in_repo: str) -> None:
        shutil.copytree(folder, target / path_in_repo)
    return upload
