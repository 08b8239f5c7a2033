"""A compiled dense correspondence: the same result as
:func:`workbench.geometry.correspondence.correspond` (the numpy reference the tests compare it
with), branch-free and SIMD-vectorised, parallel over rows (or, for covisibility, one pair per
thread). Two kernels:

- **native** (``correspondence_avx2.c``, AVX2 + FMA, built on first use by
  :mod:`workbench.geometry.native`; used wherever it builds and runs): per chunk of 256
  pixels of a row, a projection stage that also prefetches the pixels of B it lands on, then
  8-byte gathers of B and the checks; B's column and row from an arctangent whose octant
  offset is added exactly in pixels;
- **numba** (everywhere else; ``WORKBENCH_NATIVE=0`` forces it): each row of A goes through
  three passes over row-sized buffers that stay in L1:

  1. **project** (vectorised loops of one lane width each, rounded where the reference rounds):
     A's float32 ray and point, the move into B in float64 rounded to float32, B's range and
     row in float32, B's column from a float64 polynomial arctangent;
  2. **sample** (scalar gathers): B's bilinear and nearest ranges from a padded copy of B (one
     wrapped column each side, the last row repeated), so no index wraps or clamps in the loop;
  3. **check** (vectorised): the z-test and the A→B→A round trip, written as 4 masks or, for
     covisibility, only summed per row with ``cos(lat)`` weights (:func:`overlap_fast`).

Both place B's column and row within 1e-4 px of the reference (on the sphere: the column's
error times ``cos(lat)``; the float32 reference itself is that far from the float64
projection at 1024 columns) and agree with its masks up to threshold ties.

B is prepared once (:func:`prepare_target`: gap filling of sparse depth, padding) and reused
for every A matched against it, as in :func:`covisibility_matrix_fast`.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from workbench.geometry import kernels  # noqa: F401  (the threading layer)
from workbench.geometry.correspondence import Correspondence, fill_sparse, radius_for_density
from workbench.geometry.equirect import check_equirect, lonlat_grid
from workbench.geometry.native import correspond_library
from workbench.geometry.pose import relative_pose

__all__ = [
    "Target",
    "prepare_target",
    "correspond_fast",
    "overlap_fast",
    "covisibility_matrix_fast",
    "fast_atan2",
    "fast_atan2_f32",
]

# fast-math without "nnan"/"ninf": invalid depth arrives as NaN and inf, and tests on it must
# survive the optimiser
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
_OPTS = {"fastmath": _FAST, "error_model": "numpy", "cache": True}
_F32 = np.float32
# atan(z) = z P(z^2) on [0, 1], a least-maximum-error fit (|error| < 6e-9 rad)
_C = (
    0.9999998863830385,
    -0.3333259702712725,
    0.19985906741308396,
    -0.141612289802049,
    0.10498945194610862,
    -0.07234855397175226,
    0.039781199238509535,
    -0.014401342300552497,
    0.0024567205178025187,
)
_ZERO, _ONE, _HALF, _INF = _F32(0.0), _F32(1.0), _F32(0.5), _F32(np.inf)
_NAN, _EPS = _F32(np.nan), _F32(1e-12)
# the same constants in float32 (the float32 arctangent stays in float32 lanes)
_C64 = (*_C, math.pi / 2, math.pi, 1e-300, 0.0)
_C32 = tuple(_F32(c) for c in (*_C, math.pi / 2, math.pi, 1e-30, 0.0))


@numba.njit(inline="always", **_OPTS)
def _atan2_poly(y, x, c):
    """``atan2`` in the precision of ``c`` (:data:`_C64` or :data:`_C32`): the octant's ratio
    in ``[0, 1]``, a degree-17 odd polynomial, three flips; selects only, so loops vectorise."""
    ax, ay = abs(x), abs(y)
    z = min(ax, ay) / max(max(ax, ay), c[11])
    z2 = z * z
    p = (((((c[8] * z2 + c[7]) * z2 + c[6]) * z2 + c[5]) * z2 + c[4]) * z2 + c[3]) * z2 + c[2]
    a = z * ((p * z2 + c[1]) * z2 + c[0])
    a = c[9] - a if ay > ax else a
    a = c[10] - a if x < c[12] else a
    return -a if y < c[12] else a


@numba.njit(inline="always", **_OPTS)
def fast_atan2(y: float, x: float) -> float:
    """``atan2(y, x)`` in float64 to 6e-9 rad, branch-free."""
    return _atan2_poly(y, x, _C64)


@numba.njit(inline="always", **_OPTS)
def fast_atan2_f32(y, x):
    """``atan2(y, x)`` of float32 arguments in float32 (about 2e-7 rad), branch-free."""
    return _atan2_poly(y, x, _C32)


@dataclass(frozen=True)
class Target:
    """Panorama B prepared as a match target.

    Attributes:
        pad: ``((H + 1) * (W + 2),) float32`` B's range (metres; 0 where B has no depth, after
            gap filling) with B's last column before column 0, its first after column W - 1,
            and its last row repeated below.
        measured: where B was gap-filled (``filled``), the same layout, ``bool``: B's own
            (not gap-filled) depth, with 3 more (False) bytes after it so that a 4-byte gather
            of its last pixel stays inside; otherwise 3 False bytes (having depth is measured).
        shape: ``(H, W)``.
        filled: whether gap filling added depth.
    """

    pad: np.ndarray
    measured: np.ndarray
    shape: tuple[int, int]
    filled: bool = False


@numba.njit(parallel=True, **_OPTS)
def _pad_numba(values, original, pad, measured):
    """:class:`Target`'s ``pad`` and (when ``measured`` is not 3 bytes) ``measured`` from B's
    (filled) ``values`` and its ``original`` range; returns how many ``values`` are valid."""
    h, w = values.shape
    wp = w + 2
    counts = np.zeros(h + 1, np.int64)
    for v in numba.prange(h + 1):
        src = min(np.int64(v), np.int64(h - 1))
        row = pad[v * wp : (v + 1) * wp]
        n = 0
        for u in range(w):  # vectorised: no wrapping inside the row
            r = values[src, u]
            ok = (r > 0) & (r < _INF)
            row[u + 1] = r if ok else _ZERO
            n += ok
        row[0], row[w + 1] = row[w], row[1]  # B's last column before, its first after
        if measured.shape[0] > 3:
            mrow = measured[v * wp : (v + 1) * wp]
            for u in range(w):
                m = original[src, u]
                mrow[u + 1] = (m > 0) & (m < _INF)
            mrow[0], mrow[w + 1] = mrow[w], mrow[1]
        counts[v] = n if v < h else 0
    return np.sum(counts)


def _native_for(h: int, w: int):
    """The native library for an ``(H, W)`` pair, or ``None`` (numba) where there is none or
    the padded B's index would not fit its int32 lanes."""
    return correspond_library() if (h + 1) * (w + 2) < 2**31 else None


def _pad(values: np.ndarray, original: np.ndarray, with_measured: bool):
    """``(pad, measured, n_valid)`` of a :class:`Target` from ``(H, W) float32`` B's filled
    ``values`` and its ``original`` range: by the native kernel where it runs, else numba."""
    h, w = values.shape
    pad = np.empty((h + 1) * (w + 2), np.float32)
    measured = np.zeros((h + 1) * (w + 2) + 3 if with_measured else 3, np.bool_)
    lib = _native_for(h, w)
    if lib is None:
        return pad, measured, int(_pad_numba(values, original, pad, measured))
    n = lib.wb_pad(
        values.ctypes.data, original.ctypes.data, h, w, pad.ctypes.data,
        measured.ctypes.data if with_measured else None, numba.get_num_threads(),
    )  # fmt: skip
    return pad, measured, int(n)


def prepare_target(range_b: np.ndarray, fill: int | None = None) -> Target:
    """B's range ready for :func:`correspond_fast` / :func:`overlap_fast`.

    Args:
        range_b: ``(H, W)`` metres (0, negative or non-finite: no depth).
        fill: gap-filling radius for sparse depth; ``None``: from B's density
            (:func:`~workbench.geometry.correspondence.fill_radius`).
    """
    h, w = check_equirect(range_b, "range_b")
    range_b = np.ascontiguousarray(range_b, np.float32)
    pad, measured, n_valid = _pad(range_b, range_b, with_measured=False)
    fill = radius_for_density(n_valid / (h * w)) if fill is None else fill
    filled = fill_sparse(range_b, fill) if fill > 0 else range_b
    if filled is range_b:
        return Target(pad, measured, (h, w))
    pad, measured, _ = _pad(np.ascontiguousarray(filled, np.float32), range_b, with_measured=True)
    return Target(pad, measured, (h, w), True)


@numba.njit(inline="always", **_OPTS)
def _project_row(r, slon, clon, sl, cl, P, scale, uv, q, ray, ubuf, vbuf):
    """Pass 1: one row of A into B, rounded as the reference rounds it. Each loop keeps one
    lane width (mixed float32/float64 loops vectorise at the narrow width): A's float32 ray
    ``ray`` from float64 trigonometry; float32 point moved into B ``q[0:3]``, its range
    ``q[3]`` (NaN where A is invalid) and B's row ``vbuf``; B's column ``ubuf`` from a float64
    longitude (0 where A is invalid; 1e-4 px at 1024 columns); ``uv`` (NaN where invalid;
    an empty ``uv`` is left out)."""
    w = r.shape[0]
    ku, cu, kv, cv, wf = scale[0], scale[1], _F32(scale[2]), _F32(scale[3]), scale[4]
    for u in range(w):
        ray[0][u], ray[1][u] = _F32(cl * slon[u]), _F32(cl * clon[u])
    ay = _F32(sl)
    for u in range(w):  # float32 point, moved in float64 and rounded (as a float32 GEMM)
        rr = r[u]
        rr = rr if (rr > _ZERO) & (rr < _INF) else _ZERO
        px = np.float64(ray[0][u] * rr)
        py = np.float64(ay * rr)
        pz = np.float64(ray[1][u] * rr)
        q[0][u] = _F32(P[0] * px + P[1] * py + P[2] * pz + P[3])
        q[1][u] = _F32(P[4] * px + P[5] * py + P[6] * pz + P[7])
        q[2][u] = _F32(P[8] * px + P[9] * py + P[10] * pz + P[11])
    for u in range(w):
        rr = r[u]
        ok = (rr > _ZERO) & (rr < _INF)
        qx, qy, qz = q[0][u], q[1][u], q[2][u]
        hz = qx * qx + qz * qz
        q[3][u] = np.sqrt(hz + qy * qy) if ok else _NAN
        vbuf[u] = fast_atan2_f32(qy, np.sqrt(hz)) * kv + cv if ok else _ZERO
    for u in range(w):
        ub = fast_atan2(np.float64(q[0][u]), np.float64(q[2][u])) * ku + cu
        ub = ub - wf if ub >= wf - 0.5 else ub  # atan2 is in (-pi, pi]: only +pi wraps
        ubuf[u] = _F32(ub) if q[3][u] == q[3][u] else _ZERO
    for u in range(uv.shape[0]):  # interleaved stores kept out of the vector loops
        ok = q[3][u] == q[3][u]
        uv[u, 0] = ubuf[u] if ok else _NAN
        uv[u, 1] = vbuf[u] if ok else _NAN


@numba.njit(inline="always", **_OPTS)
def _sample_row(ubuf, vbuf, pad, measured, filled, h, rbs, near, meas):
    """Pass 2: B's bilinear range ``rbs`` (-1 unless its 4 pixels have depth), nearest range
    ``near`` (one of the 4, round half to even like ``np.rint``) and whether it was measured
    (read from ``measured`` only when B has ``filled`` gaps; else it is having depth)."""
    wp = ubuf.shape[0] + 2
    hm1 = _F32(h - 1)
    for u in range(ubuf.shape[0]):
        ub, vb = ubuf[u], vbuf[u]
        u0 = np.floor(ub)
        v0 = min(max(np.floor(vb), _ZERO), hm1)
        fu = ub - u0
        fv = min(max(vb - v0, _ZERO), _ONE)
        iu0, iv0 = np.int32(u0), np.int32(v0)
        base = np.uint64(iv0 * wp + iu0 + 1)  # unsigned: no negative-index wrapping code
        a, b = pad[base], pad[base + np.uint64(1)]
        c, d = pad[base + np.uint64(wp)], pad[base + np.uint64(wp + 1)]
        ok4 = (a > _ZERO) & (b > _ZERO) & (c > _ZERO) & (d > _ZERO)
        s = (a + (b - a) * fu) * (_ONE - fv) + (c + (d - c) * fu) * fv
        right = (fu > _HALF) | ((fu == _HALF) & ((iu0 & 1) == 1))
        down = (fv > _HALF) | ((fv == _HALF) & ((iv0 & 1) == 1))
        nr = (d if right else c) if down else (b if right else a)
        rbs[u] = s if ok4 else -_ONE
        near[u] = nr
        if filled:
            meas[u] = measured[base + np.uint64((wp if down else 0) + (1 if right else 0))]
        else:
            meas[u] = nr > _ZERO


@numba.njit(inline="always", **_OPTS)
def _check_row(ray, sl, Q, tol, chord_max2, q, rbs, near, meas, out):
    """Pass 3: the row buffers ``out[0..3]`` = valid, landed, visible (z-test) and consistent
    (round trip)."""
    for u in range(q[0].shape[0]):
        qx, qy, qz, rq = q[0][u], q[1][u], q[2][u], q[3][u]
        ok = rq == rq
        sb, nr, m = rbs[u], near[u], meas[u]
        ok4 = sb > _ZERO
        sb = sb if ok4 else _ZERO
        land = ok & (nr > _ZERO)
        # a filled gap holds a neighbour's range: twice the tolerance
        vis = land & (rq <= max(nr, sb) * (_ONE + (tol if m else tol + tol)))
        # B's surface at the match back into A: the chord between the start and end rays
        s = sb / max(rq, _EPS) if ok else _ZERO
        bx, by, bz = qx * s, qy * s, qz * s
        cx = Q[0] * bx + Q[1] * by + Q[2] * bz + Q[3]
        cy = Q[4] * bx + Q[5] * by + Q[6] * bz + Q[7]
        cz = Q[8] * bx + Q[9] * by + Q[10] * bz + Q[11]
        inv = _ONE / max(np.sqrt(cx * cx + cy * cy + cz * cz), _EPS)
        dx = cx * inv - ray[0][u]
        dy = cy * inv - _F32(sl)
        dz = cz * inv - ray[1][u]
        chord2 = dx * dx + dy * dy + dz * dz
        out[0][u] = ok
        out[1][u] = land
        out[2][u] = vis
        out[3][u] = vis & ok4 & ((chord2 < chord_max2) | (not m))


@numba.njit(inline="always", **_OPTS)
def _rows(
    ra, pad, measured, filled, P, Q, tables, scale, tol, chord_max2, uv, rq, masks, sums, rows
):
    """Rows ``rows = (first, stop)`` of A against B with one set of row buffers. With ``sums``
    ``(H, 2)`` non-empty, only the per-row counts of consistent and landed pixels are kept
    (``uv``, ``rq``, ``masks`` are then one-row scratch arrays, ignored)."""
    h, w = ra.shape
    slon, clon, slat, clat = tables[0, :w], tables[1, :w], tables[2, :h], tables[3, :h]
    only_sums = sums.shape[0] > 0
    n = w + 40  # row buffers 4 KiB apart alias in the load/store unit: stagger them
    scratch = np.empty(10 * n, np.float32)
    ubuf, vbuf = scratch[:w], scratch[n : n + w]
    rbs, near = scratch[2 * n : 2 * n + w], scratch[3 * n : 3 * n + w]
    q = (
        scratch[4 * n : 4 * n + w],
        scratch[5 * n : 5 * n + w],
        scratch[6 * n : 6 * n + w],
        scratch[7 * n : 7 * n + w],
    )
    ray = (scratch[8 * n : 8 * n + w], scratch[9 * n : 9 * n + w])
    meas = np.empty(w, np.bool_)
    uvrow, flags = np.empty((0, 2), np.float32), np.empty((4, w + 64), np.bool_)
    out = (flags[0, :w], flags[1, :w], flags[2, :w], flags[3, :w])
    for v in range(rows[0], rows[1]):
        uvv = uvrow if only_sums else uv[v]
        _project_row(ra[v], slon, clon, slat[v], clat[v], P, scale, uvv, q, ray, ubuf, vbuf)
        _sample_row(ubuf, vbuf, pad, measured, filled, h, rbs, near, meas)
        sl = slat[v]
        if only_sums:
            _check_row(ray, sl, Q, tol, chord_max2, q, rbs, near, meas, out)
            sums[v, 0] = np.sum(out[3])
            sums[v, 1] = np.sum(out[1])
        else:
            rq[v] = q[3]
            o = (masks[0][v], masks[1][v], masks[2][v], masks[3][v])
            _check_row(ray, sl, Q, tol, chord_max2, q, rbs, near, meas, o)


@numba.njit(parallel=True, **_OPTS)
def _kernel(
    ra, pad, measured, filled, P, Q, tables, scale, tol, chord_max2, uv, rq, masks, sums, nband
):
    """:func:`_rows` over every row of A, in ``nband`` bands on numba's threads."""
    h = ra.shape[0]
    for band in numba.prange(nband):
        rows = (band * h // nband, (band + 1) * h // nband)
        _rows(ra, pad, measured, filled, P, Q, tables, scale, tol, chord_max2, uv, rq, masks,
              sums, rows)  # fmt: skip


@numba.njit(nogil=True, **_OPTS)
def _kernel_one_thread(
    ra, pad, measured, filled, P, Q, tables, scale, tol, chord_max2, uv, rq, masks, sums
):
    """:func:`_rows` over every row of A on the calling thread, the GIL released (callers run
    several pairs at once, each on one core)."""
    rows = (0, ra.shape[0])
    _rows(ra, pad, measured, filled, P, Q, tables, scale, tol, chord_max2, uv, rq, masks,
          sums, rows)  # fmt: skip


@functools.lru_cache(maxsize=8)
def _tables(h: int, w: int) -> np.ndarray:
    """``(4, max(H, W)) float64``: sin and cos of every column's longitude, of every row's
    latitude."""
    lon, lat = lonlat_grid(h, w)
    t = np.zeros((4, max(h, w)), np.float64)
    t[0, :w], t[1, :w], t[2, :h], t[3, :h] = np.sin(lon), np.cos(lon), np.sin(lat), np.cos(lat)
    t.setflags(write=False)
    return t


def _run(
    range_a, T_world_from_a, T_world_from_b, target: Target, tol, round_trip_px, sums, one=False
):
    """The kernel's arguments from poses and options; returns ``(uv, range_in_b, masks)``.
    ``one``: on the calling thread only."""
    h, w = check_equirect(range_a, "range_a")
    if target.shape != (h, w):
        raise ValueError(f"range_b must be ({h}, {w}) like range_a, got {target.shape}")
    P32 = np.asarray(relative_pose(T_world_from_a, T_world_from_b)[:3], np.float32).ravel()
    Q = np.asarray(relative_pose(T_world_from_b, T_world_from_a)[:3], np.float32).ravel()
    scale = np.array([w / (2 * math.pi), w / 2 - 0.5, h / math.pi, h / 2 - 0.5, w], np.float64)
    # the angle 2 asin(chord / 2) under round_trip_px equator pixels <=> chord under chord_max
    chord_max = 2.0 * math.sin(min(round_trip_px * math.pi / h, math.pi) / 2.0)
    n = 1 if sums.shape[0] else h
    uv = np.empty((n, w, 2), np.float32)
    rq = np.empty((n, w), np.float32)
    masks = tuple(np.empty((n, w), np.bool_) for _ in range(4))
    ra = np.ascontiguousarray(range_a, np.float32)
    args = (ra, target, P32, Q, _tables(h, w), scale, tol, chord_max**2, uv, rq, masks, sums)
    lib = _native_for(h, w)
    if lib is not None:
        _run_native(lib, *args, threads=1 if one else numba.get_num_threads())
    elif one:
        _kernel_one_thread(*_numba_args(*args))
    else:  # a few bands per thread
        _kernel(*_numba_args(*args), min(h, 8 * numba.get_num_threads()))
    return uv, rq, masks


def _run_native(
    lib, ra, target, P32, Q, tables, scale, tol, chord_max2, uv, rq, masks, sums, threads
):
    """``wb_correspond`` of the native library (see its C file for the layouts); with
    ``sums``, only the per-row counts are written."""
    ptr = [a.ctypes.data for a in (uv, rq, *masks)] if not sums.shape[0] else [None] * 6
    lib.wb_correspond(
        ra.ctypes.data, *ra.shape, target.pad.ctypes.data, target.measured.ctypes.data,
        int(target.filled), P32.ctypes.data, Q.ctypes.data, tables.ctypes.data, tables.shape[1],
        scale.ctypes.data, tol, chord_max2, *ptr, sums.ctypes.data if sums.shape[0] else None,
        threads,
    )  # fmt: skip


def _numba_args(ra, target, P32, Q, tables, scale, tol, chord_max2, uv, rq, masks, sums):
    """The numba kernels' arguments (their move into B is in float64)."""
    return (ra, target.pad, target.measured, target.filled, P32.astype(np.float64), Q, tables,
            scale, _F32(tol), _F32(chord_max2), uv, rq, masks, sums)  # fmt: skip


def correspond_fast(
    range_a: np.ndarray,
    T_world_from_a: np.ndarray,
    T_world_from_b: np.ndarray,
    range_b: np.ndarray | Target,
    tol: float = 0.05,
    round_trip_px: float = 1.0,
    fill: int | None = None,
) -> Correspondence:
    """:func:`~workbench.geometry.correspondence.correspond` with ``range_b`` given, compiled.

    Args:
        range_a: ``(H, W)`` metres of A. range_b: ``(H, W)`` metres of B, or B already
            prepared (:func:`prepare_target`, then ``fill`` is ignored).
        T_world_from_a, T_world_from_b: ``(4, 4)`` poses. tol, round_trip_px, fill: as the
            reference.

    >>> c = correspond_fast(np.full((4, 8), 2.0, np.float32), np.eye(4), np.eye(4),
    ...                     np.full((4, 8), 2.0, np.float32))
    >>> int(c.consistent.sum())
    32
    """
    target = range_b if isinstance(range_b, Target) else prepare_target(range_b, fill)
    none = np.zeros((0, 2), np.int64)
    uv, rq, m = _run(range_a, T_world_from_a, T_world_from_b, target, tol, round_trip_px, none)
    return Correspondence(uv, rq, m[0], m[2], m[3], m[1])


def overlap_fast(
    range_a: np.ndarray,
    T_world_from_a: np.ndarray,
    T_world_from_b: np.ndarray,
    target: Target,
    tol: float = 0.05,
    round_trip_px: float = 1.0,
    one_thread: bool = False,
) -> float:
    """``overlap(correspond(...))`` (the ``checked`` denominator: solid-angle fraction of A's
    pixels landing on B's depth that match consistently) without building the masks;
    ``one_thread``: on the calling thread only (for callers running pairs in parallel)."""
    h, _ = check_equirect(range_a, "range_a")
    sums = np.zeros((h, 2), np.int64)
    _run(range_a, T_world_from_a, T_world_from_b, target, tol, round_trip_px, sums, one_thread)
    weight = np.cos((np.arange(h) + 0.5) / h * np.pi - np.pi / 2)
    total = float(weight @ sums[:, 1])
    return float(weight @ sums[:, 0]) / total if total > 0 else 0.0


def covisibility_matrix_fast(
    ranges: list[np.ndarray], poses: list[np.ndarray], tol: float = 0.05
) -> np.ndarray:
    """:func:`~workbench.geometry.correspondence.covisibility_matrix` compiled: every view
    prepared once as a target, each ordered pair summed without masks, pairs spread over
    numba's threads (one core each).

    Returns:
        ``(N, N) float64``, symmetric, unit diagonal.
    """
    targets = [prepare_target(r) for r in ranges]
    n = len(ranges)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]

    def one(pair):
        i, j = pair
        return overlap_fast(ranges[i], poses[i], poses[j], targets[j], tol, one_thread=True)

    frac = np.eye(n)
    with ThreadPoolExecutor(max(1, min(numba.get_num_threads(), len(pairs)))) as pool:
        for (i, j), value in zip(pairs, pool.map(one, pairs), strict=True):
            frac[i, j] = value
    return (frac + frac.T) / 2
