"""The ZInD wall-range ground truth of ``benchmarks.real_checks`` on an analytic square room."""

import numpy as np

from benchmarks.real_checks import zind_wall_range
from workbench.geometry.equirect import lonlat_grid


def test_wall_range_of_a_square_room_centred_on_the_camera():
    # a 2x2-unit square around the camera, 2 m per unit: walls 2 m away along x and y
    pano = {
        "layout_visible": {"vertices": [[-1, -1], [1, -1], [1, 1], [-1, 1]]},
        "camera_height": 1.0,
        "ceiling_height": 2.0,
    }
    r = zind_wall_range(pano, 2.0, 32)
    lon, lat = lonlat_grid(32, 64)
    on = r > 0
    assert on.any() and not on[np.abs(lat) > np.deg2rad(15.0)].any()
    # horizontal distance to the square's wall along the azimuth, then along the ray
    expect = 2.0 / np.maximum(np.abs(np.sin(lon)), np.abs(np.cos(lon)))[None] / np.cos(lat)[:, None]
    np.testing.assert_allclose(r[on], expect[on], rtol=1e-5)


def test_wall_range_follows_zind_azimuth_convention():
    # one wall 1 unit ahead along local +y (ZInD's centre column), the others far away
    pano = {
        "layout_visible": {"vertices": [[-10, 1], [10, 1], [10, -10], [-10, -10]]},
        "camera_height": 1.0,
        "ceiling_height": 2.0,
    }
    r = zind_wall_range(pano, 1.0, 32)
    row = r[16]  # just below the horizon
    assert 1.0 <= row[32] < 1.01 and 10.0 <= row[0] < 10.1  # centre: the near wall; seam: far
