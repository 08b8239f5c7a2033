"""Depth metrics (README *Training*) of any :class:`~workbench.model.predictor.Predictor` on views.

Views are loaded at the model's input size (depth resized without blending invalid pixels), so
every format is compared on the same pixels; with ``height`` the ground truth is loaded at that
size instead and predictions are resized to it (bilinear, columns wrapping), so models trained
at different sizes are compared on the same pixels. Used by ``workbench eval``, the trainers'
validation and the export report.
"""

from __future__ import annotations

import cv2
import numpy as np
from tqdm.auto import tqdm

from workbench.data.pipeline import load_sample
from workbench.errors import WorkbenchError
from workbench.geometry.floor_scale import rescale_to_camera_height
from workbench.model.metrics import (
    METRIC_NAMES,
    latitude_bin_sums,
    metric_sums,
    metrics_from_sums,
    range_bin_sums,
)

__all__ = ["evaluate", "evaluate_views", "pool", "resize_prediction", "SCALE_ROWS"]

# with ``camera_height``: the model rescaled to it (metric) and median-aligned (scale-free), kept
# beside the baselines' sums under these names
SCALE_ROWS = ("model rescaled", "model median-aligned")


def _scale_sums(p: np.ndarray, gt: np.ndarray, camera_height: float, label: str):
    """Metric sums of ``p`` rescaled to ``camera_height`` (unscaled when no floor is visible)
    and median-aligned, and the factor (NaN when refused)."""
    try:
        scaled, factor, _ = rescale_to_camera_height(p, camera_height, label)
    except WorkbenchError:
        scaled, factor = p, float("nan")
    metric = metric_sums(scaled, gt)[0]
    return metric, metric_sums(p, gt, median_align=True)[0], factor


def resize_prediction(pred: np.ndarray, height: int) -> np.ndarray:
    """``(h, 2h)`` range → ``(height, 2 height)``, bilinear with columns wrapping at the seam."""
    h, w = pred.shape
    if h == height:
        return pred
    padded = np.concatenate([pred[:, -1:], pred, pred[:, :1]], axis=1)
    scale = w / (2 * height)
    # output pixel centre x_out maps to input centre (x_out + 0.5) * scale - 0.5 (+1 for the pad)
    xs = (np.arange(2 * height) + 0.5) * scale - 0.5 + 1.0
    ys = np.clip((np.arange(height) + 0.5) * (h / height) - 0.5, 0, h - 1)
    mx, my = np.meshgrid(xs.astype(np.float32), ys.astype(np.float32))
    return cv2.remap(padded.astype(np.float32), mx, my, cv2.INTER_LINEAR)


def _load_batch(records, root, h: int, height: int, errors: list | None):
    recs, samples = [], []
    for r in records:
        try:
            samples.append(load_sample(r, root, h, range_height=height))
            recs.append(r)
        except WorkbenchError as e:
            if errors is None:
                raise
            errors.append({"scene_id": r.scene_id, "view_id": r.view_id, "error": str(e)})
    return recs, samples


def evaluate_views(
    predictor,
    records,
    root,
    batch: int = 4,
    median_align: bool = False,
    progress: bool = False,
    height: int = 0,
    errors: list | None = None,
    baselines: dict | None = None,
    camera_height: float = 0.0,
    range_bins: list | None = None,
) -> tuple[list[dict], np.ndarray, dict, dict]:
    """Per-view results of ``predictor`` on ``records`` (the arguments of :func:`evaluate`;
    with ``camera_height``, also the sums of :data:`SCALE_ROWS` among the baselines' and each
    row's ``height_factor``; with a list ``range_bins``, each view's
    :func:`~workbench.model.metrics.range_bin_sums` and
    :func:`~workbench.model.metrics.latitude_bin_sums` rows are appended to it as a pair).

    Returns:
        ``(rows, sums, base_sums, preds)``: one row per readable view, its metric sums
        ``(n, 8)`` (:func:`~workbench.model.metrics.metric_sums`), the baselines' sums by name,
        and the predictions by ``(scene_id, view_id)``. Sums of several calls concatenate, so a
        dataset evaluated in pieces (on a cluster) pools to the same means (:func:`pool`).
    """
    h = predictor.height
    rows, preds, sums = [], {}, []
    base_sums: dict[str, list] = {name: [] for name in baselines or {}}
    base_sums.update({name: [] for name in SCALE_ROWS} if camera_height else {})
    for i in tqdm(range(0, len(records), batch), desc="eval", disable=not progress):
        recs, samples = _load_batch(records[i : i + batch], root, h, height, errors)
        if not recs:
            continue
        rgb = np.stack([s["rgb"] for s in samples])
        pred = _at_height(predictor.predict_batch(rgb), height, h)
        for name, b in (baselines or {}).items():
            for p, s in zip(_at_height(b.predict_batch(rgb), height, h), samples, strict=True):
                base_sums[name].append(metric_sums(p, s["range"], median_align=median_align)[0])
        for rec, s, p in zip(recs, samples, pred, strict=True):
            sums.append(metric_sums(p, s["range"], median_align=median_align)[0])
            if range_bins is not None:
                args = (p, s["range"])
                range_bins.append(
                    (
                        range_bin_sums(*args, median_align=median_align)[0],
                        latitude_bin_sums(*args, median_align=median_align)[0],
                    )
                )
            m = metrics_from_sums(sums[-1])
            rows.append(
                {
                    "scene_id": rec.scene_id,
                    "view_id": rec.view_id,
                    **{k: m[k] for k in METRIC_NAMES},
                    "valid": bool(m["n_images"]),
                }
            )
            preds[(rec.scene_id, rec.view_id)] = p
            if camera_height:
                label = f"{rec.scene_id}/{rec.view_id}"
                metric, aligned, factor = _scale_sums(p, s["range"], camera_height, label)
                base_sums[SCALE_ROWS[0]].append(metric)
                base_sums[SCALE_ROWS[1]].append(aligned)
                rows[-1]["height_factor"] = factor
    as_array = {k: np.array(v).reshape(-1, 8) for k, v in base_sums.items()}
    return rows, np.array(sums).reshape(-1, 8), as_array, preds


def pool(sums: np.ndarray, base_sums: dict, average: str = "views") -> dict:
    """Mean metrics (plus ``n_views``, and ``baselines`` by name) from per-view sums."""
    pooled = metrics_from_sums(np.asarray(sums).reshape(-1, 8), average)
    n_views = pooled.pop("n_images")
    mean = pooled if n_views else {}
    mean["n_views"] = n_views
    if base_sums:
        mean["baselines"] = {}
        for name, ss in base_sums.items():
            m = metrics_from_sums(np.asarray(ss).reshape(-1, 8), average)
            m.pop("n_images")
            mean["baselines"][name] = m
    return mean


def evaluate(
    predictor,
    records,
    root,
    batch: int = 4,
    median_align: bool = False,
    progress: bool = False,
    height: int = 0,
    errors: list | None = None,
    average: str = "views",
    baselines: dict | None = None,
) -> tuple[dict, list[dict], dict]:
    """Metrics of ``predictor`` (a :class:`workbench.model.predictor.Predictor`) on ``records``.

    Args:
        height: compare at this height (ground truth loaded at it, predictions resized to it);
            0: the model's.
        errors: when a list, a view that cannot be read is appended to it as
            ``{"scene_id", "view_id", "error"}`` and skipped; otherwise its error is raised.
        average: ``views`` (mean of per-view metrics, as UniFuse and HoHoNet report) or
            ``pixels`` (every valid pixel of every view pooled, as DAC and Argus report).
        baselines: ``{name: predictor}`` measured on the same views and pixels (e.g.
            :mod:`workbench.model.baselines`); their metrics are ``mean["baselines"][name]``.

    Returns:
        ``(mean, rows, cache)``: mean metrics (plus ``n_views``), one row per view, and the
        predictions by ``(scene_id, view_id)`` (``(H, W)`` float32 metres at the compared size).
    """
    args = (batch, median_align, progress, height, errors, baselines)
    rows, sums, base_sums, preds = evaluate_views(predictor, records, root, *args)
    return pool(sums, base_sums, average), rows, preds


def _at_height(pred, height: int, h: int):
    """Predictions at the compared height (resized when it differs from the model's)."""
    return [resize_prediction(p, height) for p in pred] if height and height != h else pred
