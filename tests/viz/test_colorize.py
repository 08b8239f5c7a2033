import numpy as np
import pytest

from workbench.viz.colorize import colorize_depth, colorize_error, colorize_normals, depth_limits


def test_depth_invalid_black_and_monotone():
    r = np.tile(np.linspace(0.5, 5.0, 16, dtype=np.float32), (8, 1))
    r[0, 0] = np.nan
    img = colorize_depth(r, 0.5, 5.0)
    assert img.shape == (8, 16, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == [0, 0, 0]
    # turbo: near end blue-ish, far end red-ish
    assert img[1, 0, 2] > img[1, 0, 0] and img[1, -1, 0] > img[1, -1, 2]


def test_depth_percentile_limits():
    r = np.arange(1, 101, dtype=np.float32).reshape(5, 20)[:5, :10]
    lo, hi = depth_limits(r, (0, 100))
    assert (lo, hi) == (1.0, 90.0)
    assert depth_limits(np.zeros((2, 4))) == (0.0, 1.0)


def test_normals_colours():
    n = np.zeros((2, 4, 3), np.float32)
    n[0, 0] = [0, 0, -1]
    img = colorize_normals(n)
    assert img[0, 0].tolist() == [128, 128, 0] and img[1, 1].tolist() == [0, 0, 0]


def test_error_map():
    e = np.array([[0.0, 1.0, np.nan, 2.0]])
    img = colorize_error(e, vmax=1.0)
    assert img[0, 2].tolist() == [0, 0, 0]
    assert img[0, 1].tolist() == img[0, 3].tolist()  # clipped at vmax


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"range_m must be \(H, W\)"):
        colorize_depth(np.ones((2, 4, 1)))
    with pytest.raises(ValueError, match="vmax must exceed vmin"):
        colorize_depth(np.ones((2, 4)), 2.0, 1.0)
    with pytest.raises(ValueError, match=r"normals must be \(H, W, 3\)"):
        colorize_normals(np.ones((2, 4)))
