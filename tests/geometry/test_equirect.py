import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.geometry import equirect as eq
from workbench.geometry.analytic import box_room


class TestLonLat:
    def test_landmarks(self):
        h, w = 64, 128
        rays = eq.unit_rays(h, w)
        # centre column (between w/2-1 and w/2) looks along +z
        mid = rays[h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1].sum(axis=(0, 1))
        assert np.allclose(mid / np.linalg.norm(mid), [0, 0, 1], atol=1e-3)
        # top row looks up (-y), bottom row down (+y)
        assert rays[0, :, 1].max() < -0.99 and rays[-1, :, 1].min() > 0.99
        # quarter width: lon = -pi/2 -> -x ; three quarters: +x
        lon, lat = eq.pixel_to_lonlat(w / 4 - 0.5, h / 2 - 0.5, h, w)
        assert np.allclose(eq.lonlat_to_rays(lon, lat), [-1, 0, 0], atol=1e-12)
        lon, lat = eq.pixel_to_lonlat(3 * w / 4 - 0.5, h / 2 - 0.5, h, w)
        assert np.allclose(eq.lonlat_to_rays(lon, lat), [1, 0, 0], atol=1e-12)

    def test_ranges(self):
        lon, lat = eq.lonlat_grid(4, 8)
        assert lon.shape == (8,) and lat.shape == (4,)
        assert lon.min() > -math.pi and lon.max() < math.pi
        assert lat.min() > -math.pi / 2 and lat.max() < math.pi / 2

    @pytest.mark.parametrize("h", [1, 3, 16, 33])
    def test_rays_unit_norm(self, h):
        r = eq.unit_rays(h, 2 * h)
        assert r.shape == (h, 2 * h, 3) and r.dtype == np.float32
        assert np.allclose(np.linalg.norm(r, axis=-1), 1.0, atol=1e-6)
        assert not r.flags.writeable

    @given(
        u=st.floats(-0.5, 127.49, allow_nan=False),
        v=st.floats(-0.49, 63.49, allow_nan=False),
    )
    def test_round_trip_pixel_ray_pixel(self, u, v):
        h, w = 64, 128
        ray = eq.lonlat_to_rays(*eq.pixel_to_lonlat(u, v, h, w))
        u2, v2 = eq.lonlat_to_pixel(*eq.rays_to_lonlat(ray * 3.7), h, w)
        assert abs(v2 - v) < 1e-6
        du = (u2 - u + w / 2) % w - w / 2  # compare on the circle
        assert abs(du) < 1e-6

    def test_rays_to_lonlat_bad_shape(self):
        with pytest.raises(ValueError, match=r"rays must be \(\.\.\., 3\)"):
            eq.rays_to_lonlat(np.zeros((4, 2)))


class TestRangeToPoints:
    def test_smoke_and_shapes(self):
        for h in (2, 8, 31):
            r = np.random.default_rng(h).uniform(0.5, 5, (h, 2 * h)).astype(np.float32)
            p = eq.range_to_points(r)
            assert p.shape == (h, 2 * h, 3) and p.dtype == np.float32
            assert np.allclose(np.linalg.norm(p, axis=-1), r, rtol=1e-5)

    def test_simple_box_wall(self):
        # 2 m wall in front: the pixel next to the image centre is at z ~= 2
        r, _ = box_room(64, lo=(-5, -5, -5), hi=(5, 5, 2))
        p = eq.range_to_points(r)
        assert abs(p[32, 64, 2] - 2.0) < 1e-5
        assert np.allclose(p[20:44, 50:78, 2], 2.0, atol=1e-5)

    def test_invalid_pixels_are_zero(self):
        r = np.ones((4, 8), np.float32)
        r[0, 0], r[1, 1], r[2, 2], r[3, 3] = 0, -1, np.nan, np.inf
        p = eq.range_to_points(r)
        assert np.all(p[[0, 1, 2, 3], [0, 1, 2, 3]] == 0)
        assert np.isfinite(p).all()

    @pytest.mark.parametrize("shape", [(4, 7), (4, 8, 1), (8, 4), (0, 0), (4,)])
    def test_bad_shapes(self, shape):
        with pytest.raises(ValueError, match=r"range_m must be \(H, W\) with W == 2\*H"):
            eq.range_to_points(np.ones(shape, np.float32))

    def test_round_trip_points_to_range(self):
        r, _ = box_room(32)
        p = eq.range_to_points(r).reshape(-1, 3)
        r2, _ = eq.points_to_range(p, 32, 64)
        assert np.allclose(r2, r, rtol=1e-5)


class TestPointsToRange:
    def test_zbuffer_keeps_nearest(self):
        pts = np.array([[0, 0, 5.0], [0, 0, 2.0], [0, 0, 3.0]])
        cols = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]], np.uint8)
        r, c = eq.points_to_range(pts, 8, 16, cols)
        v, u = np.unravel_index(np.argmax(r), r.shape)
        assert r[v, u] == 2.0 and c[v, u].tolist() == [2, 2, 2]
        assert (r > 0).sum() == 1 and c.dtype == np.uint8

    def test_ignores_non_finite(self):
        pts = np.array([[np.nan, 0, 1.0], [0, 0, 0], [1.0, 0, 0]])
        r, _ = eq.points_to_range(pts, 4, 8)
        assert (r > 0).sum() == 1

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="points must be"):
            eq.points_to_range(np.zeros((3, 2)), 4, 8)
        with pytest.raises(ValueError, match="W == 2\\*H"):
            eq.points_to_range(np.zeros((3, 3)), 4, 9)
        with pytest.raises(ValueError, match="values must have 3 rows"):
            eq.points_to_range(np.zeros((3, 3)), 4, 8, np.zeros((2, 3)))


class TestRollYaw:
    @given(k=st.integers(-200, 200), h=st.sampled_from([4, 16, 32]))
    def test_yaw_is_column_roll(self, k, h):
        w = 2 * h
        img = np.random.default_rng(k % 7).random((h, w, 3)).astype(np.float32)
        delta = k * 2 * math.pi / w
        assert np.array_equal(eq.roll_yaw(img, delta), np.roll(img, -k, axis=1))

    def test_matches_rotated_scene(self):
        # a box room seen by a camera turned by yaw delta == the rolled panorama
        h, k = 32, 8
        delta = k * 2 * math.pi / (2 * h)
        lo, hi = (-2.0, -1.5, -3.0), (2.5, 1.2, 3.5)
        r0, _ = box_room(h, lo, hi)
        r1, _ = box_room(h, lo, hi, R_world_from_cam=eq.yaw_matrix(delta))
        assert np.allclose(eq.roll_yaw(r0, delta), r1, atol=1e-4)

    def test_yaw_matrix_heading(self):
        f = eq.yaw_matrix(0.3) @ np.array([0, 0, 1.0])
        assert math.isclose(math.atan2(f[0], f[2]), 0.3)

    def test_fractional_depth_is_nearest(self):
        r = np.zeros((4, 8), np.float32)
        r[:, 3] = 2.0
        out = eq.roll_yaw(r, 0.4 * 2 * math.pi / 8)  # -0.4 px: nearest = no shift
        assert set(np.unique(out).tolist()) == {0.0, 2.0}

    def test_fractional_rgb_is_linear(self):
        img = np.zeros((4, 8, 3), np.float32)
        img[:, 4] = 1.0
        out = eq.roll_yaw(img, -0.5 * 2 * math.pi / 8)  # +0.5 px
        assert np.allclose(out[0, 4:6, 0], [0.5, 0.5])

    def test_bad_input(self):
        with pytest.raises(ValueError, match="W == 2\\*H"):
            eq.roll_yaw(np.zeros((4, 7)), 0.1)


class TestResize:
    def test_rgb_shapes(self):
        img = np.random.default_rng(0).integers(0, 255, (32, 64, 3), dtype=np.uint8)
        for h in (8, 16, 64):
            out = eq.resize_rgb(img, h)
            assert out.shape == (h, 2 * h, 3) and out.dtype == np.uint8

    def test_range_nearest_never_blends(self):
        r = np.zeros((32, 64), np.float32)
        r[:, ::2] = 3.0  # valid and invalid interleaved
        for h in (8, 16, 48):
            out = eq.resize_range(r, h)
            assert out.shape == (h, 2 * h)
            assert set(np.unique(out).tolist()) <= {0.0, 3.0}

    def test_range_masked_mean(self):
        r = np.full((8, 16), 2.0, np.float32)
        r[:4, :8] = np.nan
        r[4:, 8:] = 4.0
        r[0, 12:16] = 6.0  # block (0, 3): four 6s and twelve 2s
        r[0:2, 8:12] = 0.0  # block (0, 2): half invalid, the valid half still counts
        r[4:7, 0:4] = -1.0  # block (1, 0): under half valid -> invalid
        out = eq.resize_range(r, 2, mode="masked_mean")
        assert out.tolist() == [[0.0, 0.0, 2.0, 3.0], [0.0, 2.0, 4.0, 4.0]]

    def test_identity_size(self):
        r, _ = box_room(16)
        assert np.array_equal(eq.resize_range(r, 16), r)

    def test_bad_target(self):
        with pytest.raises(ValueError, match="W == 2\\*H"):
            eq.resize_range(np.ones((4, 8), np.float32), 4, 9)
        with pytest.raises(ValueError, match="mode must be"):
            eq.resize_range(np.ones((4, 8), np.float32), 2, mode="cubic")
        with pytest.raises(ValueError, match=r"rgb must be \(H, W, C\)"):
            eq.resize_rgb(np.zeros((4, 8)), 2)
