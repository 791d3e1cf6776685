"""The browser side: the models as ONNX for onnxruntime-web, its runtime, and a static site.

The page answers one digit in the visitor's browser, so a crowd costs the server nothing:
`static/strokes.js` makes the 28x28 from the pad's strokes exactly as
`digits.recognition.strokes` does, `static/local.js` runs the four ONNX models exported here
with each card's temperature and threshold, `static/groups.js` groups the ink as the number
reader does (after a refusal: "several digits?"), and `static/views.js` turns the results
into HTML, on the page and in the app alike. The results dict both sides make:

    {"mode": "digit", "where": "browser" | "server", "selected": NAME,
     "empty": REASON (only when nothing is drawn), "seen": [784 floats, the 28x28],
     "models": [{"name", "display", "probs": [10 calibrated], "refused": bool, "ms"}],
     "several": bool (after a refusal), "numbers": false (the static page: no number mode)}

Number mode is answered on the server only (`"mode": "number"`, `"readings"`, `"picture"`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch

from digits.config import IMAGE_SIZE, MNIST_MEAN, MNIST_STD, PROJECT_ROOT
from digits.models import get_spec

STATIC = Path(__file__).resolve().parent / "static"  # the page's own JS, HTML and CSS
VENDOR = STATIC / "vendor"  # onnxruntime-web's files, copied from node_modules by `build_runtime`
ORT_DIST = Path("node_modules") / "onnxruntime-web" / "dist"
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_SCRIPTS = ("strokes.js", "groups.js", "local.js", "views.js")  # loaded by every page, after the runtime
ONNX_OPSET = 17
INPUT, OUTPUT = "image", "logits"
SAMPLES = STATIC / "samples.json"  # the sample drawings' strokes


class RuntimeMissing(RuntimeError):
    """onnxruntime-web has not been vendored (run `python -m digits web-runtime`)."""


def runtime_ready() -> bool:
    return all((VENDOR / f).is_file() for f in RUNTIME_FILES)


def build_runtime(project: Path = PROJECT_ROOT, npm: str = "npm") -> Path:
    """Install onnxruntime-web from the npm registry (package-lock.json pins it) and copy the
    three files the page needs into `static/vendor/`. Nothing is fetched at run time."""
    dist = project / ORT_DIST
    if not all((dist / f).is_file() for f in RUNTIME_FILES):
        if shutil.which(npm) is None:
            raise RuntimeMissing("npm is not installed: install Node.js, then run `python -m digits web-runtime`")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=project, check=True)
    VENDOR.mkdir(parents=True, exist_ok=True)
    for f in RUNTIME_FILES:
        shutil.copy2(dist / f, VENDOR / f)
    return VENDOR


def runtime_bytes() -> dict[str, int]:
    return {f: (VENDOR / f).stat().st_size for f in RUNTIME_FILES if (VENDOR / f).is_file()}


def onnx_bytes(model: torch.nn.Module) -> bytes:
    """One model as ONNX (batch size free), exported on the CPU in eval mode."""
    model = model.eval().cpu()
    x = torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE)
    buf = io.BytesIO()
    # The TorchScript exporter needs only the `onnx` package (the dynamo exporter also needs
    # onnxscript); both give the same graph for these plain nn.Sequential models.
    torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=ONNX_OPSET, input_names=[INPUT],
                      output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    return buf.getvalue()


def export_models(store: Any, out: str | os.PathLike) -> dict[str, Any]:
    """Every loadable model of `store` as OUT/NAME.onnx, and OUT/models.json with what the page
    needs beside them: display names, each card's temperature and "not a digit" threshold, and
    the models' panel (or null) that judges one drawing with all of them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    models = []
    for name, entry in store.loaded(None):
        (out / f"{name}.onnx").write_bytes(onnx_bytes(entry.model))
        models.append({"name": name, "display": get_spec(name).display_name, "file": f"{name}.onnx",
                       "temperature": entry.trust.temperature, "threshold": entry.trust.threshold,
                       "energy_threshold": entry.trust.energy_threshold,
                       "test_accuracy": entry.card.get("test_accuracy"), "weights": entry.card.get("date")})
    found = store.panel()
    panel = None if found is None else {"members": list(found[0].members),
                                         "energy_threshold": found[0].energy_threshold}
    manifest = {"models": models, "panel": panel, "mean": MNIST_MEAN, "std": MNIST_STD, "input": INPUT,
                "output": OUTPUT, "opset": ONNX_OPSET}
    (out / "models.json").write_text(json.dumps(manifest, indent=1))
    return manifest


class WebModels:
    """The ONNX export of the current weights, made once per set of weight files and reused
    across restarts (a folder per version under `root`); thread-safe."""

    def __init__(self, store: Any, root: str | os.PathLike):
        self.store, self.root = store, Path(root)
        self._lock = threading.Lock()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:  # an unwritable cache: a temporary folder (exported again after a restart)
            self.root = Path(tempfile.mkdtemp(prefix="digits-web-models-"))

    def version(self) -> str:
        """Changes whenever a weight file or the panel (refitted just after new weights) does."""
        stamp = [(n, self.store.version(n)) for n in sorted(self.store.available())] + [self.store.panel_version()]
        return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:12]

    def folder(self) -> Path:
        """The folder holding models.json and the .onnx files for the weights on disk now."""
        with self._lock:
            folder = self.root / self.version()
            if not (folder / "models.json").is_file():
                tmp = folder.with_name(folder.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                export_models(self.store, tmp)
                shutil.rmtree(folder, ignore_errors=True)
                tmp.rename(folder)
            return folder


def samples() -> list[dict[str, Any]]:
    """The sample drawings: {label, strokes, width, height} each."""
    return json.loads(SAMPLES.read_text())


def script(name: str) -> str:
    return (STATIC / name).read_text()


def export_site(out: str | os.PathLike, store: Any) -> Path:
    """A static Draw & compare page in OUT: no Python server needed, any file server shows it."""
    if not runtime_ready():
        raise RuntimeMissing("onnxruntime-web is not vendored yet: run `python -m digits web-runtime` (needs npm)")
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    for f in (*PAGE_SCRIPTS, "pad.js", "page.js", "style.css"):
        shutil.copy2(STATIC / f, out / f)
    for f in RUNTIME_FILES:
        shutil.copy2(VENDOR / f, out / f)
    export_models(store, out / "models")
    page = script("page.html").replace("__SAMPLES__", json.dumps(samples())).replace("__PAD__", script("pad.html"))
    (out / "index.html").write_text(page)
    (out / "README.md").write_text(STATIC_SPACE_README)  # upload the folder as a Static Space as it is
    (out / ".gitattributes").write_text("*.wasm filter=lfs diff=lfs merge=lfs -text\n"
                                        "*.onnx filter=lfs diff=lfs merge=lfs -text\n")
    return out


STATIC_SPACE_README = """---
title: digits (in your browser)
emoji: ✍️
colorFrom: indigo
colorTo: pink
sdk: static
app_file: index.html
pinned: false
license: mit
short_description: Draw a digit; four PyTorch models answer in your browser
---

Draw a digit: an MLP, a simple CNN, LeNet-5 and a modern CNN, trained with PyTorch on MNIST
and exported to ONNX, answer in your browser with onnxruntime-web. No server computes
anything. Made with `python -m digits export-web`.
"""
