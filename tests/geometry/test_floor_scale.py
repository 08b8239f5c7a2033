"""Floor plane fit and rescaling to the rig's camera height, on analytic box rooms."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.geometry.analytic import box_room
from workbench.geometry.camera_height import fit_floor
from workbench.geometry.floor_scale import rescale_to_camera_height

H = 64  # 64x128 panoramas keep each test well under a second


def _room(camera_height: float = 1.5) -> np.ndarray:
    return box_room(H, lo=(-2.0, -1.2, -3.0), hi=(2.5, camera_height, 2.0))[0]


class TestFitFloor:
    def test_simple(self):
        fit = fit_floor(_room(1.5))
        assert fit.ok
        # wall pixels within the inlier band just above the floor pull it up by ~0.1 %
        assert fit.height_m == pytest.approx(1.5, rel=3e-3)
        assert fit.tilt_deg < 0.5

    def test_tilted_camera_with_its_rotation(self):
        a = np.deg2rad(5.0)
        R = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        r = box_room(H, lo=(-2, -1.2, -3), hi=(2.5, 1.4, 2), R_world_from_cam=R)[0]
        assert fit_floor(r, R).height_m == pytest.approx(1.4, rel=3e-3)
        assert fit_floor(r).tilt_deg == pytest.approx(5.0, abs=0.5)  # seen tilted without R

    def test_invalid(self):
        with pytest.raises(ValueError, match="W == 2\\*H"):
            fit_floor(np.ones((10, 30), np.float32))


class TestRescale:
    def test_recovers_factor(self):
        true = _room(1.5)
        scaled, factor, fit = rescale_to_camera_height(true * 0.6, 1.5, "room.png")
        assert factor == pytest.approx(1 / 0.6, rel=0.01)
        np.testing.assert_allclose(scaled, true, rtol=0.01)
        assert scaled.dtype == np.float32

    def test_noisy_prediction_and_clutter(self):
        rng = np.random.default_rng(0)
        r = _room(1.3) * 0.8 * (1 + 0.02 * rng.standard_normal((H, 2 * H))).astype(np.float32)
        r[H - 20 : H - 12, 10:40] *= 0.5  # a box on the floor in front of the camera
        assert rescale_to_camera_height(r, 1.3)[1] == pytest.approx(1.25, rel=0.02)

    def test_seam(self):  # a yaw roll of the panorama gives the same factor
        r = _room(1.5) * 0.6
        rolled = np.roll(r, H // 3, axis=1)
        f0 = rescale_to_camera_height(r, 1.5)[1]
        assert rescale_to_camera_height(rolled, 1.5)[1] == pytest.approx(f0, rel=1e-3)

    @pytest.mark.parametrize("case", ["sky", "sphere", "ramp"])
    def test_no_floor_refused(self, case):
        lat = (np.arange(H) + 0.5) / H * np.pi - np.pi / 2
        r = np.full((H, 2 * H), 3.0, np.float32)  # sphere: no plane anywhere
        if case == "sky":
            r[lat > 0] = 0  # nothing valid below the horizon
        if case == "ramp":  # a 45° slope below the camera: a plane, not level
            from workbench.geometry.equirect import unit_rays

            d = unit_rays(H, 2 * H)
            n = np.array([0.0, np.cos(np.pi / 4), np.sin(np.pi / 4)])
            t = 1.5 / np.clip(d @ n, 1e-3, None)
            r = np.where(d @ n > 0.05, np.minimum(t, 20), 20).astype(np.float32)
        with pytest.raises(WorkbenchError, match="--camera-height 1.5: no floor visible") as e:
            rescale_to_camera_height(r, 1.5, "pano.jpg")
        assert e.value.path == "pano.jpg" or "pano.jpg" in str(e.value)

    def test_height_out_of_range(self):
        with pytest.raises(WorkbenchError, match="between 0.3 and 3.0"):
            rescale_to_camera_height(_room(), 5.0)
