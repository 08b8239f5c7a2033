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


def test_wall_range_leaves_out_doors_and_windows():
    # a 2x2-unit square; a door ahead (local +y, the centre column) 0.6 units wide from the floor
    # to 0.1 above the camera, a window behind; ZInD's WDO triples: two ends, (bottom, top)
    pano = {
        "layout_visible": {
            "vertices": [[-1, -1], [1, -1], [1, 1], [-1, 1]],
            "doors": [[-0.3, 1.0], [0.3, 1.0], [-1.0, 0.1]],
            "windows": [[0.2, -1.0], [-0.2, -1.0], [-0.3, 0.3]],
        },
        "camera_height": 1.0,
        "ceiling_height": 2.0,
    }
    r = zind_wall_range(pano, 1.0, 128)
    lon, lat = lonlat_grid(128, 256)
    band = np.abs(lat) <= np.deg2rad(15.0)
    door_cols = (np.abs(np.tan(lon)) < 0.25) & (np.abs(lon) < np.pi / 4)  # |x| < 0.25 ahead
    beside = (np.abs(np.tan(lon)) > 0.4) & (np.abs(lon) < np.pi / 4)  # |x| > 0.4: wall
    below_top = -np.tan(lat) < 0.05  # the wall point 1 unit away is below the door's top
    above_top = -np.tan(lat) > 0.15
    assert not r[np.ix_(band & below_top, door_cols)].any()
    assert r[np.ix_(band & above_top, door_cols)].all()  # the wall above the door
    assert r[np.ix_(band, beside)].all()
    win_cols = np.abs(lon) > np.pi - np.arctan(0.15)  # behind: |x| < 0.15 on the wall y = -1
    assert not r[np.ix_(band & (np.abs(np.tan(lat)) < 0.25), win_cols)].any()


def test_surface_ratios_of_the_exact_room_and_of_a_deeper_floor():
    from benchmarks.real_checks import zind_layout_range, zind_surface_ratios

    pano = {
        "layout_visible": {"vertices": [[-2, -1.5], [2, -1.5], [2, 2.5], [-2, 2.5]]},
        "camera_height": 1.0,
        "ceiling_height": 1.7,
    }
    exact = zind_layout_range(pano, 1.4, 64)  # the layout room itself, 1.4 m per unit
    assert zind_surface_ratios(pano, 1.4, exact) == {"walls": 1.0, "floor": 1.0, "ceiling": 1.0}
    scaled = zind_surface_ratios(pano, 1.4, exact * 1.2)  # right shape, wrong scale
    assert scaled == {"walls": 1.2, "floor": 1.2, "ceiling": 1.2}
    lat = lonlat_grid(64, 128)[1][:, None]
    deeper = np.where(lat > np.deg2rad(30.0), exact * 1.1, exact)  # a floor pushed down
    r = zind_surface_ratios(pano, 1.4, deeper)
    assert r["walls"] == 1.0 and r["ceiling"] == 1.0 and 1.0 < r["floor"] < 1.1
    assert zind_surface_ratios(pano, 1.4, np.zeros_like(exact))["floor"] is None  # no pixels
