"""Metric scale from the rig: rescale a predicted range map so that its floor sits the known
camera height below the camera.

A monocular prediction's scale comes from room statistics; a capture rig's camera height is
known to a centimetre. The floor plane is fitted to the prediction's lower hemisphere
(:func:`workbench.geometry.camera_height.fit_floor`: RANSAC, level within 10°, covering at least
6 % of the view) and the whole map is multiplied by ``camera_height_m / fitted height``. A map
without a visible floor is refused (:class:`~workbench.errors.WorkbenchError`) rather than
scaled by a guess. Convention: README, *Geometry convention* (range in metres, y down).
"""

from __future__ import annotations

import numpy as np

from workbench.errors import WorkbenchError
from workbench.geometry.camera_height import FloorFit, fit_floor

__all__ = ["rescale_to_camera_height", "CAMERA_HEIGHT_RANGE_M"]

CAMERA_HEIGHT_RANGE_M = (0.3, 3.0)  # accepted rig heights, metres


def rescale_to_camera_height(
    range_m: np.ndarray,
    camera_height_m: float,
    name: str = "range_m",
    R_world_from_cam: np.ndarray | None = None,
) -> tuple[np.ndarray, float, FloorFit]:
    """Scale ``range_m`` so that its fitted floor lies ``camera_height_m`` below the camera.

    Args:
        range_m: ``(H, W)`` float, metres (any scale), ``W == 2H``; invalid pixels (``<= 0``,
            non-finite) stay as they are.
        camera_height_m: the rig's camera height above the floor, metres, within
            :data:`CAMERA_HEIGHT_RANGE_M`.
        name: the image or file the map belongs to, named in the error.
        R_world_from_cam: optional ``(3, 3)`` camera orientation (identity: upright).

    Returns:
        ``(scaled (H, W) float32 metres, factor, fit)``: ``scaled = factor · range_m``.

    Raises:
        WorkbenchError: ``<name>: --camera-height 1.5: no floor visible (...)`` when the map has
            no level floor covering enough of the view.

    >>> from workbench.geometry.analytic import box_room
    >>> r = box_room(32, lo=(-2, -1.5, -3), hi=(2, 1.5, 3))[0] * 0.6
    >>> scaled, factor, _ = rescale_to_camera_height(r, 1.5); round(factor, 2), scaled.shape
    (1.67, (32, 64))
    """
    lo, hi = CAMERA_HEIGHT_RANGE_M
    if not lo <= camera_height_m <= hi:
        raise WorkbenchError(
            f"must be between {lo} and {hi} metres, got {camera_height_m}", "--camera-height"
        )
    r = np.asarray(range_m, np.float32)
    fit = fit_floor(r, R_world_from_cam)
    if not fit.ok:
        raise WorkbenchError(
            f"--camera-height {camera_height_m:g}: no floor visible to rescale to ({fit.problem})",
            name,
        )
    factor = float(camera_height_m / fit.height_m)
    return (r * np.float32(factor)).astype(np.float32), factor, fit
