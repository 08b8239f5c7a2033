"""Coloured point clouds from RGB + range (+ pose), fusion, voxel downsampling and PLY files.

Points are ``(N, 3) float32`` metres, colours ``(N, 3) uint8`` RGB, normals ``(N, 3) float32``.
Frames: camera frame unless a ``T_world_from_cam`` is given, then world frame. PLY files are
encoded with numpy; open3d does the voxel grid and reads foreign PLY files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open3d as o3d

from workbench.errors import WorkbenchError
from workbench.geometry.equirect import _check_range, range_to_points, valid_mask
from workbench.geometry.pose import check_rigid, transform_points
from workbench.io import write_bytes_atomic

__all__ = [
    "PointCloud",
    "rgbd_to_pointcloud",
    "fuse",
    "voxel_downsample",
    "encode_ply",
    "write_ply",
    "read_ply",
]


@dataclass(frozen=True)
class PointCloud:
    """A point set with optional per-point colours and normals.

    Attributes:
        points: ``(N, 3) float32``, metres.
        colors: ``(N, 3) uint8`` RGB or ``None``.
        normals: ``(N, 3) float32`` unit vectors or ``None``.
    """

    points: np.ndarray
    colors: np.ndarray | None = None
    normals: np.ndarray | None = None

    def __post_init__(self):
        n = np.shape(self.points)
        if len(n) != 2 or n[1] != 3:
            raise ValueError(f"points must be (N, 3), got {n}")
        for name in ("colors", "normals"):
            a = getattr(self, name)
            if a is not None and np.shape(a) != n:
                raise ValueError(f"{name} must be {n} like points, got {np.shape(a)}")

    def __len__(self) -> int:
        return int(self.points.shape[0])


def rgbd_to_pointcloud(
    rgb: np.ndarray | None,
    range_m: np.ndarray,
    T_world_from_cam: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    stride: int = 1,
) -> PointCloud:
    """Back-project the valid pixels of a panorama into a coloured point cloud.

    Args:
        rgb: ``(H, W, 3) uint8`` RGB of the same size as ``range_m``, or ``None``.
        range_m: ``(H, W)`` metres, invalid pixels dropped.
        T_world_from_cam: optional ``(4, 4)`` pose; points (and normals) go to the world frame.
        normals: optional ``(H, W, 3)`` camera-frame normals carried along.
        stride: keep every ``stride``-th row and column (a cheap subsample).

    Returns:
        A :class:`PointCloud` with one point per valid (kept) pixel.

    >>> pc = rgbd_to_pointcloud(None, np.full((4, 8), 2.0, np.float32))
    >>> len(pc), pc.points.dtype.name
    (32, 'float32')
    """
    h, w = _check_range(range_m)
    if rgb is not None and np.shape(rgb) != (h, w, 3):
        raise ValueError(f"rgb must be ({h}, {w}, 3) like range_m, got {np.shape(rgb)}")
    if normals is not None and np.shape(normals) != (h, w, 3):
        raise ValueError(f"normals must be ({h}, {w}, 3) like range_m, got {np.shape(normals)}")
    pts = range_to_points(range_m)[::stride, ::stride]
    mask = valid_mask(np.asarray(range_m)[::stride, ::stride])
    points = pts[mask]
    colors = None if rgb is None else np.asarray(rgb, np.uint8)[::stride, ::stride][mask]
    nrm = None if normals is None else np.asarray(normals, np.float32)[::stride, ::stride][mask]
    if T_world_from_cam is not None:
        T = check_rigid(T_world_from_cam, "T_world_from_cam")
        points = transform_points(T, points).astype(np.float32)
        if nrm is not None:
            nrm = (nrm @ T[:3, :3].T.astype(np.float32)).astype(np.float32)
    return PointCloud(points, colors, nrm)


def fuse(clouds: list[PointCloud]) -> PointCloud:
    """Concatenate point clouds in one frame; colours/normals kept only if all clouds have them."""
    if not clouds:
        raise ValueError("fuse needs at least one point cloud")
    pts = np.concatenate([c.points for c in clouds]).astype(np.float32)
    cols = None
    if all(c.colors is not None for c in clouds):
        cols = np.concatenate([c.colors for c in clouds])
    nrm = None
    if all(c.normals is not None for c in clouds):
        nrm = np.concatenate([c.normals for c in clouds])
    return PointCloud(pts, cols, nrm)


def _to_o3d(pc: PointCloud):

    cloud = o3d.geometry.PointCloud()
    cloud.points = o3d.utility.Vector3dVector(pc.points.astype(np.float64))
    if pc.colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(pc.colors.astype(np.float64) / 255.0)
    if pc.normals is not None:
        cloud.normals = o3d.utility.Vector3dVector(pc.normals.astype(np.float64))
    return cloud


def _from_o3d(cloud) -> PointCloud:
    pts = np.asarray(cloud.points, dtype=np.float32)
    cols = None
    if cloud.has_colors():
        cols = np.clip(np.rint(np.asarray(cloud.colors) * 255.0), 0, 255).astype(np.uint8)
    nrm = np.asarray(cloud.normals, dtype=np.float32) if cloud.has_normals() else None
    return PointCloud(pts.reshape(-1, 3), cols, nrm)


def voxel_downsample(pc: PointCloud, voxel_m: float) -> PointCloud:
    """Average the points (colours, normals) inside each ``voxel_m``-sized cube (open3d)."""
    if not voxel_m > 0:
        raise ValueError(f"voxel_m must be > 0, got {voxel_m}")
    if len(pc) == 0:
        return pc
    return _from_o3d(_to_o3d(pc).voxel_down_sample(float(voxel_m)))


def encode_ply(pc: PointCloud, binary: bool = True) -> bytes:
    """PLY bytes of ``pc``: ``x y z`` float32 (+ ``nx ny nz`` float32, + ``red green blue``
    uchar), binary little-endian or ASCII; readable by open3d, MeshLab and CloudCompare."""
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if pc.normals is not None:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if pc.colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    rows = np.empty(len(pc), dtype=fields)
    for i, axis in enumerate("xyz"):
        rows[axis] = pc.points[:, i]
        if pc.normals is not None:
            rows["n" + axis] = pc.normals[:, i]
    if pc.colors is not None:
        for i, c in enumerate(("red", "green", "blue")):
            rows[c] = pc.colors[:, i]
    kind = {"<f4": "float", "u1": "uchar"}
    header = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        f"element vertex {len(pc)}",
    ] + [f"property {kind[t]} {n}" for n, t in fields]
    head = ("\n".join(header) + "\nend_header\n").encode("ascii")
    if binary:
        return head + rows.tobytes()
    fmt = " ".join("%.7g" if t == "<f4" else "%d" for _, t in fields)
    body = "".join(fmt % tuple(r) + "\n" for r in rows.tolist())
    return head + body.encode("ascii")


def write_ply(path: str | os.PathLike, pc: PointCloud, binary: bool = True) -> Path:
    """Write a PLY file atomically (:func:`encode_ply`)."""
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise WorkbenchError("point cloud files must end in .ply", path)
    return write_bytes_atomic(path, encode_ply(pc, binary))


def read_ply(path: str | os.PathLike) -> PointCloud:
    """Read a PLY point cloud written by :func:`write_ply` (or any open3d-readable PLY)."""

    path = Path(path)
    if not path.is_file():
        raise WorkbenchError("file not found", path)
    cloud = o3d.io.read_point_cloud(str(path), format="ply")
    if len(cloud.points) == 0 and path.stat().st_size > 0:
        head = path.read_bytes()[:3]
        if head != b"ply":
            raise WorkbenchError("not a PLY file (no 'ply' header)", path)
    return _from_o3d(cloud)
