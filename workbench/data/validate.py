"""Dataset health check: every problem one row ``(scene, view, file, problem, detail)``.

Nothing stops at the first problem: each view is checked in full, in parallel threads (decoding
releases the GIL), with a progress bar, and a view or scene that cannot be checked is a problem
of its own while the others go on. Problems found per view: missing or unreadable files,
truncated images, non-2:1 panoramas (exactly 2:1, as every reader needs), panoramas or depth
smaller than :data:`MIN_PANORAMA`, RGB/depth sizes that disagree (another aspect, or depth more
than :data:`MAX_DEPTH_OVER_RGB` times the RGB's height or under 1/16 of it), wrong depth dtype,
NaN or all invalid depth (after the dataset's mask, as :func:`~workbench.data.layouts.load_view`
applies it), too many invalid pixels, implausible range, non-rigid or garbage poses, poses with
a camera farther than :data:`MAX_POSE_TRANSLATION_M` from the origin (millimetres?), a mask
without a 255 (valid) pixel, RealSee3D's missing viewpoint folder, ``depth_scale.txt`` (exactly
one number of PNG units per metre in
:data:`~workbench.data.layouts.DEPTH_SCALE_RANGE`) and bad ``floor.txt``; per scene: duplicate
view ids (files with one stem, or an id listed twice), no views at all, orphan files (depth
or pose without the view's RGB panorama), RealSee3D viewpoint folders missing from
``viewpoints.txt`` and a ``covisibility.txt`` that is not N x N numbers in [0, 1] for the
scene's N viewpoints (a scene of one view is a note, not a problem); per dataset, or per
scene when only some are: an implausible depth scale (:mod:`workbench.data.plausibility`). A
dataset with no view at all is unusable (an error).
Pose-only datasets (``rgb/`` + ``pose/``, no ``depth/``) have their panoramas and poses checked.
A packed dataset (``workbench pack``) is checked as a pack (:func:`workbench.data.pack.check_pack`:
manifest counts, shard sizes and SHA-256, every index row's record), and each view decoded from
its record.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from workbench.data.dataset import (
    DatasetSpec,
    depth_decoding,
    describe_dataset,
    index_spec,
    no_views_error,
)
from workbench.data.layouts import (
    DEPTH_EXTS,
    MAX_DEPTH_OVER_RGB,
    RGB_EXTS,
    RgbdFolderLayout,
    ViewRecord,
    _realsee_floor,
    _realsee_scale,
    _scene_dirs,
    depth_beside_rgb,
    files_by_stem,
    find_datasets,
    load_view,
    pose_file_of,
    read_depth,
    read_mask,
    read_record_pose,
    realsee_folders,
    realsee_listed,
)
from workbench.data.pack import check_pack
from workbench.data.plausibility import check_plausibility
from workbench.data.records import scene_count
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence import read_covisibility
from workbench.geometry.equirect import resize_range, valid_mask
from workbench.geometry.mesh import mesh_agreement, read_obj, render_range
from workbench.io import (
    check_image,
    check_output_file,
    check_outside,
    check_replaceable,
    load_npy,
    read_csv_text,
    read_image,
    read_rgb,
    write_text_atomic,
)
from workbench.paths import OUTPUTS, REPO

__all__ = [
    "Problem",
    "check_view",
    "validate_dataset",
    "problems_to_csv",
    "default_report_path",
    "IMPLAUSIBLE_RANGE_M",
    "MIN_PANORAMA",
    "MAX_DEPTH_OVER_RGB",
    "MAX_POSE_TRANSLATION_M",
    "pose_units_problem",
    "check_pose_units",
    "check_range_units",
    "SHOWN_PROBLEMS",
]

IMPLAUSIBLE_RANGE_M = 100.0
MIN_PANORAMA = (32, 64)  # (H, W): the smallest panorama or depth map worth training on
# a camera farther from its scene's origin is not in a room (indoor scenes are tens of metres;
# a pose in millimetres puts it kilometres away)
MAX_POSE_TRANSLATION_M = 200.0
SHOWN_PROBLEMS = 20  # problems printed in the summary (the report has them all)
MASK_NO_VALID = "mask has no 255 (valid) pixel — a 0/1 mask?"


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
    rec: ViewRecord,
    root: Path,
    rgb_shape,
    max_invalid: float,
    add,
    density: dict | None = None,
    mask: Path | None = None,
) -> None:
    """Depth problems of one view: missing, unreadable, NaN, size, invalid fraction, range.

    The valid fraction is measured as :func:`load_view` reads the view: after ``mask`` (a
    checked mask image, 255 = valid) is applied."""
    depth = root / rec.depth_path
    if not depth.is_file():
        add(rec.depth_path, "missing file", "depth")
        return
    try:
        r = read_depth(depth, rec.depth_scale, rec.depth_invalid)
        nan = _raw_nan_count(depth)
        if nan:
            add(rec.depth_path, "NaN depth", f"{nan} NaN pixels")
        _check_depth_size(rec, r.shape, rgb_shape, add)
        if mask is not None:
            r[~read_mask(mask, r.shape)] = 0
        _check_valid_depth(rec, r, max_invalid, add, density)
    except WorkbenchError as e:
        problem = "wrong depth dtype" if "16-bit" in e.message else "unreadable depth"
        add(rec.depth_path, problem, e.message)
    except (OSError, ValueError) as e:
        add(rec.depth_path, "unreadable depth", str(e))


def _check_depth_size(rec: ViewRecord, shape, rgb_shape, add) -> None:
    """The depth map's size alone (2:1, at least :data:`MIN_PANORAMA`) and beside the RGB's
    (the same aspect, between 1/16 and :data:`MAX_DEPTH_OVER_RGB` times its height)."""
    h, w = shape
    if w != 2 * h:
        add(rec.depth_path, "not 2:1", f"{w}x{h}")
    if h < MIN_PANORAMA[0] or w < MIN_PANORAMA[1]:
        least = f"{MIN_PANORAMA[1]}x{MIN_PANORAMA[0]}"
        add(rec.depth_path, "depth too small", f"{w}x{h} (at least {least})")
        return
    if not rgb_shape:
        return
    problem = depth_beside_rgb(shape, rgb_shape)
    if problem:
        kind, detail = problem.split(": ", 1)
        add(rec.depth_path, kind, detail)


def _check_valid_depth(rec: ViewRecord, r, max_invalid: float, add, density) -> None:
    """Invalid fraction and largest range of a decoded (masked) range map ``r`` (metres)."""
    valid = valid_mask(r)
    frac_invalid = 1.0 - float(valid.mean())
    if density is not None:
        density[(rec.scene_id, rec.view_id)] = 1.0 - frac_invalid
    if not valid.any():
        add(rec.depth_path, "all invalid depth", "no valid pixel")
    elif frac_invalid > max_invalid:
        add(rec.depth_path, "too many invalid pixels", f"{frac_invalid:.1%} > {max_invalid:.0%}")
    if valid.any() and float(r[valid].max()) > IMPLAUSIBLE_RANGE_M:
        add(
            rec.depth_path,
            "implausible range",
            f"max {float(r[valid].max()):.1f} m > {IMPLAUSIBLE_RANGE_M:.0f} m",
        )


def check_view(
    rec: ViewRecord, root: Path, max_invalid: float = 0.5, density: dict | None = None
) -> list[Problem]:
    """All problems of one view (an empty list when healthy)."""
    out: list[Problem] = []

    def add(file, problem, detail=""):
        out.append(Problem(rec.scene_id, rec.view_id, file, problem, detail))

    if rec.layout == "shards":
        _check_packed_view(rec, root, max_invalid, add, density)
        return out
    decodable = True
    if rec.layout == "realsee3d":
        decodable = _check_realsee_folder(rec, root, add)
        if decodable is None:  # the whole viewpoint folder is missing: nothing else to check
            return out
    rgb_shape = None
    rgb = root / rec.rgb_path
    if not rgb.is_file():
        add(rec.rgb_path, "missing file", "RGB panorama")
    else:
        try:
            rgb_shape, dtype = check_image(rgb)
            if dtype != np.uint8:  # 16-bit colour is read (scaled to 8 bits); nothing else
                _check_rgb_dtype(rec.rgb_path, rgb, add)
            _check_panorama_size(rec.rgb_path, rgb_shape, add)
        except WorkbenchError as e:
            add(rec.rgb_path, "unreadable image", e.message)
    mask = _check_mask(rec, root, add)
    if not rec.has_depth:
        pass  # a pose-only dataset: no depth to check (a note of the summary, not a problem)
    elif decodable:
        _check_depth(rec, root, rgb_shape, max_invalid, add, density, mask)
    elif not (root / rec.depth_path).is_file():
        add(rec.depth_path, "missing file", "depth")
    _check_pose(rec, root, add)
    _check_other_resolution(rec, root, add)
    return out


def _check_packed_view(rec: ViewRecord, root: Path, max_invalid: float, add, density) -> None:
    """A view of a pack, decoded from its record (as training reads it): the decoded panorama,
    depth and pose. A missing shard is the pack's problem (:func:`check_pack`), not each
    view's."""
    if not (root / rec.rgb_path).is_file():
        return
    try:
        view = load_view(rec, root)
    except WorkbenchError as e:
        add(rec.rgb_path, "unreadable record", e.message)
        return
    _check_panorama_size(rec.rgb_path, view.rgb.shape, add)
    _check_valid_depth(rec, view.range_m, max_invalid, add, density)
    if view.T_world_from_cam is not None:
        _check_pose_units(rec.rgb_path, view.T_world_from_cam, add)


def _check_panorama_size(file: str, shape, add) -> None:
    """An RGB panorama is exactly 2:1 (every reader needs it) and at least
    :data:`MIN_PANORAMA`."""
    h, w = shape[:2]
    if w != 2 * h:
        add(file, "not 2:1", f"{w}x{h}")
    if h < MIN_PANORAMA[0] or w < MIN_PANORAMA[1]:
        add(file, "panorama too small", f"{w}x{h} (at least {MIN_PANORAMA[1]}x{MIN_PANORAMA[0]})")


def pose_units_problem(T: np.ndarray) -> str:
    """Why the ``(4, 4)`` pose ``T`` cannot be a camera of an indoor scene in metres (farther
    than :data:`MAX_POSE_TRANSLATION_M` from the origin), else ``""``.

    >>> pose_units_problem(np.eye(4))
    ''
    >>> T = np.eye(4); T[:3, 3] = [1500, 20, 300]
    >>> pose_units_problem(T)[:48]
    'camera 1530 m from the origin (> 200 m for an in'
    """
    t = float(np.linalg.norm(T[:3, 3]))
    if t <= MAX_POSE_TRANSLATION_M:
        return ""
    return (
        f"camera {t:.4g} m from the origin (> {MAX_POSE_TRANSLATION_M:.0f} m for an indoor"
        f" scene): translation in millimetres? (expected metres: {t / 1000:.3g} m)"
    )


def check_pose_units(T: np.ndarray, pose_file: str | os.PathLike) -> None:
    """Refuse the pose ``T`` read from ``pose_file`` when :func:`pose_units_problem` finds one
    (the jobs that place views by their poses leave such a view out).

    Raises:
        WorkbenchError: naming ``pose_file`` and the problem.
    """
    problem = pose_units_problem(T)
    if problem:
        raise WorkbenchError(problem, pose_file)


def check_range_units(range_m: np.ndarray, depth_file: str | os.PathLike) -> None:
    """Refuse a view whose ``(H, W)`` range (metres, 0 = invalid) has a median beyond
    :data:`IMPLAUSIBLE_RANGE_M`: depth in other units (a millimetre ``.npy`` among metre views
    was fused 1.5 km out); the jobs that place views together leave such a view out.

    >>> check_range_units(np.full((2, 4), 2.5, np.float32), "d.npy")

    Raises:
        WorkbenchError: naming ``depth_file`` and the median.
    """
    valid = range_m[np.isfinite(range_m) & (range_m > 0)]
    # a count, not a sort, on every view of a folder-wide job (11 ms -> 1 ms at 1600x800): the
    # median can exceed the bound only when at least half the valid ranges do
    if 2 * int((valid > IMPLAUSIBLE_RANGE_M).sum()) < valid.size or not valid.size:
        return
    med = float(np.median(valid))
    if med > IMPLAUSIBLE_RANGE_M:
        raise WorkbenchError(
            f"median range {med:.4g} m as read (> {IMPLAUSIBLE_RANGE_M:.0f} m for an indoor "
            "scene): depth in millimetres or another unit than it is read in (its encoding, "
            "--depth-scale)?",
            depth_file,
        )


def _check_pose_units(file: str, T: np.ndarray, add) -> None:
    """A camera of an indoor scene within :data:`MAX_POSE_TRANSLATION_M` of the origin (the
    rotation is checked orthonormal with det +1 by :func:`~workbench.geometry.pose.check_rigid`
    when the pose is read)."""
    problem = pose_units_problem(T)
    if problem:
        add(file, "implausible pose", problem)


def _check_rgb_dtype(rel: str, path: Path, add) -> None:
    """A panorama that is not 8-bit: a problem unless :func:`~workbench.io.read_rgb` reads it
    (16-bit colour)."""
    try:
        read_rgb(path)
    except WorkbenchError as e:
        add(rel, "wrong dtype", e.message)


def _check_pose(rec: ViewRecord, root: Path, add) -> None:
    """A present pose must be a rigid 4x4 in metres; seed, RealSee3D and pose-only views need
    one."""
    if rec.pose_path:
        try:
            _check_pose_units(rec.pose_path, read_record_pose(rec, root), add)
        except WorkbenchError as e:
            kind = (
                "non-rigid pose"
                if any(k in e.message for k in ("orthonormal", "det", "last row"))
                else "bad pose"
            )
            add(rec.pose_path, kind, e.message)
    elif rec.layout == "zind":  # its floor's scale_meters_per_coordinate is null
        add("", "no pose", f"{rec.floor} has no scale_meters_per_coordinate (no metres)")
    elif rec.layout in ("seed", "realsee3d") or not rec.has_depth:
        add(
            pose_file_of(rec.layout, rec.rgb_path).as_posix(),
            "missing file",
            "pose (4x4 T_world_from_cam)",
        )


def _check_realsee_folder(rec: ViewRecord, root: Path, add) -> bool | None:
    """A RealSee3D view's folder: ``None`` when the folder listed in ``viewpoints.txt`` is
    missing, ``False`` when its depth cannot be decoded (``depth_scale.txt`` missing or bad, and
    no ``--depth-scale`` overrides it), else ``True``; a bad ``floor.txt`` is named too."""
    folder = Path(rec.rgb_path).parent
    d = root / folder
    if not d.is_dir():
        add(folder.as_posix(), "missing viewpoint folder", "listed in viewpoints.txt, no folder")
        return None
    ok = True
    try:
        if not rec.depth_scale > 0:  # positive: read from depth_scale.txt, or --depth-scale
            _realsee_scale(d)
    except WorkbenchError as e:
        problem = "missing file" if "missing" in e.message else "bad depth scale"
        add(_relative(e.path or d, root), problem, e.message)
        ok = False
    try:
        _realsee_floor(d)
    except WorkbenchError as e:
        add(_relative(e.path or d, root), "bad floor.txt", e.message)
    return ok


def _relative(path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _check_mask(rec: ViewRecord, root: Path, add) -> Path | None:
    """Problems of the view's mask (RealSee3D ``pano_mask.png``, 255 = valid); returns its path
    when depth should be masked by it (as :func:`load_view` does), else ``None``."""
    if not rec.mask_path:
        return None
    if not (root / rec.mask_path).is_file():
        add(rec.mask_path, "missing file", "mask")
        return None
    try:
        m = read_image(root / rec.mask_path, cv2.IMREAD_UNCHANGED)
    except WorkbenchError as e:
        add(rec.mask_path, "unreadable image", e.message)
        return None
    if m.ndim != 2 or m.shape[1] != 2 * m.shape[0]:
        add(rec.mask_path, "bad mask", f"expected a 2:1 single-channel image, got {m.shape}")
    elif not (m == 255).any():
        add(rec.mask_path, "bad mask", f"{MASK_NO_VALID} (largest value {int(m.max())})")
    return root / rec.mask_path


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
    """Problems of whole scenes: empty scenes, duplicate view ids, orphan files,
    RealSee3D viewpoint folders missing from ``viewpoints.txt``."""
    out = []
    per_scene = Counter(r.scene_id for r in records)
    if layout in ("seed", "realsee3d"):
        for d in _scene_dirs(root):
            if d.name not in per_scene and not (layout == "realsee3d" and d.name == "metadata"):
                out.append(Problem(d.name, "", "", "empty scene", "no views found"))
    out += _duplicate_ids(root, records) + _duplicate_records(root, records)
    if layout == "rgbd-folder":
        out += _rgbd_scene_problems(root, records)
    elif layout == "seed":
        for d in (d for d in _scene_dirs(root) if (d / "pan").is_dir()):
            views = {r.view_id for r in records if r.scene_id == d.name}
            out += _orphans(root, d.name, d, "pose", (".txt",), views)
    elif layout == "realsee3d":
        out += _unlisted_viewpoints(root) + _covisibility_problems(root)
    return out


def _duplicate_records(root: Path, records: list[ViewRecord]) -> list[Problem]:
    """One view id given to several views of a scene (RealSee3D's ``viewpoints.txt`` listing
    an id twice, a pack's ``index.csv`` holding a row twice)."""
    out = []
    ids = Counter((r.scene_id, r.view_id) for r in records)
    for (scene, view), n in sorted(ids.items()):
        if n < 2:
            continue
        rec = next(r for r in records if (r.scene_id, r.view_id) == (scene, view))
        if rec.layout == "realsee3d":
            file = f"{scene}/viewpoints.txt"
        else:
            file = "index.csv" if rec.layout == "shards" else rec.rgb_path
        out.append(Problem(scene, view, file, "duplicate view id", f"{n} views with id {view}"))
    return out


def _covisibility_problems(root: Path) -> list[Problem]:
    """Each RealSee3D scene's ``covisibility.txt``: N x N numbers in [0, 1] for the scene's N
    viewpoints (rows in ``viewpoints.txt`` order)."""
    out = []
    for d in _scene_dirs(root):
        path = d / "covisibility.txt"
        if not (d / "viewpoints").is_dir() or not path.is_file():
            continue
        file = _relative(path, root)
        try:  # rows follow viewpoints.txt (an unlisted folder is a problem of its own)
            listed = realsee_listed(d)
            n = len(realsee_folders(d) if listed is None else listed)
        except WorkbenchError:  # an unusable viewpoints.txt: its scene's index error names it
            continue
        try:
            m = read_covisibility(path, n)
        except WorkbenchError as e:
            out.append(Problem(d.name, "", file, "bad covisibility.txt", e.message))
            continue
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(m) & (m >= 0) & (m <= 1))
        if bad.any():
            i, j = (int(x) for x in np.argwhere(bad)[0])
            detail = f"{int(bad.sum())} entries outside [0, 1] (row {i + 1}: {m[i, j]:g})"
            out.append(Problem(d.name, "", file, "bad covisibility.txt", detail))
    return out


def _duplicate_ids(root: Path, records: list[ViewRecord]) -> list[Problem]:
    """Two files with the same stem in one image folder."""
    out = []
    folders = {(r.scene_id, str(Path(r.rgb_path).parent)) for r in records}
    folders |= {(r.scene_id, str(Path(r.depth_path).parent)) for r in records if r.has_depth}
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


def _rgbd_scene_problems(root: Path, records: list[ViewRecord]) -> list[Problem]:
    """rgbd-folder scenes: no panorama in ``rgb/``, orphan depth and pose files, a scene
    without ``depth/`` in a dataset whose other scenes have depth, and a view without the pose
    the scene's other views have (poses are optional, but not for one view in a posed scene)."""
    out = []
    any_depth = any(r.has_depth for r in records)
    for name, d in RgbdFolderLayout.scenes(root):
        mine = [r for r in records if r.scene_id == name]
        prefix = "" if d == root else f"{d.name}/"
        if not mine:
            out.append(Problem(name, "", f"{prefix}rgb", "empty scene", "rgb/ holds no panorama"))
        elif any_depth and not any(r.has_depth for r in mine):
            detail = "rgb/ and pose/ but no depth/ folder (other scenes have depth)"
            out.append(Problem(name, "", f"{prefix}depth", "missing folder", detail))
        if any(r.pose_path for r in mine):
            out += [
                Problem(name, r.view_id, pose_file_of(r.layout, r.rgb_path).as_posix(),
                        "missing file", "pose (the scene's other views have one)")
                for r in mine if not r.pose_path
            ]  # fmt: skip
        views = {r.view_id for r in mine}
        out += _orphans(root, name, d, "depth", DEPTH_EXTS, views)
        out += _orphans(root, name, d, "pose", (".txt",), views)
    return out


def _orphans(root: Path, scene: str, d: Path, sub: str, exts, views: set) -> list[Problem]:
    """Files of ``d/sub`` whose view has no RGB panorama (not among the scene's ``views``)."""
    return [
        Problem(scene, stem, _relative(p, root), "orphan file",
                f"{sub} file with no RGB panorama of view {stem}")
        for stem, p in sorted(files_by_stem(d / sub, exts).items())
        if stem not in views
    ]  # fmt: skip


def _unlisted_viewpoints(root: Path) -> list[Problem]:
    """RealSee3D viewpoint folders that a scene's ``viewpoints.txt`` does not list (views and
    ``covisibility.txt`` rows follow its order), and a missing ``viewpoints.txt`` beside a
    ``covisibility.txt``."""
    out = []
    for d in _scene_dirs(root):
        if not (d / "viewpoints").is_dir():
            continue
        try:
            listed = realsee_listed(d)
        except WorkbenchError:  # an unusable viewpoints.txt: its scene's index error names it
            continue
        if listed is None and (d / "covisibility.txt").is_file():
            out.append(
                Problem(d.name, "", _relative(d / "viewpoints.txt", root), "missing file",
                        "the viewpoint registry: without it covisibility.txt's rows are taken "
                        "in sorted folder order")
            )  # fmt: skip
        for name in [] if listed is None else realsee_folders(d):
            if name not in listed:
                out.append(
                    Problem(d.name, name, _relative(d / "viewpoints" / name, root),
                            "unlisted viewpoint",
                            "folder not listed in viewpoints.txt (views and covisibility.txt"
                            " rows follow its order)")
                )  # fmt: skip
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
    plausibility: bool = True,
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
        density: filled with each view's fraction of valid depth pixels (after the mask), by
            ``(scene_id, view_id)`` (a statistic of the report: sparse LiDAR is not a problem).
        plausibility: also judge the depth scale from a sample of views per scene
            (:func:`~workbench.data.plausibility.check_plausibility`): when every scene is
            implausible, one dataset-level problem (scene and view ``""``) naming the likely
            ``--encoding``; else one problem per implausible scene (its scene id filled, naming
            its camera height and the scale that would be plausible).

    Raises:
        WorkbenchError: only when the dataset is unusable (missing, unknown layout, no views).
    """
    spec = spec or describe_dataset(root, layout=layout or "")
    root = Path(spec.root)
    errors: list[WorkbenchError] = []
    records = index_spec(spec, errors=errors)
    if not records:
        raise no_views_error(spec, errors)
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
    try:
        scene_level = [
            p
            for p in _scene_problems(root, spec.layout, records)
            if not (p.problem == "empty scene" and p.scene_id in broken)
        ]
    except (WorkbenchError, OSError, ValueError) as e:  # the views' problems are still reported
        scene_level = [Problem("", "", "", "scene checks failed", str(e)[:300])]
    if spec.layout == "shards":
        scene_level += [Problem("", "", f, problem, d) for f, problem, d in check_pack(root, False)]
    problems = [p for ps in per_view for p in ps] + scene_level + unreadable
    if mesh:
        problems += _mesh_problems(root, records)
    if plausibility:
        for scene_id, message in check_plausibility(spec, records).problems():
            problems.append(Problem(scene_id, "", "", "implausible depth scale", message))
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
    w.writerow(REPORT_HEADER.split(","))
    for name, problems in groups.items():
        for p in problems:
            w.writerow([p.scene_id, p.view_id, p.file, p.problem, p.detail, name])
    return buf.getvalue()


REPORT_HEADER = "scene,view,file,problem,detail,dataset"  # the health report's first line


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


def default_report_path(root: str | os.PathLike, cwd: str | os.PathLike | None = None) -> Path:
    """Where ``validate`` writes its report when ``--report`` is not given:
    ``validate-<dataset folder name>.csv`` in the current folder; in the repository's
    ``outputs/`` when the current folder is inside this repository (its checkout stays clean),
    and in the system's temporary folder when it is inside the dataset (never among its data)."""
    root = Path(root).resolve()
    here = Path(cwd or os.getcwd()).resolve()
    name = f"validate-{root.name or 'root'}.csv"
    if here.is_relative_to(REPO) and not OUTPUTS.resolve().is_relative_to(root):
        return OUTPUTS / name
    if here.is_relative_to(root):
        return Path(tempfile.gettempdir()) / name
    return here / name


def _report_path(config) -> Path:
    """``--report``, or :func:`default_report_path` (the temporary folder when that cannot be
    written), checked before any work."""
    if config.report:
        check_replaceable(config.report, "--report", "a health report",
                          lambda b: b.startswith(REPORT_HEADER.encode()))  # fmt: skip
        return check_output_file(config.report)
    path = default_report_path(config.root)
    try:
        return check_output_file(path)
    except WorkbenchError:
        return check_output_file(Path(tempfile.gettempdir()) / path.name)


def _validate_one(path: Path, layout: str, config, several: bool):
    """One dataset of ``run``: ``(name, description, records, problems, notes)``."""
    spec = describe_dataset(path, config, layout=layout)
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
        progress=config.progress,
    )
    has_depth = any(r.has_depth for r in records)
    desc = f"{spec.layout}, {depth_decoding(spec, records) if has_depth else 'no depth'}"
    if density:
        d = np.array(list(density.values()))
        desc += f"; valid depth: median view {np.median(d):.0%} of pixels (min {d.min():.0%})"
    notes = _single_view_note(records)
    if not has_depth:
        zind = records[0].layout == "zind"
        what = "ZInD panoramas and zind_data.json" if zind else "rgb/ and pose/, no depth/ folder"
        notes.append(f"depth: absent (pose-only: {what}); RGB and poses checked")
    return (Path(path).name if several else "", desc, records, problems, notes)


def _single_view_note(records) -> list[str]:
    """A note (not a problem) on scenes of one view: fine for depth, not for two-view work."""
    per_scene = Counter(r.scene_id for r in records)
    single = sorted(s for s, n in per_scene.items() if n == 1)
    if not single:
        return []
    names = ", ".join(single[:3]) + (f" and {len(single) - 3} more" if len(single) > 3 else "")
    return [
        f"{len(single)} scene(s) of a single view ({names}): fine for depth; two-view work "
        "(match, covisibility, consistency, train-biview) finds no pair in them"
    ]


def _print_problems(rows, limit: int = SHOWN_PROBLEMS) -> None:
    """The first ``limit`` problems, one line each (a dataset's and scenes' own first: a
    wrong depth scale's advice came after 20 lines of its views' symptoms), then how many more
    the report holds."""
    every = [(name, p) for name, _, _, problems, _ in rows for p in problems]
    every.sort(key=lambda x: bool(x[1].view_id))  # stable: views keep their order
    if not every:
        return
    print(f"  problems ({min(limit, len(every))} of {len(every)}):")
    for name, p in every[:limit]:
        where = "/".join(x for x in (name, p.scene_id, p.view_id) if x) or "dataset"
        file = f" {p.file}:" if p.file else ""
        detail = f": {p.detail}" if p.detail else ""
        print(f"    {where}:{file} {p.problem}{detail}")
    if len(every) > limit:
        print(f"    ... and {len(every) - limit} more")


def run(config) -> int:
    """CLI entry: ``workbench validate``. A folder holding several datasets is validated
    dataset by dataset (the summary and the report's ``dataset`` column group them); a dataset
    of such a folder without views is a problem of the folder, a lone one an error. The full
    report is always written (``--report``, else :func:`default_report_path`)."""
    datasets = [(config.root, config.layout)] if config.layout else find_datasets(config.root)
    given = Path(config.report) if config.report else None
    for path, _ in datasets if given else ():  # beside a dataset's folders, not inside one
        if given.resolve().parent != Path(path).resolve():
            check_outside(given, "--report", path, "the dataset root")
    report = _report_path(config)
    rows, unusable = [], []
    for path, layout in datasets:
        try:
            rows.append(_validate_one(path, layout, config, len(datasets) > 1))
        except WorkbenchError as e:
            if len(datasets) == 1:
                raise
            unusable.append(Problem("", "", Path(path).name, "unusable dataset", str(e)))
    if not rows:
        raise WorkbenchError(f"no dataset has views ({unusable[0].detail})", config.root)
    if unusable:
        rows.append(("", "", [], unusable, []))
    write_report({name: problems for name, _, _, problems, _ in rows}, report)
    n_views = sum(len(records) for _, _, records, _, _ in rows)
    n_scenes = sum(len({r.scene_id for r in records}) for _, _, records, _, _ in rows)
    n_problems = sum(len(problems) for _, _, _, problems, _ in rows)
    print(f"validate: {n_views} views, {scene_count(n_scenes)}, {n_problems} problems")
    for name, desc, records, problems, notes in rows:
        indent = "  "
        if len(rows) > 1:
            label = f"{name}/ ({desc})" if desc else "the folder"
            print(f"  {label}: {len(records)} views, {len(problems)} problems")
            indent = "    "
        else:
            print(f"  ({desc})")
        for note in notes:
            print(f"{indent}{note}")
        for problem, n in sorted(Counter(p.problem for p in problems).items()):
            print(f"{indent}{problem}: {n}")
    _print_problems(rows)
    print(f"  report: {report}")
    return 1 if n_problems else 0
