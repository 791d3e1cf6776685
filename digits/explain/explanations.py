"""Why did a model say 7? Attribution maps and feature maps, in plain PyTorch autograd.

Both methods average the gradient of the class's logit over a set of images near the
drawing and multiply it by the drawing (so only inked pixels get credit: red pushed the
model towards the class, blue away from it). They differ in the set:

- SmoothGrad with erasure (after Smilkov et al., 2017): copies of the drawing with a random
  10% of its pixels erased. Erasing is the change a reader of the map has in mind ("without
  this bit of the stroke, would it still say 7?"), and the map predicts it well: erasing the
  10% most credited ink lowers the answer's probability more than erasing a random 10% for
  99-100% of MNIST test digits, every model (bench/explain_checks.py).
- Integrated gradients (Sundararajan et al., 2017): the drawing scaled from empty to full
  ink, so the map sums to the logit's change from an empty canvas.

Every model here is an `nn.Sequential`, so a forward pass layer by layer keeps the feature
maps it needs (no hooks on modules that other threads are using to predict). Maps come for
the answer and for the runner-up ("what would change its mind"), on the 28x28 and mapped
back onto the input image through the pipeline's crop, scale and shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from digits.config import normalize
from digits.models import DEFAULT_MODEL, get_spec
from digits.recognition.inference import ModelStore, default_store, pinned_threads
from digits.recognition.preprocess import NoInk, Preprocessed, ink_map, normalize_ink, preprocess, to_input
from digits.recognition.trust import Trust

Method = Literal["smoothgrad", "integrated_gradients"]
METHODS: dict[Method, str] = {"smoothgrad": "SmoothGrad (erasure)", "integrated_gradients": "integrated gradients"}
DEFAULT_METHOD: Method = "smoothgrad"
SMOOTH_SAMPLES = 4  # erased copies averaged: 4, 8 and 16 score within a point on the deletion check;
# 4 keeps the modern CNN under 30 ms with a training job beside it (bench/explain_speed.py)
SMOOTH_ERASE = 0.10  # share of pixels erased in each copy
SMOOTH_SEED = 0  # the same copies every time: a drawing's map does not flicker between calls
IG_STEPS = 16  # points on the path from the empty canvas
ACTIVATIONS = (nn.ReLU, nn.Tanh)


@dataclass
class FeatureMaps:
    """One convolution's output (after its activation) for this drawing, with its kernels."""

    layer: str  # e.g. "conv 1"
    maps: np.ndarray  # (channels, h, w)
    kernels: np.ndarray  # (channels, k, k), averaged over input channels


@dataclass
class Explanation:
    model: str
    method: Method
    digit: int  # the model's top class (its best guess when it refuses)
    runner_up: int
    probabilities: list[float]  # calibrated, as the answer shows them
    image28: np.ndarray  # what the model saw, [0, 1]
    heat28: np.ndarray  # evidence for `digit` on the 28x28 (positive = towards it)
    runner_heat28: np.ndarray  # evidence for `runner_up`
    heat_input: np.ndarray | None  # heat28 on the input image's pixels
    input_ink: np.ndarray | None = None  # the input's ink map (what the overlay is drawn on)
    features: list[FeatureMaps] = field(default_factory=list)
    refused: bool = False  # the model says this is not a digit: the maps explain its best guess


def layers(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise TypeError("explanations walk the layers of an nn.Sequential model")
    return list(model)


def forward_keeping(model: nn.Module, x: torch.Tensor, keep: set[int]) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Logits, and the outputs of the layers whose indices are in `keep`."""
    kept = {}
    for i, layer in enumerate(layers(model)):
        x = layer(x)
        if i in keep:
            kept[i] = x
    return x, kept


def conv_activations(model: nn.Module) -> list[tuple[int, int]]:
    """(conv index, index of the activation after it) for every convolution, in order."""
    mods = layers(model)
    pairs = []
    for i, m in enumerate(mods):
        if isinstance(m, nn.Conv2d):
            after = next((j for j in range(i + 1, len(mods)) if isinstance(mods[j], ACTIVATIONS)), None)
            if after is not None:
                pairs.append((i, after))
    return pairs


def averaged_gradient_x_input(model: nn.Module, image: torch.Tensor, nearby: torch.Tensor,
                               targets: list[int]) -> torch.Tensor:
    """(len(targets), 28, 28): the mean gradient of each target's logit over the `nearby`
    images (one forward pass, one backward per target), times the image."""
    nearby = nearby.detach().requires_grad_(True)
    logits = model(normalize(nearby))
    maps = []
    for i, target in enumerate(targets):
        (grad,) = torch.autograd.grad(logits[:, target].sum(), nearby, retain_graph=i < len(targets) - 1)
        maps.append(grad.mean(0)[0] * image[0, 0])
    return torch.stack(maps).detach()


def erased_copies(image: torch.Tensor, samples: int = SMOOTH_SAMPLES, share: float = SMOOTH_ERASE) -> torch.Tensor:
    gen = torch.Generator().manual_seed(SMOOTH_SEED)
    return image * (torch.rand(samples, *image.shape[1:], generator=gen) >= share)


def scaled_copies(image: torch.Tensor, steps: int = IG_STEPS) -> torch.Tensor:
    """The straight path from an empty canvas to the image, at the middle of each of `steps`
    equal parts (the midpoint rule: its error falls with the square of the steps)."""
    return ((torch.arange(steps, dtype=torch.float32) + 0.5) / steps)[:, None, None, None] * image


def attributions(model: nn.Module, image28: np.ndarray, targets: list[int], method: Method) -> np.ndarray:
    """The chosen method's maps, one per target class, as (len(targets), 28, 28)."""
    image = torch.from_numpy(np.asarray(image28, np.float32))[None, None]
    copies = {"smoothgrad": erased_copies, "integrated_gradients": scaled_copies}
    if method not in copies:
        raise ValueError(f"unknown method '{method}'; choose one of {', '.join(METHODS)}")
    with pinned_threads, torch.enable_grad():
        return averaged_gradient_x_input(model, image, copies[method](image), targets).float().numpy()


def feature_maps(model: nn.Module, image28: np.ndarray, count: int) -> list[FeatureMaps]:
    """The first `count` convolutions' activations for this image, with their kernels."""
    pairs = conv_activations(model)[:count]
    mods = layers(model)
    x = normalize(torch.from_numpy(np.asarray(image28, np.float32))[None, None])
    with pinned_threads, torch.inference_mode():
        _, kept = forward_keeping(model, x, {a for _, a in pairs})
    return [FeatureMaps(f"conv {n + 1}", kept[a][0].float().numpy().copy(),
                        mods[c].weight.detach().float().mean(1).numpy().copy())
            for n, (c, a) in enumerate(pairs)]


def explain_prepared(net: nn.Module, prepared: Preprocessed, model: str, method: Method,
                     ink: np.ndarray | None = None, trust: Trust | None = None,
                     refused: bool | None = None) -> Explanation:
    """Explain one preprocessed (non-empty) drawing with one loaded model (and its card's trust;
    `refused`: the store's verdict, which may be the models' panel's, instead of the card's)."""
    trust = trust or Trust()
    x = normalize(torch.from_numpy(prepared.image28)[None, None])
    with pinned_threads, torch.inference_mode():
        logits = net(x)
        probs = trust.probabilities(logits)[0]
    digit, runner = torch.topk(probs, 2).indices.tolist()
    maps = attributions(net, prepared.image28, [digit, runner], method)
    heat_input = None if prepared.placement is None else to_input(maps[0], prepared.placement)
    return Explanation(model, method, digit, runner, probs.tolist(), prepared.image28, maps[0], maps[1],
                       heat_input, ink, feature_maps(net, prepared.image28, get_spec(model).feature_convs),
                       refused=not bool(trust.is_digit(probs, logits=logits[0])) if refused is None else refused)


def _prepare(image: Any) -> tuple[np.ndarray | None, Preprocessed]:
    """The input's ink map and the pipeline's 28x28 (the same steps as `preprocess`)."""
    ink = ink_map(image)
    if isinstance(ink, NoInk):
        return None, Preprocessed(None, ink.reason)
    if isinstance(image, dict) and "strokes" in image:  # the pad's strokes: the 28x28 `predict` sees
        return ink, preprocess(image)
    return ink, normalize_ink(ink)


def explain(image: Any, model: str = DEFAULT_MODEL, method: Method = DEFAULT_METHOD,
            store: ModelStore | None = None) -> Explanation | None:
    """Why `model` gives its answer for `image` (None when the image holds no digit)."""
    store = store or default_store()
    ink, prepared = _prepare(image)
    if prepared.empty:
        return None
    name = get_spec(model).name
    e = store.entry(name)
    refused = store.predict_prepared(prepared, name).digit is None
    return explain_prepared(e.model, prepared, name, method, ink, e.trust, refused)


def explain_all(image: Any, method: Method = DEFAULT_METHOD,
                store: ModelStore | None = None) -> dict[str, Explanation]:
    """Every available model's explanation, preprocessing once."""
    store = store or default_store()
    ink, prepared = _prepare(image)
    if prepared.empty:
        return {}
    verdicts = store.classify_all(prepared)
    return {name: explain_prepared(e.model, prepared, name, method, ink, e.trust, verdicts[name].digit is None)
            for name, e in store.loaded(None)}
