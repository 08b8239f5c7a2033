"""Dense two-view correspondence between panoramas from depth and poses.

For panoramas A and B with ``range_A`` and poses ``T_world_from_A``, ``T_world_from_B``, every
valid pixel of A is back-projected (DESIGN §1 convention, :mod:`workbench.geometry.equirect`),
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

from dataclasses import dataclass
from pathlib import Path

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
    """

    uv: np.ndarray
    range_in_b: np.ndarray
    valid: np.ndarray
    visible: np.ndarray
    consistent: np.ndarray

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


def correspond(
    range_a: np.ndarray,
    T_world_from_a: np.ndarray,
    T_world_from_b: np.ndarray,
    range_b: np.ndarray | None = None,
    tol: float = 0.05,
    round_trip_px: float = 1.0,
) -> Correspondence:
    """Dense correspondence of A's pixels in B (see the module doc).

    Args:
        range_a: ``(H, W)`` metres. range_b: ``(H, W)`` metres of B (same size) or ``None``.
        T_world_from_a, T_world_from_b: ``(4, 4)`` poses.
        tol: relative range tolerance of the occlusion test.
        round_trip_px: largest A→B→A error (pixels) of a consistent match.

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
        return Correspondence(uv, np.where(valid, r, np.nan), valid, valid.copy(), valid.copy())
    if np.shape(range_b) != (h, w):
        raise ValueError(f"range_b must be ({h}, {w}) like range_a, got {np.shape(range_b)}")
    rb, ok4, nmax = sample_bilinear_wrap(range_b, u, v)
    near = np.where(valid_mask(range_b), range_b, 0.0)[
        np.clip(np.rint(np.nan_to_num(v)), 0, h - 1).astype(np.int64),
        np.rint(np.nan_to_num(u)).astype(np.int64) % w,
    ]
    ref = np.maximum(near, np.where(ok4, rb, 0.0))
    visible = valid & (near > 0) & (r <= ref * (1 + tol))
    # round trip: B's own surface at the match, back into A; the error is the angle between
    # the start ray and the returned one, in pixels of the equator (pole-safe)
    # the ray of B through the match is the direction of A's point seen from B
    q = q_a * (rb / np.maximum(r, 1e-12))[..., None]
    T_ab = relative_pose(T_world_from_b, T_world_from_a)
    back = q @ T_ab[:3, :3].T.astype(np.float32) + T_ab[:3, 3].astype(np.float32)
    back /= np.maximum(_norm3(back), 1e-12)[..., None]
    chord = _norm3(back - unit_rays(h, w))
    err = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)) * (h / np.pi)
    consistent = visible & ok4 & (err < round_trip_px)
    return Correspondence(
        uv, np.where(valid, r, np.nan).astype(np.float32), valid, visible, consistent
    )


def sample_matches(corr: Correspondence, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` consistent matches ``(n, 4) float32`` rows ``u_a, v_a, u_b, v_b``."""
    vv, uu = np.nonzero(corr.consistent)
    if len(vv) == 0:
        return np.zeros((0, 4), np.float32)
    pick = np.random.default_rng(seed).choice(len(vv), min(n, len(vv)), replace=False)
    vv, uu = vv[pick], uu[pick]
    return np.stack([uu, vv, corr.uv[vv, uu, 0], corr.uv[vv, uu, 1]], 1).astype(np.float32)


def overlap(corr: Correspondence, denominator: str = "all") -> float:
    """Fraction of A's pixels (``all``) or valid pixels (``valid``) consistently seen in B."""
    n = corr.valid.size if denominator == "all" else max(int(corr.valid.sum()), 1)
    return float(corr.consistent.sum()) / n


def covisibility_matrix(
    ranges: list[np.ndarray], poses: list[np.ndarray], tol: float = 0.05
) -> np.ndarray:
    """RealSee3D-style covisibility of a scene's panoramas.

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


def write_covisibility(path, matrix: np.ndarray, view_ids: list[str]) -> None:
    """``covisibility.txt``: a header line of view ids, then one row of N floats per view."""

    lines = ["# " + " ".join(view_ids)]
    lines += [" ".join(f"{x:.4f}" for x in row) for row in matrix]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_covisibility(path) -> tuple[np.ndarray, list[str]]:
    """Inverse of :func:`write_covisibility` (the header is optional)."""

    text = Path(path).read_text().splitlines()
    ids = text[0][1:].split() if text and text[0].startswith("#") else []
    rows = [ln.split() for ln in text if ln.strip() and not ln.startswith("#")]
    try:
        m = np.array(rows, dtype=np.float64)
    except ValueError:
        raise WorkbenchError("covisibility rows must be numbers", path) from None
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise WorkbenchError(f"covisibility must be a square matrix, got {m.shape}", path)
    return m, ids
