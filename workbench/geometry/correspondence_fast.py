"""A compiled (numba) dense correspondence: the same result as
:func:`workbench.geometry.correspondence.correspond` (the numpy reference the tests compare it
with), in one fused pass per pixel and parallel over rows.

Every pixel of A is back-projected, moved into B, projected, sampled in B (bilinear and nearest,
columns wrapping), z-tested and sent back into A, without the numpy version's dozen full-size
temporaries; the gap filling of sparse ``range_B`` is shared with the reference.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from workbench.geometry.correspondence import (
    Correspondence,
    covisibility_matrix,
    fill_radius,
    fill_sparse,
)
from workbench.geometry.equirect import check_equirect, lonlat_grid, valid_mask
from workbench.geometry.pose import relative_pose

__all__ = ["correspond_fast", "covisibility_matrix_fast", "fast_atan2"]

# OpenMP or numba's own work queue: the TBB layer is skipped (Debian's TBB is older than numba
# accepts, and trying it first prints a NumbaWarning into every notebook that uses the kernel)
numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]


_TAN15 = 2.0 - math.sqrt(3.0)
_SQRT3 = math.sqrt(3.0)


@numba.njit(fastmath=True, cache=True, inline="always")
def fast_atan2(y: float, x: float) -> float:
    """``atan2(y, x)`` to about 3e-9 rad: the octant's ratio, reduced below tan 15 deg by
    ``atan(z) = pi/6 + atan((z sqrt3 - 1) / (z + sqrt3))``, then its Taylor series to z^11."""
    ax, ay = abs(x), abs(y)
    big, small = (ay, ax) if ay > ax else (ax, ay)
    if big == 0.0:
        return 0.0
    z = small / big
    base = 0.0
    if z > _TAN15:
        z = (z * _SQRT3 - 1.0) / (z + _SQRT3)
        base = math.pi / 6.0
    z2 = z * z
    a = base + z * (
        1.0 + z2 * (-1.0 / 3 + z2 * (1.0 / 5 + z2 * (-1.0 / 7 + z2 * (1.0 / 9 - z2 / 11))))
    )
    if ay > ax:
        a = math.pi / 2.0 - a
    if x < 0.0:
        a = math.pi - a
    return -a if y < 0.0 else a


@numba.njit(parallel=True, fastmath=True, cache=True)
def _kernel(
    ra, rb_img, measured, R, t, Rab, tab, slon, clon, lat, tol, chord_max2, uv, rinb, flags
):
    h, w = ra.shape
    two_pi = 2.0 * math.pi
    for v in numba.prange(h):
        sl, cl = math.sin(lat[v]), math.cos(lat[v])
        for u in range(w):
            r = ra[v, u]
            if not (r > 0.0 and math.isfinite(r)):
                uv[v, u, 0] = np.nan
                uv[v, u, 1] = np.nan
                rinb[v, u] = np.nan
                continue
            # A's ray and point (float32 like the reference), then into B
            ax = np.float32(cl * slon[u])
            ay = np.float32(sl)
            az = np.float32(cl * clon[u])
            px, py, pz = ax * r, ay * r, az * r
            qx = np.float32(R[0, 0] * px + R[0, 1] * py + R[0, 2] * pz + t[0])
            qy = np.float32(R[1, 0] * px + R[1, 1] * py + R[1, 2] * pz + t[1])
            qz = np.float32(R[2, 0] * px + R[2, 1] * py + R[2, 2] * pz + t[2])
            n = math.sqrt(float(qx) * qx + float(qy) * qy + float(qz) * qz)
            rq = np.float32(n)
            blat = fast_atan2(float(qy), math.sqrt(float(qx) * qx + float(qz) * qz))
            blon = fast_atan2(float(qx), float(qz))
            ub = (blon + math.pi) * (w / two_pi) - 0.5
            if ub >= w - 0.5:  # atan2 gives (-pi, pi]: only lon = pi wraps
                ub -= w
            vb = (blat + math.pi / 2) * (h / math.pi) - 0.5
            ub32, vb32 = np.float32(ub), np.float32(vb)
            uv[v, u, 0] = ub32
            uv[v, u, 1] = vb32
            rinb[v, u] = rq
            # bilinear and nearest samples of B (columns wrap, rows clamp)
            u0 = math.floor(ub32)
            v0 = min(max(math.floor(vb32), 0.0), h - 1.0)
            fu = np.float32(ub32 - u0)
            fv = np.float32(min(max(vb32 - v0, 0.0), 1.0))
            iu0 = int(u0) % w
            iu1 = (iu0 + 1) % w
            iv0 = int(v0)
            iv1 = min(iv0 + 1, h - 1)
            a, b = rb_img[iv0, iu0], rb_img[iv0, iu1]
            c, d = rb_img[iv1, iu0], rb_img[iv1, iu1]
            ok4 = a > 0 and b > 0 and c > 0 and d > 0
            rbs = (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv
            iv = int(min(max(np.rint(vb32), 0.0), h - 1.0))
            iu = int(np.rint(ub32)) % w
            near = rb_img[iv, iu]
            ref = max(near, rbs if ok4 else np.float32(0.0))
            landed = near > 0
            tol_here = tol if measured[iv, iu] else 2 * tol
            visible = landed and rq <= ref * (1 + tol_here)
            # round trip: B's surface at the match back into A, as an angle in equator pixels
            s = rbs / max(rq, np.float32(1e-12))
            bx, by, bz = qx * s, qy * s, qz * s
            cx = Rab[0, 0] * bx + Rab[0, 1] * by + Rab[0, 2] * bz + tab[0]
            cy = Rab[1, 0] * bx + Rab[1, 1] * by + Rab[1, 2] * bz + tab[1]
            cz = Rab[2, 0] * bx + Rab[2, 1] * by + Rab[2, 2] * bz + tab[2]
            inv = 1.0 / max(math.sqrt(cx * cx + cy * cy + cz * cz), 1e-12)
            dx, dy, dz = cx * inv - ax, cy * inv - ay, cz * inv - az
            # the angle 2 asin(chord / 2) under rt_px equator pixels <=> chord under chord_max
            chord2 = dx * dx + dy * dy + dz * dz
            consistent = visible and ok4 and (chord2 < chord_max2 or not measured[iv, iu])
            flags[v, u] = (
                1 | (2 if landed else 0) | (4 if visible else 0) | (8 if consistent else 0)
            )


def correspond_fast(
    range_a: np.ndarray,
    T_world_from_a: np.ndarray,
    T_world_from_b: np.ndarray,
    range_b: np.ndarray,
    tol: float = 0.05,
    round_trip_px: float = 1.0,
    fill: int | None = None,
) -> Correspondence:
    """:func:`~workbench.geometry.correspondence.correspond` with ``range_b`` given, compiled.

    Args:
        range_a, range_b: ``(H, W)`` metres of A and B. T_world_from_a, T_world_from_b:
            ``(4, 4)`` poses. tol, round_trip_px, fill: as the reference.

    >>> c = correspond_fast(np.full((4, 8), 2.0, np.float32), np.eye(4), np.eye(4),
    ...                     np.full((4, 8), 2.0, np.float32))
    >>> int(c.consistent.sum())
    32
    """
    h, w = check_equirect(range_a, "range_a")
    if np.shape(range_b) != (h, w):
        raise ValueError(f"range_b must be ({h}, {w}) like range_a, got {np.shape(range_b)}")
    fill = fill_radius(range_b) if fill is None else fill
    measured = valid_mask(range_b)
    filled = fill_sparse(range_b, fill)
    rb_img = np.where(valid_mask(filled), filled, 0.0).astype(np.float32)
    T_ba = relative_pose(T_world_from_a, T_world_from_b)
    T_ab = relative_pose(T_world_from_b, T_world_from_a)
    R = np.asarray(T_ba[:3, :3], np.float32).astype(np.float64)
    t = np.asarray(T_ba[:3, 3], np.float32).astype(np.float64)
    Rab = np.asarray(T_ab[:3, :3], np.float32).astype(np.float64)
    tab = np.asarray(T_ab[:3, 3], np.float32).astype(np.float64)
    lon, lat = lonlat_grid(h, w)
    uv = np.empty((h, w, 2), np.float32)
    rinb = np.empty((h, w), np.float32)
    flags = np.zeros((h, w), np.uint8)
    ra = np.ascontiguousarray(range_a, np.float32)
    # the angle 2 asin(chord / 2) under round_trip_px equator pixels <=> chord under chord_max
    chord_max = 2.0 * math.sin(min(round_trip_px * math.pi / h, math.pi) / 2.0)
    args = (np.sin(lon), np.cos(lon), np.asarray(lat), np.float32(tol), chord_max**2)
    _kernel(ra, rb_img, measured, R, t, Rab, tab, *args, uv, rinb, flags)
    valid = (flags & 1).astype(bool)
    return Correspondence(
        uv,
        rinb,
        valid,
        (flags & 4).astype(bool),
        (flags & 8).astype(bool),
        (flags & 2).astype(bool),
    )


def covisibility_matrix_fast(
    ranges: list[np.ndarray], poses: list[np.ndarray], tol: float = 0.05
) -> np.ndarray:
    """:func:`~workbench.geometry.correspondence.covisibility_matrix` with the compiled kernel."""
    return covisibility_matrix(ranges, poses, tol, match=correspond_fast)
