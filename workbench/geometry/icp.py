"""Point-to-plane alignment of one panorama's points to another's depth, by Gauss-Newton with
projective data association (each point is looked up where it projects into B, no search).

Model: A's points ``p`` (A's frame) move by a correction ``C`` in A's frame, ``p' = C p``
(``rigid``: 6 parameters; ``scale_a``: ``p' = s p``, A's ranges wrong; ``scale_b``: their
positions in B's frame scaled, ``q' = s q``, B's ranges wrong), then into B with the given
``T_b_from_a``. Each iteration projects ``p'`` into B, takes B's measured range along the
same ray (:func:`~workbench.geometry.depth_residual.sample_measured`) and B's normal at the
nearest pixel, and minimises the point-to-plane distance ``n · (q - r_b d)`` with Tukey
weights of width ``3 (tol_abs + tol_rel r_b)``; points that B sees behind a closer surface
(further than ``gate`` relative) and grazing ones (``|n · d| < 0.2``) get no weight, so
occlusions and a changed region do not pull the fit.

So ``T_world_from_a @ C`` is A's pose corrected (``rigid``); a scale fit reports the ratio
of A's ranges to B's. Up to 40 iterations, stopping once a step moves under 0.1 mm and
0.006°: each step's reach is bounded by what associates (Tukey width, the gate), so a view 1 m
off needs 20-30 of them (with 12 such a fit stopped at 60 cm); a pose that agrees stops after
one or two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.geometry.depth_residual import sample_measured
from workbench.geometry.equirect import lonlat_to_pixel, rays_to_lonlat

__all__ = ["Fit", "associate", "fit_correction", "rotation_deg"]


@dataclass(frozen=True)
class Fit:
    """A fitted correction.

    Attributes:
        C: ``(4, 4)`` correction in A's frame (identity for the scale models).
        ratio: A's ranges over B's as the scale fit finds them (1.05: A reads 5 % longer
            than B; 1 for ``rigid``).
        inliers_before, inliers_after: inlier fraction of the associated points (within
            ``tol_abs + tol_rel * r_b``) at the identity and at the fit.
        n: points associated at the fit.
    """

    C: np.ndarray
    ratio: float
    inliers_before: float
    inliers_after: float
    n: int

    @property
    def translation_cm(self) -> float:
        return float(np.linalg.norm(self.C[:3, 3]) * 100.0)

    @property
    def rotation_deg(self) -> float:
        return rotation_deg(self.C)


def rotation_deg(T: np.ndarray) -> float:
    """Rotation angle of a ``(4, 4)`` or ``(3, 3)`` transform, degrees.

    >>> round(rotation_deg(np.diag([1.0, -1.0, -1.0])), 3)
    180.0
    """
    c = (np.trace(np.asarray(T)[:3, :3]) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def associate(q: np.ndarray, range_b: np.ndarray, normals_b: np.ndarray, gate: float):
    """Projective association of points ``q`` ``(N, 3)`` in B's frame with B's depth.

    Returns:
        ``(r, r_b, n, d, ok)``: ranges of ``q`` ``(N,)``, B's measured range along their
        rays ``(N,)``, B's normals at the nearest pixels ``(N, 3)``, the unit rays ``(N, 3)``,
        and which associations are usable (measured, not occluded beyond ``gate``, not grazing).
    """
    h, w = range_b.shape
    r = np.sqrt(np.einsum("ij,ij->i", q, q))
    d = q / np.maximum(r, 1e-9)[:, None]
    u, v = lonlat_to_pixel(*rays_to_lonlat(q), h, w)
    r_b, ok = sample_measured(range_b, u, v)
    iv = np.clip(np.rint(np.nan_to_num(v)), 0, h - 1).astype(np.int64)
    iu = np.rint(np.nan_to_num(u)).astype(np.int64) % w
    n = normals_b[iv, iu].astype(np.float64)
    ok &= (r - r_b <= gate * r_b) & (np.einsum("ij,ij->i", n, d) < -0.2)
    return r, r_b, n, d, ok


def _hat(w: np.ndarray) -> np.ndarray:
    return np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])


def _exp(xi: np.ndarray) -> np.ndarray:
    """``(4, 4)`` rigid transform of a twist ``(ω, t)`` (rotation by Rodrigues)."""
    T = np.eye(4)
    theta = float(np.linalg.norm(xi[:3]))
    K = _hat(xi[:3] / theta) if theta > 1e-12 else np.zeros((3, 3))
    T[:3, :3] = np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K
    T[:3, 3] = xi[3:]
    return T


def _jacobian(p, q, n, R, model):
    """Rows ``de/dparameters`` of the point-to-plane residuals: a twist ``(ω, t)`` of A's
    points (``rigid``), or a relative scale of A's points (``scale_a``) or of their
    positions seen from B (``scale_b``)."""
    if model == "scale_b":
        return np.einsum("ij,ij->i", n, q)[:, None]
    na = n @ R  # B's normals in A's frame (Rᵀ n)
    if model == "scale_a":
        return np.einsum("ij,ij->i", na, p)[:, None]
    return np.hstack([np.cross(p, na), na])


def _step(p, q, R, range_b, normals_b, model, tols, gate):
    """One Gauss-Newton step: ``(delta, inlier fraction, n)`` at the current points."""
    r, r_b, n, d, ok = associate(q, range_b, normals_b, gate)
    if ok.sum() < 12:
        return None, float("nan"), int(ok.sum())
    p, q, r, r_b, n, d = p[ok], q[ok], r[ok], r_b[ok], n[ok], d[ok]
    sigma = tols[0] + tols[1] * r_b
    inl = float(np.mean(np.abs(r - r_b) <= sigma))
    e = (r - r_b) * np.einsum("ij,ij->i", n, d)  # n · (q - r_b d)
    c = 3.0 * sigma
    wts = np.where(np.abs(e) < c, (1 - (e / c) ** 2) ** 2, 0.0)
    J = _jacobian(p, q, n, R, model)
    H = J.T @ (J * wts[:, None]) + 1e-9 * np.eye(J.shape[1])
    delta = -np.linalg.solve(H, J.T @ (wts * e))
    return delta, inl, len(e)


def fit_correction(
    points_a: np.ndarray,
    T_b_from_a: np.ndarray,
    range_b: np.ndarray,
    normals_b: np.ndarray,
    model: str = "rigid",
    tol_abs: float = 0.02,
    tol_rel: float = 0.01,
    gate: float = 0.25,
    iters: int = 40,
) -> Fit:
    """Fit a correction (module doc) from A's points ``(N, 3)`` (A's frame, metres), B's
    range ``(H, W)`` and normals ``(H, W, 3)`` (:func:`~workbench.geometry.normals.
    range_to_normals`) and the poses' ``T_b_from_a`` ``(4, 4)``.

    Args:
        model: ``rigid`` (A's pose), ``scale_a`` (A's ranges times a factor) or ``scale_b``
            (B's ranges times a factor: A's points scaled about B's centre).

    Returns:
        :class:`Fit`; ``inliers_before`` is NaN when fewer than 12 points associate.
    """
    if model not in ("rigid", "scale_a", "scale_b"):
        raise ValueError(f"model must be rigid, scale_a or scale_b, got {model!r}")
    pts = np.asarray(points_a, np.float64).reshape(-1, 3)
    R, t = np.asarray(T_b_from_a, np.float64)[:3, :3], np.asarray(T_b_from_a)[:3, 3]
    C, s, first, inl, n = np.eye(4), 1.0, float("nan"), float("nan"), 0
    for k in range(iters + 1):
        p = (s if model == "scale_a" else 1.0) * (pts @ C[:3, :3].T) + C[:3, 3]
        q = (s if model == "scale_b" else 1.0) * (p @ R.T + t)
        delta, inl, n = _step(p, q, R, range_b, normals_b, model, (tol_abs, tol_rel), gate)
        first = inl if k == 0 else first
        if delta is None or k == iters:
            break
        if model == "rigid":
            C = _exp(delta) @ C
        else:
            s *= 1.0 + float(delta[0])
        if np.abs(delta).max() < 1e-4:  # 0.1 mm, 0.006 degrees, 0.01 %
            break
    # scale_a: A's points times s match B, so A reads 1/s of B; scale_b: A's points seen
    # from B times s match B, so B reads s times A
    return Fit(C, 1.0 / s, first, inl, n)
