"""``workbench eval``: depth metrics (README, *Training*) of any model format on a split CSV.

Writes ``metrics.json`` (mean over views), ``per_view.csv`` (one row per view, sorted worst
first by AbsRel) and visual dumps of the worst views into ``dumps/``; the metrics themselves come
from :func:`workbench.model.evaluate.evaluate`.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd

from workbench.data.pipeline import load_sample
from workbench.data.splits import read_split_csv, warn_if_split_implausible
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.io import (
    check_model_path,
    check_not_model_folder,
    check_output_folder,
    check_output_owner,
    check_outside,
    claim_output_folder,
    write_csv_atomic,
    write_text_atomic,
)
from workbench.model.baselines import baseline_table, make_baselines
from workbench.model.evaluate import SCALE_ROWS, evaluate_views, pool
from workbench.model.metrics import latitude_bin_metrics, range_bin_metrics
from workbench.model.predictor import load
from workbench.viz.dumps import write_dumps
from workbench.viz.labels import short_id

__all__ = ["run"]


def _rounded(v):
    """Floats rounded to 6 decimals, NaN as ``None`` (JSON ``null``), inside dicts and lists."""
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, float):
        return round(v, 6) if np.isfinite(v) else None
    return v


@functools.lru_cache(maxsize=1)  # one model held at a time
def _model(model: str, constant: float, flip: bool = False):
    """The predictor of ``model`` and its baselines, loaded once per process (engine workers
    keep theirs): ``(predictor, baselines, where the constant came from)``."""
    predictor = load(model or None, flip=flip)
    return (predictor, *make_baselines(predictor, constant))


def _eval_task(task: tuple) -> tuple:
    """One engine task: ``(model, constant, records, root, options)`` → per-view rows, sums,
    baseline sums and unreadable views of those records."""
    model, constant, records, root, (batch, median_align, height, camera_height, flip) = task
    predictor, baselines, _ = _model(model, constant, flip)
    failed: list[dict] = []
    args = (batch, median_align, False, height, failed, baselines, camera_height)
    bins: list = []
    rows, sums, base_sums, _ = evaluate_views(predictor, records, root, *args, range_bins=bins)
    return rows, sums, base_sums, failed, bins


def _evaluate_on_engine(config, records, root) -> tuple[list, np.ndarray, dict, list, list]:
    """Views in tasks of ``32 * batch`` on the engine (this process, or ``--scheduler``),
    results merged in record order: ``(rows, sums, baseline sums, failed, range-bin sums)``."""
    size = 32 * config.batch
    options = (config.batch, config.median_align, config.height, config.camera_height, config.flip)
    tasks = [
        (config.model, config.constant, records[i : i + size], str(root), options)
        for i in range(0, len(records), size)
    ]
    rows, sums, base, failed, bins = [], [], {}, [], []
    for task, result in run_tasks(_eval_task, tasks, 1, config.scheduler, "eval", config.progress):
        if isinstance(result, Exception):  # the engine lost the task: its views failed
            failed += [
                {"scene_id": r.scene_id, "view_id": r.view_id, "error": str(result)}
                for r in task[2]
            ]
            continue
        rows += result[0]
        sums.append(result[1])
        for name, ss in result[2].items():
            base.setdefault(name, []).append(ss)
        failed += result[3]
        bins += result[4]
    base = {name: np.concatenate(parts) for name, parts in base.items()}
    return rows, np.concatenate(sums) if sums else np.zeros((0, 8)), base, failed, bins


def _scale_block(mean: dict, rows: list[dict], camera_height: float) -> dict:
    """``metrics.json``'s ``camera_height`` block: the model rescaled to the rig's camera height
    (metric) beside the median-aligned (scale-free) metrics, moved out of the baselines."""
    if not camera_height:
        return {}
    factors = np.array([r.get("height_factor", np.nan) for r in rows], float)
    block = {
        "camera_height_m": camera_height,
        "rescaled": mean["baselines"].pop(SCALE_ROWS[0], {}),
        "median_aligned": mean["baselines"].pop(SCALE_ROWS[1], {}),
        "rescaled_views": int(np.isfinite(factors).sum()),
        "unscaled_views": int((~np.isfinite(factors)).sum()),
        "factor_median": float(np.nanmedian(factors)) if np.isfinite(factors).any() else None,
    }
    return {"camera_height": _rounded(block)}


def _bin_line(bins: list[dict], key: str, unit: str) -> str:
    """One line: the model's AbsRel per bin, its geometric-mean ratio pred / true and the
    bin's share of the pixels; a bin without pixels shows a dash."""
    parts = [
        f"{b[key][0]:g} to {b[key][1]:g}{unit} "
        + (f"{b['abs_rel']:.3f} ×{b['ratio']:.2f} ({_percent(b['share'])})" if b["views"] else "–")
        for b in bins
    ]
    return ", ".join(parts)


def _percent(share: float) -> str:
    """A share of the pixels in whole percent; ``<1 %`` for a few pixels, not ``0 %``."""
    return "<1 %" if 0 < share < 0.005 else f"{100 * share:.0f} %"


def _overall_ratio(bins: list[dict]) -> float | None:
    """The geometric mean of pred / true over every binned pixel (the bins' ratios pooled)."""
    n = sum(b["pixels"] for b in bins)
    logs = sum(b["pixels"] * np.log(b["ratio"]) for b in bins if b["pixels"])
    return float(np.exp(logs / n)) if n else None


def _print_breakdowns(info: dict, config) -> None:
    """The two breakdown lines under a header that says which prediction they describe."""
    which = "median-aligned" if config.median_align else "as predicted"
    if config.camera_height and not config.median_align:
        which += f" (before --camera-height {config.camera_height:g})"
    print(
        f"AbsRel, ×geometric mean of pred/true (over 1: too far; ×{info['ratio_all']:.2f} over"
        f" all pixels) and share of valid pixels per bin, {which}, all views pooled:"
    )
    print("  by true range: " + _bin_line(info["by_true_range"], "range_m", " m"))
    print("  by latitude (- up, + down): " + _bin_line(info["by_latitude"], "latitude_deg", "°"))


def run(config) -> int:
    """``workbench eval``: a view that cannot be read is listed (``failed.csv``, the summary)
    and the others are evaluated: exit 1 when some failed, 0 when none did. Views run in
    this process or, with ``--scheduler``, on a Dask cluster (same metrics; its workers must
    see the model and the dataset)."""
    if config.height % 2:
        raise WorkbenchError(f"must be 0 or an even number, got {config.height}", "--height")
    check_output_folder(config.out)
    check_not_model_folder(config.out, check_model_path(config.model or None))
    check_output_owner(config.out, "eval")
    records, root = read_split_csv(config.csv)
    check_outside(config.out, "--out", root, "the dataset root")
    if config.limit:
        records = records[: config.limit]
    warn_if_split_implausible(config.csv, records)
    # a bad model: exit 2
    predictor, _, constant_from = _model(config.model, config.constant, config.flip)
    rows, sums, base_sums, failed, bins = _evaluate_on_engine(config, records, root)
    mean = pool(sums, base_sums, config.average)
    if rows and not mean["n_views"]:
        raise WorkbenchError(
            f"none of its {len(rows)} readable views has ground truth within 0.1-10 m:"
            " nothing to score",
            config.csv,
        )
    out = claim_output_folder(config.out, "eval")  # once there are results (refused: none)
    write_csv_atomic(out / "failed.csv", ("scene_id", "view_id", "error"), failed)
    if not rows:
        raise WorkbenchError(f"no readable view ({failed[0]['error']})", config.csv)
    df = pd.DataFrame(rows).sort_values("abs_rel", ascending=False, na_position="last")
    write_text_atomic(out / "per_view.csv", df.to_csv(index=False, float_format="%.6g"))
    info = {
        "model": str(predictor.backend.source),
        "format": predictor.backend.kind,
        "csv": str(config.csv),
        "height": config.height or predictor.height,
        "model_height": predictor.height,
        "median_align": config.median_align,
        "flip": config.flip,
        "average": config.average,
        "failed_views": len(failed),
        "constant_from": constant_from,
        **{k: _rounded(v) for k, v in mean.items()},
    }
    table = baseline_table(mean)
    info.update(_scale_block(info, rows, config.camera_height))
    info["by_true_range"] = _rounded(range_bin_metrics([b[0] for b in bins]))
    by_latitude = latitude_bin_metrics([b[1] for b in bins])
    info["by_latitude"] = _rounded(by_latitude)
    info["ratio_all"] = _rounded(_overall_ratio(by_latitude))
    write_text_atomic(out / "metrics.json", json.dumps(info, indent=2) + "\n")
    by_key = {(r.scene_id, r.view_id): r for r in records}
    for old in sorted((out / "dumps").glob("worst*")):  # an earlier eval's, maybe of other data
        old.unlink(missing_ok=True)
    for rank, row in enumerate(df.head(config.worst).itertuples()):
        rec = by_key[(row.scene_id, row.view_id)]
        _, _, _, pred = evaluate_views(predictor, [rec], root, height=config.height)
        s = load_sample(rec, root, config.height or predictor.height)
        write_dumps(
            out / "dumps",
            f"worst{rank:02d}_{short_id(rec.scene_id)}_{rec.view_id}",
            s["rgb"],
            pred[(rec.scene_id, rec.view_id)],
            s["range"],
            s["pose"],
        )
    print(table)
    _print_breakdowns(info, config)
    if config.camera_height:
        c = info["camera_height"]
        med = f" (median factor {c['factor_median']:.3f})" if c["rescaled_views"] else ""
        print(
            f"--camera-height {config.camera_height:g}: {c['rescaled_views']} views rescaled"
            f"{med}, {c['unscaled_views']} without a visible floor left unscaled"
        )
    for f in failed:
        print(f"  failed: {f['error']}")
    return 1 if failed else 0
