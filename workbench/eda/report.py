"""``workbench eda ROOT --out DIR``: tables (parquet + CSV) and a self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.data.dataset import describe_dataset, index_spec
from workbench.data.layouts import load_view
from workbench.data.plausibility import warn_if_implausible
from workbench.eda import stats
from workbench.eda.views import read_class_table, view_table
from workbench.errors import WorkbenchError
from workbench.io import (
    atomic_path,
    check_output_file,
    make_folder,
    write_csv_atomic,
    write_text_atomic,
)
from workbench.viz import plots
from workbench.viz.plots import html_report

__all__ = ["compute", "write_report", "run"]


def compute(
    root,
    layout: str = "",
    cache=None,
    workers: int = 2,
    progress: bool = False,
    tilt_limit_deg: float = 5.0,
    errors: list | None = None,
    options=None,
    scheduler: str = "",
) -> dict:
    """Every EDA table of the dataset at ``root`` (see :mod:`workbench.eda.stats`).

    Args:
        errors: when a list, unreadable views and scenes are appended to it (and left out)
            instead of stopping the job.
        options: how to read the dataset (:class:`~workbench.configs.DataFlags`, e.g. the
            ``eda`` config); detected when ``None``.
    """
    index_errors: list | None = [] if errors is not None else None
    spec = describe_dataset(root, options, **({"layout": layout} if layout else {}))
    records = index_spec(spec, errors=index_errors)
    for e in index_errors or []:
        errors.append({"scene_id": Path(e.path or "").name, "view_id": "", "error": str(e)})
    if not records:
        raise WorkbenchError("dataset has no views", root)
    classes = _class_table(spec, options)
    table = view_table(
        records,
        spec.root,
        cache=cache,
        workers=workers,
        progress=progress,
        errors=errors,
        classes=classes,
        scheduler=scheduler,
    )
    if table.empty:
        raise WorkbenchError(f"no readable view ({errors[0]['error'] if errors else ''})", root)
    return {
        "views": table,
        "depth_hist": stats.depth_histogram(table),
        "depth_by_scene": stats.depth_by_scene(table),
        "orientation": stats.orientation_table(table, tilt_limit_deg),
        "yaw_rose": stats.yaw_rose(table),
        "pairs": stats.pair_table(table),
        "motion": stats.motion_by_scene(table),
        "by_floor": stats.depth_by_floor(table),
        "class_depth": stats.class_depth_table(table),
    }


def _class_table(spec, options) -> dict[int, str] | None:
    """The ``segment.png`` class table: ``--classes`` when given, else RealSee3D's
    ``metadata/class_mapping_{real,synthetic}.json`` in the root, else none."""
    given = getattr(options, "classes", "") if options is not None else ""
    if given:
        return read_class_table(given)
    for kind in ("real", "synthetic"):
        path = Path(spec.root) / "metadata" / f"class_mapping_{kind}.json"
        if path.is_file():
            return read_class_table(path)
    return None


def figures(tables: dict) -> dict:

    return {
        "Range distribution": plots.depth_histogram_figure(tables["depth_hist"]),
        "Range per scene": plots.depth_by_scene_figure(tables["depth_by_scene"]),
        "Camera yaw": plots.yaw_rose_figure(tables["yaw_rose"]),
        "Camera tilt": plots.tilt_figure(tables["orientation"]),
        "Camera positions": plots.camera_map_figure(tables["views"]),
        "Baselines": plots.baseline_figure(tables["pairs"]),
    }


def write_report(tables: dict, out: Path, title: str, example=None) -> dict:
    """Tables (parquet + CSV), ``report.html`` and ``summary.json``; ``example`` (a loaded
    :class:`~workbench.data.layouts.View`) adds its RGB and range row in metres."""

    make_folder(out)
    for name, df in tables.items():
        flat = df.drop(columns=[c for c in df.columns if c.startswith("hist_") or c == "key"])
        with atomic_path(out / f"{name}.parquet") as tmp:
            df.to_parquet(tmp, index=False)
        write_text_atomic(out / f"{name}.csv", flat.to_csv(index=False, float_format="%.5g"))
    o = tables["orientation"]
    summary = {
        "views": len(tables["views"]),
        "scenes": int(tables["views"]["scene_id"].nunique()),
        "median_range_m": round(float(tables["views"]["d_median"].median()), 3),
        "median_height_m": round(float(tables["views"]["height_m"].median()), 3),
        "tilt_outliers": int(o["tilt_outlier"].sum()),
        "median_baseline_m": round(float(tables["pairs"]["baseline_m"].median()), 3)
        if len(tables["pairs"])
        else None,
    }
    small = {
        "Summary": __import__("pandas").DataFrame([summary]),
        "Per scene": tables["depth_by_scene"].merge(tables["motion"], on="scene_id"),
        "Tilt outliers": o[o["tilt_outlier"]],
        "Per floor": tables["by_floor"],
        "Floor / wall / ceiling distance (segment.png)": tables["class_depth"],
    }
    figs = figures(tables)
    if example is not None:
        name = f"{example.record.scene_id[:8]}/{example.record.view_id}"
        step = max(1, example.rgb.shape[0] // 256)
        figs[f"Example view {name} (range in metres)"] = plots.depth_row_figure(
            example.rgb, example.range_m, title=name, step=step
        )
    write_text_atomic(out / "report.html", html_report(figs, small, title))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def run(config) -> int:
    root, out = Path(config.root), make_folder(config.out)
    cache = Path(config.cache) if config.cache else out / "views_cache.parquet"
    check_output_file(cache)
    warn_if_implausible(describe_dataset(root, config))
    failed: list[dict] = []
    tables = compute(
        root,
        config.layout,
        cache,
        config.workers,
        progress=True,
        tilt_limit_deg=config.tilt_limit,
        errors=failed,
        options=config,
        scheduler=config.scheduler,
    )
    first = tables["views"].iloc[0]
    spec = describe_dataset(root, config)
    rec = next(
        r for r in index_spec(spec) if (r.scene_id, r.view_id) == (first.scene_id, first.view_id)
    )
    summary = write_report(tables, out, f"EDA: {root}", load_view(rec, spec.root))
    summary["failed_views"] = len(failed)
    write_csv_atomic(out / "failed.csv", ("scene_id", "view_id", "error"), failed)
    print(json.dumps(summary))
    print(f"eda: wrote {out}/report.html")
    for f in failed:
        print(f"  failed: {f['error']}")
    return 1 if failed else 0
