"""Checks that an attribution map means something (used by tests/test_explain.py and
bench/explain_checks.py): deletion, randomised-model sanity, and mass on the ink."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from scipy.stats import spearmanr
from torch import nn

from digits.config import normalize
from digits.explain.explanations import Method, attributions

DELETE_FRACTION = 0.10  # share of the ink pixels removed by the deletion check
RANDOM_DRAWS = 8  # random deletions averaged into the baseline drop (one draw is noisy)
NEAR_INK_PX = 1  # "on or next to" the strokes: within this many pixels of ink


def class_probability(model: nn.Module, images28: np.ndarray, target: int) -> np.ndarray:
    """P(target) for a stack of [0, 1] 28x28 images."""
    with torch.inference_mode():
        x = normalize(torch.from_numpy(np.asarray(images28, np.float32))[:, None])
        return torch.softmax(model(x).float(), 1)[:, target].numpy()


def deletion_drops(model: nn.Module, image28: np.ndarray, heat: np.ndarray, target: int,
                   rng: np.random.Generator, fraction: float = DELETE_FRACTION,
                   draws: int = RANDOM_DRAWS) -> tuple[float, float]:
    """(drop in P(target) when the most salient `fraction` of the ink is erased, the mean drop
    when a random `fraction` of the ink is): a meaningful map makes the first larger."""
    ink = np.flatnonzero(image28.ravel() > 0)
    k = max(1, int(round(fraction * len(ink))))
    erased = [ink[np.argsort(-heat.ravel()[ink], kind="stable")[:k]]]
    erased += [rng.choice(ink, size=k, replace=False) for _ in range(draws)]
    variants = np.repeat(image28[None], 1 + len(erased), axis=0)
    for v, pixels in zip(variants[1:], erased):
        v.ravel()[pixels] = 0
    p = class_probability(model, variants, target)
    return float(p[0] - p[1]), float(p[0] - p[2:].mean())


def rank_correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Spearman correlation of two maps over the pixels in `where` (the ink: off it both maps
    are zero, which would count as agreement). 0 when one map is constant there."""
    r = spearmanr(a[where], b[where]).statistic
    return 0.0 if np.isnan(r) else float(r)


def mass_near_ink(heat: np.ndarray, ink: np.ndarray, near_px: int) -> float:
    """Share of the positive attribution that lies on the ink or within `near_px` of it."""
    positive = np.clip(heat, 0, None)
    total = float(positive.sum())
    if total <= 0:
        return 1.0
    near = ndimage.binary_dilation(ink > 0, iterations=near_px) if near_px > 0 else ink > 0
    return float(positive[near].sum()) / total


def predicted(model: nn.Module, image28: np.ndarray) -> int:
    with torch.inference_mode():
        return int(model(normalize(torch.from_numpy(np.asarray(image28, np.float32))[None, None])).argmax())


def deletion_win_rate(model: nn.Module, images28: np.ndarray, method: Method, seed: int = 0) -> float:
    """Share of images where erasing the most credited ink costs the answer more than
    erasing random ink (the issue's bar: at least 90%)."""
    rng = np.random.default_rng(seed)
    wins = 0
    for image in images28:
        target = predicted(model, image)
        salient, random = deletion_drops(model, image, attributions(model, image, [target], method)[0], target, rng)
        wins += salient > random
    return wins / len(images28)


def randomised_correlations(model: nn.Module, untrained: nn.Module, images28: np.ndarray,
                            method: Method) -> np.ndarray:
    """Per image: rank correlation on the ink between the trained model's map and an untrained
    model's map for the same class (Adebayo et al.'s sanity check: a map that explains the
    model must change when the weights are random)."""
    out = []
    for image in images28:
        target = predicted(model, image)
        trained = attributions(model, image, [target], method)[0]
        out.append(rank_correlation(trained, attributions(untrained, image, [target], method)[0], image > 0))
    return np.array(out)
