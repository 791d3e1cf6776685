"""Visitors' labelled drawings, kept with consent in SQLite (standard library only).

One row per drawing: the canvas as PNG, the 28x28 the models saw, the label the visitor gave,
every model's answer with its probabilities and weights version, the time and an anonymous
session id. No IP addresses, no names. The app's correction path and `python -m digits
feedback add` both call `FeedbackStore.add`, so the two cannot drift apart.

The database runs in WAL mode (readers never block the writer, a killed process loses at
most the transaction in flight), one connection per thread, and the schema is versioned
with `PRAGMA user_version`: `MIGRATIONS[n]` takes version n to n + 1 when a store opens.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from digits.config import IMAGE_SIZE
from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import NoInk, ink_map, normalize_ink, preprocess
from digits.recognition.strokes import parse_strokes

DB_NAME = "feedback.sqlite3"
MAX_PER_SESSION_HOUR = 120  # drawings one session may add per hour (a public Space needs a cap) ...
MAX_PER_HOUR = 600  # ... and every session together: a script that changes its session on every call
MAX_STORE_MB = 500  # the database may grow to this many megabytes; past it new drawings are refused
PER_HOUR_ENV = "DIGITS_FEEDBACK_MAX_PER_HOUR"
STORE_MB_ENV = "DIGITS_FEEDBACK_MAX_MB"
MAX_PNG_BYTES = 4_000_000  # a canvas PNG larger than this is not stored
BUSY_TIMEOUT_MS = 10_000  # writers wait this long for the lock instead of failing
NOT_A_DIGIT = "not a digit"
MAX_LABEL_DIGITS = 12  # a whole number longer than this is not one anybody drew
LABEL_PATTERN = re.compile(rf"^[0-9]{{1,{MAX_LABEL_DIGITS}}}$")  # one digit, or a whole number
HOUR_S = 3600

MIGRATIONS = [
    # 0 -> 1: the first schema
    """CREATE TABLE drawings (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,          -- unix time
        session TEXT NOT NULL,          -- anonymous id, never an IP address
        label TEXT NOT NULL,            -- what the visitor says it is: "7", "2026" or "not a digit"
        canvas_png BLOB NOT NULL,
        image28 BLOB,                   -- 784 uint8 pixels (ink = 255), NULL when the canvas was empty
        answers TEXT NOT NULL,          -- JSON {model: {"digit", "probabilities", "weights"}}
        source TEXT NOT NULL            -- "app" or "cli"
    );
    CREATE INDEX drawings_session_time ON drawings (session, created);""",
    # 1 -> 2: the pad's strokes (JSON), the natural form of handwriting; NULL for images
    """ALTER TABLE drawings ADD COLUMN strokes TEXT;
    CREATE INDEX drawings_time ON drawings (created);""",
]


class FeedbackError(Exception):
    """A drawing that cannot be stored, with a message a visitor can read."""


class FeedbackUnavailable(FeedbackError):
    """The store cannot be opened or written (unwritable folder, full disk)."""


def validate_label(label: Any) -> str:
    text = str(label).strip().lower() if label is not None else ""
    if text == NOT_A_DIGIT or LABEL_PATTERN.match(text):
        return text
    raise FeedbackError(f"'{label}' is not a label: give a digit 0-9, a whole number, or '{NOT_A_DIGIT}'")


@dataclass(frozen=True)
class Drawing:
    id: int
    created: float
    session: str
    label: str
    canvas_png: bytes
    image28: np.ndarray | None  # float32 [0, 1]
    answers: dict[str, Any]
    source: str
    strokes: dict | None = None  # the pad's value when the drawing came from the pad

    @property
    def digit(self) -> int | None:
        """The label as a class for training and scoring (single digits only)."""
        return int(self.label) if len(self.label) == 1 and self.label.isdigit() else None


def _pack(image28: np.ndarray | None) -> bytes | None:
    if image28 is None:
        return None
    return (np.clip(image28, 0, 1) * 255).round().astype(np.uint8).tobytes()


def _iso(created: float | None) -> str | None:
    return None if created is None else datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="seconds")


def _unpack(blob: bytes | None) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE).astype(np.float32) / 255


class FeedbackStore:
    """The drawings database in `folder`, safe to use from many threads at once."""

    def __init__(self, folder: str | Path, max_per_hour: int = MAX_PER_HOUR, max_mb: float = MAX_STORE_MB):
        self.max_per_hour, self.max_bytes = max_per_hour, int(max_mb * 1_000_000)
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME
        self._local = threading.local()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._migrate(self._connection())
        except (OSError, sqlite3.Error) as exc:
            raise FeedbackUnavailable(f"cannot open {self.path}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against a killed process
            self._local.conn = conn
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for n in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[n].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {n + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return self._connection().execute("PRAGMA user_version").fetchone()[0]

    def add(self, canvas_png: bytes, image28: np.ndarray | None, label: Any, answers: dict[str, Any],
            session: str, source: str = "app", now: float | None = None, strokes: dict | None = None) -> int:
        """Store one labelled drawing; returns its id. Raises FeedbackError (bad label, too large,
        over the session's hourly cap: app visitors only, the CLI is the operator) or
        FeedbackUnavailable (storage)."""
        label = validate_label(label)
        if len(canvas_png) > MAX_PNG_BYTES:
            raise FeedbackError(f"the drawing is too large to keep ({len(canvas_png):,} bytes)")
        now = time.time() if now is None else now
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                recent = conn.execute("SELECT COUNT(*) FROM drawings WHERE session = ? AND created > ?",
                                      (session, now - HOUR_S)).fetchone()[0]
                if source == "app" and recent >= MAX_PER_SESSION_HOUR:
                    raise FeedbackError(f"thank you! This session has given {recent} drawings in the last "
                                        "hour, the most we keep; try again later")
                if source == "app":
                    self._check_budget(conn, now)
                cur = conn.execute(
                    "INSERT INTO drawings (created, session, label, canvas_png, image28, answers, source, strokes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (now, session, label, canvas_png, _pack(image28), json.dumps(answers), source,
                     None if strokes is None else json.dumps(strokes)))
                conn.execute("COMMIT")
                return int(cur.lastrowid)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise FeedbackUnavailable(f"could not save the drawing ({exc})") from None

    def _check_budget(self, conn: sqlite3.Connection, now: float) -> None:
        """The whole server's budget, whatever the sessions: drawings an hour, bytes on disk."""
        last_hour = conn.execute("SELECT COUNT(*) FROM drawings WHERE created > ? AND source = 'app'",
                                 (now - HOUR_S,)).fetchone()[0]
        if last_hour >= self.max_per_hour:
            raise FeedbackError(f"thank you! This server has kept {last_hour} drawings in the last hour, the most "
                                "it keeps; try again later")
        if self.size_bytes() >= self.max_bytes:
            raise FeedbackError(f"thank you! The drawings store is full ({self.max_bytes // 1_000_000} MB); nothing "
                                "kept is lost, but no more are kept for now")

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal")) if p.exists())

    def restore(self, drawings: list[Drawing]) -> int:
        """Put back drawings kept elsewhere (a repo, a bucket) under their own ids; rows already
        here are left alone. Returns how many were new."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            for d in drawings:
                conn.execute("INSERT OR IGNORE INTO drawings (id, created, session, label, canvas_png, image28, "
                             "answers, source, strokes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (d.id, d.created, d.session, d.label, d.canvas_png, _pack(d.image28),
                              json.dumps(d.answers), d.source, None if d.strokes is None else json.dumps(d.strokes)))
            conn.execute("COMMIT")
            return conn.total_changes - before
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def count(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM drawings").fetchone()[0]

    def drawings(self, after_id: int = 0, through_id: int | None = None) -> Iterator[Drawing]:
        """Rows in id (= time) order, optionally only ids in (after_id, through_id]."""
        query = "SELECT * FROM drawings WHERE id > ?" + (" AND id <= ?" if through_id is not None else "")
        params = (after_id,) if through_id is None else (after_id, through_id)
        for row in self._connection().execute(query + " ORDER BY id", params):
            yield Drawing(row[0], row[1], row[2], row[3], row[4], _unpack(row[5]), json.loads(row[6]), row[7],
                          json.loads(row[8]) if row[8] else None)

    def ids(self, after_id: int = 0, through_id: int | None = None) -> set[int]:
        """The ids held in (after_id, through_id], without reading the rows."""
        query = "SELECT id FROM drawings WHERE id > ?" + (" AND id <= ?" if through_id is not None else "")
        params = (after_id,) if through_id is None else (after_id, through_id)
        return {row[0] for row in self._connection().execute(query, params)}

    def stats(self) -> dict[str, Any]:
        """Counts, and the first and last drawing's time as ISO 8601 UTC (None when empty)."""
        conn = self._connection()
        labels = dict(conn.execute("SELECT label, COUNT(*) FROM drawings GROUP BY label ORDER BY label"))
        first, last, sessions = conn.execute(
            "SELECT MIN(created), MAX(created), COUNT(DISTINCT session) FROM drawings").fetchone()
        return {"drawings": sum(labels.values()), "sessions": sessions, "labels": labels,
                "first": _iso(first), "last": _iso(last), "path": str(self.path)}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


MAX_CANVAS_SIDE = 1024  # larger inputs are stored scaled down to this (the app's canvas is 336)


def canvas_png(ink: np.ndarray) -> bytes:
    """The drawing as the app's canvas has it: black ink whose alpha is the ink, as PNG."""
    from PIL import Image

    alpha = Image.fromarray((np.clip(ink, 0, 1) * 255).round().astype(np.uint8), mode="L")
    if max(alpha.size) > MAX_CANVAS_SIDE:
        scale = MAX_CANVAS_SIDE / max(alpha.size)
        alpha = alpha.resize((max(1, round(alpha.width * scale)), max(1, round(alpha.height * scale))),
                             Image.Resampling.BOX)
    rgba = Image.merge("RGBA", [Image.new("L", alpha.size, 0)] * 3 + [alpha])
    buf = io.BytesIO()
    rgba.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def record(feedback: FeedbackStore, models: ModelStore, image: Any, label: Any, session: str,
           source: str = "app") -> int:
    """The one way a labelled drawing gets in (the app's correction and `feedback add`): the
    canvas, what the models saw, and every model's answer with its weights version."""
    label = validate_label(label)
    ink = ink_map(image)
    if isinstance(ink, NoInk):
        raise FeedbackError(f"there is no drawing to keep ({ink})")
    pad = isinstance(image, dict) and "strokes" in image
    prepared = preprocess(image) if pad else normalize_ink(ink)  # what the models saw
    answers = {}
    for name in models.available():
        p = models.predict_prepared(prepared, name)
        answers[name] = {"digit": p.digit, "probabilities": [round(v, 6) for v in p.probabilities],
                         "weights": models.card(name).get("date")}
    return feedback.add(canvas_png(ink), prepared.image28, label, answers, session, source,
                        strokes=parse_strokes(image).as_dict() if pad else None)


def anonymous_session(raw: str | None, salt: str) -> str:
    """A session id that cannot be traced back to the browser's own id."""
    return hashlib.sha256(f"{salt}:{raw or 'none'}".encode()).hexdigest()[:16]


def export(feedback: FeedbackStore, out: str | Path) -> int:
    """PNGs in one folder per label (torchvision's ImageFolder layout) plus labels.jsonl."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out / "labels.jsonl", "w") as manifest:
        for d in feedback.drawings():
            folder = out / d.label.replace(" ", "_")
            folder.mkdir(exist_ok=True)
            (folder / f"{d.id:06d}.png").write_bytes(d.canvas_png)
            manifest.write(json.dumps({"file": f"{folder.name}/{d.id:06d}.png", "label": d.label, "id": d.id,
                                       "created": d.created, "session": d.session, "answers": d.answers}) + "\n")
            n += 1
    return n
