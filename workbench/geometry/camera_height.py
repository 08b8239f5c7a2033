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

:func:`fit_floor` instead fits the floor *plane* robustly (RANSAC) to the points of the lower
hemisphere, checks that it is level and that it covers enough of the view, and says why not
otherwise: what a prediction is rescaled by when the rig's camera height is known
(:mod:`workbench.geometry.floor_scale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.geometry.equirect import unit_rays

__all__ = [
    "camera_height",
    "fit_floor",
    "FloorFit",
    "METHODS",
    "NADIR_LAT",
    "MIN_BAND_LAT",
    "BAND_DEG",
    "MIN_PIXELS",
    "FLOOR_MIN_LAT",
    "FLOOR_MAX_TILT_DEG",
    "FLOOR_INLIER_REL",
    "FLOOR_MIN_COVERAGE",
]

METHODS = ("floor pixels", "nadir cap", "lowest valid band", "none")
NADIR_LAT = np.deg2rad(70.0)
MIN_BAND_LAT = np.deg2rad(30.0)
BAND_DEG = 5.0
MIN_PIXELS = 16
FLOOR_MIN_LAT = np.deg2rad(20.0)  # floor candidates: rays at least 20° below the horizon
FLOOR_MAX_TILT_DEG = 10.0  # the floor plane's normal within 10° of the vertical
FLOOR_INLIER_REL = 0.06  # a point is on the plane within 6 % of the camera height
FLOOR_MIN_COVERAGE = 0.06  # the plane's points cover at least 6 % of the sphere's solid angle
_RANSAC_TRIES = 256
_RANSAC_POINTS = 4096  # hypotheses are scored on at most this many points


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


@dataclass(frozen=True)
class FloorFit:
    """A floor plane fitted to one panorama's range (:func:`fit_floor`).

    ``height_m``: the camera's distance to the plane (metres, NaN when none was found);
    ``normal``: ``(3,)`` unit normal in the gravity frame (``R @`` camera frame), pointing down;
    ``tilt_deg``: angle between ``normal`` and the vertical; ``coverage``: fraction of the
    sphere's solid angle whose points lie on the plane; ``problem``: why it is not a usable
    floor (``""`` when it is).
    """

    height_m: float
    normal: np.ndarray
    tilt_deg: float
    coverage: float
    problem: str

    @property
    def ok(self) -> bool:
        return not self.problem


def _floor_candidates(range_m: np.ndarray, R: np.ndarray):
    """Points ``(n, 3)`` (gravity frame) of valid rays below :data:`FLOOR_MIN_LAT` and each
    point's share of the sphere's solid angle ``(n,)``."""
    h, w = range_m.shape
    rays = unit_rays(h, w).reshape(-1, 3).astype(np.float64) @ R.T
    r = range_m.reshape(-1).astype(np.float64)
    lat = (np.arange(h) + 0.5) / h * np.pi - np.pi / 2
    share = np.repeat(np.cos(lat) * (np.pi / h) * (2 * np.pi / w) / (4 * np.pi), w)
    keep = np.isfinite(r) & (r > 0) & (rays[:, 1] > np.sin(FLOOR_MIN_LAT))
    return rays[keep] * r[keep, None], share[keep]


def _ransac_plane(pts: np.ndarray, share: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """The level plane ``(n, d)`` (``n·p = d``, ``n`` pointing down, ``d > 0``) of 3-point
    hypotheses whose inliers cover the largest solid angle; ``d = nan`` when no hypothesis is
    level."""
    rng = np.random.default_rng(seed)
    sub = rng.choice(len(pts), min(len(pts), _RANSAC_POINTS), replace=False)
    p, s = pts[sub], share[sub]
    tri = p[rng.integers(0, len(p), (_RANSAC_TRIES, 3))]  # (T, 3 points, xyz)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1)
    n = n / np.where(norm > 0, norm, 1)[:, None] * np.where(n[:, 1] < 0, -1, 1)[:, None]
    d = np.einsum("tk,tk->t", n, tri[:, 0])
    level = (norm > 0) & (n[:, 1] >= np.cos(np.deg2rad(FLOOR_MAX_TILT_DEG))) & (d > 0)
    if not level.any():
        return np.array([0.0, 1.0, 0.0]), float("nan")
    n, d = n[level], d[level]
    on = np.abs(p @ n.T - d) <= FLOOR_INLIER_REL * d  # (points, hypotheses)
    best = int(np.argmax(s @ on))
    return n[best], float(d[best])


def fit_floor(
    range_m: np.ndarray, R_world_from_cam: np.ndarray | None = None, seed: int = 0
) -> FloorFit:
    """Fit the floor plane to the lower hemisphere of a range map (RANSAC, then least squares
    on its inliers) and check that it is a floor: level within :data:`FLOOR_MAX_TILT_DEG` and
    covering at least :data:`FLOOR_MIN_COVERAGE` of the sphere.

    Args:
        range_m: ``(H, W)`` metres (any scale), ``<= 0`` or non-finite invalid, ``W == 2H``.
        R_world_from_cam: ``(3, 3)`` rotation (identity when ``None``: an upright camera).
        seed: RANSAC's seed (the fit is deterministic for a given seed).

    Returns:
        :class:`FloorFit`; ``fit.ok`` is False (and ``fit.problem`` says why) when no floor is
        visible.

    >>> from workbench.geometry.analytic import box_room
    >>> fit = fit_floor(box_room(64, lo=(-2, -1.5, -3), hi=(2, 1.4, 3))[0])
    >>> round(fit.height_m, 2), fit.ok
    (1.4, True)
    """
    h, w = range_m.shape
    if w != 2 * h:
        raise ValueError(f"range_m must be (H, W) with W == 2*H, got {range_m.shape}")
    R = np.eye(3) if R_world_from_cam is None else np.asarray(R_world_from_cam)[:3, :3]
    pts, share = _floor_candidates(np.asarray(range_m), R)
    none = FloorFit(float("nan"), np.array([0.0, 1.0, 0.0]), float("nan"), 0.0, "")
    if share.sum() < FLOOR_MIN_COVERAGE:
        return _with(none, problem="too few valid pixels below the horizon to see a floor")
    n, d = _ransac_plane(pts, share, seed)
    if not np.isfinite(d):
        return _with(none, problem="no level plane below the camera")
    for _ in range(3):  # least squares on the inliers, then re-select them
        on = np.abs(pts @ n - d) <= FLOOR_INLIER_REL * d
        if on.sum() < 3:
            break
        centre = pts[on].mean(axis=0)
        n = np.linalg.svd(pts[on] - centre, full_matrices=False)[2][-1]
        n = n if n[1] > 0 else -n
        d = float(n @ centre)
    on = np.abs(pts @ n - d) <= FLOOR_INLIER_REL * abs(d)
    tilt = float(np.degrees(np.arccos(np.clip(n[1], -1.0, 1.0))))
    fit = FloorFit(float(d), n, tilt, float(share[on].sum()), "")
    if not d > 0 or tilt > FLOOR_MAX_TILT_DEG:
        return _with(fit, problem=f"the plane below the camera is tilted {tilt:.0f}° (not a floor)")
    if fit.coverage < FLOOR_MIN_COVERAGE:
        return _with(
            fit,
            problem=f"the floor plane covers {fit.coverage:.1%} of the view "
            f"(at least {FLOOR_MIN_COVERAGE:.0%} needed)",
        )
    return fit


def _with(fit: FloorFit, **changes) -> FloorFit:
    return FloorFit(**{**fit.__dict__, **changes})
