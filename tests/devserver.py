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
    """One visitor's page, talking to the app the way the page does now: a one-digit stroke is
    answered in the browser and sends nothing; a number (or a page whose models could not
    load) calls the answers component's server function `answer` once per pause."""

    def __init__(self, client, config: dict, session_hash: str):
        self.client = client
        self.session = session_hash
        self.answers_id = next(c["id"] for c in config["components"]
                               if c.get("props", {}).get("elem_id") == "answers")

    @staticmethod
    def config(client) -> dict:
        return client.get("/config").json()

    def server_function(self, name: str, *args) -> object:
        body = {"data": list(args), "component_id": self.answers_id, "fn_name": name, "session_hash": self.session}
        response = self.client.post("/gradio_api/component_server/", json=body)
        response.raise_for_status()
        return response.json()

    def load(self) -> int:
        """What opening the page asks of the server beyond Gradio's own files: where the
        models are, then the models' manifest and files. Returns the bytes fetched."""
        where = self.server_function("web_models")
        fetched = 0
        if where.get("models"):
            manifest = self.client.get(where["models"] + "models.json")
            fetched += len(manifest.content)
            for m in manifest.json()["models"]:
                fetched += len(self.client.get(where["models"] + m["file"]).content)
        return fetched

    def stroke(self, pad: dict, model: str, mode: str) -> tuple[str, object]:
        """One stroke: ("browser", None) when the page answers it, else the server's results."""
        if mode == "One digit":
            return "browser", None
        results = self.server_function("answer", pad, model, mode)
        return ("error", results["error"]) if "error" in results else ("complete", results)
