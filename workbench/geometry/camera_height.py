"""Camera height above the floor from one panorama's range, the pose's rotation and, when the
dataset has one, a floor mask.

Convention (README, *Geometry*): latitude grows downwards, world ``y`` points down, range in
metres. A pixel's vertical drop below the camera is ``(R @ ray)_y · range`` (``R`` the
rotation of ``T_world_from_cam``, so a tilted camera does not bias it); on the floor it equals the
camera height. Three sources, the first that has enough pixels wins (:data:`METHODS`):

- ``floor pixels``: pixels a segmentation labels floor (e.g. RealSee3D's ``segment.png``);
- ``nadir cap``: valid pixels below :data:`NADIR_LAT` (70°), where a dense map sees the floor;
- ``lowest valid band``: the lowest :data:`BAND_DEG` degrees of latitude that hold valid depth,
  when they lie below :data:`MIN_BAND_LAT` (30°) — real LiDAR captures are masked from about
  68° down (the tripod), and their lowest band mostly sees the floor;

else NaN with ``method == "none"``.
"""

from __future__ import annotations

import numpy as np

from workbench.geometry.equirect import unit_rays

__all__ = ["camera_height", "METHODS", "NADIR_LAT", "MIN_BAND_LAT", "BAND_DEG", "MIN_PIXELS"]

METHODS = ("floor pixels", "nadir cap", "lowest valid band", "none")
NADIR_LAT = np.deg2rad(70.0)
MIN_BAND_LAT = np.deg2rad(30.0)
BAND_DEG = 5.0
MIN_PIXELS = 16


def camera_height(
    range_m: np.ndarray,
    R_world_from_cam: np.ndarray | None = None,
    floor_mask: np.ndarray | None = None,
) -> tuple[float, str]:
    """Camera height above the floor (metres) and the method that found it.

    Args:
        range_m: ``(H, W)`` metres, ``<= 0`` or non-finite invalid, ``W == 2H``.
        R_world_from_cam: ``(3, 3)`` rotation (identity when ``None``: an upright camera).
        floor_mask: ``(H, W)`` bool, True on floor pixels (optional).

    Returns:
        ``(height_m, method)``, one of :data:`METHODS`; ``(nan, "none")`` without floor depth.

    >>> h = 64; lat = (np.arange(h) + 0.5) / h * np.pi - np.pi / 2
    >>> r = np.where(lat > 0.1, 1.5 / np.sin(np.maximum(lat, 0.1)), 0)[:, None].repeat(2 * h, 1)
    >>> height, how = camera_height(r.astype(np.float32)); round(height, 3), how
    (1.5, 'nadir cap')
    """
    h, w = range_m.shape
    R = np.eye(3) if R_world_from_cam is None else np.asarray(R_world_from_cam)[:3, :3]
    valid = np.isfinite(range_m) & (range_m > 0)
    lat = (np.arange(h) + 0.5) / h * np.pi - np.pi / 2
    candidates = []
    if floor_mask is not None:
        candidates.append(("floor pixels", valid & floor_mask))
    candidates.append(("nadir cap", valid & (lat > NADIR_LAT)[:, None]))
    rows = np.flatnonzero(valid.any(axis=1) & (lat > MIN_BAND_LAT))
    if rows.size:
        lowest = lat[rows[-1]]
        band = (lat > lowest - np.deg2rad(BAND_DEG)) & (lat <= lowest) & (lat > MIN_BAND_LAT)
        candidates.append(("lowest valid band", valid & band[:, None]))
    for method, m in candidates:
        if m.sum() < MIN_PIXELS:
            continue
        v, u = np.nonzero(m)
        rays = unit_rays(h, w)[v, u]  # (n, 3)
        drop = (rays @ R.T)[:, 1] * range_m[v, u]
        return float(np.median(drop)), method
    return float("nan"), "none"
