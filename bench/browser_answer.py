"""Answers in the visitor's browser, measured in headless Chromium against the running app.

Prints the first page load until the four models are ready, the runtime's and the models'
bytes, and the time from pointer-up to the answer on screen over N strokes (measured in
the page: a pointerup listener and a MutationObserver on the answers), with the requests
the page sent while drawing. (tests/test_web.py holds the browser's answers to Python's on
2,000 pen drawings.)

    python bench/browser_answer.py [--strokes 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/ holds the dev server and drivers
from playwright.sync_api import sync_playwright  # noqa: E402

from digits import web  # noqa: E402
from digits.config import cache_dir  # noqa: E402
from digits.recognition.inference import ModelStore  # noqa: E402
from tests.browser import launch, stroke  # noqa: E402
from tests.devserver import running_app  # noqa: E402

WATCH = """() => { window.__ups = []; window.__shown = [];
  document.querySelector('#sketch canvas').addEventListener('pointerup', () => __ups.push(performance.now()), true);
  new MutationObserver(() => __shown.push(performance.now()))
    .observe(document.querySelector('#answers'), {childList: true, subtree: true, characterData: true}); }"""


def latencies(page, strokes: int) -> list[float]:
    page.evaluate(WATCH)
    out = []
    for i in range(strokes):
        page.evaluate("() => { __ups.length = 0; __shown.length = 0; }")
        x = 0.3 + 0.4 * (i % 5) / 4
        stroke(page, [(x, 0.2), (x, 0.8)])
        page.wait_for_function("() => __shown.some(t => t > __ups[0])", timeout=10_000)
        up, shown = page.evaluate("() => [__ups[0], __shown.find(t => t > __ups[0])]")
        out.append(shown - up)
        page.locator("#clear-btn").click()
        page.wait_for_timeout(50)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strokes", type=int, default=50)
    args = parser.parse_args()
    if not web.runtime_ready():
        web.build_runtime()
    with running_app() as app, sync_playwright() as p:
        browser = launch(p)
        warm = browser.new_page()
        warm.goto(app.url)  # the first page ever makes the ONNX export; time a second, fresh one
        warm.wait_for_function("() => window.digitsLocal && window.digitsLocal.ready", timeout=60_000)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        posts = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        start = time.perf_counter()
        page.goto(app.url)
        page.wait_for_function("() => window.digitsLocal && window.digitsLocal.ready", timeout=60_000)
        load_s = time.perf_counter() - start
        sent_before = len(posts)
        times = sorted(latencies(page, args.strokes))
        sent = len(posts) - sent_before
        browser.close()
    runtime = web.runtime_bytes()
    print(f"page load until the four models are ready: {load_s:.2f} s (loopback, a fresh browser context)")
    print("runtime bytes: " + ", ".join(f"{f} {n / 1e6:.2f} MB" for f, n in runtime.items()))
    folder = web.WebModels(ModelStore(), cache_dir() / "web-models").folder()
    sizes = {f.name: f.stat().st_size for f in sorted(folder.glob("*.onnx"))}
    print(f"models bytes: {sum(sizes.values()) / 1e6:.2f} MB (" +
          ", ".join(f"{n} {b / 1e6:.2f} MB" for n, b in sizes.items()) + ")")
    print(f"pointer-up to answer on screen, {len(times)} strokes: median {statistics.median(times):.1f} ms, "
          f"p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms, max {times[-1]:.1f} ms")
    print(f"POST requests while drawing: {sent}")


if __name__ == "__main__":
    main()
