"""Furnished rooms for the ``rooms`` synth preset: what real indoor panoramas look like.

A room is a box or L-shaped shell with skirting boards, white/grey/beige plaster walls, wood,
tile or carpet floors, doors into neighbouring rooms and windows onto a bright outdoor scene
(emissive sky and far facades), and furniture that stands where real furniture stands:
sofas, beds with night stands, shelves with books, cabinets, kitchen counters with wall
units, TVs, framed pictures (procedural paintings), mirrors and whiteboards against walls;
dining tables with chairs, coffee tables on rugs, plants and floor lamps in the room; ceiling
lamps. Lights sit at the lamps and inside the windows (daylight). Materials come from
palettes of real-world albedo (linear, before the camera's tone curve).

Every builder returns parts ``(name, (vertices, triangles), material)``; materials are the
dicts of :mod:`workbench.data.synth` (``pattern``, ``scale``, ``a``, ``b``, ``angle``,
``offset``, ``emit``). World frame (README, *Geometry convention*): y down, floor ``y = 0``,
ceiling ``y = -H``.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.data.primitives import box, cylinder, inside, merge, polygon, quad, table, wall

__all__ = [
    "OBJECT_CLASSES",
    "PATTERNS",
    "build_room",
    "keepout_circles",
    "mat",
    "object_class",
    "real_palette",
]

# texture patterns of the renderer, in this order (the first six are the boxes presets')
PATTERNS = (
    "plain",
    "checker",
    "stripes",
    "noise",
    "marble",
    "view",
    "wood",
    "tile",
    "carpet",
    "plaster",
    "fabric",
    "painting",
    "screen",
    "sky",
)

# mesh-name prefix -> object class; every class appears over a few seeds (tested)
OBJECT_CLASSES = {
    "sofa": "sofa", "bed": "bed", "shelf": "shelf", "cabinet": "cabinet", "counter": "counter",
    "tv": "tv", "picture": "picture", "mirror": "mirror", "whiteboard": "whiteboard",
    "table": "dining table", "coffee": "coffee table", "rug": "rug", "plant": "plant",
    "floorlamp": "floor lamp", "ceilinglamp": "ceiling lamp", "doorframe": "door",
    "doorleaf": "door leaf", "windowframe": "window", "curtain": "curtain",
    "nextroom": "next room", "books": "books", "doorclosed": "door leaf",
}  # fmt: skip

# parts a camera may stand beside or under (flat on walls, floor or ceiling)
_NO_KEEPOUT = {
    "walls", "floor", "ceiling", "skirting", "outside", "far", "nextroom", "nextroomfloor",
    "ceilinglamp", "lampcord", "rug", "picture", "pictureframe", "mirror", "mirrorframe",
    "whiteboard", "whiteboardframe", "windowframe", "doorframe", "curtain", "tv",
    "doorclosed", "doorjamb", "doorhandle",
}  # fmt: skip


def object_class(mesh_name: str) -> str | None:
    """The object class of a mesh name (``"sofa_3"`` → ``"sofa"``), None for other parts."""
    return OBJECT_CLASSES.get(mesh_name.split("_")[0])


def keepout_circles(parts) -> list:
    """Camera keep-out circles ``(x, z, radius)`` around every part that stands in the room
    (furniture, plants, lamps, open door leaves), from its vertices."""
    out = []
    for name, (v, _), _m in parts:
        if name.split("_")[0] in _NO_KEEPOUT:
            continue
        cx, cz = float(v[:, 0].mean()), float(v[:, 2].mean())
        out.append((cx, cz, float(np.hypot(v[:, 0] - cx, v[:, 2] - cz).max())))
    return out


_WALLS = [
    (0.80, 0.78, 0.74),
    (0.85, 0.85, 0.83),
    (0.74, 0.69, 0.60),
    (0.68, 0.70, 0.70),
    (0.58, 0.60, 0.63),
    (0.78, 0.73, 0.64),
    (0.62, 0.66, 0.58),
    (0.80, 0.70, 0.62),
]
_WOODS = [
    (0.45, 0.28, 0.15),
    (0.62, 0.45, 0.28),
    (0.30, 0.18, 0.10),
    (0.70, 0.58, 0.42),
    (0.20, 0.13, 0.08),
    (0.55, 0.40, 0.30),
]
_FABRICS = [
    (0.35, 0.35, 0.37),
    (0.55, 0.52, 0.48),
    (0.15, 0.18, 0.28),
    (0.60, 0.58, 0.55),
    (0.25, 0.22, 0.20),
    (0.45, 0.30, 0.25),
    (0.20, 0.32, 0.28),
    (0.75, 0.73, 0.70),
]
_STONES = [
    (0.80, 0.80, 0.78),
    (0.55, 0.55, 0.55),
    (0.72, 0.66, 0.56),
    (0.30, 0.30, 0.32),
    (0.85, 0.82, 0.75),
]
_WHITES = [(0.82, 0.82, 0.80), (0.75, 0.74, 0.70), (0.12, 0.12, 0.13), (0.50, 0.50, 0.52)]


def _jitter(rng, rgb, amount=0.05):
    return np.clip(np.asarray(rgb) * rng.uniform(1 - amount, 1 + amount, 3), 0.01, 0.95)


def mat(rng, pattern, a, b=None, scale=0.2, angle=0.0, emit=0.0) -> dict:
    """A material; ``b`` defaults to a darker ``a``."""
    a = _jitter(rng, a)
    b = a * rng.uniform(0.6, 0.85) if b is None else _jitter(rng, b)
    return {
        "pattern": PATTERNS.index(pattern),
        "scale": float(scale),
        "a": a,
        "b": b,
        "angle": float(angle),
        "offset": rng.uniform(-10, 10, 2),
        "emit": float(emit),
    }


def _pick(rng, palette):
    return palette[int(rng.integers(len(palette)))]


def real_palette(rng) -> dict:
    """The room's materials: one wall colour, one floor, one wood, one fabric."""
    axis = float(rng.choice([0.0, math.pi / 2]))
    kind = str(rng.choice(["wood", "wood", "tile", "carpet"]))
    if kind == "wood":
        w = _pick(rng, _WOODS)
        floor = mat(rng, "wood", w, np.asarray(w) * 0.7, rng.uniform(0.09, 0.22), axis)
    elif kind == "tile":
        s = _pick(rng, _STONES)
        floor = mat(rng, "tile", s, _pick(rng, _WHITES), rng.uniform(0.25, 0.8), axis)
    else:
        floor = mat(rng, "carpet", _pick(rng, _FABRICS), None, 0.01)
    return {
        "wall": mat(rng, "plaster", _pick(rng, _WALLS), None, 0.8),
        "ceiling": mat(rng, "plaster", _WHITES[0], None, 1.0),
        "floor": floor,
        "wood": _pick(rng, _WOODS),
        "fabric": _pick(rng, _FABRICS),
        "trim": _pick(rng, _WHITES[:2] + [_pick(rng, _WOODS)]),
    }


class _Walls:
    """Wall segments with the intervals already taken (openings, furniture)."""

    def __init__(self, outline):
        self.segs = list(zip(outline, outline[1:] + outline[:1], strict=True))
        self.length = [math.dist(p, q) for p, q in self.segs]
        self.taken: list[list] = [[] for _ in self.segs]

    def frame(self, i: int, s: float):
        """Point ``s`` metres along wall ``i``, its direction and inward normal (x, z)."""
        (ax, az), (bx, bz) = self.segs[i]
        L = self.length[i]
        e = ((bx - ax) / L, (bz - az) / L)
        return (ax + s * e[0], az + s * e[1]), e, (-e[1], e[0])

    def claim(self, rng, width: float, margin: float = 0.1):
        """A free interval of ``width`` on a random wall: ``(wall, s_centre)`` or None."""
        for _ in range(20):
            i = int(rng.integers(len(self.segs)))
            L = self.length[i]
            if L < width + 2 * margin:
                continue
            s = rng.uniform(width / 2 + margin, L - width / 2 - margin)
            lo, hi = s - width / 2 - margin, s + width / 2 + margin
            if all(hi <= a or lo >= b for a, b in self.taken[i]):
                self.taken[i].append((lo, hi))
                return i, s
        return None


def place_on_wall(
    walls: _Walls, i: int, s: float, w: float, d: float, y0: float, y1: float, off: float = 0.0
):
    """A box of width ``w`` (along the wall), depth ``d`` against wall ``i`` at ``s``, ``off``
    metres out from it, heights ``y0..y1``."""
    (px, pz), e, n = walls.frame(i, s)
    k = d / 2 + 0.004 + off
    return box(px + n[0] * k, pz + n[1] * k, w, d, y0, y1, -math.atan2(e[1], e[0]))


def _shell(rng, pal, rects, outline, H):
    """Walls with openings, floor, ceiling, skirting; returns parts, walls and openings."""
    walls = _Walls(outline)
    openings = []  # (kind, wall, s0, s1, u0, u1)
    n_doors, n_windows = int(rng.integers(1, 3)), int(rng.integers(0, 4))
    for kind in ["door"] * n_doors + ["window"] * n_windows:
        w = rng.uniform(0.8, 1.0) if kind == "door" else rng.uniform(0.8, 2.4)
        got = walls.claim(rng, w, 0.25)
        if got is None:
            continue
        i, s = got
        u0 = 0.0 if kind == "door" else rng.uniform(0.4, 1.0)
        u1 = min(rng.uniform(2.0, 2.2) if kind == "door" else rng.uniform(1.9, 2.5), H - 0.15)
        openings.append((kind, i, s - w / 2, s + w / 2, u0, u1))
    parts = []
    wall_parts = [
        wall(p, q, -H, [o[2:] for o in openings if o[1] == i])
        for i, (p, q) in enumerate(walls.segs)
    ]
    parts.append(("walls", merge(wall_parts), pal["wall"]))
    fl = [quad((x0, 0, z0), (x1, 0, z0), (x1, 0, z1), (x0, 0, z1)) for x0, z0, x1, z1 in rects]
    parts.append(("floor", merge(fl), pal["floor"]))
    ce = [quad((x0, -H, z0), (x0, -H, z1), (x1, -H, z1), (x1, -H, z0)) for x0, z0, x1, z1 in rects]
    parts.append(("ceiling", merge(ce), pal["ceiling"]))
    skirt = []
    hb = rng.uniform(0.05, 0.12)
    for i in range(len(walls.segs)):
        cuts = sorted((o[2], o[3]) for o in openings if o[1] == i and o[0] == "door")
        s_prev = 0.0
        for a, b in cuts + [(walls.length[i], walls.length[i])]:
            if a - s_prev > 0.05:
                skirt.append(place_on_wall(walls, i, (s_prev + a) / 2, a - s_prev, 0.015, 0, -hb))
            s_prev = b
    if skirt:
        parts.append(("skirting", merge(skirt), mat(rng, "plain", pal["trim"])))
    return parts, walls, openings


def _leaf_material(rng, pal) -> dict:
    """A door leaf's material where doors may be painted: white or trim paint (60 %) or wood."""
    if rng.random() < 0.6:
        return mat(rng, "plain", _pick(rng, _WHITES[:2] + [pal["trim"]]))
    return mat(rng, "wood", pal["wood"], None, 0.08)


def _closed_door(rng, pal, walls: _Walls, i: int, sc: float, w: float, u1: float, k: int):
    """A closed door in the opening of wall ``i`` at ``sc`` (``w`` wide, ``u1`` high): a leaf
    set 2-5 cm back from the wall's face, a little larger than the opening, the jambs and a 1 cm
    threshold (the reveal from the wall's face back to the leaf, so no ray passes beside or
    under it), and a handle 0.95-1.05 m above the floor. Nothing is built behind it."""
    back = rng.uniform(0.02, 0.05)
    leaf = place_on_wall(walls, i, sc, w + 0.06, 0.04, 0.0, -u1 - 0.03, -back - 0.044)
    deep, off = back + 0.04, -back - 0.044  # jambs: from the wall's face to the leaf's back
    jambs = [
        place_on_wall(walls, i, sc + t * (w / 2 + 0.01), 0.02, deep, 0, -u1, off) for t in (-1, 1)
    ]
    jambs.append(place_on_wall(walls, i, sc, w + 0.04, deep, -u1, -u1 - 0.02, off))
    jambs.append(place_on_wall(walls, i, sc, w + 0.04, deep, 0.0, -0.01, off))  # threshold
    side = float(rng.choice([-1.0, 1.0]))
    y = rng.uniform(0.95, 1.05)
    at = sc + side * (w / 2 - 0.09)  # the handle: from the leaf's face to 3 cm into the room
    handle = place_on_wall(walls, i, at, 0.12, 0.03 + back, -y, -y - 0.04, -back - 0.004)
    metal = mat(rng, "plain", _pick(rng, [(0.6, 0.6, 0.58), (0.15, 0.15, 0.15), (0.7, 0.6, 0.3)]))
    return [
        (f"doorclosed_{k}", leaf, _leaf_material(rng, pal)),
        (f"doorjamb_{k}", merge(jambs), mat(rng, "plain", pal["trim"])),
        (f"doorhandle_{k}", handle, metal),
    ]


def _opening_parts(rng, pal, walls: _Walls, openings, rects, H, closed_doors: float = 0.0):
    """Frames, door leaves, curtains, daylight positions and the rooms behind the doors; a
    fraction ``closed_doors`` of the doors is closed (:func:`_closed_door`, painted or wood
    leaves, open ones too), none by default."""
    parts, lights = [], []
    trim = mat(rng, "plain", pal["trim"])
    for k, (kind, i, s0, s1, u0, u1) in enumerate(openings):
        w, sc = s1 - s0, (s0 + s1) / 2
        (px, pz), e, n = walls.frame(i, sc)
        fr = [place_on_wall(walls, i, sc, w + 0.12, 0.03, -u1, -u1 - 0.06)]
        for side in (-1, 1):
            fr.append(place_on_wall(walls, i, sc + side * (w / 2 + 0.03), 0.06, 0.03, -u0, -u1))
        if kind == "window":
            fr.append(place_on_wall(walls, i, sc, w + 0.16, 0.12, -u0 + 0.03, -u0))  # sill
            fr.append(place_on_wall(walls, i, sc, 0.04, 0.02, -u0, -u1, -0.05))  # mullion
            if rng.random() < 0.6:
                cur = mat(rng, "fabric", _pick(rng, _FABRICS + _WALLS), None, 0.004)
                for side in (-1, 1):
                    cw = rng.uniform(0.2, 0.45)
                    c = place_on_wall(
                        walls,
                        i,
                        sc + side * (w / 2 + cw / 2),
                        cw,
                        0.08,
                        0.0 if rng.random() < 0.5 else -u0 + 0.1,
                        -u1 - 0.1,
                        0.06,
                    )
                    parts.append((f"curtain_{k}{side}", c, cur))
            lights.append((px + n[0] * 0.4, -(u0 + u1) / 2, pz + n[1] * 0.4, rng.uniform(1.5, 4)))
        elif closed_doors and rng.random() < closed_doors:
            parts += _closed_door(rng, pal, walls, i, sc, w, u1, k)
        else:
            if rng.random() < 0.6:  # an open door leaf, swung into the room
                ang = math.atan2(e[1], e[0]) + rng.uniform(0.6, 1.5)
                hx, hz = px - e[0] * w / 2, pz - e[1] * w / 2
                cx, cz = hx + math.cos(ang) * w / 2, hz + math.sin(ang) * w / 2
                leaf = box(cx, cz, w - 0.02, 0.04, 0.0, -u1 + 0.01, -ang)
                plain = closed_doors == 0  # the presets without closed doors: wood leaves
                face = (
                    mat(rng, "wood", pal["wood"], None, 0.08) if plain else _leaf_material(rng, pal)
                )
                parts.append((f"doorleaf_{k}", leaf, face))
            parts += _next_room(rng, pal, (px, pz), e, n, w, u1, H, rects, k)
        parts.append((f"{kind}frame_{k}", merge(fr), trim))
    return parts, lights


def _next_room(rng, pal, p, e, n, door_w, door_h, H, rects, k):
    """An open box behind a door: side walls, back wall, floor and ceiling (no face at the
    door). Shrunk until it stays outside the main room."""
    depth, half = rng.uniform(1.5, 4.5), rng.uniform(door_w / 2 + 0.3, 2.5)
    for _ in range(6):
        corners = [
            (p[0] - n[0] * dd + e[0] * ss, p[1] - n[1] * dd + e[1] * ss)
            for dd in (0.05, depth)
            for ss in (-half, half)
        ]
        if not any(inside(rects, x, z, -0.01) for x, z in corners):
            break
        depth, half = depth * 0.7, max(door_w / 2 + 0.05, half * 0.7)
    else:
        return [
            (
                "nextroom_" + str(k),
                box(p[0] - n[0] * 0.1, p[1] - n[1] * 0.1, 0.05, 0.05, 0.0, -door_h),
                mat(rng, "plain", pal["trim"]),
            )
        ]

    def at(dd, ss, y):
        return (p[0] - n[0] * dd + e[0] * ss, y, p[1] - n[1] * dd + e[1] * ss)

    d0 = 0.0
    floor = quad(at(d0, -half, 0), at(depth, -half, 0), at(depth, half, 0), at(d0, half, 0))
    q = [
        quad(at(d0, -half, -H), at(depth, -half, -H), at(depth, half, -H), at(d0, half, -H)),
        quad(at(d0, -half, 0), at(depth, -half, 0), at(depth, -half, -H), at(d0, -half, -H)),
        quad(at(d0, half, 0), at(depth, half, 0), at(depth, half, -H), at(d0, half, -H)),
        quad(at(depth, -half, 0), at(depth, half, 0), at(depth, half, -H), at(depth, -half, -H)),
    ]
    wall_mat = mat(rng, "plaster", _pick(rng, _WALLS), None, 0.8)
    return [(f"nextroom_{k}", merge(q), wall_mat), (f"nextroomfloor_{k}", floor, pal["floor"])]


def _sofa(rng, on, kind, k, w, d, H, wood, fabric, pal):
    """A sofa: seat, back and two arms."""
    parts = []
    parts.append(
        (
            f"sofa_{k}",
            merge(
                [
                    on(w, d, 0, -0.42),
                    on(w, 0.22, -0.42, -0.85),
                    on(0.2, d, -0.42, -0.62, 0, -w / 2 + 0.1),
                    on(0.2, d, -0.42, -0.62, 0, w / 2 - 0.1),
                ]
            ),
            fabric,
        )
    )
    return parts


def _bed(rng, on, kind, k, w, d, H, wood, fabric, pal):
    """A bed against the wall: frame, headboard, mattress, pillows, night stands."""
    parts = []
    sheet = mat(rng, "fabric", _pick(rng, _WHITES[:2] + _FABRICS), None, 0.004)
    parts += [
        (
            f"bedframe_{k}",
            merge([on(w, d, 0, -0.3), on(w + 0.1, 0.08, 0, -rng.uniform(0.9, 1.3))]),
            wood,
        ),
        (
            f"bed_{k}",
            merge(
                [
                    on(w - 0.06, d - 0.1, -0.3, -0.55, 0.05),
                    on(w * 0.4, 0.35, -0.55, -0.68, 0.1, -w * 0.22),
                    on(w * 0.4, 0.35, -0.55, -0.68, 0.1, w * 0.22),
                ]
            ),
            sheet,
        ),
    ]
    stand = [on(0.45, 0.4, 0, -0.55, 0, side * (w / 2 + 0.35)) for side in (-1, 1)]
    parts.append((f"nightstand_{k}", merge(stand), wood))
    return parts


def _shelf(rng, on, kind, k, w, d, H, wood, fabric, pal):
    """A bookshelf: boards, sides and rows of books."""
    parts = []
    h = rng.uniform(1.5, min(2.2, H - 0.2))
    n = int(rng.integers(3, 7))
    boards = [on(w, d, -y, -y - 0.025) for y in np.linspace(0.05, h - 0.03, n)]
    boards += [on(0.025, d, 0, -h, 0, side * (w / 2 - 0.0125)) for side in (-1, 1)]
    parts.append((f"shelf_{k}", merge(boards), wood))
    books = []
    for y in np.linspace(0.05, h - 0.03, n)[:-1]:
        x = -w / 2 + 0.05
        while x < w / 2 - 0.1 and rng.random() < 0.93:
            bw = rng.uniform(0.02, 0.06)
            books.append(
                on(
                    bw,
                    d * rng.uniform(0.6, 0.9),
                    -y - 0.025,
                    -y - 0.025 - rng.uniform(0.15, 0.3),
                    0,
                    x + bw / 2,
                )
            )
            x += bw + (0.2 if rng.random() < 0.1 else 0.003)
    if books:
        parts.append(
            (
                f"books_{k}",
                merge(books),
                mat(rng, "painting", (0.6, 0.2, 0.2), (0.2, 0.3, 0.6), 0.05),
            )
        )
    return parts


def _cabinet(rng, on, kind, k, w, d, H, wood, fabric, pal):
    """A low or tall cabinet; a counter also gets a worktop and wall units."""
    parts = []
    tall = kind == "cabinet" and rng.random() < 0.3
    h = rng.uniform(1.8, min(2.3, H - 0.2)) if tall else rng.uniform(0.75, 0.95)
    body = mat(rng, "plain", _pick(rng, _WHITES)) if rng.random() < 0.5 else wood
    parts.append((f"{kind}_{k}", on(w, d, 0, -h), body))
    if kind == "counter":
        top = mat(rng, "noise", _pick(rng, _STONES), None, 0.05)
        parts.append((f"countertop_{k}", on(w + 0.02, d + 0.02, -h, -h - 0.04), top))
        up = rng.uniform(1.4, 1.55)
        parts.append((f"wallunit_{k}", on(w, 0.35, -up, -min(up + 0.75, H - 0.05)), body))
    return parts


def _tv(rng, on, kind, k, w, d, H, wood, fabric, pal):
    """A TV on the wall, often above a stand."""
    parts = []
    tw = w * 0.9
    y0 = rng.uniform(0.9, 1.3)
    screen = mat(rng, "screen", (0.03, 0.03, 0.035), (0.12, 0.12, 0.14), 0.5)
    parts.append((f"tv_{k}", on(tw, 0.05, -y0, -y0 - tw * 9 / 16, 0.02), screen))
    if rng.random() < 0.7:
        parts.append((f"tvstand_{k}", on(w * 1.2, d, 0, -rng.uniform(0.4, 0.6)), wood))
    return parts


def _panel(rng, on, kind, k, w, d, H, wood, fabric, pal):
    """A picture, mirror or whiteboard in a frame."""
    parts = []
    ph = w * rng.uniform(0.6, 1.4) if kind == "picture" else w * rng.uniform(0.6, 1.6)
    ph = min(ph, H - 0.6)
    yc = rng.uniform(1.2, min(1.8, H - ph / 2 - 0.2))
    frame = mat(rng, "plain", _pick(rng, _WHITES + _WOODS))
    face = {
        "picture": mat(
            rng,
            "painting",
            rng.uniform(0.1, 0.9, 3),
            rng.uniform(0.1, 0.9, 3),
            w * rng.uniform(0.15, 0.5),
        ),
        "mirror": mat(rng, "noise", (0.55, 0.6, 0.62), (0.25, 0.27, 0.3), 0.4),
        "whiteboard": mat(rng, "plaster", (0.88, 0.88, 0.88), None, 0.5),
    }[kind]
    parts.append(
        (f"{kind}frame_{k}", on(w + 0.06, d, -yc + ph / 2 + 0.03, -yc - ph / 2 - 0.03), frame)
    )
    parts.append((f"{kind}_{k}", on(w, 0.01, -yc + ph / 2, -yc - ph / 2, d), face))
    return parts


def _wall_item(rng, pal, walls: _Walls, kind: str, k: int, H: float):
    """One piece of wall furniture; returns ``(parts, footprint or None)``."""
    wood = mat(rng, "wood", pal["wood"], None, rng.uniform(0.05, 0.15), math.pi / 2)
    fabric = mat(rng, "fabric", _pick(rng, _FABRICS), None, 0.004)
    size = {
        "sofa": (rng.uniform(1.6, 2.6), 0.9),
        "bed": (rng.uniform(1.4, 1.9), 2.1),
        "shelf": (rng.uniform(0.8, 2.0), 0.35),
        "cabinet": (rng.uniform(0.6, 2.0), 0.5),
        "counter": (rng.uniform(1.8, 3.5), 0.62),
        "tv": (rng.uniform(0.9, 1.6), 0.45),
        "picture": (rng.uniform(0.3, 1.3), 0.03),
        "mirror": (rng.uniform(0.4, 1.0), 0.03),
        "whiteboard": (rng.uniform(1.0, 2.0), 0.03),
    }[kind]
    w, d = size
    got = walls.claim(rng, w + (1.2 if kind == "bed" else 0.0))
    if got is None:
        return [], None
    i, s = got

    def on(ww, dd, y0, y1, off=0.0, ds=0.0):
        return place_on_wall(walls, i, s + ds, ww, dd, y0, y1, off)

    build = {
        "sofa": _sofa,
        "bed": _bed,
        "shelf": _shelf,
        "cabinet": _cabinet,
        "counter": _cabinet,
        "tv": _tv,
    }.get(kind, _panel)
    parts = build(rng, on, kind, k, w, d, H, wood, fabric, pal)
    if build is _panel:
        return parts, None
    (px, pz), _, n = walls.frame(i, s)
    return parts, (px + n[0] * d / 2, pz + n[1] * d / 2, 0.5 * math.hypot(w, d))


def _free_spot(rng, rects, bounds, footprints, radius):
    x_lo, x_hi, z_lo, z_hi = bounds
    for _ in range(40):
        x, z = rng.uniform(x_lo, x_hi), rng.uniform(z_lo, z_hi)
        if inside(rects, x, z, radius + 0.05) and all(
            math.hypot(x - fx, z - fz) > fr + radius + 0.1 for fx, fz, fr in footprints
        ):
            return x, z
    return None


def _floor_item(rng, pal, kind, k, spot, H):
    """One free-standing object at ``spot = (x, z)``; returns ``(parts, radius)``."""
    x, z = spot
    yaw = float(rng.choice([0.0, math.pi / 2])) + rng.normal(0, 0.1)
    wood = mat(rng, "wood", pal["wood"], None, rng.uniform(0.05, 0.15))
    parts = []
    if kind == "dining":
        w, d = rng.uniform(1.0, 1.8), rng.uniform(0.7, 1.0)
        parts.append((f"table_{k}", table(x, z, w, d, 0.75, 0.04, 0.05, yaw), wood))
        chairs, c, s = [], math.cos(yaw), math.sin(yaw)
        for side in (-1, 1):
            for off in np.linspace(-w / 2 + 0.3, w / 2 - 0.3, max(1, int(w / 0.6))):
                lz = side * (d / 2 + 0.25)
                cx, cz = x + c * off + s * lz, z - s * off + c * lz
                chairs.append(table(cx, cz, 0.42, 0.42, 0.46, 0.04, 0.03, yaw))
                bz = lz + side * 0.19
                chairs.append(
                    box(x + c * off + s * bz, z - s * off + c * bz, 0.4, 0.04, -0.46, -0.9, yaw)
                )
        chair_mat = mat(rng, "plain", _pick(rng, _WHITES + _WOODS + _FABRICS))
        parts.append((f"chairs_{k}", merge(chairs), chair_mat))
        return parts, 0.5 * math.hypot(w + 1.0, d + 1.0)
    if kind == "coffee":
        w, d = rng.uniform(0.8, 1.3), rng.uniform(0.5, 0.8)
        rug = mat(rng, "carpet", _pick(rng, _FABRICS), None, 0.01)
        parts.append((f"rug_{k}", box(x, z, w + 1.2, d + 1.0, 0.0, -0.012, yaw), rug))
        parts.append((f"coffee_{k}", table(x, z, w, d, 0.42, 0.05, 0.04, yaw), wood))
        return parts, 0.5 * math.hypot(w, d)
    if kind == "plant":
        r, h = rng.uniform(0.12, 0.25), rng.uniform(0.25, 0.5)
        pot = mat(rng, "plain", _pick(rng, _WHITES + _STONES))
        parts.append((f"pot_{k}", cylinder(x, z, r, 0.0, -h, 12), pot))
        leaves = []
        top = h + rng.uniform(0.3, 1.2)
        for _ in range(int(rng.integers(4, 9))):
            lx, lz = x + rng.normal(0, r), z + rng.normal(0, r)
            y0 = rng.uniform(h, top)
            leaves.append(
                box(
                    lx,
                    lz,
                    rng.uniform(0.1, 0.35),
                    rng.uniform(0.05, 0.2),
                    -y0,
                    -y0 - rng.uniform(0.1, 0.4),
                    rng.uniform(0, math.pi),
                )
            )
        green = mat(rng, "noise", (0.10, 0.25, 0.06), (0.05, 0.12, 0.03), 0.05)
        parts.append((f"plant_{k}", merge(leaves), green))
        return parts, r + 0.2
    # floor lamp: a pole and a lit shade
    h = rng.uniform(1.3, 1.7)
    parts.append(
        (f"lamppole_{k}", cylinder(x, z, 0.015, 0.0, -h, 8), mat(rng, "plain", _pick(rng, _WHITES)))
    )
    shade = mat(rng, "fabric", (0.9, 0.8, 0.6), None, 0.004, emit=rng.uniform(1.5, 3.0))
    parts.append(
        (f"floorlamp_{k}", cylinder(x, z, rng.uniform(0.15, 0.25), -h + 0.05, -h - 0.3, 16), shade)
    )
    return parts, 0.3


def _ceiling_lamps(rng, rects, bounds, H):
    parts, lights = [], []
    for k in range(int(rng.integers(1, 4))):
        spot = _free_spot(rng, rects, bounds, [], 0.4)
        if spot is None:
            continue
        x, z = spot
        drop = 0.0 if rng.random() < 0.6 else rng.uniform(0.3, 0.8)
        r = rng.uniform(0.12, 0.3)
        y_top = -H + drop
        shade = mat(rng, "plain", (0.95, 0.92, 0.85), None, emit=rng.uniform(2.0, 5.0))
        parts.append((f"ceilinglamp_{k}", cylinder(x, z, r, y_top + 0.12, y_top, 16), shade))
        if drop > 0:
            parts.append(
                (
                    f"lampcord_{k}",
                    cylinder(x, z, 0.006, -H, y_top, 6),
                    mat(rng, "plain", (0.1, 0.1, 0.1)),
                )
            )
        lights.append((x, y_top + 0.2, z, rng.uniform(1.0, 2.5)))
    return parts, lights


def _outside(rng):
    """The bright outdoor scene seen through windows: a sky-lit far shell and facades."""
    R = float(rng.uniform(12, 40))
    sky = mat(rng, "sky", (0.75, 0.85, 1.0), (0.55, 0.6, 0.45), 8.0, emit=rng.uniform(3.0, 8.0))
    parts = [("outside", box(0, 0, 2 * R, 2 * R, 3.0, -rng.uniform(8, 20)), sky)]
    for k in range(int(rng.integers(2, 6))):
        ang, dist = rng.uniform(0, 2 * math.pi), rng.uniform(10, R - 2)
        facade = mat(
            rng,
            "tile",
            _pick(rng, _STONES + _WALLS),
            (0.2, 0.22, 0.25),
            rng.uniform(1.0, 3.0),
            emit=rng.uniform(1.0, 3.0),
        )
        parts.append(
            (
                f"far_{k}",
                box(
                    dist * math.cos(ang),
                    dist * math.sin(ang),
                    rng.uniform(2, 8),
                    rng.uniform(2, 8),
                    3.0,
                    -rng.uniform(3, 15),
                    rng.uniform(0, 3),
                ),
                facade,
            )
        )
    return parts


def _furnish(rng, pal, walls, rects, bounds, H):
    """Wall furniture first (it needs free wall), then free-standing objects."""
    parts, footprints = [], []
    wall_kinds = [
        "sofa",
        "bed",
        "shelf",
        "cabinet",
        "counter",
        "tv",
        "picture",
        "picture",
        "mirror",
        "whiteboard",
    ]
    for k in range(int(rng.integers(3, 9))):
        new, fp = _wall_item(rng, pal, walls, str(rng.choice(wall_kinds)), k, H)
        parts += new
        if fp is not None:
            footprints.append(fp)
    for k in range(int(rng.integers(1, 5))):
        kind = str(rng.choice(["dining", "coffee", "plant", "plant", "floorlamp"]))
        radius = {"dining": 1.1, "coffee": 0.9}.get(kind, 0.3)
        spot = _free_spot(rng, rects, bounds, footprints, radius)
        if spot is None:
            continue
        new, r = _floor_item(rng, pal, kind, 100 + k, spot, H)
        parts += new
        footprints.append((spot[0], spot[1], r))
    return parts, footprints


def build_room(
    rng: np.random.Generator,
    shapes,
    room_size_m,
    room_height_m,
    *,
    footprint=None,
    palette=None,
    closed_doors: float = 0.0,
    empty: bool = False,
):
    """A furnished room. ``footprint = (rects, outline, H)`` and ``palette`` (see
    :func:`real_palette`), when given, replace the room's own draws (the ``diverse`` preset);
    ``closed_doors`` is the fraction of doors closed, and an ``empty`` room gets no furniture
    (doors, windows and ceiling lamps only).

    Returns:
        ``(parts, lights, rects, bounds, footprints, H)``: parts ``(name, (v, t), material)``,
        lights ``(x, y, z, power)``, the floor rectangles, their bounds ``(x0, x1, z0, z1)``,
        keep-out circles ``(x, z, radius)`` for cameras, and the room height in metres.
    """
    if footprint is None:
        shape = str(rng.choice(list(shapes)))
        rects, outline = polygon(shape, rng, room_size_m)
        H = float(rng.uniform(*room_height_m))
    else:
        rects, outline, H = footprint
    pal = real_palette(rng) if palette is None else palette
    parts, walls, openings = _shell(rng, pal, rects, outline, H)
    more, lights = _opening_parts(rng, pal, walls, openings, rects, H, closed_doors)
    parts += more + _outside(rng)
    bounds = (
        min(r[0] for r in rects),
        max(r[2] for r in rects),
        min(r[1] for r in rects),
        max(r[3] for r in rects),
    )
    furniture = [] if empty else _furnish(rng, pal, walls, rects, bounds, H)[0]
    lamps, lamp_lights = _ceiling_lamps(rng, rects, bounds, H)
    parts += furniture + lamps
    footprints = keepout_circles(parts)
    lights = lamp_lights + lights
    for name, (v, _), _m in furniture:
        if name.startswith("floorlamp"):
            lights.append(
                (float(v[:, 0].mean()), float(v[:, 1].max()) + 0.05, float(v[:, 2].mean()), 0.8)
            )
    if not lights:
        x, z = (bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2
        lights.append((x, -H + 0.3, z, 1.5))
    return parts, lights, rects, bounds, footprints, H
