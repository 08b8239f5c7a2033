"""The neighbouring-cloud distance and the layout range of ``benchmarks.real_checks`` on analytic
box rooms and layouts."""

import numpy as np

from benchmarks.real_checks import cloud_distance, cloud_gaps, world_cloud, zind_layout_range
from workbench.geometry.analytic import box_room
from workbench.geometry.equirect import lonlat_grid
from workbench.geometry.pose import pose_from_yaw_pitch_roll

LO, HI = (-2.5, -1.6, -3.0), (2.5, 1.4, 3.0)  # world = a box room, y down (floor at y = 1.4)
CENTRES = ((0.0, 0.0, 0.0), (1.0, 0.2, -1.2))


def _view(centre, yaw):
    T = pose_from_yaw_pitch_roll(yaw, 0.0, 0.0, centre)
    return box_room(128, LO, HI, centre, T[:3, :3])[0], T


def test_one_room_seen_from_two_poses_gives_clouds_0_m_apart():
    (ra, Ta), (rb, Tb) = _view(CENTRES[0], 0.0), _view(CENTRES[1], 0.7)
    # both clouds lie on the same walls; only their sampling differs (pixels 1.4° apart: 2.5 to
    # 7 cm at 1 to 3 m, and 20 000 of 32 768 drawn), so nearest neighbours are ~3 cm apart
    assert cloud_distance(ra, Ta, rb, Tb) < 0.05


def test_a_pose_error_of_half_a_metre_moves_the_clouds_half_a_metre_apart():
    (ra, Ta), (rb, Tb) = _view(CENTRES[0], 0.0), _view(CENTRES[1], 0.7)
    wrong = Tb.copy()
    wrong[:3, 3] += 0.5  # 0.5 m along every axis: each face of the box moves 0.5 m along its normal
    gaps = cloud_gaps(world_cloud(ra, Ta), world_cloud(rb, wrong, seed=1))
    # within 0.5 m of an edge a point may find another face nearer (or farther, up to a corner's
    # 0.87 m): most points, and so both quartiles, are 0.5 m from the other cloud
    assert np.all(np.abs(np.percentile(gaps, [25, 50, 75]) - 0.5) < 0.03)
    assert abs(cloud_distance(ra, Ta, rb, wrong) - 0.5) < 0.03


def test_world_cloud_keeps_points_within_reach_and_places_them():
    r, T = _view(CENTRES[1], 0.7)
    p = world_cloud(r, T, max_m=2.0, points=500)
    assert len(p) == 500  # subsampled
    assert np.all(np.linalg.norm(p - CENTRES[1], axis=1) <= 2.0 + 1e-4)
    on_face = np.isclose(p, LO, atol=1e-3) | np.isclose(p, HI, atol=1e-3)  # on the box
    assert on_face.any(axis=1).all()


def test_layout_range_floor_walls_and_ceiling_of_a_square_room():
    # a 4x4-unit square around the camera, camera height 1, ceiling 3 units above the floor
    pano = {
        "layout_visible": {"vertices": [[-2, -2], [2, -2], [2, 2], [-2, 2]]},
        "camera_height": 1.0,
        "ceiling_height": 3.0,
    }
    r = zind_layout_range(pano, 0.5, 64)  # 0.5 m per unit: camera 0.5 m above the floor
    lon, lat = lonlat_grid(64, 128)
    wall = 1.0 / np.maximum(np.abs(np.sin(lon)), np.abs(np.cos(lon)))[None] / np.cos(lat)[:, None]
    floor = 0.5 / np.sin(lat)[:, None] + 0 * lon  # the nadir: camera height / sin(latitude)
    ceiling = 1.0 / -np.sin(lat)[:, None] + 0 * lon
    expect = np.where(lat[:, None] > 0, np.minimum(wall, floor), np.minimum(wall, ceiling))
    np.testing.assert_allclose(r, expect, rtol=1e-5)
    np.testing.assert_allclose(r[-1], 0.5 / np.sin(lat[-1]), rtol=1e-6)  # floor at the nadir
