"""The running app against broken and hostile input over HTTP: every request gets an answer
or a readable error, memory comes back, and a normal drawing is still read afterwards."""

from __future__ import annotations

import base64
import io
import json
import random

import httpx
import numpy as np
import pytest
from PIL import Image

from digits.synthetic.sketches import app_canvas
from tests.devserver import AppStartError, call, running_app

FUZZ_CASES = 240  # malformed values and files sent through the API (seeded, so repeatable)
MEMORY_SLACK_MB = 150  # resident memory may grow this much over the fuzz run (allocator caches)


def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt)
    return buf.getvalue()


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    try:
        with running_app(None, tmp_path_factory.mktemp("log") / "app.log") as running:
            with httpx.Client(base_url=running.url, timeout=60) as client:
                yield running, client
    except AppStartError as exc:
        pytest.fail(str(exc))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _strokes(strokes: list, **extra) -> str:
    return json.dumps({"strokes": strokes, "width": 336, "height": 336, "pen": 28, **extra})


SEVEN = _strokes([[[90, 80], [250, 80], [150, 290]]])


def _seven(client) -> tuple[str, object]:
    return call(client, "classify", [SEVEN, "modern"])


def _bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (20_000, 20_000), 255).save(buf, "PNG")  # ~60 kB, 400 megapixels decoded
    return buf.getvalue()


@pytest.mark.parametrize("name, drawing, message", [
    ("not an image", _b64(b"hello, not a png"), "not an image"),
    ("empty file", "", "not an image"),
    ("truncated", _b64(_png(app_canvas(3))[:500]), "truncated"),
    ("bomb", _b64(_bomb()), "too large"),
    ("not base64", "hello!", "must be"),
    ("broken JSON", '{"strokes": [', "not valid"),
    ("strokes not a list", '{"strokes": 7}', "a drawing is"),
    ("a point not a number", _strokes([[["x", 1]]]), "list of [x, y] points"),
    ("infinite", '{"strokes": [[[1e999, 1]]], "width": 336, "height": 336, "pen": 28}', "finite"),
    ("too many points", _strokes([[[i % 300, i % 200] for i in range(7000)]]), "too many points"),
    ("too many strokes", _strokes([[[1, 1]]] * 500), "too many strokes"),
    ("a huge pad", _strokes([], width=10**9), "width must be"),
])
def test_bad_input_gets_a_readable_error(app, name, drawing, message):
    _, client = app
    kind, payload = call(client, "classify", [drawing, "modern"])
    assert kind == "error" and message in payload["error"], (name, payload)


@pytest.mark.parametrize("image", [
    np.full((336, 336, 4), 255, np.uint8),  # an opaque white canvas
    np.full((64, 64), 30000, np.uint16),  # uniform 16-bit grey
], ids=["opaque-white", "grey16"])
def test_uniform_images_are_empty_not_a_digit(app, image):
    _, client = app
    kind, outputs = call(client, "classify", [_b64(_png(image)), "modern"])
    assert kind == "complete" and outputs[0]["empty"] and "models" not in outputs[0]


def _fuzz_value(rng: random.Random) -> object:
    """One malformed drawing (strokes or file), drawn at random."""
    good = _png(app_canvas(rng.randrange(10), variant=0))
    files = [b"", b"\x89PNG\r\n\x1a\n", good[: rng.randrange(1, len(good))], bytes(rng.randrange(256)
             for _ in range(rng.randrange(1, 400))), good[:64] + bytes(300) + good[364:],
             _png(np.full((rng.randrange(1, 40), rng.randrange(1, 40)), rng.randrange(256), np.uint8)),
             _png(np.uint8(rng.randrange(256)) * np.ones((3, 3, 3), np.uint8), "BMP")]
    kind = rng.randrange(5)
    if kind == 0:
        return _b64(rng.choice(files))
    if kind == 1:
        return rng.choice(["", "x" * rng.randrange(100), 0, -1, 3.5, [], [None], {"a": 1}, True, None])
    if kind == 2:
        junk = [None, 7, "x", [{}], [[1, 2, 3]], [[[1, None]]], [[["1", "2"]]], [[[-5, 9e9]]]]
        return json.dumps({"strokes": rng.choice(junk), "width": rng.choice([336, -1, 0, "w", None]),
                           "pen": rng.choice([28, 0, -3, "p", 1e9])})
    if kind == 3:
        n = rng.randrange(1, 40)
        return _strokes([[[rng.uniform(-50, 400), rng.uniform(-50, 400)] for _ in range(rng.randrange(1, 30))]
                         for _ in range(n)])
    return "{" + "".join(rng.choice('[]{}",:0123abc') for _ in range(rng.randrange(1, 80)))


@pytest.mark.slow
def test_fuzz_keeps_serving_with_flat_memory(app):
    running, client = app
    assert _seven(client)[0] == "complete"
    baseline = _rss_mb(running.process.pid)
    rng = random.Random(1234)
    outcomes = {"complete": 0, "error": 0}
    for i in range(FUZZ_CASES):
        value = _fuzz_value(rng)
        kind, payload = call(client, "classify", [value, rng.choice(["modern", "mlp", "nope", None])])
        assert kind in outcomes, (i, value, kind, payload)
        if kind == "error":
            assert payload and payload.get("error"), (i, value, payload)  # never an error without a message
        outcomes[kind] += 1
    assert outcomes["error"] > 0 and outcomes["complete"] > 0
    assert running.process.poll() is None
    assert _rss_mb(running.process.pid) - baseline < MEMORY_SLACK_MB
    kind, outputs = _seven(client)
    assert kind == "complete" and all(int(np.argmax(m["probs"])) == 7 for m in outputs[0]["models"])


def test_api_predict_endpoint_answers_json_for_one_model(app):
    _, client = app
    seven = base64.b64encode(_png(app_canvas(7, variant=0))).decode()
    kind, outputs = call(client, "predict", ["data:image/png;base64," + seven, "lenet5"])
    assert kind == "complete", outputs
    answer = outputs[0]
    assert answer["model"] == "lenet5" and answer["digit"] == 7 and answer["reason"] is None
    assert abs(sum(answer["probabilities"]) - 1) < 1e-3
    blank = base64.b64encode(_png(np.zeros((336, 336, 4), np.uint8))).decode()
    assert call(client, "predict", [blank, "cnn"])[1][0] == {"model": "cnn", "digit": None,
                                                            "probabilities": [0.0] * 10, "reason": "empty"}


@pytest.mark.parametrize("data, message", [
    (["not base64!", "modern"], "must be"),
    ([12, "modern"], "must be"),
    ([base64.b64encode(b"hello").decode(), "modern"], "not an image"),
    ([base64.b64encode(_png(app_canvas(1))).decode(), "resnet"], "unknown model"),
])
def test_api_predict_bad_input_gets_a_readable_error(app, data, message):
    _, client = app
    kind, payload = call(client, "predict", data)
    assert kind == "error" and message in payload["error"], payload
