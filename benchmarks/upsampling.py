"""Full-resolution depth: guided upsampling of the default model's prediction against plain
bilinear resizing, on the ground truth of the samples (and of any extra dataset roots).

Per view the model predicts at its size (128x256); the prediction is brought to the ground
truth's size both ways (:mod:`workbench.geometry.upsample`) and scored with AbsRel over all valid
pixels and over an *edge band*: pixels within ``k = H/128`` px (at least 2) of a ground-truth
depth discontinuity (a log-range step above :data:`EDGE_LOG_STEP` to a 4-neighbour, columns
wrapping). Figures are the guided/bilinear ratios (goal: edge band ≤ 0.97, overall ≤ 1.0).

    python -m benchmarks.upsampling [EXTRA_ROOT ...]

e.g. a 2048x1024 ``rooms`` set (8x the model's size)::

    workbench synth --out /tmp/rooms2k --scenes 4 --views 2 --seed 9300 --size 2048x1024 \\
        --low-size 2048x1024 --preset rooms --layout rgbd-folder
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np

from benchmarks.common import figure, write_result

EDGE_LOG_STEP = 0.1  # a >= ~10 % range jump between neighbouring pixels is a depth edge
SAMPLE_SETS = ("seed", "realsee3d-synthetic", "rgbd-folder")
# (radius, eps) also tried; (4, 1e-2) was the default until 2026-12-05
GRID = ((1, 1e-3), (2, 1e-3), (2, 1e-2), (4, 1e-3), (4, 1e-2), (8, 1e-2))


def edge_band(gt: np.ndarray, k: int) -> np.ndarray:
    """``(H, W)`` bool: valid pixels within ``k`` px of a depth discontinuity of ``gt``."""
    valid = np.isfinite(gt) & (gt > 0)
    lg = np.log(np.where(valid, gt, 1.0))
    right = np.roll(lg, -1, axis=1)
    step = np.zeros(gt.shape, bool)
    step |= (np.abs(right - lg) > EDGE_LOG_STEP) & valid & np.roll(valid, -1, axis=1)
    step[:-1] |= (np.abs(lg[1:] - lg[:-1]) > EDGE_LOG_STEP) & valid[1:] & valid[:-1]
    kernel = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
    padded = np.concatenate([step[:, -k:], step, step[:, :k]], axis=1).astype(np.uint8)
    return cv2.dilate(padded, kernel)[:, k:-k].astype(bool) & valid


def _abs_rel(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    m = mask & np.isfinite(gt) & (gt > 0)
    return float(np.mean(np.abs(pred[m] - gt[m]) / gt[m])) if m.any() else float("nan")


def _views(roots):
    from workbench.data.dataset import open_dataset

    for root in roots:
        ds = open_dataset(root)
        for i in range(len(ds)):
            v = ds.load(i)
            if v.rgb.shape[0] == v.range_m.shape[0] and v.rgb.shape[1] == 2 * v.rgb.shape[0]:
                yield f"{ds.name}/{i}", v.rgb, v.range_m


def score(roots) -> dict:
    """Per view: AbsRel (all / edge band) of bilinear, the default guided and :data:`GRID`."""
    from workbench.geometry.upsample import guided_upsample, upsample_bilinear
    from workbench.model.predictor import load

    predictor = load(None)
    rows = []
    for name, rgb, gt in _views(roots):
        x, _ = predictor.prepare(rgb, name)
        low = predictor.predict_batch(x[None])[0]
        big = gt.shape[0]
        band = edge_band(gt, max(2, big // 128))
        valid = np.isfinite(gt) & (gt > 0)
        bil = upsample_bilinear(low, big)
        t = time.perf_counter()
        gui = guided_upsample(low, rgb)
        seconds = time.perf_counter() - t
        row = {"view": name, "size": big, "guided_s": round(seconds, 3)}
        for key, pred in (("bilinear", bil), ("guided", gui)):
            row[key] = [_abs_rel(pred, gt, valid), _abs_rel(pred, gt, band)]
        for r, eps in GRID:
            p = guided_upsample(low, rgb, radius=r, eps=eps)
            row[f"r{r}_eps{eps:g}"] = [_abs_rel(p, gt, valid), _abs_rel(p, gt, band)]
        rows.append(row)
    return {"views": rows}


def _ratios(rows, key: str) -> tuple[float, float]:
    """guided/bilinear ratios of the mean AbsRel (all pixels, edge band) over ``rows``."""
    base = np.array([r["bilinear"] for r in rows])
    new = np.array([r[key] for r in rows])
    return tuple(float(np.nanmean(new[:, i]) / np.nanmean(base[:, i])) for i in (0, 1))


def main(extra: list[str] | None = None) -> dict:
    from workbench.paths import SAMPLES

    roots = [SAMPLES / s for s in SAMPLE_SETS] + list(extra or [])
    details = score(roots)
    figures = []
    for size in sorted({r["size"] for r in details["views"]}):
        rows = [r for r in details["views"] if r["size"] == size]
        overall, edges = _ratios(rows, "guided")
        group = details.setdefault("by_height", {}).setdefault(str(size), {"views": len(rows)})
        group["grid_ratios"] = {k: _ratios(rows, k) for k in rows[0] if k.startswith("r")}
        for key in ("bilinear", "guided"):
            arr = np.array([r[key] for r in rows])
            group[f"{key}_abs_rel"] = [round(float(x), 4) for x in np.nanmean(arr, axis=0)]
        at = f"at {2 * size}x{size} ({len(rows)} views)"
        figures += [
            figure(f"guided/bilinear AbsRel, edge band, {at}", edges, "ratio", goal=0.97),
            figure(f"guided/bilinear AbsRel, all pixels, {at}", overall, "ratio", goal=1.0),
        ]
    rows = details["views"]
    figures.append(
        figure("guided upsampling time, largest view", max(r["guided_s"] for r in rows), "s")
    )
    write_result("upsampling", figures, details)
    return details


if __name__ == "__main__":
    main(sys.argv[1:])
