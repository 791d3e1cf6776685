"""Round trip of one prediction through the running app's HTTP API (no gradio_client).

Starts `python demo.py` on a free port (against a copy of weights/), measures start-up
time, then for each path times N requests, each ending when the result is read from the
event stream: "predict" (one model, a 336x336 PNG sent as base64 in the call), "classify"
(every model, the pad's strokes as JSON) and "answer" (the server function the page calls
for a number or when its own models have not loaded). Then again while a training job runs.

    python bench/app_latency.py [--requests 200] [--no-training]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the dev server lives in tests/
from digits.synthetic.sketches import app_canvas
from tests.devserver import BrowserSession, call, running_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def png_bytes(digit: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(app_canvas(digit, variant=0)).save(buf, format="PNG")
    return buf.getvalue()


def one_request(client: httpx.Client, api: str, png: bytes, model: str, page: BrowserSession) -> float:
    start = time.perf_counter()
    if api == "answer":
        kind, payload = page.stroke(PAD, model, "A number")
    else:
        drawing = base64.b64encode(png).decode() if api == "predict" else json.dumps(PAD)
        kind, payload = call(client, api, [drawing, model])
    if kind != "complete":
        raise RuntimeError(f"{api} failed: {payload}")
    return (time.perf_counter() - start) * 1000


PAD = {"strokes": [[[90, 80], [250, 80], [150, 290]]], "width": 336, "height": 336, "pen": 28}


def measure(client, api, n, model="lenet5") -> tuple[float, float]:
    pngs = [png_bytes(d) for d in range(10)]
    page = BrowserSession(client, BrowserSession.config(client), f"latency-{api}")
    for png in pngs[:3]:
        one_request(client, api, png, model, page)  # warm-up
    times = sorted(one_request(client, api, pngs[i % 10], model, page) for i in range(n))
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def start_training(client) -> None:
    """Start a job through the Train tab's Start button (its API name is "train")."""
    start = {"data": ["modern", 20, 128, 0.004, False, False, False]}  # model, epochs, batch, lr, and no options
    event = client.post("/gradio_api/call/train", json=start).json()["event_id"]
    client.get(f"/gradio_api/call/train/{event}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per path (default: 200)")
    parser.add_argument("--no-training", action="store_true", help="skip the during-training measurement")
    args = parser.parse_args()
    with running_app() as app, httpx.Client(base_url=app.url, timeout=30) as client:
        print(f"ready to serve after {app.ready_s:.1f} s")
        rows = []
        for api in ("predict", "classify", "answer"):
            rows.append((api, "idle", *measure(client, api, args.requests)))
        if not args.no_training:
            start_training(client)
            time.sleep(8)  # let the job load MNIST and start its batches
            for api in ("predict", "classify", "answer"):
                rows.append((api, "training", *measure(client, api, args.requests)))
        print(f"{args.requests} requests each: call + result")
        print(f"{'path':<10} {'server':<9} {'median ms':>10} {'p95 ms':>8}")
        for api, state, med, p95 in rows:
            print(f"{api:<10} {state:<9} {med:>10.1f} {p95:>8.1f}")

if __name__ == "__main__":
    main()
