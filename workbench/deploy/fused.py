"""Fused point clouds of *predicted* depth: ``workbench infer DATASET_ROOT --ply``.

For a dataset with poses (a pose-only one above all: panoramas and poses, no depth), each
scene's inferred views are back-projected from their predicted range (``<key>_depth.npy``,
metres), placed in the world frame by their known ``T_world_from_cam`` and fused into one cloud,
``<out>/<scene>/fused_predicted.ply`` (a RealSee3D scene on several floors: one per floor,
``fused_predicted_floor<F>.ply``), voxel-downsampled. Views without a pose, whose pose file is
unreadable or whose inference failed are left out and named in ``infer.json``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from workbench.data.validate import check_pose_units
from workbench.deploy.inputs import FUSED_NAME, InferItem, read_item_pose, read_item_rgb
from workbench.errors import WorkbenchError
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import (
    PointCloud,
    fuse,
    rgbd_to_pointcloud,
    voxel_downsample,
    write_ply,
)
from workbench.io import load_npy

__all__ = ["fused_groups", "fuse_views", "write_fused_clouds"]


def _floor_name(floor: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", floor) or "none"


def fused_groups(items: list[InferItem]) -> dict[Path, list[InferItem]]:
    """The dataset items of each fused cloud, by the cloud's path relative to ``--out``: one
    per scene folder, one per floor for a scene on several floors; items in record order."""
    by_scene: dict[Path, list[InferItem]] = defaultdict(list)
    for it in items:
        if it.record is not None:
            by_scene[it.key.parent].append(it)
    groups = {}
    for folder, its in by_scene.items():
        floors = list(dict.fromkeys(it.record.floor for it in its))
        for f in floors:
            name = FUSED_NAME if len(floors) == 1 else f"{FUSED_NAME}_floor{_floor_name(f)}"
            groups[folder / f"{name}.ply"] = [it for it in its if it.record.floor == f]
    return groups


def fuse_views(out: Path, items: list[InferItem], voxel: float) -> tuple[PointCloud, list, list]:
    """Fuse the predicted depth of ``items`` (inferred into ``out``) in the world frame.

    Args:
        voxel: voxel size in metres (0: keep every point).

    Returns:
        ``(cloud, used, errors)``: points ``(N, 3) float32`` metres in the world frame (each
        view's points moved by its ``T_world_from_cam``), with RGB colours and world-frame
        normals; the items fused; ``{"image", "error"}`` of the views whose pose or outputs
        could not be read (left out). Items without a pose are the caller's to leave out.
    """
    clouds, used, errors = [], [], []
    for it in items:
        try:
            T = read_item_pose(it)
            check_pose_units(T, Path(it.root, it.record.pose_path))  # not 1.5 km away (mm)
            depth = load_npy(out / it.key.parent / f"{it.key.name}_depth.npy")
            rgb = read_item_rgb(it)
            normals = range_to_normals(depth)
            stride = max(1, depth.shape[0] // 256)
            clouds.append(rgbd_to_pointcloud(rgb, depth, T, normals, stride))
        except (WorkbenchError, ValueError) as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            errors.append({"image": it.label, "error": f"fused cloud: {text}"})
            continue
        used.append(it)
    if not clouds:
        return PointCloud(np.zeros((0, 3), np.float32)), used, errors
    cloud = fuse(clouds)
    return (voxel_downsample(cloud, voxel) if voxel > 0 else cloud), used, errors


def _left(item: InferItem, why: str) -> dict:
    return {"view": item.record.view_id, "why": why}


def _unchanged(entry: dict | None, out: Path, views: list[str], voxel: float) -> bool:
    """Whether an earlier run's cloud (``entry`` of its ``infer.json``) is this run's."""
    if not entry:
        return False
    same = entry.get("views") == views and entry.get("voxel") == voxel
    return same and (out / entry.get("file", "")).is_file()


def write_fused_clouds(
    out: Path,
    items: list[InferItem],
    done: set[str],
    redone: set[str],
    voxel: float,
    previous: list[dict],
) -> tuple[list[dict], list[dict]]:
    """Write every scene's fused cloud of predicted depth (module doc).

    Args:
        done: output keys (posix) of every inferred view, this run's and earlier ones.
        redone: those inferred by this run (their scenes' clouds are rewritten).
        previous: the ``fused`` entries of an earlier run's ``infer.json`` (same model and
            options): an entry whose views, voxel and file are unchanged is kept as it is.

    Returns:
        ``(entries, failed)``: one entry per cloud (``scene_id``, ``file`` relative to
        ``out``, ``views`` fused, ``left_out`` ``[{"view", "why"}]``, ``points``, ``voxel``) and
        the views whose pose could not be read.
    """
    before = {e.get("file"): e for e in previous if isinstance(e, dict)}
    entries, failed = [], []
    for rel, its in fused_groups(items).items():
        left = [_left(it, "no pose") for it in its if not it.record.pose_path]
        posed = [it for it in its if it.record.pose_path]
        left += [_left(it, "inference failed") for it in posed if it.key.as_posix() not in done]
        todo = [it for it in posed if it.key.as_posix() in done]
        if not todo:
            continue
        old = before.get(rel.as_posix())
        fresh = any(it.key.as_posix() in redone for it in todo)
        if not fresh and _unchanged(old, out, [it.record.view_id for it in todo], voxel):
            entries.append({**old, "left_out": left})
            continue
        cloud, used, errors = fuse_views(out, todo, voxel)
        failed += errors
        left += [_left(it, "pose or predicted depth unreadable") for it in todo if it not in used]
        if not used:
            continue
        write_ply(out / rel, cloud)
        entries.append(
            {
                "scene_id": todo[0].record.scene_id,
                "file": rel.as_posix(),
                "views": [it.record.view_id for it in used],
                "left_out": left,
                "points": len(cloud),
                "voxel": voxel,
            }
        )
    return entries, failed
