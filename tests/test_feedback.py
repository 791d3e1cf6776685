"""Visitors' drawings: the SQLite store, its limits, scoring on it, and the app's correction
path over HTTP (concurrency, a killed server, a restart, an unwritable folder)."""

from __future__ import annotations

import base64
import io
import signal
import sqlite3
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from digits.evaluate import confusion_matrix, fair_drawings, score_visitors, wilson_interval
from digits.recognition.inference import ModelStore
from digits.synthetic.sketches import app_canvas
from digits.visitors import store as fb
from tests.devserver import call, running_app

CONCURRENT = 50


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def models():
    return ModelStore()


def test_record_keeps_canvas_28x28_label_and_every_models_answer(tmp_path, models):
    store = fb.FeedbackStore(tmp_path)
    row = fb.record(store, models, app_canvas(7, variant=0), "7", "s1")
    (d,) = list(store.drawings())
    assert d.id == row and d.label == "7" and d.digit == 7 and d.session == "s1" and d.source == "app"
    assert d.image28.shape == (28, 28) and d.image28.max() == pytest.approx(1.0, abs=1e-2)
    assert sorted(d.answers) == sorted(models.available())
    assert all(a["digit"] == 7 and a["weights"] for a in d.answers.values())
    again = Image.open(io.BytesIO(d.canvas_png))
    assert again.mode == "RGBA" and models.predict(d.canvas_png, "lenet5").digit == 7  # the canvas round-trips


@pytest.mark.parametrize("label", ["", "x", "12a", "-1", None, "1" * 13])
def test_bad_labels_are_refused(tmp_path, label):
    with pytest.raises(fb.FeedbackError, match="not a label"):
        fb.FeedbackStore(tmp_path).add(b"png", None, label, {}, "s")


def test_labels_numbers_and_not_a_digit(tmp_path):
    store = fb.FeedbackStore(tmp_path)
    for label in ("3", "2026", "Not a digit"):
        store.add(b"png", None, label, {}, "s")
    assert [d.label for d in store.drawings()] == ["3", "2026", "not a digit"]
    assert [d.digit for d in store.drawings()] == [3, None, None]
    first, *rest = [d.id for d in store.drawings()]
    assert store.ids(first) == set(rest) and store.ids(first - 1, first) == {first}  # ids alone, as a sync asks


def test_stats_count_labels_and_say_when_in_utc(tmp_path):
    store = fb.FeedbackStore(tmp_path)
    assert store.stats()["first"] is None and store.stats()["drawings"] == 0
    store.add(b"png", None, "3", {}, "a", now=1_800_000_000)  # 2027-01-15 08:00:00 UTC
    store.add(b"png", None, "3", {}, "b", now=1_800_003_600)
    stats = store.stats()
    assert (stats["drawings"], stats["sessions"], stats["labels"]) == (2, 2, {"3": 2})
    assert (stats["first"], stats["last"]) == ("2027-01-15T08:00:00+00:00", "2027-01-15T09:00:00+00:00")


def test_a_session_is_capped_per_hour(tmp_path):
    store = fb.FeedbackStore(tmp_path)
    t0 = 1_000_000.0
    for i in range(fb.MAX_PER_SESSION_HOUR):
        store.add(b"png", None, "1", {}, "busy", now=t0 + i)
    with pytest.raises(fb.FeedbackError, match="the most we keep"):
        store.add(b"png", None, "1", {}, "busy", now=t0 + 100)
    store.add(b"png", None, "1", {}, "other", now=t0 + 100)  # another session is not affected
    store.add(b"png", None, "1", {}, "busy", now=t0 + fb.HOUR_S + 1)  # nor the same one an hour later
    store.add(b"png", None, "1", {}, "busy", source="cli", now=t0 + 100)  # the operator's CLI is not capped
    with pytest.raises(fb.FeedbackError, match="too large"):
        store.add(b"x" * (fb.MAX_PNG_BYTES + 1), None, "1", {}, "s")


def test_schema_is_versioned_and_migrated_once(tmp_path):
    store = fb.FeedbackStore(tmp_path)
    assert store.schema_version == len(fb.MIGRATIONS)
    store.add(b"png", None, "5", {}, "s")
    store.close()
    reopened = fb.FeedbackStore(tmp_path)  # migrations already applied: nothing runs twice
    assert reopened.schema_version == len(fb.MIGRATIONS) and reopened.count() == 1
    conn = sqlite3.connect(reopened.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unwritable_folder_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(fb.FeedbackUnavailable, match="cannot open"):
        fb.FeedbackStore(blocker / "feedback")


def test_export_is_imagefolder_layout(tmp_path, models):
    store = fb.FeedbackStore(tmp_path / "db")
    fb.record(store, models, app_canvas(3), "3", "s")
    fb.record(store, models, app_canvas(4), "not a digit", "s")
    assert fb.export(store, tmp_path / "out") == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["3", "labels.jsonl", "not_a_digit"]
    assert len((tmp_path / "out" / "labels.jsonl").read_text().splitlines()) == 2


def test_wilson_interval_and_confusion_matrix():
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.7225, abs=1e-3) and high == 1.0
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-3)
    low, high = wilson_interval(90, 100)
    assert low == pytest.approx(0.8256, abs=1e-3) and high == pytest.approx(0.9448, abs=1e-3)
    counts = confusion_matrix(np.array([7, 7, 1]), np.array([7, 1, 1]))
    assert counts[7, 7] == 1 and counts[7, 1] == 1 and counts[1, 1] == 1 and counts.sum() == 3


def test_scores_use_only_drawings_the_weights_never_saw(tmp_path, models):
    store = fb.FeedbackStore(tmp_path)
    ids = [fb.record(store, models, app_canvas(d, variant=0), str(d), "s") for d in (1, 2, 3, 4)]
    assert [d.id for d in fair_drawings(store, {})] == ids
    assert [d.id for d in fair_drawings(store, {"feedback": {"through_id": ids[1]}})] == ids[2:]
    store.add(fb.canvas_png(np.zeros((9, 9))), None, "2026", {}, "s")  # numbers are not scored per digit
    scores = score_visitors(models, store)
    assert all(s.n == 4 and s.correct == 4 and s.high == 1.0 for s in scores.values())


# --- through the running app ------------------------------------------------------------------


def _correct(client, png: bytes, label: str, consent: bool = True):
    return call(client, "feedback", [base64.b64encode(png).decode(), label, consent])


def _count(folder) -> int:
    return fb.FeedbackStore(folder).count()


@pytest.mark.slow
def test_concurrent_corrections_restart_and_consent(tmp_path):
    folder = tmp_path / "feedback"
    png = _png(app_canvas(7, variant=0))
    with running_app({"DIGITS_FEEDBACK": str(folder)}) as app:
        results = []

        def one():
            with httpx.Client(base_url=app.url, timeout=60) as client:
                results.append(_correct(client, png, "7"))

        threads = [threading.Thread(target=one) for _ in range(CONCURRENT)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [kind for kind, _ in results] == ["complete"] * CONCURRENT
        assert all("kept as **7**" in out[0] for _, out in results)
        with httpx.Client(base_url=app.url, timeout=60) as client:
            kind, out = _correct(client, png, "7", consent=False)
            assert kind == "complete" and "nothing is stored" in out[0]
            kind, out = _correct(client, png, "")
            assert kind == "complete" and "give the label" in out[0]
            kind, out = _correct(client, png, "seven")
            assert kind == "complete" and "is not a label" in out[0]
            kind, out = _correct(client, png, "not a digit")
            assert kind == "complete" and "kept as **not a digit**" in out[0]
    assert _count(folder) == CONCURRENT + 1
    with running_app({"DIGITS_FEEDBACK": str(folder)}) as app, httpx.Client(base_url=app.url, timeout=60) as c:
        assert _count(folder) == CONCURRENT + 1  # the rows survived the restart
        assert "kept as **1**" in _correct(c, _png(app_canvas(1)), "1")[1][0]
    assert _count(folder) == CONCURRENT + 2


@pytest.mark.slow
def test_a_killed_server_loses_at_most_the_requests_in_flight(tmp_path):
    folder = tmp_path / "feedback"
    png = _png(app_canvas(4, variant=0))
    done, stop = [], threading.Event()
    with running_app({"DIGITS_FEEDBACK": str(folder)}) as app:

        def keep_correcting():
            with httpx.Client(base_url=app.url, timeout=30) as client:
                while not stop.is_set():
                    try:
                        kind, _ = _correct(client, png, "4")
                    except httpx.HTTPError:
                        return
                    if kind == "complete":
                        done.append(1)

        threads = [threading.Thread(target=keep_correcting) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.time() + 60
        while len(done) < 20 and time.time() < deadline:
            time.sleep(0.05)
        app.process.send_signal(signal.SIGKILL)
        app.process.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
    acknowledged = len(done)
    store = fb.FeedbackStore(folder)  # opens cleanly after the kill
    assert store._connection().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert acknowledged >= 20 and acknowledged <= store.count() <= acknowledged + len(threads)


def test_unwritable_folder_keeps_the_app_predicting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with running_app({"DIGITS_FEEDBACK": str(blocker / "feedback")}) as app, \
            httpx.Client(base_url=app.url, timeout=60) as client:
        png = _png(app_canvas(2, variant=0))
        kind, out = call(client, "predict", [base64.b64encode(png).decode(), "modern"])
        assert kind == "complete" and out[0]["digit"] == 2
        kind, out = _correct(client, png, "2")
        assert kind == "complete" and out[0].startswith("Could not save: cannot open") and "still answer" in out[0]


def test_collection_off_shows_no_buttons_and_stores_nothing(tmp_path):
    with running_app({"DIGITS_FEEDBACK": "off"}) as app, httpx.Client(base_url=app.url, timeout=60) as client:
        config = client.get("/config").json()
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert "fb-consent" not in ids and "fb-right" not in ids
        kind, _ = _correct(client, _png(app_canvas(2)), "2")
        assert kind == "error"  # there is no feedback endpoint at all
