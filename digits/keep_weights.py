"""Weights trained on a Space, kept beyond a restart: pushed to `$DIGITS_WEIGHTS_REPO` (a model
repo, or a folder such as a mounted bucket) when a run replaces them, restored on start.

Each push is a new folder `weights/STAMP-NAME-RANDOM/` holding the safetensors file and its
card, and the models' panel fitted with them; a restore takes each model's newest folder when
its card is newer than the local one, then the newest panel fitted for the weights it has.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from digits.recognition.panel import is_current, panel_path, parse_panel
from digits.remote import Remote
from digits.weights import WeightsError, atomic_write, card_path, read_card, weights_path

WEIGHTS_REPO_ENV = "DIGITS_WEIGHTS_REPO"
PREFIX = "weights"


def push_weights(remote: Remote, name: str, directory: str | os.PathLike | None = None) -> str:
    """The model's current weights and card as a new folder in the remote; returns its path."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = f"{PREFIX}/{stamp}-{name}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        for source in (weights_path(name, directory), card_path(name, directory), panel_path(directory)):
            if source.exists():
                shutil.copy2(source, Path(tmp) / source.name)
        remote.put_folder(Path(tmp), path)
    return path


def restore_weights(remote: Remote, names: list[str], directory: str | os.PathLike | None = None) -> list[str]:
    """Each model's newest pushed weights, where their card is newer than the local one."""
    restored = []
    listed = remote.files(PREFIX + "/")
    folders = sorted({f.split("/")[1] for f in listed if f.count("/") >= 2})
    for name in names:
        mine = [f for f in folders if f.split("-")[1:2] == [name]]
        if not mine:
            continue
        newest = mine[-1]  # folders start with a UTC time stamp
        target = weights_path(name, directory)
        blob = remote.read(f"{PREFIX}/{newest}/{target.name}")
        try:
            local_date = read_card(name, directory).get("date") or ""
        except WeightsError:
            local_date = ""
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / target.name).write_bytes(blob)
            pushed_date = read_card(name, tmp).get("date") or ""
            if pushed_date <= local_date:
                continue
            card = card_path(name, directory)
            for f, data in ((target, blob), (card, remote.read(f"{PREFIX}/{newest}/{card.name}"))):
                staging = f.with_name(f".{f.name}.restoring")
                staging.write_bytes(data)
                os.replace(staging, f)
        restored.append(name)
    if restored:
        restore_panel(remote, listed, names, directory)
    return restored


def restore_panel(remote: Remote, listed: list[str], names: list[str],
                  directory: str | os.PathLike | None = None) -> bool:
    """The newest pushed panel (`listed`: the remote's files under weights/) fitted for the
    weights now in `directory`, if any (else each model judges by its own card until the next
    calibration or run)."""
    cards = {}
    for name in names:
        try:
            cards[name] = read_card(name, directory)
        except WeightsError:
            pass
    target = panel_path(directory)
    for path in sorted((f for f in listed if f.endswith("/" + target.name)), reverse=True):  # newest first
        blob = remote.read(path)
        found = parse_panel(blob)
        if found is not None and is_current(found, cards):
            atomic_write(target, lambda tmp, data=blob: Path(tmp).write_bytes(data))
            return True
    return False
