"""How well each model refuses what is not a digit, how many real digits it refuses, and how
well calibrated its probabilities are (expected calibration error, 15 bins; NLL).

Each model's card holds its temperature and threshold (fitted on MNIST validation and on
pen-style drawings of validation digits: digits/recognition/trust.py). Measured here on drawings none of
that saw:
  pen letters  the letter templates of digits/synthetic/negatives.py drawn by new writers (the same
               templates training used: an optimistic figure);
  font letters letters typeset in fonts no training run uses (negatives.font_split), traced
               and redrawn with a pen (letter shapes training never saw);
  all kinds    every kind in the training mix (negatives.MIX), new seed, held-out fonts (any
               kind made of digits drawn from MNIST *test* digits);
  wrong cuts   two MNIST test digits touching, a digit with a slice of its neighbour, a slice
               of a digit (what reading a number must not take for one digit);
  MNIST test   the 10,000 test digits;
  pen digits   MNIST test digits traced with a pen, and template digits by new writers.
The last row is the models' panel (the four energies summed), which the app uses for one
drawing when it is fitted for these weights.

    python bench/not_a_digit.py [--count 2000] [--weights DIR] [--refit]
"""

from __future__ import annotations

import argparse
import time

from digits.evaluate import predict_logits
from digits.recognition import trust
from digits.recognition.inference import ModelStore
from digits.synthetic import negatives
from digits.synthetic.penstyle import pen_split
from digits.training.data import load_mnist

HELD_OUT_SEED = 90_000  # no training run uses seeds this high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="drawings per held-out set (default: 2000)")
    parser.add_argument("--weights", default=None, help="weights folder (default: weights/)")
    parser.add_argument("--refit", action="store_true",
                        help="fit temperature and threshold here instead of reading the cards")
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_mnist()
    held_fonts = negatives.font_split()[1]
    pen_letters = negatives.negative_split(args.count, HELD_OUT_SEED, {"pen-letter": 1})
    font_letters = negatives.negative_split(args.count, HELD_OUT_SEED + 4, {"font-letter": 1}, held_fonts)
    test_glyphs = data.test.images[:, 0].numpy()
    mixed = negatives.negative_split(args.count, HELD_OUT_SEED + 1, None, held_fonts, test_glyphs)
    cuts = negatives.negative_split(args.count, HELD_OUT_SEED + 5, {"touching": 1, "part": 1}, glyphs=test_glyphs)
    pen_test = pen_split(data.test, args.count, HELD_OUT_SEED + 2)
    pen_val = pen_split(data.val, args.count, HELD_OUT_SEED + 3) if args.refit else None
    print(f"drawings made in {time.perf_counter() - start:.0f} s; held-out fonts: "
          + ", ".join(negatives.font_names(held_fonts)))
    store = ModelStore(args.weights)
    heads = ["pen letters", "font letters", "all kinds", "wrong cuts", "MNIST test", "pen digits"]
    print(f"{'model':<8} {'T':>5} {'rule':>6} " + " ".join(f"{h:>12}" for h in heads) + "   (share refused)")
    calibration, energies = {}, {}
    for name in store.available():
        net = store.get(name)
        sets = [predict_logits(net, s.images) for s in (pen_letters, font_letters, mixed, cuts, data.test, pen_test)]
        fitted = (trust.fit(predict_logits(net, data.val.images), data.val.labels, predict_logits(net, pen_val.images))
                  if args.refit else trust.Trust.from_card(store.card(name)))
        rates = [1.0 - fitted.is_digit(fitted.probabilities(lg), logits=lg).float().mean().item() for lg in sets]
        energies[name] = [trust.energy(lg, fitted.temperature) for lg in sets]
        rule = fitted.threshold if fitted.energy_threshold is None else fitted.energy_threshold
        print(f"{name:<8} {fitted.temperature:>5.2f} {rule:>6.3f} "
              + " ".join(f"{100 * r:>11.1f}%" for r in rates))
        calibration[name] = [trust.report(fitted, sets[4], data.test.labels),
                             trust.report(fitted, sets[5], pen_test.labels)]
    found = None if args.refit else store.panel()
    if found:  # the rule the app uses for one drawing: the four models' summed energy
        rates = [1.0 - found[0].accepts({n: e[k] for n, e in energies.items()}).float().mean().item()
                 for k in range(len(heads))]
        print(f"{'panel':<8} {'':>5} {found[0].energy_threshold:>6.3f} "
              + " ".join(f"{100 * r:>11.1f}%" for r in rates))
    print("\ncalibration: ECE % (15 bins) and NLL, raw softmax -> temperature-scaled")
    print(f"{'model':<8} {'MNIST test ECE':>16} {'NLL':>14} {'pen digits ECE':>16} {'NLL':>14}")
    for name, (mnist, pen) in calibration.items():
        print(f"{name:<8} " + " ".join(f"{100 * r['ece_before']:>7.2f} -> {100 * r['ece_after']:<5.2f} "
                                       f"{r['nll_before']:>6.3f} -> {r['nll_after']:<5.3f}" for r in (mnist, pen)))

if __name__ == "__main__":
    main()
