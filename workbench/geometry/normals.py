"""Surface normals of a range panorama (camera frame, unit, pointing toward the camera).

Scheme (the TF loss in ``workbench/model/losses.py`` mirrors it exactly): back-project every
pixel with :func:`workbench.geometry.equirect.range_to_points`; take central differences along
columns (wrapping at the seam, the panorama is periodic) and along rows (one-sided at the top and
bottom rows); the normal is ``normalize(dP/dv × dP/du)``, which faces the camera for every
surface the camera sees. A pixel's normal is invalid, the zero vector, when it or any of its four
neighbours has invalid range.
"""

from __future__ import annotations

import functools

import numpy as np

from workbench.geometry.equirect import _check_range, map_row_bands, ray_planes
from workbench.geometry.kernels import normals_rows

__all__ = ["range_to_normals", "normals_valid"]

_BLOCK_ROWS = 48


@functools.lru_cache(maxsize=8)
def _padded_ray_planes(height: int, width: int) -> np.ndarray:
    """``(3, H + 2, W) float32`` ray components with the first/last row repeated."""
    planes = np.pad(ray_planes(height, width), ((0, 0), (1, 1), (0, 0)), mode="edge")
    planes.setflags(write=False)
    return planes


def _rows(range_m, rays, out, r0, r1, bs=_BLOCK_ROWS):
    """Normals of rows ``[r0, r1)`` in sub-blocks of ``bs`` rows, with scratch buffers reused
    (large temporaries are slow: every fresh one is page-faulted in)."""
    h, w = range_m.shape
    f32 = np.float32
    P = np.empty((3, bs + 2, w), f32)
    du, dv = np.empty((3, bs, w), f32), np.empty((3, bs, w), f32)
    nx, ny, nz, t, s = (np.empty((bs, w), f32) for _ in range(5))
    for a in range(r0, r1, bs):
        b = min(a + bs, r1)
        n = b - a
        rows = np.clip(np.arange(a - 1, b + 1), 0, h - 1)  # edge rows repeat: one-sided at poles
        rb = range_m[rows]
        with np.errstate(invalid="ignore"):
            vb = np.isfinite(rb) & (rb > 0)
        np.putmask(rb, ~vb, f32(0))
        ok = vb[1:-1] & vb[:-2] & vb[2:]
        vc = vb[1:-1]
        ok[:, 1:-1] &= vc[:, 2:] & vc[:, :-2]
        ok[:, 0] &= vc[:, 1] & vc[:, w - 1]
        ok[:, w - 1] &= vc[:, 0] & vc[:, w - 2]
        p = P[:, : n + 2]
        np.multiply(rays[:, a : b + 2], rb, out=p)
        pc = p[:, 1:-1]
        d = du[:, :n]
        np.subtract(pc[:, :, 2:], pc[:, :, :-2], out=d[:, :, 1:-1])
        np.subtract(pc[:, :, 1], pc[:, :, w - 1], out=d[:, :, 0])
        np.subtract(pc[:, :, 0], pc[:, :, w - 2], out=d[:, :, w - 1])
        e = dv[:, :n]
        np.subtract(p[:, 2:], p[:, :-2], out=e)
        x, y, z, tt, ss = nx[:n], ny[:n], nz[:n], t[:n], s[:n]
        # n = dP/dv x dP/du
        np.multiply(e[1], d[2], out=x)
        np.multiply(e[2], d[1], out=tt)
        np.subtract(x, tt, out=x)
        np.multiply(e[2], d[0], out=y)
        np.multiply(e[0], d[2], out=tt)
        np.subtract(y, tt, out=y)
        np.multiply(e[0], d[1], out=z)
        np.multiply(e[1], d[0], out=tt)
        np.subtract(z, tt, out=z)
        np.multiply(x, x, out=tt)
        np.multiply(y, y, out=ss)
        np.add(tt, ss, out=tt)
        np.multiply(z, z, out=ss)
        np.add(tt, ss, out=tt)
        np.sqrt(tt, out=tt)
        np.maximum(tt, f32(1e-30), out=tt)
        np.divide(ok, tt, out=tt)  # 1/|n| where valid, 0 elsewhere
        o = out[a:b]
        np.multiply(x, tt, out=o[:, :, 0])
        np.multiply(y, tt, out=o[:, :, 1])
        np.multiply(z, tt, out=o[:, :, 2])


def range_to_normals(range_m: np.ndarray, workers: int = 2) -> np.ndarray:
    """Unit surface normals of a range panorama.

    Args:
        range_m: ``(H, W)`` float, metres, ``W == 2*H``; invalid pixels allowed.
        workers: threads, each over a band of rows (numpy releases the GIL).

    Returns:
        ``(H, W, 3) float32`` unit normals in the camera frame, pointing toward the camera;
        ``(0, 0, 0)`` where invalid (see :func:`normals_valid`).

    >>> n = range_to_normals(np.full((8, 16), 3.0, np.float32))  # a sphere around the camera
    >>> n.shape, bool(np.allclose(n[4, 8], [0, 0, -1], atol=0.2))
    ((8, 16, 3), True)
    """
    h, w = _check_range(range_m)
    r = np.asarray(range_m, dtype=np.float32)
    if h < 2 or w < 3:
        raise ValueError(f"range_m must be at least (2, 4) for normals, got {r.shape}")
    px, py, pz = _padded_ray_planes(h, w)
    r = np.ascontiguousarray(r)
    out = np.empty((h, w, 3), np.float32)
    map_row_bands(lambda a, b: normals_rows(r, px, py, pz, out, a, b), h, workers)
    return out


def _range_to_normals_numpy(range_m: np.ndarray) -> np.ndarray:
    """The numpy reference of :func:`range_to_normals` (the compiled kernel is tested
    against it)."""
    r = np.asarray(range_m, dtype=np.float32)
    h, w = r.shape
    out = np.empty((h, w, 3), np.float32)
    _rows(r, _padded_ray_planes(h, w), out, 0, h)
    return out


def normals_valid(normals: np.ndarray) -> np.ndarray:
    """Mask of pixels with a valid (non-zero) normal: ``(H, W, 3)`` → ``(H, W) bool``."""
    normals = np.asarray(normals)
    if normals.ndim != 3 or normals.shape[2] != 3:
        raise ValueError(f"normals must be (H, W, 3), got {normals.shape}")
    return np.any(normals != 0, axis=-1)
