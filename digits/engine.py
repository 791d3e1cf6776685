"""One training loop for every model, configured by a dataclass.

Progress goes to a callback and a `threading.Event` (or anything with `is_set()`) stops
the run within one batch; the CLI's progress bar and the app's training job are both
just listeners.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from . import accel
from .augment import augment_batch
from .config import resolve_device
from .data import MNISTData, normalize
from .evaluate import accuracy
from .models import Augment, create_model, get_spec


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class TrainConfig:
    """Everything a run needs; `from_recipe` fills it from the model's default recipe."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    warmup_frac: float = 0.25
    augment: Augment = field(default_factory=Augment)
    seed: int = 0
    device: str = "auto"
    max_batches: int | None = None  # stop after this many batches in all (smoke tests, demos)
    bf16: bool | None = None  # autocast to bfloat16; None = on where the hardware has it
    accel: bool = True  # CPU only: the optional speed-ups of digits.accel (also off with DIGITS_ACCEL=0)

    @classmethod
    def from_recipe(cls, model: str, **overrides: Any) -> TrainConfig:
        recipe = get_spec(model).recipe
        values = asdict(recipe)
        values["augment"] = recipe.augment
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(model=model, **values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Phase = Literal["train", "epoch_end", "done", "cancelled"]


@dataclass
class Progress:
    """A snapshot sent to listeners after every batch and at every epoch end."""

    phase: Phase
    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based, within the epoch
    batches: int  # per epoch
    step: int
    total_steps: int
    loss: float  # running mean over the epoch so far
    train_acc: float  # running accuracy over the epoch so far (augmented batches)
    val_acc: float | None  # last validation accuracy, None before the first epoch ends
    elapsed: float
    eta: float
    lr: float

    @property
    def fraction(self) -> float:
        return self.step / max(1, self.total_steps)


@dataclass
class TrainResult:
    model: nn.Module  # holds the weights of the best validation epoch
    config: TrainConfig
    history: list[dict[str, float]]
    best_epoch: int
    val_acc: float
    seconds: float
    cancelled: bool
    backend: dict[str, Any] = field(default_factory=dict)  # how the run really computed (see _backend)


ProgressCallback = Callable[[Progress], None]


@dataclass
class BestEpoch:
    """The epoch with the highest validation accuracy so far, and its weights."""

    val_acc: float = -1.0
    epoch: int = 0
    state: dict[str, torch.Tensor] = field(default_factory=dict)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and BatchNorm parameters (1-d tensors).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        # fused: one kernel for all parameters instead of ~10 small ops each (CPU and CUDA)
        return torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    raise ValueError(f"unknown optimizer '{cfg.optimizer}' (the recipes use adamw)")


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def describe_backend(cfg: TrainConfig) -> str:
    """Where and how a run computes, for a log line: device, precision, speed-ups. Builds nothing."""
    device = resolve_device(cfg.device)
    bf16 = bf16_supported(device) if cfg.bf16 is None else cfg.bf16
    parts = [str(device), "bfloat16 autocast" if bf16 else "float32"]
    speedups = accel.describe(create_model(cfg.model), device, cfg.accel)
    return ", ".join(parts + ([speedups] if speedups else []))


def _progress(phase: Phase, cfg: TrainConfig, start: float, *, epoch: int, batch: int, batches: int, step: int,
              total: int, loss: float, train_acc: float, val_acc: float | None, lr: float,
              finished: bool = False) -> Progress:
    """A Progress snapshot; elapsed time and ETA come from the run's start and its step count."""
    elapsed = time.perf_counter() - start
    eta = 0.0 if finished else elapsed / max(step, 1) * (total - step)
    return Progress(phase, epoch, cfg.epochs, batch, batches, step, total, loss, train_acc, val_acc, elapsed, eta, lr)


def _backend(model: nn.Module, device: torch.device, bf16: bool) -> dict[str, Any]:
    """What a run really used, for its card: device, precision, threads, the swapped-in modules."""
    swapped = sorted({type(m).__name__ for m in model.modules()
                      if type(m).__module__.startswith("digits.accel.")})
    return {"device": str(device), "precision": "bfloat16" if bf16 else "float32",
            "threads": torch.get_num_threads(), "accelerated": swapped, "torch": torch.__version__}


def train(cfg: TrainConfig, data: MNISTData, on_progress: ProgressCallback | None = None,
          cancel: CancelToken | None = None) -> TrainResult:
    """Train `cfg.model` on data.train, keep the epoch with the best data.val accuracy."""
    device = resolve_device(cfg.device)
    use_bf16 = bf16_supported(device) if cfg.bf16 is None else cfg.bf16
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    # channels_last makes oneDNN/cuDNN convolutions markedly faster (measured 1.3-1.5x on CPU).
    model = create_model(cfg.model).to(device, memory_format=torch.channels_last)
    train_x = data.train.images.to(device).contiguous(memory_format=torch.channels_last)
    train_y = data.train.labels.to(device)
    n = len(train_y)
    batches = math.ceil(n / cfg.batch_size)
    total = batches * cfg.epochs
    if cfg.max_batches is not None:
        total = min(total, cfg.max_batches)
    opt = _optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(total, 1), pct_start=cfg.warmup_frac, anneal_strategy="cos")

    history: list[dict[str, float]] = []
    best = BestEpoch(state=copy.deepcopy(model.state_dict()))
    start = time.perf_counter()
    step, val_acc, cancelled = 0, None, False
    # On CPU, digits.accel swaps a few modules for equivalent faster ones while training
    # (the originals come back afterwards); with cfg.accel off this is plain PyTorch.
    with accel.training(model, device, cfg.accel):
        backend = _backend(model, device, use_bf16)
        model.train()
        for epoch in range(1, cfg.epochs + 1):
            order = torch.randperm(n, generator=gen, device=device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            seen = done = 0
            for b in range(batches):
                if step >= total or (cancel is not None and cancel.is_set()):
                    cancelled = cancel is not None and cancel.is_set()
                    break
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                x = augment_batch(train_x[idx], cfg.augment, gen)
                y = train_y[idx]
                with _autocast(device, use_bf16):
                    logits = model(normalize(x).contiguous(memory_format=torch.channels_last))
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                done += 1
                seen += len(y)
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                if on_progress is not None:
                    on_progress(_progress("train", cfg, start, epoch=epoch, batch=b + 1, batches=batches, step=step,
                                          total=total, loss=loss_sum.item() / seen, train_acc=correct.item() / seen,
                                          val_acc=val_acc, lr=sched.get_last_lr()[0]))
            if cancelled or seen == 0:
                break  # a cancelled run keeps its best finished epoch; no extra validation pass
            val_acc = accuracy(model, data.val, device, bf16=use_bf16)
            elapsed = time.perf_counter() - start
            history.append({"epoch": epoch, "loss": loss_sum.item() / seen, "train_acc": correct.item() / seen,
                            "val_acc": val_acc, "seconds": elapsed})
            if val_acc > best.val_acc:
                best = BestEpoch(val_acc, epoch, copy.deepcopy(model.state_dict()))
            if on_progress is not None:
                on_progress(_progress("epoch_end", cfg, start, epoch=epoch, batch=done, batches=batches, step=step,
                                      total=total, loss=history[-1]["loss"], train_acc=history[-1]["train_acc"],
                                      val_acc=val_acc, lr=sched.get_last_lr()[0]))
            if step >= total:
                break

    seconds = time.perf_counter() - start
    model.load_state_dict(best.state)
    model.eval()
    result = TrainResult(model, cfg, history, best.epoch, max(best.val_acc, 0.0), seconds, cancelled, backend)
    if on_progress is not None:
        last = history[-1] if history else {"loss": math.nan, "train_acc": 0.0}
        on_progress(_progress("cancelled" if cancelled else "done", cfg, start, epoch=best.epoch, batch=0,
                              batches=batches, step=step, total=total, loss=last["loss"],
                              train_acc=last["train_acc"], val_acc=result.val_acc, lr=0.0, finished=True))
    return result

