"""The house: what answering a drawing loads, and what it must not."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

TRAINING_SIDE = ("digits.training", "digits.synthetic", "digits.visitors.finetune")
# The app reads MNIST's test split for the Models tab's gallery of mistakes (digits.training.data);
# nothing else of training, and nothing that makes training data, until a job runs.
APP_TRAINING_SIDE = ("digits.synthetic", "digits.visitors.finetune", "digits.training.engine",
                     "digits.training.fit", "digits.training.augment", "digits.training.accel",
                     "digits.training.judge_training", "digits.training.jobs")


def _loaded_after(code: str) -> list[str]:
    """The digits modules a fresh interpreter holds after running `code`."""
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('digits'))))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"DIGITS_FEEDBACK": "off", "DIGITS_TRAINING": "off", "PATH": ""})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_digits_loads_nothing_from_the_training_side():
    loaded = _loaded_after("import digits")
    assert "digits.recognition.inference" in loaded and "digits.recognition.reading" in loaded
    assert not [m for m in loaded if m.startswith(TRAINING_SIDE)], loaded


def test_the_app_without_training_loads_nothing_from_the_training_side():
    loaded = _loaded_after("import demo\ndemo.build_app()")
    assert "digits.recognition.inference" in loaded
    assert not [m for m in loaded if m.startswith(APP_TRAINING_SIDE)], loaded


def test_the_library_never_imports_the_ui():
    for path in (ROOT / "digits").rglob("*.py"):
        text = path.read_text()
        assert "from ui" not in text and "import ui" not in text and "import demo" not in text, path


def test_ui_modules_do_not_import_each_other_in_a_circle():
    """Each ui module's imports of its siblings, followed: no module reaches itself."""
    import re

    found = lambda text: set(re.findall(r"^\s*from \.(\w+) import", text, re.M))  # noqa: E731
    deps = {p.stem: found(p.read_text()) for p in (ROOT / "ui").glob("*.py")}

    def reaches(start: str, node: str, seen: set[str]) -> bool:
        for nxt in deps.get(node, ()):
            if nxt == start or (nxt not in seen and reaches(start, nxt, seen | {nxt})):
                return True
        return False

    assert not [m for m in deps if reaches(m, m, set())]
