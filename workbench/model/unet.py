"""U-Net-like equirect depth model with horizontal circular padding (Keras 3, TFLite builtins).

Columns wrap around the seam (:class:`CircularPad`) and rows are zero-padded, so the model is
equivariant to yaw rolls by multiples of ``2**depth`` columns. The graph is built from ops that
TFLite and XNNPACK run cheaply (int8 included): each block of two 3x3 convolutions wraps its
input once by 2 columns (one slice-and-concatenate instead of one per convolution) and
zero-pads rows before each ``valid`` convolution (a zero PAD, which XNNPACK can fold into
the convolution); a circular shift commutes with convolutions and the pointwise batch norm and
ReLU, so this equals wrapping by 1 before each convolution exactly. Upsampling is one
``RESIZE_NEAREST_NEIGHBOR`` (:class:`NearestUpsample`) instead of tile + reshape. Models saved
with the per-convolution padding load unchanged; :func:`export_friendly` rebuilds them in this
form with the same weights.
The head turns logits into positive range with :class:`PositiveRange`
(``scale * exp(clip(x))``).

Two optional additions give a convolutional network what equirect depth depends on but
convolutions cannot see:

- ``coords``: :class:`LatitudeChannels` appends each row's ray ``y`` (``sin(lat)``, +1 straight
  down) and ``cos(lat)`` (from :func:`workbench.geometry.equirect.unit_rays`) to the input, so the
  net knows where the horizon is (a floor at camera height ``h`` lies at range ``h / sin(lat)``).
  Yaw equivariance is kept: the channels are constant along a row.
- ``context``: a global branch at the bottleneck (mean over the whole panorama → 1x1 conv →
  :class:`BroadcastAdd` back onto every pixel) lets one room-wide estimate of scale reach every
  pixel, beyond the receptive field of the 3x3 stack.

and one removes what it should not depend on:

- ``grey_world``: :class:`GreyWorld` white-balances the input (each channel scaled to the image's
  mean grey) before anything else, so a photo's global colour cast (warm bulbs, a camera's
  white balance) no longer moves its depth.

All are registered layers, so ``.keras`` files reload without code from the caller (no ``Lambda``
layers), and every op converts to a TFLite builtin.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from workbench.geometry.equirect import unit_rays

__all__ = [
    "BroadcastAdd",
    "CircularPad",
    "GreyWorld",
    "LatitudeChannels",
    "NearestUpsample",
    "PositiveRange",
    "build_unet",
    "build_from_config",
    "export_friendly",
]


@keras.saving.register_keras_serializable(package="workbench")
class CircularPad(layers.Layer):
    """Pad ``(B, H, W, C)``: wrap ``pad`` columns on each side, add ``rows`` zero rows above and
    below (default ``pad``; 0 adds none)."""

    def __init__(self, pad: int = 1, rows: int | None = None, **kw):
        super().__init__(**kw)
        self.pad = int(pad)
        self.rows = self.pad if rows is None else int(rows)

    def call(self, x):
        p, r = self.pad, self.rows
        x = ops.concatenate([x[:, :, -p:], x, x[:, :, :p]], axis=2)
        return ops.pad(x, [[0, 0], [r, r], [0, 0], [0, 0]]) if r else x

    def compute_output_shape(self, s):
        p, r = self.pad, self.rows
        return (s[0], None if s[1] is None else s[1] + 2 * r,
                None if s[2] is None else s[2] + 2 * p, s[3])  # fmt: skip

    def get_config(self):
        return {**super().get_config(), "pad": self.pad, "rows": self.rows}


@keras.saving.register_keras_serializable(package="workbench")
class NearestUpsample(layers.Layer):
    """``(B, H, W, C)`` → ``(B, 2H, 2W, C)``, each pixel repeated 2x2: the values of
    ``UpSampling2D(2, interpolation="nearest")`` from one resize op (TFLite
    ``RESIZE_NEAREST_NEIGHBOR``; half-pixel centres pick pixel ``i // 2`` exactly)."""

    def call(self, x):
        size = (2 * int(x.shape[1]), 2 * int(x.shape[2]))
        return ops.image.resize(x, size, interpolation="nearest")

    def compute_output_shape(self, s):
        return (s[0], None if s[1] is None else 2 * s[1], None if s[2] is None else 2 * s[2], s[3])


@keras.saving.register_keras_serializable(package="workbench")
class PositiveRange(layers.Layer):
    """Logits → range in metres: ``scale * exp(clip(x, -clip, clip))``."""

    def __init__(self, scale: float = 3.0, clip: float = 4.0, **kw):
        super().__init__(**kw)
        self.scale, self.clip = float(scale), float(clip)

    def call(self, x):
        return self.scale * ops.exp(ops.clip(x, -self.clip, self.clip))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "clip": self.clip}


@keras.saving.register_keras_serializable(package="workbench")
class LatitudeChannels(layers.Layer):
    """``(B, H, W, C)`` → ``(B, H, W, C + 2)``: appends each row's ``ray_y`` (down = +1) and
    ``sqrt(1 - ray_y**2)`` (1 at the horizon), as :mod:`workbench.geometry.equirect` defines it."""

    @staticmethod
    def coords(height: int) -> np.ndarray:
        """``(1, H, 1, 2) float32``: ``sin(lat)`` and ``cos(lat)`` of each row."""
        ry = np.asarray(unit_rays(height, 2 * height))[:, :1, 1:2].astype(np.float32)
        c = np.concatenate([ry, np.sqrt(np.clip(1.0 - ry * ry, 0.0, 1.0))], axis=-1)
        return np.ascontiguousarray(c[None])

    def call(self, x):
        # from the input's own height, so the same weights run at any size (export --height)
        c = ops.convert_to_tensor(self.coords(int(x.shape[1])), x.dtype)
        zeros = ops.zeros_like(x[..., :1])  # (B, H, W, 1): carries the batch and width
        return ops.concatenate([x, zeros + c], -1)

    def compute_output_shape(self, s):
        return (*s[:3], s[3] + 2)


@keras.saving.register_keras_serializable(package="workbench")
class BroadcastAdd(layers.Layer):
    """``[x (B, H, W, C), g (B, 1, 1, C)]`` → ``x + g``."""

    def call(self, inputs):
        x, g = inputs
        return x + ops.cast(g, x.dtype)

    def compute_output_shape(self, s):
        return s[0]


@keras.saving.register_keras_serializable(package="workbench")
class GreyWorld(layers.Layer):
    """``(B, H, W, 3)`` RGB in [0, 1] → the same with each channel scaled so that its mean over
    the image equals the image's mean grey (grey-world white balance): a global colour cast
    (warm bulbs, a camera's white balance) is removed, brightness is kept. Gains are limited
    to ``[1 / max_gain, max_gain]`` and the result clipped to [0, 1]."""

    def __init__(self, max_gain: float = 2.0, **kw):
        super().__init__(**kw)
        self.max_gain = float(max_gain)

    def call(self, x):
        m = ops.mean(x, axis=(1, 2), keepdims=True)  # (B, 1, 1, 3)
        grey = ops.mean(m, axis=-1, keepdims=True)  # (B, 1, 1, 1)
        gain = ops.clip(grey / ops.maximum(m, 1e-3), 1.0 / self.max_gain, self.max_gain)
        return ops.clip(x * gain, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "max_gain": self.max_gain}


def _conv(x, ch, name):
    """Two 3x3 conv + BN + ReLU on columns wrapped once by 2 per side: each ``valid``
    convolution uses up one wrapped column per side, so the result equals a wrap of 1 before
    each convolution (a circular shift commutes with convolutions and the pointwise BN and
    ReLU). Rows get their zero padding right before each convolution (a zero PAD, which XNNPACK
    can fold into the convolution). Eight layers in the earlier graph's places, so its
    checkpoints (keyed by layer position) restore into this one."""
    for i in range(2):
        if i == 0:
            x = CircularPad(2, rows=1, name=f"{name}_wrap")(x)
        else:
            x = layers.ZeroPadding2D(((1, 1), (0, 0)), name=f"{name}_rows")(x)
        x = layers.Conv2D(ch, 3, padding="valid", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def build_unet(
    height: int = 256,
    width: int = 16,
    depth: int = 4,
    coords: bool = False,
    context: bool = False,
    name: str = "pano_unet",
    stem: bool = False,
    grey_world: bool = False,
):
    """Build the model.

    Args:
        height: input height ``H`` (width ``2H``); divisible by ``2**depth``.
        width: channels of the first level (doubling per level).
        depth: number of down-sampling levels.
        coords: append latitude channels to the input (:class:`LatitudeChannels`).
        context: add a global-context branch at the bottleneck.
        stem: a stride-2 stem: the U-Net's levels run at ``H/2`` and a light full-resolution
            head (8 channels) sharpens the upsampled output with the input's own edges; about
            a quarter of the compute of the full-resolution network.
        grey_world: white-balance the input first (:class:`GreyWorld`): predictions no longer
            follow a photo's colour cast.

    Returns:
        ``keras.Model`` mapping ``(B, H, 2H, 3)`` float RGB in [0, 1] to ``(B, H, 2H, 1)`` range.
    """
    step = 2 ** (depth + int(stem))
    if height % step:
        what = "2**depth * 2 (stem)" if stem else "2**depth"
        raise ValueError(f"height must be divisible by {what} = {step}, got {height}")
    inp = keras.Input((height, 2 * height, 3), name="rgb")
    x = GreyWorld(name="grey_world")(inp) if grey_world else inp
    x = layers.Rescaling(2.0, offset=-1.0, name="normalize")(x)
    if coords:
        x = LatitudeChannels(name="latitude")(x)
    if stem:
        full = x
        x = CircularPad(1, name="stem_pad")(x)
        x = layers.Conv2D(width, 3, strides=2, use_bias=False, name="stem_conv")(x)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.ReLU(name="stem_relu")(x)
    skips = []
    for level in range(depth):
        x = _conv(x, width * 2**level, f"enc{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"down{level}")(x)
    x = _conv(x, width * 2**depth, "bottleneck")
    if context:
        g = layers.GlobalAveragePooling2D(keepdims=True, name="context_pool")(x)
        g = layers.Conv2D(width * 2**depth, 1, activation="relu", name="context_fc")(g)
        x = BroadcastAdd(name="context_add")([x, g])
    for level in reversed(range(depth)):
        x = NearestUpsample(name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = _conv(x, width * 2**level, f"dec{level}")
    if stem:
        x = NearestUpsample(name="head_up")(x)
        x = layers.Concatenate(name="head_skip")([x, full])
        x = _conv(x, 8, "head")
    x = layers.Conv2D(1, 1, name="logits")(x)
    out = PositiveRange(name="range")(x)
    return keras.Model(inp, out, name=name)


def build_from_config(config) -> keras.Model:
    """The U-Net of a config with the ``MODEL_FIELDS`` (``height``, ``model_width``,
    ``model_depth``, ``model_coords``, ``model_context``, ``model_stem``), e.g. a
    ``TrainConfig``."""
    return build_unet(
        config.height,
        width=config.model_width,
        depth=config.model_depth,
        coords=config.model_coords,
        context=config.model_context,
        stem=getattr(config, "model_stem", False),
        grey_world=getattr(config, "model_grey_world", False),
    )


def export_friendly(model: keras.Model) -> keras.Model:
    """``model`` itself, or, for a U-Net saved with the earlier graph (a :class:`CircularPad`
    before every convolution, ``UpSampling2D``), the same weights in :func:`build_unet`'s
    graph: equal outputs (to float rounding), fewer and cheaper ops after conversion."""
    names = {layer.name for layer in model.layers}
    legacy = "enc0_pad0" in names or any(
        isinstance(layer, layers.UpSampling2D) for layer in model.layers
    )
    if not legacy or "enc0_conv0" not in names:
        return model
    depth = sum(f"down{i}" in names for i in range(len(names)))
    new = build_unet(
        int(model.input_shape[1]),
        width=int(model.get_layer("enc0_conv0").filters),
        depth=depth,
        coords="latitude" in names,
        context="context_pool" in names,
        name=model.name,
        stem="stem_conv" in names,
    )
    for layer in new.layers:
        if layer.weights:  # by name: the weightless layers differ between the two graphs
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return new
