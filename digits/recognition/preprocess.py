"""From any drawn, scanned or uploaded image to an MNIST-style 28x28 ink image.

MNIST's recipe (LeCun et al.): the digit's ink is scaled, keeping its aspect ratio, to fit
a 20x20 box with anti-aliasing, then pasted into a 28x28 field so that its centre of mass
sits at the centre. Browser drawings also differ in stroke width, so strokes far outside
MNIST's range are brought to MNIST's typical width: thick ones worn down along their
outline, thin ones redrawn along their skeleton. Paper lit unevenly (a photo) is fitted as a
smooth surface, so its shadows are not ink. All functions here are pure.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold
from skimage.morphology import skeletonize

from digits.recognition.form import (  # noqa: F401 (re-exported: the form is part of this module's face)
    EMPTY_FAINT,
    EMPTY_NO_INK,
    EMPTY_SMALL,
    FIELD,
    FIELD_CENTRE,
    INK_BOX,
    MIN_DIGIT_FRACTION,
    MNIST_STROKE_HIGH,
    MNIST_STROKE_LOW,
    MNIST_STROKE_MEDIAN,
    NO_INK,
    TOO_FAINT,
    NoInk,
    Placement,
    Preprocessed,
)
from digits.recognition.rulings import without_rulings
from digits.recognition.stray import gap, longer_side, stray_marks, union
from digits.recognition.strokes import ink_of_strokes, preprocess_strokes

WORK_SCALE = 4  # stroke width is measured and redrawn at 4x the final resolution
WORK_BOX = INK_BOX * WORK_SCALE


MIN_CONTRAST = 0.15  # strongest ink below 15% of full scale: too faint to be a digit
NOISE_SIGMAS = 4.0  # background noise floor: median + 4 robust standard deviations
MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation for Gaussian noise
BBOX_LEVEL = 0.3  # the digit is located by pixels above 30% of the strongest ink ...
BBOX_MARGIN = 1 / INK_BOX  # ... and its box grows to inked pixels up to one 20-px-box pixel away
MIN_DIGIT_PX = 3  # ... and never fewer than 3 pixels
MASK_LEVEL = 0.5  # stroke masks keep pixels above half the strongest ink
JOINED_MASK_LEVEL = 0.2  # ... and a thin pen's faint stretches above this, where they join such ink,
JOIN_MIN_SHRINK = 4  # in drawings at least 4 times the working copy's size (320 px: photos, large canvases)

# Paper lit unevenly (a shadow across a photo, a phone camera's darker corners) is a smooth
# surface: fitted (a quadratic in x and y) on a copy this size, first to the border, then to
# every pixel lying on it within the noise; one that varies less than UNEVEN_LIGHT is taken as
# uniform, and its border's median is the background, as for a canvas or a flat scan.
LIGHT_FIT_PX = 64
LIGHT_TRIM_SIGMAS = 3.0  # pixels further than this from the surface are ink, not paper
MIN_LIGHT_NOISE = 0.02  # ... with the noise taken as at least this
UNEVEN_LIGHT = 0.05
LIGHT_REFITS = 2  # fits to every paper pixel after the border's
MIN_LIGHT_FIT_PX = 12  # images smaller than this (a 28x28 is larger) keep the border's median

REDRAW_MIN_EXTENT = 2 * INK_BOX  # sources smaller than this keep their strokes as they are
COM_DECIMALS = 3  # centre of mass precision before the integer shift

# The pixel budget: larger images are refused before decoding (an 8000x8000 canvas costs
# seconds of CPU and gigabytes of memory; a real drawing or photo of a digit is far smaller).
MAX_PIXELS = 16_000_000
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601: a colour photo's grey, where its lines are judged




# --- input decoding -------------------------------------------------------------------------


class ImageInputError(ValueError):
    """An input that cannot be read as an image, with a message a visitor can act on."""


def check_pixels(width: int, height: int) -> None:
    """Refuse images above the pixel budget (checked on the header, before decoding)."""
    if width * height > MAX_PIXELS:
        raise ImageInputError(f"the image is too large ({width}x{height} pixels; the limit is "
                              f"{MAX_PIXELS // 1_000_000} megapixels)")


def _file_source(source: str | os.PathLike | bytes | bytearray) -> Path | io.BytesIO:
    return io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else Path(source)


def _open_image(source: Any) -> Image.Image:
    """Open an image file or bytes, checking its size from the header before decoding it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            check_pixels(*image.size)
            image.load()
            return image
    except ImageInputError:
        raise
    except FileNotFoundError:
        raise ImageInputError("the image file does not exist") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageInputError(f"the image is too large (the limit is {MAX_PIXELS // 1_000_000} megapixels)") from None
    except Image.UnidentifiedImageError:
        raise ImageInputError("this is not an image PIL can read (PNG, JPEG, GIF, BMP, WebP, TIFF, ...)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ImageInputError(f"the image is damaged or truncated ({exc})") from None


def to_array(image: Any) -> np.ndarray | None:
    """Any supported input as HxW, HxWx3 or HxWx4: uint8 (0-255) kept as is, else float32 in [0, 1]."""
    if image is None:
        return None
    if isinstance(image, (str, os.PathLike, bytes, bytearray)):
        with _open_image(_file_source(image)) as im:
            return to_array(im)
    if isinstance(image, Image.Image):
        check_pixels(*image.size)
        if image.mode == "RGBA":
            return np.asarray(image)  # already what we need: no converted copy
        if image.mode in ("LA", "PA", "La", "RGBa") or "transparency" in image.info:
            return np.asarray(image.convert("RGBA"))
        if image.mode in ("I", "I;16", "F"):  # numeric modes: scaled below like arrays
            return to_array(np.asarray(image))
        return np.asarray(image.convert("L" if image.mode in ("1", "L") else "RGB"))
    arr = np.asarray(image)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ImageInputError(f"expected an image, got {type(image).__name__}")
    if arr.ndim >= 2:
        check_pixels(arr.shape[1], arr.shape[0])
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] == 2:  # grey + alpha
        arr = np.dstack([arr[:, :, 0]] * 3 + [arr[:, :, 1]])
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageInputError(f"unsupported image shape {arr.shape}: expected HxW, HxWx3 or HxWx4")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        top = 255.0 if arr.max(initial=0) <= 255 else 65535.0
        return np.clip(arr.astype(np.float32) / top, 0, 1)
    arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if arr.size and arr.max() > 1.0:  # floats on the 0-255 scale
        arr = arr / 255.0
    return np.clip(arr, 0, 1)


def _unit(channel: np.ndarray) -> np.ndarray:
    """A channel as float32 in [0, 1], converting uint8 only when it is needed."""
    if channel.dtype == np.uint8:
        return channel.astype(np.float32) * np.float32(1 / 255)
    return channel


def _stretch(contrast_map: np.ndarray) -> np.ndarray | NoInk:
    """Scale a distance-from-background map to ink in [0, 1], with background noise cut to 0.

    The noise floor is the typical background level plus NOISE_SIGMAS robust standard
    deviations (1.4826 x median absolute deviation), so a clean canvas keeps every
    anti-aliased pixel while a grainy scan loses its grain.
    """
    strongest = float(contrast_map.max(initial=0.0))
    if strongest <= 0:
        return NO_INK
    if strongest - float(contrast_map.min(initial=strongest)) < MIN_CONTRAST:
        return NO_INK if strongest >= MIN_CONTRAST else TOO_FAINT  # uniform: no contrast, no ink
    sample = contrast_map[:: max(1, contrast_map.shape[0] // 64), :: max(1, contrast_map.shape[1] // 64)]
    typical = float(np.median(sample))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(sample - typical)))
    floor = min(typical + NOISE_SIGMAS * spread, strongest / 2)
    ink = contrast_map - np.float32(floor)
    ink *= np.float32(1 / (strongest - floor))
    return np.clip(ink, 0, 1, out=ink)


def _border(arr: np.ndarray) -> np.ndarray:
    return np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])


def _ink_from_alpha(alpha: np.ndarray) -> np.ndarray | NoInk | None:
    """Ink from transparency where it varies; the reason when nothing is visible; None when
    the image is uniformly opaque (its colours tell where the ink is)."""
    alpha = _unit(alpha)
    low, high = float(alpha.min(initial=1.0)), float(alpha.max(initial=0.0))
    if high - low >= MIN_CONTRAST:
        return _stretch(alpha)
    if high < MIN_CONTRAST:
        return NO_INK  # fully transparent: nothing visible
    return None


@functools.lru_cache(maxsize=8)
def _surface_terms(h: int, w: int) -> np.ndarray:
    """1, x, y, x^2, xy, y^2 at every pixel of an h x w grid (x, y in [-1, 1])."""
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _surface_fit(grid: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares quadratic surface through `grid`'s `keep` pixels, evaluated everywhere,
    and the robust spread of those pixels about it."""
    terms = _surface_terms(*grid.shape)
    coef = np.linalg.lstsq(terms[keep], grid[keep], rcond=None)[0]
    surface = (terms @ coef).astype(np.float32)
    residual = grid[keep] - surface[keep]
    return surface, MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual))))


def _refit(grid: np.ndarray, surface: np.ndarray, sigma: float,
           among: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The surface fitted again to the pixels (of `among`) that lie on it: not ink."""
    keep = np.abs(grid - surface) <= LIGHT_TRIM_SIGMAS * max(sigma, MIN_LIGHT_NOISE)
    keep = keep if among is None else keep & among
    return _surface_fit(grid, keep) if keep.sum() >= MIN_LIGHT_FIT_PX else (surface, sigma)


def _paper(channel: np.ndarray) -> np.ndarray | np.float32:
    """The background under the ink: the border's median where the paper is evenly lit; a
    smooth surface where it is not (fitted as LIGHT_FIT_PX says), at the image's size."""
    edge = _border(channel)
    flat = np.float32(np.median(edge))
    if min(channel.shape) < MIN_LIGHT_FIT_PX or float(np.ptp(edge)) < UNEVEN_LIGHT:
        return flat
    grid = resize(channel, fit_size(*channel.shape, min(LIGHT_FIT_PX, max(channel.shape))))
    border = np.zeros(grid.shape, bool)
    border[[0, -1]] = border[:, [0, -1]] = True
    surface, sigma = _refit(grid, *_surface_fit(grid, border), among=border)  # without ink crossing it
    if float(np.ptp(surface)) < UNEVEN_LIGHT:
        return flat  # evenly lit (light that changes only inside the border is not seen either)
    for _ in range(LIGHT_REFITS):
        surface, sigma = _refit(grid, surface, sigma)
    if not _fits_better(grid[border], surface[border]):
        return flat  # a digit cropped tight: its ink on the border bent the surface, not the light
    return resize(surface, channel.shape)


def _fits_better(edge: np.ndarray, surface_edge: np.ndarray) -> bool:
    """Whether the surface lies closer to the border's pixels than their median does, taken
    robustly (the median distance): true of light falling across the paper; not of a digit
    whose ink runs onto the border of paper that is evenly lit, which the median fits exactly."""
    flat = float(np.median(np.abs(edge - np.median(edge))))
    return float(np.median(np.abs(edge - surface_edge))) < flat


def ink_from_array(arr: np.ndarray) -> np.ndarray | NoInk:
    """Ink map in [0, 1] of a decoded image, or the reason it holds no ink.

    Transparency wins where it varies (a canvas: ink is what is opaque, whatever colour
    lies under transparent pixels); otherwise ink is what differs from the paper, which is
    the median colour of the image's border, or a smooth surface where the light falls
    unevenly (so dark-on-light, light-on-dark and coloured ink all work, and a shadow or a
    camera's darker corners are not ink).
    """
    if arr.ndim == 3 and arr.shape[2] == 4:
        ink = _ink_from_alpha(arr[:, :, 3])
        if ink is not None:
            return ink
        arr = arr[:, :, :3]
    arr = _unit(arr)
    if arr.ndim == 2:
        ink = _stretch(np.abs(arr - _paper(arr)))
        return without_rulings(ink) if isinstance(ink, np.ndarray) else ink
    ink = _stretch(np.max([np.abs(arr[:, :, c] - _paper(arr[:, :, c])) for c in range(arr.shape[2])], axis=0))
    return without_rulings(ink, lambda: _grey_ink(arr)) if isinstance(ink, np.ndarray) else ink


def _grey_ink(arr: np.ndarray) -> np.ndarray | None:
    """A colour image's ink in grey, where a red margin is faint (in the strongest channel's
    difference from the paper, green's and blue's, it is as strong as a pen)."""
    grey = arr[:, :, :3] @ LUMA if arr.shape[2] >= 3 else arr[:, :, 0]
    ink = _stretch(np.abs(grey - _paper(grey)))
    return ink if isinstance(ink, np.ndarray) else None


def ink_map(image: Any) -> np.ndarray | NoInk:
    """Ink in [0, 1] from any supported input (a pad's strokes, a Gradio sketchpad dict)."""
    if isinstance(image, dict) and "strokes" in image:
        return ink_of_strokes(image)
    if isinstance(image, dict):
        return _ink_from_editor(image)
    if isinstance(image, (str, os.PathLike, bytes, bytearray)):
        return _ink_from_file(image)
    arr = to_array(image)
    if arr is None or arr.size == 0:
        return NO_INK
    return ink_from_array(arr)


def _ink_from_file(source: str | os.PathLike | bytes | bytearray) -> np.ndarray | NoInk:
    """An image file or its bytes: a transparent canvas is read from its alpha channel alone,
    without converting the colour channels (a quarter of the pixels to copy)."""
    with _open_image(_file_source(source)) as im:
        if im.mode == "RGBA":
            ink = _ink_from_alpha(np.asarray(im.getchannel("A")))
            if ink is not None:
                return ink
        arr = to_array(im)
    if arr.size == 0:
        return NO_INK
    return ink_from_array(arr)


def _alpha_channel(layer: Any) -> np.ndarray | None:
    """A layer's alpha channel, or None when it has none; files are decoded for that channel only."""
    if layer is None:
        return None
    if isinstance(layer, (str, os.PathLike, bytes, bytearray)):
        with _open_image(_file_source(layer)) as im:
            if im.mode == "RGBA":
                return np.asarray(im.getchannel("A"))
            layer = to_array(im)
    arr = to_array(layer)
    return arr[:, :, 3] if arr is not None and arr.ndim == 3 and arr.shape[2] == 4 else None


def _ink_from_editor(value: dict) -> np.ndarray | NoInk:
    """Gradio ImageEditor/Sketchpad value: strokes live in the layers' alpha."""
    if not isinstance(value.get("layers") or [], (list, tuple)):
        raise ImageInputError("a sketchpad value's layers must be a list of images")
    alphas = [_unit(a) for a in map(_alpha_channel, value.get("layers") or []) if a is not None]
    alphas = [a for a in alphas if a.shape == alphas[0].shape] if alphas else []
    alpha = (np.maximum.reduce(alphas) if len(alphas) > 1 else alphas[0]) if alphas else None
    if alpha is not None and float(alpha.max(initial=0)) - float(alpha.min(initial=1)) >= MIN_CONTRAST:
        return _stretch(alpha)  # strokes on a transparent layer; an opaque layer says nothing
    for key in ("composite", "background"):
        if value.get(key) is not None:
            return ink_map(value[key])
    return NO_INK


# --- geometry -------------------------------------------------------------------------------


def ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), bottom/right exclusive, of the digit's ink.

    The clearly inked pixels (above BBOX_LEVEL of the strongest) locate the digit, so a
    stray speck far away cannot stretch the box; the box then grows to every inked pixel
    within a small margin of it, so the soft anti-aliased edges are kept and a clean
    image gets exactly the box of its non-zero pixels.
    """
    peak = float(ink.max(initial=0.0))
    if peak <= 0:
        return None
    strong = ink >= BBOX_LEVEL * peak
    rows = np.flatnonzero(strong.any(axis=1))
    cols = np.flatnonzero(strong.any(axis=0))
    margin = int(np.ceil(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) * BBOX_MARGIN))
    top, left = max(0, rows[0] - margin), max(0, cols[0] - margin)
    window = ink[top:rows[-1] + 1 + margin, left:cols[-1] + 1 + margin] > 0
    inked_rows = np.flatnonzero(window.any(axis=1))
    inked_cols = np.flatnonzero(window.any(axis=0))
    return (int(top + inked_rows[0]), int(top + inked_rows[-1]) + 1,
            int(left + inked_cols[0]), int(left + inked_cols[-1]) + 1)


def without_strays(ink: np.ndarray) -> np.ndarray:
    """The ink map less any stray mark (a speck of dust apart from the digit: `stray.py`),
    found among the pieces of clear ink and cleared with its faint rim. An image at MNIST's
    scale is left as drawn: there a piece a pixel apart is a broken stroke as often as dust."""
    peak = float(ink.max(initial=0.0)) if max(ink.shape) >= REDRAW_MIN_EXTENT else 0.0
    labels, n = ndimage.label(ink >= BBOX_LEVEL * peak, structure=np.ones((3, 3))) if peak > 0 else (None, 0)
    if n < 2:
        return ink
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)])
    drop = stray_marks(boxes)
    if not drop:
        return ink
    out, kept = ink.copy(), np.setdiff1d(np.arange(n), drop)
    rest = union(boxes[kept])
    for k in drop:  # the rim reaches a little past the clear ink, never halfway to the rest
        m = int(min(longer_side(boxes[k]), gap(boxes[k], rest) / 2))
        x0, y0, x1, y1 = boxes[k]
        out[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m] = 0
    return out


def crop(ink: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """The box's pixels, zero outside the image (so a digit at the edge crops like one inside)."""
    top, bottom, left, right = bbox
    h, w = ink.shape
    inside = ink[max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
    pads = ((max(0, -top), max(0, bottom - h)), (max(0, -left), max(0, right - w)))
    return np.pad(inside, pads) if any(p for pair in pads for p in pair) else inside


def fit_size(height: int, width: int, box: int) -> tuple[int, int]:
    """(h, w) scaled so the longer side is `box`, keeping the aspect ratio."""
    scale = box / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(ink: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased resize: box (area) filter down, bilinear up."""
    h, w = size
    if (h, w) == ink.shape:
        return ink.astype(np.float32, copy=False)
    shrinking = h <= ink.shape[0] and w <= ink.shape[1]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    out = Image.fromarray(ink.astype(np.float32), mode="F").resize((w, h), method)
    return np.clip(np.asarray(out, dtype=np.float32), 0, 1)


def stroke_mask(ink: np.ndarray) -> np.ndarray:
    return ink > MASK_LEVEL * float(ink.max(initial=0.0))


def skeleton_and_width(ink: np.ndarray) -> tuple[np.ndarray, float]:
    """Skeleton of the strokes and their median width in this image's pixels."""
    mask = np.pad(stroke_mask(ink), 1)
    skeleton = skeletonize(mask)
    if not skeleton.any():
        return skeleton[1:-1, 1:-1], 0.0
    inside = ndimage.distance_transform_edt(mask)
    # A pixel on the centre line of a stroke w pixels wide is about (w + 1) / 2 from the edge.
    width = max(1.0, 2 * float(np.median(inside[skeleton])) - 1)
    return skeleton[1:-1, 1:-1], width


def joined_skeleton(ink: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Skeleton at `size` (smaller than the ink) of a thin pen's strokes, found at the ink's own resolution: shrunk
    first, a stroke thinner than a working pixel fades wherever it runs askew of the grid, and
    half the strongest ink (at crossings) breaks it into pieces. Faint stretches count where
    they join clearly inked ones; a working pixel is stroke where any of its ink is."""
    peak = float(ink.max(initial=0.0))
    mask = apply_hysteresis_threshold(ink, JOINED_MASK_LEVEL * peak, MASK_LEVEL * peak).astype(np.float32)
    mask = resize(mask, size) > 0  # shrunk (JOIN_MIN_SHRINK): a box filter, so any ink in the block
    return skeletonize(np.pad(mask, 1))[1:-1, 1:-1]


def stroke_width(ink: np.ndarray) -> float:
    """Median stroke width of an ink image after scaling it to MNIST's 20 px box, in pixels."""
    work = resize(ink, fit_size(*ink.shape, WORK_BOX))
    return skeleton_and_width(work)[1] / WORK_SCALE


def redraw_strokes(skeleton: np.ndarray, width: float) -> np.ndarray:
    """Anti-aliased strokes of a uniform `width` (pixels) along a skeleton."""
    distance = ndimage.distance_transform_edt(~skeleton)
    return np.clip(width / 2 + 0.5 - distance, 0, 1).astype(np.float32)


def thinned(ink: np.ndarray, width: float, target: float) -> np.ndarray:
    """Strokes `width` pixels wide worn down evenly to `target` (anti-aliased), inside their
    outline. A pen thick enough to fill a 6's loop leaves a round blob with a stem: worn
    down it stays one, where its skeleton (and a redraw along it) is a hook, a "c"."""
    inside = ndimage.distance_transform_edt(np.pad(stroke_mask(ink), 1))[1:-1, 1:-1]
    return np.clip(inside - (width - target) / 2 + 0.5, 0, 1).astype(np.float32)


def mass_offset(box: np.ndarray) -> tuple[int, int]:
    """(top, left) that puts `box`'s centre of mass at the field's centre."""
    total = float(box.sum())
    ys, xs = np.indices(box.shape)
    cy, cx = (float((ys * box).sum()) / total, float((xs * box).sum()) / total) if total > 0 else (
        (box.shape[0] - 1) / 2, (box.shape[1] - 1) / 2)
    # Quantise before rounding so float noise (e.g. from inverting an image) cannot flip a
    # half-pixel tie into a one-pixel shift.
    return int(round(round(FIELD_CENTRE - cy, COM_DECIMALS))), int(round(round(FIELD_CENTRE - cx, COM_DECIMALS)))


def centre_by_mass(box: np.ndarray, field: int = FIELD) -> np.ndarray:
    """Paste `box` into a field x field image with its centre of mass at the centre."""
    return paste(box, *mass_offset(box), field)


def paste(box: np.ndarray, top: int, left: int, field: int = FIELD) -> np.ndarray:
    """`box` at (top, left) in a field x field image of zeros, clipped at the edges."""
    out = np.zeros((field, field), dtype=np.float32)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + box.shape[0], field), min(left + box.shape[1], field)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = box[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


# --- the pipeline ---------------------------------------------------------------------------


def normalize_ink(ink: np.ndarray) -> Preprocessed:
    """Ink map (any size) -> MNIST-style 28x28: strays out, crop, stroke width, 20 px box,
    centre of mass."""
    ink = without_strays(ink)
    bbox = ink_bbox(ink)
    if bbox is None:
        return Preprocessed(None, EMPTY_NO_INK)
    top, bottom, left, right = bbox
    extent = max(bottom - top, right - left)
    if extent < max(MIN_DIGIT_PX, MIN_DIGIT_FRACTION * max(ink.shape)):
        return Preprocessed(None, EMPTY_SMALL)
    box_ink = crop(ink, bbox)
    work = resize(box_ink, fit_size(*box_ink.shape, WORK_BOX))
    skeleton, work_width = skeleton_and_width(work)
    width = work_width / WORK_SCALE
    box_size = fit_size(*box_ink.shape, INK_BOX)
    # A brush is only worth normalising when the source is larger than the 20 px box;
    # an image already at MNIST's scale (a 28x28 digit, a small scan) is left as drawn.
    in_range = MNIST_STROKE_LOW <= width <= MNIST_STROKE_HIGH
    redrawn = not in_range and max(box_ink.shape) >= REDRAW_MIN_EXTENT and bool(skeleton.any())
    if redrawn and width > MNIST_STROKE_HIGH:
        box = resize(thinned(work, work_width, MNIST_STROKE_MEDIAN * WORK_SCALE), box_size)
    elif redrawn:
        far = max(box_ink.shape) >= JOIN_MIN_SHRINK * WORK_BOX  # a photo: the pen is far thinner than a working pixel
        box = resize(redraw_strokes(joined_skeleton(box_ink, work.shape) if far else skeleton,
                                    MNIST_STROKE_MEDIAN * WORK_SCALE), box_size)
    else:
        box = resize(box_ink, box_size)
    peak = float(box.max(initial=0.0))
    if peak <= 0:
        return Preprocessed(None, EMPTY_SMALL)
    if box.shape != box_ink.shape:
        box = box / peak  # resampling dims thin strokes; restore full-strength ink
    offset = mass_offset(box)
    placement = Placement((int(ink.shape[0]), int(ink.shape[1])), bbox, box.shape, offset)
    return Preprocessed(paste(box, *offset), None, width, redrawn, placement)


def to_input(map28: np.ndarray, placement: Placement) -> np.ndarray:
    """A 28x28 map (e.g. an attribution) on the input image's pixels: the inverse of the
    crop, scale and shift that made the 28x28 (zero outside the digit's box)."""
    (top, left), (h, w) = placement.offset, placement.size
    field = np.pad(map28.astype(np.float32), FIELD)  # room for a box slightly outside the field
    box = field[FIELD + top:FIELD + top + h, FIELD + left:FIELD + left + w]
    y0, y1, x0, x1 = placement.bbox
    scaled = Image.fromarray(np.ascontiguousarray(box), mode="F").resize((x1 - x0, y1 - y0),
                                                                         Image.Resampling.BILINEAR)
    scaled = np.asarray(scaled)
    out = np.zeros(placement.input_shape, np.float32)
    height, width = placement.input_shape
    out[max(y0, 0):min(y1, height), max(x0, 0):min(x1, width)] = scaled[
        max(0, -y0):scaled.shape[0] - max(0, y1 - height), max(0, -x0):scaled.shape[1] - max(0, x1 - width)]
    return out


def preprocess(image: Any) -> Preprocessed:
    """The whole pipeline: any supported input -> `Preprocessed` (28x28 or empty). A pad's
    strokes are drawn straight into the 28x28 (`digits.recognition.strokes`)."""
    if isinstance(image, dict) and "strokes" in image:
        return preprocess_strokes(image)
    return preprocess_ink(ink_map(image))


def preprocess_ink(ink: np.ndarray | NoInk) -> Preprocessed:
    """The pipeline after decoding: an ink map (or the reason there is none) -> `Preprocessed`."""
    if isinstance(ink, NoInk):
        return Preprocessed(None, ink.reason)
    return normalize_ink(ink)
