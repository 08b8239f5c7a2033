"""Full-resolution depth from a low-resolution prediction: plain bilinear resizing and an
edge-aware guided upsampling whose edges follow the full-resolution RGB.

Convention (README, *Geometry convention*): equirect ``(H, W)`` with ``W == 2H``, pixel centres
at ``(u + ½, v + ½)``; the panorama wraps horizontally, so every filter here pads columns
circularly (the seam is not an edge) and rows by reflection.

:func:`guided_upsample` is the fast guided filter (He & Sun 2015, after He, Sun & Tang 2010)
with a colour guide: the local linear model ``log r ≈ a·I + b`` is fitted in boxes of the
low-resolution grid (the RGB shrunk to it), its coefficients are smoothed, resized to the
input size and applied to the full-resolution RGB. Range is filtered in log space, so the
result stays positive and an edge between 1 m and 4 m is treated like one between 2 m and 8 m.
The linear model extrapolates where the full-resolution RGB holds colours its box did not
(a bright window pixel beside a dark frame): the result is clamped to the range the
prediction spans where the filter reads it (min and max over the ``(4r+1)²`` low-resolution
window of the two box passes), so edges sharpen but no depth appears that the prediction does
not have nearby.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["upsample_bilinear", "guided_upsample", "GUIDED_RADIUS", "GUIDED_EPS"]

# box radius in low-resolution pixels (a 5x5 window) and regulariser of the guide's covariance
# (guide in [0, 1]; larger = smoother): chosen on real panoramas (RealSee3D, 6.25x) and the
# samples (2x, 8x) with `python -m benchmarks.upsampling` (README, *Full-resolution depth*); a
# 9x9 window (radius 4, eps 1e-2) smoothed the prediction where the image is flat and did worse
# than bilinear resizing overall on the real panoramas and the 2x samples
GUIDED_RADIUS = 2
GUIDED_EPS = 3e-3


def _check_pair(low: np.ndarray, guide: np.ndarray) -> None:
    if low.ndim != 2 or low.shape[1] != 2 * low.shape[0]:
        raise ValueError(f"range_low must be (h, w) with w == 2*h, got {low.shape}")
    if guide.ndim != 3 or guide.shape[2] != 3 or guide.shape[1] != 2 * guide.shape[0]:
        raise ValueError(f"guide must be (H, W, 3) with W == 2*H, got {guide.shape}")
    if guide.shape[0] < low.shape[0]:
        raise ValueError(f"guide {guide.shape[:2]} must not be smaller than range_low {low.shape}")


def upsample_bilinear(image: np.ndarray, height: int) -> np.ndarray:
    """Bilinear resize of an equirect ``(h, 2h[, C])`` array to ``(height, 2 height[, C])``
    with columns wrapping at the seam (pixel centres aligned, rows clamped at the poles).

    >>> upsample_bilinear(np.arange(8, dtype=np.float32).reshape(2, 4), 4).shape
    (4, 8)
    """
    a = np.asarray(image, np.float32)
    h, w = a.shape[:2]
    if w != 2 * h or height < 1:
        raise ValueError(f"image must be (h, 2h[, C]) and height >= 1, got {a.shape} -> {height}")
    if h == height:
        return a.copy()
    padded = np.concatenate([a[:, -1:], a, a[:, :1]], axis=1)
    scale = w / (2 * height)
    # output centre x maps to input centre (x + 0.5) * scale - 0.5, +1 for the wrapped column
    xs = (np.arange(2 * height) + 0.5) * scale - 0.5 + 1.0
    ys = np.clip((np.arange(height) + 0.5) * (h / height) - 0.5, 0, h - 1)
    mx, my = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    out = cv2.remap(padded, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(height, 2 * height, *a.shape[2:])


def _box(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a ``(2r+1)²`` box; columns wrap (the seam), rows reflect (the poles)."""
    padded = np.concatenate([a[:, -r:], a, a[:, :r]], axis=1)
    out = cv2.boxFilter(padded, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)
    return out[:, r:-r]


def _guided_coefficients(p: np.ndarray, guide: np.ndarray, r: int, eps: float):
    """Smoothed coefficients ``(a (h, w, 3), b (h, w))`` of ``p ≈ a·guide + b`` per box."""
    mean_i = _box(guide, r)
    mean_p = _box(p, r)
    cov_ip = _box(guide * p[..., None], r) - mean_i * mean_p[..., None]
    sigma = np.empty(p.shape + (3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            c = _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
            sigma[..., i, j] = sigma[..., j, i] = c
    sigma += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sigma.astype(np.float64), cov_ip[..., None].astype(np.float64))[..., 0]
    a = a.astype(np.float32)
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return _box(a, r), _box(b, r)


def guided_upsample(
    range_low: np.ndarray,
    guide: np.ndarray,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> np.ndarray:
    """Range at the guide's size whose edges follow the guide (fast guided filter, log range).

    Args:
        range_low: ``(h, 2h)`` float, metres, all positive (a model's prediction).
        guide: ``(H, 2H, 3)`` RGB, uint8 or float in [0, 1], ``H >= h`` (the full image).
        radius: box radius in low-resolution pixels (``>= 1``).
        eps: regulariser of the guide's colour covariance (``> 0``): where the RGB varies less
            than about ``sqrt(eps)`` the result is the box-smoothed prediction, bilinearly
            upsampled (a constant guide gives exactly that).

    Returns:
        ``(H, 2H) float32`` metres, same frame and pixel grid as ``guide``.

    >>> low = np.full((4, 8), 2.0, np.float32); rgb = np.zeros((16, 32, 3), np.uint8)
    >>> out = guided_upsample(low, rgb); out.shape, round(float(out.max()), 4)
    ((16, 32), 2.0)
    """
    low = np.asarray(range_low, np.float32)
    g = np.asarray(guide)
    _check_pair(low, g)
    if radius < 1 or not eps > 0:
        raise ValueError(f"radius must be >= 1 and eps > 0, got {radius}, {eps}")
    if not np.all(np.isfinite(low) & (low > 0)):
        raise ValueError("range_low must be finite and positive everywhere")
    g = g.astype(np.float32) / 255.0 if g.dtype == np.uint8 else g.astype(np.float32)
    h, big = low.shape[0], g.shape[0]
    small = g if big == h else cv2.resize(g, (2 * h, h), interpolation=cv2.INTER_AREA)
    r = min(radius, (2 * h - 1) // 2, max(h - 1, 1))
    log_low = np.log(low)
    a, b = _guided_coefficients(log_low, small, r, eps)
    a_up, b_up = upsample_bilinear(a, big), upsample_bilinear(b, big)
    out = np.einsum("hwc,hwc->hw", a_up, g) + b_up
    lo, hi = _neighbour_bounds(log_low, 2 * r)
    np.clip(out, upsample_bilinear(lo, big), upsample_bilinear(hi, big), out=out)
    return np.exp(out).astype(np.float32)


def _neighbour_bounds(p: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max over each pixel's ``(2r+1)²`` neighbourhood, ``(h, w)`` each; columns wrap
    (the seam), rows are clamped at the poles."""
    padded = np.concatenate([p[:, -r:], p, p[:, :r]], axis=1)
    k = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    lo = cv2.erode(padded, k, borderType=cv2.BORDER_REPLICATE)[:, r:-r]
    hi = cv2.dilate(padded, k, borderType=cv2.BORDER_REPLICATE)[:, r:-r]
    return lo, hi
