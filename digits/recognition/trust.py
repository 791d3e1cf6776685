"""Probabilities you can trust: temperature scaling, calibration error, and "not a digit".

A model's raw softmax is not a probability you can take at its word: label smoothing makes
these models too modest, and nothing stops them being sure of a letter. A few numbers per
model, fitted after training on drawings it never trained on and kept in its card, fix both:

  temperature  logits are divided by it before the softmax (the least negative
               log-likelihood on every set of real digits below: MNIST's scans are easier
               than drawings, and fitted on them alone it is sure of new writers' digits a
               point or two more often than right). `mnist_temperature`, fitted on MNIST
               validation alone, is the scale the number reader's rules were chosen in;
  energy_threshold
               an energy score, T * logsumexp(logits / T) (Liu et al. 2020), below it means
               "not a digit": the highest value that still accepts all but
               ENERGY_REJECTION_BUDGET of the real digits, pen-style drawings and drawings
               that vary as new writers do (each set apart), and all but
               MNIST_ENERGY_REJECTION_BUDGET of MNIST validation. On such drawings it
               refuses far more letters than the top probability at the same share of digits
               refused (bench/refusal_curve.py);
  threshold    the same rule on the calibrated top probability: each digit of a number
               (`piece_threshold`), and weights whose card has no energy threshold.

One drawing is judged by every model together when their `Panel` is fitted for the weights
in use: the sum of the four energies (each at its own temperature) below one threshold, fitted
the same way. Four models rarely all shrug at a real digit and rarely all feel sure of a
letter: at the same share of new writers' digits refused, the sum refuses more letters than
any one model's energy (bench/refusal_curve.py).

Every function here is pure: tensors in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

ECE_BINS = 15
MAX_DIGIT_REJECTION = 0.02  # at most 2% of real digits may be refused ...
# ... fitted with a wide margin below that: on new writers' pen digits the refusal runs about a
# point above the validation drawings it was fitted on (bench/not_a_digit.py).
DIGIT_REJECTION_BUDGET = 0.01
# The energy rule answers one drawing, and its validation digits are easier than new writers'
# (MNIST's validation digits come from the training writers): fitted at half the target, it
# refuses about the target on new writers' test digits (bench/answered_right.py).
ENERGY_REJECTION_BUDGET = 0.005
# MNIST's own digits are held tighter: the modern CNN is wrong about 0.34% of MNIST validation,
# so refusing more than 0.15% of it would answer under 99.5% of MNIST (the target).
MNIST_ENERGY_REJECTION_BUDGET = 0.0015
# A number's digits are judged more leniently: refusing one digit in 50 would refuse one
# four-digit number in 13. Each digit of a number may be refused at most this often.
PIECE_REJECTION_BUDGET = 0.0025
PROBABILITY_FLOOR = 1e-30  # shown probabilities are float32: a zero is taken as this before its log
TEMPERATURE_GRID = torch.logspace(math.log10(0.1), math.log10(10.0), 401)  # 1.2% steps


def calibrated(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    return torch.softmax(logits.float() / temperature, dim=-1)


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels (nats)."""
    return F.cross_entropy(logits.float() / temperature, labels).item()


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |accuracy - confidence| per equal-width confidence bin,
    weighted by the share of answers in the bin."""
    confidence, guess = probs.max(dim=1)
    correct = (guess == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.float().mean().item() * abs(correct[inside].mean().item()
                                                        - confidence[inside].mean().item())
    return total


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature with the least NLL on held-out digits (a 1-D search: no optimiser to tune)."""
    losses = torch.stack([F.cross_entropy(logits.float() / t, labels) for t in TEMPERATURE_GRID])
    return float(TEMPERATURE_GRID[int(losses.argmin())])


def fit_threshold(top_probabilities: list[torch.Tensor], max_rejection: float = DIGIT_REJECTION_BUDGET) -> float:
    """The highest cut-off that refuses at most `max_rejection` of every set of real digits."""
    return min(_cut(p.float(), max_rejection) for p in top_probabilities)


def _cut(scores: torch.Tensor, max_rejection: float) -> float:
    """Halfway between the k-th and the (k+1)-th lowest score, k = the whole drawings the budget
    allows: exactly k are refused (an interpolated quantile refuses one more where the share is
    not a whole number of drawings), and no score lies on the cut for rounding to move across."""
    ordered = torch.sort(scores).values
    k = min(math.floor(max_rejection * len(ordered) + 1e-9), len(ordered) - 1)
    return float(ordered[0] if k == 0 else (ordered[k - 1] + ordered[k]) / 2)


def rejection_rate(top_probabilities: torch.Tensor, threshold: float) -> float:
    return (top_probabilities < threshold).float().mean().item()


@dataclass(frozen=True)
class Trust:
    """How a model's logits become an answer: calibrated probabilities, and when to refuse."""

    temperature: float = 1.0
    threshold: float = 0.0  # 0: never refuses (weights from before "not a digit")
    piece_threshold: float = 0.0  # the same for each digit of a number (lower: see PIECE_REJECTION_BUDGET)
    energy_threshold: float | None = None  # one drawing: "not a digit" below this energy (None: top probability)
    mnist_temperature: float | None = None  # fitted on MNIST validation alone (None: the same as `temperature`)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return calibrated(logits, self.temperature)

    def is_digit(self, probs: torch.Tensor, piece: bool = False, logits: torch.Tensor | None = None) -> torch.Tensor:
        """A digit, or "not a digit": by energy for one drawing (given its logits and a fitted
        energy threshold), by the top probability for each digit of a number."""
        if not piece and self.energy_threshold is not None and logits is not None:
            return energy(logits, self.temperature) >= self.energy_threshold
        return probs.max(dim=-1).values >= (self.piece_threshold if piece else self.threshold)

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> Trust:
        found = card.get("trust") or {}
        energy_threshold, mnist_temperature = found.get("energy_threshold"), found.get("mnist_temperature")
        return cls(float(found.get("temperature", 1.0)), float(found.get("threshold", 0.0)),
                   float(found.get("piece_threshold", 0.0)),
                   None if energy_threshold is None else float(energy_threshold),
                   None if mnist_temperature is None else float(mnist_temperature))

    def top_at_mnist_temperature(self, probabilities: list[float]) -> float:
        """The top of these calibrated probabilities as they would be at `mnist_temperature`
        (exact: softmax(log p * T / T_mnist) is the softmax of the logits at T_mnist)."""
        if self.mnist_temperature is None or self.mnist_temperature == self.temperature:
            return max(probabilities)
        logp = torch.log(torch.tensor(probabilities, dtype=torch.float64).clamp_min(PROBABILITY_FLOOR))
        return float(torch.softmax(logp * (self.temperature / self.mnist_temperature), dim=0).max())

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items() if v is not None}


def energy(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The energy score, T * logsumexp(logits / T): high for what the model knows, low for
    what it does not; it keeps what the softmax throws away (how large the logits are)."""
    return temperature * torch.logsumexp(logits.float() / temperature, dim=-1)


def fit(val_logits: torch.Tensor, val_labels: torch.Tensor, *real_digit_logits: torch.Tensor,
        writer_logits: tuple[torch.Tensor, ...] = (),
        temperature_from: tuple[torch.Tensor, torch.Tensor] | None = None) -> Trust:
    """Temperature from `temperature_from` (logits and labels of every labelled set; default
    MNIST validation) and from MNIST validation alone; the top-probability thresholds from
    MNIST validation and every other set of real digits (pen-style drawings; visitors' own once
    there are enough of them); the energy threshold from all of those and the drawings that
    vary as new writers do."""
    mnist_temperature = fit_temperature(val_logits, val_labels)
    temperature = fit_temperature(*temperature_from) if temperature_from is not None else mnist_temperature
    tops = [calibrated(lg, temperature).max(dim=1).values for lg in (val_logits, *real_digit_logits)]
    energies = [energy(lg, temperature) for lg in (val_logits, *real_digit_logits, *writer_logits)]
    return Trust(temperature, fit_threshold(tops), fit_threshold(tops, PIECE_REJECTION_BUDGET),
                 fit_energy_threshold(energies[0], energies[1:]), mnist_temperature)


def fit_energy_threshold(mnist: torch.Tensor, drawn: list[torch.Tensor]) -> float:
    """The highest energy cut-off that refuses at most MNIST_ENERGY_REJECTION_BUDGET of MNIST
    validation and ENERGY_REJECTION_BUDGET of every other set of real digits."""
    return min([fit_threshold([mnist], MNIST_ENERGY_REJECTION_BUDGET)]
               + [fit_threshold([d], ENERGY_REJECTION_BUDGET) for d in drawn])


@dataclass(frozen=True)
class Panel:
    """"Not a digit" for one drawing, decided by the models together: the sum of their energies
    below `energy_threshold`. `members`: each model and the weights (card date, temperature)
    it was fitted with; weights trained since are not judged by it."""

    energy_threshold: float
    members: dict[str, dict[str, Any]]

    def accepts(self, energies: dict[str, torch.Tensor]) -> torch.Tensor:
        return panel_energy(energies, self.members) >= self.energy_threshold


def panel_energy(energies: dict[str, torch.Tensor], members: Any) -> torch.Tensor:
    return torch.stack([energies[name].float() for name in members]).sum(dim=0)


def fit_panel(mnist: dict[str, torch.Tensor], drawn: list[dict[str, torch.Tensor]],
              members: dict[str, dict[str, Any]]) -> Panel:
    """The panel threshold fitted as each card's energy rule (`fit_energy_threshold`): `mnist`
    is every member's energies on MNIST validation, `drawn` the same on each other set."""
    return Panel(fit_energy_threshold(panel_energy(mnist, members), [panel_energy(e, members) for e in drawn]),
                 members)


def report(trust: Trust, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Calibration before and after, and how many of these digits are refused."""
    before, after = calibrated(logits), trust.probabilities(logits)
    return {"ece_before": ece(before, labels), "ece_after": ece(after, labels),
            "nll_before": nll(logits, labels), "nll_after": nll(logits, labels, trust.temperature),
            "rejected": 1.0 - trust.is_digit(after, logits=logits).float().mean().item()}
