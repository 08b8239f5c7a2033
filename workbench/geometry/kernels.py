"""Compiled (numba) row-band kernels behind :func:`workbench.geometry.equirect.range_to_points`
and :func:`workbench.geometry.normals.range_to_normals`: one fused pass over the pixels, no
temporaries, the GIL released so the callers' row bands run in parallel threads. The numpy
versions stay as references the tests compare against.

Arguments are ``float32`` arrays: ``r (H, W)`` range in metres (invalid: 0, negative,
non-finite), ray planes ``px, py, pz (H, W)`` (``normals`` takes ``(H + 2, W)`` planes with the
first and last rows repeated), ``out (H, W, 3)``; rows ``[a, b)`` are written.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["normals_rows", "points_rows"]

# every parallel kernel of the package runs on OpenMP or numba's own work queue: the TBB layer
# is skipped (Debian's TBB is older than numba accepts, and trying it first prints a
# NumbaWarning into every notebook that runs a parallel kernel); modules with parallel kernels
# import this one
numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]


@numba.njit(cache=True, nogil=True)
def _valid(v):
    return v > 0 and v < np.inf


@numba.njit(cache=True, nogil=True)
def points_rows(r, px, py, pz, out, a, b):
    """``out[i, j] = r[i, j] * ray[i, j]`` (0 where the range is invalid), rows ``[a, b)``."""
    w = r.shape[1]
    zero = np.float32(0.0)
    for i in range(a, b):
        for j in range(w):
            v = r[i, j]
            if not _valid(v):
                v = zero
            out[i, j, 0] = v * px[i, j]
            out[i, j, 1] = v * py[i, j]
            out[i, j, 2] = v * pz[i, j]


@numba.njit(cache=True, nogil=True)
def _fill_points(r, px, py, pz, P, V, i0, n, h):
    """Points and validity of rows ``i0 .. i0 + n - 1`` (clipped to ``[0, h)``) into
    ``P[:n]``, ``V[:n]``."""
    w = r.shape[1]
    for k in range(n):
        ii = min(max(i0 + k, 0), h - 1)
        for j in range(w):
            v = r[ii, j]
            ok = _valid(v)
            if not ok:
                v = np.float32(0.0)
            V[k, j] = ok
            P[k, j, 0] = v * px[ii + 1, j]
            P[k, j, 1] = v * py[ii + 1, j]
            P[k, j, 2] = v * pz[ii + 1, j]


@numba.njit(cache=True, nogil=True)
def normals_rows(r, px, py, pz, out, a, b):
    """Unit ``normalize(dP/dv x dP/du)`` with central differences (columns wrap, rows
    one-sided at the poles); zero where the pixel or one of its 4 neighbours is invalid.
    Points are computed once per row block (``block`` rows plus one above and below)."""
    h, w = r.shape
    block = 32
    P = np.empty((block + 2, w, 3), np.float32)
    V = np.empty((block + 2, w), np.bool_)
    for a0 in range(a, b, block):
        n = min(block, b - a0)
        _fill_points(r, px, py, pz, P, V, a0 - 1, n + 2, h)
        for k in range(1, n + 1):
            i = a0 + k - 1
            for j in range(w):
                jl, jr = j - 1 if j > 0 else w - 1, j + 1 if j < w - 1 else 0
                ok = V[k, j] and V[k, jl] and V[k, jr] and V[k - 1, j] and V[k + 1, j]
                du0 = P[k, jr, 0] - P[k, jl, 0]
                du1 = P[k, jr, 1] - P[k, jl, 1]
                du2 = P[k, jr, 2] - P[k, jl, 2]
                dv0 = P[k + 1, j, 0] - P[k - 1, j, 0]
                dv1 = P[k + 1, j, 1] - P[k - 1, j, 1]
                dv2 = P[k + 1, j, 2] - P[k - 1, j, 2]
                nx = dv1 * du2 - dv2 * du1
                ny = dv2 * du0 - dv0 * du2
                nz = dv0 * du1 - dv1 * du0
                norm = math.sqrt(nx * nx + ny * ny + nz * nz)
                if ok and norm > 0:
                    inv = np.float32(1.0) / np.float32(max(norm, 1e-30))
                    out[i, j, 0], out[i, j, 1], out[i, j, 2] = nx * inv, ny * inv, nz * inv
                else:
                    out[i, j, 0] = out[i, j, 1] = out[i, j, 2] = np.float32(0.0)
