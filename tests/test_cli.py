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


def test_predict_on_a_number_points_to_read(tmp_path, capsys):
    """A number given to `predict` is refused by every model; the text output says where
    numbers are read, as the app's "Several digits?" hint does. JSON lines stay JSON only."""
    from digits.cli import main
    from digits.synthetic.sketches import number_canvas

    number, one = tmp_path / "number.png", tmp_path / "one.png"
    Image.fromarray(number_canvas("2026", (800, 400))).save(number)
    Image.fromarray(render(7, canvas=300, brush=14, variant=0)).save(one)
    assert main(["predict", "--model", "all", str(number), str(one)]) == 0
    out, err = capsys.readouterr()
    assert out.count("not a digit") == 4 and "several digits" not in out
    assert f"{number}\tseveral digits side by side?" in err and str(one) not in err
    assert main(["predict", "--model", "all", "--json", str(number)]) == 0
    assert "several digits" not in capsys.readouterr().err


def test_explain_says_when_it_explains_a_best_guess(tmp_path, capsys):
    """The maps of a refused drawing explain the model's best guess, and the line says so."""
    from digits.cli import main
    from digits.synthetic.sketches import number_canvas

    number, one = tmp_path / "number.png", tmp_path / "one.png"
    Image.fromarray(number_canvas("2026", (800, 400))).save(number)
    Image.fromarray(render(7, canvas=300, brush=14, variant=0)).save(one)
    assert main(["explain", "--model", "modern", "--out", str(tmp_path / "why"), str(number), str(one)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "\tmodern\tnot a digit (best guess " in lines[0] and ", runner-up " in lines[0]
    assert "\tmodern\t7 (runner-up " in lines[1]
    assert (tmp_path / "why" / "number.modern.drawing.png").exists()


def test_output_piped_into_a_reader_that_stops_early_is_no_traceback(tmp_path):
    """`python -m digits predict ... | head -1`: the reader closes the pipe; no traceback."""
    import subprocess as sp

    for k in range(40):
        Image.fromarray(render(k % 10, canvas=120, brush=8, variant=0)).save(tmp_path / f"d{k:02d}.png")
    proc = sp.Popen([sys.executable, "-m", "digits", "predict", "--model", "all", "--json", "--workers", "1",
                     str(tmp_path)], cwd=ROOT, stdout=sp.PIPE, stderr=sp.PIPE)
    assert proc.stdout.read(1) == b"{"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err, err
