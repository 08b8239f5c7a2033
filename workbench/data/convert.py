"""Convert a seed-layout dataset into the other layouts, mimicking each dataset's real encoding
(for the samples, the readers' tests and the real-data fixtures). Deterministic for a seed.

``realsee3d`` (``DATASET_STRUCTURE.md``): ``viewpoints/<id>/{panoImage_1600.jpg,
depth_image.png, depth_scale.txt (4000), extrinsics.txt, floor.txt, segment.png,
pano_mask.png}``, ``viewpoints.txt`` (views in reverse order) and ``covisibility.txt`` (rows in
that order, no header), class tables in ``metadata/class_mapping_{real,synthetic}.json``. With
``encoding="real"`` (the default) depth is like the real LiDAR scans: every third row (scan
lines), 10 % dropout, zenith and nadir blind spots (about 28 % of pixels valid), and a
``pano_mask.png`` blanking the tripod; ``synthetic`` keeps dense depth and has no mask.

``rgbd-folder``: ``rgb/<scene>_<view>.png`` with depth as 16-bit PNG, except one view as EXR
and one as NPY (metres), ``pose/`` beside them, and a ``dataset.json`` naming the encoding:
``matterport3d`` (4000 per metre, 0 invalid; the default) or ``stanford2d3d`` (512 per metre,
missing depth written as 65535, like its blind spots). One scene is written at the top; several
go one sub-folder each (``<scene>/rgb/...``, the layout's scenes), the ``dataset.json`` at the
top.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from workbench.data.dataset import index_dataset
from workbench.data.layouts import depth_to_png, load_view
from workbench.geometry.correspondence import covisibility_matrix, write_covisibility
from workbench.geometry.equirect import resize_range
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pose import write_pose
from workbench.io import make_folder, save_npy, write_image, write_text_atomic

__all__ = ["convert_seed", "lidar_pattern", "surface_classes", "CLASSES", "ENCODINGS"]

CLASSES = {0: "background", 1: "floor", 2: "wall", 3: "ceiling", 4: "object"}
ENCODINGS = {"realsee3d": ("real", "synthetic"), "rgbd-folder": ("matterport3d", "stanford2d3d")}


def lidar_pattern(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """``(H, W) bool``: where a RealSee3D-like LiDAR scan has depth: every third row, 10 %
    dropout, nothing within 30° of the zenith or 22° of the nadir."""
    keep = np.zeros((h, w), bool)
    keep[::3] = True
    keep &= rng.random((h, w)) > 0.1
    keep[: h // 6] = False
    keep[h - h // 8 :] = False
    return keep


def surface_classes(range_m: np.ndarray, T_world_from_cam: np.ndarray) -> np.ndarray:
    """``(H, W) uint8`` ids of :data:`CLASSES` from the world-frame normal (world y is down):
    floor faces up, ceiling faces down, walls are vertical, everything else an object."""
    n = range_to_normals(range_m) @ T_world_from_cam[:3, :3].T
    cls = np.full(range_m.shape, 4, np.uint8)
    cls[np.abs(n[..., 1]) < 0.2] = 2
    cls[n[..., 1] < -0.9] = 1
    cls[n[..., 1] > 0.9] = 3
    cls[~(range_m > 0)] = 0
    return cls


def _realsee_view(d: Path, src: Path, rec, v, rng, real: bool) -> None:
    h, w = v.range_m.shape
    make_folder(d)
    shutil.copyfile(src / rec.rgb_path, d / "panoImage_1600.jpg")
    depth = np.where(lidar_pattern(h, w, rng), v.range_m, 0.0) if real else v.range_m
    write_image(d / "depth_image.png", depth_to_png(depth, 4000.0))
    write_text_atomic(d / "depth_scale.txt", "4000\n")
    write_pose(d / "extrinsics.txt", v.T_world_from_cam)
    write_text_atomic(d / "floor.txt", "0\n")
    write_image(d / "segment.png", surface_classes(v.range_m, v.T_world_from_cam))
    if real:
        mask = np.full((h, w), 255, np.uint8)
        mask[int(h * 0.92) :] = 0  # tripod blind spot
        write_image(d / "pano_mask.png", mask)


def _realsee_scene_files(dst: Path, scene: str, recs, views) -> None:
    """``viewpoints.txt`` (reverse order) and ``covisibility.txt`` in that order."""
    order = [r.view_id for r in recs][::-1]
    write_text_atomic(dst / scene / "viewpoints.txt", "\n".join(order) + "\n")
    small = [resize_range(views[i].range_m, 64) for i in order]
    cov = covisibility_matrix(small, [views[i].T_world_from_cam for i in order])
    write_covisibility(dst / scene / "covisibility.txt", cov)


def _rgbd_view(dst: Path, name: str, k: int, v, encoding: str) -> None:
    write_image(dst / "rgb" / f"{name}.png", v.rgb)
    if k == 1:
        write_image(dst / "depth" / f"{name}.exr", v.range_m.astype(np.float32))
    elif k == 2:
        save_npy(dst / "depth" / f"{name}.npy", v.range_m.astype(np.float32))
    elif encoding == "stanford2d3d":
        r = v.range_m.copy()
        r[: r.shape[0] // 10] = 0  # its zenith blind spot, written as 65535
        write_image(dst / "depth" / f"{name}.png", depth_to_png(r, 512.0, invalid_value=65535))
    else:
        write_image(dst / "depth" / f"{name}.png", depth_to_png(v.range_m, 4000.0))
    write_pose(dst / "pose" / f"{name}.txt", v.T_world_from_cam)


def convert_seed(src, dst, layout: str, seed: int = 0, encoding: str = "") -> None:
    """Write the seed dataset ``src`` as ``layout`` into ``dst`` (see the module doc)."""
    if layout not in ENCODINGS:
        raise ValueError(f"layout must be realsee3d or rgbd-folder, got {layout!r}")
    encoding = encoding or ENCODINGS[layout][0]
    if encoding not in ENCODINGS[layout]:
        raise ValueError(f"{layout} encodings are {ENCODINGS[layout]}, got {encoding!r}")
    src, dst = Path(src), Path(dst)
    rng = np.random.default_rng(seed)
    records = index_dataset(src, "seed")
    several = len({r.scene_id for r in records}) > 1
    for scene in sorted({r.scene_id for r in records}, key=[r.scene_id for r in records].index):
        recs = [r for r in records if r.scene_id == scene]
        views = {r.view_id: load_view(r, src) for r in recs}
        for rec in recs:
            if layout == "realsee3d":
                d = dst / scene / "viewpoints" / rec.view_id
                _realsee_view(d, src, rec, views[rec.view_id], rng, encoding == "real")
            else:
                name = f"{scene[:8]}_{rec.view_id}"
                at = dst / scene[:8] if several else dst  # a sub-folder per scene
                _rgbd_view(at, name, records.index(rec), views[rec.view_id], encoding)
        if layout == "realsee3d":
            _realsee_scene_files(dst, scene, recs, views)
    if layout == "realsee3d":
        kind = "real" if encoding == "real" else "synthetic"
        table = json.dumps({str(k): v for k, v in CLASSES.items()}, indent=2) + "\n"
        write_text_atomic(dst / "metadata" / f"class_mapping_{kind}.json", table)
    else:
        write_text_atomic(dst / "dataset.json", json.dumps({"encoding": encoding}) + "\n")
