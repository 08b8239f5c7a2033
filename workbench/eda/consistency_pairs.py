"""One pair of views of a scene: do their depths agree where both see the same surface, and if
not, why? (README, *Multi-view consistency*.)

:func:`measure_pair` matches A in B and B in A
(:func:`~workbench.geometry.depth_residual.match_ranges`) and pools the residuals of both
directions; :func:`diagnose_pair` names the fault:

- ``ok``: at least ``ok_inliers`` of the overlap agrees and none of the below explains a fault
  (the rigid fit runs on every pair, the scale fit where the inliers or the rigid fit find
  one);
- ``scale``: one view's depth scaled by one factor (fitted for A's and for B's, the better
  kept, :mod:`workbench.geometry.icp`) restores the agreement (gain of at least ``min_gain``
  in inliers, about as well as a rigid correction, at least ``bad_inliers`` agreeing after it)
  and the factor is at least ``scale_min`` from 1; ``scale`` is A's ranges over B's (1.05: A's
  depth reads 5 % long, or B's short);
- ``pose``: a rigid correction of A (point-to-plane ICP on the overlap) gains at least
  ``min_gain`` and restores it (at least ``ok_inliers`` of the fitted points agree after it),
  and is at least ``pose_cm`` or ``pose_deg``: ``t_cm`` and ``rot_deg`` are its size, ``C``
  (A's frame: ``T_world_from_a @ C`` is A's pose corrected) in the detail; ``t_cm_b`` the
  translation of the same error put on B (a turn of B about its centre moves A's correction
  by the baseline times the angle);
- ``change``: a compact blob of free-space violations of at least ``change_min`` of the
  image's pixels while the rest agrees (``ok_inliers``): its view, pixel fraction, bounding
  box and centre direction (longitude, latitude in degrees);
- ``mismatch``: a rigid correction gains but does not restore a pair that disagrees (under
  ``ok_inliers``): a fault the fits cannot reach (a view turned 30° was fitted 3-10° in a
  local minimum, so no size is reported); or under ``bad_inliers`` and none of these
  explains it (a pose far off, broken depth). A fit that does not restore a pair that
  agrees names nothing (coarse, grazing overlaps are sampled badly by the fit);
- ``weak``: between ``bad_inliers`` and ``ok_inliers`` and none of these explains it: not a
  fault that can be named, not an agreement either. Sparse or noisy depth can leave a pair
  there (3 % noise on one view's depth), and so can a fault the fits cannot name: it is
  reported, never called ``ok``.

The rigid fit runs on every pair (a 5 cm pose error can leave 93 % of the residuals within
tolerance); the scale fit only where the inliers or the rigid fit find a fault. The tests are
in this order: scale, pose, change, then ``mismatch`` below ``bad_inliers``, ``weak`` below
``ok_inliers``, else ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.geometry.correspondence import fill_radius, fill_sparse
from workbench.geometry.correspondence_fast import Target, prepare_target
from workbench.geometry.depth_residual import (
    Matches,
    match_ranges,
    residual_stats,
    violation_blob,
)
from workbench.geometry.equirect import range_to_points, rays_to_lonlat, unit_rays
from workbench.geometry.icp import Fit, fit_correction
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pose import invert, relative_pose

__all__ = ["RULES", "Thresholds", "PreparedView", "prepare_view", "measure_pair", "diagnose_pair"]


RULES = 4  # bumped whenever a diagnosis rule changes: a re-run recomputes older rules' scenes


@dataclass(frozen=True)
class Thresholds:
    """What agrees and what is a fault (module doc; the ``consistency`` verb's flags)."""

    tol_abs: float = 0.02
    tol_rel: float = 0.01
    gate: float = 0.25
    ok_inliers: float = 0.9
    bad_inliers: float = 0.5
    min_gain: float = 0.03
    scale_min: float = 0.01
    pose_cm: float = 1.0
    pose_deg: float = 0.3
    change_min: float = 0.002
    fit_points: int = 2000


@dataclass
class PreparedView:
    """A view's range ``(H, W)`` metres, pose, target (B's side of the kernel) and, once a
    fit needs them, normals and points (computed once, on this thread)."""

    range_m: np.ndarray
    T: np.ndarray
    target: Target
    normals: np.ndarray | None = None
    points: np.ndarray | None = None

    def get_normals(self) -> np.ndarray:
        if self.normals is None:  # sparse LiDAR: from the gap-filled range
            filled = fill_sparse(self.range_m, fill_radius(self.range_m))
            self.normals = range_to_normals(filled, workers=1)
        return self.normals

    def get_points(self) -> np.ndarray:
        """``(H * W, 3) float32`` camera-frame points (0 where invalid)."""
        if self.points is None:
            self.points = range_to_points(self.range_m, workers=1).reshape(-1, 3)
        return self.points


def prepare_view(range_m: np.ndarray, T_world_from_cam: np.ndarray) -> PreparedView:
    """A view ready to be matched (its gap-filled target built once)."""
    r = np.ascontiguousarray(range_m, np.float32)
    return PreparedView(r, np.asarray(T_world_from_cam, np.float64), prepare_target(r))


def measure_pair(a: PreparedView, b: PreparedView, th: Thresholds):
    """Both directions' matches and the pooled statistics (``n``, ``median_abs_m``, ``mad_m``,
    ``inliers``, ``violations`` and ``ratio``: the median of A's range over B's)."""
    ab = match_ranges(a.range_m, a.T, b.T, b.range_m, b.target, th.gate)
    ba = match_ranges(b.range_m, b.T, a.T, a.range_m, a.target, th.gate)
    res = np.concatenate([ab.residual, ba.residual])
    stats = residual_stats(res, np.concatenate([ab.r_b, ba.r_b]), th.tol_abs, th.tol_rel)
    log_ratio = np.concatenate([np.log(ab.r_pred / ab.r_b), -np.log(ba.r_pred / ba.r_b)])
    stats["ratio"] = float(np.exp(np.median(log_ratio))) if len(res) else float("nan")
    return ab, ba, stats


def _fits(a: PreparedView, b: PreparedView, ab: Matches, th: Thresholds, seed: int,
          always: bool, inliers: float):  # fmt: skip
    """The rigid fit of A against B from up to ``fit_points`` matched points, and the scale
    fit where the rigid one or the inliers find a fault (or ``always``; else ``None``)."""
    pts = a.get_points()[ab.idx]
    if len(pts) > th.fit_points:
        pick = np.random.default_rng(seed).choice(len(pts), th.fit_points, replace=False)
        pts = pts[np.sort(pick)]
    T_ba = relative_pose(a.T, b.T)
    kw = {"tol_abs": th.tol_abs, "tol_rel": th.tol_rel, "gate": th.gate}
    nb = b.get_normals()
    rigid = fit_correction(pts, T_ba, b.range_m, nb, "rigid", **kw)
    fine = inliers >= th.ok_inliers
    if not always and fine and rigid.inliers_after - rigid.inliers_before < th.min_gain:
        return rigid, None
    sa = fit_correction(pts, T_ba, b.range_m, nb, "scale_a", **kw)
    sb = fit_correction(pts, T_ba, b.range_m, nb, "scale_b", **kw)
    return rigid, sa if sa.inliers_after >= sb.inliers_after else sb


def _blob(ab: Matches, ba: Matches, th: Thresholds) -> dict:
    """The larger violation blob of the two directions, with its view (``a`` or ``b``), its
    fraction of that view's pixels and its centre direction."""
    best = None
    for side, m in (("a", ab), ("b", ba)):
        blob = violation_blob(m, th.tol_abs, th.tol_rel)
        blob["view"] = side
        blob["image_fraction"] = blob["pixels"] / float(m.shape[0] * m.shape[1])
        if best is None or blob["pixels"] > best["pixels"]:
            best = blob
    h, w = best["mask"].shape
    mean_ray = unit_rays(h, w)[best["mask"]].astype(np.float64).sum(axis=0)  # seam-safe
    lon, lat = rays_to_lonlat(mean_ray) if best["pixels"] else (np.nan, np.nan)
    best["lon_deg"], best["lat_deg"] = float(np.degrees(lon)), float(np.degrees(lat))
    return best


def _name(
    stats: dict, blob: dict, rigid: Fit, scale: Fit | None, th: Thresholds, pose: bool = True
) -> str:
    """The diagnosis (module doc) from the statistics, the blob and the fits (``pose``: False
    once the rigid correction is known not to improve the pair as measured)."""
    base = rigid.inliers_before
    if not np.isfinite(base):
        return "mismatch"
    floor = max(th.bad_inliers, rigid.inliers_after - th.min_gain)
    if (scale is not None and scale.inliers_after - base >= th.min_gain
            and abs(scale.ratio - 1.0) >= th.scale_min
            and scale.inliers_after >= floor):  # fmt: skip
        return "scale"
    big = rigid.translation_cm >= th.pose_cm or rigid.rotation_deg >= th.pose_deg
    if pose and rigid.inliers_after - base >= th.min_gain and big:
        if rigid.inliers_after >= th.ok_inliers:
            return "pose"
        if stats["inliers"] < th.ok_inliers:
            return "mismatch"  # a fault that no rigid correction restores: its size is unknown
    seen = blob["image_fraction"] > 0 and blob["image_fraction"] >= th.change_min
    if seen and blob["rest_inliers"] >= th.ok_inliers:
        return "change"
    if not stats["inliers"] >= th.bad_inliers:
        return "mismatch"
    return "ok" if stats["inliers"] >= th.ok_inliers else "weak"


def _improves(a: PreparedView, b: PreparedView, C: np.ndarray, stats: dict, th) -> bool:
    """Whether A's pose corrected by ``C`` (``T_a @ C``) raises the whole pair's inliers as
    :func:`measure_pair` measures them: the fit, on its own subset of A's points, can gain on
    a pair that already agrees (a clean sample's pair at 99.3 % read as moved 10.9 cm)."""
    moved = PreparedView(a.range_m, a.T @ C, a.target)
    return measure_pair(moved, b, th)[2]["inliers"] > stats["inliers"]


def _correction_of_b(C: np.ndarray, T_b_from_a: np.ndarray) -> float:
    """The translation (cm) of the same relative-pose error put on B instead of A: with
    ``T_a @ C`` A's corrected pose, B's is ``T_b @ C_b``, ``C_b = T_ba C⁻¹ T_ba⁻¹``."""
    C_b = T_b_from_a @ invert(C) @ invert(T_b_from_a)
    return float(np.linalg.norm(C_b[:3, 3]) * 100.0)


def diagnose_pair(
    a: PreparedView, b: PreparedView, th: Thresholds, seed: int = 0, always_fit: bool = False
):
    """Measure and diagnose a pair (module doc); ``always_fit``: run the scale fit on an
    ``ok`` pair too (the fits are in the detail; the row reports the diagnosed one).

    Returns:
        ``(row, detail)``: ``row`` the pair's statistics and diagnosis (the columns of
        ``pairs.csv``), ``detail`` the matches ``ab``/``ba``, the ``blob`` and the fits
        ``rigid``/``scale`` (``None``: not run; no rigid fit when A has no match in B).
    """
    ab, ba, stats = measure_pair(a, b, th)
    blob = _blob(ab, ba, th)
    fit = len(ab.idx) > 0
    rigid, scale = _fits(a, b, ab, th, seed, always_fit, stats["inliers"]) if fit else (None, None)
    name = _name(stats, blob, rigid, scale, th) if rigid is not None else "mismatch"
    if name == "pose" and not _improves(a, b, rigid.C, stats, th):
        name = _name(stats, blob, rigid, scale, th, pose=False)
    row = {**stats, "diagnosis": name, "score": 1.0 - stats["inliers"] if stats["n"] else 1.0}
    row["scale"] = scale.ratio if name == "scale" else 1.0
    row["t_cm"] = rigid.translation_cm if name == "pose" else 0.0
    row["t_cm_b"] = _correction_of_b(rigid.C, relative_pose(a.T, b.T)) if name == "pose" else 0.0
    row["rot_deg"] = rigid.rotation_deg if name == "pose" else 0.0
    fit = {"scale": scale, "pose": rigid}.get(name)
    row["fit_inliers"] = fit.inliers_after if fit is not None else float("nan")
    is_change = name == "change"
    row["change_view"] = blob["view"] if is_change else ""
    row["change_fraction"] = blob["image_fraction"] if is_change else 0.0
    row["change_bbox"] = " ".join(str(x) for x in blob["bbox"]) if is_change else ""
    row["change_lon_deg"] = blob["lon_deg"] if is_change else float("nan")
    row["change_lat_deg"] = blob["lat_deg"] if is_change else float("nan")
    detail = {"ab": ab, "ba": ba, "blob": blob, "rigid": rigid, "scale": scale}
    return row, detail
