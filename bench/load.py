"""A classroom at once: N simulated visitors drawing against one app on loopback.

Each visitor is one page (one Gradio session) doing what the page does now
(tests.devserver.BrowserSession): it opens the page (asks where the models are and fetches
them), then draws about one stroke a second with jitter. A one-digit stroke is answered in
the browser and sends nothing; a share of strokes (--number-share) is written in number mode,
which calls the server function once per stroke. Prints, per N, what reached the server:
its requests' median and p95 latency, errors, the server's CPU and peak memory; then the
same with a training job running.

    python bench/load.py [--visitors 10 30 60 100] [--seconds 20] [--number-share 0.1] [--no-training]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the dev server lives in tests/
from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX  # noqa: E402
from digits.synthetic.sketches import writer_strokes  # noqa: E402
from tests.devserver import BrowserSession, call, running_app  # noqa: E402

STROKE_EVERY_S = 1.0  # one stroke a second per visitor ...
JITTER_S = 0.3  # ... give or take this much


def drawings() -> list[dict]:
    """Numbers of two digits on the number pad, as the page sends them."""
    out = []
    for a in range(10):
        strokes = []
        for k, digit in enumerate((a, (a + 3) % 10)):
            unit = writer_strokes(digit, variant=0)
            left, top, w, h = 150 + 220 * k, 60, 120, 200
            strokes += [[[left + x * w, top + y * h] for x, y in s] for s in unit]
        out.append({"strokes": strokes, "width": NUMBER_PAD[0], "height": NUMBER_PAD[1], "pen": NUMBER_PEN_PX})
    return out


def visitor(url: str, config: dict, pads: list[dict], until: list[float], seed: int, number_share: float,
            latencies: list, errors: list, counts: list, loads: list, drawing: threading.Event) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=60) as client:
        page = BrowserSession(client, config, f"load{seed}-{rng.getrandbits(32):x}")
        start = time.monotonic()
        page.load()  # the page opens first (a browser then caches the models) ...
        loads.append((time.monotonic() - start) * 1000)
        drawing.wait()  # ... and everyone draws together
        time.sleep(rng.uniform(0, STROKE_EVERY_S))  # visitors do not start in step
        while time.monotonic() < until[0]:
            start = time.monotonic()
            mode = "A number" if rng.random() < number_share else "One digit"
            counts.append(mode)
            try:
                kind, payload = page.stroke(rng.choice(pads), "modern", mode)
                if kind == "complete":
                    latencies.append((time.monotonic() - start) * 1000)
                elif kind == "error":
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


def run(url: str, pid: int, n: int, seconds: float, pads: list[dict], config: dict, number_share: float) -> str:
    latencies: list[float] = []
    errors: list[str] = []
    counts: list[str] = []
    loads: list[float] = []
    drawing = threading.Event()
    until = [float("inf")]  # set once every page has loaded
    threads = [threading.Thread(target=visitor, args=(url, config, pads, until, i, number_share, latencies, errors,
                                                      counts, loads, drawing)) for i in range(n)]
    for t in threads:
        t.start()
    while len(loads) < n:
        time.sleep(0.05)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    until[0] = t0 + seconds
    drawing.set()
    for t in threads:
        t.join()
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    lat = sorted(latencies) or [float("nan")]
    return (f"{n:>8} {statistics.median(loads):>9.0f} {len(counts):>8} {counts.count('One digit'):>8} "
            f"{len(latencies):>8} {statistics.median(lat):>9.0f} {lat[int(0.95 * (len(lat) - 1))]:>7.0f} "
            f"{len(errors):>7} {100 * cpu:>6.0f}% {peak_rss_mb(pid):>7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--visitors", type=int, nargs="+", default=[10, 30, 60, 100])
    parser.add_argument("--seconds", type=float, default=20.0, help="per row (default: 20)")
    parser.add_argument("--number-share", type=float, default=0.1,
                        help="share of strokes written in number mode, answered on the server (default: 0.1)")
    parser.add_argument("--no-training", action="store_true", help="skip the rows with a training job running")
    args = parser.parse_args()
    pads = drawings()
    header = (f"{'visitors':>8} {'load ms':>9} {'strokes':>8} {'browser':>8} {'server':>8} {'median ms':>9} "
              f"{'p95 ms':>7} {'errors':>7} {'CPU':>7} {'peak MB':>7}")
    with running_app() as app, httpx.Client(base_url=app.url, timeout=30) as client:
        config = BrowserSession.config(client)
        BrowserSession(client, config, "warm-up").load()  # the ONNX export happens once, here
        print(f"one stroke per visitor per {STROKE_EVERY_S:.0f} s (+/- {JITTER_S} s), {args.seconds:.0f} s per row, "
              f"{100 * args.number_share:.0f}% in number mode. 'load ms': median page load (the models' files "
              "included); 'server': strokes that reached the server (numbers), with their median and p95; "
              "CPU = the server process while drawing, 100% = one core")
        print("idle server\n" + header)
        for n in args.visitors:
            print(run(app.url, app.process.pid, n, args.seconds, pads, config, args.number_share), flush=True)
        if not args.no_training:
            call(client, "train", ["modern", 20, 128, 0.004, False, False, False])
            time.sleep(8)  # let the job load MNIST and start its batches
            print("while a modern-CNN training job runs\n" + header)
            for n in args.visitors:
                print(run(app.url, app.process.pid, n, args.seconds, pads, config, args.number_share), flush=True)


if __name__ == "__main__":
    main()
