"""Compiled (numba) per-scene loops of the view-table statistics (:mod:`workbench.eda.stats`).

Every kernel takes the table's rows grouped by scene as CSR: ``order`` (row indices, scenes
in id order, views in id order within a scene) and ``starts`` (``(S + 1,)``, scene ``s`` is
``order[starts[s]:starts[s + 1]]``). NaN propagates as in numpy (a scene with a NaN value gets
NaN for every statistic of that value), so results equal the numpy/pandas formulations the
tests compare them with.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from workbench.geometry import kernels  # noqa: F401  (the threading layer)

__all__ = ["scene_depth", "scene_motion", "scene_pairs"]

_OPTS = {"cache": True, "nogil": True, "error_model": "numpy"}


_CHUNKS = 64  # scenes are handed to threads in this many chunks (one scratch buffer each)


@numba.njit(inline="always", **_OPTS)
def _median_of(values, idx, scratch):
    """Median of ``values[idx]`` (NaN if any is NaN), by insertion sort into ``scratch``."""
    n = idx.shape[0]
    for i in range(n):
        x = values[idx[i]]
        if x != x:
            return np.nan
        j = i
        while j > 0 and scratch[j - 1] > x:
            scratch[j] = scratch[j - 1]
            j -= 1
        scratch[j] = x
    return scratch[n // 2] if n % 2 else 0.5 * (scratch[n // 2 - 1] + scratch[n // 2])


@numba.njit(inline="always", **_OPTS)
def _extreme(acc, x, sign):
    """Running min (``sign`` -1) or max (+1) that stays NaN once it meets a NaN."""
    if acc != acc or x != x:
        return np.nan
    return x if (x - acc) * sign > 0 else acc


@numba.njit(parallel=True, **_OPTS)
def scene_depth(order, starts, d_median, d_p05, d_p95, d_max, invalid, height):
    """``(S, 6) float64``: median of view medians, min p05, max p95, max, mean invalid
    fraction, median camera height per scene."""
    s_count = starts.shape[0] - 1
    out = np.empty((s_count, 6))
    biggest = np.max(starts[1:] - starts[:-1]) if s_count else 0
    for chunk in numba.prange(_CHUNKS):
        scratch = np.empty(biggest)
        for s in range(chunk * s_count // _CHUNKS, (chunk + 1) * s_count // _CHUNKS):
            idx = order[starts[s] : starts[s + 1]]
            lo, hi, mx, inv = np.inf, -np.inf, -np.inf, 0.0
            for i in idx:
                lo = _extreme(lo, d_p05[i], -1.0)
                hi = _extreme(hi, d_p95[i], 1.0)
                mx = _extreme(mx, d_max[i], 1.0)
                inv += invalid[i]
            out[s, 0] = _median_of(d_median, idx, scratch)
            out[s, 1], out[s, 2], out[s, 3] = lo, hi, mx
            out[s, 4] = inv / idx.shape[0]
            out[s, 5] = _median_of(height, idx, scratch)
    return out


@numba.njit(inline="always", **_OPTS)
def _distance(c, a, b):
    return math.sqrt((c[a, 0] - c[b, 0]) ** 2 + (c[a, 1] - c[b, 1]) ** 2 + (c[a, 2] - c[b, 2]) ** 2)


@numba.njit(parallel=True, **_OPTS)
def scene_motion(order, starts, c):
    """``(S, 5) float64`` per scene from camera centres ``c (N, 3)`` (metres): path length
    through the views in order, mean nearest-neighbour distance, largest baseline, extent in
    x and in z; all NaN for a scene of fewer than two views (no motion to measure)."""
    s_count = starts.shape[0] - 1
    out = np.empty((s_count, 5))
    for s in numba.prange(s_count):
        idx = order[starts[s] : starts[s + 1]]
        k = idx.shape[0]
        path, nn_sum, big = 0.0, 0.0, 0.0
        x_lo, x_hi, z_lo, z_hi = np.inf, -np.inf, np.inf, -np.inf
        for i in range(k):
            nn = np.inf
            for j in range(k):
                d = _distance(c, idx[i], idx[j])
                path += d if j == i + 1 else 0.0
                nn = min(nn, d) if j != i else nn
                big = _extreme(big, d, 1.0)
            nn_sum += nn
            x, z = c[idx[i], 0], c[idx[i], 2]
            x_lo, x_hi = _extreme(x_lo, x, -1.0), _extreme(x_hi, x, 1.0)
            z_lo, z_hi = _extreme(z_lo, z, -1.0), _extreme(z_hi, z, 1.0)
        if big != big or k < 2:  # one view: no motion to measure
            out[s, :] = np.nan
            continue
        out[s, 0] = path
        out[s, 1] = nn_sum / k
        out[s, 2] = big
        out[s, 3] = x_hi - x_lo
        out[s, 4] = z_hi - z_lo
    return out


@numba.njit(**_OPTS)
def scene_pairs(order, starts, c, yaw):
    """Every unordered pair of views within a scene, scenes in order, ``a < b`` in view
    order: ``(ia, ib, baseline_m, rel_yaw_deg)`` (row indices, centre distance, yaw of b minus
    yaw of a wrapped into [-180, 180))."""
    sizes = starts[1:] - starts[:-1]
    n = int(np.sum(sizes * (sizes - 1) // 2))
    ia, ib = np.empty(n, np.int64), np.empty(n, np.int64)
    base, rel = np.empty(n), np.empty(n)
    k = 0
    for s in range(starts.shape[0] - 1):
        for x in range(starts[s], starts[s + 1]):
            for y in range(x + 1, starts[s + 1]):
                a, b = order[x], order[y]
                ia[k], ib[k] = a, b
                base[k] = _distance(c, a, b)
                rel[k] = (yaw[b] - yaw[a] + 180.0) % 360.0 - 180.0
                k += 1
    return ia, ib, base, rel
