"""The app in headless Chromium: real mouse strokes, model switching, clearing, training and cancel.

Starts `python demo.py` on a free port with a copy of the shipped weights, so training in
the test can never touch weights/. Screenshots of every step go to the test's tmp folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from digits.devserver import AppStartError, running_app

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT_MS = 15_000
TRAIN_BATCH_CAP = 1500  # long enough to watch progress and cancel it, far below a full run


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    log = tmp_path_factory.mktemp("log") / "app.log"
    try:
        with running_app({"DIGITS_TRAIN_MAX_BATCHES": str(TRAIN_BATCH_CAP)}, log) as app:
            yield app.url, app.weights
    except AppStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = ctx.new_page()
    pg.goto(app_url[0])
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    yield pg
    ctx.close()


def _canvas_box(page):
    box = page.locator("#sketch canvas").first.bounding_box()
    # The drawing surface is a square centred in the canvas element.
    side = min(box["width"], box["height"]) * 0.7
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, side


def _stroke(page, points, steps=12):
    cx, cy, side = _canvas_box(page)
    xy = [(cx + (x - 0.5) * side, cy + (y - 0.5) * side) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(xy, xy[1:]):
        for t in range(1, steps + 1):
            page.mouse.move(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps)
    page.mouse.up()


def _answer_digit(page, expected: str):
    page.wait_for_function(
        "d => { const el = document.querySelector('#answer .digit'); return el && el.textContent.trim() === d; }",
        arg=expected, timeout=ANSWER_TIMEOUT_MS)


def _wait_brush(page):
    """The app selects the brush by itself (on load and after Clear): no click needed."""
    page.wait_for_function(
        "() => { const b = document.querySelector('#sketch button[aria-label=\"Brush\"]');"
        " return b && b.classList.contains('highlight'); }", timeout=10_000)


def test_draw_switch_model_and_clear(page, tmp_path):
    _wait_brush(page)
    page.screenshot(path=tmp_path / "0-start.png", full_page=True)
    assert "Draw a digit" in page.locator("#answer").inner_text()

    _stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # a 1: one vertical stroke
    _answer_digit(page, "1")
    page.screenshot(path=tmp_path / "1-drew-one.png", full_page=True)

    page.locator("#clear-btn").click()
    page.wait_for_function("() => document.querySelector('#answer').innerText.includes('Draw a digit')",
                           timeout=ANSWER_TIMEOUT_MS)
    page.screenshot(path=tmp_path / "2-cleared.png", full_page=True)

    _wait_brush(page)
    _stroke(page, [(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)])  # a 7: the top and the diagonal ...
    _stroke(page, [(0.38, 0.52), (0.66, 0.52)])  # ... and a crossbar, a second stroke
    _answer_digit(page, "7")
    compare = page.locator("#compare")
    for name in ("MLP", "Simple CNN", "LeNet-5", "Modern CNN"):
        assert name in compare.inner_text()
    page.screenshot(path=tmp_path / "3-drew-seven.png", full_page=True)

    before = page.locator("#answer .note").inner_text()
    page.locator("#model-dd input").click()
    page.get_by_role("option", name="LeNet-5").click()
    page.wait_for_function("() => document.querySelector('#answer .note').innerText.startsWith('LeNet-5')",
                           timeout=ANSWER_TIMEOUT_MS)
    assert before.startswith("Modern CNN")
    _answer_digit(page, "7")
    assert page.locator("#compare tr").count() == 5  # header + one row per model
    page.screenshot(path=tmp_path / "4-lenet5.png", full_page=True)


def test_sample_drawing_is_predicted_in_one_click(page, tmp_path):
    page.get_by_text("Sample drawings").scroll_into_view_if_needed()
    page.locator(".gallery button, button.gallery-item").nth(1).click()  # the second sample is a 7
    _answer_digit(page, "7")
    page.screenshot(path=tmp_path / "sample.png", full_page=True)


def test_phone_width_layout(browser, app_url, tmp_path):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    pg = ctx.new_page()
    pg.goto(app_url[0])
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    _wait_brush(pg)
    width = pg.evaluate("() => document.documentElement.scrollWidth")
    pg.screenshot(path=tmp_path / "phone.png", full_page=True)
    assert width <= 400  # nothing forces sideways scrolling
    box = pg.locator("#sketch canvas").first.bounding_box()
    assert box["width"] <= 390
    ctx.close()


def test_train_progress_then_cancel_keeps_weights(page, app_url, tmp_path):
    weights = app_url[1]
    before = (weights / "mlp.safetensors").read_bytes()
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-model input").click()
    page.get_by_role("option", name="MLP").click()
    page.locator("#start-btn").click()
    page.wait_for_function(
        "() => /batch \\d+\\//.test(document.querySelector('#train-progress').innerText)", timeout=60_000)
    page.screenshot(path=tmp_path / "5-training.png", full_page=True)
    # the card says how the job computes (device, precision)
    assert "training (cpu, " in page.locator("#train-progress").inner_text()
    page.locator("#start-btn").click()  # a second start while one runs is refused
    page.wait_for_function("() => document.querySelector('#train-msg').innerText.includes('already running')",
                           timeout=10_000)
    page.locator("#cancel-btn").click()
    page.wait_for_function("() => document.querySelector('#train-progress').innerText.toLowerCase()"
                           ".includes('cancelled')", timeout=20_000)
    # once the job has ended, the card tells the outcome and the "Cancelling…" note goes
    page.wait_for_function("() => !document.querySelector('#train-msg').innerText.includes('Cancelling')",
                           timeout=10_000)
    page.screenshot(path=tmp_path / "6-cancelled.png", full_page=True)
    assert (weights / "mlp.safetensors").read_bytes() == before
    assert not list((weights / "candidates").glob("mlp*")) if (weights / "candidates").exists() else True
