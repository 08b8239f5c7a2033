import numpy as np
import pytest

from workbench.model.unet import build_unet


def test_shapes_and_positive_output():
    m = build_unet(32, width=4, depth=2)
    x = np.random.default_rng(0).random((2, 32, 64, 3)).astype(np.float32)
    y = m.predict(x, verbose=0)
    assert y.shape == (2, 32, 64, 1) and (y > 0).all()


def test_circular_padding_is_yaw_equivariant():
    m = build_unet(32, width=4, depth=2)
    x = np.random.default_rng(1).random((1, 32, 64, 3)).astype(np.float32)
    k = 8  # a multiple of 2**depth
    y = m(x, training=False).numpy()
    y_rolled = m(np.roll(x, k, axis=2), training=False).numpy()
    assert np.allclose(np.roll(y, k, axis=2), y_rolled, atol=1e-5)


def test_keras_file_round_trip(tmp_path):
    import keras

    m = build_unet(16, width=4, depth=2)
    m.save(tmp_path / "m.keras")
    m2 = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(2).random((1, 16, 32, 3)).astype(np.float32)
    assert np.allclose(m(x).numpy(), m2(x).numpy(), atol=1e-6)


def test_bad_height():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        build_unet(30, depth=2)
