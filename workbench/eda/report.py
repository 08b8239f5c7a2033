"""``workbench eda ROOT --out DIR``: tables (parquet + CSV) and a self-contained HTML report.

A pose-only dataset (panoramas and poses, no depth) gets its orientation and motion tables and
figures, empty depth tables and a report that says "no depth"; the report says how each camera
height was found (:func:`workbench.eda.stats.height_methods`) and which class table served
which views (:func:`workbench.eda.views.class_table_summary`). With ``--consistency DIR`` (a
``workbench consistency`` output) the report gets a *Multi-view consistency* section: views per
diagnosis and the flagged views, worst first."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.dataset import describe_dataset, index_spec, no_views_error
from workbench.data.layouts import load_view
from workbench.data.plausibility import warn_if_implausible
from workbench.data.validate import MAX_POSE_TRANSLATION_M
from workbench.eda import stats
from workbench.eda.consistency import load_consistency
from workbench.eda.views import (
    check_views_cache,
    class_table_summary,
    find_class_tables,
    view_table,
)
from workbench.errors import WorkbenchError
from workbench.io import (
    atomic_path,
    check_output_file,
    check_output_folder,
    check_output_owner,
    check_outside,
    check_replaceable,
    claim_output_folder,
    make_folder,
    output_source,
    unclaim_output_folder,
    write_csv_atomic,
    write_text_atomic,
)
from workbench.viz import plots
from workbench.viz.labels import short_id
from workbench.viz.plots import html_report

__all__ = ["compute", "write_report", "run", "DEPTH_TABLES"]

DEPTH_TABLES = ("depth_hist", "depth_by_scene", "by_floor", "class_depth")  # depth statistics


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
    warn: bool = False,
) -> dict:
    """Every EDA table of the dataset at ``root`` (see :mod:`workbench.eda.stats`).

    Args:
        errors: when a list, unreadable views and scenes are appended to it (and left out)
            instead of stopping the job.
        options: how to read the dataset (:class:`~workbench.configs.DataFlags`, e.g. the
            ``eda`` config); detected when ``None``.
        warn: print one warning line when the depth scale looks implausible
            (:func:`~workbench.data.plausibility.warn_if_implausible`, on the records indexed
            here), before any view is computed.

    Returns:
        ``{name: DataFrame}``; without depth in any view the :data:`DEPTH_TABLES` are empty,
        but ``by_floor`` keeps views and camera heights where floors are labelled.
    """
    index_errors: list | None = [] if errors is not None else None
    spec = describe_dataset(root, options, **({"layout": layout} if layout else {}))
    records = index_spec(spec, errors=index_errors)
    for e in index_errors or []:
        errors.append({"scene_id": Path(e.path or "").name, "view_id": "", "error": str(e)})
    if not records:
        raise no_views_error(spec, index_errors or [])
    if warn:
        warn_if_implausible(spec, records)
    classes = find_class_tables(spec.root, getattr(options, "classes", "") or "")
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
    tables = {
        "views": table,
        "depth_hist": stats.depth_histogram(table),
        "depth_by_scene": stats.depth_by_scene(table),
        "orientation": stats.orientation_table(table, tilt_limit_deg),
        "yaw_rose": stats.yaw_rose(table),
        "pairs": stats.pair_table(table),
        "motion": stats.motion_by_scene(table),
        "by_floor": stats.depth_by_floor(table),
        "class_depth": stats.class_depth_table(table),
        "height": stats.height_methods(table),
        "class_tables": class_table_summary(records, classes),
    }
    if not table["d_median"].notna().any():  # pose-only: no depth statistics at all
        tables.update({name: tables[name].iloc[0:0] for name in DEPTH_TABLES})
        if table["floor"].fillna("").astype(str).ne("").any():  # labelled floors (ZInD):
            by_floor = stats.depth_by_floor(table)  # they still group views, camera heights
            tables["by_floor"] = by_floor.drop(columns=["d_median", "invalid_frac"])
    return tables


def figures(tables: dict) -> dict:
    """The report's figures; the range figures only when some view has depth."""
    figs = {}
    if len(tables["depth_hist"]):
        figs["Range distribution"] = plots.depth_histogram_figure(tables["depth_hist"])
        figs["Range per scene"] = plots.depth_by_scene_figure(tables["depth_by_scene"])
    figs.update({
        "Camera yaw": plots.yaw_rose_figure(tables["yaw_rose"]),
        "Camera tilt": plots.tilt_figure(tables["orientation"]),
        "Camera positions": plots.camera_map_figure(tables["views"]),
        "Baselines": plots.baseline_figure(tables["pairs"]),
    })  # fmt: skip
    return figs


def _rounded(x) -> float | None:
    """``x`` rounded to 3 decimals, ``None`` for NaN (``summary.json`` stays valid JSON)."""
    x = float(x)
    return round(x, 3) if math.isfinite(x) else None


def _notes(tables: dict) -> list[str]:
    """Sentences at the top of the report: depth, camera heights, class tables."""
    v, notes = tables["views"], []
    with_depth = int(v["d_median"].notna().sum())
    if not with_depth:
        notes.append(
            "No depth: no view has depth (a pose-only dataset: panoramas and poses), so the "
            "depth tables are empty; orientation and motion come from the poses."
        )
    elif with_depth < len(v):
        notes.append(f"No depth in {len(v) - with_depth} of {len(v)} views (left out of the "
                     "range statistics).")  # fmt: skip
    h = tables["height"]
    if len(h):
        used = h[h["method"] != "none"]
        found = [f"{n} from {m}" for m, n in zip(used["method"], used["views"], strict=True)]
        nan = int(h.loc[h["method"] == "none", "views"].sum())
        text = "Camera heights: " + (", ".join(found) or "none found")
        notes.append(text + (f"; NaN for {nan} views (see Camera height)." if nan else "."))
    for row in tables["class_tables"].itertuples():
        if row.classes == 0:
            notes.append(f"{row.views} {row.capture} views have segment.png but no class table "
                         f"(metadata/class_mapping_{row.capture}.json or --classes): no "
                         "floor / wall / ceiling distances, heights from depth alone.")  # fmt: skip
    return notes


def _consistency_tables(views: pd.DataFrame) -> dict:
    """The report's *Multi-view consistency* tables from a ``consistency`` ``views.csv``: views
    per diagnosis, the flagged views and the weak ones, worst first (at most 50 each)."""
    flagged = views[views["flagged"].astype(bool)]
    counts = views.groupby("diagnosis").size().rename("views").reset_index()
    cols = ["scene", "view", "diagnosis", "bad_pairs", "pairs", "scale", "t_cm", "rot_deg",
            "change_fraction", "change_lon_deg", "change_lat_deg", "median_abs_m"]  # fmt: skip
    tables = {
        f"Multi-view consistency ({len(flagged)} of {len(views)} views flagged)": counts,
        "Multi-view consistency: flagged views, worst first": flagged[cols].head(50),
    }
    weak = views[views["diagnosis"] == "weak"]
    if len(weak):  # not flagged, not vouched for: listed, with their pairs' agreement
        key = "Multi-view consistency: weak views (their pairs agree only in part), worst first"
        tables[key] = weak[["scene", "view", "pairs", "inliers", "median_abs_m"]].head(50)
    return tables


def write_report(
    tables: dict, out: Path, title: str, example=None, failed=(), consistency=None
) -> dict:
    """Tables (parquet + CSV), ``report.html`` and ``summary.json``; ``example`` (a loaded
    :class:`~workbench.data.layouts.View`) adds its RGB and range row in metres (its RGB
    alone when it has no depth); ``failed`` (``{"scene_id", "view_id", "error"}`` rows: views
    left out) is listed in the report and counted in the summary; ``consistency`` (the
    ``views.csv`` of ``workbench consistency``) adds the *Multi-view consistency* section."""

    make_folder(out)
    for name, df in tables.items():
        flat = df.drop(columns=[c for c in df.columns if c.startswith("hist_") or c == "key"])
        with atomic_path(out / f"{name}.parquet") as tmp:
            df.to_parquet(tmp, index=False)
        write_text_atomic(out / f"{name}.csv", flat.to_csv(index=False, float_format="%.5g"))
    o, v = tables["orientation"], tables["views"]
    summary = {
        "views": len(v),
        "scenes": int(v["scene_id"].nunique()),
        "views_with_depth": int(v["d_median"].notna().sum()),
        "median_range_m": _rounded(v["d_median"].median()),
        "median_height_m": _rounded(v["height_m"].median()),
        "tilt_outliers": int(o["tilt_outlier"].sum()),
        "median_baseline_m": _rounded(tables["pairs"]["baseline_m"].median())
        if len(tables["pairs"])
        else None,  # over every pair of views of a scene
        "median_nn_baseline_m": _rounded(stats.nearest_baselines(tables["pairs"]).median())
        if len(tables["pairs"])
        else None,  # each view to its nearest neighbour
        "failed_views": len(failed),
    }
    per_scene = (
        tables["motion"]
        .merge(tables["depth_by_scene"].drop(columns="views"), on="scene_id", how="left")
        .dropna(axis=1, how="all")
    )  # a pose-only dataset: no range columns, not columns of NaN
    small = {
        "Summary": pd.DataFrame([{k: "–" if v is None else v for k, v in summary.items()}]),
        "Camera height (how it was found)": tables["height"],
        "Per scene": per_scene,
        "Tilt outliers": o[o["tilt_outlier"]],
        "Per floor": tables["by_floor"],
        "Class tables (segment.png)": tables["class_tables"],
        "Floor / wall / ceiling distance (segment.png)": tables["class_depth"],
    }
    small = {k: t for k, t in small.items() if len(t) or k == "Tilt outliers"}  # none: no table
    if failed:
        small["Views left out (could not be read)"] = pd.DataFrame(list(failed))
    if consistency is not None:
        small.update(_consistency_tables(consistency))
        summary["consistency_flagged_views"] = int(consistency["flagged"].astype(bool).sum())
    figs = figures(tables)
    if example is not None:
        name = f"{short_id(example.record.scene_id)}/{example.record.view_id}"
        step = max(1, example.rgb.shape[0] // 256)
        has = bool((example.range_m > 0).any())
        figs[f"Example view {name} ({'range in metres' if has else 'no depth'})"] = (
            plots.depth_row_figure(
                example.rgb, example.range_m if has else None, title=name, step=step
            )
        )
    write_text_atomic(out / "report.html", html_report(figs, small, title, _notes(tables)))
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _warn_far_cameras(views, records, root) -> None:
    """One warning line when cameras stand farther than
    :data:`~workbench.data.validate.MAX_POSE_TRANSLATION_M` from the origin (poses in
    millimetres?), naming the first one's pose file: the motion figures take them as metres."""
    t = np.sqrt(views["cx"] ** 2 + views["cy"] ** 2 + views["cz"] ** 2)
    far = views[t > MAX_POSE_TRANSLATION_M]
    if far.empty:
        return
    key = (far.iloc[0]["scene_id"], str(far.iloc[0]["view_id"]))
    rec = next((r for r in records if (r.scene_id, r.view_id) == key), None)
    where = Path(root) / rec.pose_path if rec is not None and rec.pose_path else Path(root)
    print(
        f"workbench: warning: {where}: {len(far)} camera(s) farther than "
        f"{MAX_POSE_TRANSLATION_M:.0f} m from the origin ({float(t.max()):.4g} m): poses in "
        "millimetres? The motion figures read them as metres (`workbench validate` names each)",
        file=sys.stderr,
    )


def dataset_views(views: pd.DataFrame, records, folder: str, root: str = "") -> pd.DataFrame:
    """The rows of ``--consistency``'s ``views`` that are views of ``records``' dataset: a
    folder of another dataset's results is refused (its flagged views would be reported as
    this one's); views the dataset no longer has are left out with one warning, and results
    computed on another root (the folder's mark) whose ids match are said in one warning (a
    copied dataset is the same data; an edited copy is not).

    Raises:
        WorkbenchError: naming ``--consistency`` when none of its views is the dataset's.
    """
    ours = {(r.scene_id, r.view_id) for r in records}
    keys = list(zip(views["scene"], views["view"], strict=True))
    known = [k in ours for k in keys]
    if keys and not any(known):
        raise WorkbenchError(
            f"{folder} holds another dataset's results (e.g. view {keys[0][1]} of scene "
            f"{keys[0][0]}, not in this dataset): run workbench consistency on this root",
            "--consistency",
        )
    source = output_source(folder)
    if root and source and Path(source).resolve() != Path(root).resolve():
        print(f"workbench: warning: --consistency: {folder} was computed on {source}, not on "
              f"{root}; its views are matched to this dataset's by scene and view ids "
              "(run workbench consistency on this root if its poses or depth differ)",
              file=sys.stderr)  # fmt: skip
    if not all(known):
        print(f"workbench: warning: --consistency: {len(known) - sum(known)} of {len(keys)} "
              f"views in {folder} are not in this dataset; left out of the report",
              file=sys.stderr)  # fmt: skip
    return views[np.array(known, dtype=bool)] if keys else views


def run(config) -> int:
    root, out = Path(config.root), check_output_folder(config.out)
    check_output_owner(out, "eda")
    # every input before any folder is made: the root, --classes, --consistency, --cache
    spec = describe_dataset(root, config)
    check_output_owner(out, "eda", source=spec.root)  # another dataset's report there
    find_class_tables(spec.root, config.classes or "")
    records = index_spec(spec, errors=[])  # broken scenes: listed by compute
    consistency = None
    if config.consistency:
        try:
            consistency = load_consistency(config.consistency)[1]
        except WorkbenchError as e:  # the folder or its table, under the flag that named it
            raise WorkbenchError(str(e), "--consistency") from None
        consistency = dataset_views(consistency, records, config.consistency, spec.root)
    cache = Path(config.cache) if config.cache else out / "views_cache.parquet"
    check_outside(cache, "--cache", spec.root, "the dataset root")
    if config.cache:  # a file the user named (the default one is the job's own, rebuilt)
        check_replaceable(cache, "--cache", "a views cache", lambda b: b[:4] == b"PAR1")
        check_views_cache(cache)
    made = not out.exists()
    claim_output_folder(out, "eda", source=spec.root)
    check_output_file(cache)
    failed: list[dict] = []
    try:
        tables = compute(
            root,
            config.layout,
            cache,
            config.workers,
            progress=config.progress,
            tilt_limit_deg=config.tilt_limit,
            errors=failed,
            options=config,
            scheduler=config.scheduler,
            warn=True,
        )
    except WorkbenchError:  # no view could be read: a folder this run made goes too
        if made:
            unclaim_output_folder(out)
        raise
    first = tables["views"].iloc[0]
    rec = next(r for r in records if (r.scene_id, r.view_id) == (first.scene_id, first.view_id))
    _warn_far_cameras(tables["views"], records, spec.root)
    example = load_view(rec, spec.root)
    summary = write_report(tables, out, f"EDA: {root}", example, failed, consistency)
    write_csv_atomic(out / "failed.csv", ("scene_id", "view_id", "error"), failed)
    print(json.dumps(summary))
    print(f"eda: wrote {out}/report.html")
    for f in failed:
        print(f"  failed: {f['error']}")
    return 1 if failed else 0
