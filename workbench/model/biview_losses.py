"""Losses of bi-view self-supervised depth (Monodepth2-style on panoramas with known poses).

For a pair (A, B) of the same scene with ``T_B_from_A`` known, the U-Net predicts range for both.
A's predicted points are moved into B and projected (README, *Geometry convention*); B's image is
sampled there
(bilinear, columns wrapping at the seam) to reconstruct A, and vice versa (:func:`warp_tf`). The
loss per direction is the photometric error ``alpha * (1 - SSIM) / 2 + (1 - alpha) * L1`` on RGB
at several scales, optionally masked where the target point is visible in the source (a z-test
against the source's *predicted* range, gradient-stopped, so no ground truth is needed), plus
edge-aware smoothness of mean-normalised inverse range, plus an optional supervised L1 term.
Scale is metric because the pose translation is.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from workbench.geometry.equirect import unit_rays
from workbench.model.losses import masked_l1

__all__ = ["warp_tf", "photometric_loss", "smoothness_loss", "biview_losses"]


def warp_tf(src, range_tgt, T_src_from_tgt):
    """Sample ``src`` (B, H, W, C) at the projections of the target's pixels.

    Args:
        src: source image(s) ``(B, H, W, C)``. range_tgt: ``(B, H, W, 1)`` metres.
        T_src_from_tgt: ``(B, 4, 4)``.

    Returns:
        ``(warped (B, H, W, C), range_in_src (B, H, W, 1), (u, v) each (B, H, W))``.
    """
    h, w = src.shape[1], src.shape[2]
    rays = tf.constant(np.asarray(unit_rays(h, w)), tf.float32)
    p = range_tgt * rays[None]
    R, t = T_src_from_tgt[:, :3, :3], T_src_from_tgt[:, :3, 3]
    q = tf.einsum("bij,bhwj->bhwi", R, p) + t[:, None, None, :]
    r = tf.sqrt(tf.reduce_sum(q * q, -1) + 1e-12)
    x, z = q[..., 0], q[..., 2]
    # finite gradients everywhere: atan2 is undefined at x = z = 0 (straight up or down) and
    # asin's derivative is infinite at +-1
    z = tf.where((tf.abs(x) < 1e-9) & (tf.abs(z) < 1e-9), tf.ones_like(z) * 1e-9, z)
    lon = tf.atan2(x, z)
    lat = tf.asin(tf.clip_by_value(q[..., 1] / r, -1.0 + 1e-6, 1.0 - 1e-6))
    u = (lon + np.pi) * (w / (2 * np.pi)) - 0.5
    v = (lat + np.pi / 2) * (h / np.pi) - 0.5
    u0, v0 = tf.floor(u), tf.floor(v)
    fu, fv = (u - u0)[..., None], tf.clip_by_value(v - v0, 0.0, 1.0)[..., None]
    iu0 = tf.math.floormod(tf.cast(u0, tf.int32), w)
    iu1 = tf.math.floormod(iu0 + 1, w)
    iv0 = tf.clip_by_value(tf.cast(v0, tf.int32), 0, h - 1)
    iv1 = tf.clip_by_value(iv0 + 1, 0, h - 1)

    def g(iv, iu):
        return tf.gather_nd(src, tf.stack([iv, iu], -1), batch_dims=1)

    out = (g(iv0, iu0) * (1 - fu) + g(iv0, iu1) * fu) * (1 - fv) + (
        g(iv1, iu0) * (1 - fu) + g(iv1, iu1) * fu
    ) * fv
    return out, r[..., None], (u, v)


def _ssim_rgb(x, y):

    def pool(z):
        z = tf.concat([z[:, :, -1:], z, z[:, :, :1]], 2)
        z = tf.concat([z[:, :1], z, z[:, -1:]], 1)
        return tf.nn.avg_pool2d(z, 3, 1, "VALID")

    mx, my = pool(x), pool(y)
    sx, sy = pool(x * x) - mx * mx, pool(y * y) - my * my
    sxy = pool(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sx + sy + c2))
    return tf.clip_by_value((1 - s) / 2, 0, 1)


def photometric_loss(target, warped, mask, alpha: float = 0.85):
    """Mean over masked pixels of ``alpha * (1-SSIM)/2 + (1-alpha) * |target - warped|``."""
    per = alpha * _ssim_rgb(target, warped) + (1 - alpha) * tf.abs(target - warped)
    per = tf.reduce_mean(per, -1, keepdims=True)
    return tf.reduce_sum(per * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def smoothness_loss(range_pred, image):
    """Edge-aware smoothness of mean-normalised inverse range (columns wrap)."""
    inv = 1.0 / tf.maximum(range_pred, 1e-3)
    inv = inv / (tf.reduce_mean(inv, [1, 2, 3], keepdims=True) + 1e-7)
    dx = tf.abs(tf.roll(inv, -1, 2) - inv)
    dy = tf.abs(inv[:, 1:] - inv[:, :-1])
    ix = tf.reduce_mean(tf.abs(tf.roll(image, -1, 2) - image), -1, keepdims=True)
    iy = tf.reduce_mean(tf.abs(image[:, 1:] - image[:, :-1]), -1, keepdims=True)
    return tf.reduce_mean(dx * tf.exp(-ix)) + tf.reduce_mean(dy * tf.exp(-iy))


def _pool(x, k: int):
    """``k x k`` average pooling (``k`` = 1: unchanged)."""
    return x if k == 1 else tf.nn.avg_pool2d(x, k, k, "VALID")


def biview_losses(
    rgb_a,
    rgb_b,
    pred_a,
    pred_b,
    T_b_from_a,
    gt_a=None,
    mask_a=None,
    smooth_weight: float = 1e-3,
    supervised_weight: float = 0.0,
    alpha: float = 0.85,
    tol: float = 0.05,
    occlusion: str = "none",
    scales: int = 1,
) -> dict:
    """Both warping directions, smoothness and the optional supervised term.

    Args:
        rgb_a, rgb_b: ``(B, H, W, 3)`` in [0, 1]. pred_a, pred_b: ``(B, H, W, 1)`` range, metres.
        T_b_from_a: ``(B, 4, 4)``. gt_a, mask_a: ``(B, H, W, 1)`` for the supervised term.
        occlusion: ``"none"`` (every pixel counts) or ``"predicted"`` (a pixel counts only where
            it passes a z-test against the source's predicted range, ``tol`` relative). The
            z-test drops pixels predicted too far (they fall behind the source's surface) but
            keeps those predicted too near, so early in training it biases range upwards.
        scales: photometric loss averaged over this many scales (images and range average-pooled
            by 1, 2, 4, ...): coarse scales widen the basin of convergence.
    """
    if occlusion not in ("none", "predicted"):
        raise ValueError(f"occlusion must be 'none' or 'predicted', got {occlusion!r}")
    T_a_from_b = tf.linalg.inv(T_b_from_a)
    terms = {}
    photo = []
    for s in range(max(int(scales), 1)):
        k = 2**s
        ia, ib, pa, pb = (_pool(x, k) for x in (rgb_a, rgb_b, pred_a, pred_b))
        for tgt, src, pt, ps, T in ((ia, ib, pa, pb, T_b_from_a), (ib, ia, pb, pa, T_a_from_b)):
            warped, r_src, (u, v) = warp_tf(src, pt, T)
            vis = tf.ones_like(r_src)
            if occlusion == "predicted":
                src_range, _, _ = warp_tf(tf.stop_gradient(ps), pt, T)
                vis = tf.stop_gradient(tf.cast(r_src <= src_range * (1 + tol), tf.float32))
            photo.append(photometric_loss(tgt, warped, vis, alpha))
    terms["photo"] = tf.add_n(photo) / len(photo)
    terms["smooth"] = (smoothness_loss(pred_a, rgb_a) + smoothness_loss(pred_b, rgb_b)) / 2
    terms["supervised"] = (
        masked_l1(gt_a, pred_a, mask_a)
        if gt_a is not None and supervised_weight > 0
        else tf.constant(0.0)
    )
    terms["total"] = (
        terms["photo"] + smooth_weight * terms["smooth"] + supervised_weight * terms["supervised"]
    )
    return terms
