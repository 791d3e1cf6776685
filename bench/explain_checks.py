"""Do the explanation maps mean something? Per model and method, on MNIST test digits:

- deletion: the share of digits where erasing the 10% most credited ink lowers the answer's
  probability more than erasing a random 10% (the mean of 8 random draws); target >= 90%;
- sanity (Adebayo et al.): rank correlation on the ink between the trained model's map and
  an untrained model's; target < 0.5;
- on the ink: the share of positive credit within 6 px of the strokes of drawn digits
  (sketchpad canvases of digits/synthetic/sketches.py), mapped back onto the canvas; target >= 80%.

Also the methods that were tried and not shipped (gradient x input, Grad-CAM), for the README.

    python bench/explain_checks.py [--digits 1000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from digits.explain.explanations import METHODS, averaged_gradient_x_input, conv_activations, explain, forward_keeping
from digits.explain.faithfulness import (
    deletion_drops,
    deletion_win_rate,
    mass_near_ink,
    predicted,
    randomised_correlations,
)
from digits.models import create_model
from digits.recognition.inference import ModelStore
from digits.recognition.preprocess import ink_map
from digits.synthetic.sketches import app_canvas
from digits.training.data import load_split, normalize

NEAR_STROKE_PX = 6


def ink_share(store: ModelStore, model: str, method: str) -> float:
    shares = [mass_near_ink(e.heat_input, ink_map(c) > 0, NEAR_STROKE_PX)
              for d in range(10) for v in range(3)
              for c in [app_canvas(d, variant=v)] for e in [explain(c, model, method, store=store)]]
    return float(np.min(shares))


def gradient_x_input(net, image, target):
    img = torch.from_numpy(image)[None, None]
    return averaged_gradient_x_input(net, img, img, [target])[0].numpy()


def grad_cam(net, image, target):
    """Grad-CAM on the last activation with maps of at least 2x2, upsampled to 28x28."""
    index = max(a for _, a in conv_activations(net)
                if forward_keeping(net, torch.zeros(1, 1, 28, 28), {a})[1][a].shape[-1] >= 2)
    logits, kept = forward_keeping(net, normalize(torch.from_numpy(image)[None, None]), {index})
    (grad,) = torch.autograd.grad(logits[0, target], kept[index])
    cam = F.relu((grad.mean((2, 3), keepdim=True) * kept[index]).sum(1, keepdim=True))
    return F.interpolate(cam, size=(28, 28), mode="bilinear")[0, 0].detach().numpy()


def tried(net, images, fn) -> tuple[float, float]:
    rng, wins, near = np.random.default_rng(0), 0, []
    for image in images:
        target = predicted(net, image)
        heat = fn(net, image, target)
        salient, random = deletion_drops(net, image, heat, target, rng)
        wins += salient > random
        near.append(mass_near_ink(heat, image > 0, 1))
    return wins / len(images), float(np.mean(near))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digits", type=int, default=1000, help="MNIST test digits (default: 1000)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    store, images = ModelStore(), load_split(False).images[:args.digits, 0].numpy()
    print(f"{args.digits} MNIST test digits; 30 drawn digits for the ink share")
    print(f"{'model':<8} {'method':<22} {'deletion':>9} {'rand corr med':>14} {'p95':>6} {'min on ink':>11}")
    for model in store.available():
        torch.manual_seed(0)
        untrained = create_model(model).eval()
        for method in METHODS:
            net = store.get(model)
            rate = deletion_win_rate(net, images, method)
            corr = randomised_correlations(net, untrained, images[:200], method)
            print(f"{model:<8} {method:<22} {rate:>9.1%} {np.median(corr):>14.2f} "
                  f"{np.percentile(corr, 95):>6.2f} {ink_share(store, model, method):>11.1%}", flush=True)
    print("\ntried, not shipped (deletion win rate, mean share of positive credit on or next to the ink):")
    for model in store.available():
        net = store.get(model)
        gxi = tried(net, images, gradient_x_input)
        cam = tried(net, images, grad_cam) if conv_activations(net) else None
        print(f"{model:<8} gradient x input {gxi[0]:.1%}" + (f"   Grad-CAM {cam[0]:.1%}, {cam[1]:.0%} on the ink"
                                                                 if cam else ""), flush=True)


if __name__ == "__main__":
    main()
