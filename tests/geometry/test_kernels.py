"""The compiled range→points and normals kernels equal their numpy references, invalid pixels
(0, negative, NaN, inf) and every size included."""

import numpy as np
import pytest

from workbench.geometry.analytic import box_room
from workbench.geometry.equirect import _range_to_points_numpy, range_to_points
from workbench.geometry.normals import _range_to_normals_numpy, range_to_normals


def _ranges(h):
    r, _ = box_room(h, lo=(-3, -1.5, -4), hi=(4, 1.4, 3.5), centre=(0.3, 0.1, -0.2))
    r = r.copy()
    rng = np.random.default_rng(h)
    holes = rng.random(r.shape) < 0.05
    r[holes] = rng.choice([0.0, -1.0, np.nan, np.inf], holes.sum())
    r[0, :] = 0  # a blind row at the pole
    return r


@pytest.mark.parametrize("h", [2, 8, 33, 128, 257])
@pytest.mark.parametrize("workers", [1, 2])
def test_kernels_equal_the_numpy_references(h, workers):
    r = _ranges(h)
    assert np.array_equal(range_to_points(r, workers), _range_to_points_numpy(r))
    if h >= 2:
        got, ref = range_to_normals(r, workers), _range_to_normals_numpy(r)
        assert np.allclose(got, ref, atol=1e-6)
        assert np.array_equal(np.any(got != 0, -1), np.any(ref != 0, -1))


def test_points_of_a_float64_non_contiguous_input():
    r = _ranges(64).astype(np.float64)[:, ::1].T.T  # a view of float64 data
    assert range_to_points(r).dtype == np.float32
    assert np.array_equal(range_to_points(r), _range_to_points_numpy(r))
