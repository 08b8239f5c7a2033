"""Procedural indoor scenes ray cast into equirect panoramas with exact range and poses.

A scene is a room (box or L-shaped footprint, walls with door and window openings onto a large
outer space beyond 10 m), furniture (boxes, cylinders, stacked boxes, tables with thin legs,
wall-mounted panels, yaw-rotated) and materials with procedural textures evaluated in world
coordinates at log-uniform random scales (some fixed to the view direction, which carry no depth
cue). Panoramas are rendered with ``open3d.t.geometry.RaycastingScene``: exact range per pixel,
Lambert shading from several lights with one shadowed, random exposure, sensor noise, blur and
JPEG artefacts. Views are placed at random heights with random yaw, small pitch/roll, and
baselines 0.5-4 m. Everything follows from one seed: the same seed gives byte-identical files.

World frame (README, *Geometry convention*): y down, the floor at ``y = 0``, the ceiling at
``y = -room_height``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d

from workbench.configs import parse_size
from workbench.data.convert import ENCODINGS as CONVERT_ENCODINGS
from workbench.data.convert import convert_seed
from workbench.data.diverse import COMPACT, HELD_OUT, HOMES, TRAINING, Families
from workbench.data.diverse import build_diverse as _build_diverse
from workbench.data.diverse import cameras as _diverse_cameras
from workbench.data.layouts import depth_to_png, detect_layout
from workbench.data.primitives import box as _box
from workbench.data.primitives import cylinder as _cylinder
from workbench.data.primitives import inside as _inside
from workbench.data.primitives import merge as _merge
from workbench.data.primitives import polygon as _polygon
from workbench.data.primitives import quad as _quad
from workbench.data.primitives import table as _table
from workbench.data.primitives import wall as _wall
from workbench.data.rooms import PATTERNS, build_room
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.equirect import ray_planes, resize_rgb
from workbench.geometry.pose import pose_from_yaw_pitch_roll, write_pose
from workbench.io import sweep_temporaries, write_image, write_text_atomic

__all__ = [
    "Preset",
    "PRESETS",
    "SceneSpec",
    "make_scene",
    "build_raycaster",
    "render_view",
    "generate",
]


@dataclass(frozen=True)
class Preset:
    """Generator parameters (saved in each scene's ``others/meta.json``)."""

    shapes: tuple[str, ...] = ("box", "L")
    room_size_m: tuple[float, float] = (3.0, 10.0)
    room_height_m: tuple[float, float] = (2.4, 3.5)
    n_objects: tuple[int, int] = (10, 20)
    openings: tuple[int, int] = (1, 4)
    texture_scale_m: tuple[float, float] = (0.03, 1.5)
    view_fixed_fraction: float = 0.15
    n_lights: tuple[int, int] = (2, 4)
    camera_height_m: tuple[float, float] = (0.9, 2.0)
    max_tilt_deg: float = 3.0
    exposure: tuple[float, float] = (0.6, 1.4)
    noise_sigma: tuple[float, float] = (0.0, 0.025)
    blur_sigma: tuple[float, float] = (0.0, 1.0)
    jpeg_quality: tuple[int, int] = (70, 95)
    shadows: bool = True
    layout: str = "boxes"  # boxes: random furniture blocks; rooms: furnished rooms (rooms.py);
    # diverse: rooms widened by named families (diverse.py), drawn from ``families``
    ambient_occlusion: bool = False  # ray-cast AO and soft shadows from every light
    camera_effects: bool = False  # white balance, tone curve, stitching vignette
    families: Families | None = None  # the diverse layout's families (None elsewhere)


# the camera and lighting of the furnished-room presets
_ROOMS_LOOK = dict(
    room_size_m=(2.8, 8.0),
    room_height_m=(2.4, 3.2),
    camera_height_m=(1.25, 1.85),
    max_tilt_deg=2.0,
    exposure=(0.7, 1.3),
    noise_sigma=(0.0, 0.02),
    blur_sigma=(0.0, 0.8),
    jpeg_quality=(75, 95),
    ambient_occlusion=True,
    camera_effects=True,
)

PRESETS: dict[str, Preset] = {
    "realistic": Preset(),
    "rooms": Preset(**_ROOMS_LOOK, layout="rooms"),
    "diverse": Preset(**_ROOMS_LOOK, layout="diverse", families=TRAINING),
    "diverse-heldout": Preset(**_ROOMS_LOOK, layout="diverse", families=HELD_OUT),
    "homes": Preset(**_ROOMS_LOOK, layout="diverse", families=HOMES),
    "compact": Preset(
        **{**_ROOMS_LOOK, "room_size_m": (1.0, 2.4)},
        shapes=("small",),
        layout="diverse",
        families=COMPACT,
    ),
    "easy": Preset(
        shapes=("box",),
        room_size_m=(3.0, 8.0),
        room_height_m=(2.5, 3.0),
        n_objects=(3, 6),
        openings=(0, 1),
        texture_scale_m=(0.5, 0.5),
        view_fixed_fraction=0.0,
        n_lights=(1, 1),
        camera_height_m=(1.2, 1.7),
        max_tilt_deg=2.0,
        exposure=(1.0, 1.0),
        noise_sigma=(0.0, 0.0),
        blur_sigma=(0.0, 0.0),
        jpeg_quality=(95, 95),
        shadows=False,
    ),
}

# --------------------------------------------------------------------------- materials


@dataclass(frozen=True)
class SceneSpec:
    """A generated scene: meshes (one per object), materials, lights and camera poses."""

    scene_id: str
    meshes: list  # [(name, vertices (N,3), triangles (M,3))]
    materials: dict  # arrays indexed by mesh id
    lights: np.ndarray  # (L, 4): x, y, z, power
    poses: list  # [T_world_from_cam (4,4)]
    params: dict


def _material(rng: np.random.Generator, preset: Preset, kind: str) -> dict:
    lo, hi = preset.texture_scale_m
    scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)
    if rng.random() < preset.view_fixed_fraction:
        pattern = "view"
    elif kind in ("floor", "ceiling"):
        pattern = str(rng.choice(["checker", "noise", "plain", "marble", "stripes"]))
    else:
        pattern = str(rng.choice(["plain", "checker", "stripes", "noise", "marble"]))
    base = rng.uniform(0.15, 0.9, 3)
    second = np.clip(base * rng.uniform(0.4, 1.2, 3) + rng.normal(0, 0.08, 3), 0.02, 1.0)
    return {
        "pattern": PATTERNS.index(pattern),
        "scale": scale,
        "a": base,
        "b": second,
        "angle": float(rng.uniform(0, math.pi)),
        "offset": rng.uniform(-10, 10, 2),
        "emit": 0.0,
    }


class _Builder:
    """Meshes and materials of a scene being generated; ``add`` draws the material from ``rng``
    (so the order of calls fixes the random stream)."""

    def __init__(self, rng: np.random.Generator, preset: Preset):
        self.rng, self.preset = rng, preset
        self.meshes: list = []
        self.mats: list = []

    def add(self, name: str, vt, kind: str = "object") -> None:
        self.meshes.append((name, vt[0].astype(np.float32), vt[1].astype(np.uint32)))
        self.mats.append(_material(self.rng, self.preset, kind))


def _add_shell(b: _Builder, rects, outline, H: float) -> list:
    """Walls with door/window openings, floor and ceiling; returns the walls' end points."""
    rng, preset = b.rng, b.preset
    n_open = int(rng.integers(preset.openings[0], preset.openings[1] + 1))
    walls = list(zip(outline, outline[1:] + outline[:1], strict=True))
    lengths = [math.dist(p, q) for p, q in walls]
    open_on = rng.choice(len(walls), size=min(n_open, len(walls)), replace=False)
    wall_parts = []
    for i, (p, q) in enumerate(walls):
        ops = []
        if i in open_on and lengths[i] > 1.6:
            door = rng.random() < 0.5
            w = rng.uniform(0.8, 1.2) if door else rng.uniform(0.8, min(2.0, lengths[i] - 0.6))
            w = min(w, lengths[i] - 0.6)  # short walls: a narrower door
            s0 = rng.uniform(0.3, max(0.3, lengths[i] - w - 0.3))
            u0 = 0.0 if door else rng.uniform(0.7, 1.0)
            u1 = min(rng.uniform(2.0, 2.3), H - 0.15)
            ops.append((s0, s0 + w, u0, u1))
        wall_parts.append(_wall(p, q, -H, ops))
    b.add("walls", _merge(wall_parts), "wall")
    floor = [_quad((x0, 0, z0), (x1, 0, z0), (x1, 0, z1), (x0, 0, z1)) for x0, z0, x1, z1 in rects]
    b.add("floor", _merge(floor), "floor")
    ceil = [
        _quad((x0, -H, z0), (x0, -H, z1), (x1, -H, z1), (x1, -H, z0)) for x0, z0, x1, z1 in rects
    ]
    b.add("ceiling", _merge(ceil), "ceiling")
    return walls


def _add_outside(b: _Builder) -> None:
    """The outer space seen through the openings: far walls 12-40 m away, a few far blocks."""
    rng = b.rng
    R = float(rng.uniform(12, 40))
    b.add("outside", _box(0, 0, 2 * R, 2 * R, 3.0, -rng.uniform(8, 20)), "wall")
    for k in range(3):
        ang = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(10, R - 2)
        w, d, y1 = rng.uniform(1, 6), rng.uniform(1, 6), -rng.uniform(2, 8)
        b.add(
            f"far_{k}",
            _box(dist * math.cos(ang), dist * math.sin(ang), w, d, 3.0, y1, rng.uniform(0, 3)),
        )


def _wall_panel(b: _Builder, k: int, walls, H: float) -> None:
    """A wall-mounted panel (picture, cabinet, screen) on a random wall."""
    rng = b.rng
    (ax, az), (bx2, bz2) = walls[int(rng.integers(len(walls)))]
    L = math.dist((ax, az), (bx2, bz2))
    pw = rng.uniform(0.3, min(1.8, L - 0.4))
    s = rng.uniform(pw / 2 + 0.1, L - pw / 2 - 0.1)
    e = ((bx2 - ax) / L, (bz2 - az) / L)
    nrm = (-e[1], e[0])  # inward for a counter-clockwise outline in (x, z)
    depth = rng.uniform(0.02, 0.35)
    cx = ax + s * e[0] + nrm[0] * (depth / 2 + 0.005)
    cz = az + s * e[1] + nrm[1] * (depth / 2 + 0.005)
    y0 = -rng.uniform(0.8, max(0.9, H - 1.0))
    wyaw = math.atan2(e[1], e[0])
    b.add(f"wall_{k}", _box(cx, cz, pw, depth, y0, y0 - rng.uniform(0.2, 0.9), -wyaw))


def _add_object(b: _Builder, k: int, kind: str, place, H: float, floor_boxes, footprints):
    """One piece of furniture of ``kind`` at ``place = (x, z, w, d, radius, yaw)``."""
    rng = b.rng
    x, z, w, d, rad, yaw = place
    if kind == "box" or (kind == "stack" and not floor_boxes):
        h = rng.uniform(0.3, min(2.2, H - 0.2))
        b.add(f"box_{k}", _box(x, z, w, d, 0.0, -h, yaw))
        floor_boxes.append((x, z, w, d, h, yaw))
        footprints.append((x, z, rad))
    elif kind == "stack":
        bx, bz, bw, bd, bh, byaw = floor_boxes[int(rng.integers(len(floor_boxes)))]
        h2 = rng.uniform(0.15, 0.6)
        if bh + h2 < H - 0.1:
            sw, sd = bw * rng.uniform(0.3, 0.8), bd * rng.uniform(0.3, 0.8)
            b.add(f"stack_{k}", _box(bx, bz, sw, sd, -bh, -bh - h2, byaw + rng.uniform(-0.5, 0.5)))
    elif kind == "cylinder":
        r = rng.uniform(0.08, 0.45)
        b.add(f"cyl_{k}", _cylinder(x, z, r, 0.0, -rng.uniform(0.3, min(2.5, H - 0.1))))
        footprints.append((x, z, r))
    elif kind == "table":
        h, t, leg = rng.uniform(0.45, 1.1), rng.uniform(0.025, 0.06), rng.uniform(0.03, 0.07)
        b.add(f"table_{k}", _table(x, z, w, d, h, t, leg, yaw))
        footprints.append((x, z, rad))


def _add_furniture(b: _Builder, rects, walls, H: float, bounds) -> list:
    """Boxes, stacks, cylinders, tables and wall panels; returns camera keep-out circles
    ``(x, z, radius)``."""
    rng, preset = b.rng, b.preset
    x_lo, x_hi, z_lo, z_hi = bounds
    footprints: list = []
    floor_boxes: list = []
    n_obj = int(rng.integers(preset.n_objects[0], preset.n_objects[1] + 1))
    for k in range(n_obj):
        kind = str(rng.choice(["box", "box", "cylinder", "table", "stack", "wall"]))
        for _ in range(30):
            x, z = rng.uniform(x_lo, x_hi), rng.uniform(z_lo, z_hi)
            w, d = rng.uniform(0.3, 1.8), rng.uniform(0.3, 1.2)
            rad = 0.5 * math.hypot(w, d)
            if _inside(rects, x, z, rad + 0.05):
                break
        else:
            continue
        yaw = float(rng.uniform(0, math.pi)) if rng.random() < 0.6 else 0.0
        if kind == "wall":
            _wall_panel(b, k, walls, H)
        else:
            _add_object(b, k, kind, (x, z, w, d, rad, yaw), H, floor_boxes, footprints)
    return footprints


def _add_lights(rng: np.random.Generator, preset: Preset, rects, H: float, bounds) -> list:
    """Point lights near the ceiling: ``(x, y, z, intensity)``."""
    x_lo, x_hi, z_lo, z_hi = bounds
    lights = []
    for _ in range(int(rng.integers(preset.n_lights[0], preset.n_lights[1] + 1))):
        for _ in range(50):
            lx, lz = rng.uniform(x_lo, x_hi), rng.uniform(z_lo, z_hi)
            if _inside(rects, lx, lz, 0.3):
                break
        lights.append((lx, -H + rng.uniform(0.1, 0.4), lz, rng.uniform(0.5, 2.0)))
    return lights


def _camera_xz(rng, rects, bounds, footprints, centres) -> tuple[float, float]:
    """A camera position inside the room, away from walls and furniture, 0.5-4 m from the
    previous cameras. A camera is never outside the room or inside furniture: when no draw
    meets every rule (small crowded rooms), the inside draw farthest from furniture is used."""
    x_lo, x_hi, z_lo, z_hi = bounds
    best, best_clear = None, -math.inf
    for attempt in range(500):
        x, z = rng.uniform(x_lo, x_hi), rng.uniform(z_lo, z_hi)
        if not _inside(rects, x, z, 0.4):
            continue
        clear = min(
            (math.hypot(x - fx, z - fz) - fr for fx, fz, fr in footprints), default=math.inf
        )
        if clear > best_clear:
            best, best_clear = (x, z), clear
        if clear < 0.3:
            continue
        if centres and attempt < 400:
            b = min(math.hypot(x - cx, z - cz) for cx, _, cz in centres)
            if not 0.5 <= b <= 4.0:
                continue
        return x, z
    if best is None:
        raise RuntimeError("no camera position inside the room (generator bug)")
    return best


def _cameras(rng, preset: Preset, n_views: int, rects, bounds, footprints, H: float):
    """``n_views`` poses ``T_world_from_cam`` and their centres."""
    poses, centres = [], []
    tilt = math.radians(preset.max_tilt_deg)
    for _ in range(n_views):
        x, z = _camera_xz(rng, rects, bounds, footprints, centres)
        h = min(rng.uniform(*preset.camera_height_m), H - 0.3)
        centre = (x, -h, z)
        yaw = rng.uniform(-math.pi, math.pi)
        poses.append(
            pose_from_yaw_pitch_roll(
                yaw, rng.uniform(-tilt, tilt), rng.uniform(-tilt, tilt), centre
            )
        )
        centres.append(centre)
    return poses, centres


def _boxes_scene(rng, preset: Preset):
    """The ``boxes`` layout: parts, lights, rects, bounds, footprints and height."""
    shape = str(rng.choice(list(preset.shapes)))
    rects, outline = _polygon(shape, rng, preset.room_size_m)
    H = float(rng.uniform(*preset.room_height_m))
    b = _Builder(rng, preset)
    walls = _add_shell(b, rects, outline, H)
    _add_outside(b)
    bounds = (
        min(r[0] for r in rects),
        max(r[2] for r in rects),
        min(r[1] for r in rects),
        max(r[3] for r in rects),
    )
    footprints = _add_furniture(b, rects, walls, H, bounds)
    lights = _add_lights(rng, preset, rects, H, bounds)
    parts = [(name, (v, t), m) for (name, v, t), m in zip(b.meshes, b.mats, strict=True)]
    return parts, lights, rects, bounds, footprints, H, shape


def _draw_scene_id(rng: np.random.Generator) -> str:
    """A scene's id: a UUID from the first 16 bytes its geometry generator draws."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def make_scene(seed: int | np.random.SeedSequence, n_views: int, preset: Preset) -> SceneSpec:
    """Generate a scene's geometry, materials, lights and ``n_views`` camera poses."""
    rng = np.random.default_rng(seed)
    scene_id = _draw_scene_id(rng)
    if preset.layout == "diverse":
        return _diverse_scene(rng, scene_id, n_views, preset)
    if preset.layout == "rooms":
        parts, lights, rects, bounds, footprints, H = build_room(
            rng, preset.shapes, preset.room_size_m, preset.room_height_m
        )
        shape = "L" if len(rects) > 1 else "box"
        n_objects = len(parts)
    else:
        parts, lights, rects, bounds, footprints, H, shape = _boxes_scene(rng, preset)
        n_objects = len(parts) - 4 - 3
    poses, centres = _cameras(rng, preset, n_views, rects, bounds, footprints, H)
    params = {"shape": shape, **_room_params(H, n_objects, lights, centres, poses)}
    return _spec(scene_id, parts, lights, poses, params)


def _room_params(H: float, n_objects: int, lights, centres, poses) -> dict:
    """The generator parameters every layout records: room height (m), counts, camera heights
    (m) and yaws (rad)."""
    return {
        "room_height_m": round(H, 4),
        "n_objects": n_objects,
        "n_lights": len(lights),
        "camera_heights_m": [round(-c[1], 4) for c in centres],
        "yaws_rad": [round(float(np.arctan2(T[0, 2], T[2, 2])), 6) for T in poses],
    }


def _spec(scene_id, parts, lights, poses, params) -> SceneSpec:
    meshes = [(n, vt[0].astype(np.float32), vt[1].astype(np.uint32)) for n, vt, _ in parts]
    mats = [m for _, _, m in parts]
    mat_arrays = {
        key: np.array([m[key] for m in mats], np.int32 if key == "pattern" else np.float32)
        for key in ("pattern", "scale", "a", "b", "angle", "offset", "emit")
    }
    return SceneSpec(scene_id, meshes, mat_arrays, np.array(lights), poses, params)


def _diverse_scene(rng, scene_id: str, n_views: int, preset: Preset) -> SceneSpec:
    """A scene of the ``diverse`` layout (:mod:`workbench.data.diverse`)."""
    parts, lights, scene = _build_diverse(rng, preset.families)
    poses, centres, near, used = _diverse_cameras(
        rng, n_views, scene, preset.camera_height_m, preset.max_tilt_deg,
        preset.families.placements, _camera_xz,
    )  # fmt: skip
    params = {
        "shape": scene["shape"],
        "ceiling": scene["ceiling"],
        "palette": scene["palette_name"],
        "placements": used,
        **({"empty": True} if scene["empty"] else {}),
        **_room_params(scene["H"], len(parts) + len(near), lights, centres, poses),
    }
    return _spec(scene_id, parts + near, lights, poses, params)


# --------------------------------------------------------------------------- rendering


def _hash2(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    h = (ix * 374761393 + iy * 668265263 + seed * 1442695041) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65535.0


def _value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = x0.astype(np.int64), y0.astype(np.int64)
    a, b = _hash2(ix, iy, seed), _hash2(ix + 1, iy, seed)
    c, d = _hash2(ix, iy + 1, seed), _hash2(ix + 1, iy + 1, seed)
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy


def _texture(uv: np.ndarray, mat: dict, gid: np.ndarray, seed: int) -> np.ndarray:
    """Albedo ``(N, 3)`` from 2D texture coordinates ``uv (N, 2)`` (metres, or radians for
    view-fixed materials) and per-pixel material ids."""
    pat = mat["pattern"][gid]
    s = mat["scale"][gid]
    ang = mat["angle"][gid]
    ca, sa = np.cos(ang), np.sin(ang)
    u = (uv[:, 0] * ca - uv[:, 1] * sa) / s + mat["offset"][gid, 0]
    v = (uv[:, 0] * sa + uv[:, 1] * ca) / s + mat["offset"][gid, 1]
    t = np.zeros(len(u), np.float32)
    m = pat == 1
    t[m] = (np.floor(u[m]) + np.floor(v[m])) % 2
    m = pat == 2
    t[m] = np.floor(u[m]) % 2
    m = (pat == 3) | (pat == 5)
    t[m] = 0.65 * _value_noise(u[m], v[m], seed) + 0.35 * _value_noise(4 * u[m], 4 * v[m], seed + 1)
    m = pat == 4
    t[m] = 0.5 + 0.5 * np.sin(2 * u[m] + 3 * _value_noise(u[m], v[m], seed + 2))
    if (pat >= 6).any():
        _room_patterns(t, pat, u, v, uv, s, seed)
    fine = _value_noise(u * 7.0, v * 7.0, seed + 3)
    t = np.clip(t * 0.9 + 0.1 * fine, 0, 1)[:, None]
    albedo = mat["a"][gid] * (1 - t) + mat["b"][gid] * t
    m = pat == 11
    if m.any():  # paintings: three independent colour fields
        for ch in range(3):
            albedo[m, ch] = (
                0.05 + 0.85 * _value_noise(u[m] * 0.7, v[m] * 0.7, seed + 20 + ch) ** 1.5
            )
    return albedo


def _room_patterns(t, pat, u, v, uv, s, seed) -> None:
    """The ``rooms`` preset's patterns, written into ``t`` (blend from colour a to b) in place:
    wood planks, tiles with grout, carpet, plaster, fabric, screens, sky over far ground."""
    m = pat == 6  # wood: planks of width scale, staggered ends, grain, dark joints
    if m.any():
        k = np.floor(v[m])
        along = u[m] * s[m] / 1.2 + _hash2(k.astype(np.int64), 7, seed)
        tint = _hash2(k.astype(np.int64), np.floor(along).astype(np.int64), seed + 1)
        grain = _value_noise(u[m] * s[m] * 3.0, v[m] * 8.0, seed + 4)
        t[m] = 0.45 * tint + 0.35 * grain
        t[m] = np.where((v[m] - k < 0.04) | (along - np.floor(along) < 0.005), 1.0, t[m])
    m = pat == 7  # tiles: per-tile tint, grout lines ~6 mm
    if m.any():
        g = 0.006 / s[m]
        fu, fv = u[m] - np.floor(u[m]), v[m] - np.floor(v[m])
        tint = _hash2(np.floor(u[m]).astype(np.int64), np.floor(v[m]).astype(np.int64), seed + 5)
        t[m] = np.where((fu < g) | (fv < g), 1.0, 0.12 * tint)
    m = (pat == 8) | (pat == 10)  # carpet / fabric: fine pile and a soft low-frequency mottle
    if m.any():
        t[m] = 0.5 * _value_noise(u[m], v[m], seed + 6) + 0.3 * _value_noise(
            uv[m, 0] * 3, uv[m, 1] * 3, seed + 7
        )
    m = pat == 9  # plaster: almost uniform
    if m.any():
        t[m] = 0.08 * _value_noise(u[m], v[m], seed + 8)
    m = pat == 12  # screen: dark with a smooth reflection
    if m.any():
        t[m] = _value_noise(u[m] * 0.5, v[m] * 0.5, seed + 9)
    m = pat == 13  # sky: bright above 2 m from the floor, far ground and trees below
    if m.any():
        y = uv[m, 1]
        ground = np.clip((y + 2.0) * 2.0, 0, 1)
        t[m] = ground * (0.6 + 0.4 * _value_noise(u[m] * 4, v[m] * 4, seed + 10))


def build_raycaster(spec: SceneSpec):
    """open3d's ray-casting scene of every mesh of ``spec`` (what :func:`render_view` casts
    into; build it once per scene)."""
    scene = o3d.t.geometry.RaycastingScene()
    for _, v, t in spec.meshes:
        scene.add_triangles(o3d.core.Tensor(v), o3d.core.Tensor(t))
    return scene


def _hard_light(scene, spec, p, nrm, rng, shadows: bool) -> np.ndarray:
    """Ambient + Lambert from each light (inverse-square falloff softened), the first one
    shadowed: ``(N,)`` irradiance at points ``p (N, 3)`` with normals ``nrm``."""
    n = len(p)
    light = np.full(n, rng.uniform(0.25, 0.45), np.float32)
    for k, (lx, ly, lz, power) in enumerate(spec.lights):
        L = np.array([lx, ly, lz], np.float32) - p
        d2 = np.einsum("ij,ij->i", L, L)
        dist = np.sqrt(d2) + np.float32(1e-6)
        lam = np.einsum("ij,ij->i", nrm, L) / dist
        np.clip(lam, 0, None, out=lam)
        lam *= np.float32(power * 4.0) / (d2 + np.float32(4.0))
        L /= dist[:, None]
        if k == 0 and shadows:
            srays = np.concatenate([p + nrm * 2e-3, L], axis=1).astype(np.float32)
            st = scene.cast_rays(o3d.core.Tensor(srays))["t_hit"].numpy()
            lam *= np.where(st < dist - 1e-2, 0.25, 1.0)
        light += lam
    return light


def _ambient_occlusion(scene, p, nrm, rng, rays: int = 4, reach: float = 0.5) -> np.ndarray:
    """Fraction of ``rays`` cosine-weighted hemisphere rays from ``p`` that escape within
    ``reach`` metres: ``(N,)`` in [0, 1]."""
    n = len(p)
    free = np.zeros(n, np.float32)
    helper = np.where(np.abs(nrm[:, :1]) < 0.9, [[1, 0, 0]], [[0, 1, 0]]).astype(np.float32)
    t1 = np.cross(nrm, helper)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True) + 1e-9
    t2 = np.cross(nrm, t1)
    for _ in range(rays):
        r, a = np.sqrt(rng.random(n, np.float32)), rng.random(n, np.float32) * np.float32(6.2832)
        d = t1 * (r * np.cos(a))[:, None] + t2 * (r * np.sin(a))[:, None]
        d += nrm * np.sqrt(np.clip(1 - r * r, 0, 1))[:, None]
        q = np.concatenate([p + nrm * 2e-3, d], axis=1).astype(np.float32)
        free += scene.cast_rays(o3d.core.Tensor(q))["t_hit"].numpy() > reach
    return free / rays


def _soft_light(scene, spec, p, nrm, hit, rng) -> np.ndarray:
    """Ambient occlusion, and every light shadowed from a jittered point of a 10 cm source
    (soft shadow edges): ``(N,)`` irradiance."""
    ao = _ambient_occlusion(scene, p, nrm, rng)
    light = rng.uniform(0.2, 0.4) * (0.25 + 0.75 * ao)
    for lx, ly, lz, power in spec.lights:
        src = np.array([lx, ly, lz], np.float32) + rng.normal(0, 0.05, (len(p), 3)).astype(
            np.float32
        )
        L = src - p
        d2 = np.einsum("ij,ij->i", L, L)
        dist = np.sqrt(d2) + np.float32(1e-6)
        lam = np.clip(np.einsum("ij,ij->i", nrm, L) / dist, 0, None)
        lam *= np.float32(power * 4.0) / (d2 + np.float32(2.0))
        L /= dist[:, None]
        q = np.concatenate([p + nrm * 2e-3, L], axis=1).astype(np.float32)
        st = scene.cast_rays(o3d.core.Tensor(q))["t_hit"].numpy()
        light += lam * np.where(st < dist - 0.15, 0.1, 1.0) * (0.6 + 0.4 * ao)
    return np.where(hit, light, 0).astype(np.float32)


def _camera_response(img, rng, preset: Preset, emit) -> np.ndarray:
    """What a panorama camera does to linear radiance ``(H, W, 3)``: white balance of a warm or
    cool light, auto exposure on non-emissive pixels times a random factor, a stitching
    vignette (per-lens fall-off around the yaw circle), blur, noise and a filmic tone curve.
    Returns linear values in [0, 1] (gamma is applied by the caller)."""
    h, w, _ = img.shape
    img = img * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    ref = img[emit == 0] if (emit == 0).any() else img
    img *= np.float32(rng.uniform(*preset.exposure) / max(float(np.percentile(ref, 90)), 1e-3))
    lenses = int(rng.integers(3, 7))
    lon = np.linspace(0, 2 * np.pi, w, endpoint=False) + rng.uniform(0, 2 * np.pi)
    vig = 1 - rng.uniform(0, 0.12) * (0.5 - 0.5 * np.cos(lenses * lon))
    img *= vig.astype(np.float32)[None, :, None]
    sigma = rng.uniform(*preset.blur_sigma)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = img * (1 + img / 6.0) / (1 + img)  # Reinhard with a white point near 2.5
    img = img / (2.5 * (1 + 2.5 / 6.0) / 3.5)
    noise = np.float32(rng.uniform(*preset.noise_sigma))
    img += noise * np.sqrt(np.clip(img, 0, 1) + 0.01) * rng.standard_normal(img.shape, np.float32)
    return img


def render_view(
    spec: SceneSpec, scene, T: np.ndarray, height: int, rng: np.random.Generator, preset: Preset
) -> tuple[np.ndarray, np.ndarray]:
    """Ray cast one panorama.

    Returns:
        ``rgb (H, 2H, 3) uint8`` (before JPEG) and ``range (H, 2H) float32`` metres (0 on a miss).
    """

    h, w = height, 2 * height
    R, c = T[:3, :3].astype(np.float32), T[:3, 3].astype(np.float32)
    planes = ray_planes(h, w)
    n = h * w
    rays = np.empty((n, 6), np.float32)
    rays[:, :3] = c
    for i in range(3):  # world direction = R @ camera ray, plane by plane (fast)
        rays[:, 3 + i] = (R[i, 0] * planes[0] + R[i, 1] * planes[1] + R[i, 2] * planes[2]).ravel()
    ans = scene.cast_rays(o3d.core.Tensor(rays))
    t = ans["t_hit"].numpy()
    gid = ans["geometry_ids"].numpy().astype(np.int64)
    nrm = ans["primitive_normals"].numpy()
    hit = np.isfinite(t)
    gid[~hit] = 0
    t = np.where(hit, t, 0.0).astype(np.float32)
    d = rays[:, 3:]
    nrm *= np.where(np.einsum("ij,ij->i", nrm, d) > 0, np.float32(-1), np.float32(1))[:, None]
    p = d * t[:, None]
    p += c
    # texture coordinates: planar projection along the dominant normal axis, in metres
    ax = np.argmax(np.abs(nrm), axis=1)
    uv = np.empty((n, 2), np.float32)
    uv[:, 0] = np.where(ax == 0, p[:, 2], p[:, 0])
    uv[:, 1] = np.where(ax == 1, p[:, 2], p[:, 1])
    view = spec.materials["pattern"][gid] == 5
    if view.any():  # view-fixed texture: indexed by the pixel's direction, not the surface
        lonlat = np.stack(np.meshgrid(np.linspace(0, 2 * np.pi, w), np.linspace(0, np.pi, h)), -1)
        uv[view] = lonlat.reshape(-1, 2)[view] * 1.5
    seed = int(rng.integers(1 << 30))
    albedo = _texture(uv, spec.materials, gid, seed)
    if preset.ambient_occlusion:
        img = albedo * _soft_light(scene, spec, p, nrm, hit, rng)[:, None]
    else:
        img = albedo * _hard_light(scene, spec, p, nrm, rng, preset.shadows)[:, None]
    emit = spec.materials["emit"][gid]
    if preset.layout in ("rooms", "diverse"):
        img += albedo * emit[:, None]
    img = img.reshape(h, w, 3)
    if preset.camera_effects:
        img = _camera_response(img, rng, preset, emit.reshape(h, w))
    else:
        # exposure: auto (percentile) times a random factor, so brightness does not give scale away
        img *= rng.uniform(*preset.exposure) / max(float(np.percentile(img, 95)), 1e-3) * 0.85
        if preset.blur_sigma[1] > 0:
            sigma = rng.uniform(*preset.blur_sigma)
            if sigma > 0.3:
                img = cv2.GaussianBlur(img, (0, 0), sigma)
        if preset.noise_sigma[1] > 0:
            img += np.float32(rng.uniform(*preset.noise_sigma)) * rng.standard_normal(
                img.shape, dtype=np.float32
            )
    img = np.clip(img, 0, 1) ** (1 / 2.2)
    rgb = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return rgb, t.reshape(h, w)


# --------------------------------------------------------------------------- writing


def _obj_text(spec: SceneSpec) -> tuple[str, str]:
    lines = ["# workbench synthetic scene, world frame y down, metres", "mtllib scene.mtl"]
    mtl = []
    base = 1
    for i, (name, v, t) in enumerate(spec.meshes):
        lines.append(f"o {name}")
        lines.append(f"usemtl m{i}")
        lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in v]
        lines += [f"f {a + base} {b + base} {c + base}" for a, b, c in t]
        base += len(v)
        r, g, b = spec.materials["a"][i]
        mtl.append(f"newmtl m{i}\nKd {r:.4f} {g:.4f} {b:.4f}\n")
    return "\n".join(lines) + "\n", "\n".join(mtl)


def write_scene(
    spec: SceneSpec,
    root: Path,
    height: int,
    low_height: int,
    rng: np.random.Generator,
    preset: Preset,
    preset_name: str,
) -> list[Path]:
    """Render every view of ``spec`` and write the scene in the seed layout under ``root``."""
    scene_dir = root / spec.scene_id
    raycaster = build_raycaster(spec)
    written = []
    for i, T in enumerate(spec.poses):
        view = f"{i:03d}"
        rgb, rng_m = render_view(spec, raycaster, T, height, rng, preset)
        q = int(rng.integers(preset.jpeg_quality[0], preset.jpeg_quality[1] + 1))
        written.append(write_image(scene_dir / "pan/high" / f"{view}.jpg", rgb, quality=q))
        low = rgb if low_height == height else resize_rgb(rgb, low_height)
        written.append(write_image(scene_dir / "pan/low" / f"{view}.jpg", low, quality=q))
        mm = depth_to_png(rng_m, 1000.0)  # millimetres; beyond 65.5 m: missing (0)
        written.append(write_image(scene_dir / "depth" / f"{view}.png", mm))
        written.append(write_pose(scene_dir / "pose" / f"{view}.txt", T))
    obj, mtl = _obj_text(spec)
    write_text_atomic(scene_dir / "obj/scene.obj", obj)
    write_text_atomic(scene_dir / "obj/scene.mtl", mtl)
    # written last: a scene with this file is finished (a re-run keeps it, see _finished)
    write_text_atomic(scene_dir / "others/meta.json", _meta_text(spec, height, preset, preset_name))
    return written


def _preset_record(preset: Preset) -> dict:
    """The preset's fields for ``meta.json``; the families' extras added after a preset's
    scenes were first rendered (``closed_doors``, ``empty``) only where drawn, so that its
    ``meta.json`` stays byte for byte what an earlier version wrote and a re-run resumes."""
    record = {k: v for k, v in asdict(preset).items() if v is not None}
    if "families" in record:
        fam = record["families"]
        record["families"] = {k: v for k, v in fam.items() if v or k not in _LATER_EXTRAS}
    return record


_LATER_EXTRAS = ("closed_doors", "empty")


def _meta_text(spec: SceneSpec, height: int, preset: Preset, preset_name: str) -> str:
    """The scene's ``others/meta.json``: depth scale and every generator parameter."""
    generator = {
        "preset": preset_name,
        **_preset_record(preset),
        **spec.params,
        "size": [height, 2 * height],
    }
    meta = {"source": "workbench.synth", "depth_scale": 1000.0, "generator": generator}
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


def _finished(scene_dir: Path, spec: SceneSpec, height: int, low_height: int, p, name) -> bool:
    """Whether an earlier run wrote this very scene completely: its ``meta.json`` (written
    last) is the one this run would write, every view's four files are there and the low
    shots have ``low_height`` rows."""
    meta = scene_dir / "others/meta.json"
    try:
        if meta.read_text() != _meta_text(spec, height, p, name):
            return False
    except (OSError, UnicodeDecodeError):
        return False
    views = [f"{i:03d}" for i in range(len(spec.poses))]
    parts = ("pan/high/{}.jpg", "pan/low/{}.jpg", "depth/{}.png", "pose/{}.txt")
    if not all((scene_dir / part.format(v)).is_file() for v in views for part in parts):
        return False
    low = cv2.imread(str(scene_dir / "pan/low" / f"{views[0]}.jpg"))
    return low is not None and low.shape[0] == low_height


def scene_id_of(child: np.random.SeedSequence) -> str:
    """The id of the scene :func:`_scene_job` makes from ``child`` (the first draw of its
    geometry seed, ``child.spawn(2)[0]``), computed without spawning from ``child``."""
    geo = np.random.SeedSequence(child.entropy, spawn_key=(*child.spawn_key, 0))
    return _draw_scene_id(np.random.default_rng(geo))


def _check_earlier_scenes(root: Path, ids: list[str], preset: str, seed: int, views: int) -> None:
    """Scene ids depend on ``--seed`` alone: refuse, before any work, to write over a scene an
    earlier run made with another preset (a re-run of the same preset resumes or redoes it),
    or to redo one with fewer views than it holds (its later views would stay beside a new
    scene they do not belong to).

    Raises:
        WorkbenchError: naming the scene folder and ``--seed`` or ``--views``.
    """
    for sid in ids:
        held = len(list((root / sid / "pose").glob("*.txt")))
        if held > views:
            raise WorkbenchError(
                f"{root / sid} holds {held} views of an earlier run: --views {views} would leave "
                f"its views {views:03d}-{held - 1:03d} beside a new scene; use --views {held} "
                "or another --out",
                "--views",
            )
        try:
            meta = json.loads((root / sid / "others/meta.json").read_text())
            earlier = meta["generator"]["preset"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if earlier != preset:
            raise WorkbenchError(
                f"{root / sid} holds a --preset {earlier} scene that --preset {preset} with "
                f"--seed {seed} would write over: pick another --seed or --out",
                "--seed",
            )


def _scene_job(job) -> tuple[str, bool]:
    """One engine task: render and write one scene; ``(scene id, whether it was kept from an
    earlier run instead)``."""
    child, views, height, low_height, preset, root = job
    p = PRESETS[preset]
    geo_seed, render_seed = child.spawn(2)
    spec = make_scene(geo_seed, views, p)
    if _finished(Path(root) / spec.scene_id, spec, height, low_height, p, preset):
        return spec.scene_id, True
    write_scene(spec, Path(root), height, low_height, np.random.default_rng(render_seed), p, preset)
    return spec.scene_id, False


def generate(
    out: str | Path,
    scenes: int,
    views: int,
    seed: int = 0,
    height: int = 256,
    low_height: int | None = None,
    preset: str = "realistic",
    progress: bool = True,
    workers: int | None = None,
    scheduler: str = "",
) -> list[str]:
    """Generate ``scenes`` scenes of ``views`` views each under ``out`` (seed layout).

    Scene ``i`` depends only on ``(seed, i)``: generating more scenes keeps the earlier ones, a
    re-run keeps every scene an earlier (killed) run finished and renders the others, and
    the files do not depend on ``workers`` or on the engine (:func:`workbench.engine.run_tasks`:
    scenes render on ``workers`` threads of this process — open3d's ray casting and OpenCV's
    encoders release the GIL; 2.2x the views/s of a fresh 2-process Dask cluster at 160 views
    on 2 cores — or on the Dask cluster at ``scheduler``, whose workers must see ``out``).

    Returns:
        The scene ids, in order.
    """

    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if scenes < 1 or views < 1:
        raise ValueError(f"scenes and views must be >= 1, got {scenes} and {views}")
    low_height = height if low_height is None else min(low_height, height)

    root = Path(out)
    children = np.random.SeedSequence(seed).spawn(scenes)
    _check_earlier_scenes(root, [scene_id_of(c) for c in children], preset, seed, views)
    if root.is_dir():  # killed runs' temporaries (never read) go; nothing else is touched
        sweep_temporaries(root)
    jobs = [(child, views, height, low_height, preset, str(root)) for child in children]
    t0 = time.perf_counter()
    workers = max(1, min(workers or os.cpu_count() or 1, scenes))
    results = run_tasks(_scene_job, jobs, workers, scheduler, "synth", progress, "threads")
    for _, result in results:
        if isinstance(result, Exception):
            raise result
    ids = [result[0] for _, result in results]
    kept = sum(result[1] for _, result in results)
    dt = time.perf_counter() - t0
    if progress:
        made = (scenes - kept) * views
        note = f"; {kept} finished scenes of an earlier run kept" if kept else ""
        print(f"synth: {made} views in {dt:.1f} s ({made / dt:.1f} views/s){note}")
    return ids


SYNTH_MARKER = ".workbench-synth"


def _earlier_synth(out: Path, layout: str, encoding: str) -> bool:
    """Whether ``out`` holds an earlier ``synth --layout layout --encoding encoding``: its
    description file (written last), or the marker of a run killed before it."""
    try:
        if (out / SYNTH_MARKER).read_text() == f"{layout} {encoding}\n":
            return True
    except (OSError, ValueError):
        pass
    if layout == "rgbd-folder":
        try:
            return json.loads((out / "dataset.json").read_text()) == {"encoding": encoding}
        except (OSError, ValueError):
            return False
    kind = "real" if encoding == "real" else "synthetic"
    return (out / "metadata" / f"class_mapping_{kind}.json").is_file()


def _check_out(out: Path, layout: str, encoding: str) -> None:
    """Where ``synth`` may write.

    The seed layout writes beside whatever ``out`` holds: only into scene folders named by the
    seed's scene ids (UUIDs), so a user's files are never written over or under. The other
    layouts write fixed names (``rgb/``, ``depth/``, ``dataset.json``, ``metadata/``), so they
    need ``out`` empty (hidden files aside) or holding an earlier ``synth`` of the same layout
    and encoding (:func:`_earlier_synth`). The seed layout is not written beside a dataset of
    another layout either (the folder would then read as a seed dataset, the other hidden).

    Raises:
        WorkbenchError: naming ``--out`` when it holds other files.
    """
    if layout == "seed" and out.is_dir():
        try:
            held = detect_layout(out)
        except WorkbenchError:  # no dataset there: seed scenes go beside the user's files
            return
        if held != "seed":
            raise WorkbenchError(
                f"{out} holds a {held} dataset (seed scenes beside it would hide it from every "
                "verb): pick a new or empty --out",
                "--out",
            )
        return
    if layout == "seed" or not out.is_dir() or _earlier_synth(out, layout, encoding):
        return
    if any(not p.name.startswith(".") for p in out.iterdir()):
        raise WorkbenchError(
            f"{out} is not empty (--layout {layout} writes rgb/, depth/, metadata/ and the like "
            "and never into a user's folder: pick a new or empty --out)",
            "--out",
        )


def run(config) -> int:
    """CLI entry: ``workbench synth`` (other layouts are rendered in the seed layout first)."""

    _, h = parse_size(config.size)
    _, low_h = parse_size(config.low_size, "--low-size")
    allowed = CONVERT_ENCODINGS.get(config.layout, ())
    if config.encoding and config.encoding not in allowed:
        raise WorkbenchError(
            f"--layout {config.layout} takes {', '.join(allowed) or 'no encoding'}, "
            f"got {config.encoding!r}",
            "--encoding",
        )
    if config.scheduler and config.layout != "seed":
        raise WorkbenchError(
            "a cluster writes the seed layout only (convert it afterwards with --layout on a "
            "local run)",
            "--scheduler",
        )
    encoding = config.encoding or CONVERT_ENCODINGS.get(config.layout, ("",))[0]
    _check_out(Path(config.out), config.layout, encoding)
    marker = Path(config.out) / SYNTH_MARKER
    if config.layout != "seed":  # a killed run's re-run is recognised as this one's
        write_text_atomic(marker, f"{config.layout} {encoding}\n")
    with tempfile.TemporaryDirectory() as tmp:
        target = config.out if config.layout == "seed" else tmp
        generate(
            target,
            config.scenes,
            config.views,
            config.seed,
            h,
            low_h,
            config.preset,
            workers=config.workers,
            scheduler=config.scheduler,
            progress=config.progress,
        )
        if config.layout != "seed":
            convert_seed(tmp, config.out, config.layout, config.seed, config.encoding)
            marker.unlink()  # the description file, written last, now says it
    print(f"synth: {config.scenes} scenes x {config.views} views in {config.out}")
    return 0
