"""Real-data checks of a depth model on public samples you download yourself (their licences
forbid putting them in this repository):

- RealSee3D's ``assets/`` (github.com/realsee-developer/RealSee3D): a real panorama with sparse
  LiDAR depth (``panoImage_real.jpg`` + ``depth_image.png``) and a synthetic render
  (``panoImage_synthesis.jpg`` + ``depth_image_synthesis.png``); no ``depth_scale.txt`` is
  shipped, so they are scale-free: metrics after median alignment.
- ZInD's ``sample_tour/`` (github.com/zillow/zind): real panoramas with layouts whose camera
  height is normalised to 1 and whose capture rig stands 1.435 m high: the camera height read
  off the predicted floor (metric check) and the ceiling-over-floor height ratio (scale-free).

``--camera-height`` (:func:`~workbench.geometry.floor_scale.rescale_to_camera_height`) is
measured on both: AbsRel as predicted, rescaled to the true camera height (or refused: no floor)
and median-aligned, against RealSee3D's depth (put at a :data:`REALSEE_RIG_M` rig) and against
the range to ZInD's layout walls (:func:`zind_wall_range`: doors, openings and windows left
out); guided against bilinear upsampling at RealSee3D's full resolution
(:func:`realsee_upsampling`). ZInD's neighbouring panoramas (:func:`zind_clouds`): the median
nearest-neighbour distance between their predicted clouds placed by their true poses, as
predicted and after ``--camera-height``, beside that of their layout rooms.

Every model figure stands beside the constant and room-prior baselines
(:mod:`workbench.model.baselines`) on the same pixels::

    python -m benchmarks.real_checks --realsee RealSee3D/assets --zind zind/sample_tour \\
        [--model models/default] [--height 256] [--out results.json]

Writes ``benchmarks/results/real_checks.json`` (or ``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS
from benchmarks.upsampling import _abs_rel as edge_abs_rel
from benchmarks.upsampling import edge_band
from workbench.data.zind import zind_T_world_from_cam
from workbench.errors import WorkbenchError
from workbench.geometry.camera_height import camera_height, fit_floor
from workbench.geometry.equirect import (
    lonlat_grid,
    range_to_points,
    resize_range,
    unit_rays,
    valid_mask,
)
from workbench.geometry.floor_scale import rescale_to_camera_height
from workbench.geometry.pose import transform_points
from workbench.geometry.upsample import guided_upsample, upsample_bilinear
from workbench.io import read_image, read_rgb, write_text_atomic
from workbench.model.metrics import depth_metrics, latitude_bin_metrics, latitude_bin_sums

ZIND_CAMERA_HEIGHT_M = 1.435
CAP = np.deg2rad(60.0)
REALSEE_RIG_M = 1.5  # RealSee3D ships no depth scale: its ground truth is put at this rig height
WALL_BAND = np.deg2rad(15.0)  # ZInD wall ranges: layout wall pixels within 15° of the horizon
ZIND_PAIR_M = 3.0  # neighbouring ZInD panoramas: same partial room, centres within 3 m
CLOUD_MAX_M = 8.0  # cloud distances: points within 8 m of their camera
CLOUD_POINTS = 20_000  # cloud distances: points drawn per panorama
DOOR_MARGIN = 0.05  # local units (~7 cm) around a ZInD door, opening or window (not walls)
REALSEE_SAMPLES = (
    ("realsee3d_real", "panoImage_real.jpg", "depth_image.png"),
    ("realsee3d_synthetic", "panoImage_synthesis.jpg", "depth_image_synthesis.png"),
)


def _metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    m = depth_metrics(pred, gt, median_align=True, max_depth=100.0)
    return {k: round(m[k], 4) for k in ("abs_rel", "delta1", "rmse_log")}


def realsee(folder: Path, predictor, baselines: dict, height: int) -> dict:
    """Median-aligned metrics of the model and the baselines on both RealSee3D samples."""
    out = {}
    for name, rgb_file, depth_file in REALSEE_SAMPLES:
        if not (folder / rgb_file).is_file():
            continue
        rgb = read_rgb(folder / rgb_file)
        gt = read_image(folder / depth_file).astype(np.float32)  # relative units
        gt = resize_range(gt * (2.0 / np.median(gt[gt > 0])), height)  # scale-free: median 2
        pred = resize_range(predictor.predict(rgb), height)
        x = predictor.prepare(rgb)[0][None]
        row = {"model": _metrics(pred, gt), "valid_frac": round(float((gt > 0).mean()), 3)}
        row["by_latitude_median_aligned"] = _latitude_ratios(pred, gt)
        for bname, b in baselines.items():
            row[bname] = _metrics(resize_range(b.predict_batch(x)[0], height), gt)
        out[name] = row
    return out


def _latitude_ratios(pred: np.ndarray, gt: np.ndarray) -> list[dict]:
    """``eval``'s latitude bands after median alignment: ``latitude_deg``, ``pixels``,
    ``abs_rel`` and ``ratio`` (geometric mean of pred / true) per band."""
    sums = latitude_bin_sums(pred, gt, max_depth=100.0, median_align=True)
    keep = ("latitude_deg", "pixels", "abs_rel", "ratio")
    return [
        {k: round(v, 4) if isinstance(v, float) else v for k, v in b.items() if k in keep}
        for b in latitude_bin_metrics(sums)
    ]


def zind_surface_ratios(pano: dict, unit: float, pred: np.ndarray) -> dict:
    """Geometric mean of predicted / true range on each surface of a ZInD panorama's layout
    room: ``walls`` (:func:`zind_wall_range`), ``floor`` and ``ceiling`` (pixels at least 20°
    below / above the horizon whose layout range is that plane's, within 1 %); None where a
    surface has under 50 pixels. Equal ratios mean a right shape at a wrong scale; a floor
    ratio above the walls' means a floor predicted too deep (a camera height read too high)."""
    h = pred.shape[0]
    lat = lonlat_grid(h, 2 * h)[1][:, None]
    layout = zind_layout_range(pano, unit, h)
    cam = float(pano.get("camera_height", 1.0)) * unit
    above = (float(pano["ceiling_height"]) * unit) - cam
    with np.errstate(divide="ignore"):
        plane = np.where(lat > 0, cam, above) / np.abs(np.sin(lat))
    on_plane = (layout > 0) & (np.abs(layout - plane) <= 0.01 * layout)
    walls = zind_wall_range(pano, unit, h)
    truth = {
        "walls": (walls, walls > 0),
        "floor": (layout, on_plane & (lat >= np.deg2rad(20.0))),
        "ceiling": (layout, on_plane & (lat <= -np.deg2rad(20.0))),
    }
    out = {}
    for name, (true, m) in truth.items():
        ok = m & (pred > 0)
        ratio = np.exp(np.mean(np.log(pred[ok] / true[ok]))) if ok.sum() >= 50 else None
        out[name] = None if ratio is None else round(float(ratio), 4)
    return out


def _abs_rel(pred: np.ndarray, gt: np.ndarray, align: bool = False) -> float:
    m = depth_metrics(pred, gt, median_align=align, max_depth=100.0)
    return round(m["abs_rel"], 4)


def rescale_row(pred: np.ndarray, gt: np.ndarray, true_height_m: float, name: str) -> dict:
    """AbsRel of ``pred`` against ``gt`` (metres): as predicted, after
    :func:`rescale_to_camera_height` to the true camera height (``None``, with the reason, where
    it is refused: no floor) and median-aligned (scale-free)."""
    row = {
        "true_camera_height_m": round(true_height_m, 3),
        "as_predicted": _abs_rel(pred, gt),
        "median_aligned": _abs_rel(pred, gt, align=True),
    }
    try:
        scaled, factor, fit = rescale_to_camera_height(pred, true_height_m, name)
    except WorkbenchError as e:
        return {**row, "rescaled": None, "factor": None, "refused": str(e)}
    return {
        **row,
        "rescaled": _abs_rel(scaled, gt),
        "factor": round(factor, 4),
        "floor_fit_m": round(fit.height_m, 3),
    }


def realsee_rescale(folder: Path, predictor, height: int) -> dict:
    """``--camera-height`` on both RealSee3D samples. No depth scale is shipped, so the ground
    truth is put at :data:`REALSEE_RIG_M`: its own camera height (:func:`camera_height` at full
    resolution: nadir cap, or the lowest valid band of the tripod-masked LiDAR) maps to it, and
    the prediction is rescaled to that height. ``rescaled`` and ``median_aligned`` do not
    depend on the assumed rig height; ``as_predicted`` does."""
    out = {}
    for name, rgb_file, depth_file in REALSEE_SAMPLES:
        if not (folder / rgb_file).is_file():
            continue
        gt = read_image(folder / depth_file).astype(np.float32)
        gt_height, method = camera_height(gt)
        gt = resize_range(gt * np.float32(REALSEE_RIG_M / gt_height), height)
        pred = resize_range(predictor.predict(read_rgb(folder / rgb_file)), height)
        row = rescale_row(pred, gt, REALSEE_RIG_M, rgb_file)
        out[name] = {**row, "gt_camera_height_from": method}
    return out


def realsee_upsampling(folder: Path, predictor) -> dict:
    """Guided against bilinear upsampling of the model's prediction to RealSee3D's full
    resolution: AbsRel over every valid pixel and over the edge band
    (:func:`benchmarks.upsampling.edge_band`: within ``H/128`` px of a ground-truth depth step),
    the prediction median-aligned to the scale-free ground truth by one factor for both."""
    out = {}
    for name, rgb_file, depth_file in REALSEE_SAMPLES:
        if not (folder / rgb_file).is_file():
            continue
        rgb = read_rgb(folder / rgb_file)
        gt = read_image(folder / depth_file).astype(np.float32)
        x, _ = predictor.prepare(rgb, rgb_file)
        low = predictor.predict_batch(x[None])[0]
        big, valid = gt.shape[0], gt > 0
        bilinear, guided = upsample_bilinear(low, big), guided_upsample(low, rgb)
        k = float(np.median(gt[valid]) / np.median(bilinear[valid]))
        band = edge_band(gt, max(2, big // 128))
        row = {"size": f"{2 * big}x{big}", "edge_pixels": int(band.sum())}
        for key, pred in (("bilinear", bilinear), ("guided", guided)):
            row[key] = [round(edge_abs_rel(pred * k, gt, m), 4) for m in (valid, band)]
        row["guided_over_bilinear"] = [
            round(g / b, 4) for g, b in zip(row["guided"], row["bilinear"], strict=True)
        ]
        out[name] = row
    return out


def _zind_pano_dicts(data: dict) -> list[tuple[str, dict, float]]:
    """``(image path, pano dict, metres per plan unit)`` of every panorama taken inside its
    visible layout on a floor with a metric scale, by image path."""
    scales = data.get("scale_meters_per_coordinate") or {}
    found: dict[str, tuple[dict, float]] = {}
    for floor, rooms in data.get("merger", {}).items():
        for partials in rooms.values():
            for panos in partials.values():
                for pano in panos.values():
                    inside = pano.get("is_inside", True)
                    if scales.get(floor) and inside and "layout_visible" in pano:
                        found.setdefault(pano["image_path"], (pano, float(scales[floor])))
    return [(rel, *found[rel]) for rel in sorted(found)]


def _cross(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]


def _through_doors(layout: dict, hit: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the pixels whose wall point (``hit (W, 2)`` local units, height ``up
    (H, W)`` above the camera) lies in one of the layout's doors, openings or windows, widened
    by :data:`DOOR_MARGIN`. ZInD draws a wall across every door (its layouts never extend
    through one), but an open door shows the room behind it, and a window what is outside: the
    layout's wall is not what such a pixel sees."""
    out = np.zeros(up.shape, bool)
    for key in ("doors", "openings", "windows"):
        w = np.asarray(layout.get(key) or [], np.float64).reshape(-1, 3, 2)
        for a, b, (z0, z1) in w:  # ZInD's WDO triples: two ends, then (bottom, top) heights
            ab = b - a
            n = max(float(np.hypot(*ab)), 1e-9)
            s = (hit - a) @ ab / n  # along the door, local units
            off = np.abs(_cross(ab, hit - a)) / n  # away from its line
            near = (s >= -DOOR_MARGIN) & (s <= n + DOOR_MARGIN) & (off <= DOOR_MARGIN)
            out |= near[None] & (up >= z0 - DOOR_MARGIN) & (up <= z1 + DOOR_MARGIN)
    return out


def _wall_distance(vertices, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal distance ``t (W,)`` (local units, ``inf`` where no wall) from the camera to
    the first wall of the polygon ``vertices (n, 2)`` along each azimuth ``lon (W,)`` (ZInD's
    ``atan2(-x, y)``), and the unit directions ``(W, 2)``."""
    v = np.asarray(vertices, np.float64)
    e = np.roll(v, -1, axis=0) - v
    d = np.stack([-np.sin(lon), np.cos(lon)], axis=1)
    den = _cross(d[:, None], e[None])  # (W, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t, s = _cross(v, e)[None] / den, _cross(v[None], d[:, None]) / den
    return np.where((t > 0) & (s >= 0) & (s <= 1), t, np.inf).min(axis=1), d


def zind_layout_range(pano: dict, metres_per_unit: float, height: int) -> np.ndarray:
    """``(height, 2·height)`` float32 metres: the range to the panorama's ``layout_visible`` room
    (walls, the floor ``camera_height`` below the camera, the ceiling ``ceiling_height`` above
    the floor) on every pixel; 0 where a column meets no wall. Below the horizon a ray meets the
    floor at ``camera_height / sin(latitude)`` unless a wall comes first."""
    lon, lat = lonlat_grid(height, 2 * height)
    t = _wall_distance(pano["layout_visible"]["vertices"], lon)[0][None]  # (1, W)
    cam = float(pano.get("camera_height", 1.0))
    drop = np.where(lat >= 0, cam, float(pano["ceiling_height"]) - cam)[:, None]  # (H, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = drop / np.abs(np.sin(lat))[:, None]  # to the floor or ceiling plane
        r = np.minimum(t / np.cos(lat)[:, None], flat)
    return np.where(np.isfinite(r), r * metres_per_unit, 0.0).astype(np.float32)


def zind_wall_range(pano: dict, metres_per_unit: float, height: int) -> np.ndarray:
    """``(height, 2·height)`` float32 metres: the range to the walls of the panorama's
    ``layout_visible`` polygon (ZInD's local frame, :mod:`workbench.data.zind`: azimuth
    ``atan2(-x, y)``, camera at the origin, units of ``metres_per_unit``) on the pixels within
    :data:`WALL_BAND` of the horizon whose ray meets a wall between floor and ceiling, outside
    its doors, openings and windows (:func:`_through_doors`); 0 elsewhere (furniture in front
    of a wall is not in the layout)."""
    layout = pano["layout_visible"]
    lon, lat = lonlat_grid(height, 2 * height)
    t, d = _wall_distance(layout["vertices"], lon)
    cam = float(pano.get("camera_height", 1.0))
    reach = t[None] * np.tan(lat)[:, None]  # how far below the camera the ray meets the wall
    up_to = np.where(lat[:, None] >= 0, cam, float(pano["ceiling_height"]) - cam)
    wall = (np.abs(lat) <= WALL_BAND)[:, None] & np.isfinite(t)[None] & (np.abs(reach) <= up_to)
    with np.errstate(invalid="ignore"):
        wall &= ~_through_doors(layout, np.where(np.isfinite(t), t, 0)[:, None] * d, -reach)
        r = t[None] / np.cos(lat)[:, None] * metres_per_unit
    return np.where(wall, r, 0.0).astype(np.float32)


def zind_rescale(tour: Path, predictor, height: int, limit: int = 0) -> dict:
    """Wall-range AbsRel (:func:`zind_wall_range`) of every panorama of the tour as predicted,
    after ``--camera-height`` with its true camera height (``camera_height · scale · metres per
    unit``) and median-aligned; the floor fit's camera height error; medians over panoramas."""
    rows = []
    for data in sorted(tour.glob("*/zind_data.json")):
        for rel, pano, m in _zind_pano_dicts(json.loads(data.read_text()))[: limit or None]:
            unit = float(pano["floor_plan_transformation"]["scale"]) * m
            true_h = float(pano.get("camera_height", 1.0)) * unit
            gt = zind_wall_range(pano, unit, height)
            pred = resize_range(predictor.predict(read_rgb(data.parent / rel)), height)
            fit = fit_floor(pred)
            row = {"pano": rel, **rescale_row(pred, gt, true_h, rel)}
            row["floor_fit_height_abs_rel"] = round(abs(fit.height_m - true_h) / true_h, 4)
            row["surface_ratio"] = zind_surface_ratios(pano, unit, pred)
            rows.append(row)
    if not rows:
        return {}
    kept = [r for r in rows if r["rescaled"] is not None]

    def med(key, among):
        vals = [r[key] for r in among if r[key] is not None and np.isfinite(r[key])]
        return round(float(np.median(vals)), 4) if vals else None

    return {
        "panos": len(rows),
        "refused_no_floor": len(rows) - len(kept),
        "true_camera_height_m": [min(r["true_camera_height_m"] for r in rows),
                                 max(r["true_camera_height_m"] for r in rows)],
        "wall_abs_rel_as_predicted": med("as_predicted", rows),
        "wall_abs_rel_as_predicted_not_refused": med("as_predicted", kept),
        "wall_abs_rel_rescaled": med("rescaled", kept),
        "wall_abs_rel_median_aligned": med("median_aligned", rows),
        "floor_fit_height_abs_rel": med("floor_fit_height_abs_rel", kept),
        "surface_ratio_median": {
            name: med(name, [r["surface_ratio"] for r in rows])
            for name in ("walls", "floor", "ceiling")
        },
        "surface_ratio_panos": {  # panoramas with 50 pixels or more of that surface
            name: sum(r["surface_ratio"][name] is not None for r in rows)
            for name in ("walls", "floor", "ceiling")
        },
        "per_pano": rows,
    }  # fmt: skip


def _zind_views(data: dict) -> list[dict]:
    """Every panorama of a tour on a floor with a metric scale, by image path: ``rel`` (image
    path), ``floor``, ``room`` (partial room: one room as captured), ``T``
    (``T_world_from_cam``, metres, :func:`workbench.data.zind.zind_T_world_from_cam`), ``unit``
    (metres per local unit) and the ``pano`` dict."""
    scales = data.get("scale_meters_per_coordinate") or {}
    found: dict[str, dict] = {}
    for floor, rooms in data.get("merger", {}).items():
        m = scales.get(floor)
        partials = (kv for parts in rooms.values() for kv in parts.items()) if m else ()
        for room, panos in partials:
            for pano in panos.values():
                tf, cam = pano["floor_plan_transformation"], float(pano.get("camera_height", 1.0))
                T = zind_T_world_from_cam(tf["translation"], tf["rotation"], tf["scale"], cam, m)
                view = {"floor": floor, "room": room, "T": T, "unit": float(tf["scale"]) * m}
                found.setdefault(pano["image_path"], {**view, "pano": pano})
    return [{"rel": rel, **found[rel]} for rel in sorted(found)]


def zind_pairs(views: list[dict], max_m: float = ZIND_PAIR_M) -> list[tuple[int, int, float]]:
    """``(i, j, metres apart)`` of the neighbouring panoramas of :func:`_zind_views`: the same
    (partial) room of the same floor, true camera centres at most ``max_m`` apart."""
    out = []
    for i, a in enumerate(views):
        for j in range(i + 1, len(views)):
            b = views[j]
            gap = float(np.linalg.norm(a["T"][:3, 3] - b["T"][:3, 3]))
            if (a["floor"], a["room"]) == (b["floor"], b["room"]) and gap <= max_m:
                out.append((i, j, gap))
    return out


def world_cloud(
    range_m: np.ndarray,
    T_world_from_cam: np.ndarray,
    max_m: float = CLOUD_MAX_M,
    points: int = CLOUD_POINTS,
    seed: int = 0,
) -> np.ndarray:
    """``(n, 3)`` float64 world points (metres) of the valid pixels of ``range_m`` at most
    ``max_m`` from the camera, placed by ``T_world_from_cam``: at most ``points`` of them,
    drawn (seeded) uniformly over the sphere (pixel weight ``cos(latitude)``)."""
    r = np.asarray(range_m, np.float32)
    h, w = r.shape
    ok = valid_mask(r) & (r <= max_m)
    p = range_to_points(r)[ok]
    if len(p) > points:
        weight = np.broadcast_to(np.cos(lonlat_grid(h, w)[1])[:, None], (h, w))[ok]
        pick = np.random.default_rng(seed).choice(len(p), points, False, weight / weight.sum())
        p = p[pick]
    return transform_points(T_world_from_cam, p)


def cloud_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Nearest-neighbour distances (metres) of every point of ``a`` to ``b`` and of ``b`` to
    ``a``, concatenated; empty when either cloud is."""
    from scipy.spatial import cKDTree

    if not len(a) or not len(b):
        return np.empty(0)
    return np.concatenate([cKDTree(b).query(a)[0], cKDTree(a).query(b)[0]])


def cloud_distance(range_a, T_a, range_b, T_b, max_m: float = CLOUD_MAX_M) -> float:
    """Median nearest-neighbour distance (metres, both directions) between the clouds of two
    range maps placed by their poses (:func:`world_cloud`, :func:`cloud_gaps`); NaN when one
    has no point within ``max_m``."""
    gaps = cloud_gaps(world_cloud(range_a, T_a, max_m), world_cloud(range_b, T_b, max_m, seed=1))
    return round(float(np.median(gaps)), 4) if len(gaps) else float("nan")


def _pair_maps(view: dict, tour: Path, predictor, height: int) -> dict:
    """The maps of one panorama for :func:`zind_clouds`: ``pred`` (metres as predicted),
    ``rescaled`` (``--camera-height`` to its true height, ``None`` where refused) and
    ``layout`` (:func:`zind_layout_range`, ``None`` without a visible layout)."""
    pano = view["pano"]
    pred = resize_range(predictor.predict(read_rgb(tour / view["rel"])), height)
    true_h = float(pano.get("camera_height", 1.0)) * view["unit"]
    try:
        scaled = rescale_to_camera_height(pred, true_h, view["rel"])[0]
    except WorkbenchError:
        scaled = None
    layout = zind_layout_range(pano, view["unit"], height) if "layout_visible" in pano else None
    return {"pred": pred, "rescaled": scaled, "layout": layout}


def zind_clouds(tour: Path, predictor, height: int, limit: int = 0) -> dict:
    """Neighbouring panoramas (:func:`zind_pairs`) of every tour: the median nearest-neighbour
    distance between their predicted clouds placed by their true poses
    (:func:`cloud_distance`) as predicted, after ``--camera-height`` (``None`` where either is
    refused) and, for reference, of their layout rooms (:func:`zind_layout_range`: what
    perfect depth of the annotated room would give; furniture and views through doors are not
    in it); medians over pairs."""
    rows = []
    for data in sorted(tour.glob("*/zind_data.json")):
        views = _zind_views(json.loads(data.read_text()))[: limit or None]
        maps: dict[int, dict] = {}
        for i, j, gap in zind_pairs(views):
            for k in (i, j):
                if k not in maps:
                    maps[k] = _pair_maps(views[k], data.parent, predictor, height)
            row = {"a": views[i]["rel"], "b": views[j]["rel"], "true_gap_m": round(gap, 3)}
            for key in ("pred", "rescaled", "layout"):
                a, b = maps[i][key], maps[j][key]
                ok = a is not None and b is not None
                row[key] = cloud_distance(a, views[i]["T"], b, views[j]["T"]) if ok else None
            rows.append(row)
    if not rows:
        return {}

    def med(key):
        vals = [r[key] for r in rows if r[key] is not None and np.isfinite(r[key])]
        return (round(float(np.median(vals)), 4) if vals else None), len(vals)

    (pred, _), (scaled, n_scaled), (layout, _) = med("pred"), med("rescaled"), med("layout")
    return {
        "pairs": len(rows),
        "max_gap_m": ZIND_PAIR_M,
        "cloud_max_m": CLOUD_MAX_M,
        "nn_median_m_as_predicted": pred,
        "nn_median_m_rescaled": scaled,
        "rescaled_pairs": n_scaled,
        "nn_median_m_layout_reference": layout,
        "per_pair": rows,
    }


def _cap_drop(range_m: np.ndarray, down: bool) -> float:
    """Median vertical distance (metres) of the points in the nadir (or zenith) cap: the
    camera's height above the floor (or the ceiling's above the camera), upright camera."""
    h, w = range_m.shape
    y = unit_rays(h, w)[..., 1]
    cap = (y > np.sin(CAP)) if down else (y < -np.sin(CAP))
    ok = cap & (range_m > 0)
    return float(np.median(np.abs(y[ok] * range_m[ok]))) if ok.any() else float("nan")


def zind(tour: Path, predictor, limit: int = 0) -> dict:
    """Camera height from the predicted floor (metric) and ceiling/camera height ratio
    (scale-free) against ZInD's layouts, over every panorama of the tour."""
    rows = []
    for data in sorted(tour.glob("*/zind_data.json")):
        panos = _zind_panos(json.loads(data.read_text()))
        for rel, ceiling in panos[: limit or None]:
            depth = predictor.predict(read_rgb(data.parent / rel))
            cam = _cap_drop(depth, down=True)
            up = _cap_drop(depth, down=False)
            rows.append(
                {
                    "pano": rel,
                    "camera_height_m": cam,
                    "ratio_pred": (up + cam) / cam,
                    "ratio_true": ceiling,
                }
            )
    if not rows:
        return {}
    cam = np.array([r["camera_height_m"] for r in rows])
    ratio_err = np.array([abs(r["ratio_pred"] - r["ratio_true"]) / r["ratio_true"] for r in rows])
    from workbench.model.baselines import make_baselines

    prior = make_baselines(predictor)[0]["room prior"]
    prior_cam = _cap_drop(
        prior.predict_batch(np.zeros((1, prior.height, 2 * prior.height, 3)))[0], True
    )
    return {
        "panos": len(rows),
        "camera_height_median_m": round(float(np.median(cam)), 3),
        "camera_height_abs_rel": round(
            float(np.median(np.abs(cam - ZIND_CAMERA_HEIGHT_M)) / ZIND_CAMERA_HEIGHT_M), 4
        ),
        "room_prior_camera_height_abs_rel": round(
            abs(prior_cam - ZIND_CAMERA_HEIGHT_M) / ZIND_CAMERA_HEIGHT_M, 4
        ),
        "ceiling_ratio_abs_rel": round(float(np.median(ratio_err)), 4),
    }


def _zind_panos(data: dict) -> list[tuple[str, float]]:
    """``(image path, ceiling height / camera height)`` of every panorama in a ZInD tour."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            if "image_path" in node and "ceiling_height" in node:
                out.append((node["image_path"], node["ceiling_height"] / node["camera_height"]))
                return
            for v in node.values():
                walk(v)

    walk(data.get("merger", {}))
    return sorted(set(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--realsee", type=Path, help="RealSee3D assets/ folder")
    ap.add_argument("--zind", type=Path, help="ZInD sample_tour/ folder")
    ap.add_argument("--model", default="", help="model (default: the shipped one)")
    ap.add_argument("--height", type=int, default=256, help="metrics at this height")
    ap.add_argument("--limit", type=int, default=0, help="ZInD panoramas per tour (0: all)")
    ap.add_argument("--no-flip", action="store_true", help="one model call (no mirror average)")
    ap.add_argument("--out", type=Path, default=RESULTS / "real_checks.json", help="JSON written")
    args = ap.parse_args(argv)
    if not (args.realsee or args.zind):
        ap.error("give --realsee and/or --zind")
    from workbench.model.baselines import make_baselines
    from workbench.model.predictor import load

    predictor = load(args.model or None, flip=not args.no_flip)  # as infer/eval by default
    baselines, origin = make_baselines(predictor)
    result = {
        "model": str(predictor.backend.source),
        "flip": not args.no_flip,
        "constant_from": origin,
    }
    if args.realsee:
        result.update(realsee(args.realsee, predictor, baselines, args.height))
    if args.zind:
        result["zind"] = zind(args.zind, predictor, args.limit)
    rescale = {}
    if args.realsee:
        rescale.update(realsee_rescale(args.realsee, predictor, args.height))
        result["upsampling_realsee3d"] = realsee_upsampling(args.realsee, predictor)
    if args.zind:
        rescale["zind_walls"] = zind_rescale(args.zind, predictor, args.height, args.limit)
        result["zind_neighbour_clouds"] = zind_clouds(args.zind, predictor, args.height, args.limit)
    result["camera_height_rescale"] = rescale
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
