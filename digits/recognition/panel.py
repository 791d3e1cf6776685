"""The panel's file: weights/panel.json holds the threshold with which the models decide
together whether one drawing is a digit (`trust.Panel`), and the weights it was fitted for.

It is refitted whenever a model's weights or calibration change through this package
(`python -m digits calibrate`, a training run that saves weights); weights changed any other
way simply leave it unused, and each model judges by its own card again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from digits.config import weights_dir
from digits.recognition.trust import Panel
from digits.weights import atomic_write

PANEL_FILE = "panel.json"


def panel_path(directory: os.PathLike | str | None = None) -> Path:
    return weights_dir(directory) / PANEL_FILE


def stamp(card: dict[str, Any]) -> dict[str, Any]:
    """What identifies a model's weights and calibration for the panel."""
    return {"date": card.get("date"), "temperature": (card.get("trust") or {}).get("temperature")}


def read_panel(directory: os.PathLike | str | None = None) -> Panel | None:
    """The panel on disk, or None (no file, or one that cannot be read)."""
    try:
        return parse_panel(panel_path(directory).read_text())
    except OSError:
        return None


def parse_panel(text: str | bytes) -> Panel | None:
    """A panel from its file's text, or None where it is not one."""
    try:
        found = json.loads(text)
        return Panel(float(found["energy_threshold"]), dict(found["members"]))
    except (ValueError, KeyError, TypeError):
        return None


def write_panel(panel: Panel, figures: dict[str, Any], directory: os.PathLike | str | None = None) -> Path:
    """Write the panel and what it does to the sets it was fitted on, atomically (as weights are)."""
    path = panel_path(directory)
    record = {"energy_threshold": round(panel.energy_threshold, 6), "members": panel.members, **figures}
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    return path


def is_current(panel: Panel, cards: dict[str, dict[str, Any]]) -> bool:
    """Whether every member's weights are loaded and are the ones the panel was fitted for."""
    return len(panel.members) > 1 and all(name in cards and stamp(cards[name]) == member
                                          for name, member in panel.members.items())
