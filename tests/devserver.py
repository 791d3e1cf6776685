"""Start the app (`python demo.py`) as a child process on a free port, for the browser tests
and the HTTP benchmark. It only spawns the script; the library still never imports the UI."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
POLL_S = 0.1


class AppStartError(RuntimeError):
    pass


@dataclass
class RunningApp:
    url: str
    weights: Path  # a private copy of weights/, so training in the app cannot touch the real one
    ready_s: float  # seconds from spawning the process to its first HTTP answer
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(env: dict[str, str] | None = None, log_path: Path | None = None,
                timeout_s: float = START_TIMEOUT_S) -> Iterator[RunningApp]:
    """Run demo.py against a temporary copy of the shipped weights (and an empty visitors'
    drawings folder, unless `env` names one) until the block ends."""
    weights = Path(tempfile.mkdtemp(prefix="digits-weights-"))
    for f in (ROOT / "weights").glob("*.*"):
        shutil.copy(f, weights / f.name)
    port = free_port()
    full_env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
                "DIGITS_WEIGHTS": str(weights), "DIGITS_FEEDBACK": str(weights / "feedback"),
                "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "demo.py"], cwd=ROOT, env=full_env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise AppStartError(f"demo.py exited with {proc.returncode}"
                                        + (f"; see {log_path}" if log_path else "")) from None
                if time.perf_counter() - start > timeout_s:
                    raise AppStartError(f"demo.py did not answer within {timeout_s:.0f} s") from None
                time.sleep(POLL_S)
        yield RunningApp(url, weights, time.perf_counter() - start, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()
        shutil.rmtree(weights, ignore_errors=True)


# --- talking to the running app over HTTP the way the browser does (tests and benches) ---------


def file_data(path: str) -> dict:
    """A Gradio FileData reference to an uploaded file."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def upload(client, content: bytes, name: str = "canvas.png") -> str:
    """POST a file to Gradio's upload route; returns its server-side path."""
    response = client.post("/gradio_api/upload", files={"files": (name, content, "image/png")})
    response.raise_for_status()
    return response.json()[0]


def sketch_value(client, png: bytes) -> dict:
    """A sketchpad value as the browser sends it: background, one layer and the composite, each uploaded."""
    paths = [upload(client, png, f"{part}.png") for part in ("background", "layer_0", "composite")]
    return {"background": file_data(paths[0]), "layers": [file_data(paths[1])], "composite": file_data(paths[2])}


def call(client, api: str, data: list) -> tuple[str, object]:
    """Call an endpoint and read its event stream: ("complete", outputs) or ("error", message)."""
    response = client.post(f"/gradio_api/call/{api}", json={"data": data})
    if response.status_code != 200:
        return "error", f"HTTP {response.status_code}: {response.text[:200]}"
    event = response.json()["event_id"]
    kind = None
    with client.stream("GET", f"/gradio_api/call/{api}/{event}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: "):].strip()
            elif line.startswith("data: ") and kind in ("complete", "error"):
                return kind, json.loads(line[len("data: "):])
    return "error", "the event stream ended without a result"


class BrowserSession:
    """One visitor's page, talking to the app the way the browser does for each stroke: the
    editor posts its three PNGs as blobs to the sketchpad's `accept_blobs`, uploads the same
    three files as the component's value, joins the queue with the blob id under its session,
    and reads the answer from the session's event stream."""

    def __init__(self, client, config: dict, session_hash: str):
        self.client = client
        self.session = session_hash
        self.sketch_id = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "sketch")
        self.classify_fn = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "classify")
        self.trigger_id = self.sketch_id

    @staticmethod
    def config(client) -> dict:
        return client.get("/config").json()

    def post_blob(self, blob_id: str, png: bytes, kind: str, index: int | None) -> None:
        form = {"component_id": str(self.sketch_id), "session_hash": self.session, "fn_name": "accept_blobs",
                "id": blob_id, "type": kind, "index": "null" if index is None else str(index)}
        name = "layer_0.png" if kind == "layer" else f"{kind}.png"
        response = self.client.post("/gradio_api/component_server/", data=form,
                                    files={"file": (name, png, "image/png")})
        response.raise_for_status()

    def stroke(self, png: bytes, model: str, blob_id: str) -> tuple[str, object]:
        """One stroke: ("complete", outputs) or ("error", message)."""
        for kind, index in (("background", None), ("composite", None), ("layer", 0)):
            self.post_blob(blob_id, png, kind, index)
        for part in ("background", "layer_0", "composite"):
            upload(self.client, png, f"{part}.png")
        body = {"data": [{"id": blob_id}, model, "One digit"], "fn_index": self.classify_fn,
                "trigger_id": self.trigger_id, "session_hash": self.session, "event_data": None}
        joined = self.client.post("/gradio_api/queue/join", json=body)
        if joined.status_code != 200:
            return "error", f"HTTP {joined.status_code}: {joined.text[:200]}"
        event = joined.json()["event_id"]
        with self.client.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data: "):
                    continue
                message = json.loads(line[len("data: "):])
                if message.get("event_id") != event or message.get("msg") != "process_completed":
                    continue
                if message.get("success"):
                    return "complete", message["output"]["data"]
                return "error", message.get("output", {}).get("error") or message.get("title") or "error"
        return "error", "the event stream ended without a result"
