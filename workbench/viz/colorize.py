"""Colour maps for range, normals and error maps, as ``(H, W, 3) uint8`` RGB images.

Invalid pixels (range 0 / non-finite, zero normals, NaN errors) are drawn black: a map with no
valid pixel (all NaN, all 0) is a black image. A map that is not of the documented shape or has
no pixel at all raises :class:`~workbench.errors.WorkbenchError` naming the argument (an empty
array never reaches OpenCV, whose colour maps divide by its size).
"""

from __future__ import annotations

import cv2
import numpy as np

from workbench.errors import WorkbenchError
from workbench.geometry.equirect import valid_mask

__all__ = [
    "colorize_depth",
    "colorize_normals",
    "colorize_error",
    "colorize_segment",
    "depth_limits",
]


def _check_map(a: np.ndarray, name: str, shape: str, ndim: int, channels: int = 0) -> None:
    """``a`` has ``ndim`` dimensions (the last of ``channels`` when given) and a pixel."""
    if a.ndim != ndim or (channels and a.shape[-1] != channels):
        raise WorkbenchError(f"{name} must be {shape}, got {a.shape}")
    if a.size == 0:
        raise WorkbenchError(f"{name} must be {shape} with at least one pixel, got {a.shape}")


def _apply_cmap(t: np.ndarray, cmap: int) -> np.ndarray:

    if t.size == 0:  # OpenCV's colour maps divide by the size (SIGFPE)
        raise WorkbenchError(f"cannot colour an empty map {t.shape}")
    idx = np.clip(np.rint(t * 255.0), 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(idx, cmap)
    return np.ascontiguousarray(bgr[..., ::-1])


def depth_limits(range_m: np.ndarray, percentiles=(2.0, 98.0)) -> tuple[float, float]:
    """``(vmin, vmax)`` from percentiles of the valid pixels; ``(0, 1)`` if none is valid."""
    r = np.asarray(range_m)
    v = r[valid_mask(r)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(v, percentiles)
    if hi <= lo:
        hi = lo + 1e-3
    return float(lo), float(hi)


def colorize_depth(
    range_m: np.ndarray,
    vmin: float | None = None,
    vmax: float | None = None,
    percentiles=(2.0, 98.0),
) -> np.ndarray:
    """Turbo-coloured range map (near = blue, far = red).

    Args:
        range_m: ``(H, W)`` metres.
        vmin, vmax: fixed colour range in metres; each one left ``None`` is taken from
            ``percentiles`` of the valid pixels.

    Returns:
        ``(H, W, 3) uint8`` RGB; invalid pixels black.

    >>> colorize_depth(np.array([[1.0, 0.0]]), 0.0, 2.0).tolist()
    [[[164, 252, 60], [0, 0, 0]]]
    """

    r = np.asarray(range_m, np.float32)
    _check_map(r, "range_m", "(H, W)", 2)
    if vmin is None or vmax is None:
        lo, hi = depth_limits(r, percentiles)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    if not vmax > vmin:
        raise WorkbenchError(f"vmax must exceed vmin, got {vmin}..{vmax}")
    valid = valid_mask(r)
    t = np.where(valid, (r - vmin) / (vmax - vmin), 0.0)
    img = _apply_cmap(t, cv2.COLORMAP_TURBO)
    img[~valid] = 0
    return img


def colorize_normals(normals: np.ndarray) -> np.ndarray:
    """Normals ``(H, W, 3)`` in ``[-1, 1]`` → RGB ``(n + 1) / 2 · 255``; zero vectors black."""
    n = np.asarray(normals, np.float32)
    _check_map(n, "normals", "(H, W, 3)", 3, 3)
    img = np.clip(np.rint((n + 1.0) * 127.5), 0, 255).astype(np.uint8)
    img[~np.any(n != 0, axis=-1)] = 0
    return img


def colorize_error(error: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """Absolute error map (``(H, W)``, e.g. ``|pred - gt|`` in metres) in the inferno colour map.

    Args:
        error: ``(H, W)``; NaN marks pixels without ground truth (drawn black).
        vmax: error shown at full scale; default the 98th percentile of the finite errors.
    """

    e = np.abs(np.asarray(error, np.float32))
    _check_map(e, "error", "(H, W)", 2)
    finite = np.isfinite(e)
    if vmax is None:
        vmax = float(np.percentile(e[finite], 98)) if finite.any() else 1.0
    vmax = max(float(vmax), 1e-6)
    img = _apply_cmap(np.where(finite, e / vmax, 0.0), cv2.COLORMAP_INFERNO)
    img[~finite] = 0
    return img


def colorize_segment(
    segment: np.ndarray, rgb: np.ndarray | None = None, alpha: float = 0.5
) -> np.ndarray:
    """Class ids ``(H, W)`` (``segment.png``; 0 = background, drawn black or left as the
    photo) as distinct colours, blended over ``rgb`` ``(H, W, 3) uint8`` with ``alpha`` when
    given. Returns ``(H, W, 3) uint8``.

    >>> colorize_segment(np.array([[0, 1]], np.uint8))[0, 0].tolist()
    [0, 0, 0]
    """
    seg = np.asarray(segment)
    _check_map(seg, "segment", "(H, W) class ids", 2)
    if rgb is not None and np.shape(rgb) != (*seg.shape, 3):
        raise WorkbenchError(f"rgb must be {(*seg.shape, 3)} like segment, got {np.shape(rgb)}")
    seg = seg.astype(np.int64)
    hue = (seg * 47) % 180  # golden-angle-like spread over OpenCV's 0-179 hues
    hsv = np.stack([hue, np.full_like(hue, 200), np.full_like(hue, 230)], -1).astype(np.uint8)
    colours = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    colours[seg == 0] = 0
    if rgb is None:
        return colours
    out = rgb.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha
    out[seg == 0] = rgb[seg == 0]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
