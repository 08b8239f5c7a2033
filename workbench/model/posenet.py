"""Relative-pose network between two panoramas, its losses and errors, and a classical baseline.

The network sees A and B stacked on channels ``(B, H, 2H, 6)``; a siamese circular-padded
encoder gives per-column descriptors whose circular cross-correlation scores every relative yaw
(:func:`build_posenet`); its output has 9 values: a 6D rotation (two columns, Zhou et al. 2019)
and a translation in metres, both of ``T_B_from_A``, then the yaw distribution. Loss
(:func:`pose_losses`): geodesic rotation angle + ``translation_weight`` × L1 of the translation
+ ``yaw_ce_weight`` × cross-entropy of the yaw distribution. Errors (:func:`pose_errors`):
rotation (degrees), translation direction (degrees) and relative scale.

Baseline (:func:`baseline_yaw`): yaw from circular cross-correlation of the two panoramas' column
signatures (mean gradient-magnitude profile of the horizon band); it estimates yaw only
(translation zero), which is what a pure-rotation model gives.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from workbench.model.pose_layers import (
    ChannelSlice,
    CircularCorrelation,
    ColumnDescriptors,
    YawPoseHead,
)
from workbench.model.unet import CircularPad

__all__ = [
    "build_posenet",
    "rotation_from_6d",
    "pose_losses",
    "yaw_of",
    "pose_errors",
    "column_signature",
    "baseline_yaw",
]


def build_posenet(height: int = 64, width: int = 16, levels: int = 2):
    """Keras model ``(B, H, 2H, 6)`` (A and B stacked on channels) → ``(B, 9 + w)``: 6D
    rotation then translation of ``T_B_from_A``, then the distribution over the ``w`` relative
    yaws ``2 pi k / w`` it was read from.

    A shared (siamese) circular-padded encoder turns each panorama into one descriptor per
    column (``2H / 2**levels`` columns); a circular cross-correlation of A's and B's columns
    gives a distribution over relative yaw (soft-argmax → rotation, the learned counterpart of
    :func:`baseline_yaw`); B's columns, turned into A's heading with that distribution and
    stacked with A's, feed a small head regressing B's position in A's frame. Pitch and roll
    are not modelled (indoor captures are levelled to a few degrees).
    """
    enc_in = keras.Input((height, 2 * height, 3))
    x = layers.Rescaling(2.0, offset=-1.0)(enc_in)
    for i in range(levels + 2):
        x = CircularPad(1)(x)
        # the first ``levels`` stages halve both axes; later ones only the rows
        x = layers.Conv2D(
            width * 2 ** min(i, 3),
            3,
            strides=(2, 2) if i < levels else (2, 1),
            padding="valid",
            use_bias=False,
        )(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    encoder = keras.Model(enc_in, ColumnDescriptors()(x), name="column_encoder")

    inp = keras.Input((height, 2 * height, 6), name="pair")
    fa = encoder(ChannelSlice(0, 3)(inp))
    fb = encoder(ChannelSlice(3, 6)(inp))
    p, fb_al = CircularCorrelation(name="yaw_correlation")([fa, fb])
    y = layers.Concatenate()([fa, fb_al])
    y = layers.Conv1D(64, 3, padding="same", activation="relu")(y)
    y = layers.Flatten()(y)
    y = layers.Dense(64, activation="relu")(y)
    d = layers.Dense(3, name="position_b_in_a")(y)
    out = YawPoseHead(name="pose")([p, d])
    return keras.Model(inp, out, name="pano_posenet")


def rotation_from_6d(x):
    """``(B, 6)`` → ``(B, 3, 3)`` rotation matrices (columns from Gram-Schmidt)."""
    a, b = x[:, :3], x[:, 3:6]
    c1 = tf.math.l2_normalize(a, -1)
    b = b - tf.reduce_sum(c1 * b, -1, keepdims=True) * c1
    c2 = tf.math.l2_normalize(b, -1)
    c3 = tf.linalg.cross(c1, c2)
    return tf.stack([c1, c2, c3], axis=-1)


def _angle(R):
    cos = (tf.linalg.trace(R) - 1.0) / 2.0
    return tf.acos(tf.clip_by_value(cos, -1.0 + 1e-6, 1.0 - 1e-6))


def yaw_of(R):
    """Heading ``psi`` of rotations ``(B, 3, 3)`` (TF) with ``R ≈ yaw_matrix(psi)``:
    ``atan2(R[0, 2], R[2, 2])``."""
    return tf.atan2(R[:, 0, 2], R[:, 2, 2])


def pose_losses(pred, T_true, translation_weight: float = 1.0, yaw_ce_weight: float = 0.5) -> dict:
    """Geodesic rotation loss (radians), translation L1 (metres) and, when ``pred`` carries the
    yaw distribution (columns ``9:``), its cross-entropy against the true yaw split linearly
    between the two nearest bins."""
    R = rotation_from_6d(pred)
    rot = tf.reduce_mean(_angle(tf.matmul(R, T_true[:, :3, :3], transpose_a=True)))
    trans = tf.reduce_mean(tf.abs(pred[:, 6:9] - T_true[:, :3, 3]))
    terms = {"rotation": rot, "translation": trans}
    total = rot + translation_weight * trans
    w = pred.shape[1] - 9
    if w > 0:
        pos = tf.math.floormod(yaw_of(T_true[:, :3, :3]) * (w / (2 * np.pi)), float(w))
        k0 = tf.floor(pos)
        f = pos - k0
        k0 = tf.cast(k0, tf.int32) % w
        target = tf.one_hot(k0, w) * (1 - f)[:, None] + tf.one_hot((k0 + 1) % w, w) * f[:, None]
        ce = -tf.reduce_mean(tf.reduce_sum(target * tf.math.log(pred[:, 9:] + 1e-8), -1))
        terms["yaw_ce"] = ce
        total = total + yaw_ce_weight * ce
    terms["total"] = total
    return terms


MIN_BASELINE_M = 0.01  # below it a pair's translation has no direction or scale to compare


def pose_errors(R_pred: np.ndarray, t_pred: np.ndarray, T_true: np.ndarray) -> dict:
    """Per-pair errors (numpy, batch first): ``rot_deg``, ``trans_dir_deg`` (90 for a zero
    predicted translation), ``scale_err`` (relative); the last two NaN for a pair whose true
    baseline is under :data:`MIN_BASELINE_M` (views taken from one spot: undefined, where
    dividing by the baseline gave errors of 10⁷)."""
    R_true, t_true = T_true[:, :3, :3], T_true[:, :3, 3]
    rel = np.einsum("bji,bjk->bik", R_pred, R_true)
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)
    n_p = np.linalg.norm(t_pred, axis=1)
    n_t = np.linalg.norm(t_true, axis=1)
    cos_t = np.sum(t_pred * t_true, 1) / np.maximum(n_p * n_t, 1e-9)
    moved = n_t >= MIN_BASELINE_M
    direction = np.where(n_p > 1e-9, np.rad2deg(np.arccos(np.clip(cos_t, -1, 1))), 90.0)
    return {
        "rot_deg": np.rad2deg(np.arccos(cos)),
        "trans_dir_deg": np.where(moved, direction, np.nan),
        "scale_err": np.where(moved, np.abs(n_p - n_t) / np.maximum(n_t, 1e-9), np.nan),
    }


def column_signature(rgb: np.ndarray) -> np.ndarray:
    """``(W,)`` zero-mean profile: mean horizontal gradient magnitude over the horizon band."""
    g = rgb.mean(axis=2) if rgb.ndim == 3 else rgb
    h = g.shape[0]
    band = g[h // 4 : 3 * h // 4].astype(np.float64)
    grad = np.abs(np.roll(band, -1, 1) - band).mean(0)
    return grad - grad.mean()


def baseline_yaw(rgb_a: np.ndarray, rgb_b: np.ndarray) -> float:
    """Relative yaw (radians) of B w.r.t. A by circular cross-correlation of column signatures.

    B turned by ``Δ`` shows A's content shifted by ``k = -Δ·W/2π`` columns; the best shift gives
    ``Δ`` (the rotation of ``T_B_from_A`` about the vertical is ``-Δ``)."""
    sa, sb = column_signature(rgb_a), column_signature(rgb_b)
    w = len(sa)
    corr = np.fft.irfft(np.conj(np.fft.rfft(sa)) * np.fft.rfft(sb), n=w)
    k = int(np.argmax(corr))
    k = k - w if k > w // 2 else k
    return -k * 2 * np.pi / w
