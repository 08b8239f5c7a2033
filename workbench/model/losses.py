"""Depth losses as pure functions ``(y_true, y_pred, mask, *, params)`` on ``(B, H, W, 1)``
range tensors in metres; ``mask`` is 1 where the ground truth is valid. Invalid pixels never
contribute, and every loss has finite gradients on an all-invalid batch (it is then 0).

``total = rate[0] * L1 + rate[1] * normal + rate[2] * SSIM`` (README, *Training*). The normal loss
uses
exactly the scheme of :mod:`workbench.geometry.normals` (central differences wrapping at the
seam, one-sided at the poles, ``n = dP/dv × dP/du``), in TF.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from workbench.geometry.equirect import unit_rays

__all__ = ["masked_l1", "range_to_normals_tf", "normal_loss", "ssim_loss", "total_loss"]


def masked_l1(y_true, y_pred, mask, log: bool = False):
    """Mean ``|y_pred - y_true|`` over valid pixels (0 when none is valid); with ``log``, mean
    ``|log y_pred - log y_true|`` (≈ relative error, so near and far pixels weigh alike)."""
    if log:
        safe_true = tf.where(mask > 0, y_true, 1.0)
        safe_pred = tf.where(mask > 0, tf.maximum(y_pred, 1e-3), 1.0)
        y_true, y_pred = tf.math.log(safe_true), tf.math.log(safe_pred)
    diff = tf.abs(tf.where(mask > 0, y_pred - y_true, 0.0))
    return tf.reduce_sum(diff) / tf.maximum(tf.reduce_sum(mask), 1.0)


def range_to_normals_tf(range_m, mask=None):
    """Normals of ``(B, H, W, 1)`` range maps → ``(B, H, W, 3)`` unit normals and a
    ``(B, H, W, 1)`` validity mask (centre and its four neighbours valid)."""
    h, w = range_m.shape[1], range_m.shape[2]
    rays = tf.constant(np.asarray(unit_rays(h, w)), tf.float32)
    if mask is None:
        mask = tf.cast(range_m > 0, tf.float32)
    p = range_m * rays[None]

    def rows_pad(x):  # repeat first/last row: one-sided differences at the poles
        return tf.concat([x[:, :1], x, x[:, -1:]], axis=1)

    pp, mp = rows_pad(p), rows_pad(mask)
    du = tf.roll(p, -1, axis=2) - tf.roll(p, 1, axis=2)
    dv = pp[:, 2:] - pp[:, :-2]
    n = tf.linalg.cross(dv, du)
    norm = tf.sqrt(tf.reduce_sum(n * n, axis=-1, keepdims=True) + 1e-12)
    ok = mask * mp[:, 2:] * mp[:, :-2] * tf.roll(mask, -1, axis=2) * tf.roll(mask, 1, axis=2)
    return n / norm * ok, ok


def normal_loss(y_true, y_pred, mask):
    """Mean ``1 - cos`` between normals of the predicted and true range, over pixels whose
    normals are valid in the ground truth."""
    n_true, ok = range_to_normals_tf(y_true, mask)
    n_pred, _ = range_to_normals_tf(y_pred, tf.ones_like(mask))
    cos = tf.reduce_sum(n_true * n_pred, axis=-1, keepdims=True)
    return tf.reduce_sum((1.0 - cos) * ok) / tf.maximum(tf.reduce_sum(ok), 1.0)


def _box_filter(x, k: int):
    """Mean over ``k x k`` windows, wrapping horizontally, edge-padding vertically."""
    r = k // 2
    x = tf.concat([x[:, :, -r:], x, x[:, :, :r]], axis=2) if r else x
    x = tf.concat([tf.repeat(x[:, :1], r, axis=1), x, tf.repeat(x[:, -1:], r, axis=1)], axis=1)
    return tf.nn.avg_pool2d(x, k, 1, "VALID")


def ssim_loss(y_true, y_pred, mask, ssim_k: int = 7, c1: float = 1e-4, c2: float = 9e-4):
    """Mean ``(1 - SSIM) / 2`` of the range maps over valid pixels, window ``ssim_k`` (odd).

    Invalid ground-truth pixels are filled with the (gradient-stopped) prediction so they add no
    error to their neighbours' windows. Range is divided by 10 m so the constants suit metres.
    """
    if ssim_k < 1 or ssim_k % 2 == 0:
        raise ValueError(f"ssim_k must be a positive odd integer, got {ssim_k}")
    x = tf.where(mask > 0, y_true, tf.stop_gradient(y_pred)) / 10.0
    y = y_pred / 10.0
    mx, my = _box_filter(x, ssim_k), _box_filter(y, ssim_k)
    sx = _box_filter(x * x, ssim_k) - mx * mx
    sy = _box_filter(y * y, ssim_k) - my * my
    sxy = _box_filter(x * y, ssim_k) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sx + sy + c2))
    d = tf.clip_by_value((1.0 - ssim) / 2.0, 0.0, 1.0)
    return tf.reduce_sum(d * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def total_loss(
    y_true, y_pred, mask, rate=(1.0, 1.0, 1.0), ssim_k: int = 7, log_l1: bool = False
) -> dict:
    """``rate[0] * L1 + rate[1] * normal + rate[2] * SSIM``; returns every term and ``total``.
    ``log_l1`` takes the L1 term on log range (:func:`masked_l1`)."""
    if len(rate) != 3:
        raise ValueError(f"rate must have 3 weights (L1, normal, SSIM), got {rate}")
    terms = {
        "l1": masked_l1(y_true, y_pred, mask, log_l1),
        "normal": normal_loss(y_true, y_pred, mask),
        "ssim": ssim_loss(y_true, y_pred, mask, ssim_k),
    }
    terms["total"] = rate[0] * terms["l1"] + rate[1] * terms["normal"] + rate[2] * terms["ssim"]
    return terms
