"""Nothing a visitor gave is lost or overwritten: drawings and weights kept in a repo or a
folder (a local stand-in for the Hub, never the network), restored after restarts; a
server-wide budget; labels from one source that cannot steer a run."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import numpy as np
import pytest

from digits import remote as rm
from digits.keep_weights import push_weights, restore_weights
from digits.recognition.inference import ModelStore
from digits.synthetic.sketches import writer_strokes
from digits.visitors import store as fb
from digits.visitors.finetune import MAX_PER_SESSION, trusted, visitor_split
from digits.visitors.sync import FeedbackSync, start_sync
from tests.devserver import call, running_app

FIRST, MORE = 300, 100  # drawings kept before the restart, and after it


@pytest.fixture(scope="module")
def models():
    return ModelStore()


def pad(digit: int, seed: int) -> dict:
    unit = writer_strokes(digit, np.random.default_rng(seed))
    return {"strokes": [[[110 + x * 130, 60 + y * 210] for x, y in s] for s in unit], "width": 336,
            "height": 336, "pen": 28}


def _hashes(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _repo_ids(folder) -> list[int]:
    return [json.loads(line)["id"] for rows in folder.rglob("rows.jsonl") for line in rows.read_text().splitlines()]


def _visitor_table(folder) -> list:
    from digits.evaluate import score_visitors

    scores = score_visitors(ModelStore(), fb.FeedbackStore(folder))
    return [(s.model, s.correct, s.n, s.confusion.tolist(), [d.id for d, _ in s.mistakes]) for s in scores.values()]


def _keep(client, n: int, seed: int) -> None:
    for i in range(n):
        kind, out = call(client, "feedback", [json.dumps(pad(i % 10, seed + i)), str(i % 10), True])
        assert kind == "complete" and "kept as" in out[0], out


@pytest.mark.slow
def test_drawings_survive_restarts_and_nothing_pushed_is_rewritten(tmp_path):
    repo, local = tmp_path / "repo", tmp_path / "local"
    env = {"DIGITS_FEEDBACK": str(local), "DIGITS_FEEDBACK_REPO": str(repo), "DIGITS_FEEDBACK_PUSH_S": "3600",
           "DIGITS_FEEDBACK_MAX_PER_HOUR": "10000"}
    with running_app(env) as app, httpx.Client(base_url=app.url, timeout=60) as client:
        _keep(client, FIRST, 0)
    # demo.py was stopped with SIGTERM: it pushed what it kept before exiting.
    assert sorted(_repo_ids(repo)) == list(range(1, FIRST + 1))
    table, before = _visitor_table(local), _hashes(repo)
    assert sum(row[2] for row in table) == 4 * FIRST  # every model scored on every drawing
    for f in local.iterdir():  # the Space restarts on a wiped disk
        f.unlink()
    with running_app(env) as app, httpx.Client(base_url=app.url, timeout=60) as client:
        assert fb.FeedbackStore(local).count() == FIRST  # restored on start
        assert _visitor_table(local) == table
        _keep(client, MORE, 10_000)
    ids = _repo_ids(repo)
    assert len(ids) == len(set(ids)) == FIRST + MORE and max(ids) == FIRST + MORE  # ids continued
    after = _hashes(repo)
    assert all(after[name] == digest for name, digest in before.items())  # no earlier file changed


def test_push_and_pull_between_stores(tmp_path, models):
    a, b = fb.FeedbackStore(tmp_path / "a"), fb.FeedbackStore(tmp_path / "b")
    remote = rm.FolderRemote(tmp_path / "repo")
    for d in range(3):
        fb.record(a, models, pad(d, d), str(d), "s")
    sync = FeedbackSync(a, remote)
    assert sync.push() == 3 and sync.push() == 0
    fb.record(a, models, pad(5, 5), "5", "s")
    assert sync.push() == 1 and len(list((tmp_path / "repo" / "drawings").iterdir())) == 2
    assert FeedbackSync(b, remote).pull() == 4 and FeedbackSync(b, remote).pull() == 0
    mine, theirs = list(a.drawings()), list(b.drawings())
    assert [(d.id, d.label, d.session, d.strokes) for d in mine] == [(d.id, d.label, d.session, d.strokes)
                                                                       for d in theirs]
    assert all(np.array_equal(x.image28, y.image28) and x.canvas_png == y.canvas_png for x, y in zip(mine, theirs))


def test_a_failed_push_is_retried_and_marks_nothing(tmp_path, models):
    store = fb.FeedbackStore(tmp_path / "db")
    fb.record(store, models, pad(1, 1), "1", "s")

    class Down(rm.FolderRemote):
        def put_folder(self, local, path):
            raise OSError("network down")

    with pytest.raises(OSError):
        FeedbackSync(store, Down(tmp_path / "repo")).push()
    sync = FeedbackSync(store, rm.FolderRemote(tmp_path / "repo"))
    assert sync.pushed_through == 0 and sync.push() == 1 and sync.pushed_through == 1


def test_the_background_thread_pushes_within_its_interval(tmp_path, models):
    store = fb.FeedbackStore(tmp_path / "db")
    sync, problem = start_sync(store, {"DIGITS_FEEDBACK_REPO": str(tmp_path / "repo"), "DIGITS_FEEDBACK_PUSH_S": "1"})
    assert problem is None
    fb.record(store, models, pad(4, 4), "4", "s")
    deadline = time.time() + 10
    while sync.pushed_through < 1 and time.time() < deadline:
        time.sleep(0.05)
    sync.stop()
    assert sync.pushed_through == 1


def test_bad_settings_are_reported_and_nothing_is_pushed(tmp_path):
    store = fb.FeedbackStore(tmp_path / "db")
    assert start_sync(store, {}) == (None, None)
    sync, problem = start_sync(store, {"DIGITS_FEEDBACK_REPO": "someone/drawings"})
    assert sync is None and "HF_TOKEN is not" in problem
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    sync, problem = start_sync(store, {"DIGITS_FEEDBACK_REPO": str(blocker / "bucket")})
    assert sync is None and "cannot be written" in problem


def test_the_app_says_what_is_misconfigured_and_serves_anyway(tmp_path):
    env = {"DIGITS_FEEDBACK_REPO": "someone/drawings", "HF_TOKEN": "", "DIGITS_WEIGHTS_REPO": "/proc/nope"}
    with running_app(env) as app, httpx.Client(base_url=app.url, timeout=60) as client:
        config = client.get("/config").json()
        notices = next(c["props"]["value"] for c in config["components"]
                       if c.get("props", {}).get("elem_id") == "notices")
        assert "HF_TOKEN is not" in notices and "DIGITS_WEIGHTS_REPO" in notices
        assert call(client, "predict", [json.dumps(pad(7, 0)), "modern"])[1][0]["digit"] == 7


def _two_weight_folders(tmp_path, pattern: str):
    """'here' (a Space that trained) and 'there' (a fresh start), each with the shipped files."""
    import shutil

    from tests.conftest import ROOT

    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        folder.mkdir()
        for f in (ROOT / "weights").glob(pattern):
            shutil.copy(f, folder / f.name)
    return here, there


def test_weights_are_pushed_and_the_newest_restored(tmp_path):
    here, there = _two_weight_folders(tmp_path, "mlp.*")
    remote = rm.FolderRemote(tmp_path / "repo")
    assert restore_weights(remote, ["mlp"], there) == []  # nothing kept yet
    card = json.loads((here / "mlp.json").read_text())
    from digits.weights import load_model_and_card, save_weights

    model, _ = load_model_and_card("mlp", here)
    save_weights(model, "mlp", {**card, "date": "2099-01-01T00:00:00+00:00"}, here)  # "trained on the Space"
    push_weights(remote, "mlp", here)
    assert restore_weights(remote, ["mlp", "cnn"], there) == ["mlp"]
    assert (there / "mlp.safetensors").read_bytes() == (here / "mlp.safetensors").read_bytes()
    assert restore_weights(remote, ["mlp"], there) == []  # not newer than what is here now


def test_the_server_wide_budget_refuses_new_drawings_and_keeps_the_old(tmp_path, models):
    store = fb.FeedbackStore(tmp_path / "db", max_per_hour=5)
    for i in range(5):  # five sessions: the per-session cap never bites
        fb.record(store, models, pad(i, i), str(i), f"session-{i}")
    with pytest.raises(fb.FeedbackError, match="in the last hour"):
        fb.record(store, models, pad(6, 6), "6", "a-new-session")
    assert store.count() == 5
    fb.record(store, models, pad(6, 6), "6", "operator", source="cli")  # the operator's own tool is not capped
    tiny = fb.FeedbackStore(tmp_path / "tiny")
    for i in range(2):
        fb.record(tiny, models, pad(i, i), str(i), f"s{i}")
    tiny.max_bytes = tiny.size_bytes()  # full now
    with pytest.raises(fb.FeedbackError, match="store is full"):
        fb.record(tiny, models, pad(3, 3), "3", "s3")
    assert tiny.count() == 2


def test_a_poisoned_store_cannot_steer_a_run(tmp_path, models):
    """One session labels 200 drawings of 1 as "7": at most MAX_PER_SESSION reach a run, and
    those every model is sure are a 1 not even those."""
    store = fb.FeedbackStore(tmp_path / "db", max_per_hour=10_000)
    honest = [fb.record(store, models, pad(d % 10, d), str(d % 10), f"honest-{d}") for d in range(60)]
    one = {"strokes": [[[168, 50], [168, 290]]], "width": 336, "height": 336, "pen": 28}
    answers, start = _answers(models, one), time.time() - 10 * 3600
    for i in range(200):  # two minutes apart over the last hours: the hourly caps are not what stops them
        store.add(b"png", np.zeros((28, 28), np.float32), "7", answers, "attacker", source="app", now=start + 120 * i)
    kept = trusted(d for d in store.drawings() if d.digit is not None)
    poisoned = [d for d in kept if d.session == "attacker"]
    assert len(poisoned) == 0 and len(kept) == len(honest)
    for i in range(100):  # no answers stored: nothing contradicts them, the session cap does
        store.add(b"png", np.zeros((28, 28), np.float32), "3", {}, "quiet", source="app", now=start + 120 * i)
    quiet = [d for d in trusted(store.drawings()) if d.session == "quiet"]
    assert len(quiet) == MAX_PER_SESSION
    split = visitor_split(store)
    assert len(split.train) + len(split.val) == len(honest) + MAX_PER_SESSION


def _answers(models, drawing) -> dict:
    preds = models.predict_all(drawing)
    return {n: {"digit": p.digit, "probabilities": p.probabilities} for n, p in preds.items()}


def test_the_cli_pushes_and_pulls(tmp_path, models, monkeypatch):
    from digits.cli import main

    here, there, repo = tmp_path / "here", tmp_path / "there", tmp_path / "repo"
    for d in range(2):
        fb.record(fb.FeedbackStore(here), models, pad(d, d), str(d), "s")
    monkeypatch.setenv("DIGITS_FEEDBACK_REPO", str(repo))
    assert main(["feedback", "push", "--feedback-dir", str(here)]) == 0
    assert main(["feedback", "pull", "--feedback-dir", str(there)]) == 0
    assert [d.label for d in fb.FeedbackStore(there).drawings()] == ["0", "1"]
    monkeypatch.delenv("DIGITS_FEEDBACK_REPO")
    assert main(["feedback", "push", "--feedback-dir", str(here)]) == 1  # says what to set


def test_the_panel_fitted_with_pushed_weights_is_restored_with_them(tmp_path):
    from digits.recognition import trust
    from digits.recognition.panel import read_panel, stamp, write_panel
    from digits.weights import load_model_and_card, save_weights

    here, there = _two_weight_folders(tmp_path, "*.*")
    model, card = load_model_and_card("mlp", here)
    save_weights(model, "mlp", {**card, "date": "2099-01-01T00:00:00+00:00"}, here)  # "trained on the Space"
    members = {n: stamp(ModelStore(here).card(n)) for n in ("mlp", "cnn", "lenet5", "modern")}
    write_panel(trust.Panel(5.5, members), {}, here)  # the run's refit
    remote = rm.FolderRemote(tmp_path / "repo")
    push_weights(remote, "mlp", here)
    assert ModelStore(there).panel() is not None and read_panel(there).energy_threshold != 5.5
    assert restore_weights(remote, ["mlp", "cnn", "lenet5", "modern"], there) == ["mlp"]
    assert read_panel(there).energy_threshold == 5.5 and ModelStore(there).panel() is not None
