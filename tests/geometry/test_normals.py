import math

import numpy as np
import pytest

from workbench.geometry.analytic import box_room
from workbench.geometry.equirect import range_to_points, roll_yaw
from workbench.geometry.normals import normals_valid, range_to_normals


class TestRangeToNormals:
    def test_smoke_shapes(self):
        for h in (2, 5, 64, 100):
            n = range_to_normals(np.full((h, 2 * h), 2.0, np.float32))
            assert n.shape == (h, 2 * h, 3) and n.dtype == np.float32

    def test_box_room_axis_aligned(self):
        r, n_true = box_room(128, lo=(-2, -1.4, -3), hi=(3, 1.3, 2.5), centre=(0.2, 0, 0.1))
        n = range_to_normals(r)
        ok = normals_valid(n)
        assert np.allclose(np.linalg.norm(n[ok], axis=-1), 1, atol=1e-5)
        cos = np.sum(n * n_true, -1)[ok]
        # all pixels away from the wall edges are exact; edges are a few pixel columns
        assert np.mean(cos > 0.9999) > 0.95
        # normals face the camera everywhere the box is seen
        p = range_to_points(r)
        assert np.all(np.sum(n * p, -1)[ok][cos > 0.5] < 0)

    def test_facing_wall_value(self):
        r, _ = box_room(64, lo=(-5, -5, -5), hi=(5, 5, 2))
        n = range_to_normals(r)
        assert np.allclose(n[32, 64], [0, 0, -1], atol=1e-5)
        assert np.allclose(n[0, 10], [0, 1, 0], atol=1e-5)  # ceiling: points down to the camera

    def test_seam_wraps(self):
        r, _ = box_room(32, lo=(-3, -3, -5), hi=(3, 3, 3))  # wall behind at z = -5
        n = range_to_normals(r)
        assert np.allclose(n[16, 0], [0, 0, 1], atol=1e-4)
        assert np.allclose(n[16, -1], [0, 0, 1], atol=1e-4)

    def test_yaw_equivariance(self):
        r, _ = box_room(32, lo=(-2, -1.5, -3), hi=(2.5, 1.2, 3.5))
        k = 5
        d = k * 2 * math.pi / 64
        n_rolled = range_to_normals(roll_yaw(r, d))
        # rolling the range == rolling the normals and rotating them into the turned camera
        from workbench.geometry.equirect import yaw_matrix

        expect = roll_yaw(range_to_normals(r), d, "nearest") @ yaw_matrix(d)
        assert np.allclose(n_rolled, expect, atol=1e-4)

    def test_invalid_neighbours(self):
        r = np.full((16, 32), 2.0, np.float32)
        r[8, 10] = 0.0
        r[3, 0] = np.nan
        ok = normals_valid(range_to_normals(r))
        assert not ok[8, 10] and not ok[7, 10] and not ok[9, 10]
        assert not ok[8, 9] and not ok[8, 11] and ok[8, 12]
        assert not ok[3, 31] and not ok[3, 1]  # wraps at the seam

    def test_threaded_equals_serial(self):
        r, _ = box_room(100)
        assert np.array_equal(range_to_normals(r, workers=1), range_to_normals(r, workers=2))

    def test_bad_input(self):
        with pytest.raises(ValueError, match=r"range_m must be \(H, W\)"):
            range_to_normals(np.ones((4, 8, 1), np.float32))
        with pytest.raises(ValueError, match="W == 2\\*H"):
            range_to_normals(np.ones((4, 6), np.float32))
        with pytest.raises(ValueError, match=r"normals must be \(H, W, 3\)"):
            normals_valid(np.ones((4, 8)))
