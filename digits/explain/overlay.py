"""Pictures: attribution maps over the drawing, feature maps beside their kernels, and a
confusion matrix. Plain numpy and PIL, shared by the app and the CLI."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.explain.explanations import Explanation, FeatureMaps

TOWARDS = np.array([220, 38, 38], np.float32)  # red: pushed the model towards the class
AWAY = np.array([37, 99, 235], np.float32)  # blue: pushed it away
PAPER = 255.0
INK_GREY = 0.55  # the drawing under the colours, as grey (full black would hide them)
SCALE_PERCENTILE = 98.0  # the colour scale tops out here, so one hot pixel does not wash out the rest
DISPLAY_BLUR = 0.7  # pixels of Gaussian blur on the shown maps: per-pixel credit is speckled, strokes are not
HEAT_PX = 168  # a 28x28 map enlarged 6x, nearest neighbour
FEATURE_PX = 56  # one feature map or kernel, enlarged
GAP_PX = 4


def heat_scale(*maps: np.ndarray) -> float:
    """One colour scale for maps shown side by side (answer and runner-up compare fairly)."""
    values = np.concatenate([np.abs(ndimage.gaussian_filter(m.astype(np.float32), DISPLAY_BLUR
                                                            * max(1.0, m.shape[0] / 28))).ravel() for m in maps])
    values = values[values > 0]
    return float(np.percentile(values, SCALE_PERCENTILE)) if values.size else 1.0


def heat_rgb(heat: np.ndarray, ink: np.ndarray, scale: float) -> np.ndarray:
    """RGB uint8: the ink in grey on white paper, red where `heat` > 0, blue where < 0."""
    paper = PAPER * (1 - INK_GREY * np.clip(ink, 0, 1))[..., None]
    heat = ndimage.gaussian_filter(heat.astype(np.float32), DISPLAY_BLUR * max(1.0, heat.shape[0] / 28))
    strength = np.clip(np.abs(heat) / max(scale, 1e-12), 0, 1)[..., None]
    colour = np.where(heat[..., None] >= 0, TOWARDS, AWAY)
    return (paper * (1 - strength) + colour * strength).astype(np.uint8)


def enlarge(rgb: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize so a 28x28 stays crisp pixels."""
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.NEAREST))


def fit_width(rgb: np.ndarray, width: int) -> np.ndarray:
    """Downscale a large overlay (a 2000 px canvas) for display; small ones stay as they are."""
    h, w = rgb.shape[:2]
    if w <= width:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, max(1, round(h * width / w))), Image.Resampling.BOX))


def answer_maps(e: Explanation, size: int = HEAT_PX) -> tuple[np.ndarray, np.ndarray]:
    """(evidence for the answer, for the runner-up) on the 28x28, on one shared scale."""
    scale = heat_scale(e.heat28, e.runner_heat28)
    return (enlarge(heat_rgb(e.heat28, e.image28, scale), size),
            enlarge(heat_rgb(e.runner_heat28, e.image28, scale), size))


def drawing_overlay(e: Explanation) -> np.ndarray:
    """The answer's evidence on the input's own pixels (the 28x28 if the input is unknown)."""
    if e.heat_input is None or e.input_ink is None:
        return heat_rgb(e.heat28, e.image28, heat_scale(e.heat28))
    return heat_rgb(e.heat_input, e.input_ink, heat_scale(e.heat_input))


def diverging(values: np.ndarray) -> np.ndarray:
    """A map or kernel as RGB: white at zero, red positive, blue negative, its own scale."""
    scale = float(np.abs(values).max()) or 1.0
    return heat_rgb(values, np.zeros_like(values), scale)


def feature_pairs(features: list[FeatureMaps], size: int = FEATURE_PX) -> list[tuple[np.ndarray, str]]:
    """(kernel | its feature map, caption) for every channel, the way a textbook lays them out."""
    out = []
    gap = np.full((size, GAP_PX, 3), 255, np.uint8)
    for layer in features:
        for c, (fmap, kernel) in enumerate(zip(layer.maps, layer.kernels)):
            pair = np.hstack([enlarge(diverging(kernel), size), gap, enlarge(diverging(fmap), size)])
            out.append((pair, f"{layer.layer}, filter {c + 1}"))
    return out


def feature_sheet(features: list[FeatureMaps], per_row: int = 8, size: int = FEATURE_PX) -> np.ndarray:
    """Every (kernel | map) pair on one sheet, `per_row` pairs to a row (the CLI's PNG)."""
    pairs = [p for p, _ in feature_pairs(features, size)]
    if not pairs:
        return np.full((size, size, 3), 255, np.uint8)
    blank = np.full_like(pairs[0], 255)
    pairs += [blank] * (-len(pairs) % per_row)
    rows = [np.hstack(sum(([p, np.full((p.shape[0], 2 * GAP_PX, 3), 255, np.uint8)]
                           for p in pairs[i:i + per_row]), [])) for i in range(0, len(pairs), per_row)]
    return np.vstack(sum(([r, np.full((2 * GAP_PX, r.shape[1], 3), 255, np.uint8)] for r in rows), []))


CONFUSION_CELL_PX = 34
CONFUSION_FONT_PX = 13


def confusion_picture(counts: np.ndarray, cell: int = CONFUSION_CELL_PX) -> np.ndarray:
    """A confusion matrix as a picture: rows are the true digit, columns what the model said;
    mistakes in red (darker = a larger share of that row), hits in grey, counts written in."""
    from PIL import ImageDraw, ImageFont

    n = counts.shape[0]
    margin = cell
    img = Image.new("RGB", (margin + n * cell, margin + n * cell), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=CONFUSION_FONT_PX)
    rows = counts.sum(1, keepdims=True).clip(min=1)
    for i in range(n):
        centre = margin + i * cell + cell // 2
        draw.text((centre, margin // 2), str(i), fill="black", font=font, anchor="mm")  # said
        draw.text((margin // 2, centre), str(i), fill="black", font=font, anchor="mm")  # true
        for j in range(n):
            share = counts[i, j] / rows[i, 0]
            colour = np.array([235, 235, 235]) if i == j else PAPER - min(1.0, 4 * share) * (PAPER - TOWARDS)
            x, y = margin + j * cell, margin + i * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=tuple(int(c) for c in colour), outline="white")
            if counts[i, j]:
                draw.text((x + cell // 2, y + cell // 2), str(int(counts[i, j])), fill="black", font=font,
                          anchor="mm")
    return np.asarray(img)
