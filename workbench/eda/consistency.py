"""``workbench consistency ROOT --out DIR``: multi-view depth consistency of every scene of a
dataset, on the engine (:mod:`workbench.engine`, as ``covisibility``: ``--workers N`` threads,
``--scheduler`` a Dask cluster).

Per scene, at ``--height``: each view is paired with its ``--partners`` most covisible views
(the scene's shipped ``covisibility.txt`` when it has one, else :func:`overlap_matrix`) with
at least ``--min-overlap``, on the same floor; every pair is measured and diagnosed
(:mod:`workbench.eda.consistency_pairs`) and every view judged from its pairs
(:mod:`workbench.eda.consistency_views`). Written atomically:
``DIR/<scene>/pairs.csv``, ``views.csv`` and, last, ``options.json`` (the settings and a
fingerprint of the scene's files: a re-run skips a scene only when they are the same), then
``DIR/pairs.csv``, ``DIR/views.csv`` (every scene, ranked worst first), ``DIR/failed.csv``
and ``DIR/summary.json``. Only depth and poses are read: a view whose depth or pose cannot be
read is left out of its scene (named in ``DIR/<scene>/left_out.csv``; a re-run tries the scene
again), a scene none of whose views can be read is left out; both are listed in
``failed.csv`` and the rest goes on (exit 1).

In Python: :func:`scene_consistency` on arrays, :func:`pair_residual` for one pair of a
dataset (residual image, masks, fitted corrections), :func:`load_consistency` to read ``DIR``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from workbench.data.dataset import describe_dataset, index_spec, require_depth, require_poses
from workbench.data.layouts import ViewRecord, scene_covisibility
from workbench.eda.consistency_pairs import RULES, Thresholds, diagnose_pair, prepare_view
from workbench.eda.consistency_views import VIEW_COLUMNS, aggregate_views, rank_views
from workbench.eda.scene_ranges import (
    check_dataset_height,
    check_scene_height,
    finished_with,
    left_out_rows,
    load_scene_ranges,
    scene_fingerprint,
    stale_scenes_note,
    start_scene,
)
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence_fast import overlap_fast, prepare_target
from workbench.geometry.depth_residual import residual_image, shrink_range
from workbench.geometry.equirect import range_to_points
from workbench.io import claim_output_folder, write_csv_atomic, write_text_atomic

__all__ = [
    "PAIR_COLUMNS",
    "overlap_matrix",
    "choose_pairs",
    "scene_consistency",
    "SceneJob",
    "write_scene_consistency",
    "run",
    "PairResidual",
    "pair_residual",
    "load_consistency",
]

LEFT_OUT = "left_out.csv"  # a scene's views that could not be read (view, error)
PAIR_COLUMNS = [
    "scene", "view_a", "view_b", "covisibility", "diagnosis", "score", "n", "median_abs_m",
    "mad_m", "inliers", "violations", "ratio", "scale", "t_cm", "t_cm_b", "rot_deg", "fit_inliers",
    "change_view", "change_fraction", "change_bbox", "change_lon_deg", "change_lat_deg",
]  # fmt: skip


def choose_pairs(cov: np.ndarray, floors, min_overlap: float, partners: int) -> list:
    """Unordered pairs ``(i, j, covisibility)``, ``i < j``: each view with its ``partners``
    most covisible views on its floor with covisibility at least ``min_overlap``.

    >>> c = np.array([[1, .9, .1], [.9, 1, .5], [.1, .5, 1]])
    >>> choose_pairs(c, ["", "", ""], 0.3, 1)
    [(0, 1, 0.9), (1, 2, 0.5)]
    """
    n = len(cov)
    chosen = set()
    for i in range(n):
        ok = [j for j in range(n) if j != i and floors[j] == floors[i] and cov[i, j] >= min_overlap]
        for j in sorted(ok, key=lambda j: -cov[i, j])[:partners]:
            chosen.add((min(i, j), max(i, j)))
    return [(i, j, float(cov[i, j])) for i, j in sorted(chosen)]


def overlap_matrix(ranges: list, poses: list, gate: float, height: int = 64) -> np.ndarray:
    """Covisibility of a scene's views for choosing pairs: the compiled overlap at the
    occlusion ``gate`` and at most ``height`` rows (rough is enough to choose), without the
    round-trip test (a wrong scale or pose breaks round trips, and such pairs are the ones to
    find).

    Returns:
        ``(N, N) float64``, symmetric (the mean of both directions), unit diagonal.
    """
    small = [shrink_range(r, min(height, r.shape[0])) for r in ranges]
    targets = [prepare_target(r) for r in small]
    n = len(small)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]

    def one(pair):
        i, j = pair
        return overlap_fast(small[i], poses[i], poses[j], targets[j], gate, 1e9, one_thread=True)

    frac = np.eye(n)
    with ThreadPoolExecutor(max(1, min(numba.get_num_threads(), len(pairs)))) as pool:
        for (i, j), value in zip(pairs, pool.map(one, pairs), strict=True):
            frac[i, j] = value
    return (frac + frac.T) / 2


def scene_consistency(scene, ids, ranges, poses, th=None, cov=None, floors=None,
                      min_overlap=0.3, partners=6):  # fmt: skip
    """A scene's pairs and views tables (the columns :data:`PAIR_COLUMNS`,
    :data:`~workbench.eda.consistency_views.VIEW_COLUMNS`; views ranked worst first).

    Args:
        scene: scene id; ids: view ids; ranges: ``[(H, W)]`` metres (one size); poses:
            ``[(4, 4)]``; th: :class:`~workbench.eda.consistency_pairs.Thresholds`; cov:
            ``(N, N)`` covisibility (``None``: computed); floors: per view (``None``: one).
    """
    th = th or Thresholds()
    floors = floors or [""] * len(ids)
    if cov is None:
        cov = overlap_matrix(ranges, poses, th.gate)
    prepared = [prepare_view(r, T) for r, T in zip(ranges, poses, strict=True)]
    chosen = choose_pairs(cov, floors, min_overlap, partners)
    for k in sorted({k for a, b, _ in chosen for k in (a, b)}):  # once, before the threads
        prepared[k].get_points(), prepared[k].get_normals()

    def one(k):
        i, j, c = chosen[k]
        row, _ = diagnose_pair(prepared[i], prepared[j], th, seed=k)
        return {"scene": scene, "view_a": ids[i], "view_b": ids[j], "covisibility": c, **row}

    with ThreadPoolExecutor(max(1, min(numba.get_num_threads(), len(chosen)))) as pool:
        rows = list(pool.map(one, range(len(chosen))))  # in pair order, seeded per pair
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    return pairs, aggregate_views(scene, list(ids), pairs)


@dataclass(frozen=True)
class SceneJob:
    """One scene's consistency: its records (view order), where to read and write, settings."""

    root: str
    out: str
    records: tuple[ViewRecord, ...]
    height: int
    min_overlap: float
    partners: int
    th: Thresholds = field(default_factory=Thresholds)

    @property
    def scene_id(self) -> str:
        return self.records[0].scene_id


def _load_scene(records, root: str, height: int):
    """``(records, ranges, poses, left_out)`` of a scene's readable views with depth, at
    ``height`` (:func:`~workbench.eda.scene_ranges.load_scene_ranges`)."""
    scene = load_scene_ranges(records, root)
    keep = [k for k, r in enumerate(scene.ranges) if scene.records[k].has_depth and (r > 0).any()]
    if not keep:
        raise WorkbenchError("no view has depth", Path(root) / records[0].scene_id)
    check_scene_height(height, [scene.ranges[k] for k in keep])
    ranges = [shrink_range(scene.ranges[k], height) for k in keep]
    return ([scene.records[k] for k in keep], ranges, [scene.poses[k] for k in keep],
            list(scene.left_out))  # fmt: skip


def _options(job: SceneJob) -> dict:
    """What shapes a scene's tables (its ``options.json``): a re-run with other settings, or
    whose files changed, redoes the scene."""
    return {
        "height": job.height,
        "min_overlap": job.min_overlap,
        "partners": job.partners,
        "thresholds": asdict(job.th),
        "rules": RULES,
        "views": [r.view_id for r in job.records],
        "decoding": scene_fingerprint(job.records, job.root),
    }


def write_scene_consistency(job: SceneJob) -> dict:
    """Compute and write one scene's ``pairs.csv`` and ``views.csv`` (module doc); skipped
    when they were written with the same options and data, no view left out."""
    folder = Path(job.out) / job.scene_id
    options = _options(job)
    if finished_with(folder, ("pairs.csv", "views.csv"), options):
        return {"scene": job.scene_id, "skipped": True}
    records, ranges, poses, left_out = _load_scene(job.records, job.root, job.height)
    shipped = scene_covisibility(job.root, list(records))
    pairs, views = scene_consistency(
        job.scene_id, [r.view_id for r in records], ranges, poses, job.th, shipped,
        [r.floor for r in records], job.min_overlap, job.partners,
    )  # fmt: skip
    start_scene(folder)  # options.json is written last, once the tables are
    if left_out:
        write_csv_atomic(folder / LEFT_OUT, ("view", "error"),
                         [{"view": v, "error": e} for v, e in left_out])  # fmt: skip
        options["left_out"] = [v for v, _ in left_out]  # never equal: tried again
    else:
        (folder / LEFT_OUT).unlink(missing_ok=True)  # an earlier run's, now read
    write_csv_atomic(folder / "pairs.csv", PAIR_COLUMNS, pairs.to_dict("records"))
    write_csv_atomic(folder / "views.csv", VIEW_COLUMNS, views.to_dict("records"))
    write_text_atomic(folder / "options.json", json.dumps(options, indent=2) + "\n")
    return {"scene": job.scene_id, "skipped": False, "left_out": left_out}


def _read_table(path: Path, columns) -> pd.DataFrame:
    """One of ``consistency``'s CSV tables, its columns checked: another file named like it is
    refused naming it."""
    read = {"dtype": {"scene": str, "view": str, "view_a": str, "view_b": str},
            "keep_default_na": False, "na_values": ["nan", "NaN", ""]}  # fmt: skip
    try:
        df = pd.read_csv(path, **read)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise WorkbenchError(f"not a consistency table ({type(e).__name__})", path) from None
    missing = [c for c in columns if c not in df]
    if missing:
        raise WorkbenchError(
            f"not a consistency table (no column {missing[0]!r}; run workbench consistency)",
            path,
        )
    for col in ("change_bbox", "change_view"):
        if col in df:
            df[col] = [x if isinstance(x, str) else "" for x in df[col]]
    return df


def load_consistency(folder) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(pairs, views)`` of a ``consistency`` output folder (its ``pairs.csv`` and
    ``views.csv``; views ranked worst first).

    Raises:
        WorkbenchError: naming the folder when it holds no ``views.csv``, or the table that
            is not one of ``consistency``'s.
    """
    folder = Path(folder)
    if not (folder / "views.csv").is_file():
        raise WorkbenchError("holds no views.csv (run workbench consistency first)", folder)
    pairs_csv = folder / "pairs.csv"
    pairs = _read_table(pairs_csv, PAIR_COLUMNS) if pairs_csv.is_file() else None
    return pairs, _read_table(folder / "views.csv", VIEW_COLUMNS)


def _collect(out: Path, scenes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every finished scene's tables, the views ranked worst first."""
    parts = [load_consistency(out / s) for s in scenes if (out / s / "views.csv").is_file()]
    pairs = pd.concat([p for p, _ in parts], ignore_index=True) if parts else None
    views = pd.concat([v for _, v in parts], ignore_index=True) if parts else None
    pairs = pairs if pairs is not None else pd.DataFrame(columns=PAIR_COLUMNS)
    views = rank_views(views) if views is not None else pd.DataFrame(columns=VIEW_COLUMNS)
    return pairs, views


def _summary(pairs, views, done, failed, left, seconds) -> dict:
    flagged = views[views["flagged"].astype(bool)] if len(views) else views
    return {
        "scenes": len(done),
        "computed": sum(not d["skipped"] for d in done),
        "skipped": sum(d["skipped"] for d in done),
        "failed": len(failed),
        "views_left_out": len(left),
        "pairs": len(pairs),
        "views": len(views),
        "flagged_views": len(flagged),
        "unchecked_views": int((views["diagnosis"] == "unchecked").sum()) if len(views) else 0,
        "weak_views": int((views["diagnosis"] == "weak").sum()) if len(views) else 0,
        "pairs_by_diagnosis": {
            str(k): int(v) for k, v in pairs["diagnosis"].value_counts().items()
        },
        "flagged_by_diagnosis": {
            str(k): int(v) for k, v in flagged["diagnosis"].value_counts().items()
        },
        "seconds": round(seconds, 2),
    }


def _print(summary: dict, views: pd.DataFrame, failed: list, out: Path) -> None:
    print(f"consistency: {json.dumps(summary)} -> {out}")
    for _, v in views[views["flagged"].astype(bool)].head(10).iterrows():
        detail = {
            "scale": f"ranges x{v['scale']:.3f}",
            "pose": f"correction {v['t_cm']:.1f} cm, {v['rot_deg']:.2f} deg",
            "change": f"{100 * v['change_fraction']:.1f} % of the image at lon "
            f"{v['change_lon_deg']:.0f}, lat {v['change_lat_deg']:.0f} deg",
            "mismatch": "no one correction explains it (a pose or depth scale far off, or "
            "broken depth)",
        }.get(v["diagnosis"], "")
        what = f"{v['diagnosis']} {detail}" if detail else v["diagnosis"]
        alone = "; one partner: the fault may be either view's" if v["pairs"] == 1 else ""
        print(f"  {v['scene']}/{v['view']}: {what} ({v['bad_pairs']}/{v['pairs']} pairs{alone})")
    if summary.get("weak_views"):
        print(f"  {summary['weak_views']} view(s) weak: their pairs agree on only part of the "
              "overlap (inliers between --bad-inliers and --ok-inliers) and no one correction "
              "explains it: sparse or noisy depth, or a pose or scale error too large to fit "
              "(views.csv diagnosis 'weak'; notebook 09 shows the pairs)")  # fmt: skip
    if summary["unchecked_views"]:
        print(f"  {summary['unchecked_views']} view(s) unchecked: no partner covisible at "
              "--min-overlap or more (views.csv diagnosis 'unchecked'; a lower --min-overlap "
              "pairs them)")  # fmt: skip
    for f in failed:
        print(f"  failed: {f['scene']}: {f['error']}")


def _thresholds(config) -> Thresholds:
    return Thresholds(
        tol_abs=config.tol_abs, tol_rel=config.tolerance, gate=config.gate,
        ok_inliers=config.ok_inliers, bad_inliers=config.bad_inliers,
        scale_min=config.scale_min, pose_cm=config.pose_cm, pose_deg=config.pose_deg,
        change_min=config.change_min,
    )  # fmt: skip


def run(config) -> int:
    """CLI entry (see the module doc)."""
    start = time.perf_counter()
    spec = describe_dataset(config.root, config)
    errors: list = []
    records = index_spec(spec, errors=errors)
    require_depth(records, config.root, "consistency compares measured depth")
    require_poses(records, config.root, "consistency compares views placed by their poses")
    check_dataset_height(records, spec.root, config.height)
    out = claim_output_folder(config.out, "consistency", source=spec.root)
    scenes: dict[str, list] = {}
    for r in records:
        scenes.setdefault(r.scene_id, []).append(r)
    th = _thresholds(config)
    jobs = [SceneJob(spec.root, str(out), tuple(rs), config.height, config.min_overlap,
                     config.partners, th) for rs in scenes.values()]  # fmt: skip
    results = run_tasks(write_scene_consistency, jobs, config.workers, config.scheduler,
                        desc="consistency", progress=config.progress, local="threads")  # fmt: skip
    failed = [{"scene": Path(e.path or "").name, "error": str(e)} for e in errors]
    left: list[dict] = []  # views left out of scenes that were processed
    done = []
    for job, res in results:
        if isinstance(res, Exception):
            failed.append({"scene": job.scene_id, "error": str(res).splitlines()[0][:300]})
        else:
            done.append(res)
            left += left_out_rows(res["scene"], res.get("left_out", ()))
    pairs, views = _collect(out, [d["scene"] for d in done])
    write_csv_atomic(out / "pairs.csv", PAIR_COLUMNS, pairs.to_dict("records"))
    write_csv_atomic(out / "views.csv", VIEW_COLUMNS, views.to_dict("records"))
    write_csv_atomic(out / "failed.csv", ("scene", "error"), failed + left)
    summary = _summary(pairs, views, done, failed, left, time.perf_counter() - start)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    _print(summary, views, failed + left, out)
    note = stale_scenes_note("consistency", out, [*scenes, *(f["scene"] for f in failed)])
    if note:
        print(note)
    if failed and not done:
        raise WorkbenchError(f"no scene could be processed ({failed[0]['error']})", config.root)
    return 1 if failed or left else 0


@dataclass(frozen=True)
class PairResidual:
    """One pair re-computed (:func:`pair_residual`).

    Attributes:
        row: the pair's ``pairs.csv`` row (statistics and diagnosis).
        residual_a: ``(H, W) float32`` metres in A's pixels, A's point seen from B minus the
            range B measures there (negative: A's surface in front of what B sees); NaN
            where A has no match in B. residual_b: the same, B into A, in B's pixels.
        blob_a, blob_b: ``(H, W) bool`` the largest violation blob in each view's pixels.
        C: ``(4, 4)`` the rigid correction fitted for A (A's frame): A's pose corrected is
            ``T_a @ C``; scale: A's ranges over B's from the scale fit.
        T_a, T_b: the poses; range_a, range_b: ``(H, W)`` metres at the working height.
    """

    row: dict
    residual_a: np.ndarray
    residual_b: np.ndarray
    blob_a: np.ndarray
    blob_b: np.ndarray
    C: np.ndarray
    scale: float
    T_a: np.ndarray
    T_b: np.ndarray
    range_a: np.ndarray
    range_b: np.ndarray

    @property
    def T_a_corrected(self) -> np.ndarray:
        return self.T_a @ self.C

    def clouds(self, stride: int = 1) -> dict:
        """World points ``(N, 3) float64`` of the valid pixels (every ``stride``-th row and
        column) for a 3D overlay: ``a`` by A's pose, ``a_corrected`` by ``T_a_corrected``,
        ``b`` by B's pose."""

        def world(r, T):
            p = range_to_points(r[::stride, ::stride]).reshape(-1, 3).astype(np.float64)
            p = p[(r[::stride, ::stride] > 0).reshape(-1)]
            return p @ T[:3, :3].T + T[:3, 3]

        return {"a": world(self.range_a, self.T_a),
                "a_corrected": world(self.range_a, self.T_a_corrected),
                "b": world(self.range_b, self.T_b)}  # fmt: skip


def pair_residual(ds, scene: str, a: str, b: str, height: int = 128, th=None) -> PairResidual:
    """Re-compute one pair of an opened dataset (:func:`workbench.data.dataset.open_dataset`)
    as ``consistency`` does, with both fits run whatever the diagnosis.

    Raises:
        WorkbenchError: naming the scene when a view id is not in it.
    """
    by_id = {r.view_id: r for r in ds.scene(scene)}
    for v in (a, b):
        if v not in by_id:
            raise WorkbenchError(f"no view {v!r} in scene {scene!r}", ds.root)
    _, ranges, poses, left_out = _load_scene([by_id[a], by_id[b]], str(ds.root), height)
    if left_out:
        raise WorkbenchError(left_out[0][1])  # names the file that cannot be read
    if len(ranges) < 2:
        raise WorkbenchError(f"views {a} and {b} need depth", ds.root / scene)
    pa, pb = prepare_view(ranges[0], poses[0]), prepare_view(ranges[1], poses[1])
    th = th or Thresholds()
    row, d = diagnose_pair(pa, pb, th, always_fit=True)
    blob_b = d["blob"]["mask"] if d["blob"]["view"] == "b" else np.zeros_like(d["blob"]["mask"])
    blob_a = d["blob"]["mask"] if d["blob"]["view"] == "a" else np.zeros_like(d["blob"]["mask"])
    C = d["rigid"].C if d["rigid"] is not None else np.eye(4)
    scale = d["scale"].ratio if d["scale"] is not None else 1.0
    return PairResidual({"scene": scene, "view_a": a, "view_b": b, **row},
                        residual_image(d["ab"]), residual_image(d["ba"]), blob_a, blob_b,
                        C, scale, poses[0], poses[1], ranges[0], ranges[1])  # fmt: skip
