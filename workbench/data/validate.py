"""Dataset health check: every problem one row ``(scene, view, file, problem, detail)``.

Nothing stops at the first problem: each view is checked in full, in parallel threads (decoding
releases the GIL), with a progress bar. Problems found per view: missing or unreadable files,
truncated images, non-2:1 panoramas, RGB/depth aspect mismatch, wrong depth dtype, NaN or all
invalid depth, too many invalid pixels, implausible range, non-rigid or garbage poses; per scene:
duplicate view ids, a single view (unusable for two-view work), no views at all.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from workbench.data.dataset import DatasetSpec, describe_dataset, index_spec
from workbench.data.layouts import (
    DEPTH_EXTS,
    RGB_EXTS,
    ViewRecord,
    _scene_dirs,
    files_by_stem,
    find_datasets,
    load_view,
    read_depth,
)
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.equirect import resize_range, valid_mask
from workbench.geometry.mesh import mesh_agreement, read_obj, render_range
from workbench.geometry.pose import read_pose
from workbench.io import (
    check_image,
    check_output_file,
    load_npy,
    read_csv_text,
    read_image,
    write_text_atomic,
)

__all__ = ["Problem", "check_view", "validate_dataset", "problems_to_csv", "IMPLAUSIBLE_RANGE_M"]

IMPLAUSIBLE_RANGE_M = 100.0


@dataclass(frozen=True)
class Problem:
    scene_id: str
    view_id: str
    file: str
    problem: str
    detail: str


def _raw_nan_count(path: Path) -> int:
    """NaNs in a float depth file before the reader maps them to invalid."""
    ext = path.suffix.lower()
    if ext == ".npy":
        d = load_npy(path)
    elif ext == ".exr":
        d = read_image(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    else:
        return 0
    return int(np.isnan(d).sum()) if d.dtype.kind == "f" else 0


def _check_depth(
    rec: ViewRecord, root: Path, rgb_shape, max_invalid: float, add, density: dict | None = None
) -> None:
    """Depth problems of one view: missing, unreadable, NaN, size, invalid fraction, range."""
    depth = root / rec.depth_path
    if not depth.is_file():
        add(rec.depth_path, "missing file", "depth")
        return
    try:
        r = read_depth(depth, rec.depth_scale, rec.depth_invalid)
        nan = _raw_nan_count(depth)
        if nan:
            add(rec.depth_path, "NaN depth", f"{nan} NaN pixels")
        h, w = r.shape
        if w != 2 * h:
            add(rec.depth_path, "not 2:1", f"{w}x{h}")
        if rgb_shape and h < max(8, rgb_shape[0] // 16):
            add(
                rec.depth_path,
                "depth too small",
                f"depth {w}x{h} beside RGB {rgb_shape[1]}x{rgb_shape[0]}",
            )
        elif rgb_shape and (rgb_shape[1] * h != rgb_shape[0] * w):
            add(
                rec.depth_path,
                "size mismatch",
                f"depth {w}x{h} vs RGB {rgb_shape[1]}x{rgb_shape[0]} (not a resize)",
            )
        valid = valid_mask(r)
        frac_invalid = 1.0 - float(valid.mean())
        if density is not None:
            density[(rec.scene_id, rec.view_id)] = 1.0 - frac_invalid
        if not valid.any():
            add(rec.depth_path, "all invalid depth", "no valid pixel")
        elif frac_invalid > max_invalid:
            add(
                rec.depth_path,
                "too many invalid pixels",
                f"{frac_invalid:.1%} > {max_invalid:.0%}",
            )
        if valid.any() and float(r[valid].max()) > IMPLAUSIBLE_RANGE_M:
            add(
                rec.depth_path,
                "implausible range",
                f"max {float(r[valid].max()):.1f} m > {IMPLAUSIBLE_RANGE_M:.0f} m",
            )
    except WorkbenchError as e:
        problem = "wrong depth dtype" if "16-bit" in e.message else "unreadable depth"
        add(rec.depth_path, problem, e.message)
    except (OSError, ValueError) as e:
        add(rec.depth_path, "unreadable depth", str(e))


def check_view(
    rec: ViewRecord, root: Path, max_invalid: float = 0.5, density: dict | None = None
) -> list[Problem]:
    """All problems of one view (an empty list when healthy)."""
    out: list[Problem] = []

    def add(file, problem, detail=""):
        out.append(Problem(rec.scene_id, rec.view_id, file, problem, detail))

    rgb_shape = None
    rgb = root / rec.rgb_path
    if not rgb.is_file():
        add(rec.rgb_path, "missing file", "RGB panorama")
    else:
        try:
            rgb_shape, dtype = check_image(rgb)
            if dtype != np.uint8:
                add(rec.rgb_path, "wrong dtype", f"RGB is {dtype}, expected uint8")
            if rgb_shape[1] != 2 * rgb_shape[0]:
                add(rec.rgb_path, "not 2:1", f"{rgb_shape[1]}x{rgb_shape[0]}")
        except WorkbenchError as e:
            add(rec.rgb_path, "unreadable image", e.message)
    _check_depth(rec, root, rgb_shape, max_invalid, add, density)
    if rec.pose_path:
        try:
            read_pose(root / rec.pose_path)
        except WorkbenchError as e:
            kind = (
                "non-rigid pose"
                if any(k in e.message for k in ("orthonormal", "det", "last row"))
                else "bad pose"
            )
            add(rec.pose_path, kind, e.message)
    elif rec.layout in ("seed", "realsee3d"):
        add("", "missing file", "pose")
    _check_mask(rec, root, add)
    _check_other_resolution(rec, root, add)
    return out


def _check_mask(rec: ViewRecord, root: Path, add) -> None:
    if not rec.mask_path:
        return
    if not (root / rec.mask_path).is_file():
        add(rec.mask_path, "missing file", "mask")
        return
    try:
        m = read_image(root / rec.mask_path, cv2.IMREAD_UNCHANGED)
    except WorkbenchError as e:
        add(rec.mask_path, "unreadable image", e.message)
        return
    if m.ndim != 2 or m.shape[1] != 2 * m.shape[0]:
        add(rec.mask_path, "bad mask", f"expected a 2:1 single-channel image, got {m.shape}")


def _panoramas_in(folder: Path) -> dict[str, Path]:
    """:func:`files_by_stem` of a panorama folder, listed once while it is unchanged (every
    view of a scene asks for the same folder)."""
    return _panoramas_listed(str(folder), folder.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _panoramas_listed(folder: str, mtime_ns: int) -> dict[str, Path]:
    return files_by_stem(Path(folder), RGB_EXTS)


def _check_other_resolution(rec: ViewRecord, root: Path, add) -> None:
    """Seed layout: the view's panorama in the other of ``pan/high`` and ``pan/low`` (when that
    folder exists) must decode as well."""
    parts = Path(rec.rgb_path).parts
    if rec.layout != "seed" or len(parts) < 3 or parts[-3] != "pan":
        return
    other = "high" if parts[-2] == "low" else "low"
    folder = root.joinpath(*parts[:-2], other)
    if not folder.is_dir():
        return
    found = _panoramas_in(folder).get(Path(parts[-1]).stem)
    if found is None:
        add(Path(*parts[:-2], other).as_posix(), "missing file", f"pan/{other} has no {parts[-1]}")
        return
    rel = found.relative_to(root).as_posix()
    try:
        (h, w), _ = check_image(root / rel)
        if w != 2 * h:
            add(rel, "not 2:1", f"{w}x{h}")
    except WorkbenchError as e:
        add(rel, "unreadable image", e.message)


def _scene_problems(root: Path, layout: str, records: list[ViewRecord]) -> list[Problem]:
    out = []
    per_scene = Counter(r.scene_id for r in records)
    for scene, n in sorted(per_scene.items()):
        if n == 1:
            out.append(Problem(scene, "", "", "single view", "unusable for two-view work"))
    if layout in ("seed", "realsee3d"):
        for d in _scene_dirs(root):
            if d.name not in per_scene and not (layout == "realsee3d" and d.name == "metadata"):
                out.append(Problem(d.name, "", d.name, "empty scene", "no views found"))
    # duplicate view ids: two files with the same stem in one image folder
    folders = {(r.scene_id, str(Path(r.rgb_path).parent)) for r in records}
    folders |= {(r.scene_id, str(Path(r.depth_path).parent)) for r in records}
    for scene, folder in sorted(folders):
        f = root / folder
        if not f.is_dir():
            continue
        stems = Counter(p.stem for p in f.iterdir() if p.suffix.lower() in RGB_EXTS + DEPTH_EXTS)
        for stem, n in sorted(stems.items()):
            if n > 1:
                out.append(
                    Problem(scene, stem, folder, "duplicate view id", f"{n} files named {stem}.*")
                )
    return out


def validate_dataset(
    root: str | os.PathLike,
    layout: str | None = None,
    max_invalid: float = 0.5,
    workers: int = 2,
    progress: bool = True,
    spec: DatasetSpec | None = None,
    mesh: bool = False,
    density: dict | None = None,
    scheduler: str = "",
) -> tuple[list[ViewRecord], list[Problem]]:
    """Index and check a dataset; returns ``(records, problems)``.

    Args:
        spec: how to read it (default: detected, :func:`describe_dataset`).
        max_invalid: largest acceptable invalid fraction of a dense depth map; RealSee3D's real
            LiDAR depth is sparse by design (about 30 % valid), so there the fraction is a
            statistic of the report, not a problem.
        mesh: also check each seed view's depth against its scene mesh (``obj/*.obj``,
            ray cast at 64 x 128): fewer than :data:`MESH_AGREEMENT` of the pixels within
            5 % is a problem.
        workers, scheduler: where views are checked (:func:`workbench.engine.run_tasks`:
            ``workers`` threads here by default, or a Dask cluster at ``scheduler``).
        density: filled with each view's fraction of valid depth pixels, by
            ``(scene_id, view_id)`` (a statistic of the report: sparse LiDAR is not a problem).

    Raises:
        WorkbenchError: only when the root is unusable (missing, unknown layout).
    """
    spec = spec or describe_dataset(root, layout=layout or "")
    root = Path(spec.root)
    errors: list[WorkbenchError] = []
    records = index_spec(spec, errors=errors)
    limit = 1.0 if spec.layout == "realsee3d" else max_invalid
    tasks = [(r, str(root), limit) for r in records]
    engine = (workers, scheduler, "validate", progress, "threads")
    results = run_tasks(_check_view_task, tasks, *engine)
    per_view = []
    for (rec, _, _), result in results:
        if isinstance(result, Exception):  # the engine lost the task (a worker died)
            result = ([_unreadable(rec, result)], None)
        per_view.append(result[0])
        if density is not None and result[1] is not None:
            density[(rec.scene_id, rec.view_id)] = result[1]
    unreadable = [_index_problem(e, root) for e in errors]
    broken = {p.scene_id for p in unreadable}
    scene_level = [
        p
        for p in _scene_problems(root, spec.layout, records)
        if not (p.problem == "empty scene" and p.scene_id in broken)
    ]
    problems = [p for ps in per_view for p in ps] + scene_level + unreadable
    if mesh:
        problems += _mesh_problems(root, records)
    return records, problems


MESH_AGREEMENT = 0.9


def _mesh_problems(root: Path, records: list[ViewRecord]) -> list[Problem]:
    """Depth against the scene mesh, per view (seed layout ``obj/``); a scene without a mesh is
    skipped."""
    out = []
    for scene in dict.fromkeys(r.scene_id for r in records):
        objs = sorted((root / scene / "obj").glob("*.obj"))
        if not objs:
            continue
        try:
            verts, tris = read_obj(objs[0])
        except WorkbenchError as e:
            out.append(
                Problem(scene, "", objs[0].relative_to(root).as_posix(), "bad mesh", e.message)
            )
            continue
        for rec in (r for r in records if r.scene_id == scene and r.pose_path):
            try:
                view = load_view(rec, root)
            except WorkbenchError:
                continue  # already a problem of the view
            small = resize_range(view.range_m, 64)
            agree = mesh_agreement(small, render_range(verts, tris, view.T_world_from_cam, 64))
            if not agree >= MESH_AGREEMENT:
                out.append(
                    Problem(
                        rec.scene_id,
                        rec.view_id,
                        rec.depth_path,
                        "depth disagrees with mesh",
                        f"{agree:.0%} of pixels within 5 % of obj/ (< {MESH_AGREEMENT:.0%})",
                    )
                )
    return out


def _unreadable(rec: ViewRecord, e: Exception) -> Problem:
    return Problem(rec.scene_id, rec.view_id, rec.rgb_path, "unreadable view", str(e)[:200])


def _check_view_task(task: tuple) -> tuple[list[Problem], float | None]:
    """One engine task: ``(record, root, max_invalid)`` → the view's problems (anything
    unexpected reported as a problem of that view) and its fraction of valid depth."""
    rec, root, max_invalid = task
    density: dict = {}
    try:
        problems = check_view(rec, Path(root), max_invalid, density)
    except Exception as e:  # noqa: BLE001  (one broken view never stops the check)
        problems = [_unreadable(rec, e)]
    return problems, density.get((rec.scene_id, rec.view_id))


def _index_problem(e: WorkbenchError, root: Path) -> Problem:
    path = Path(e.path) if e.path else root
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        rel = path
    scene = rel.parts[0] if rel.parts else ""
    return Problem(scene, "", rel.as_posix(), "unreadable scene", e.message)


def problems_to_csv(groups: dict[str, list[Problem]]) -> str:
    """The health report: one row per problem, ``dataset`` naming the dataset of a folder that
    holds several (``""`` for a single dataset)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scene", "view", "file", "problem", "detail", "dataset"])
    for name, problems in groups.items():
        for p in problems:
            w.writerow([p.scene_id, p.view_id, p.file, p.problem, p.detail, name])
    return buf.getvalue()


def write_report(problems: list[Problem] | dict[str, list[Problem]], path) -> Path:
    """Write :func:`problems_to_csv` (a plain list is one unnamed dataset) atomically."""
    groups = problems if isinstance(problems, dict) else {"": problems}
    return write_text_atomic(path, problems_to_csv(groups))


def read_report_exclusions(path: str | os.PathLike) -> set[tuple[str, str]]:
    """``(scene, view)`` pairs named in a health report (whole scenes as ``(scene, "")``)."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError("health report not found", path)
    rows = list(csv.DictReader(io.StringIO(read_csv_text(path))))
    if rows and not {"scene", "view"} <= set(rows[0]):
        raise WorkbenchError("report must have 'scene' and 'view' columns", path)
    return {(r["scene"], r["view"]) for r in rows}


def run(config) -> int:
    """CLI entry: ``workbench validate``. A folder holding several datasets is validated
    dataset by dataset (the summary and the report's ``dataset`` column group them)."""
    if config.report:
        check_output_file(config.report)
    datasets = [(config.root, config.layout)] if config.layout else find_datasets(config.root)
    rows, n_views, n_scenes, all_problems = [], 0, 0, []
    for path, layout in datasets:
        spec = describe_dataset(path, config, layout=layout)
        desc = f"{spec.layout}, {spec.encoding}"
        density: dict = {}
        records, problems = validate_dataset(
            path,
            layout,
            config.max_invalid,
            config.workers,
            spec=spec,
            mesh=config.mesh,
            density=density,
            scheduler=config.scheduler,
        )
        if density:
            d = np.array(list(density.values()))
            desc += f"; valid depth {np.median(d):.0%} of pixels (min {d.min():.0%})"
        name = Path(path).name if len(datasets) > 1 else ""
        n_views += len(records)
        n_scenes += len({r.scene_id for r in records})
        all_problems += problems
        rows.append((name, desc, records, problems))
    if config.report:
        write_report({name: problems for name, _, _, problems in rows}, config.report)
    print(f"validate: {n_views} views, {n_scenes} scenes, {len(all_problems)} problems")
    for name, desc, records, problems in rows:
        indent = "  "
        if len(rows) > 1:
            print(f"  {name}/ ({desc}): {len(records)} views, {len(problems)} problems")
            indent = "    "
        else:
            print(f"  ({desc})")
        for problem, n in sorted(Counter(p.problem for p in problems).items()):
            print(f"{indent}{problem}: {n}")
    return 1 if all_problems else 0
