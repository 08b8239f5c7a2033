"""Depth residuals between two panoramas of one scene: does A's depth, moved into B by the
poses, agree with the range B measures?

For every pixel of A that the correspondence kernel
(:func:`~workbench.geometry.correspondence_fast.correspond_fast`) finds visible in B (its
z-test with the generous ``gate`` tolerance, so a wrong scale or pose is measured rather than
mistaken for occlusion), the **residual** is ``r_pred - r_b`` in metres: ``r_pred`` the range
from B's centre to A's point, ``r_b`` the range B measured along the same ray (bilinear where
its 4 pixels have depth and do not straddle a depth edge, else the nearest pixel when B
measured it: sparse LiDAR; a depth edge is left out). A negative residual means A's surface
lies in front of what B sees through it, a *free-space violation* that occlusion cannot
explain; a positive one within the gate may be a surface B sees in front of A's.

A residual is an inlier within ``tol_abs + tol_rel * r_b`` metres; the inlier fraction leaves
out residuals beyond ``+tol`` (possible occlusions, :func:`inlier_fraction`). A violation
blob is the largest compact region of A's pixels (after a 3×3 opening, so the 1-pixel lines
of depth edges go) whose residual is below ``-2 * (tol_abs + tol_rel * r_b)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numba
import numpy as np

from workbench.geometry.correspondence_fast import Target, correspond_fast
from workbench.geometry.equirect import check_equirect, resize_range, valid_mask

__all__ = [
    "Matches",
    "sample_measured",
    "match_ranges",
    "shrink_range",
    "residual_image",
    "residual_stats",
    "inlier_fraction",
    "violation_blob",
]


@dataclass(frozen=True)
class Matches:
    """A's pixels matched in B (one direction of a pair).

    Attributes:
        idx: ``(N,) int64`` flat pixel index in A (row-major, ``v * W + u``).
        r_pred: ``(N,) float32`` metres from B's centre to A's point.
        r_b: ``(N,) float32`` metres B measured along that ray.
        shape: ``(H, W)`` of A.
    """

    idx: np.ndarray
    r_pred: np.ndarray
    r_b: np.ndarray
    shape: tuple[int, int]

    @property
    def residual(self) -> np.ndarray:
        """``(N,) float32`` ``r_pred - r_b`` metres (negative: a free-space violation)."""
        return self.r_pred - self.r_b


@numba.njit(cache=True, nogil=True)
def _sample_kernel(rb, u, v, edge, value, ok):
    """:func:`sample_measured` compiled: one pass, no temporaries (``rb`` has 0 where B has
    no depth)."""
    h, w = rb.shape
    for k in range(u.shape[0]):
        uk = u[k] if u[k] == u[k] else 0.0
        vk = v[k] if v[k] == v[k] else 0.0
        u0 = math.floor(uk)
        v0 = min(max(math.floor(vk), 0.0), h - 1.0)
        fu, fv = uk - u0, min(max(vk - v0, 0.0), 1.0)
        iu0, iv0 = int(u0) % w, int(v0)
        iu1, iv1 = (iu0 + 1) % w, min(iv0 + 1, h - 1)
        a, b, c, d = rb[iv0, iu0], rb[iv0, iu1], rb[iv1, iu0], rb[iv1, iu1]
        big = np.float32(3.4e38)
        lo = min(min(a if a > 0 else big, b if b > 0 else big),
                 min(c if c > 0 else big, d if d > 0 else big))  # fmt: skip
        hi = max(max(a, b), max(c, d))
        if a > 0 and b > 0 and c > 0 and d > 0:
            value[k] = (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv
        else:
            value[k] = rb[min(max(int(np.rint(vk)), 0), h - 1), int(np.rint(uk)) % w]
        ok[k] = value[k] > 0 and hi - lo <= edge * lo
        if not ok[k]:
            value[k] = 0.0


def sample_measured(range_b: np.ndarray, u: np.ndarray, v: np.ndarray, edge: float = 0.1):
    """B's measured range at continuous pixels ``(u, v)`` (columns wrapping, rows clamped):
    bilinear where the 4 pixels around it have depth, else the nearest pixel when B measured
    it; no sample at a depth edge: where the valid ones of the 4 spread by more than ``edge``
    times the smallest (the nearest could be the far side of the edge).

    Args:
        range_b: ``(H, W)`` metres, invalid as 0 / NaN (sparse LiDAR allowed).
        u, v: ``(N,)`` continuous pixel coordinates (integers are pixel centres).
        edge: relative spread of the 4 neighbours that marks a depth edge.

    Returns:
        ``(value, ok)``: ``(N,) float32`` metres (0 where none) and ``(N,) bool``.

    >>> r = np.full((4, 8), 2.0, np.float32); r[0, 0] = 0
    >>> val, ok = sample_measured(r, np.array([2.5, 0.2]), np.array([1.5, 0.2]))
    >>> val.round(2).tolist(), ok.tolist()
    ([2.0, 0.0], [True, False])
    """
    check_equirect(range_b, "range_b")
    rb = np.where(valid_mask(range_b), range_b, 0.0).astype(np.float32)
    u = np.ascontiguousarray(np.asarray(u, np.float64).reshape(-1))
    v = np.ascontiguousarray(np.asarray(v, np.float64).reshape(-1))
    if u.shape != v.shape:
        raise ValueError(f"u and v must have one shape, got {u.shape} and {v.shape}")
    value, ok = np.zeros(len(u), np.float32), np.zeros(len(u), bool)
    _sample_kernel(rb, u, v, np.float32(edge), value, ok)
    return value, ok


def _sample_measured_numpy(range_b: np.ndarray, u: np.ndarray, v: np.ndarray, edge: float = 0.1):
    """The numpy reference of :func:`sample_measured` (the compiled kernel is tested against
    it)."""
    h, w = range_b.shape
    rb = np.where(valid_mask(range_b), range_b, 0.0).astype(np.float32)
    u = np.nan_to_num(np.asarray(u, np.float64))
    v = np.nan_to_num(np.asarray(v, np.float64))
    u0, v0 = np.floor(u), np.clip(np.floor(v), 0, h - 1)
    fu, fv = (u - u0).astype(np.float32), np.clip(v - v0, 0, 1).astype(np.float32)
    iu0, iv0 = u0.astype(np.int64) % w, v0.astype(np.int64)
    iu1, iv1 = (iu0 + 1) % w, np.minimum(iv0 + 1, h - 1)
    a, b, c, d = rb[iv0, iu0], rb[iv0, iu1], rb[iv1, iu0], rb[iv1, iu1]
    bil = (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv
    near = rb[np.clip(np.rint(v), 0, h - 1).astype(np.int64), np.rint(u).astype(np.int64) % w]
    value = np.where((a > 0) & (b > 0) & (c > 0) & (d > 0), bil, near)
    cell = np.stack([a, b, c, d])
    lo = np.where(cell > 0, cell, np.inf).min(0)
    ok = (value > 0) & (cell.max(0) - lo <= edge * lo)
    return np.where(ok, value, 0.0).astype(np.float32), ok


def match_ranges(
    range_a: np.ndarray,
    T_world_from_a: np.ndarray,
    T_world_from_b: np.ndarray,
    range_b: np.ndarray,
    target_b: Target | None = None,
    gate: float = 0.25,
) -> Matches:
    """A's pixels visible in B (the compiled kernel's z-test at ``gate``) with the range B
    measured there (:func:`sample_measured`).

    Args:
        range_a, range_b: ``(H, W)`` metres (same size; invalid 0 / NaN).
        T_world_from_a, T_world_from_b: ``(4, 4)`` poses.
        target_b: B already prepared (:func:`~workbench.geometry.correspondence_fast.
            prepare_target`), or ``None``.
        gate: relative tolerance of the occlusion test (larger than the residuals measured).

    >>> r = np.full((8, 16), 3.0, np.float32)
    >>> m = match_ranges(r, np.eye(4), np.eye(4), r)
    >>> len(m.idx), float(np.abs(m.residual).max()) < 1e-5
    (128, True)
    """
    h, w = check_equirect(range_a, "range_a")
    if np.shape(range_b) != (h, w):
        raise ValueError(f"range_b must be ({h}, {w}) like range_a, got {np.shape(range_b)}")
    corr = correspond_fast(range_a, T_world_from_a, T_world_from_b,
                           range_b if target_b is None else target_b, tol=gate)  # fmt: skip
    idx = np.flatnonzero(corr.visible)
    uv = corr.uv.reshape(-1, 2)[idx]
    r_pred = corr.range_in_b.reshape(-1)[idx]
    r_b, ok = sample_measured(range_b, uv[:, 0], uv[:, 1])
    return Matches(idx[ok], r_pred[ok].astype(np.float32), r_b[ok], (h, w))


def shrink_range(range_m: np.ndarray, height: int, edge: float = 0.1) -> np.ndarray:
    """``range_m`` at ``height`` rows without moving a surface: nearest-pixel decimation by an
    even factor picks a pixel half a source pixel off the target's centre, the same way in
    every view (0.35° at 512 columns: enough to look like a pose error). By an integer factor
    ``k``, each target pixel is the mean of the valid pixels of its ``k × k`` block, or the
    nearest surface where they straddle a depth edge (spread above ``edge`` times the
    smallest: no mixed pixel floating between two surfaces);
    other factors: ``resize_range``'s masked mean (dense) or nearest (sparse: under half
    valid), and enlarging is nearest (unbiased).

    >>> r = np.array([[1, 0, 2, 2], [1, 1, 2, 3]], np.float32)
    >>> shrink_range(r, 1).tolist()
    [[1.0, 2.0]]
    """
    h, w = check_equirect(range_m, "range_m")
    r = np.where(valid_mask(range_m), range_m, 0.0).astype(np.float32)
    if height >= h:
        return resize_range(r, height) if height > h else r
    if h % height:
        dense = float((r > 0).mean()) >= 0.5
        return resize_range(r, height, mode="masked_mean" if dense else "nearest")
    k = h // height
    blocks = r.reshape(height, k, 2 * height, k).transpose(0, 2, 1, 3).reshape(height, -1, k * k)
    count = (blocks > 0).sum(-1)
    lo = np.where(blocks > 0, blocks, np.inf).min(-1)
    mean = blocks.sum(-1) / np.maximum(count, 1)
    smooth = blocks.max(-1) - lo <= edge * lo
    return np.where(count > 0, np.where(smooth, mean, lo), 0.0).astype(np.float32)


def residual_image(m: Matches) -> np.ndarray:
    """``(H, W) float32`` residual metres in A's pixels, NaN where A has no match in B."""
    out = np.full(m.shape[0] * m.shape[1], np.nan, np.float32)
    out[m.idx] = m.residual
    return out.reshape(m.shape)


def residual_stats(residual: np.ndarray, r_b: np.ndarray, tol_abs: float, tol_rel: float):
    """Robust statistics of residuals ``(N,)`` metres measured at ranges ``r_b`` ``(N,)``.

    Returns:
        ``dict``: ``n``, ``median_abs_m`` (median ``|residual|``), ``mad_m`` (median absolute
        deviation from the median, unscaled), ``inliers`` (fraction within ``tol_abs +
        tol_rel * r_b``, :func:`inlier_fraction`), ``violations`` (fraction below
        ``-(tol_abs + tol_rel * r_b)``); NaN when ``n == 0``.

    >>> s = residual_stats(np.array([0.0, 0.01, -0.5]), np.ones(3), 0.02, 0.01)
    >>> s["n"], round(s["inliers"], 3), round(s["violations"], 3)
    (3, 0.667, 0.333)
    """
    n = int(len(residual))
    if n == 0:
        nan = float("nan")
        return {"n": 0, "median_abs_m": nan, "mad_m": nan, "inliers": nan, "violations": nan}
    tol = tol_abs + tol_rel * r_b
    med = float(np.median(residual))
    return {
        "n": n,
        "median_abs_m": float(np.median(np.abs(residual))),
        "mad_m": float(np.median(np.abs(residual - med))),
        "inliers": inlier_fraction(residual, tol),
        "violations": float(np.mean(residual < -tol)),
    }


def inlier_fraction(residual: np.ndarray, tol: np.ndarray) -> float:
    """Fraction of ``residual`` within ``tol`` (both ``(N,)`` metres) among those that are
    not beyond ``+tol``: A's point further than B's surface may be hidden behind it (an
    occlusion within the gate), so it neither confirms nor denies; NaN when none is left.

    >>> inlier_fraction(np.array([0.0, 0.3, -0.3, 0.01]), np.full(4, 0.05))
    0.6666666666666666
    """
    checked = residual <= tol
    k = int(checked.sum())
    return float(np.sum(checked & (residual >= -tol)) / k) if k else float("nan")


def violation_blob(m: Matches, tol_abs: float, tol_rel: float) -> dict:
    """The largest compact region of free-space violations in A's pixels (module doc).

    Returns:
        ``dict``: ``pixels`` (its size), ``fraction`` (of A's matched pixels), ``rest_inliers``
        (:func:`inlier_fraction` of the matched pixels outside it), ``bbox`` (``(v0, u0, v1, u1)``
        inclusive, A's pixels; all -1 when there is none) and ``mask`` (``(H, W) bool``).
    """
    h, w = m.shape
    res = m.residual
    bad = res < -2.0 * (tol_abs + tol_rel * m.r_b)
    img = np.zeros(h * w, np.uint8)
    img[m.idx[bad]] = 1
    img = cv2.morphologyEx(img.reshape(h, w), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(img, connectivity=8)
    mask = np.zeros((h, w), bool)
    bbox, pixels = (-1, -1, -1, -1), 0
    if count > 1:
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = labels == k
        x, y, bw, bh, pixels = (int(s) for s in stats[k])
        bbox = (y, x, y + bh - 1, x + bw - 1)
    outside = ~mask.reshape(-1)[m.idx]
    rest = inlier_fraction(res[outside], tol_abs + tol_rel * m.r_b[outside])
    frac = pixels / max(len(m.idx), 1)
    return {"pixels": pixels, "fraction": frac, "rest_inliers": rest, "bbox": bbox, "mask": mask}
