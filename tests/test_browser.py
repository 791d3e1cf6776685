"""The app in headless Chromium: real mouse strokes, model switching, clearing, training and cancel.

Starts `python demo.py` on a free port with a copy of the shipped weights, so training in
the test can never touch weights/. Screenshots of every step go to the test's tmp folder.
"""

from __future__ import annotations

import io
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digits.synthetic.sketches import writer_strokes
from tests.devserver import AppStartError, running_app

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT_MS = 15_000
TRAIN_BATCH_CAP = 1500  # long enough to watch progress and cancel it, far below a full run
MAX_POINTS_PER_STROKE = 12  # headless Chromium renders WebGL in software: keep strokes short
INK_LEVEL = 128  # a canvas pixel darker than this (0-255) is ink
EMPTY_INK_PX = 20  # an empty canvas has (almost) no dark pixels in its drawing area
# Digits drawn with the mouse in the draw/clear loops: shapes every model reads the same way.
LOOP_DIGITS = [1, 7, 4, 0, 2, 3, 5, 8, 6, 9]


def chromium_executable(p) -> str | None:
    """Playwright's own Chromium when installed (`playwright install chromium`), else Debian's."""
    own = p.chromium.executable_path
    if own and Path(own).exists():
        return None  # Playwright finds its own browser
    for candidate in (DEBIAN_CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.skip("no Chromium for the browser tests: run `python -m playwright install chromium` "
                "(or, on Debian, `apt-get install chromium`)")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    log = tmp_path_factory.mktemp("log") / "app.log"
    try:
        with running_app({"DIGITS_TRAIN_MAX_BATCHES": str(TRAIN_BATCH_CAP)}, log) as app:
            yield app.url, app.weights
    except AppStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_executable(p), headless=True, args=CHROMIUM_ARGS)
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


def _draw_digit(page, digit: int) -> None:
    """The digit's pen-style template (digits/synthetic/sketches.py) drawn with real mouse strokes."""
    for points in writer_strokes(digit, variant=0):
        step = max(1, len(points) // MAX_POINTS_PER_STROKE)
        pts = list(points[::step]) + ([points[-1]] if (len(points) - 1) % step else [])
        _stroke(page, [(0.35 + 0.3 * x, 0.15 + 0.7 * y) for x, y in pts], steps=1)


def _ink_pixels(page) -> int:
    """Dark pixels in the drawing area, read from a screenshot (the editor draws with WebGL)."""
    shot = Image.open(io.BytesIO(page.locator("#sketch canvas").first.screenshot())).convert("L")
    cx, cy, side = _canvas_box(page)
    box = page.locator("#sketch canvas").first.bounding_box()
    scale = shot.width / box["width"]
    x0, y0 = (cx - box["x"] - side / 2) * scale, (cy - box["y"] - side / 2) * scale
    area = np.asarray(shot.crop((int(x0), int(y0), int(x0 + side * scale), int(y0 + side * scale))))
    return int((area < INK_LEVEL).sum())


def _ink_across(page, y: float) -> int:
    """How many dark pixels the screenshot's row at height `y` (0-1 of the drawing area)
    crosses in the drawing area's left fifth: the width of a vertical stroke drawn there."""
    shot = Image.open(io.BytesIO(page.locator("#sketch canvas").first.screenshot())).convert("L")
    cx, cy, side = _canvas_box(page)
    box = page.locator("#sketch canvas").first.bounding_box()
    scale = shot.width / box["width"]
    x0, row = (cx - box["x"] - side / 2) * scale, (cy - box["y"] + (y - 0.5) * side) * scale
    return int((np.asarray(shot)[int(row), int(x0):int(x0 + side * scale / 5)] < INK_LEVEL).sum())


def _watch_answers(page) -> None:
    """Record every digit the answer panel shows from now on (to catch stale answers)."""
    page.evaluate("""() => {
      window.__shown = [];
      if (window.__watcher) window.__watcher.disconnect();
      const el = document.querySelector('#answer');
      window.__watcher = new MutationObserver(() => {
        const d = el.querySelector('.digit'); if (d) window.__shown.push(d.textContent.trim()); });
      window.__watcher.observe(el, {childList: true, subtree: true, characterData: true});
    }""")


def _shown_since_watch(page) -> list[str]:
    return page.evaluate("() => window.__shown")


def _answer_is_hint(page) -> None:
    page.wait_for_function("() => document.querySelector('#answer').innerText.includes('Draw a digit')",
                           timeout=ANSWER_TIMEOUT_MS)


def _answer_digit(page, expected: str):
    try:
        page.wait_for_function(
            "d => { const el = document.querySelector('#answer .digit'); return el && el.textContent.trim() === d; }",
            arg=expected, timeout=ANSWER_TIMEOUT_MS)
    except playwright_api.TimeoutError:  # say what was there instead: a lost stroke, or a stale answer
        pytest.fail(f"expected {expected!r}; the answer says {page.locator('#answer').inner_text()!r} "
                    f"with {_ink_pixels(page)} ink pixels on the canvas")


def _shown_answer(page) -> str:
    """The answer the app rendered, without Gradio's (invisible) status timer around it."""
    return page.locator("#answer .answer").inner_text()


def _wait_answers_landed(page) -> None:
    """Wait until no answer is in flight: the answer's status tracker shows no running timer."""
    page.wait_for_function(
        "() => !/\\d\\.\\ds/.test(document.querySelector('#answer [data-testid=\"status-tracker\"]')"
        "?.textContent ?? '')", timeout=ANSWER_TIMEOUT_MS)


def _zoom(page) -> str:
    """The editor's zoom readout ("100%"): the canvas's size on screen."""
    return re.search(r"\d+%", page.locator("#sketch").inner_text()).group(0)


def _wait_brush(page):
    """The app selects the brush by itself (on load and after Clear): no click needed."""
    page.wait_for_function(
        "() => { const b = document.querySelector('#sketch button[aria-label=\"Brush\"]');"
        " return b && b.classList.contains('highlight'); }", timeout=10_000)


def test_draw_switch_model_and_clear(page, tmp_path):
    _wait_brush(page)
    page.screenshot(path=tmp_path / "0-start.png", full_page=True)
    assert "Draw a digit" in page.locator("#answer").inner_text()
    zoom = _zoom(page)

    _stroke(page, [(0.5, 0.15), (0.5, 0.85)])  # a 1: one vertical stroke
    _answer_digit(page, "1")
    page.screenshot(path=tmp_path / "1-drew-one.png", full_page=True)

    page.locator("#clear-btn").click()
    page.wait_for_function("() => document.querySelector('#answer').innerText.includes('Draw a digit')",
                           timeout=ANSWER_TIMEOUT_MS)
    page.screenshot(path=tmp_path / "2-cleared.png", full_page=True)
    assert _zoom(page) == zoom  # the canvas keeps its size: Clear does not zoom it out

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
    table = page.locator("#compare").inner_text()
    assert all(name in table for name in ("MLP", "Simple CNN", "LeNet-5", "Modern CNN"))
    assert "All models agree" in table or "disagree" in table
    page.screenshot(path=tmp_path / "4-lenet5.png", full_page=True)


def test_sample_drawing_is_predicted_in_one_click(page, tmp_path):
    page.get_by_text("Sample drawings").scroll_into_view_if_needed()
    page.locator(".gallery button, button.gallery-item").nth(1).click()  # the second sample is a 7
    _answer_digit(page, "7")
    page.screenshot(path=tmp_path / "sample.png", full_page=True)


@pytest.fixture
def phone(browser, app_url):
    """The app on a 390x844 touch screen, brush selected."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    pg = ctx.new_page()
    pg.goto(app_url[0])
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    _wait_brush(pg)
    yield pg
    ctx.close()


def test_phone_width_layout(phone, tmp_path):
    pg = phone
    width = pg.evaluate("() => document.documentElement.scrollWidth")
    pg.screenshot(path=tmp_path / "phone.png", full_page=True)
    assert width <= 400  # nothing forces sideways scrolling
    box = pg.locator("#sketch canvas").first.bounding_box()
    assert box["width"] <= 390


def test_train_progress_then_cancel_keeps_weights(page, app_url, tmp_path):
    from digits.training.data import mnist_available

    if not mnist_available():
        pytest.skip("real MNIST is not reachable (set DIGITS_DATA): the job could not start training")
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


@pytest.mark.parametrize("how", ["button", "bin"])
def test_draw_and_clear_ten_digits_in_a_row(page, tmp_path, how):
    """Clear (the app's button or the editor's bin) empties canvas and answer every time."""
    _wait_brush(page)
    clear = page.locator("#clear-btn") if how == "button" else page.locator(
        '#sketch button[aria-label="Clear canvas"]')
    for i, digit in enumerate(LOOP_DIGITS):
        _draw_digit(page, digit)
        _answer_digit(page, str(digit))
        assert _ink_pixels(page) > 10 * EMPTY_INK_PX
        clear.click()
        _answer_is_hint(page)
        _watch_answers(page)
        time.sleep(0.5)  # anything stale still in flight would land now
        assert _ink_pixels(page) <= EMPTY_INK_PX, f"round {i}: the canvas kept its drawing"
        assert _shown_since_watch(page) == [], f"round {i}: a stale answer appeared after clearing"
        assert "Draw a digit" in page.locator("#answer").inner_text()
        page.screenshot(path=tmp_path / f"{how}-{i}-cleared.png")
        _wait_brush(page)


def test_undo_back_to_empty_shows_the_hint(page):
    _wait_brush(page)
    _stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    _answer_digit(page, "1")
    page.locator('#sketch button[aria-label="Undo"]').click()
    _answer_is_hint(page)
    assert _ink_pixels(page) <= EMPTY_INK_PX


def test_quick_strokes_leave_the_last_strokes_answer(page, tmp_path):
    """Strokes 100 ms apart: the answer that stays on screen is the one for the final drawing."""
    _wait_brush(page)
    _stroke(page, [(0.5, 0.15), (0.5, 0.85)], steps=2)  # a 1 ...
    time.sleep(0.1)
    _stroke(page, [(0.3, 0.4), (0.7, 0.4)], steps=2)  # ... crossed: something else ...
    time.sleep(0.1)
    page.locator('#sketch button[aria-label="Clear canvas"]').click()
    time.sleep(0.1)
    _wait_brush(page)
    for points in ([(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)], [(0.38, 0.52), (0.66, 0.52)]):  # ... then a 7
        _stroke(page, points, steps=2)
        time.sleep(0.1)
    _answer_digit(page, "7")
    _wait_answers_landed(page)
    settled = _shown_answer(page)
    page.locator("#predict-btn").click()  # the server's answer for the canvas as it is now
    time.sleep(0.5)
    _wait_answers_landed(page)
    assert _shown_answer(page) == settled
    assert page.locator("#answer .digit").inner_text() == "7"
    page.screenshot(path=tmp_path / "quick.png")


def test_phone_answer_is_visible_while_drawing(phone, tmp_path):
    """At 390x844 the compact answer line sits next to the canvas: no scrolling to see it."""
    pg = phone
    _stroke(pg, [(0.5, 0.15), (0.5, 0.85)])
    pg.wait_for_function("() => document.querySelector('#answer-line .digit')?.textContent.trim() === '1'",
                         timeout=ANSWER_TIMEOUT_MS)
    pg.screenshot(path=tmp_path / "phone-answer.png")
    assert pg.evaluate("() => window.scrollY") == 0
    line = pg.locator("#answer-line").bounding_box()
    assert line["height"] > 0 and 0 <= line["y"] and line["y"] + line["height"] <= 844
    label = pg.locator('#sketch [data-testid="block-label"]')
    assert label.count() == 0 or not label.first.is_visible()  # no label under the toolbar


def test_an_idle_page_sends_nothing(page):
    """No polling while no job runs: an open tab costs the server nothing until its visitor draws."""
    _wait_brush(page)
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/queue/join" in r.url or "/upload" in r.url else None)
    time.sleep(3.0)
    page.wait_for_timeout(100)  # let Playwright deliver the request events
    assert sent == []


def test_explanation_panel_shows_one_heat_map_per_model(page, tmp_path):
    _wait_brush(page)
    _draw_digit(page, 4)
    _answer_digit(page, "4")
    page.locator("#why").get_by_text("Why this answer").click()  # opening it explains the drawing
    page.wait_for_function("() => document.querySelector('#why-summary').innerText.includes('says 4')",
                           timeout=ANSWER_TIMEOUT_MS)
    gallery = page.locator("#why-models")
    gallery.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#why-models img').length >= 4",
                           timeout=ANSWER_TIMEOUT_MS)
    captions = gallery.inner_text()
    for name in ("MLP", "Simple CNN", "LeNet-5", "Modern CNN"):
        assert f"{name}: 4" in captions
    assert page.locator("#why-drawing img").count() == 1 and page.locator("#why-features img").count() >= 4
    page.screenshot(path=tmp_path / "why.png", full_page=True)
    # Clear empties the panel too: no explanation of a drawing that is gone.
    page.locator("#clear-btn").click()
    page.wait_for_function("() => document.querySelector('#why-summary').innerText.includes('Draw a digit')",
                           timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#why-models img").count() == 0


def test_a_correction_changes_the_visitor_table(page, tmp_path):
    _wait_brush(page)
    page.get_by_role("tab", name="Models").click()
    before = page.locator("#visitor-table").inner_text()
    page.get_by_role("tab", name="Draw & compare").click()
    _wait_brush(page)
    _draw_digit(page, 7)
    _answer_digit(page, "7")
    page.locator("#fb-7").click()  # without consent: nothing is kept
    page.wait_for_function("() => document.querySelector('#fb-msg').innerText.includes('nothing is stored')",
                           timeout=ANSWER_TIMEOUT_MS)
    page.locator("#fb-consent input").check()
    page.locator("#fb-7").click()
    page.wait_for_function("() => document.querySelector('#fb-msg').innerText.includes('kept as 7')",
                           timeout=ANSWER_TIMEOUT_MS)
    page.screenshot(path=tmp_path / "corrected.png", full_page=True)
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#visitor-table")
    table.scroll_into_view_if_needed()
    page.wait_for_function("b => document.querySelector('#visitor-table').innerText !== b", arg=before,
                           timeout=ANSWER_TIMEOUT_MS)
    after = table.inner_text()
    assert "Modern CNN" in after and "100.0%" in after
    page.screenshot(path=tmp_path / "models.png", full_page=True)


def _draw_147(page) -> None:
    _stroke(page, [(0.1, 0.25), (0.1, 0.75)])  # 1
    _stroke(page, [(0.48, 0.25), (0.3, 0.58), (0.56, 0.58)])  # 4: the open top and the bar ...
    _stroke(page, [(0.49, 0.42), (0.49, 0.75)])  # ... and its stem, a second stroke
    _stroke(page, [(0.7, 0.25), (0.92, 0.25), (0.78, 0.75)])  # 7


def test_number_mode_reads_a_three_digit_number(page, tmp_path):
    """Read, correct by typing the number, clear, and read again: the mode's label, hint and
    feedback row follow the choice, and Clear keeps working after the label changed."""
    _wait_brush(page)
    page.locator("#write-mode").get_by_label("A number").check()
    page.wait_for_function("() => document.querySelector('#sketch').innerText.includes('Write a number')",
                           timeout=ANSWER_TIMEOUT_MS)
    page.locator("#fb-number").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    page.locator("#fb-7").wait_for(state="hidden", timeout=ANSWER_TIMEOUT_MS)
    for attempt in range(2):
        _draw_147(page)
        page.screenshot(path=tmp_path / f"number-drawn-{attempt}.png", full_page=True)
        page.wait_for_function(
            "() => { const el = document.querySelector('#answer .digit');"
            " return el && el.textContent.trim() === '147'; }", timeout=ANSWER_TIMEOUT_MS)
        assert "3 digits" in page.locator("#answer").inner_text()
        assert "147" in page.locator("#compare").inner_text()
        number_pen = _ink_across(page, 0.5)  # the 1, written with the finer pen
        if attempt == 0:
            page.locator("#fb-consent input").check()
            page.locator("#fb-number textarea, #fb-number input").first.fill("147")
            page.locator("#fb-number textarea, #fb-number input").first.press("Enter")
            page.wait_for_function("() => document.querySelector('#fb-msg').innerText.includes('kept as 147')",
                                   timeout=ANSWER_TIMEOUT_MS)
            page.screenshot(path=tmp_path / "number.png", full_page=True)
        page.locator("#clear-btn").click()
        page.wait_for_function("() => document.querySelector('#answer').innerText.includes('Write a number')",
                               timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_function("() => document.querySelector('#fb-msg').innerText.includes('type the number')",
                               timeout=ANSWER_TIMEOUT_MS)  # no thanks for the drawing just cleared ...
        assert page.locator("#fb-number textarea, #fb-number input").first.input_value() == ""  # ... nor its number
        assert page.locator("#answer .digit").count() == 0
        _wait_brush(page)
        assert _ink_pixels(page) == 0
    page.locator("#write-mode").get_by_label("One digit").check()
    page.wait_for_function("() => document.querySelector('#sketch').innerText.includes('Draw one digit')",
                           timeout=ANSWER_TIMEOUT_MS)
    page.locator("#fb-7").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    page.locator("#fb-number").wait_for(state="hidden", timeout=ANSWER_TIMEOUT_MS)
    _stroke(page, [(0.1, 0.25), (0.1, 0.75)])  # the same 1, with the one-digit brush again
    _answer_digit(page, "1")
    one_pen = _ink_across(page, 0.5)
    assert 0 < number_pen and 2 * number_pen <= one_pen  # a number's digits are written finer (12 px, 28 px)


def test_a_drawn_letter_is_refused_in_the_answer_and_the_compare_table(page, tmp_path):
    _wait_brush(page)
    _stroke(page, [(0.2, 0.85), (0.5, 0.15), (0.8, 0.85)])  # a capital A: two legs ...
    _stroke(page, [(0.32, 0.58), (0.68, 0.58)])  # ... and its bar
    page.wait_for_function(
        "() => document.querySelector('#answer').innerText.includes(\"That doesn't look like a digit\")",
        timeout=ANSWER_TIMEOUT_MS)
    assert "best guess" in page.locator("#answer").inner_text()
    assert page.locator("#answer .digit").count() == 0  # no big digit claimed
    assert "not a digit" in page.locator("#compare").inner_text()
    page.screenshot(path=tmp_path / "letter.png", full_page=True)
    page.locator("#clear-btn").click()
    _answer_is_hint(page)
    _wait_brush(page)
    _draw_digit(page, 7)  # and a digit afterwards is answered again
    _answer_digit(page, "7")
