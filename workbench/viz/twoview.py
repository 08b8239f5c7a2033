"""Two-view figures as images: matches drawn between stacked panoramas, colour-coded flow."""

from __future__ import annotations

import cv2
import numpy as np

from workbench.errors import WorkbenchError

__all__ = ["draw_matches", "flow_to_rgb"]


def draw_matches(rgb_a: np.ndarray, rgb_b: np.ndarray, matches: np.ndarray) -> np.ndarray:
    """A stacked above B, a line per match ``(u_a, v_a, u_b, v_b)`` (seam-crossing lines are
    drawn to the nearer copy of B's column). Returns ``(2H, W, 3) uint8``.

    Raises:
        WorkbenchError: naming the argument: images not the same ``(H, W, 3)`` with a pixel,
            ``matches`` not ``(N, 4)``.
    """
    rgb_a, rgb_b, matches = np.asarray(rgb_a), np.asarray(rgb_b), np.asarray(matches)
    if rgb_a.ndim != 3 or rgb_a.shape[2] != 3 or rgb_a.size == 0:
        raise WorkbenchError(f"rgb_a must be (H, W, 3) with a pixel, got {rgb_a.shape}")
    if rgb_b.shape != rgb_a.shape:
        raise WorkbenchError(f"rgb_b must be shaped like rgb_a {rgb_a.shape}, got {rgb_b.shape}")
    if matches.ndim != 2 or matches.shape[1] != 4:
        raise WorkbenchError(f"matches must be (N, 4) (u_a, v_a, u_b, v_b), got {matches.shape}")
    h, w = rgb_a.shape[:2]
    canvas = np.concatenate([rgb_a, rgb_b], axis=0).copy()
    if not len(matches):  # OpenCV refuses an empty colour conversion
        return canvas
    hues = (np.arange(len(matches)) * 37 % 180).astype(np.uint8)
    colours = cv2.cvtColor(
        np.stack([hues, np.full_like(hues, 255), np.full_like(hues, 255)], 1)[None],
        cv2.COLOR_HSV2RGB,
    )[0]
    for (ua, va, ub, vb), c in zip(matches, colours, strict=True):
        if abs(ub - ua) > w / 2:
            ub = ub - w if ub > ua else ub + w
        cv2.line(
            canvas,
            (int(ua), int(va)),
            (int(round(ub)), int(round(vb + h))),
            tuple(int(x) for x in c),
            1,
            cv2.LINE_AA,
        )
    return canvas


def flow_to_rgb(flow: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Colour-code ``(H, W, 2)`` flow: hue = direction, value = magnitude; ``valid``
    ``(H, W)`` bool, invalid black.

    Raises:
        WorkbenchError: naming the argument: ``flow`` not ``(H, W, 2)`` with a pixel, ``valid``
            of another size.
    """
    flow, valid = np.asarray(flow), np.asarray(valid, bool)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.size == 0:
        raise WorkbenchError(f"flow must be (H, W, 2) with a pixel, got {flow.shape}")
    if valid.shape != flow.shape[:2]:
        raise WorkbenchError(f"valid must be {flow.shape[:2]} like flow, got {valid.shape}")
    flow = np.nan_to_num(flow)  # invalid pixels carry NaN flow; they are blacked out below
    mag = np.hypot(flow[..., 0], flow[..., 1])
    ang = np.arctan2(flow[..., 1], flow[..., 0])
    scale = np.percentile(mag[valid], 99) if valid.any() else 1.0
    hsv = np.zeros((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = ((ang + np.pi) / (2 * np.pi) * 179).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / max(scale, 1e-6) * 255, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    rgb[~valid] = 0
    return rgb
