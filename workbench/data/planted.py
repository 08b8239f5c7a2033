"""Scenes with planted faults, for testing and measuring multi-view consistency checks.

:func:`clean_scene` ray casts the exact range of every view of a generated ``rooms`` scene
(:mod:`workbench.data.synth`, depth only: no shading, so it is fast); :func:`plant` then
spoils one view in one of three ways:

- ``pose``: its pose moved by ``translation_m`` in a random horizontal direction, or turned
  by ``rotation_deg`` about a random axis through its centre (the depth stays right);
- ``scale``: its range multiplied by ``scale``;
- ``change``: a box-shaped region of its range, about ``change_fraction`` of the image
  around a random direction below the horizon, brought ``change_closer`` times closer (an
  object that stands there in this view only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import open3d as o3d

from workbench.data.synth import PRESETS, build_raycaster, make_scene
from workbench.geometry.equirect import ray_planes

__all__ = ["PlantedScene", "clean_scene", "plant"]


@dataclass(frozen=True)
class PlantedScene:
    """Ranges ``[(H, 2H) float32]`` metres, poses ``[(4, 4)]``, and what was planted:
    ``fault`` (``""``, ``pose``, ``scale`` or ``change``), ``view`` (its index, -1 when
    clean), ``truth`` (``translation_m``/``rotation_deg``, ``scale`` or ``bbox``)."""

    ranges: list
    poses: list
    fault: str = ""
    view: int = -1
    truth: dict | None = None


def clean_scene(seed: int, views: int = 5, height: int = 128, preset: str = "rooms"):
    """A generated scene's exact ranges (0 where a ray leaves the scene) and poses."""
    spec = make_scene(np.random.SeedSequence(seed), views, PRESETS[preset])
    caster = build_raycaster(spec)
    planes = ray_planes(height, 2 * height)
    ranges = []
    for T in spec.poses:
        R, c = T[:3, :3].astype(np.float32), T[:3, 3].astype(np.float32)
        rays = np.empty((height * 2 * height, 6), np.float32)
        rays[:, :3] = c
        for i in range(3):
            rays[:, 3 + i] = (
                R[i, 0] * planes[0] + R[i, 1] * planes[1] + R[i, 2] * planes[2]
            ).ravel()
        t = caster.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        ranges.append(np.where(np.isfinite(t), t, 0.0).astype(np.float32).reshape(height, -1))
    return PlantedScene(ranges, [np.asarray(T, np.float64) for T in spec.poses])


def _rotation(axis: np.ndarray, deg: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = math.radians(deg)
    return np.eye(3) + math.sin(t) * K + (1 - math.cos(t)) * K @ K


def plant(scene: PlantedScene, fault: str, view: int, rng: np.random.Generator, **amount):
    """``scene`` with one fault planted in ``view`` (module doc). ``amount``: ``translation_m``
    or ``rotation_deg`` (pose, default 0.05 m), ``scale`` (1.05), ``change_fraction`` (0.03),
    ``change_closer`` (0.6)."""
    ranges, poses = list(scene.ranges), list(scene.poses)
    if fault == "pose":
        T = poses[view].copy()
        if "rotation_deg" in amount:
            T[:3, :3] = _rotation(rng.normal(size=3), amount["rotation_deg"]) @ T[:3, :3]
            truth = {"translation_m": 0.0, "rotation_deg": float(amount["rotation_deg"])}
        else:
            d = amount.get("translation_m", 0.05)
            yaw = rng.uniform(-math.pi, math.pi)
            T[:3, 3] += d * np.array([math.sin(yaw), 0.0, math.cos(yaw)])
            truth = {"translation_m": float(d), "rotation_deg": 0.0}
        poses[view] = T
    elif fault == "scale":
        s = float(amount.get("scale", 1.05))
        ranges[view] = ranges[view] * np.float32(s)
        truth = {"scale": s}
    elif fault == "change":
        h, w = ranges[view].shape
        side = math.sqrt(amount.get("change_fraction", 0.03) * h * w / 2)
        bh, bw = max(2, round(side)), max(4, round(2 * side))
        v0 = int(rng.integers(h // 2, max(h // 2 + 1, h - h // 8 - bh)))
        u0 = int(rng.integers(0, w - bw))
        r = ranges[view].copy()
        r[v0 : v0 + bh, u0 : u0 + bw] *= np.float32(amount.get("change_closer", 0.6))
        ranges[view] = r
        truth = {"bbox": (v0, u0, v0 + bh - 1, u0 + bw - 1)}
    else:
        raise ValueError(f"fault must be pose, scale or change, got {fault!r}")
    return replace(scene, ranges=ranges, poses=poses, fault=fault, view=view, truth=truth)
