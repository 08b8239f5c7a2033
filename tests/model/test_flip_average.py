"""Mirror averaging of predictions (``Predictor(flip=True)``, ``--flip`` in infer and eval)."""

import numpy as np

from workbench.model.predictor import Predictor, flip_average


class _Backend:
    """A stand-in network with a known answer: range = 1 + 2·red + column / W (metres); the
    column term is a left/right bias that mirroring must cancel."""

    height = 4
    calls = 0

    def __call__(self, rgb):
        self.calls += len(rgb)
        w = rgb.shape[2]
        return 1.0 + 2.0 * rgb[..., 0] + (np.arange(w) / w)[None, None, :]


def test_hand_checked_value_and_symmetric_part_kept():
    rgb = np.random.default_rng(0).random((2, 4, 8, 3)).astype(np.float32)
    backend = _Backend()
    got = flip_average(backend, rgb)
    assert got.shape == (2, 4, 8) and got.dtype == np.float32 and backend.calls == 4
    col = np.arange(8) / 8
    left = 1.0 + 2.0 * rgb[..., 0] + col
    right = 1.0 + 2.0 * rgb[..., 0] + col[::-1]  # the mirrored call's bias, mirrored back
    np.testing.assert_allclose(got, np.sqrt(left * right), rtol=1e-6)
    # a mirror-symmetric scene (columns palindromic) with no bias gets exactly its own depth
    sym = np.concatenate([rgb[:, :, :4], rgb[:, :, :4][:, :, ::-1]], axis=2)
    plain = lambda x: 1.0 + 2.0 * x[..., 0]  # noqa: E731
    np.testing.assert_allclose(flip_average(plain, sym), plain(sym), rtol=1e-6)


def test_batch_consistency_and_predictor_switch():
    rgb = np.random.default_rng(1).random((3, 4, 8, 3)).astype(np.float32)
    one = np.stack([flip_average(_Backend(), rgb[i : i + 1])[0] for i in range(3)])
    np.testing.assert_allclose(flip_average(_Backend(), rgb), one, rtol=1e-6)
    on, off = Predictor(_Backend(), flip=True), Predictor(_Backend(), flip=False)
    np.testing.assert_allclose(on.predict_batch(rgb), one, rtol=1e-6)
    np.testing.assert_allclose(off.predict_batch(rgb), _Backend()(rgb), rtol=1e-6)
