"""Triangle-mesh primitives of the procedural scenes (world frame y down, metres).

Every function returns ``(vertices (N, 3) float64, triangles (M, 3) int)``; footprints are
axis-aligned rectangles ``(x0, z0, x1, z1)`` on the floor ``y = 0``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["quad", "merge", "box", "cylinder", "table", "wall", "polygon", "inside"]


def quad(a, b, c, d) -> tuple[np.ndarray, np.ndarray]:
    return np.array([a, b, c, d], np.float64), np.array([[0, 1, 2], [0, 2, 3]])


def merge(parts) -> tuple[np.ndarray, np.ndarray]:
    verts, tris, n = [], [], 0
    for v, t in parts:
        verts.append(v)
        tris.append(t + n)
        n += len(v)
    return np.concatenate(verts), np.concatenate(tris)


def box(cx, cz, w, d, y0, y1, yaw=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Box with footprint ``w x d`` centred at ``(cx, cz)``, rotated by ``yaw``, from ``y0`` to
    ``y1`` (world y, down)."""
    c, s = math.cos(yaw), math.sin(yaw)
    corners = []
    for y in (y0, y1):
        for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            lx, lz = sx * w / 2, sz * d / 2
            corners.append((cx + c * lx + s * lz, y, cz - s * lx + c * lz))
    v = np.array(corners)
    t = np.array(
        [
            [0, 1, 2],
            [0, 2, 3],
            [4, 6, 5],
            [4, 7, 6],
            [0, 4, 5],
            [0, 5, 1],
            [1, 5, 6],
            [1, 6, 2],
            [2, 6, 7],
            [2, 7, 3],
            [3, 7, 4],
            [3, 4, 0],
        ]
    )
    return v, t


def cylinder(cx, cz, r, y0, y1, n=24) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    ring = np.stack([cx + r * np.cos(a), np.zeros(n), cz + r * np.sin(a)], 1)
    top, bot = ring.copy(), ring.copy()
    top[:, 1], bot[:, 1] = y0, y1
    v = np.concatenate([top, bot, [[cx, y0, cz], [cx, y1, cz]]])
    t = []
    for i in range(n):
        j = (i + 1) % n
        t += [[i, j, n + j], [i, n + j, n + i], [2 * n, j, i], [2 * n + 1, n + i, n + j]]
    return v, np.array(t)


def wall(p0, p1, top_y, openings) -> tuple[np.ndarray, np.ndarray]:
    """Vertical wall from 2D ``p0`` to ``p1`` (x, z), floor ``y = 0`` to ``top_y`` (< 0), with
    rectangular ``openings`` ``(s0, s1, up0, up1)``: along-wall metres and heights above floor."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    length = float(np.linalg.norm(p1 - p0))
    e = (p1 - p0) / length
    H = -top_y

    def pt(s, up):
        q = p0 + s * e
        return (q[0], -up, q[1])

    rects = []
    s_prev = 0.0
    for s0, s1, u0, u1 in sorted(openings):
        rects.append((s_prev, s0, 0.0, H))
        if u0 > 0:
            rects.append((s0, s1, 0.0, u0))
        if u1 < H:
            rects.append((s0, s1, u1, H))
        s_prev = s1
    rects.append((s_prev, length, 0.0, H))
    parts = [
        quad(pt(a, lo), pt(b, lo), pt(b, hi), pt(a, hi))
        for a, b, lo, hi in rects
        if b - a > 1e-6 and hi - lo > 1e-6
    ]
    return merge(parts)


def polygon(shape: str, rng: np.random.Generator, size: tuple[float, float]):
    """Footprint as a list of axis-aligned rectangles ``(x0, z0, x1, z1)`` and its outline.

    ``shape``: ``box``, ``L``, ``T`` or ``U`` (sides drawn from ``size`` in metres)."""
    W, D = rng.uniform(*size, 2)
    if shape == "box":
        rects = [(-W / 2, -D / 2, W / 2, D / 2)]
        outline = [(-W / 2, -D / 2), (W / 2, -D / 2), (W / 2, D / 2), (-W / 2, D / 2)]
        return rects, outline
    if shape == "T":
        return _t_shape(rng, W, D)
    if shape == "U":
        return _u_shape(rng, W, D)
    if shape != "L":
        raise ValueError(f"unknown footprint shape {shape!r}")
    # L: the big rectangle minus its (+x, +z) corner
    cw, cd = W * rng.uniform(0.35, 0.6), D * rng.uniform(0.35, 0.6)
    x0, z0, x1, z1 = -W / 2, -D / 2, W / 2, D / 2
    rects = [(x0, z0, x1, z1 - cd), (x0, z1 - cd, x1 - cw, z1)]
    outline = [(x0, z0), (x1, z0), (x1, z1 - cd), (x1 - cw, z1 - cd), (x1 - cw, z1), (x0, z1)]
    return rects, outline


def _t_shape(rng: np.random.Generator, W: float, D: float):
    """A bar along +z's far side (full width) on a centred stem; outline counter-clockwise in
    (x, z) like the box's (inward normal ``(-e_z, e_x)``)."""
    x0, z0, x1, z1 = -W / 2, -D / 2, W / 2, D / 2
    sw = max(1.2, W * rng.uniform(0.3, 0.55))
    zb = z1 - max(1.2, D * rng.uniform(0.3, 0.5))
    sx0, sx1 = -sw / 2, sw / 2
    rects = [(sx0, z0, sx1, zb), (x0, zb, x1, z1)]
    outline = [(sx0, z0), (sx1, z0), (sx1, zb), (x1, zb), (x1, z1), (x0, z1), (x0, zb), (sx0, zb)]
    return rects, outline


def _u_shape(rng: np.random.Generator, W: float, D: float):
    """A bar along the near side (full width) with an arm up each end (``-z`` to ``+z``)."""
    x0, z0, x1, z1 = -W / 2, -D / 2, W / 2, D / 2
    aw = max(1.0, W * rng.uniform(0.22, 0.35))
    zb = z0 + max(1.2, D * rng.uniform(0.3, 0.5))
    rects = [(x0, z0, x1, zb), (x0, zb, x0 + aw, z1), (x1 - aw, zb, x1, z1)]
    outline = [
        (x0, z0),
        (x1, z0),
        (x1, z1),
        (x1 - aw, z1),
        (x1 - aw, zb),
        (x0 + aw, zb),
        (x0 + aw, z1),
        (x0, z1),
    ]
    return rects, outline


def inside(rects, x, z, margin=0.0) -> bool:
    return any(
        a + margin <= x <= c - margin and b + margin <= z <= d - margin for a, b, c, d in rects
    )


def table(x, z, w, d, h, top_t, leg, yaw) -> tuple[np.ndarray, np.ndarray]:
    """A ``w x d`` table top ``top_t`` thick at height ``h`` on four ``leg``-wide legs, centred
    at ``(x, z)`` and rotated by ``yaw``."""
    c, s = math.cos(yaw), math.sin(yaw)
    parts = [box(x, z, w, d, -h + top_t, -h, yaw)]
    for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        lx, lz = sx * (w / 2 - leg), sz * (d / 2 - leg)
        parts.append(box(x + c * lx + s * lz, z - s * lx + c * lz, leg, leg, 0.0, -h + top_t, yaw))
    return merge(parts)
