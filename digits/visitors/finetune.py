"""Training on visitors' drawings: a time split of the feedback database, and the data a run
sees (MNIST plus the visitors' drawings, or, when fine-tuning, the visitors' drawings with
MNIST replayed beside them so MNIST is not forgotten).

The newest drawings are held out to validate on (they are the closest to who draws next);
everything up to the cut-off trains, and the card records the cut-off so the scores in
the Models tab use only drawings the weights never saw (`evaluate.fair_drawings`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from digits.training.data import MNISTData, Split
from digits.training.engine import FINETUNE_EPOCHS, FINETUNE_LR_SCALE  # noqa: F401 (re-exported)
from digits.visitors.store import Drawing, FeedbackStore

VISITOR_VAL_SHARE = 0.2  # the newest fifth of the drawings validates
VISITOR_REPEATS = 4  # each visitor drawing appears this many times per epoch (augmented differently)
REPLAY_PER_VISITOR = 8  # fine-tuning: MNIST training images per visitor drawing in each epoch
NEGATIVE_REPLAY_SHARE = 0.2  # fine-tuning weights that learned "not a digit": non-digits per training image
MNIST_TOLERANCE = 0.001  # new weights may be at most 0.1 points worse on MNIST validation
# Visitors' labels are trusted, within limits, so a burst of wrong labels cannot steer a run:
MAX_PER_SESSION = 40  # one session's drawings in a run's data at most (its first ones)
CONTRADICTED_SURE = 0.99  # a drawing every model reads as another digit, this sure, is left out


class NoVisitorDrawings(ValueError):
    """Too few labelled visitor drawings to train and validate on."""


@dataclass
class VisitorSplit:
    train: Split
    val: Split
    through_id: int  # the last drawing used for training: newer ones are fair to score on


def drawings_split(drawings) -> Split:
    """Labelled single-digit drawings as a Split of their 28x28 views."""
    images = torch.from_numpy(np.stack([d.image28 for d in drawings]))[:, None]
    return Split(images, torch.tensor([d.digit for d in drawings], dtype=torch.long))


def contradicted(d: Drawing) -> bool:
    """Every model that answered read another digit, at least CONTRADICTED_SURE sure."""
    said = [a.get("probabilities") or [] for a in d.answers.values()]
    return bool(said) and all(len(p) == 10 and max(p) >= CONTRADICTED_SURE and int(np.argmax(p)) != d.digit
                              for p in said)


def trusted(drawings) -> list[Drawing]:
    """The drawings a run may learn from: at most MAX_PER_SESSION per session, none that every
    model confidently contradicts (a wrong label, or a joke)."""
    per_session: dict[str, int] = {}
    kept = []
    for d in drawings:
        if contradicted(d) or (d.source == "app" and per_session.get(d.session, 0) >= MAX_PER_SESSION):
            continue
        per_session[d.session] = per_session.get(d.session, 0) + 1
        kept.append(d)
    return kept


def visitor_split(feedback: FeedbackStore, val_share: float = VISITOR_VAL_SHARE) -> VisitorSplit:
    """Trusted labelled single-digit drawings in time order: the oldest train, the newest validate."""
    rows = trusted(d for d in feedback.drawings() if d.digit is not None and d.image28 is not None)
    n_val = max(1, round(val_share * len(rows)))
    if len(rows) - n_val < 1:
        raise NoVisitorDrawings(f"{len(rows)} labelled visitor drawings: at least 2 are needed "
                                f"(add some with `python -m digits feedback add`)")
    train, val = rows[:-n_val], rows[-n_val:]
    return VisitorSplit(drawings_split(train), drawings_split(val), train[-1].id)


def with_visitors(data: MNISTData, visitors: VisitorSplit, finetune: bool, seed: int = 0) -> MNISTData:
    """The run's data: visitor drawings (repeated) plus MNIST, all of it or, when fine-tuning,
    a replay sample; validation on MNIST's and on the newest visitors' drawings."""
    mnist = data.train
    if finetune:
        gen = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(mnist), generator=gen)[:REPLAY_PER_VISITOR * len(visitors.train)]
        mnist = Split(mnist.images[keep], mnist.labels[keep])
    repeated = visitors.train.images.repeat(VISITOR_REPEATS, 1, 1, 1)
    train = Split(torch.cat([mnist.images, repeated]),
                  torch.cat([mnist.labels, visitors.train.labels.repeat(VISITOR_REPEATS)]))
    return MNISTData(train=train, val=data.val, test=data.test, visitors_val=visitors.val)
