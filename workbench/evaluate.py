"""``workbench eval``: depth metrics (DESIGN §5) of any model format on a split CSV.

Views are loaded at the model's input size (depth resized without blending invalid pixels), so
every format is compared on the same pixels; with ``height`` the ground truth is loaded at that
size instead and predictions are resized to it (bilinear, columns wrapping), so models trained
at different sizes are compared on the same pixels. Writes ``metrics.json`` (mean over views),
``per_view.csv`` (one row per view, sorted worst first by AbsRel) and visual dumps of the worst
views into ``dumps/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError

__all__ = ["evaluate", "run"]


def _resize_pred(pred: np.ndarray, height: int) -> np.ndarray:
    """``(h, 2h)`` range → ``(height, 2 height)``, bilinear with columns wrapping at the seam."""
    import cv2

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


def evaluate(
    predictor,
    records,
    root,
    batch: int = 4,
    median_align: bool = False,
    progress: bool = False,
    height: int = 0,
) -> tuple[dict, list[dict], dict]:
    """Metrics of ``predictor`` (a :class:`workbench.infer.Predictor`) on ``records``.

    Args:
        height: compare at this height (ground truth loaded at it, predictions resized to it);
            0: the model's.

    Returns:
        ``(mean, rows, cache)``: mean metrics (plus ``n_views``), one row per view, and the
        predictions by ``(scene_id, view_id)`` (``(H, W)`` float32 metres at the compared size).
    """
    from tqdm.auto import tqdm

    from workbench.data.pipeline import load_sample
    from workbench.model.metrics import METRIC_NAMES, depth_metrics

    h = predictor.height
    rows, preds = [], {}
    for i in tqdm(range(0, len(records), batch), desc="eval", disable=not progress):
        recs = records[i : i + batch]
        samples = [load_sample(r, root, h, range_height=height) for r in recs]
        pred = predictor.predict_batch(np.stack([s["rgb"] for s in samples]))
        if height and height != h:
            pred = [_resize_pred(p, height) for p in pred]
        for rec, s, p in zip(recs, samples, pred, strict=True):
            m = depth_metrics(p, s["range"], median_align=median_align)
            rows.append(
                {
                    "scene_id": rec.scene_id,
                    "view_id": rec.view_id,
                    **{k: m[k] for k in METRIC_NAMES},
                    "valid": bool(m["n_images"]),
                }
            )
            preds[(rec.scene_id, rec.view_id)] = p
    ok = [r for r in rows if r["valid"]]
    mean = {k: float(np.mean([r[k] for r in ok])) for k in METRIC_NAMES} if ok else {}
    mean["n_views"] = len(ok)
    return mean, rows, preds


def run(config) -> int:
    import pandas as pd

    from workbench.data.pipeline import load_sample
    from workbench.data.splits import read_split_csv
    from workbench.infer import load
    from workbench.io import write_text_atomic
    from workbench.train import write_dumps

    if config.height < 0 or config.height % 2:
        raise WorkbenchError(f"--height must be 0 or a positive even number, got {config.height}")
    records, root = read_split_csv(config.csv)
    if config.limit:
        records = records[: config.limit]
    predictor = load(config.model or None)
    mean, rows, preds = evaluate(
        predictor, records, root, config.batch, config.median_align, True, config.height
    )
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows).sort_values("abs_rel", ascending=False, na_position="last")
    write_text_atomic(out / "per_view.csv", df.to_csv(index=False, float_format="%.6g"))
    info = {
        "model": str(predictor.backend.source),
        "format": predictor.backend.kind,
        "csv": str(config.csv),
        "height": config.height or predictor.height,
        "model_height": predictor.height,
        "median_align": config.median_align,
        **{k: round(v, 6) for k, v in mean.items()},
    }
    write_text_atomic(out / "metrics.json", json.dumps(info, indent=2) + "\n")
    by_key = {(r.scene_id, r.view_id): r for r in records}
    for rank, row in enumerate(df.head(config.worst).itertuples()):
        rec = by_key[(row.scene_id, row.view_id)]
        s = load_sample(rec, root, config.height or predictor.height)
        write_dumps(
            out / "dumps",
            f"worst{rank:02d}_{rec.scene_id[:8]}_{rec.view_id}",
            s["rgb"],
            preds[(rec.scene_id, rec.view_id)],
            s["range"],
            s["pose"],
        )
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in mean.items()}))
    return 0
