"""Convert a seed-layout dataset into the other layouts (for samples and reader tests).

``realsee3d``: depth re-encoded with ``depth_scale.txt`` = 4000, thinned like sparse LiDAR (zeros
are missing), a ``pano_mask.png`` blanking the tripod blind spot, views listed in
``viewpoints.txt`` in reverse order. ``rgbd-folder``: ``rgb/<scene>_<view>.png`` with depth as
16-bit PNG at 4000 units per metre (Matterport3D-style), except one view as EXR and one as NPY
(metres). Deterministic for a given seed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from workbench.data.layouts import index_dataset, load_view
from workbench.geometry.pose import write_pose
from workbench.io import make_folder, save_npy, write_image, write_text_atomic

__all__ = ["convert_seed"]


def _encode(range_m: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.rint(range_m * scale), 0, 65535).astype(np.uint16)


def convert_seed(src, dst, layout: str, seed: int = 0) -> None:
    src, dst = Path(src), Path(dst)
    rng = np.random.default_rng(seed)
    records = index_dataset(src, "seed")
    for rec in records:
        v = load_view(rec, src)
        h, w = v.range_m.shape
        if layout == "realsee3d":
            d = dst / rec.scene_id / "viewpoints" / rec.view_id
            make_folder(d)
            shutil.copyfile(src / rec.rgb_path, d / "panoImage_1600.jpg")
            sparse = v.range_m * (rng.random((h, w)) > 0.3)
            write_image(d / "depth_image.png", _encode(sparse, 4000.0))
            write_text_atomic(d / "depth_scale.txt", "4000\n")
            write_pose(d / "extrinsics.txt", v.T_world_from_cam)
            mask = np.full((h, w), 255, np.uint8)
            mask[int(h * 0.92) :] = 0  # tripod blind spot
            write_image(d / "pano_mask.png", mask)
        elif layout == "rgbd-folder":
            name = f"{rec.scene_id[:8]}_{rec.view_id}"
            write_image(dst / "rgb" / f"{name}.png", v.rgb)
            k = records.index(rec)
            if k == 1:
                write_image(dst / "depth" / f"{name}.exr", v.range_m.astype(np.float32))
            elif k == 2:
                save_npy(dst / "depth" / f"{name}.npy", v.range_m.astype(np.float32))
            else:
                write_image(dst / "depth" / f"{name}.png", _encode(v.range_m, 4000.0))
            write_pose(dst / "pose" / f"{name}.txt", v.T_world_from_cam)
        else:
            raise ValueError(f"layout must be realsee3d or rgbd-folder, got {layout!r}")
    if layout == "realsee3d":
        for scene in sorted({r.scene_id for r in records}):
            ids = [r.view_id for r in records if r.scene_id == scene][::-1]
            write_text_atomic(dst / scene / "viewpoints.txt", "\n".join(ids) + "\n")
