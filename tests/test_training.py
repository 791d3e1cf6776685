"""digits/training/fit.py: train, measure, write the card, replace the weights only if not worse."""

import json
import shlex
from dataclasses import replace

import torch

from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import preprocess
from digits.training.data import Split
from digits.training.engine import TrainConfig
from digits.training.fit import fit_and_save, pen_training, reproduce_command
from digits.weights import card_path, load_model, read_card, save_weights, weights_path


def test_reproduce_command_repeats_every_setting_that_changes_the_weights():
    cfg = TrainConfig.from_recipe("cnn", epochs=3, batch_size=128, lr=0.01, seed=7, max_batches=40,
                                  negatives=500, pen_digits=300, flagged_ones=200)
    args = shlex.split(reproduce_command(cfg, "bfloat16"))
    assert args[:4] == ["python", "-m", "digits", "train"]
    pairs = dict(zip(args[4::2], args[5::2]))
    assert pairs == {"--model": "cnn", "--epochs": "3", "--batch-size": "128", "--lr": "0.01", "--seed": "7",
                     "--max-batches": "40", "--precision": "bf16", "--negatives": "500", "--pen-digits": "300",
                     "--flagged-ones": "200"}
    plain = TrainConfig.from_recipe("cnn", accel=False)
    assert shlex.split(reproduce_command(plain, "float32"))[-3:] == ["--precision", "fp32", "--no-accel"]


def test_the_cli_reads_back_what_the_command_says():
    from digits.cli import build_parser

    cfg = TrainConfig.from_recipe("lenet5", epochs=2, seed=3, accel=False, pen_digits=300, flagged_ones=200)
    args = build_parser().parse_args(shlex.split(reproduce_command(cfg, "float32"))[3:])
    assert (args.model, args.epochs, args.seed, args.precision, args.no_accel, args.pen_digits,
            args.flagged_ones) == ("lenet5", 2, 3, "fp32", True, 300, 200)


def test_cancelled_run_writes_nothing(tmp_path, tiny_data):
    import threading

    cancel = threading.Event()
    cancel.set()
    cfg = TrainConfig.from_recipe("lenet5", epochs=1, batch_size=64, device="cpu", bf16=False)
    outcome = fit_and_save(cfg, tiny_data, tmp_path, cancel=cancel)
    assert outcome.path is None and not outcome.replaced and "untouched" in outcome.message
    assert list(tmp_path.iterdir()) == []


def test_worse_run_does_not_replace_the_weights(tmp_path, tiny_data):
    cfg = TrainConfig.from_recipe("lenet5", epochs=1, batch_size=64, seed=0, device="cpu", bf16=False)
    first = fit_and_save(cfg, tiny_data, tmp_path)
    assert first.replaced and card_path("lenet5", tmp_path).exists()
    card = json.loads(card_path("lenet5", tmp_path).read_text())
    card["val_accuracy"] = 1.01  # pretend the shipped weights are unbeatable
    save_weights(load_model("lenet5", tmp_path), "lenet5", card, tmp_path)
    before = weights_path("lenet5", tmp_path).read_bytes()
    second = fit_and_save(cfg, tiny_data, tmp_path)
    assert not second.replaced and "kept the previous weights" in second.message
    assert weights_path("lenet5", tmp_path).read_bytes() == before
    assert second.path is not None and second.path.exists() and "candidates" in str(second.path)
    assert second.card["previous"]["val_accuracy"] == 1.01


def test_a_finetunes_card_keeps_the_runs_before_it(tmp_path, tiny_data):
    """From scratch, the card's lineage is its own run; a fine-tune's is the runs of the weights
    it started from, then its own: their commands, in order, make the weights from scratch."""
    cfg = TrainConfig.from_recipe("lenet5", epochs=1, batch_size=64, seed=0, device="cpu", max_batches=3)
    first = fit_and_save(cfg, tiny_data, tmp_path).card
    assert first["lineage"] == [{k: first[k] for k in ("date", "command", "train_seconds", "test_accuracy")}]
    tuned = fit_and_save(replace(cfg, finetune=True), tiny_data, tmp_path, force=True).card
    assert [r["command"] for r in tuned["lineage"]] == [first["command"], tuned["command"]]
    assert "--finetune" in tuned["command"] and tuned["lineage"][0] == first["lineage"][0]
    again = fit_and_save(replace(cfg, finetune=True), tiny_data, tmp_path, force=True).card
    assert again["lineage"][:2] == tuned["lineage"] and len(again["lineage"]) == 3
    fresh = fit_and_save(cfg, tiny_data, tmp_path, force=True).card
    assert len(fresh["lineage"]) == 1  # trained from scratch: nothing before it made these weights


def test_card_records_how_the_run_computed(tmp_path, tiny_data):
    """The card says what ran (precision resolved, threads, swapped-in modules), not what was asked."""
    cfg = TrainConfig.from_recipe("lenet5", epochs=1, batch_size=64, seed=0, device="cpu", max_batches=3)
    assert cfg.bf16 is None  # "wherever the hardware has it": resolved before the card is written
    fit_and_save(cfg, tiny_data, tmp_path)
    card = read_card("lenet5", tmp_path)
    backend = card["backend"]
    assert backend["device"] == "cpu" and backend["precision"] in ("bfloat16", "float32")
    assert card["recipe"]["bf16"] == (backend["precision"] == "bfloat16")
    assert backend["threads"] == torch.get_num_threads() and backend["torch"] == torch.__version__
    assert "FullConvAsLinear" in backend["accelerated"]  # LeNet-5's last conv, swapped in on any CPU
    plain = TrainConfig.from_recipe("lenet5", epochs=1, batch_size=64, device="cpu", max_batches=3,
                                    accel=False, bf16=False)
    fit_and_save(plain, tiny_data, tmp_path / "plain")
    plain_card = read_card("lenet5", tmp_path / "plain")
    assert plain_card["backend"]["accelerated"] == [] and plain_card["backend"]["precision"] == "float32"


def test_pen_digits_are_training_digits_redrawn_with_their_labels(mnist):
    """`--pen-digits`: real training digits traced and redrawn as new writers draw them on
    the pad, each with its own label: a trained model reads them as those labels."""
    source = Split(mnist.train.images[:200], mnist.train.labels[:200])
    pen = pen_training(source, 60, seed=1)
    assert pen.images.shape == (60, 1, 28, 28) and pen_training(source, 60, seed=1) is pen  # made once
    assert not any(torch.equal(img, s) for img in pen.images for s in source.images)  # redrawn, not copied
    store = ModelStore()
    answers = store.predict_many([preprocess(img[0].numpy()) for img in pen.images], "modern")
    read = torch.tensor([int(torch.tensor(a.probabilities).argmax()) for a in answers])
    assert (read == pen.labels).float().mean() >= 0.9  # the labels are the drawings' own
    assert (read == pen.labels.roll(1)).float().mean() < 0.3
