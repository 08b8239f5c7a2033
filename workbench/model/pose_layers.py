"""Registered Keras layers of the relative-pose network (:mod:`workbench.model.posenet`).

Importing this module registers them, and the U-Net's layers the pose network shares
(:class:`workbench.model.unet.CircularPad`), so a saved pose model reloads with
``keras.saving.load_model`` after ``import workbench.model.pose_layers`` alone.
Yaw follows :func:`workbench.geometry.equirect.yaw_matrix`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

import workbench.model.unet  # noqa: F401  (registers CircularPad, used by the pose encoder)

__all__ = ["ChannelSlice", "ColumnDescriptors", "CircularCorrelation", "YawPoseHead"]


@keras.saving.register_keras_serializable(package="workbench")
class ChannelSlice(layers.Layer):
    """``(..., C)`` → ``(..., start:stop)``."""

    def __init__(self, start: int, stop: int, **kw):
        super().__init__(**kw)
        self.start, self.stop = int(start), int(stop)

    def call(self, x):
        return x[..., self.start : self.stop]

    def compute_output_shape(self, s):
        return (*s[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="workbench")
class ColumnDescriptors(layers.Layer):
    """``(B, h, w, C)`` → ``(B, w, h*C)`` unit-norm descriptor per column."""

    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        x = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, w, h * c))
        return x / ops.sqrt(ops.sum(x * x, -1, keepdims=True) + 1e-6)

    def compute_output_shape(self, s):
        return (s[0], s[2], s[1] * s[3])


@keras.saving.register_keras_serializable(package="workbench")
class CircularCorrelation(layers.Layer):
    """``[fa, fb]`` each ``(B, w, D)`` → ``(p (B, w), fb_aligned (B, w, D))``.

    ``score[k] = mean_i <fa[i], fb[i + k]>`` (columns wrap) times a learned temperature;
    ``p = softmax(score)``; ``fb_aligned[i] = sum_k p[k] fb[i + k]`` is B's features
    turned into A's heading."""

    def build(self, input_shape):
        self.log_temp = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(np.log(10.0)), name="log_temp"
        )

    def call(self, inputs):
        fa, fb = inputs
        w = fa.shape[1]
        rolled = ops.stack([ops.roll(fb, -k, axis=1) for k in range(w)], axis=1)
        score = ops.einsum("bid,bkid->bk", fa, rolled) / w
        p = ops.softmax(score * ops.exp(self.log_temp), axis=-1)
        return p, ops.einsum("bk,bkid->bid", p, rolled)

    def compute_output_shape(self, s):
        return (s[0][0], s[0][1]), s[1]


@keras.saving.register_keras_serializable(package="workbench")
class YawPoseHead(layers.Layer):
    """``[p (B, w), d (B, 3)]`` → ``(B, 9 + w)`` in :func:`pose_losses`' layout (the yaw
    distribution ``p`` is appended for its classification term).

    Yaw ``psi`` is the circular soft-argmax of ``p`` over headings ``2 pi k / w``; the
    rotation of ``T_B_from_A`` is ``yaw_matrix(psi)`` (its first two columns, 6D form); ``d``
    is B's centre in A's frame, so the translation is ``t = -R d``."""

    def call(self, inputs):
        p, d = inputs
        w = p.shape[1]
        ang = ops.convert_to_tensor(2 * np.pi * np.arange(w) / w, p.dtype)
        c, s = ops.sum(p * ops.cos(ang), -1), ops.sum(p * ops.sin(ang), -1)
        n = ops.sqrt(c * c + s * s + 1e-12)
        c, s = c / n, s / n
        zero, one = ops.zeros_like(c), ops.ones_like(c)
        # yaw_matrix(psi) = [[c, 0, s], [0, 1, 0], [-s, 0, c]]; t = -R d
        col1 = ops.stack([c, zero, -s], -1)
        col2 = ops.stack([zero, one, zero], -1)
        t = -ops.stack([c * d[:, 0] + s * d[:, 2], d[:, 1], -s * d[:, 0] + c * d[:, 2]], -1)
        return ops.concatenate([col1, col2, t, p], -1)

    def compute_output_shape(self, s):
        return (s[0][0], 9 + s[0][1])
