"""A classroom at once: N simulated visitors drawing against one app on loopback.

Each visitor is one page (one Gradio session) doing what the browser does for every stroke
(tests.devserver.BrowserSession): post the sketchpad's background, composite and layer
PNGs (the app's canvas size) as blobs, upload the same three files, join the queue and read the answer
from the session's event stream, about once a second with jitter. Prints, per N, the answers' median and
p95 latency, errors ("busy" refusals counted apart), and the server's CPU and peak memory;
then the same with a training job running.

    python bench/load.py [--visitors 10 30 60 100] [--seconds 20] [--no-training]
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the dev server lives in tests/
from digits.synthetic.sketches import app_canvas
from tests.devserver import BrowserSession, call, running_app, sketch_value  # noqa: E402

STROKE_EVERY_S = 1.0  # one stroke a second per visitor ...
JITTER_S = 0.3  # ... give or take this much


def canvases() -> list[bytes]:
    out = []
    for digit in range(10):
        buf = io.BytesIO()
        Image.fromarray(app_canvas(digit, variant=0)).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def visitor(url: str, config: dict, pngs: list[bytes], until: float, seed: int, latencies: list,
            errors: list) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30) as client:
        page = BrowserSession(client, config, f"load{seed}-{rng.getrandbits(32):x}")
        time.sleep(rng.uniform(0, STROKE_EVERY_S))  # visitors do not start in step
        stroke = 0
        while time.monotonic() < until:
            start = time.monotonic()
            stroke += 1
            try:
                kind, payload = page.stroke(rng.choice(pngs), "modern", f"{seed}-{stroke}")
                if kind == "complete":
                    latencies.append((time.monotonic() - start) * 1000)
                else:
                    errors.append(str(payload)[:80])
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
            time.sleep(max(0.0, STROKE_EVERY_S + rng.uniform(-JITTER_S, JITTER_S) - (time.monotonic() - start)))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) / 1024


def run(url: str, pid: int, n: int, seconds: float, pngs: list[bytes], config: dict) -> str:
    latencies: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds
    cpu0, t0, client0 = cpu_seconds(pid), time.monotonic(), time.process_time()
    threads = [threading.Thread(target=visitor, args=(url, config, pngs, until, i, latencies, errors))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    client_cpu = (time.process_time() - client0) / (time.monotonic() - t0)
    busy = sum("queue is full" in e.lower() or "busy" in e.lower() for e in errors)
    lat = sorted(latencies) or [float("nan")]
    return (f"{n:>8} {len(latencies):>8} {len(latencies) / seconds:>7.1f} {statistics.median(lat):>9.0f} "
            f"{lat[int(0.95 * (len(lat) - 1))]:>7.0f} {len(errors) - busy:>7} {busy:>5} {100 * cpu:>6.0f}% "
            f"{peak_rss_mb(pid):>7.0f} {100 * client_cpu:>6.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[10, 30, 60, 100])
    parser.add_argument("--seconds", type=float, default=20.0, help="per row (default: 20)")
    parser.add_argument("--no-training", action="store_true", help="skip the rows with a training job running")
    args = parser.parse_args()
    pngs = canvases()
    header = (f"{'visitors':>8} {'answers':>8} {'per s':>7} {'median ms':>9} {'p95 ms':>7} {'errors':>7} "
              f"{'busy':>5} {'CPU':>7} {'peak MB':>7} {'client':>7}")
    with running_app() as app, httpx.Client(base_url=app.url, timeout=30) as client:
        call(client, "classify", [sketch_value(client, pngs[0]), "modern", "One digit"])  # warm up
        config = BrowserSession.config(client)
        print(f"one stroke per visitor per {STROKE_EVERY_S:.0f} s (+/- {JITTER_S} s), {args.seconds:.0f} s per row; "
              "CPU = the server process, 100% = one core")
        print("idle server\n" + header)
        for n in args.visitors:
            print(run(app.url, app.process.pid, n, args.seconds, pngs, config), flush=True)
        if not args.no_training:
            call(client, "train", ["modern", 20, 128, 0.004, False, False])
            time.sleep(8)  # let the job load MNIST and start its batches
            print("while a modern-CNN training job runs\n" + header)
            for n in args.visitors:
                print(run(app.url, app.process.pid, n, args.seconds, pngs, config), flush=True)


if __name__ == "__main__":
    main()
