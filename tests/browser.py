"""Driving the pad in headless Chromium, for the browser tests and the benches: find a
browser, draw strokes with the mouse, read the answer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT_MS = 15_000
PAD_READY = "#sketch .pad.ready canvas"  # pad.js marks the pad once it listens
INSTALL_HINT = ("no Chromium for the browser tests: run `python -m playwright install chromium` "
                "(or, on Debian, `apt-get install chromium`)")


def chromium_executable(playwright) -> str | None:
    """Playwright's own Chromium when installed (None: Playwright finds it), else the system's."""
    own = playwright.chromium.executable_path
    if own and Path(own).exists():
        return None
    for candidate in (DEBIAN_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip(INSTALL_HINT)


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_executable(playwright), headless=True,
                                      args=CHROMIUM_ARGS)


def stroke(page, points, steps: int = 3) -> None:
    """A mouse stroke through points given in the pad's unit square (0-1 of its width and height)."""
    page.wait_for_selector(PAD_READY, timeout=ANSWER_TIMEOUT_MS)  # a stroke before it would be lost
    box = page.locator("#sketch canvas").first.bounding_box()
    xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def draw_template(page, unit_strokes, box=(0.33, 0.15, 0.34, 0.7), steps: int = 1) -> None:
    """Strokes in a unit box (the templates of digits/synthetic/sketches.py) drawn into `box`
    = (left, top, width, height) of the pad."""
    left, top, w, h = box
    for s in unit_strokes:
        step = max(1, len(s) // 16)
        pts = list(s[::step]) + ([s[-1]] if (len(s) - 1) % step else [])
        stroke(page, [(left + x * w, top + y * h) for x, y in pts], steps=steps)


def wait_digit(page, expected: str, selector: str = "#answer .digit") -> None:
    try:
        page.wait_for_function("([sel, d]) => { const el = document.querySelector(sel);"
                               " return el && el.textContent.trim() === d; }", arg=[selector, expected],
                               timeout=ANSWER_TIMEOUT_MS)
    except Exception:  # say what was there instead: a lost stroke, or a stale answer
        shown = page.locator("#answer").inner_text() if page.locator("#answer").count() else "no answer"
        pytest.fail(f"expected {expected!r}; the answer says {shown!r}")


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([sel, t]) => { const el = document.querySelector(sel);"
                           " return el && el.innerText.includes(t); }", arg=[selector, text],
                           timeout=ANSWER_TIMEOUT_MS)
