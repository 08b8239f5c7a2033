"""Dense two-view correspondence between panoramas from depth and poses.

For panoramas A and B with ``range_A`` and poses ``T_world_from_A``, ``T_world_from_B``, every
valid pixel of A is back-projected (the README's *Geometry convention*,
:mod:`workbench.geometry.equirect`),
moved into B's frame with ``T_B_from_A`` and projected into B: a continuous pixel ``(u, v)``
(``u`` wrapped into ``[-0.5, W - 0.5)``). With ``range_B`` the match is also checked:

- **visible**: not occluded in B (a z-buffer test): the projected range is at most
  ``(1 + tol)`` times B's range at the match (the larger of the nearest pixel's range and the
  bilinear sample when its 4 pixels are valid: grazing surfaces change range fast per pixel);
- **consistent**: the A→B→A round trip (B's bilinearly sampled range at the match, back into A)
  returns within ``round_trip_px`` pixels of where it started (measured as the angle between
  the two rays, in pixels of the equator, ``π / H`` radians each, so it is fair at the poles).

Flow is ``uv_B - uv_A`` with the column difference wrapped into ``[-W/2, W/2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from workbench.errors import WorkbenchError
from workbench.geometry.equirect import (
    check_equirect,
    lonlat_to_pixel,
    range_to_points,
    rays_to_lonlat,
    unit_rays,
    valid_mask,
)
from workbench.geometry.pose import relative_pose
from workbench.io import write_text_atomic

__all__ = [
    "Correspondence",
    "project_points",
    "sample_bilinear_wrap",
    "fill_radius",
    "radius_for_density",
    "fill_sparse",
    "correspond",
    "sample_matches",
    "overlap",
    "covisibility_matrix",
    "write_covisibility",
    "read_covisibility",
]


@dataclass(frozen=True)
class Correspondence:
    """Matches of every pixel of A in B.

    Attributes:
        uv: ``(H, W, 2) float32`` continuous pixel ``(u, v)`` in B (NaN where A is invalid).
        range_in_b: ``(H, W) float32`` distance from B's centre to A's point (metres).
        valid: ``(H, W) bool`` A has valid depth.
        visible: ``(H, W) bool`` valid and not occluded in B (all True without ``range_B``).
        consistent: ``(H, W) bool`` visible and the round trip closes (all of ``visible``
            without ``range_B``).
        landed: ``(H, W) bool`` valid and landing where B has depth (B's blind spots and
            unfilled LiDAR gaps cannot confirm or deny a match).
    """

    uv: np.ndarray
    range_in_b: np.ndarray
    valid: np.ndarray
    visible: np.ndarray
    consistent: np.ndarray
    landed: np.ndarray | None = None

    @property
    def flow(self) -> np.ndarray:
        """``(H, W, 2) float32`` displacement ``uv_B - uv_A`` (columns wrapped)."""
        h, w = self.valid.shape
        u0 = np.arange(w, dtype=np.float32)[None]
        v0 = np.arange(h, dtype=np.float32)[:, None]
        du = (self.uv[..., 0] - u0 + w / 2) % w - w / 2
        return np.stack([du, self.uv[..., 1] - v0], axis=-1).astype(np.float32)


def _norm3(a: np.ndarray) -> np.ndarray:
    """``(..., 3)`` → ``(...)`` Euclidean norm (einsum: several times faster than
    ``np.linalg.norm(axis=-1)`` on a length-3 last axis)."""
    return np.sqrt(np.einsum("...i,...i->...", a, a))


def project_points(
    points: np.ndarray, T_b_from_a: np.ndarray, height: int, width: int, return_points: bool = False
):
    """Project A-frame points ``(..., 3)`` into panorama B.

    Returns:
        ``(u, v, r)``: continuous pixel coordinates in B and range from B's centre, ``(...)``;
        with ``return_points`` also the points in B's frame ``(..., 3) float32``.
    """
    R = np.asarray(T_b_from_a[:3, :3], np.float32)
    t = np.asarray(T_b_from_a[:3, 3], np.float32)
    q = points @ R.T + t
    r = _norm3(q)
    lon, lat = rays_to_lonlat(q)
    u, v = lonlat_to_pixel(lon, lat, height, width)
    out = (u.astype(np.float32), v.astype(np.float32), r.astype(np.float32))
    return (*out, q) if return_points else out


def sample_bilinear_wrap(image: np.ndarray, u: np.ndarray, v: np.ndarray):
    """Bilinear samples of ``(H, W)`` ``image`` at continuous ``(u, v)``, columns wrapping,
    rows clamped. Invalid (<= 0 or non-finite) neighbours poison the sample.

    Returns:
        ``(value, ok, nmax)``: the sample, whether all 4 neighbours are valid, and the largest
        valid neighbour (0 when none).
    """
    h, w = image.shape
    u = np.nan_to_num(u, nan=0.0)
    v = np.nan_to_num(v, nan=0.0)
    u0 = np.floor(u)
    v0 = np.clip(np.floor(v), 0, h - 1)
    fu = (u - u0).astype(np.float32)
    fv = np.clip(v - v0, 0, 1).astype(np.float32)
    iu0 = u0.astype(np.int64) % w
    iu1 = (iu0 + 1) % w
    iv0 = v0.astype(np.int64)
    iv1 = np.minimum(iv0 + 1, h - 1)
    img = np.where(valid_mask(image), image, 0.0).astype(np.float32)
    a, b = img[iv0, iu0], img[iv0, iu1]
    c, d = img[iv1, iu0], img[iv1, iu1]
    ok = (a > 0) & (b > 0) & (c > 0) & (d > 0)
    val = (a * (1 - fu) + b * fu) * (1 - fv) + (c * (1 - fu) + d * fu) * fv
    nmax = np.maximum(np.maximum(a, b), np.maximum(c, d))
    return val, ok, nmax


def fill_radius(range_m: np.ndarray) -> int:
    """Gap-filling radius for :func:`fill_sparse` from the fraction of valid pixels: 0 for
    dense depth (>= 90 % valid), ``ceil(1 / sqrt(density))`` pixels for sparse LiDAR (2 px at
    30 %, RealSee3D's real scans), at most 8."""
    return radius_for_density(float(valid_mask(range_m).mean()))


def radius_for_density(density: float) -> int:
    """:func:`fill_radius` from the fraction of valid pixels.

    >>> radius_for_density(0.3), radius_for_density(0.95), radius_for_density(0.0)
    (2, 0, 0)
    """
    if density >= 0.9 or density == 0.0:
        return 0
    return int(min(8, math.ceil(1.0 / math.sqrt(density))))


def fill_sparse(range_m: np.ndarray, radius: int) -> np.ndarray:
    """Fill invalid pixels with the range of the nearest valid pixel within ``radius`` pixels
    (Euclidean, columns wrapping at the seam): sparse LiDAR depth becomes usable for occlusion
    tests and bilinear sampling, like RealSee3D's dilated warp masks. Valid pixels are kept;
    pixels with no valid pixel within ``radius`` stay 0.

    >>> r = np.zeros((4, 8), np.float32); r[1, 2] = 2.0
    >>> f = fill_sparse(r, 1); float(f[0, 2]), float(f[3, 2]), float(f[1, 2])
    (2.0, 0.0, 2.0)
    """
    if radius <= 0:
        return range_m
    valid = valid_mask(range_m)
    if valid.all() or not valid.any():
        return range_m
    padded = np.concatenate([valid[:, -radius:], valid, valid[:, :radius]], axis=1)
    values = np.concatenate([range_m[:, -radius:], range_m, range_m[:, :radius]], axis=1)
    dist, labels = cv2.distanceTransformWithLabels(
        (~padded).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    src = np.argwhere(padded)  # label k is the k-th valid pixel in raster order
    nearest = values[src[labels - 1, 0], src[labels - 1, 1]]
    filled = np.where(padded, values, np.where(dist <= radius, nearest, 0.0))
    return filled[:, radius:-radius].astype(np.float32)


def correspond(
    range_a: np.ndarray,
    T_world_from_a: np.ndarray,
    T_world_from_b: np.ndarray,
    range_b: np.ndarray | None = None,
    tol: float = 0.05,
    round_trip_px: float = 1.0,
    fill: int | None = None,
) -> Correspondence:
    """Dense correspondence of A's pixels in B (see the module doc).

    Args:
        range_a: ``(H, W)`` metres. range_b: ``(H, W)`` metres of B (same size) or ``None``.
        T_world_from_a, T_world_from_b: ``(4, 4)`` poses.
        tol: relative range tolerance of the occlusion test.
        round_trip_px: largest A→B→A error (pixels) of a consistent match.
        fill: gaps of sparse ``range_b`` filled within this radius (:func:`fill_sparse`)
            before the tests; ``None``: :func:`fill_radius` of ``range_b`` (0 for dense depth).

    >>> c = correspond(np.full((4, 8), 2.0, np.float32), np.eye(4), np.eye(4))
    >>> bool(np.allclose(c.flow, 0, atol=1e-4)), int(c.consistent.sum())
    (True, 32)
    """
    h, w = check_equirect(range_a, "range_a")
    valid = valid_mask(range_a)
    T_ba = relative_pose(T_world_from_a, T_world_from_b)
    u, v, r, q_a = project_points(range_to_points(range_a), T_ba, h, w, return_points=True)
    u, v = np.where(valid, u, np.nan), np.where(valid, v, np.nan)
    uv = np.stack([u, v], axis=-1).astype(np.float32)
    if range_b is None:
        return Correspondence(
            uv, np.where(valid, r, np.nan), valid, valid.copy(), valid.copy(), valid.copy()
        )
    if np.shape(range_b) != (h, w):
        raise ValueError(f"range_b must be ({h}, {w}) like range_a, got {np.shape(range_b)}")
    fill = fill_radius(range_b) if fill is None else fill
    measured = valid_mask(range_b)
    range_b = fill_sparse(range_b, fill)
    rb, ok4, nmax = sample_bilinear_wrap(range_b, u, v)
    iv = np.clip(np.rint(np.nan_to_num(v)), 0, h - 1).astype(np.int64)  # nearest pixel in B
    iu = np.rint(np.nan_to_num(u)).astype(np.int64) % w
    near = np.where(valid_mask(range_b), range_b, 0.0)[iv, iu]
    measured_here = measured[iv, iu]
    ref = np.maximum(near, np.where(ok4, rb, 0.0))
    landed = valid & (near > 0)  # B has (possibly filled) depth where A's point lands
    # a filled gap holds a neighbour's range: its z-test gets twice the tolerance
    tol_here = np.where(measured_here, tol, 2 * tol)
    visible = landed & (r <= ref * (1 + tol_here))
    # round trip: B's own surface at the match, back into A; the error is the angle between
    # the start ray and the returned one, in pixels of the equator (pole-safe)
    # the ray of B through the match is the direction of A's point seen from B
    q = q_a * (rb / np.maximum(r, 1e-12))[..., None]
    T_ab = relative_pose(T_world_from_b, T_world_from_a)
    back = q @ T_ab[:3, :3].T.astype(np.float32) + T_ab[:3, 3].astype(np.float32)
    back /= np.maximum(_norm3(back), 1e-12)[..., None]
    chord = _norm3(back - unit_rays(h, w))
    err = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)) * (h / np.pi)
    # where B's depth is a filled gap, its sample is a neighbour's: the z-test above (with its
    # wider tolerance) decides, the round trip cannot be trusted to the pixel
    consistent = visible & ok4 & ((err < round_trip_px) | ~measured_here)
    return Correspondence(
        uv, np.where(valid, r, np.nan).astype(np.float32), valid, visible, consistent, landed
    )


def sample_matches(corr: Correspondence, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` consistent matches ``(n, 4) float32`` rows ``u_a, v_a, u_b, v_b``."""
    vv, uu = np.nonzero(corr.consistent)
    if len(vv) == 0:
        return np.zeros((0, 4), np.float32)
    pick = np.random.default_rng(seed).choice(len(vv), min(n, len(vv)), replace=False)
    vv, uu = vv[pick], uu[pick]
    return np.stack([uu, vv, corr.uv[vv, uu, 0], corr.uv[vv, uu, 1]], 1).astype(np.float32)


def overlap(corr: Correspondence, denominator: str = "checked") -> float:
    """Fraction of A's view (by solid angle: each pixel weighs ``cos(lat)``, as it covers on
    the sphere) consistently seen in B: over A's valid pixels that land where B has depth
    (``checked``, the default: B's blind spots neither confirm nor deny, so sparse LiDAR and
    dense depth of one scene agree), over A's valid pixels (``valid``) or over the whole
    sphere (``all``)."""
    if denominator not in ("checked", "valid", "all"):
        raise ValueError(f"denominator must be checked, valid or all, got {denominator!r}")
    h, w = corr.valid.shape
    weight = np.cos((np.arange(h) + 0.5) / h * np.pi - np.pi / 2)[:, None]
    base = {"all": np.ones_like(corr.valid), "valid": corr.valid, "checked": corr.landed}
    mask = base[denominator] if base[denominator] is not None else corr.valid
    total = float((weight * mask).sum())
    return float((weight * corr.consistent).sum()) / total if total > 0 else 0.0


def covisibility_matrix(
    ranges: list[np.ndarray], poses: list[np.ndarray], tol: float = 0.05
) -> np.ndarray:
    """RealSee3D-style covisibility of a scene's panoramas (the reference of the compiled
    :func:`~workbench.geometry.correspondence_fast.covisibility_matrix_fast`).

    Entry ``ij`` is the mean of the co-visible (occlusion-checked, consistent) pixel fractions
    i→j and j→i, so the matrix is symmetric with a unit diagonal.

    Returns:
        ``(N, N) float64``.
    """
    n = len(ranges)
    frac = np.eye(n)
    for i in range(n):
        for j in range(n):
            if i != j:
                frac[i, j] = overlap(correspond(ranges[i], poses[i], poses[j], ranges[j], tol))
    return (frac + frac.T) / 2


def write_covisibility(path, matrix: np.ndarray) -> None:
    """RealSee3D's ``covisibility.txt``: N rows of N floats, no header, rows and columns in the
    scene's ``viewpoints.txt`` order (the order of ``matrix``)."""
    lines = [" ".join(f"{x:.4f}" for x in row) for row in np.asarray(matrix)]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_covisibility(path, n: int | None = None) -> np.ndarray:
    """A ``covisibility.txt`` as ``(N, N) float64`` (rows in ``viewpoints.txt`` order).

    Raises:
        WorkbenchError: naming ``path``: not numbers, not square, or not ``n`` x ``n``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"cannot read covisibility ({type(e).__name__})", path) from None
    rows = [ln.replace(",", " ").split() for ln in text.splitlines() if ln.strip()]
    try:
        m = np.array(rows, dtype=np.float64)
    except ValueError:
        raise WorkbenchError("covisibility rows must be N numbers each", path) from None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or (n is not None and m.shape[0] != n):
        want = f"{n} x {n} (one row per viewpoint)" if n is not None else "square"
        raise WorkbenchError(f"covisibility must be {want}, got {m.shape}", path)
    return m
