"""Analytic scenes with exact answers, for tests, demos and property checks.

A box room is an axis-aligned box ``[lo, hi]`` (world = camera frame of an upright camera at
``centre``; y down, so the floor is the face ``y = hi[1]``). Every ray's range and the normal of
the face it hits are known in closed form.
"""

from __future__ import annotations

import numpy as np

from workbench.geometry.equirect import unit_rays

__all__ = ["box_room"]


def box_room(
    height: int,
    lo=(-2.0, -1.5, -3.0),
    hi=(2.0, 1.2, 3.0),
    centre=(0.0, 0.0, 0.0),
    R_world_from_cam: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact range and normals seen from ``centre`` inside the box ``[lo, hi]``.

    Args:
        height: panorama height ``H`` (width ``2H``).
        lo, hi: box corners in the world frame, metres (y down: ``hi[1]`` is the floor).
        centre: camera centre, strictly inside the box.
        R_world_from_cam: optional ``(3, 3)`` camera orientation (identity by default).

    Returns:
        ``range (H, 2H) float32`` metres and ``normals (H, 2H, 3) float32`` in the camera frame,
        pointing toward the camera (into the room).

    >>> r, n = box_room(8, lo=(-2, -2, -2), hi=(2, 2, 2))
    >>> round(float(r[4, 8]), 3), n[4, 8].tolist()  # near the centre pixel: the wall at z = 2
    (2.079, [0.0, 0.0, -1.0])
    """
    lo = np.asarray(lo, np.float64)
    hi = np.asarray(hi, np.float64)
    c = np.asarray(centre, np.float64)
    if not (np.all(lo < c) and np.all(c < hi)):
        raise ValueError(
            f"centre {c.tolist()} must be strictly inside the box {lo.tolist()}..{hi.tolist()}"
        )
    R = np.eye(3) if R_world_from_cam is None else np.asarray(R_world_from_cam, np.float64)
    d_cam = unit_rays(height, 2 * height).astype(np.float64)
    d = d_cam @ R.T
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hi = np.where(d > 0, (hi - c) / d, np.inf)
        t_lo = np.where(d < 0, (lo - c) / d, np.inf)
    t_axis = np.minimum(t_hi, t_lo)  # (H, W, 3): distance to the wall hit along each axis
    axis = np.argmin(t_axis, axis=-1)
    t = np.take_along_axis(t_axis, axis[..., None], axis=-1)[..., 0]
    sign = np.take_along_axis(d, axis[..., None], axis=-1)[..., 0] > 0
    n_world = np.zeros(d.shape)
    np.put_along_axis(n_world, axis[..., None], np.where(sign, -1.0, 1.0)[..., None], axis=-1)
    n_cam = n_world @ R  # R^T n for row vectors
    return t.astype(np.float32), n_cam.astype(np.float32)
