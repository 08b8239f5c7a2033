"""Scene meshes (the seed layout's ``obj/``): reading and rendering range panoramas from them.

Vertices are ``(N, 3) float32`` metres in the world frame, triangles ``(M, 3) int64``; a
rendered panorama follows the convention of :mod:`workbench.geometry.equirect` (range along each
pixel's ray, 0 where the ray misses).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import open3d as o3d

from workbench.errors import WorkbenchError
from workbench.geometry.equirect import unit_rays

__all__ = ["read_obj", "render_range", "mesh_agreement"]


def read_obj(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of a Wavefront ``.obj`` (faces with more corners are fanned,
    ``v/vt/vn`` indices and negative indices accepted).

    Raises:
        WorkbenchError: naming ``path`` when it holds no triangle or a face is malformed.
    """
    path = Path(path)
    verts, tris = [], []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for ln in lines:
            parts = ln.split()
            if not parts:
                continue
            if parts[0] == "v":
                verts.append([float(x) for x in parts[1:4]])
            elif parts[0] == "f":
                idx = [int(p.split("/")[0]) for p in parts[1:]]
                idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
                tris += [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]
    except (OSError, ValueError, IndexError) as e:
        raise WorkbenchError(f"not a readable .obj mesh ({type(e).__name__})", path) from None
    v, t = np.asarray(verts, np.float32).reshape(-1, 3), np.asarray(tris, np.int64).reshape(-1, 3)
    if not len(t) or t.min() < 0 or t.max() >= len(v):
        raise WorkbenchError("mesh has no valid triangle", path)
    return v, t


def render_range(
    vertices: np.ndarray, triangles: np.ndarray, T_world_from_cam: np.ndarray, height: int
) -> np.ndarray:
    """Ray-cast the mesh from a camera: ``(height, 2 height) float32`` range in metres, 0 where
    a ray hits nothing.

    >>> v = np.array([[-9, -9, 2], [9, -9, 2], [0, 9, 2]], np.float32)
    >>> r = render_range(v, np.array([[0, 1, 2]]), np.eye(4), 8)
    >>> round(float(r[4, 8]), 3)  # lat = lon = 11.25 deg: z = cos^2(11.25 deg), 2 m / z
    2.079
    """
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        np.ascontiguousarray(vertices, np.float32), np.ascontiguousarray(triangles, np.uint32)
    )
    R = np.asarray(T_world_from_cam[:3, :3], np.float32)
    t = np.asarray(T_world_from_cam[:3, 3], np.float32)
    dirs = unit_rays(height, 2 * height) @ R.T
    rays = np.concatenate([np.broadcast_to(t, dirs.shape), dirs], axis=-1).astype(np.float32)
    hit = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
    return np.where(np.isfinite(hit), hit, 0.0).astype(np.float32)


def mesh_agreement(range_m: np.ndarray, rendered: np.ndarray, tol: float = 0.05) -> float:
    """Fraction of pixels valid in both where the depth is within ``tol`` (relative) of the
    mesh's range; NaN when no pixel is valid in both."""
    both = (range_m > 0) & (rendered > 0)
    if not both.any():
        return float("nan")
    rel = np.abs(range_m[both] - rendered[both]) / rendered[both]
    return float(np.mean(rel <= tol))
