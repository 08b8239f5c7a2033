"""``workbench eval``: depth metrics (DESIGN §5) of any model format on a split CSV.

Writes ``metrics.json`` (mean over views), ``per_view.csv`` (one row per view, sorted worst
first by AbsRel) and visual dumps of the worst views into ``dumps/``; the metrics themselves come
from :func:`workbench.model.evaluate.evaluate`.
"""

from __future__ import annotations

import json

import pandas as pd

from workbench.data.pipeline import load_sample
from workbench.data.splits import read_split_csv
from workbench.errors import WorkbenchError
from workbench.io import make_folder, write_csv_atomic, write_text_atomic
from workbench.model.baselines import baseline_table, make_baselines
from workbench.model.evaluate import evaluate
from workbench.model.predictor import load
from workbench.viz.dumps import write_dumps

__all__ = ["run"]


def _rounded(v):
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return round(v, 6) if isinstance(v, float) else v


def run(config) -> int:
    """``workbench eval``: a view that cannot be read is listed (``failed.csv``, the summary)
    and the others are evaluated: exit 1 when some failed, 0 when none did."""
    if config.height % 2:
        raise WorkbenchError(f"must be 0 or an even number, got {config.height}", "--height")
    out = make_folder(config.out)
    records, root = read_split_csv(config.csv)
    if config.limit:
        records = records[: config.limit]
    predictor = load(config.model or None)
    failed: list[dict] = []
    baselines, constant_from = make_baselines(predictor, config.constant)
    mean, rows, preds = evaluate(
        predictor,
        records,
        root,
        config.batch,
        config.median_align,
        True,
        config.height,
        failed,
        config.average,
        baselines,
    )
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
        "average": config.average,
        "failed_views": len(failed),
        "constant_from": constant_from,
        **{k: _rounded(v) for k, v in mean.items()},
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
    print(baseline_table(mean))
    for f in failed:
        print(f"  failed: {f['error']}")
    return 1 if failed else 0
