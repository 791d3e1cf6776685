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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from digits.config import resolve_device
from digits.evaluate import accuracy
from digits.models import Recipe, create_model, get_spec
from digits.training import accel
from digits.training.augment import augment_batch
from digits.training.data import NOT_A_DIGIT, MNISTData, normalize


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


SHIPPED_NEGATIVES = 12_000  # non-digits the shipped CNNs were fine-tuned with (the MLP: twice; docs/design.md)
FINETUNE_EPOCHS = 5  # fine-tuning on visitors' drawings: epochs ...
FINETUNE_LR_SCALE = 0.1  # ... at a tenth of the recipe's peak learning rate

@dataclass
class TrainConfig:
    """One run: the model's `Recipe` (how it trains) plus how this run executes."""

    model: str
    recipe: Recipe
    seed: int = 0
    device: str = "auto"
    max_batches: int | None = None  # stop after this many batches in all (smoke tests, demos)
    bf16: bool | None = None  # autocast to bfloat16; None = on where the hardware has it
    accel: bool = True  # CPU only: the optional speed-ups of digits.training.accel (also off with DIGITS_ACCEL=0)
    feedback: bool = False  # also train on the visitors' drawings (digits/visitors/finetune.py builds the data)
    finetune: bool = False  # start from the current weights instead of a fresh initialisation
    negatives: int = 0  # non-digit drawings mixed into training (digits/synthetic/negatives.py): 0 = none
    pen_digits: int = 0  # training digits also redrawn as new writers draw on the pad (digits/synthetic/writers.py)
    flagged_ones: int = 0  # training 1s redrawn with a flag at the top, as many writers outside the US write them

    @classmethod
    def from_recipe(cls, model: str, **overrides: Any) -> TrainConfig:
        """The model's registered recipe with `overrides` (recipe or run fields; None = keep)."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        recipe_fields = {f.name for f in fields(Recipe)}
        recipe = replace(get_spec(model).recipe, **{k: v for k, v in overrides.items() if k in recipe_fields})
        return cls(model=model, recipe=recipe, **{k: v for k, v in overrides.items() if k not in recipe_fields})

    def with_recipe(self, **changes: Any) -> TrainConfig:
        return replace(self, recipe=replace(self.recipe, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Flat: the recipe's fields next to the run's (the shape cards and the UI show)."""
        run = asdict(self)
        return {"model": self.model, **run.pop("recipe"), **{k: v for k, v in run.items() if k != "model"}}


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
    """The best epoch so far by `selection_score`, and its weights."""

    score: float = -math.inf
    val_acc: float = -1.0
    epoch: int = 0
    state: dict[str, torch.Tensor] = field(default_factory=dict)


def freeze_batchnorm(model: nn.Module) -> None:
    """Fine-tuning keeps BatchNorm's running statistics (MNIST's) and only moves the weights:
    a few epochs of mixed batches would otherwise shift them and cost MNIST accuracy."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def selection_score(entry: dict[str, float], mnist_floor: float | None) -> float:
    """Which epoch to keep: the highest MNIST validation accuracy; with visitors' drawings, the
    highest accuracy on the newest of them among epochs that keep MNIST validation at or above
    `mnist_floor` (epochs below it rank after all others, by MNIST validation)."""
    if "visitor_val_acc" not in entry:
        return entry["val_acc"]
    if mnist_floor is not None and entry["val_acc"] < mnist_floor:
        return entry["val_acc"] - 2.0
    return entry["visitor_val_acc"]


OUTLIER_WEIGHT = 0.5  # outlier exposure's weight on the negatives' loss (Hendrycks et al., 2019)


def loss_fn(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Cross-entropy on the digits; on non-digits (label NOT_A_DIGIT), cross-entropy against the
    uniform distribution, so the model learns to be unsure of them (outlier exposure)."""
    logits = logits.float()
    negative = labels == NOT_A_DIGIT
    if not negative.any():
        return F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    digits = ~negative
    loss = (F.cross_entropy(logits[digits], labels[digits], label_smoothing=label_smoothing) * digits.float().mean()
            if digits.any() else logits.new_zeros(()))
    unsure = -F.log_softmax(logits[negative], dim=1).mean(dim=1).sum() / len(labels)
    return loss + OUTLIER_WEIGHT * unsure


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on biases and BatchNorm parameters (1-d tensors).
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.recipe.optimizer == "adamw":
        # fused: one kernel for all parameters instead of ~10 small ops each (CPU and CUDA)
        return torch.optim.AdamW(groups, lr=cfg.recipe.lr, fused=True)
    raise ValueError(f"unknown optimizer '{cfg.recipe.optimizer}' (the recipes use adamw)")


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def describe_backend(cfg: TrainConfig) -> str:
    """Where and how a run computes, for a log line: device, precision, speed-ups. Builds nothing."""
    device = resolve_device(cfg.device)
    bf16 = bf16_supported(device) if cfg.bf16 is None else cfg.bf16
    parts = [str(device), "bfloat16 autocast" if bf16 else "float32"]
    speedups = accel.describe(create_model(cfg.model), device, cfg.accel, bf16)
    return ", ".join(parts + ([speedups] if speedups else []))


def _progress(phase: Phase, cfg: TrainConfig, start: float, *, epoch: int, batch: int, batches: int, step: int,
              total: int, loss: float, train_acc: float, val_acc: float | None, lr: float,
              finished: bool = False) -> Progress:
    """A Progress snapshot; elapsed time and ETA come from the run's start and its step count."""
    elapsed = time.perf_counter() - start
    eta = 0.0 if finished else elapsed / max(step, 1) * (total - step)
    return Progress(phase=phase, epoch=epoch, epochs=cfg.recipe.epochs, batch=batch, batches=batches, step=step,
                    total_steps=total, loss=loss, train_acc=train_acc, val_acc=val_acc, elapsed=elapsed, eta=eta,
                    lr=lr)


def _backend(model: nn.Module, device: torch.device, bf16: bool) -> dict[str, Any]:
    """What a run really used, for its card: device, precision, threads, the swapped-in modules."""
    swapped = sorted({type(m).__name__ for m in model.modules()
                      if type(m).__module__.startswith("digits.training.accel.")})
    return {"device": str(device), "precision": "bfloat16" if bf16 else "float32",
            "threads": torch.get_num_threads(), "accelerated": swapped, "torch": torch.__version__}


@dataclass
class _Loop:
    """What every batch of one run shares: the model, its optimiser and schedule, the data."""

    cfg: TrainConfig
    device: torch.device
    bf16: bool
    gen: torch.Generator
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    train_x: torch.Tensor
    train_y: torch.Tensor
    batches: int  # per epoch
    total: int  # in the whole run (epochs x batches, or max_batches)
    on_progress: ProgressCallback | None
    cancel: CancelToken | None
    start: float = field(default_factory=time.perf_counter)
    step: int = 0
    val_acc: float | None = None

    def report(self, phase: Phase, epoch: int, batch: int, loss: float, train_acc: float) -> None:
        if self.on_progress is not None:
            self.on_progress(_progress(phase, self.cfg, self.start, epoch=epoch, batch=batch, batches=self.batches,
                                       step=self.step, total=self.total, loss=loss, train_acc=train_acc,
                                       val_acc=self.val_acc, lr=self.sched.get_last_lr()[0]))


def _setup(cfg: TrainConfig, data: MNISTData, on_progress: ProgressCallback | None,
           cancel: CancelToken | None) -> _Loop:
    recipe = cfg.recipe
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    # channels_last makes oneDNN/cuDNN convolutions markedly faster (measured 1.3-1.5x on CPU).
    model = create_model(cfg.model).to(device, memory_format=torch.channels_last)
    batches = math.ceil(len(data.train) / recipe.batch_size)
    total = batches * recipe.epochs if cfg.max_batches is None else min(batches * recipe.epochs, cfg.max_batches)
    opt = _optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=recipe.lr, total_steps=max(total, 1), pct_start=recipe.warmup_frac, anneal_strategy="cos")
    return _Loop(cfg, device, bf16_supported(device) if cfg.bf16 is None else cfg.bf16, gen, model, opt, sched,
                 data.train.images.to(device).contiguous(memory_format=torch.channels_last),
                 data.train.labels.to(device), batches, total, on_progress, cancel)


def _train_epoch(loop: _Loop, epoch: int) -> tuple[float, float, int, bool]:
    """One pass over the shuffled training set: (mean loss, accuracy, batches done, cancelled)."""
    recipe, device = loop.cfg.recipe, loop.device
    order = torch.randperm(len(loop.train_y), generator=loop.gen, device=device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = seen_digits = done = 0
    cancelled = False
    for b in range(loop.batches):
        if loop.step >= loop.total or (loop.cancel is not None and loop.cancel.is_set()):
            cancelled = loop.cancel is not None and loop.cancel.is_set()
            break
        idx = order[b * recipe.batch_size:(b + 1) * recipe.batch_size]
        x, y = augment_batch(loop.train_x[idx], recipe.augment, loop.gen), loop.train_y[idx]
        with _autocast(device, loop.bf16):
            logits = loop.model(normalize(x).contiguous(memory_format=torch.channels_last))
            loss = loss_fn(logits, y, recipe.label_smoothing)
        loop.opt.zero_grad(set_to_none=True)
        loss.backward()
        loop.opt.step()
        loop.sched.step()
        loop.step, done, seen = loop.step + 1, done + 1, seen + len(y)
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()  # negatives never count as correct
        seen_digits += int((y != NOT_A_DIGIT).sum())
        loop.report("train", epoch, b + 1, loss_sum.item() / seen, correct.item() / max(seen_digits, 1))
    return ((loss_sum.item() / seen if seen else math.nan), (correct.item() / seen_digits if seen_digits else 0.0),
            done, cancelled)


def train(cfg: TrainConfig, data: MNISTData, on_progress: ProgressCallback | None = None,
          cancel: CancelToken | None = None, init_state: dict[str, torch.Tensor] | None = None,
          mnist_floor: float | None = None) -> TrainResult:
    """Train `cfg.model` on data.train (from `init_state` when fine-tuning) and keep the best
    epoch on validation (see `selection_score`)."""
    loop = _setup(cfg, data, on_progress, cancel)
    if init_state is not None:
        loop.model.load_state_dict(init_state)
    history: list[dict[str, float]] = []
    best = BestEpoch(state=copy.deepcopy(loop.model.state_dict()))
    cancelled = False
    # On CPU, digits.training.accel swaps a few modules for equivalent faster ones while training
    # (the originals come back afterwards); with cfg.accel off this is plain PyTorch.
    with accel.training(loop.model, loop.device, cfg.accel, loop.bf16):
        backend = _backend(loop.model, loop.device, loop.bf16)
        for epoch in range(1, cfg.recipe.epochs + 1):
            loop.model.train()  # validation below switches to eval mode and back
            if cfg.finetune:
                freeze_batchnorm(loop.model)
            loss, train_acc, done, cancelled = _train_epoch(loop, epoch)
            if cancelled or done == 0:
                break  # a cancelled run keeps its best finished epoch; no extra validation pass
            loop.val_acc = accuracy(loop.model, data.val, loop.device, bf16=loop.bf16)
            entry = {"epoch": epoch, "loss": loss, "train_acc": train_acc, "val_acc": loop.val_acc,
                     "seconds": time.perf_counter() - loop.start}
            if data.visitors_val is not None:
                entry["visitor_val_acc"] = accuracy(loop.model, data.visitors_val, loop.device, bf16=loop.bf16)
            history.append(entry)
            if selection_score(entry, mnist_floor) > best.score:
                best = BestEpoch(selection_score(entry, mnist_floor), loop.val_acc, epoch,
                                 copy.deepcopy(loop.model.state_dict()))
            loop.report("epoch_end", epoch, done, loss, train_acc)
            if loop.step >= loop.total:
                break
    loop.model.load_state_dict(best.state)
    loop.model.eval()
    result = TrainResult(loop.model, cfg, history, best.epoch, max(best.val_acc, 0.0),
                         time.perf_counter() - loop.start, cancelled, backend)
    last = history[-1] if history else {"loss": math.nan, "train_acc": 0.0}
    if on_progress is not None:
        on_progress(_progress("cancelled" if cancelled else "done", cfg, loop.start, epoch=best.epoch, batch=0,
                              batches=loop.batches, step=loop.step, total=loop.total, loss=last["loss"],
                              train_acc=last["train_acc"], val_acc=result.val_acc, lr=0.0, finished=True))
    return result
