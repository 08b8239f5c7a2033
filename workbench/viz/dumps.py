"""Visual dumps of one prediction (training runs, ``eval``'s worst views): colourised RGB /
ground truth / prediction / normals / error images and a point cloud, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import rgbd_to_pointcloud, write_ply
from workbench.io import make_folder, write_image
from workbench.viz.colorize import colorize_depth, colorize_error, colorize_normals

__all__ = ["dump_images", "write_dumps"]


def dump_images(
    rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Colourised views of one prediction: ``rgb``, ``depth_pred``, ``norm_pred`` and, with
    ``gt``, ``depth_gt`` and ``depth_err``; each ``(H, W, 3) uint8``. Predicted and true depth
    share one colour scale (0 to 1.05 × the 99th percentile of the ground truth when given).

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1] or uint8. pred, gt: ``(H, W)`` metres (gt 0 = invalid).
    """
    img = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    lo, hi = 0.0, float(np.percentile(pred, 99)) * 1.05
    if gt is not None and (gt > 0).any():
        hi = float(np.percentile(gt[gt > 0], 99)) * 1.05
    out = {
        "rgb": img,
        "depth_pred": colorize_depth(pred, lo, hi),
        "norm_pred": colorize_normals(range_to_normals(pred)),
    }
    if gt is not None:
        out["depth_gt"] = colorize_depth(gt, lo, hi)
        out["depth_err"] = colorize_error(np.where(gt > 0, np.abs(pred - gt), np.nan))
    return out


def write_dumps(
    folder: Path,
    prefix: str,
    rgb: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray | None = None,
    pose: np.ndarray | None = None,
    stride: int = 2,
    images: dict[str, np.ndarray] | None = None,
) -> list[Path]:
    """Visual dump of one view: ``<prefix>_rgb.png``, ``_depth_pred.png``, ``_norm_pred.png``,
    ``_depth_err.png`` and ``_depth_gt.png`` (when ``gt`` is given), ``_pc.ply``.

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1] or uint8. pred, gt: ``(H, W)`` metres (gt 0 = invalid).
        pose: ``T_world_from_cam`` for the point cloud (camera frame when ``None``).
        images: :func:`dump_images` of the same view when already computed.
    """
    make_folder(folder)
    images = images if images is not None else dump_images(rgb, pred, gt)
    paths = [write_image(folder / f"{prefix}_{k}.png", v) for k, v in images.items()]
    normals = range_to_normals(pred)
    pc = rgbd_to_pointcloud(images["rgb"], pred, pose, normals=normals, stride=stride)
    paths.append(write_ply(folder / f"{prefix}_pc.ply", pc))
    return paths
