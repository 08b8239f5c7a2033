import numpy as np
import pytest

from workbench.model.unet import build_unet


def test_shapes_and_positive_output():
    m = build_unet(32, width=4, depth=2)
    x = np.random.default_rng(0).random((2, 32, 64, 3)).astype(np.float32)
    y = m.predict(x, verbose=0)
    assert y.shape == (2, 32, 64, 1) and (y > 0).all()


@pytest.mark.parametrize("extras", [False, True])
@pytest.mark.parametrize("stem", [False, True])
def test_circular_padding_is_yaw_equivariant(extras, stem):
    m = build_unet(32, width=4, depth=2, coords=extras, context=extras, stem=stem)
    x = np.random.default_rng(1).random((1, 32, 64, 3)).astype(np.float32)
    k = 8  # a multiple of 2**(depth + stem)
    y = m(x, training=False).numpy()
    y_rolled = m(np.roll(x, k, axis=2), training=False).numpy()
    assert np.allclose(np.roll(y, k, axis=2), y_rolled, atol=1e-5)


@pytest.mark.parametrize("extras", [False, True])
def test_keras_file_round_trip(tmp_path, extras):
    import keras

    m = build_unet(16, width=4, depth=2, coords=extras, context=extras)
    m.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(2).random((1, 16, 32, 3)).astype(np.float32)
    assert np.allclose(m(x).numpy(), m2(x).numpy(), atol=1e-6)


def test_bad_height():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        build_unet(30, depth=2)
    with pytest.raises(ValueError, match="stem"):
        build_unet(36, depth=2, stem=True)  # divisible by 4, not by 8


def test_stem_keeps_full_resolution_and_reloads(tmp_path):
    """The stem halves every level's cost; the head still predicts every pixel, and the saved
    model reloads with no code from the caller."""
    import keras

    m = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True)
    assert m.get_layer("stem_conv").output.shape[1:3] == (16, 32)
    x = np.random.default_rng(3).random((2, 32, 64, 3)).astype(np.float32)
    y = m(x).numpy()
    assert y.shape == (2, 32, 64, 1) and (y > 0).all()
    assert np.abs(np.diff(y[0, :, :, 0], axis=1)).max() > 0  # not a 2x2-blocky upsample
    m.save(tmp_path / "s.keras")
    assert np.allclose(keras.models.load_model(tmp_path / "s.keras")(x).numpy(), y, atol=1e-6)


def test_latitude_channels_hand_values():
    """Row ``v`` of an ``H``-row panorama has latitude ``pi/2 - (v + 0.5) pi / H`` upwards; the
    channels are the ray's y (down = +1, so ``-sin(lat)``) and ``cos(lat)``, for every column."""
    from workbench.model.unet import LatitudeChannels

    x = np.zeros((2, 4, 8, 3), np.float32)
    y = LatitudeChannels()(x).numpy()
    lat = np.pi / 2 - (np.arange(4) + 0.5) * np.pi / 4
    assert y.shape == (2, 4, 8, 5)
    np.testing.assert_allclose(y[1, :, 5, 3], -np.sin(lat), atol=1e-6)
    np.testing.assert_allclose(y[0, :, 0, 4], np.cos(lat), atol=1e-6)
    np.testing.assert_array_equal(y[..., 3:], np.broadcast_to(y[:1, :, :1, 3:], y[..., 3:].shape))


def test_context_branch_reaches_every_pixel():
    """With the global branch, changing one corner of the input changes the output everywhere
    (beyond the 3x3 stack's receptive field); without it, far pixels do not move."""
    x = np.random.default_rng(3).random((1, 64, 128, 3)).astype(np.float32)
    x2 = x.copy()
    x2[0, :8, :8] = 1.0 - x2[0, :8, :8]
    for context, moves in ((True, True), (False, False)):
        m = build_unet(64, width=4, depth=2, context=context)
        d = np.abs(m(x2, training=False).numpy() - m(x, training=False).numpy())[0, ..., 0]
        assert (d[40:, 60:100].max() > 1e-6) == moves


def test_latitude_model_rebuilds_at_another_height():
    """``export --height`` rebuilds the model from its config at a new size; the latitude
    channels must follow the new input (they were once fixed to the training height)."""
    from workbench.model.saving import resize_model
    from workbench.model.unet import LatitudeChannels

    m = build_unet(32, width=4, depth=2, coords=True, context=True)
    big = resize_model(m, 64)
    x = np.random.default_rng(4).random((1, 64, 128, 3)).astype(np.float32)
    assert big(x).shape == (1, 64, 128, 1)
    assert LatitudeChannels.coords(64).shape == (1, 64, 1, 2)
    np.testing.assert_allclose(
        [w.numpy() for w in big.weights][0], [w.numpy() for w in m.weights][0]
    )


def _legacy_unet(height, width, depth, coords, context, stem):
    """The earlier graph (a wrap of 1 before every convolution, ``UpSampling2D``), as saved
    models such as ``models/default/model.keras`` hold it, built from the same layers."""
    import keras
    from keras import layers

    from workbench.model.unet import BroadcastAdd, CircularPad, LatitudeChannels, PositiveRange

    def conv(x, ch, name):
        for i in range(2):
            x = CircularPad(1, name=f"{name}_pad{i}")(x)
            x = layers.Conv2D(ch, 3, use_bias=False, name=f"{name}_conv{i}")(x)
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
            x = layers.ReLU(name=f"{name}_relu{i}")(x)
        return x

    inp = keras.Input((height, 2 * height, 3), name="rgb")
    x = layers.Rescaling(2.0, offset=-1.0, name="normalize")(inp)
    x = LatitudeChannels(name="latitude")(x) if coords else x
    full = x
    if stem:
        x = CircularPad(1, name="stem_pad")(x)
        x = layers.Conv2D(width, 3, strides=2, use_bias=False, name="stem_conv")(x)
        x = layers.ReLU(name="stem_relu")(layers.BatchNormalization(name="stem_bn")(x))
    skips = []
    for level in range(depth):
        skips.append(conv(x, width * 2**level, f"enc{level}"))
        x = layers.MaxPooling2D(2, name=f"down{level}")(skips[-1])
    x = conv(x, width * 2**depth, "bottleneck")
    if context:
        g = layers.GlobalAveragePooling2D(keepdims=True, name="context_pool")(x)
        g = layers.Conv2D(width * 2**depth, 1, activation="relu", name="context_fc")(g)
        x = BroadcastAdd(name="context_add")([x, g])
    for level in reversed(range(depth)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{level}")(x)
        x = conv(layers.Concatenate(name=f"skip{level}")([x, skips[level]]), width * 2**level,
                 f"dec{level}")  # fmt: skip
    if stem:
        x = layers.UpSampling2D(2, interpolation="nearest", name="head_up")(x)
        x = conv(layers.Concatenate(name="head_skip")([x, full]), 8, "head")
    x = layers.Conv2D(1, 1, name="logits")(x)
    return keras.Model(inp, PositiveRange(name="range")(x), name="pano_unet")


@pytest.mark.parametrize("extras", [False, True])
def test_export_friendly_equals_the_earlier_graph(extras):
    """One wrap of 2 per block equals a wrap of 1 per convolution and the resize equals
    UpSampling2D: the rebuilt model gives the earlier graph's output. Both graphs run the same
    float ops in the same order on the same values, so they agree to float rounding (1e-6 m
    stated for kernels that may tile the two convolution shapes differently)."""
    import keras

    from workbench.model.unet import CircularPad, NearestUpsample, export_friendly

    old = _legacy_unet(32, 4, 2, coords=extras, context=extras, stem=extras)
    rng = np.random.default_rng(5)
    for w in old.weights:  # non-trivial batch-norm statistics too
        w.assign(rng.normal(0.0, 0.3, w.shape).astype(np.float32) + ("variance" in w.path))
    new = export_friendly(old)
    assert export_friendly(new) is new
    assert not any(isinstance(layer, keras.layers.UpSampling2D) for layer in new.layers)
    assert any(isinstance(layer, NearestUpsample) for layer in new.layers)
    pads = [layer for layer in new.layers if isinstance(layer, CircularPad)]
    assert len(pads) == 2 * 2 + 1 + 2 * int(extras)  # one per block (+ the stem's)
    x = rng.random((2, 32, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(new(x, training=False), old(x, training=False), atol=1e-6)


def test_nearest_upsample_repeats_each_pixel():
    import keras

    from workbench.model.unet import NearestUpsample

    x = np.random.default_rng(6).random((2, 3, 5, 4)).astype(np.float32)
    want = keras.layers.UpSampling2D(2, interpolation="nearest")(x).numpy()
    np.testing.assert_array_equal(NearestUpsample()(x).numpy(), want)  # copies: bit-exact


def test_default_model_loads_in_the_new_graph_with_the_same_output():
    """``models/default/model.keras`` holds the earlier graph: it loads into the current one
    with the same weights and outputs within 1e-4 m on sample panoramas."""
    import keras

    from workbench.model.saving import load_keras_model
    from workbench.model.unet import CircularPad
    from workbench.paths import DEFAULT_MODEL

    raw = keras.models.load_model(DEFAULT_MODEL / "model.keras", compile=False)
    model = load_keras_model(DEFAULT_MODEL / "model.keras")
    assert sum(isinstance(layer, CircularPad) for layer in model.layers) == 11
    for a, b in zip(model.weights, raw.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    from workbench.geometry.equirect import resize_rgb
    from workbench.io import read_rgb
    from workbench.paths import SAMPLES

    h = int(model.input_shape[1])
    files = sorted(SAMPLES.rglob("panoImage_1600.jpg"))[:3]
    x = np.stack([resize_rgb(read_rgb(f), h) for f in files]).astype(np.float32) / 255.0
    np.testing.assert_allclose(model(x, training=False), raw(x, training=False), atol=1e-4)


def test_tflite_graph_has_no_tile_or_reshape(tmp_path):
    """The converted graph: one slice-and-concatenate wrap per block, one resize per
    upsampling, no TILE or RESHAPE (what UpSampling2D converted to)."""
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    from workbench.deploy.export import export_tflite

    m = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True)
    path = export_tflite(m, tmp_path / "m.tflite")
    ops = Counter(o["op_name"] for o in Interpreter(model_path=str(path))._get_ops_details())
    assert ops["TILE"] == ops["RESHAPE"] == 0, ops
    assert ops["RESIZE_NEAREST_NEIGHBOR"] == 3, ops  # 2 levels + the head
    assert ops["CONCATENATION"] == 7 + 3 + 1, ops  # wraps (6 blocks, stem) + skips + latitude


def test_checkpoints_of_the_earlier_graph_restore(tmp_path):
    """TensorFlow checkpoints key a model's variables by layer position: the current graph keeps
    the earlier one's positions, so a run checkpointed before resumes (strict restore)."""
    import tensorflow as tf

    from workbench.model.saving import restore_checked

    old = _legacy_unet(32, 4, 2, coords=True, context=True, stem=True)
    rng = np.random.default_rng(7)
    for w in old.weights:
        w.assign(rng.normal(size=w.shape).astype(np.float32))
    path = tf.train.Checkpoint(model=old).save(str(tmp_path / "c"))
    new = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True)
    restore_checked(tf.train.Checkpoint(model=new), path, "the model", strict=True)
    for a, b in zip(new.weights, old.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_grey_world_hand_values():
    """Each channel is scaled to the image's mean grey: channel means (0.6, 0.4, 0.2) all
    become 0.4; a gain beyond ``max_gain`` is capped (0.1 → 0.2, not 0.4 at gain 4)."""
    from workbench.model.unet import GreyWorld

    x = np.broadcast_to(np.float32([0.6, 0.4, 0.2]), (1, 4, 8, 3))
    np.testing.assert_allclose(GreyWorld()(x).numpy(), 0.4, atol=1e-6)
    dim = np.broadcast_to(np.float32([0.7, 0.4, 0.1]), (1, 4, 8, 3))  # grey 0.4
    np.testing.assert_allclose(
        GreyWorld(max_gain=2.0)(dim).numpy()[0, 0, 0], [0.4, 0.4, 0.2], atol=1e-6
    )


def test_grey_world_batch_items_are_balanced_apart():
    from workbench.model.unet import GreyWorld

    rng = np.random.default_rng(4)
    x = rng.uniform(0.1, 0.6, (3, 8, 16, 3)).astype(np.float32) * np.float32([[[[1.3, 1.0, 0.7]]]])
    batch = GreyWorld()(x).numpy()
    one = np.concatenate([GreyWorld()(x[i : i + 1]).numpy() for i in range(3)])
    np.testing.assert_allclose(batch, one, atol=1e-6)
    means = batch.mean(axis=(1, 2))
    np.testing.assert_allclose(means, np.repeat(means.mean(axis=1, keepdims=True), 3, 1), atol=1e-5)


def test_grey_world_model_ignores_a_colour_cast(tmp_path):
    """A global colour cast (warm light: red up, blue down, the same brightness) leaves the
    prediction unchanged with ``grey_world``; without it the same weights move."""
    import keras

    x = np.random.default_rng(5).uniform(0.2, 0.6, (1, 32, 64, 3)).astype(np.float32)
    cast = x * np.float32([1.25, 1.0, 0.8])
    cast *= x.mean() / cast.mean()  # a cast at the same brightness (the layer keeps brightness)
    m = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True, grey_world=True)
    np.testing.assert_allclose(m(cast).numpy(), m(x).numpy(), rtol=1e-4)
    plain = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True)
    plain.set_weights(m.get_weights())  # the layer has no weights: the same network behind it
    assert np.abs(plain(cast).numpy() - plain(x).numpy()).max() > 1e-3
    m.save(tmp_path / "g.keras")
    np.testing.assert_allclose(
        keras.models.load_model(tmp_path / "g.keras")(x).numpy(), m(x).numpy(), atol=1e-6
    )


def test_grey_world_converts_to_tflite(tmp_path):
    """Mean, divide and clip are TFLite builtins: fp32 equals Keras, int8 stays close."""
    from workbench.deploy.export import export_tflite
    from workbench.model.predictor import TFLiteBackend

    m = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True, grey_world=True)
    rng = np.random.default_rng(6)
    x = rng.uniform(0.1, 0.7, (4, 32, 64, 3)).astype(np.float32) * np.float32([1.2, 1.0, 0.8])
    want = m(x[:1]).numpy()[..., 0]
    fp32 = TFLiteBackend(export_tflite(m, tmp_path / "f.tflite"))
    np.testing.assert_allclose(fp32(x[:1]), want, rtol=1e-4)
    rep = [x[i : i + 1] for i in range(4)]
    int8 = TFLiteBackend(export_tflite(m, tmp_path / "q.tflite", "int8", rep))
    assert np.abs(int8(x[:1]) / want - 1).mean() < 0.05


@pytest.mark.parametrize("grey_world", [None, False, True])
def test_unfinished_run_builds_its_own_network(tmp_path, grey_world):
    """An unfinished run (checkpoints, no model.keras) rebuilds the network its config.json
    names; a config saved before ``model_grey_world`` existed (None: the key is absent) had none."""
    import json
    from dataclasses import asdict

    import tensorflow as tf

    from workbench.configs import TrainConfig
    from workbench.model.saving import load_run_model

    config = TrainConfig(height=32, model_width=4, model_depth=2, model_coords=True,
                         model_grey_world=bool(grey_world))  # fmt: skip
    m = build_unet(32, width=4, depth=2, coords=True, grey_world=bool(grey_world))
    tf.train.Checkpoint(model=m).save(str(tmp_path / "checkpoints" / "ckpt"))
    d = {"_type": "TrainConfig", **asdict(config)}
    if grey_world is None:
        del d["model_grey_world"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    loaded = load_run_model(tmp_path)
    assert ("grey_world" in [layer.name for layer in loaded.layers]) == bool(grey_world)
    x = np.random.default_rng(8).uniform(0.1, 0.6, (1, 32, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), m(x).numpy(), atol=1e-6)


def test_grey_world_int8_gains_are_not_clipped_by_neutral_calibration(tmp_path):
    """int8 ranges come from calibration: on near-neutral views alone the layer's gains got a
    range of 0-1.09, so a warm photo's blue gain saturated and int8 depth moved with the cast.
    Calibrating on casts too (``calibration_inputs``) keeps int8 as cast-blind as Keras."""
    import keras

    from workbench.deploy.export import calibration_inputs, export_tflite
    from workbench.model.predictor import TFLiteBackend

    keras.utils.set_random_seed(0)  # unseeded weights gave 0.0016-0.0066 (8 seeds), here 0.0024
    m = build_unet(32, width=4, depth=2, coords=True, context=True, stem=True, grey_world=True)
    rng = np.random.default_rng(9)
    neutral = [rng.uniform(0.2, 0.6, (1, 32, 64, 3)).astype(np.float32) for _ in range(4)]
    assert len(calibration_inputs(m, neutral)) == 4 * 5
    assert len(calibration_inputs(build_unet(32, width=4, depth=2), neutral)) == 4
    int8 = TFLiteBackend(export_tflite(m, tmp_path / "q.tflite", "int8", neutral))
    x = neutral[0]
    warm = x * np.float32([1.25, 1.0, 0.7])
    warm *= x.mean() / warm.mean()  # the same brightness: Keras gives the same depth
    np.testing.assert_allclose(m(warm).numpy(), m(x).numpy(), rtol=1e-4)
    assert np.abs(int8(warm) / int8(x) - 1).mean() < 0.005  # 0.015 without the casts
