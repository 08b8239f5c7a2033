"""A colour bar in metres under a coloured range map, for image files read without a plot.

``add_colour_bar(image, vmin, vmax)`` returns the image with a strip below it: the same turbo
colour map as :func:`~workbench.viz.colorize.colorize_depth` from ``vmin`` (left) to ``vmax``
(right) across the middle of the width, and tick labels in metres at round values
(:func:`nice_ticks`). The map's own rows are unchanged: ``out[:H]`` is the input.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from workbench.errors import WorkbenchError
from workbench.viz.colorize import colorize_depth

__all__ = ["add_colour_bar", "nice_ticks", "bar_height"]

_MARGIN = 0.06  # of the width, each side of the gradient (room for the end labels)


def nice_ticks(vmin: float, vmax: float, max_ticks: int = 7) -> list[float]:
    """Round values (steps of 1, 2 or 5 × 10^k) within ``[vmin, vmax]``, at most ``max_ticks``.

    >>> nice_ticks(0.3, 6.2)
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    >>> nice_ticks(1.02, 1.9)
    [1.2, 1.4, 1.6, 1.8]
    """
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
        raise WorkbenchError(
            f"colour bar range must be finite with vmax > vmin, got {vmin}..{vmax}"
        )
    span = vmax - vmin
    for k in range(math.floor(math.log10(span / max_ticks)) - 1, math.ceil(math.log10(span)) + 1):
        for m in (1, 2, 5):
            step = m * 10.0**k
            ticks = np.arange(math.ceil(vmin / step), math.floor(vmax / step) + 1) * step
            if 0 < ticks.size <= max_ticks:
                return [round(float(t), 10) for t in ticks]
    return [round(vmin, 3), round(vmax, 3)]


def bar_height(width: int) -> int:
    """Rows of the strip :func:`add_colour_bar` adds under a map ``width`` pixels wide."""
    return max(24, width // 24)


def _label(v: float) -> str:
    return f"{v:g}"


def _put(strip: np.ndarray, text: str, x: int, base: int, scale: float, thick: int, right: int):
    """White ``text`` centred on column ``x`` (kept inside the strip) unless it would start
    before ``right`` (the end of the previous label); returns the new ``right``."""
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    left = min(max(x - tw // 2, 0), strip.shape[1] - tw)
    if left <= right or left < 0:
        return right  # no room: it would overlap the previous label or is wider than the strip
    white = (255, 255, 255)
    cv2.putText(
        strip, text, (left, base), cv2.FONT_HERSHEY_SIMPLEX, scale, white, thick, cv2.LINE_AA
    )
    return left + tw + max(4, tw // 3)


def add_colour_bar(image: np.ndarray, vmin: float, vmax: float, unit: str = "m") -> np.ndarray:
    """``image`` (a coloured range map, ``(H, W, 3) uint8`` RGB) with its colour bar below.

    Args:
        image: the map, coloured over ``[vmin, vmax]`` (metres).
        vmin, vmax: the colour range of the map (metres), ``vmax > vmin``.
        unit: written once, right of the gradient (where the margin holds it).

    Returns:
        ``(H + bar_height(W), W, 3) uint8``: the gradient in the strip's upper 45 %, white tick
        marks under it, labels below those and the unit right of the gradient (labels that would
        overlap are left out).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or img.size == 0:
        raise WorkbenchError(f"image must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
    ticks = nice_ticks(vmin, vmax)
    w = img.shape[1]
    h = bar_height(w)
    strip = np.zeros((h, w, 3), np.uint8)
    x0, x1 = round(w * _MARGIN), max(round(w * (1 - _MARGIN)), round(w * _MARGIN) + 1)
    values = vmin + (np.arange(x1 - x0) + 0.5) / (x1 - x0) * (vmax - vmin)
    g, mark = round(0.45 * h), max(2, h // 8)  # gradient rows, then tick marks under it
    strip[:g, x0:x1] = colorize_depth(values[None, :], vmin, vmax)
    scale, thick = h / 80.0, max(1, round(h / 50))  # text about 0.3 h high
    base = h - max(2, h // 12)
    right = -1
    for v in ticks:
        x = x0 + round((v - vmin) / (vmax - vmin) * (x1 - x0))
        strip[g : g + mark, max(x - thick, 0) : x + thick] = 255
        right = _put(strip, _label(v), x, base, scale, thick, right)
    if unit:  # the unit once, right of the gradient when the margin holds it
        _put(strip, unit, x1 + (w - x1) // 2, base, scale, thick, right)
    return np.concatenate([img, strip], axis=0)
