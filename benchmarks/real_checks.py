"""Real-data checks of a depth model on public samples you download yourself (their licences
forbid putting them in this repository):

- RealSee3D's ``assets/`` (github.com/realsee-developer/RealSee3D): a real panorama with sparse
  LiDAR depth (``panoImage_real.jpg`` + ``depth_image.png``) and a synthetic render
  (``panoImage_synthesis.jpg`` + ``depth_image_synthesis.png``); no ``depth_scale.txt`` is
  shipped, so they are scale-free: metrics after median alignment.
- ZInD's ``sample_tour/`` (github.com/zillow/zind): real panoramas with layouts whose camera
  height is normalised to 1 and whose capture rig stands 1.435 m high: the camera height read
  off the predicted floor (metric check) and the ceiling-over-floor height ratio (scale-free).

Every model figure stands beside the constant and room-prior baselines
(:mod:`workbench.model.baselines`) on the same pixels::

    python -m benchmarks.real_checks --realsee RealSee3D/assets --zind zind/sample_tour \\
        [--model models/default] [--height 256]

Writes ``benchmarks/results/real_checks.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS
from workbench.geometry.equirect import resize_range, unit_rays
from workbench.io import read_image, read_rgb, write_text_atomic
from workbench.model.baselines import make_baselines
from workbench.model.metrics import depth_metrics
from workbench.model.predictor import load

ZIND_CAMERA_HEIGHT_M = 1.435
CAP = np.deg2rad(60.0)


def _metrics(pred: np.ndarray, gt: np.ndarray) -> dict:
    m = depth_metrics(pred, gt, median_align=True, max_depth=100.0)
    return {k: round(m[k], 4) for k in ("abs_rel", "delta1", "rmse_log")}


def realsee(folder: Path, predictor, baselines: dict, height: int) -> dict:
    """Median-aligned metrics of the model and the baselines on both RealSee3D samples."""
    out = {}
    for name, rgb_file, depth_file in (
        ("realsee3d_real", "panoImage_real.jpg", "depth_image.png"),
        ("realsee3d_synthetic", "panoImage_synthesis.jpg", "depth_image_synthesis.png"),
    ):
        if not (folder / rgb_file).is_file():
            continue
        rgb = read_rgb(folder / rgb_file)
        gt = read_image(folder / depth_file).astype(np.float32)  # relative units
        gt = resize_range(gt * (2.0 / np.median(gt[gt > 0])), height)  # scale-free: median 2
        pred = resize_range(predictor.predict(rgb), height)
        x = predictor.prepare(rgb)[0][None]
        row = {"model": _metrics(pred, gt), "valid_frac": round(float((gt > 0).mean()), 3)}
        for bname, b in baselines.items():
            row[bname] = _metrics(resize_range(b.predict_batch(x)[0], height), gt)
        out[name] = row
    return out


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
    args = ap.parse_args(argv)
    if not (args.realsee or args.zind):
        ap.error("give --realsee and/or --zind")
    predictor = load(args.model or None)
    baselines, origin = make_baselines(predictor)
    result = {"model": str(predictor.backend.source), "constant_from": origin}
    if args.realsee:
        result.update(realsee(args.realsee, predictor, baselines, args.height))
    if args.zind:
        result["zind"] = zind(args.zind, predictor, args.limit)
    write_text_atomic(RESULTS / "real_checks.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
