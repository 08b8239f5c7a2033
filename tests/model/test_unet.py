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
