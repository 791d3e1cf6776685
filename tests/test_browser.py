"""The app in headless Chromium as visitors use it: the pad with the mouse, answers in the
browser, Clear, the server's fallback, numbers, letters, a phone, training and feedback.

Starts `python demo.py` on a free port with a copy of the shipped weights, so training in
the test can never touch weights/. Screenshots go to each test's tmp folder.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from digits.synthetic.sketches import writer_strokes
from tests.browser import ANSWER_TIMEOUT_MS, draw_template, launch, stroke, wait_digit, wait_text
from tests.devserver import AppStartError, running_app

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser

TRAIN_BATCH_CAP = 1500  # long enough to watch progress and cancel it, far below a full run
LOOP_DIGITS = [1, 7, 4, 0, 2, 3, 5, 8, 6, 9]  # templates every model reads the same way
ONE_STROKE = {"1": [(0.5, 0.15), (0.5, 0.85)], "7": [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)],
              "0": [(0.5, 0.15), (0.32, 0.3), (0.3, 0.6), (0.5, 0.85), (0.68, 0.6), (0.68, 0.3), (0.5, 0.15)]}
MODELS_READY = "() => window.digitsLocal && window.digitsLocal.ready"
ROW_SLACK_PX = 40  # the every-model gallery may end this far below its one row of pictures


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, web_runtime):
    log = tmp_path_factory.mktemp("log") / "app.log"
    try:
        with running_app({"DIGITS_TRAIN_MAX_BATCHES": str(TRAIN_BATCH_CAP)}, log) as app:
            yield app.url, app.weights
    except AppStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def _open(browser, url, **context):
    ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context})
    pg = ctx.new_page()
    pg.goto(url)
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    return ctx, pg


@pytest.fixture
def page(browser, app_url):
    ctx, pg = _open(browser, app_url[0])
    pg.wait_for_function(MODELS_READY, timeout=30_000)
    yield pg
    ctx.close()


def _draw_digit(page, digit: int) -> None:
    draw_template(page, writer_strokes(digit, variant=0))


def _hint(page, text: str = "Draw a digit") -> None:
    wait_text(page, "#answer", text)


def _posts(page) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    return sent


def test_draw_switch_model_and_clear(page, tmp_path):
    page.screenshot(path=tmp_path / "0-start.png", full_page=True)
    assert "Draw a digit" in page.locator("#answer").inner_text()
    stroke(page, ONE_STROKE["1"])
    wait_digit(page, "1")
    assert "answered in your browser" in page.locator("#answers").inner_text()
    page.locator("#clear-btn").click()
    _hint(page)
    stroke(page, [(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)])  # a 7: the top and the diagonal ...
    stroke(page, [(0.38, 0.52), (0.66, 0.52)])  # ... and a crossbar, a second stroke
    wait_digit(page, "7")
    table = page.locator("#compare").inner_text()
    assert all(name in table for name in ("MLP", "Simple CNN", "LeNet-5", "Modern CNN"))
    page.screenshot(path=tmp_path / "1-seven.png", full_page=True)
    assert page.locator("#answer .note").inner_text().startswith("Modern CNN")
    page.locator("#model-dd input").click()
    page.get_by_role("option", name="LeNet-5").click()
    wait_text(page, "#answer .note", "LeNet-5")
    wait_digit(page, "7")
    page.screenshot(path=tmp_path / "2-lenet5.png", full_page=True)


def test_twenty_drawings_send_no_request_to_the_server(page):
    """One digit mode: every stroke, Undo and Clear is answered in the browser."""
    sent = _posts(page)
    for i in range(20):
        digit = LOOP_DIGITS[i % len(LOOP_DIGITS)]
        _draw_digit(page, digit)
        wait_digit(page, str(digit))
        page.locator("#clear-btn").click()
        _hint(page)
    page.wait_for_timeout(300)  # let Playwright deliver any late request events
    assert sent == []


@pytest.mark.slow
def test_draw_clear_draw_a_hundred_times(page, tmp_path):
    """Every drawing is answered, one-stroke digits right after Clear included, and the hint
    shows only on an empty pad (no stale answer lands after Clear)."""
    for i in range(100):
        if i % 2:
            digit = "1707"[i % 4]
            stroke(page, ONE_STROKE[digit])
        else:
            digit = str(LOOP_DIGITS[(i // 2) % len(LOOP_DIGITS)])
            _draw_digit(page, int(digit))
        wait_digit(page, digit)
        assert page.locator("#sketch .has-ink, #sketch.has-ink").count() == 1
        page.locator("#clear-btn").click()
        _hint(page)
        assert page.locator("#sketch .has-ink, #sketch.has-ink").count() == 0, f"round {i}: the pad kept its drawing"
    time.sleep(0.3)
    assert "Draw a digit" in page.locator("#answer").inner_text()
    page.screenshot(path=tmp_path / "after-100.png")


def test_undo_back_to_empty_shows_the_hint(page):
    stroke(page, ONE_STROKE["1"])
    wait_digit(page, "1")
    stroke(page, [(0.3, 0.4), (0.7, 0.4)])
    page.locator("#undo-btn").click()
    wait_digit(page, "1")
    page.locator("#undo-btn").click()
    _hint(page)


def test_a_sample_drawing_is_answered_in_one_click(page, tmp_path):
    page.locator("#sketch .pad-sample", has_text="7").click()
    wait_digit(page, "7")
    page.screenshot(path=tmp_path / "sample.png", full_page=True)


def test_without_webassembly_the_server_answers(browser, app_url, tmp_path):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.add_init_script("delete window.WebAssembly;")
    pg = ctx.new_page()
    sent = _posts(pg)
    pg.goto(app_url[0])
    pg.wait_for_selector("#sketch canvas", timeout=30_000)
    pg.wait_for_function("() => window.digitsLocal && window.digitsLocal.state.failed", timeout=30_000)
    _draw_digit(pg, 4)
    wait_digit(pg, "4")
    assert "answered on the server" in pg.locator("#answers").inner_text()
    assert any("component_server" in url for url in sent)
    pg.screenshot(path=tmp_path / "fallback.png", full_page=True)
    ctx.close()


def test_a_drawn_letter_is_refused_in_the_answer_and_the_compare_table(page, tmp_path):
    stroke(page, [(0.2, 0.85), (0.5, 0.15), (0.8, 0.85)])  # a capital A: two legs ...
    stroke(page, [(0.32, 0.58), (0.68, 0.58)])  # ... and its bar
    wait_text(page, "#answer", "That doesn't look like a digit")
    assert "best guess" in page.locator("#answer").inner_text()
    assert page.locator("#answer .digit").count() == 0  # no big digit claimed
    assert page.locator("#compare").inner_text().count("not a digit") == 4  # the models' panel judges for all four
    page.screenshot(path=tmp_path / "letter.png", full_page=True)
    page.locator("#clear-btn").click()
    _hint(page)
    _draw_digit(page, 7)  # and a digit afterwards is answered again
    wait_digit(page, "7")


def test_a_number_in_one_digit_mode_is_answered_in_the_browser_and_pointed_to_number_mode(page):
    """The browser's models refuse it; the reader's grouping, in the page too (groups.js), sees
    digits side by side: the server is not asked."""
    sent = _posts(page)
    _draw_147(page)
    wait_text(page, "#answer", "Several digits?")
    assert "answered in your browser" in page.locator("#answers").inner_text()
    assert "Choose “A number” under Write" in page.locator("#answer").inner_text()
    assert not sent
    page.locator("#clear-btn").click()
    _draw_digit(page, 7)  # one digit again: answered, no hint
    wait_digit(page, "7")
    assert "Several digits?" not in page.locator("#answer").inner_text()


def _draw_147(page) -> None:
    stroke(page, [(0.12, 0.2), (0.12, 0.8)])  # 1
    stroke(page, [(0.45, 0.2), (0.32, 0.58), (0.52, 0.58)])  # 4: the open top and the bar ...
    stroke(page, [(0.46, 0.42), (0.46, 0.8)])  # ... and its stem, a second stroke
    stroke(page, [(0.66, 0.2), (0.86, 0.2), (0.73, 0.8)])  # 7


def test_number_mode_reads_a_three_digit_number_on_a_wide_pad(page, tmp_path):
    square = page.locator("#sketch canvas").bounding_box()
    page.locator("#write-mode").get_by_label("A number").check()
    page.locator("#fb-number").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function("h => document.querySelector('#sketch canvas').getBoundingClientRect().height < h * 0.7",
                           arg=square["height"], timeout=ANSWER_TIMEOUT_MS)
    wide = page.locator("#sketch canvas").bounding_box()
    assert wide["width"] >= 1.8 * wide["height"]  # wider than tall
    for attempt in range(2):
        _draw_147(page)
        wait_digit(page, "147")
        assert "3 digits" in page.locator("#answer").inner_text()
        assert "147" in page.locator("#compare").inner_text()
        if attempt == 0:
            page.locator("#fb-consent input").check()
            page.locator("#fb-number textarea, #fb-number input").first.fill("147")
            page.locator("#fb-number textarea, #fb-number input").first.press("Enter")
            wait_text(page, "#fb-msg", "kept as 147")
            page.screenshot(path=tmp_path / "number.png", full_page=True)
        page.locator("#clear-btn").click()
        _hint(page, "Write a number")
    page.locator("#write-mode").get_by_label("One digit").check()
    page.locator("#fb-7").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    stroke(page, ONE_STROKE["1"])
    wait_digit(page, "1")


@pytest.fixture
def phone(browser, app_url):
    ctx, pg = _open(browser, app_url[0], viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    pg.wait_for_function(MODELS_READY, timeout=30_000)
    yield pg
    ctx.close()


def test_phone_width_layout_and_answer_under_the_pad(phone, tmp_path):
    pg = phone
    assert pg.evaluate("() => document.documentElement.scrollWidth") <= 400  # no sideways scrolling
    box = pg.locator("#sketch canvas").bounding_box()
    assert box["width"] <= 390 and abs(box["width"] - box["height"]) < 2
    assert pg.evaluate("() => getComputedStyle(document.querySelector('#sketch canvas')).touchAction") == "none"
    stroke(pg, ONE_STROKE["1"])
    wait_digit(pg, "1", "#answer-line .digit")
    line = pg.locator("#answer-line").bounding_box()
    assert line["height"] > 0 and line["y"] + line["height"] <= 844  # seen without scrolling
    pg.screenshot(path=tmp_path / "phone.png", full_page=True)


def test_the_why_panel_fits_a_phone(phone, tmp_path):
    """Every evidence map and feature map lies within the screen's width, under its label."""
    pg = phone
    _draw_digit(pg, 4)  # before opening the panel: opening it scrolls the pad out of sight
    wait_digit(pg, "4", "#answer-line .digit")
    pg.locator("#why").get_by_text("Why this answer").click()
    pg.wait_for_function("() => document.querySelectorAll('#why-models img').length >= 4 && "
                         "document.querySelectorAll('#why-features img').length >= 6", timeout=ANSWER_TIMEOUT_MS)
    for gallery in ("#why-models", "#why-features"):
        label, wrap, items = pg.evaluate("""(sel) => { const g = document.querySelector(sel);
            const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
            return [box(g.querySelector('label')), box(g.querySelector('.grid-wrap')),
                    [...g.querySelectorAll('.gallery-item')].map(box)]; }""", gallery)
        assert all(item[2] <= wrap[2] + 1 and item[0] >= wrap[0] - 1 for item in items), gallery
        assert label[3] <= min(item[1] for item in items), gallery  # the label is not drawn over a picture
    assert pg.evaluate("() => document.documentElement.scrollWidth") <= 400
    pg.screenshot(path=tmp_path / "phone-why.png", full_page=True)


def test_the_pen_is_the_same_at_every_screen_width(browser, app_url):
    """The pad scales with the screen and so does its pen: a stroke covers the same share."""
    widths = []
    for viewport in ({"width": 1280, "height": 800}, {"width": 390, "height": 844}):
        ctx, pg = _open(browser, app_url[0], viewport=viewport)
        pg.wait_for_function(MODELS_READY, timeout=30_000)  # the page has settled: the pad stays put
        stroke(pg, ONE_STROKE["1"])
        pg.wait_for_selector("#sketch .has-ink", timeout=ANSWER_TIMEOUT_MS)
        box = pg.locator("#sketch canvas").bounding_box()
        shot = pg.locator("#sketch canvas").screenshot()
        from io import BytesIO

        from PIL import Image

        row = np.asarray(Image.open(BytesIO(shot)).convert("L"))[int(0.5 * box["height"])]
        widths.append((row < 128).sum() / len(row))
        ctx.close()
    assert abs(widths[0] - widths[1]) < 0.02 and widths[0] > 0.05


def test_an_idle_page_sends_nothing(page):
    sent = _posts(page)
    time.sleep(3.0)
    page.wait_for_timeout(100)
    assert sent == []


def test_explanation_panel_follows_the_drawing_while_open(page, tmp_path):
    page.locator("#why").get_by_text("Why this answer").click()
    _draw_digit(page, 4)
    wait_digit(page, "4")
    wait_text(page, "#why-summary", "says 4")
    page.wait_for_function("() => document.querySelectorAll('#why-models img').length >= 4",
                           timeout=ANSWER_TIMEOUT_MS)
    captions = page.locator("#why-models").inner_text()
    for name in ("MLP", "Simple CNN", "LeNet-5", "Modern CNN"):
        assert f"{name}: 4" in captions
    gap = page.evaluate("""() => { const wrap = document.querySelector('#why-models .grid-wrap');
        const items = [...wrap.querySelectorAll('.gallery-item')].map((i) => i.getBoundingClientRect().bottom);
        return wrap.getBoundingClientRect().bottom - Math.max(...items); }""")
    assert gap < ROW_SLACK_PX  # one row of four, no empty band under it (Gradio's 450 px floor)
    page.screenshot(path=tmp_path / "why.png", full_page=True)
    page.locator("#clear-btn").click()
    wait_text(page, "#why-summary", "Draw a digit")


def test_a_correction_changes_the_visitor_table(page, tmp_path):
    page.get_by_role("tab", name="Models").click()
    before = page.locator("#visitor-table").inner_text()
    page.get_by_role("tab", name="Draw & compare").click()
    _draw_digit(page, 7)
    wait_digit(page, "7")
    page.locator("#fb-7").click()  # without consent: nothing is kept
    wait_text(page, "#fb-msg", "nothing is stored")
    page.locator("#fb-consent input").check()
    page.locator("#fb-right").click()  # ✓ Right: what the page showed
    wait_text(page, "#fb-msg", "kept as 7")
    page.get_by_role("tab", name="Models").click()
    page.locator("#visitor-table").scroll_into_view_if_needed()
    page.wait_for_function("b => document.querySelector('#visitor-table').innerText !== b", arg=before,
                           timeout=ANSWER_TIMEOUT_MS)
    assert "Modern CNN" in page.locator("#visitor-table").inner_text()
    page.screenshot(path=tmp_path / "models.png", full_page=True)


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
    page.screenshot(path=tmp_path / "training.png", full_page=True)
    assert "training (cpu, " in page.locator("#train-progress").inner_text()
    page.locator("#start-btn").click()  # a second start while one runs is refused
    wait_text(page, "#train-msg", "already running")
    page.locator("#cancel-btn").click()
    page.wait_for_function("() => document.querySelector('#train-progress').innerText.toLowerCase()"
                           ".includes('cancelled')", timeout=20_000)
    page.wait_for_function("() => !document.querySelector('#train-msg').innerText.includes('Cancelling')",
                           timeout=10_000)
    assert (weights / "mlp.safetensors").read_bytes() == before
