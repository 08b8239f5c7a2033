"""Camera poses: ``T_world_from_cam`` as ``(4, 4) float64``, metres, ``p_world = R @ p_cam + t``.

The world frame is gravity-aligned with **y down** (an upright camera at the identity). Yaw is the
heading of the camera's forward axis ``f = R[:, 2]`` in the world x-z plane,
``yaw = atan2(f[0], f[2])``; with ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (scipy's intrinsic
``"YXZ"``) positive pitch looks up and roll turns about the forward axis. Euler angles come from
:class:`scipy.spatial.transform.Rotation` only.

The text format (seed layout ``pose/<view>.txt``): four rows of four numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from workbench.errors import WorkbenchError
from workbench.io import write_text_atomic

__all__ = [
    "check_rigid",
    "read_pose",
    "write_pose",
    "invert",
    "compose",
    "relative_pose",
    "camera_centre",
    "yaw_pitch_roll",
    "pose_from_yaw_pitch_roll",
    "transform_points",
]


def check_rigid(T: np.ndarray, name: str = "pose", atol: float = 1e-4) -> np.ndarray:
    """Check that ``T`` is a rigid transform and return it as ``(4, 4) float64``.

    Checks: shape ``(4, 4)``, finite, ``R`` orthonormal (``|RᵀR - I| ≤ atol``), ``det R = +1``,
    last row ``0 0 0 1``.

    Raises:
        ValueError: naming ``name`` and what is wrong.

    >>> check_rigid(np.eye(4)).shape
    (4, 4)
    """
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"{name} must be (4, 4), got {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ValueError(f"{name} has non-finite entries")
    if not np.allclose(T[3], [0, 0, 0, 1], atol=atol):
        raise ValueError(f"{name} last row must be 0 0 0 1, got {np.round(T[3], 6).tolist()}")
    R = T[:3, :3]
    err = float(np.abs(R.T @ R - np.eye(3)).max())
    if err > atol:
        raise ValueError(f"{name} rotation is not orthonormal (max |RᵀR - I| = {err:.3g})")
    det = float(np.linalg.det(R))
    if det < 0:
        raise ValueError(f"{name} rotation has det {det:.3g} (a reflection, expected +1)")
    return T


def read_pose(path: str | os.PathLike) -> np.ndarray:
    """Read a ``T_world_from_cam`` text file (4 rows of 4 numbers) and check it is rigid.

    Raises:
        WorkbenchError: naming the file when it is missing, not 4x4 numbers, or not rigid.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError("pose file not found", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"unreadable pose file ({e.__class__.__name__})", path) from None
    rows = [line.replace(",", " ").split() for line in text.splitlines() if line.strip()]
    try:
        T = np.array([[float(x) for x in row] for row in rows], dtype=np.float64)
    except ValueError:
        raise WorkbenchError("pose is not numeric (expected 4 rows of 4 numbers)", path) from None
    if T.shape == (3, 4):
        T = np.vstack([T, [0.0, 0.0, 0.0, 1.0]])
    if T.shape != (4, 4):
        shape = [len(r) for r in rows]
        raise WorkbenchError(f"pose must be 4 rows of 4 numbers, got row lengths {shape}", path)
    try:
        return check_rigid(T, "pose")
    except ValueError as e:
        raise WorkbenchError(str(e), path) from None


def write_pose(path: str | os.PathLike, T: np.ndarray) -> Path:
    """Write ``T`` (checked rigid) as 4 rows of 4 numbers, atomically; full float64 precision."""
    T = check_rigid(T)
    text = "\n".join(" ".join(repr(float(x)) for x in row) for row in T) + "\n"
    return write_text_atomic(path, text)


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform ``(4, 4)`` → ``(4, 4)``, using ``Rᵀ`` (no general inverse)."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"pose must be (4, 4), got {T.shape}")
    out = np.eye(4)
    R = T[:3, :3]
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def compose(*Ts: np.ndarray) -> np.ndarray:
    """Product ``T1 @ T2 @ ...`` of ``(4, 4)`` transforms (frames chain left to right)."""
    out = np.eye(4)
    for T in Ts:
        T = np.asarray(T, dtype=np.float64)
        if T.shape != (4, 4):
            raise ValueError(f"pose must be (4, 4), got {T.shape}")
        out = out @ T
    return out


def relative_pose(T_world_from_a: np.ndarray, T_world_from_b: np.ndarray) -> np.ndarray:
    """``T_b_from_a``: maps points in camera A's frame into camera B's frame.

    >>> Ta = np.eye(4); Tb = np.eye(4); Tb[0, 3] = 1.0   # B sits 1 m to the right of A
    >>> relative_pose(Ta, Tb)[:3, 3].tolist()          # A's origin is 1 m left of B
    [-1.0, 0.0, 0.0]
    """
    return invert(T_world_from_b) @ np.asarray(T_world_from_a, dtype=np.float64)


def camera_centre(T_world_from_cam: np.ndarray) -> np.ndarray:
    """Camera centre in the world frame, ``(3,)`` metres (works on ``(..., 4, 4)`` stacks too)."""
    T = np.asarray(T_world_from_cam, dtype=np.float64)
    if T.shape[-2:] != (4, 4):
        raise ValueError(f"pose must be (..., 4, 4), got {T.shape}")
    return T[..., :3, 3].copy()


def yaw_pitch_roll(T_world_from_cam: np.ndarray) -> np.ndarray:
    """Yaw, pitch and roll in radians, ``(..., 4, 4)`` or ``(..., 3, 3)`` → ``(..., 3)``.

    ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``; yaw in ``(-π, π]`` is the heading of the forward axis.

    >>> np.round(yaw_pitch_roll(pose_from_yaw_pitch_roll(0.5, 0.1, -0.2)), 6).tolist()
    [0.5, 0.1, -0.2]
    """

    T = np.asarray(T_world_from_cam, dtype=np.float64)
    if T.shape[-2:] not in ((4, 4), (3, 3)):
        raise ValueError(f"pose must be (..., 4, 4) or (..., 3, 3), got {T.shape}")
    R = T[..., :3, :3]
    flat = R.reshape(-1, 3, 3)
    angles = Rotation.from_matrix(flat).as_euler("YXZ")
    return angles.reshape(R.shape[:-2] + (3,))


def pose_from_yaw_pitch_roll(
    yaw: float, pitch: float = 0.0, roll: float = 0.0, centre=(0.0, 0.0, 0.0)
) -> np.ndarray:
    """``T_world_from_cam`` from yaw/pitch/roll (radians) and a camera centre (metres)."""

    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("YXZ", [yaw, pitch, roll]).as_matrix()
    T[:3, 3] = np.asarray(centre, dtype=np.float64)
    return T


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply ``(4, 4)`` ``T`` to ``(..., 3)`` points; returns float64 of the same shape."""
    T = np.asarray(T, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if T.shape != (4, 4) or p.shape[-1:] != (3,):
        raise ValueError(f"expected T (4, 4) and points (..., 3), got {T.shape} and {p.shape}")
    return p @ T[:3, :3].T + T[:3, 3]
