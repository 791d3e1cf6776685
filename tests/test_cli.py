import json
import subprocess
import sys

from PIL import Image

from digits.synthetic.sketches import render
from tests.conftest import ROOT


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "digits", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def test_predict_json_lines_with_an_error_line(tmp_path):
    good = tmp_path / "four.png"
    Image.fromarray(render(4, canvas=300, brush=14, variant=0)).save(good)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(blank)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    proc = run_cli("predict", "--model", "all", "--json", str(good), str(broken), str(blank))
    assert proc.returncode != 0
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    models = [r["model"] for r in rows if r["file"] == str(good)]
    assert len(models) == 4 and len(rows) == 12
    for row in rows:
        if row["file"] == str(good):
            assert isinstance(row["digit"], int) and len(row["probabilities"]) == 10
            assert abs(sum(row["probabilities"]) - 1) < 1e-3
        elif row["file"] == str(broken):
            assert "error" in row and row["digit"] is None
        else:
            assert row["digit"] is None and "error" not in row
    assert [r["digit"] for r in rows if r["file"] == str(good) and r["model"] == "modern"] == [4]


def test_predict_success_exits_zero(tmp_path):
    good = tmp_path / "one.png"
    Image.fromarray(render(1, canvas=200, brush=10, variant=0)).save(good)
    proc = run_cli("predict", "--model", "lenet5", "--json", str(good))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model"] == "lenet5"


def test_missing_mnist_is_one_clear_error(tmp_path, monkeypatch, capsys):
    """No files and no reachable mirror: one message naming the folder, no traceback."""
    from torchvision.datasets import MNIST

    from digits.cli import main

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # a closed local port
    monkeypatch.setenv("DIGITS_DATA", str(tmp_path / "nowhere"))
    code = main(["train", "--model", "mlp", "--max-batches", "1", "--weights-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "MNIST was not found under" in err and "Traceback" not in err
    assert str(tmp_path / "nowhere") in err


def test_unknown_model_is_reported(tmp_path):
    proc = run_cli("train", "--model", "resnet999", "--weights-dir", str(tmp_path))
    assert proc.returncode == 2 and "unknown model 'resnet999'" in proc.stderr


def test_list_shows_every_model_with_its_shipped_accuracy():
    import json as _json

    proc = run_cli("list")
    assert proc.returncode == 0
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert set(lines) == {"mlp", "cnn", "lenet5", "modern"}
    for name, line in lines.items():
        card = _json.loads((ROOT / "weights" / f"{name}.json").read_text())
        assert f"test {100 * card['test_accuracy']:.2f}%" in line, line  # not "no usable weights"


def test_predict_a_folder_with_workers_matches_the_library_in_order(tmp_path):
    """A directory (sorted), a glob, two worker processes: the same answers as `predict_all`, in input order."""
    from digits.batch import INLINE_BELOW
    from digits.recognition.inference import ModelStore

    digits_drawn = [i % 10 for i in range(INLINE_BELOW + 6)]  # enough files to use the worker pool
    for i, d in enumerate(digits_drawn):
        Image.fromarray(render(d, canvas=200, brush=10, variant=0)).save(tmp_path / f"{i:03d}.png")
    proc = run_cli("predict", "--model", "all", "--json", "--workers", "2", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    files = sorted(str(p) for p in tmp_path.glob("*.png"))
    assert [r["file"] for r in rows[::4]] == files and len(rows) == 4 * len(files)
    store = ModelStore()
    for row in rows[:8] + rows[-8:]:
        expected = store.predict_all(row["file"])[row["model"]]
        assert row["digit"] == expected.digit
        assert max(abs(a - b) for a, b in zip(row["probabilities"], expected.probabilities)) < 1e-4
    glob_rows = run_cli("predict", "--model", "lenet5", "--json", str(tmp_path / "00*.png")).stdout.splitlines()
    assert [json.loads(r)["file"] for r in glob_rows] == [f for f in files if "/00" in f]
