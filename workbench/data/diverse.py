"""The ``diverse`` presets: the furnished rooms of :mod:`workbench.data.rooms` widened along the
axes a depth model fails on, in named families that can be held out of training.

Families (one value per scene; the placement one per view):

- ``shape``: ``box``, ``L``, ``T``, ``U`` (sides 2.8-8 m), ``corridor`` (1.0-1.8 m wide, 4-12 m
  long), ``open`` (open plan, sides 8-14 m) and ``small`` (closets, bathrooms, pantries: a box
  with sides 1.0-2.4 m, walls within arm's reach; drawn by the ``compact`` preset only).
- ``ceiling``: ``flat`` (2.4-3.2 m), ``double`` (double height, 4.2-6 m) and ``attic`` (a box
  room 2.6-3.6 m high whose ceiling slopes down to a 0.9-1.6 m knee wall along one or two
  walls; other shapes keep a flat ceiling).
- ``placement`` (per view): ``centre`` (the rooms preset's rule: away from walls and
  furniture), ``wall`` (0.12-0.5 m from a wall), ``corner`` (0.15-0.6 m from both walls of a
  corner), ``near`` (an object 0.1-0.5 m from the camera: a column, a post, a stand or a tall
  cabinet), ``doorway`` (in a door opening, up to 0.2 m into the room). A placement no draw
  satisfies falls back to ``centre``; the one used is recorded.
- ``palette``: ``real`` (the rooms preset's real-world albedo), ``vivid`` (saturated colours,
  procedural patterns at random scales) and ``dark`` (dark walls, floors and furniture).

Independently of the families, per scene: stairs along a wall, clutter (small boxes and
cylinders, 0.1-0.6 m), sunlight patches on the floor and strong windows (a brighter sky).

:data:`HELD_OUT` names the families that never appear in a training preset: the
``diverse-heldout`` preset draws only them, so a model trained on ``diverse`` is measured on
shapes, placements and palettes it never saw. World frame as in :mod:`workbench.data.rooms`:
y down, floor ``y = 0``, ceiling ``y = -H``, metres.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from workbench.data.primitives import box, cylinder, inside, merge, polygon, quad
from workbench.data.rooms import build_room, keepout_circles, mat, real_palette
from workbench.geometry.pose import pose_from_yaw_pitch_roll

__all__ = [
    "Families",
    "TRAINING",
    "COMPACT",
    "HOMES",
    "HELD_OUT",
    "HELD_OUT_VALUES",
    "build_diverse",
    "cameras",
]

SHAPES = ("box", "L", "T", "U", "corridor", "open", "small")
CEILINGS = ("flat", "double", "attic")
PLACEMENTS = ("centre", "wall", "corner", "near", "doorway")
PALETTES = ("real", "vivid", "dark")


@dataclass(frozen=True)
class Families:
    """Which family values a preset draws (uniformly over each tuple; repeat a value to weight
    it) and how often the per-scene extras appear (fractions of scenes in [0, 1])."""

    shapes: tuple[str, ...]
    ceilings: tuple[str, ...]
    placements: tuple[str, ...]
    palettes: tuple[str, ...]
    stairs: float = 0.25
    clutter: float = 0.5
    sun: float = 0.35
    strong_windows: float = 0.3
    closed_doors: float = 0.0  # fraction of doors closed (a leaf in the opening, no room behind)
    empty: float = 0.0  # fraction of scenes left unfurnished (no furniture, no clutter)


# families held out of every training preset, by Families field
HELD_OUT_VALUES = {"shapes": ("U",), "placements": ("corner",), "palettes": ("dark",)}

TRAINING = Families(
    shapes=("box", "box", "L", "T", "corridor", "open"),
    ceilings=("flat", "flat", "double", "attic"),
    placements=("centre", "centre", "wall", "near", "near", "doorway"),
    palettes=("real", "real", "vivid"),
)
# small rooms (a preset of their own, so that ``diverse`` renders as it always has)
COMPACT = Families(
    shapes=("small",),
    ceilings=("flat",),
    placements=("centre", "centre", "wall", "near", "doorway"),
    palettes=("real", "real", "vivid"),
    stairs=0.0,
)
# what real homes' captures show that ``diverse`` lacks: closed doors (painted or wood) and
# empty, unfurnished rooms (a preset of its own, so that ``diverse`` renders as it always has)
HOMES = Families(
    shapes=TRAINING.shapes,
    ceilings=TRAINING.ceilings,
    placements=TRAINING.placements,
    palettes=TRAINING.palettes,
    closed_doors=0.5,
    empty=0.3,
)
HELD_OUT = Families(
    shapes=HELD_OUT_VALUES["shapes"],
    ceilings=("flat", "double", "attic"),
    placements=HELD_OUT_VALUES["placements"],
    palettes=HELD_OUT_VALUES["palettes"],
)


def _footprint(rng: np.random.Generator, shape: str, ceiling: str):
    """``(rects, outline, H, ceiling)``; an attic is kept only on a box room."""
    if shape == "corridor":
        w, length = rng.uniform(1.0, 1.8), rng.uniform(4.0, 12.0)
        rects, outline = polygon("box", rng, (1.0, 1.0))
        sx, sz = (w, length) if rng.random() < 0.5 else (length, w)
        rects = [(a * sx, b * sz, c * sx, d * sz) for a, b, c, d in rects]
        outline = [(x * sx, z * sz) for x, z in outline]
    else:
        size = {"open": (8.0, 14.0), "small": (1.0, 2.4)}.get(shape, (2.8, 8.0))
        rects, outline = polygon("box" if shape in ("open", "small") else shape, rng, size)
    if ceiling == "attic" and shape != "box":
        ceiling = "flat"
    H = float(
        rng.uniform(*{"flat": (2.4, 3.2), "double": (4.2, 6.0), "attic": (2.6, 3.6)}[ceiling])
    )
    return rects, outline, H, ceiling


def _colour(rng, saturation=(0.45, 1.0), value=(0.3, 0.95)) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*saturation), rng.uniform(*value))


def _patterned(rng, a, b) -> dict:
    """A procedural material (plain, checker, stripes, noise, marble) at a log-uniform scale."""
    pattern = str(rng.choice(["plain", "checker", "stripes", "noise", "marble"]))
    scale = float(math.exp(rng.uniform(math.log(0.05), math.log(1.5))))
    return mat(rng, pattern, a, b, scale, float(rng.uniform(0, math.pi)))


def draw_palette(rng: np.random.Generator, name: str) -> dict:
    """The room's materials for palette ``name`` (keys of :func:`rooms.real_palette`)."""
    if name == "real":
        return real_palette(rng)
    if name == "vivid":
        return {
            "wall": _patterned(rng, _colour(rng), _colour(rng)),
            "ceiling": _patterned(rng, _colour(rng, (0, 0.4), (0.6, 0.95)), _colour(rng)),
            "floor": _patterned(rng, _colour(rng), _colour(rng)),
            "wood": _colour(rng),
            "fabric": _colour(rng),
            "trim": _colour(rng),
        }
    if name != "dark":
        raise ValueError(f"unknown palette {name!r}")
    dark = (0.0, 0.6), (0.04, 0.2)
    light_ceiling = rng.random() < 0.5
    return {
        "wall": mat(rng, "plaster", _colour(rng, *dark), None, 0.8),
        "ceiling": mat(rng, "plaster", (0.8, 0.8, 0.78) if light_ceiling else _colour(rng, *dark)),
        "floor": mat(
            rng, str(rng.choice(["wood", "tile", "carpet"])), _colour(rng, *dark), None, 0.2
        ),
        "wood": _colour(rng, *dark),
        "fabric": _colour(rng, *dark),
        "trim": _colour(rng, *dark),
    }


def _wall_frame(outline, i: int):
    """Start point, unit direction and inward normal (x, z) of outline segment ``i``, and its
    length."""
    (ax, az), (bx, bz) = outline[i], outline[(i + 1) % len(outline)]
    L = math.hypot(bx - ax, bz - az)
    e = ((bx - ax) / L, (bz - az) / L)
    return (ax, az), e, (-e[1], e[0]), L


def _attic(rng, outline, H):
    """Sloped ceiling quads along one or two opposite walls of a box room: ``(parts, slopes)``
    with slopes ``(wall, knee_m, run_m)``."""
    first = int(rng.integers(4))
    walls = [first] if rng.random() < 0.5 else [first, (first + 2) % 4]
    depth = _wall_frame(outline, (first + 1) % 4)[3]
    parts, slopes = [], []
    for i in walls:
        (px, pz), e, n, L = _wall_frame(outline, i)
        knee, run = rng.uniform(0.9, 1.6), min(rng.uniform(1.0, 2.5), depth / len(walls) - 0.6)
        if run < 0.5:
            continue

        corners = [(0, 0.002, -knee), (L, 0.002, -knee), (L, run, -H), (0, run, -H)]
        parts.append(
            quad(*[(px + e[0] * s + n[0] * t, y, pz + e[1] * s + n[1] * t) for s, t, y in corners])
        )
        slopes.append((i, knee, run))
    if not parts:
        return [], []
    roof = mat(rng, "plaster", (0.82, 0.82, 0.80), None, 1.0)
    return [("atticslope", merge(parts), roof)], slopes


def _stairs(rng, outline, H, pal):
    """A straight flight of steps against a wall long enough for it (or nothing)."""
    n = int(rng.integers(5, 15))
    rise, run, width = rng.uniform(0.16, 0.19), rng.uniform(0.25, 0.3), rng.uniform(0.8, 1.2)
    n = min(n, int((H - 0.4) / rise))
    walls = [i for i in range(len(outline)) if _wall_frame(outline, i)[3] > n * run + 0.6]
    if not walls or n < 2:
        return []
    (px, pz), e, nrm, L = _wall_frame(outline, walls[int(rng.integers(len(walls)))])
    s0 = rng.uniform(0.3, L - n * run - 0.3)
    yaw, k = -math.atan2(e[1], e[0]), width / 2 + 0.005
    steps = []
    for j in range(n):
        s = s0 + (j + 0.5) * run
        x, z = px + e[0] * s + nrm[0] * k, pz + e[1] * s + nrm[1] * k
        steps.append(box(x, z, run, width, 0.0, -(j + 1) * rise, yaw))
    tread = mat(rng, "wood", pal["wood"], None, 0.12) if rng.random() < 0.6 else pal["floor"]
    return [("stairs", merge(steps), tread)]


def _clutter(rng, rects, bounds, pal):
    """5-20 small boxes and cylinders (0.1-0.6 m) standing on the floor."""
    x_lo, x_hi, z_lo, z_hi = bounds
    parts = []
    for k in range(int(rng.integers(5, 21))):
        x, z = rng.uniform(x_lo, x_hi), rng.uniform(z_lo, z_hi)
        if not inside(rects, x, z, 0.35):
            continue
        if rng.random() < 0.6:
            w, d, h = rng.uniform(0.1, 0.6, 3)
            vt = box(x, z, w, d, 0.0, -h, rng.uniform(0, math.pi))
        else:
            vt = cylinder(x, z, rng.uniform(0.05, 0.25), 0.0, -rng.uniform(0.1, 0.8), 12)
        real = rng.random() < 0.5
        m = (
            mat(rng, "plain", pal["fabric"])
            if real
            else _patterned(rng, _colour(rng), _colour(rng))
        )
        parts.append((f"clutter_{k}", vt, m))
    return parts


def _sun_patches(rng, rects, bounds):
    """1-3 sheared rectangles of sunlight 2 mm above the floor (emissive, warm)."""
    x_lo, x_hi, z_lo, z_hi = bounds
    quads = []
    for _ in range(int(rng.integers(1, 4))):
        x, z = rng.uniform(x_lo, x_hi), rng.uniform(z_lo, z_hi)
        w, d, shear = rng.uniform(0.4, 1.5), rng.uniform(0.8, 2.5), rng.uniform(-0.8, 0.8)
        corners = [(x, z), (x + w, z), (x + w + shear, z + d), (x + shear, z + d)]
        if all(inside(rects, cx, cz, 0.02) for cx, cz in corners):
            quads.append(quad(*[(cx, -0.002, cz) for cx, cz in corners[::-1]]))
    if not quads:
        return []
    warm = mat(rng, "plain", (0.95, 0.85, 0.65), None, emit=rng.uniform(1.5, 4.0))
    return [("sunpatch", merge(quads), warm)]


def build_diverse(rng: np.random.Generator, families: Families):
    """A room of the ``diverse`` families.

    Returns:
        ``(parts, lights, scene)``: parts ``(name, (v, t), material)``, lights
        ``(x, y, z, power)`` and ``scene``, a dict with ``rects``, ``outline``, ``bounds``,
        ``footprints`` (camera keep-out circles), ``H`` (m), ``slopes``, ``palette`` and the
        drawn ``shape``, ``ceiling`` and ``palette_name``.
    """
    shape = str(rng.choice(list(families.shapes)))
    rects, outline, H, ceiling = _footprint(rng, shape, str(rng.choice(list(families.ceilings))))
    pal_name = str(rng.choice(list(families.palettes)))
    pal = draw_palette(rng, pal_name)
    empty = bool(families.empty) and rng.random() < families.empty  # no draw where never
    parts, lights, rects, bounds, _, H = build_room(
        rng, (), (), (), footprint=(rects, outline, H), palette=pal,
        closed_doors=families.closed_doors, empty=empty,
    )  # fmt: skip
    slopes = []
    if ceiling == "attic":
        more, slopes = _attic(rng, outline, H)
        parts += more
    if rng.random() < families.stairs:
        parts += _stairs(rng, outline, H, pal)
    if rng.random() < families.clutter and not empty:
        parts += _clutter(rng, rects, bounds, pal)
    if rng.random() < families.sun:
        parts += _sun_patches(rng, rects, bounds)
    if rng.random() < families.strong_windows:
        for _, _, m in parts:
            if m.get("pattern") == 13:  # the sky
                m["emit"] *= float(rng.uniform(1.5, 3.0))
    scene = {
        "rects": rects, "outline": outline, "bounds": bounds, "H": H, "slopes": slopes,
        "footprints": keepout_circles(parts), "palette": pal, "shape": shape,
        "solid": keepout_circles([q for q in parts if not q[0].startswith("doorleaf")]),
        "ceiling": ceiling, "palette_name": pal_name, "empty": empty,
        "doors": [(float(v[:, 0].mean()), float(v[:, 2].mean()))
                  for name, (v, _), _ in parts if name.startswith("doorframe")],
    }  # fmt: skip
    return parts, lights, scene


def _headroom(scene, x: float, z: float) -> float:
    """Height (m) of the ceiling above floor point ``(x, z)`` (attic slopes included)."""
    top = scene["H"]
    for i, knee, run in scene["slopes"]:
        (px, pz), _, n, _ = _wall_frame(scene["outline"], i)
        t = (x - px) * n[0] + (z - pz) * n[1]
        top = min(top, knee + (scene["H"] - knee) * min(max(t, 0.0) / run, 1.0))
    return top


def _clear(scene, x: float, z: float, h: float, margin: float = 0.1) -> bool:
    """Inside the floor, clear of furniture circles and under the (sloped) ceiling."""
    if not inside(scene["rects"], x, z, margin):
        return False
    if any(math.hypot(x - fx, z - fz) < fr + 0.05 for fx, fz, fr in scene["footprints"]):
        return False
    return h <= _headroom(scene, x, z) - 0.25


def _wall_spot(rng, scene, h):
    outline = scene["outline"]
    lengths = np.array([_wall_frame(outline, i)[3] for i in range(len(outline))])
    i = int(rng.choice(len(outline), p=lengths / lengths.sum()))
    (px, pz), e, n, L = _wall_frame(outline, i)
    s, t = rng.uniform(0.3, max(0.31, L - 0.3)), rng.uniform(0.12, 0.5)
    return px + e[0] * s + n[0] * t, pz + e[1] * s + n[1] * t


def _corner_spot(rng, scene, h):
    outline = scene["outline"]
    i = int(rng.integers(len(outline)))
    (px, pz), _, n1, _ = _wall_frame(outline, i)
    n0 = _wall_frame(outline, i - 1)[2]
    a, b = rng.uniform(0.15, 0.6, 2)
    return px + n0[0] * a + n1[0] * b, pz + n0[1] * a + n1[1] * b


def _doorway_spot(rng, scene, h):
    doors = scene.get("doors") or []
    if not doors:
        return None
    cx, cz = doors[int(rng.integers(len(doors)))]
    for dx, dz in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        if inside(scene["rects"], cx + 0.3 * dx, cz + 0.3 * dz, 0.05):
            t = rng.uniform(0.02, 0.2)
            return cx + dx * t, cz + dz * t
    return None


_SPOTS = {"wall": _wall_spot, "corner": _corner_spot, "doorway": _doorway_spot}


def _camera_spot(rng, scene, mode: str, h: float):
    """``(x, z)`` for a camera ``h`` m high placed by ``mode``, or None (use ``centre``)."""
    spot = _SPOTS.get(mode)
    if spot is None:
        return None
    for _ in range(60):
        xz = spot(rng, scene, h)
        if xz is None:
            return None
        if mode == "doorway":  # door leaves' keep-out circles cover the opening: not used
            solid = any(math.hypot(xz[0] - x, xz[1] - z) < r for x, z, r in scene["solid"])
            if (
                inside(scene["rects"], *xz, 0.02)
                and h <= min(1.9, _headroom(scene, *xz) - 0.25)
                and not solid  # not on stairs, clutter or furniture before the door
            ):
                return xz
        elif _clear(scene, *xz, h):
            return xz
    return None


def _near_object(rng, k: int, centre, centres, scene):
    """A part 0.1-0.5 m (horizontally) from the camera at ``centre`` that contains no camera
    of ``centres``, or None: a column to the ceiling, a thin post, a stand below eye level or a
    tall cabinet, its face turned to the camera."""
    cx, cy, cz = centre
    h_cam, H, pal = -cy, scene["H"], scene["palette"]
    kind = str(rng.choice(["column", "post", "stand", "cabinet"]))
    for _ in range(30):
        gap, a = rng.uniform(0.1, 0.5), rng.uniform(0, 2 * math.pi)
        w, d = rng.uniform(0.15, 0.6), rng.uniform(0.15, 0.5)
        if kind == "post":
            w = d = 2 * rng.uniform(0.03, 0.15)
        dist = gap + d / 2
        ox, oz = cx + math.cos(a) * dist, cz + math.sin(a) * dist
        radius = 0.5 * math.hypot(w, d)
        if not inside(scene["rects"], ox, oz, 0.0):
            continue
        if any(
            math.hypot(ox - x, oz - z) < radius + 0.1 for x, _, z in centres if (x, z) != (cx, cz)
        ):
            continue
        top = {"column": H, "post": rng.uniform(1.0, H), "stand": rng.uniform(0.4, h_cam - 0.15),
               "cabinet": min(H, h_cam + rng.uniform(0.15, 0.8))}[kind]  # fmt: skip
        if kind == "post":
            vt = cylinder(ox, oz, w / 2, 0.0, -top, 12)
        else:
            vt = box(ox, oz, w, d, 0.0, -top, math.pi / 2 - a)
        real = rng.random() < 0.6
        m = (
            mat(rng, "wood", pal["wood"], None, 0.1)
            if real
            else _patterned(rng, _colour(rng), _colour(rng))
        )
        return (f"near_{k}", vt, m)
    return None


def cameras(rng, n_views: int, scene, height_m, max_tilt_deg, placements, fallback):
    """``n_views`` poses ``T_world_from_cam`` placed by modes drawn from ``placements``.

    ``fallback(rng, rects, bounds, footprints, centres) -> (x, z)`` places a ``centre`` camera.
    Returns ``(poses, centres, near_parts, used)``: the objects set beside ``near`` cameras
    (added after every camera stands, so none contains a camera) and the mode used per view.
    """
    poses, centres, used = [], [], []
    tilt = math.radians(max_tilt_deg)
    for _ in range(n_views):
        mode = str(rng.choice(list(placements)))
        h = min(rng.uniform(*height_m), scene["H"] - 0.3)
        xz = _camera_spot(rng, scene, mode, h)
        if xz is None:
            mode = "near" if mode == "near" else "centre"
            xz = fallback(rng, scene["rects"], scene["bounds"], scene["footprints"], centres)
            h = min(h, _headroom(scene, *xz) - 0.25)
        centre = (xz[0], -h, xz[1])
        yaw, pitch, roll = rng.uniform(-math.pi, math.pi), *rng.uniform(-tilt, tilt, 2)
        poses.append(pose_from_yaw_pitch_roll(yaw, pitch, roll, centre))
        centres.append(centre)
        used.append(mode)
    near = [
        _near_object(rng, k, c, centres, scene)
        for k, (c, mode) in enumerate(zip(centres, used, strict=True))
        if mode == "near"
    ]
    return poses, centres, [part for part in near if part is not None], used
