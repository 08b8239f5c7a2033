"""A scene's geometry for the jobs that need only depth and poses (``covisibility``,
``consistency``): every view's range and ``T_world_from_cam`` read without decoding its
panorama (:func:`workbench.data.layouts.load_range`), the views that cannot be read left out
and named, so that one broken file costs its view, not its scene.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.layouts import ViewRecord, load_range, pose_file_of
from workbench.data.validate import check_pose_units, check_range_units
from workbench.eda.views import view_key
from workbench.errors import WorkbenchError, raise_if_interrupted
from workbench.io import make_folder

__all__ = [
    "SceneRanges",
    "check_height",
    "check_dataset_height",
    "check_scene_height",
    "load_scene_ranges",
    "left_out_rows",
    "scene_fingerprint",
    "finished_with",
    "start_scene",
]


@dataclass(frozen=True)
class SceneRanges:
    """The readable views of a scene in view order: ``records``, ``ranges`` ``[(H, W)
    float32]`` metres (0 = invalid; each at its panorama's size), ``poses`` ``[(4, 4)]``
    ``T_world_from_cam``; ``left_out`` ``[(view id, error line)]`` for the others."""

    records: tuple[ViewRecord, ...]
    ranges: tuple[np.ndarray, ...]
    poses: tuple[np.ndarray, ...]
    left_out: tuple[tuple[str, str], ...]


def load_scene_ranges(records, root: str) -> SceneRanges:
    """Read every record of one scene (:class:`SceneRanges`); a view whose depth, mask or
    pose cannot be read, that has no pose or whose pose is not in metres
    (:func:`~workbench.data.validate.check_pose_units`), is left out with its error line.

    Raises:
        WorkbenchError: naming the scene's folder when no view can be read.
    """
    kept, ranges, poses, left_out = [], [], [], []
    for r in records:
        try:
            rng, T = load_range(r, root)
            if T is None:
                raise _unposed(r, root)
            check_pose_units(T, Path(root, r.pose_path))
            check_range_units(rng, Path(root) / r.depth_path)
        except WorkbenchError as e:
            raise_if_interrupted(e)
            left_out.append((r.view_id, str(e).splitlines()[0][:300]))
            continue
        kept.append(r)
        ranges.append(rng)
        poses.append(T)
    if not kept:
        reason = left_out[0][1] if left_out else "no views"
        raise WorkbenchError(f"no view of scene {records[0].scene_id} can be read ({reason})")
    return SceneRanges(tuple(kept), tuple(ranges), tuple(poses), tuple(left_out))


def _unposed(record: ViewRecord, root: str) -> WorkbenchError:
    """The error of a view without a pose: its missing pose file where the layout keeps one
    per view (:func:`~workbench.data.layouts.pose_file_of`), else its panorama."""
    if record.layout in ("realsee3d", "seed", "rgbd-folder"):
        path = pose_file_of(record.layout, Path(root) / record.rgb_path)
        return WorkbenchError("pose file not found (its scene's other views have one)", path)
    return WorkbenchError("view has no pose (its scene's others have)", Path(root, record.rgb_path))


def check_height(height: int, rows: int, hint: str) -> None:
    """``--height`` not above ``rows``, the views' own: depth enlarged past its rows fails the
    occlusion test (a clean sample's covisibility fell from 0.95 to 0.24 at 8192 rows).

    Raises:
        WorkbenchError: naming ``--height``, ending with ``hint`` (what to pass instead).
    """
    if height > rows:
        raise WorkbenchError(
            f"{height} is above the views' own {rows} rows (depth upsampled that far fails "
            f"the occlusion test): {hint}",
            "--height",
        )


def check_scene_height(height: int, ranges) -> None:
    """:func:`check_height` against the fewest rows of a scene's ``ranges`` (mixed sizes)."""
    rows = min(r.shape[0] for r in ranges)
    check_height(height, rows, f"this scene's views need at most {rows}")


def check_dataset_height(records, root: str, height: int) -> None:
    """Before any work: :func:`check_height` against the first readable view's rows (each
    scene's own views are checked again as it is read)."""
    for r in records:
        if not r.has_depth:
            continue
        try:
            rows = load_range(r, root, with_pose=False)[0].shape[0]
        except WorkbenchError as e:
            raise_if_interrupted(e)
            continue
        return check_height(height, rows, f"name at most {rows}")


def left_out_rows(scene: str, left_out) -> list[dict]:
    """``failed.csv`` rows (``scene``, ``error``) for a scene's views left out.

    >>> left_out_rows("s1", [("v2", "s1/v2.png: file not found")])
    [{'scene': 's1', 'error': 'view v2 left out: s1/v2.png: file not found'}]
    """
    return [{"scene": scene, "error": f"view {v} left out: {e}"} for v, e in left_out]


def stale_scenes_note(verb: str, out: Path, scenes) -> str:
    """One line naming the scene folders of ``out`` (those holding an ``options.json``) whose
    scene the dataset no longer has (``scenes``: its scene ids), or ``""``: they are left as
    they are (a run deletes only what it wrote) and not collected.

    >>> stale_scenes_note("covisibility", Path("/nonexistent"), ["s1"])
    ''
    """
    known = {str(s) for s in scenes}
    stale = sorted(
        rel
        for p in Path(out).rglob("options.json")
        if (rel := p.parent.relative_to(out).as_posix()) != "." and rel not in known
    )
    if not stale:
        return ""
    more = f" and {len(stale) - 3} more" if len(stale) > 3 else ""
    return (
        f"{verb}: {len(stale)} scene folder(s) in {out} hold results of scenes this dataset no "
        f"longer has ({', '.join(stale[:3])}{more}): left as they are, not collected"
    )


def scene_fingerprint(records, root: str) -> str:
    """A digest of a scene's records and their files (sizes and modification times, how depth
    is decoded: :func:`~workbench.eda.views.view_key`): a re-run whose data changed, or that
    reads another root, recomputes the scene."""
    parts = [repr(records), str(Path(root).resolve())]
    parts += [view_key(r, Path(root)) for r in records]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def finished_with(folder: Path, files: tuple[str, ...], options: dict) -> bool:
    """Whether ``folder`` holds ``files`` and an ``options.json`` (written last) equal to
    ``options``: a scene a re-run may skip. A scene with views left out records them there,
    so it never equals and is tried again."""
    if not all((folder / f).is_file() for f in (*files, "options.json")):
        return False
    try:
        return json.loads((folder / "options.json").read_text(encoding="utf-8")) == options
    except (OSError, ValueError):
        return False


def start_scene(folder: Path) -> Path:
    """Make a scene's output ``folder`` and drop its ``options.json`` before its files are
    rewritten: a run cut short between them leaves no record that :func:`finished_with` could
    take for the new files' options."""
    make_folder(folder)
    (folder / "options.json").unlink(missing_ok=True)
    return folder
