"""The browser side: ONNX export, the vendored runtime, the static page, and the JS
preprocessing and models held to the Python ones on thousands of pen-style drawings."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from digits import web
from digits.recognition.inference import ModelStore
from digits.recognition.pieces import digit_groups
from digits.recognition.preprocess import ink_map, preprocess
from digits.recognition.stray import stray_marks
from digits.recognition.strokes import NUMBER_PAD, NUMBER_PEN_PX, PAD_PX, PEN_PX, parse_strokes, strokes_to_28
from digits.synthetic.penstyle import skeleton_strokes
from digits.synthetic.sketches import DIGIT_ASPECT, writer_strokes
from tests.browser import launch, stroke, wait_digit
from tests.conftest import ROOT
from tests.devserver import free_port
from ui.views import percent

PARITY_DRAWINGS = 2000  # pen-style drawings through both pipelines
AGREE = 0.995  # the same answer or refusal for at least this share, per model
PROB_TOLERANCE = 0.01
GROUP_PADS = 300  # numbers of 1-4 digits through both groupings
GROUPS_AGREE = 0.97  # the same number of groups (JS rasterises the pen itself: digits a pixel apart may differ)
SEVERAL_AGREE = 0.99  # the same "several digits?" for at least this share


def test_onnx_export_matches_the_torch_models(tmp_path):
    onnx = pytest.importorskip("onnx")
    store = ModelStore()
    manifest = web.export_models(store, tmp_path)
    assert [m["name"] for m in manifest["models"]] == ["mlp", "cnn", "lenet5", "modern"]
    for m in manifest["models"]:
        model = onnx.load(str(tmp_path / m["file"]))
        onnx.checker.check_model(model)
        assert [i.name for i in model.graph.input] == [web.INPUT]
        trust = store.trust(m["name"])
        assert m["temperature"] == trust.temperature and m["threshold"] == trust.threshold
    assert manifest["panel"] == {"members": ["mlp", "cnn", "lenet5", "modern"],
                                 "energy_threshold": store.panel()[0].energy_threshold}
    assert json.loads((tmp_path / "models.json").read_text()) == manifest


def test_web_models_are_exported_once_per_set_of_weights(tmp_path):
    store = ModelStore()
    models = web.WebModels(store, tmp_path)
    first = models.folder()
    mtime = (first / "models.json").stat().st_mtime_ns
    assert models.folder() == first and (first / "models.json").stat().st_mtime_ns == mtime


def test_strokes_parse_with_limits_and_clear_messages():
    s = parse_strokes({"strokes": [[[1, 2], [3, 4]], []], "width": 336, "height": 336, "pen": 28})
    assert len(s.strokes) == 1 and s.strokes[0].shape == (2, 2)
    for bad, message in [({"strokes": 3}, "a drawing is"), ({"strokes": [[[1, "x"]]]}, "list of"),
                         ({"strokes": [], "pen": -1}, "pen must be"), ({"strokes": [[[0, 0]]] * 401}, "too many")]:
        with pytest.raises(ValueError, match=message):
            parse_strokes(bad)


def test_the_stroke_pipeline_centres_the_mass_and_fits_the_box():
    image, fit = strokes_to_28(parse_strokes({"strokes": [[[100, 50], [120, 300]]], "width": 336, "height": 336,
                                              "pen": PEN_PX}))
    ys, xs = np.mgrid[0:28, 0:28]
    assert abs((ys * image).sum() / image.sum() - 14) < 0.05 and abs((xs * image).sum() / image.sum() - 14) < 0.05
    rows = np.nonzero(image.max(axis=1) > 0.5)[0]
    assert 18 <= rows.max() - rows.min() + 1 <= 21  # the ink's box is about 20 px tall


def pen_drawings(n: int, seed: int = 0) -> tuple[list[dict], list[int]]:
    """Pen-style drawings as a pad sends them: MNIST-test-like skeletons are not needed here,
    the writer templates and traced synthetic glyphs at random sizes, places and pens."""
    rng = np.random.default_rng(seed)
    drawings, labels = [], []
    for i in range(n):
        digit = i % 10
        unit = writer_strokes(digit, rng)
        h = rng.uniform(0.35, 0.85) * PAD_PX
        w = h * DIGIT_ASPECT
        x0, y0 = rng.uniform(0, PAD_PX - w), rng.uniform(0, PAD_PX - h)
        pen = float(rng.uniform(0.3, 1.4) * PEN_PX)
        strokes = [[[round(x0 + x * w, 1), round(y0 + y * h, 1)] for x, y in s] for s in unit]
        drawings.append({"strokes": strokes, "width": PAD_PX, "height": PAD_PX, "pen": round(pen, 1)})
        labels.append(digit)
    return drawings, labels


def traced_drawings(mnist_test, n: int, seed: int = 1) -> tuple[list[dict], list[int]]:
    """MNIST test digits traced along their skeletons, as strokes on the pad."""
    rng = np.random.default_rng(seed)
    drawings, labels = [], []
    for i in rng.choice(len(mnist_test.labels), n, replace=False):
        unit = skeleton_strokes(mnist_test.images[i, 0].numpy())
        h = rng.uniform(0.35, 0.85) * PAD_PX
        x0, y0 = rng.uniform(0, PAD_PX - h, size=2)
        pen = float(rng.uniform(0.3, 1.4) * PEN_PX)
        drawings.append({"strokes": [[[round(x0 + x * h, 1), round(y0 + y * h, 1)] for x, y in s] for s in unit],
                         "width": PAD_PX, "height": PAD_PX, "pen": round(pen, 1)})
        labels.append(int(mnist_test.labels[i]))
    return drawings, labels


@pytest.fixture(scope="module")
def site(tmp_path_factory, web_runtime):
    """The static page, exported and served by `python -m http.server` on loopback."""
    out = web.export_site(tmp_path_factory.mktemp("site"), ModelStore())
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1", "-d", str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    yield f"http://127.0.0.1:{port}/index.html"
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def page(site):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        pg = browser.new_page(viewport={"width": 1100, "height": 800})
        pg.goto(site)
        pg.wait_for_function("() => window.digitsLocal && window.digitsLocal.ready", timeout=30_000)
        yield pg
        browser.close()


@pytest.mark.browser
def test_the_static_page_answers_drawn_digits_with_no_server(page, tmp_path):
    stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)])
    wait_digit(page, "7")
    assert "Modern CNN" in page.locator("#compare").inner_text()
    page.locator("#clear-btn").click()
    page.wait_for_function("() => document.querySelector('#answer').innerText.includes('Draw a digit')")
    page.locator("#sketch .pad-sample", has_text="3").click()
    wait_digit(page, "3")
    stroke(page, [(0.5, 0.5), (0.52, 0.5)])  # a speck beside the 3 changes nothing
    wait_digit(page, "3")
    page.screenshot(path=tmp_path / "static.png", full_page=True)


MARKED_ROWS = """(v) => { const d = document.createElement("div"); d.innerHTML = digitsRender(v);
  return [...d.querySelectorAll("#compare tr.differs td:first-child")].map((t) => t.textContent); }"""


@pytest.mark.browser
def test_a_tie_never_marks_the_answer_shown_as_reading_it_otherwise(page):
    """Two models read "2026" and two "2826" (or two say 4 and two 9): the rows marked in red
    are the two that differ from the answer shown large, whichever model is selected."""
    names = {"mlp": "MLP", "cnn": "Simple CNN", "lenet5": "LeNet-5", "modern": "Modern CNN"}
    said = {"mlp": 2826, "cnn": 2026, "lenet5": 2826, "modern": 2026}
    readings = [{"name": n, "display": d, "text": str(said[n]), "refused": False, "confidence": 0.8, "digits": 4,
                 "ms": 1.0} for n, d in names.items()]
    models = [{"name": n, "display": d, "probs": np.eye(10)[4 if said[n] == 2826 else 9].tolist(), "refused": False,
               "ms": 1.0} for n, d in names.items()]
    for selected, odd in (("modern", {"MLP", "LeNet-5"}), ("mlp", {"Simple CNN", "Modern CNN"})):
        for results in ({"mode": "number", "readings": readings}, {"mode": "digit", "models": models}):
            marked = page.evaluate(MARKED_ROWS, {**results, "selected": selected})
            assert set(marked) == odd, (selected, results["mode"])


@pytest.mark.browser
def test_a_refused_number_shows_no_confidence(page):
    """A number with a piece that is no digit is claimed by no model: its confidence cell is a
    dash, not 0.0% (which reads as "sure it is not a digit"); a read number keeps its bar."""
    readings = [{"name": "mlp", "display": "MLP", "text": None, "refused": True, "confidence": 0.0, "digits": 3,
                 "ms": 1.0},
                {"name": "modern", "display": "Modern CNN", "text": "245", "refused": False, "confidence": 0.8,
                 "digits": 3, "ms": 1.0}]
    cells = page.evaluate("""(v) => { const d = document.createElement("div"); d.innerHTML = digitsRender(v);
        return [...d.querySelectorAll("#compare td.conf")].map((t) => t.textContent); }""",
                          {"mode": "number", "readings": readings, "selected": "modern"})
    assert cells == ["–", "80.0%"]
    everyone = [{**r, "text": None, "refused": True, "confidence": 0.0} for r in readings]
    verdict = page.evaluate("""(v) => { const d = document.createElement("div"); d.innerHTML = digitsRender(v);
        return d.querySelector(".verdict").textContent; }""",
                            {"mode": "number", "readings": everyone, "selected": "modern"})
    assert verdict == "No model reads a number here."  # not "All models read the same number."


SHOWN_PROBABILITIES = (0.8, 0.856, 0.994, 0.995, 0.997, 0.9994, 0.99996, 1.0)  # from unsure to certain
NOTE_AND_CELL = """(v) => { const d = document.createElement("div"); d.innerHTML = digitsRender(v);
    const cell = d.querySelector("#compare td.conf");
    return [d.querySelector("#answer .note").textContent, cell ? cell.textContent : null]; }"""


@pytest.mark.browser
def test_a_probability_short_of_certain_never_reads_100_percent(page):
    """A calibrated 99.7% is shown as 99.7%, not rounded up to "100% sure" (the table beside it
    said 99.7%); only a probability of 1 reads 100%, and the page and the server's Why panel
    (`ui.views.percent`) write each the same way."""
    shown = []
    for p in SHOWN_PROBABILITIES:
        model = {"name": "modern", "display": "Modern CNN", "probs": [p] + [(1 - p) / 9] * 9, "refused": False,
                 "ms": 1.0}
        shown.append(page.evaluate(NOTE_AND_CELL, {"mode": "digit", "models": [model], "selected": "modern"}))
    notes, cells = [n for n, _ in shown], [c for _, c in shown]
    assert notes == [f"Modern CNN: {percent(p)} sure" for p in SHOWN_PROBABILITIES]
    assert notes[3:] == ["Modern CNN: 99.5% sure", "Modern CNN: 99.7% sure", "Modern CNN: 99.9% sure",
                         "Modern CNN: >99.9% sure", "Modern CNN: 100% sure"]
    assert cells[-3:] == ["99.9%", ">99.9%", "100.0%"]
    bars = page.evaluate("""(v) => { const d = document.createElement("div"); d.innerHTML = digitsRender(v);
        return [...d.querySelectorAll(".probs .p")].map((x) => x.textContent); }""",
                         {"mode": "digit", "selected": "modern", "models": [
                             {"name": "modern", "display": "Modern CNN", "probs": [0.9996, 0.0003] + [1e-5] * 8,
                              "refused": False, "ms": 1.0}]})
    assert bars == [">99.9%", "<0.1%", "<0.1%"]  # not 100.0%, 0.0%, 0.0%
    sure = {"name": "modern", "display": "Modern CNN", "probs": [0.997, 0.002] + [1.25e-4] * 8, "refused": False,
            "ms": 1.0}
    runner_up = page.evaluate("""(v) => { const d = document.createElement("div"); d.innerHTML = digitsRender(v);
        return d.querySelectorAll("#compare td")[3].textContent; }""",
                              {"mode": "digit", "selected": "modern", "models": [sure]})
    assert runner_up == "1 (<1%)"  # as text, not "1 (&lt;1%)" escaped twice
    reading = {"name": "modern", "display": "Modern CNN", "text": "2026", "refused": False, "confidence": 0.997,
               "digits": 4, "ms": 1.0}
    note, _ = page.evaluate(NOTE_AND_CELL, {"mode": "number", "readings": [reading], "selected": "modern"})
    assert note == "Modern CNN: 4 digits, 99.7% sure of them all"

def number_pads(n: int, seed: int = 0) -> list[dict]:
    """Numbers of 1-4 template digits on either pad, with its pen, gaps from slightly
    overlapping to half a digit's height."""
    rng = np.random.default_rng(seed)
    pads = []
    for k in range(n):
        (width, height), pen = ((PAD_PX, PAD_PX), PEN_PX) if k % 2 else (NUMBER_PAD, NUMBER_PEN_PX)
        text = rng.integers(0, 10, int(rng.integers(1, 5)))
        h = min(0.8 * height, 0.9 * width / (len(text) * (DIGIT_ASPECT + 0.5)))
        x, top, strokes = 0.05 * width, rng.uniform(0.05, 0.15) * height, []
        for digit, gap in zip(text, rng.uniform(-0.05, 0.5, len(text))):
            w = DIGIT_ASPECT * h
            strokes += [[[x + u * w, top + v * h] for u, v in s] for s in writer_strokes(int(digit), rng)]
            x += w + gap * h
        pads.append({"strokes": strokes, "width": width, "height": height, "pen": pen})
    return pads


@pytest.mark.browser
def test_the_pages_grouping_of_ink_matches_the_readers(page):
    """groups.js (the "several digits?" hint where no server reads numbers) against
    `pieces.digit_groups` on the same pads."""
    pads = number_pads(GROUP_PADS)
    in_browser = page.evaluate("(pads) => pads.map((p) => digitsGroups.digitGroups(p).length)", pads)
    in_python = [len(digit_groups(ink_map(p))) for p in pads]
    assert len(set(in_python)) == 4  # one to four digits apart, and some run into each other
    assert np.mean([a == b for a, b in zip(in_browser, in_python)]) >= GROUPS_AGREE
    assert np.mean([(a > 1) == (b > 1) for a, b in zip(in_browser, in_python)]) >= SEVERAL_AGREE


@pytest.mark.browser
def test_the_static_page_says_it_reads_one_digit_when_a_number_is_drawn(page):
    page.locator("#clear-btn").click()
    stroke(page, [(0.12, 0.2), (0.12, 0.8)])  # 147, as the app's test writes it in one-digit mode
    stroke(page, [(0.45, 0.2), (0.32, 0.58), (0.52, 0.58)])
    stroke(page, [(0.46, 0.42), (0.46, 0.8)])
    stroke(page, [(0.66, 0.2), (0.86, 0.2), (0.73, 0.8)])
    page.wait_for_function("() => document.querySelector('#answer').innerText.includes('Several digits?')")
    assert "reads one digit at a time" in page.locator("#answer").inner_text()
    page.locator("#clear-btn").click()
    stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)])
    wait_digit(page, "7")
    assert "Several digits?" not in page.locator("#answer").inner_text()


def tap_sets(n: int, rng: np.random.Generator) -> list[list[list[float]]]:
    """A digit's box and one to three small marks anywhere on the pad: some near it, some apart."""
    sets = []
    for _ in range(n):
        x0, y0 = rng.uniform(0, 200, 2)
        marks = [[x0, y0, x0 + rng.uniform(40, 130), y0 + rng.uniform(80, 130)]]
        for _ in range(rng.integers(1, 4)):
            x, y, size = *rng.uniform(0, PAD_PX, 2), rng.uniform(4, 60)
            marks.append([x, y, x + size, y + size])
        sets.append([[round(float(v), 1) for v in box] for box in marks])
    return sets


@pytest.mark.browser
def test_the_browser_leaves_out_the_taps_python_leaves_out(page):
    """strokes.js's twin of `stray.stray_marks`: the same marks dropped, in the same order, and
    a pad with taps beside the digit seen as the digit alone."""
    sets = tap_sets(300, np.random.default_rng(11))
    in_browser = page.evaluate("(sets) => sets.map((boxes) => digitsStrokes.strayMarks(boxes))", sets)
    in_python = [stray_marks(boxes) for boxes in sets]
    assert in_browser == in_python
    assert 0.2 < np.mean([bool(s) for s in in_python]) < 0.9  # both kinds of sets are asked about
    drawings, _ = pen_drawings(40, seed=12)
    tapped = [{**d, "strokes": d["strokes"] + [[[2.0, 2.0], [3.0, 3.0]]]} for d in drawings]  # top left
    as_drawn = 0
    for d, t, b in zip(drawings, tapped, _browser_results(page, tapped)):
        seen = strokes_to_28(parse_strokes(t))[0]
        assert np.abs(np.asarray(b["seen"]) - seen.ravel()).max() < 2e-3
        as_drawn += np.array_equal(seen, strokes_to_28(parse_strokes(d))[0])
    assert as_drawn >= 0.9 * len(drawings)  # the rest: digits reaching within 5% of the corner


def _browser_results(page, drawings: list[dict]) -> list[dict]:
    """Every drawing through strokes.js and the four ONNX models, in the page."""
    out = []
    for chunk in range(0, len(drawings), 250):
        out += page.evaluate("""async (ds) => { const r = [];
          for (const d of ds) { const a = await digitsLocal.answer(d, 'modern');
            r.push({seen: a.seen || null, models: (a.models || []).map(m => [m.name, m.probs, m.refused])}); }
          return r; }""", drawings[chunk:chunk + 250])
    return out


@pytest.mark.browser
@pytest.mark.slow
def test_the_browser_and_python_agree_on_thousands_of_pen_drawings(page, mnist):
    drawings, labels = pen_drawings(PARITY_DRAWINGS // 2)
    traced, traced_labels = traced_drawings(mnist.test, PARITY_DRAWINGS // 2)
    drawings, labels = drawings + traced, labels + traced_labels
    in_browser = _browser_results(page, drawings)
    store = ModelStore()
    same = {name: 0 for name in store.available()}
    worst = 0.0
    right = {name: [0, 0] for name in store.available()}  # browser, Python
    for d, label, b in zip(drawings, labels, in_browser):
        preds = store.classify_all(preprocess(d))
        assert np.abs(np.asarray(b["seen"]) - preds["modern"].image28.ravel()).max() < 2e-3
        for name, probs, refused in b["models"]:
            p = preds[name]
            said_b = None if refused else int(np.argmax(probs))
            same[name] += said_b == p.digit
            worst = max(worst, float(np.abs(np.asarray(probs) - np.asarray(p.probabilities)).max()))
            right[name][0] += said_b == label
            right[name][1] += p.digit == label
    n = len(drawings)
    assert all(count / n >= AGREE for count in same.values()), same
    assert worst <= PROB_TOLERANCE, worst
    for name, (b, p) in right.items():
        assert abs(b - p) <= (1 - AGREE) * n, (name, b, p)  # accuracy through the browser as through Python


def test_python_strokes_match_the_image_path_on_pen_drawings():
    """The stroke pipeline is at least as accurate as drawing the strokes and reading the image."""
    from digits.recognition.strokes import render_pad

    drawings, labels = pen_drawings(200, seed=7)
    store = ModelStore()
    strokes_right = images_right = 0
    for d, label in zip(drawings, labels):
        strokes_right += store.predict(d, "modern").digit == label
        ink = render_pad(parse_strokes(d))
        rgba = np.zeros(ink.shape + (4,), np.uint8)
        rgba[..., 3] = (ink * 255).round().astype(np.uint8)
        images_right += store.predict(rgba, "modern").digit == label
    assert strokes_right >= images_right - 2 and strokes_right >= 0.97 * len(labels), (strokes_right, images_right)


def test_a_panel_refitted_after_the_weights_gets_its_own_export(tmp_path):
    import shutil

    from digits.recognition.panel import PANEL_FILE

    weights = tmp_path / "weights"
    shutil.copytree(ROOT / "weights", weights)
    (weights / PANEL_FILE).rename(tmp_path / PANEL_FILE)  # new weights saved, the panel not yet refitted
    store = ModelStore(weights)
    models = web.WebModels(store, tmp_path / "web")
    before = json.loads((models.folder() / "models.json").read_text())
    shutil.copy(tmp_path / PANEL_FILE, weights / PANEL_FILE)  # the refit lands
    after = json.loads((models.folder() / "models.json").read_text())
    assert before["panel"] is None and after["panel"]["members"] == ["mlp", "cnn", "lenet5", "modern"]
