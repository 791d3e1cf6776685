"""What a training run costs on a ZeroGPU Space, where each visitor has a daily GPU quota.

ZeroGPU attaches a GPU only while a function decorated with `@spaces.GPU(duration=...)` runs,
and refuses a call whose duration does not fit the visitor's quota (a few minutes a day on a
free account). So a run's duration is estimated before it starts, from its recipe and the
GPU times measured for the full recipes (bench/RESULTS.md, "On a GPU": an H200).
"""

from __future__ import annotations

import math
import os

from digits.training.engine import TrainConfig

ZEROGPU_ENV = "SPACES_ZERO_GPU"  # set by Hugging Face on ZeroGPU hardware
# Seconds per epoch on the GPU, from the full recipes measured on an H200 (bench/cuda_check.py):
# mlp 7.3 s / 10 epochs, cnn 7.2 s / 15, lenet5 7.7 s / 13, modern 12.5 s / 10.
EPOCH_S = {"mlp": 0.73, "cnn": 0.48, "lenet5": 0.59, "modern": 1.25}
FULL_BATCHES = 55_000  # images per epoch (MNIST's training split without validation)
NEGATIVES_S_PER_1000 = 4.0  # making the non-digit drawings, on the CPU host, per thousand
START_S = 26.0  # the GPU's start, MNIST to the device, the test pass, the save, the panel's refit (5 s)
SAFETY = 1.5  # ZeroGPU stops a call at its duration: ask for half as much again
MAX_CALL_S = 300  # the longest GPU call ZeroGPU grants
FREE_QUOTA_MIN = 4  # a free account's daily quota, roughly (more when logged in, 8x with PRO)


def on_zerogpu(env: dict[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(ZEROGPU_ENV, "").strip().lower() not in ("", "0", "false")


def gpu_seconds(cfg: TrainConfig) -> int:
    """The GPU time to ask for: the run's epochs at the measured pace, plus start-up, with a margin."""
    epochs = float(cfg.recipe.epochs)
    if cfg.max_batches:  # a cap on the batches of the whole run
        epochs = min(epochs, cfg.max_batches * cfg.recipe.batch_size / FULL_BATCHES)
    per_epoch = EPOCH_S.get(cfg.model, max(EPOCH_S.values()))
    work = epochs * per_epoch * (1 + cfg.negatives / FULL_BATCHES) + NEGATIVES_S_PER_1000 * cfg.negatives / 1000
    return math.ceil(START_S + SAFETY * work)


def fits(cfg: TrainConfig) -> tuple[bool, str]:
    """Whether one GPU call can run it, and what it costs, in words a visitor reads."""
    need = gpu_seconds(cfg)
    cost = (f"This run needs about {need} s of GPU time, from your daily ZeroGPU quota (about {FREE_QUOTA_MIN} "
            "minutes on a free account, more when logged in).")
    if need > MAX_CALL_S:
        return False, (f"{cost} That is more than one GPU call may take ({MAX_CALL_S} s): choose fewer epochs "
                       "or another model.")
    return True, cost
