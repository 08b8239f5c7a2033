"""Two-view correspondence: analytic fixtures, occlusion, round trips on real samples."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view
from workbench.errors import WorkbenchError
from workbench.geometry.analytic import box_room
from workbench.geometry.correspondence import (
    correspond,
    covisibility_matrix,
    fill_radius,
    fill_sparse,
    overlap,
    read_covisibility,
    sample_bilinear_wrap,
    sample_matches,
    write_covisibility,
)
from workbench.geometry.equirect import resize_range, yaw_matrix

SAMPLES = Path(__file__).parents[2] / "data_samples" / "seed"
LO, HI = (-2.5, -1.5, -3.5), (3.0, 1.3, 2.5)


def pose(R=None, t=(0, 0, 0)):
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = t
    return T


def test_identity_pose_is_identity_map():
    r, _ = box_room(32, LO, HI)
    c = correspond(r, np.eye(4), np.eye(4), r)
    np.testing.assert_allclose(c.flow, 0, atol=2e-3)
    assert c.consistent.mean() > 0.99
    np.testing.assert_allclose(c.range_in_b, r, rtol=1e-5)


@given(k=st.integers(-64, 63))
def test_pure_yaw_is_a_column_shift(k):
    h, w = 32, 64
    r, _ = box_room(h, LO, HI)
    delta = -k * 2 * np.pi / w  # turning by delta rolls columns by -delta * W / 2pi = k
    Tb = pose(yaw_matrix(delta))
    rb = np.roll(r, k, axis=1)
    c = correspond(r, np.eye(4), Tb, rb)
    np.testing.assert_allclose(c.flow[..., 0], (k + w // 2) % w - w // 2, atol=2e-3)
    np.testing.assert_allclose(c.flow[..., 1], 0, atol=2e-3)
    assert c.consistent.mean() > 0.99


def test_translation_in_box_room_lands_on_the_same_point():
    t = np.array([0.8, 0.2, -0.6])
    ra, _ = box_room(64, LO, HI, centre=(0, 0, 0))
    rb, _ = box_room(64, LO, HI, centre=t)
    c = correspond(ra, np.eye(4), pose(t=t), rb)
    # the analytic range of B at the matched pixel equals the distance to A's point
    val, ok, _ = sample_bilinear_wrap(rb, c.uv[..., 0], c.uv[..., 1])
    sel = c.consistent
    assert sel.mean() > 0.9
    rel = np.abs(val[sel] - c.range_in_b[sel]) / c.range_in_b[sel]
    assert np.median(rel) < 1e-3 and np.percentile(rel, 95) < 0.01
    # the centre pixel looking at +z: hand-checked point (0, 0, 2.5) seen from t
    h, w = ra.shape
    v, u = h // 2, w // 2
    p = ra[v, u] * np.array([np.sin(np.pi / w) * np.cos(np.pi / (2 * h)), np.sin(np.pi / (2 * h)),
                             np.cos(np.pi / w) * np.cos(np.pi / (2 * h))])  # fmt: skip
    assert c.range_in_b[v, u] == pytest.approx(np.linalg.norm(p - t), rel=1e-4)


def _render(mesh_parts, centre, h):
    import open3d as o3d

    from workbench.data.synth import _merge
    from workbench.geometry.equirect import unit_rays

    v, f = _merge(mesh_parts)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(v.astype(np.float32), f.astype(np.uint32))
    rays = unit_rays(h, 2 * h).reshape(-1, 3)
    o = np.broadcast_to(np.asarray(centre, np.float32), rays.shape)
    hit = scene.cast_rays(o3d.core.Tensor(np.concatenate([o, rays], 1).astype(np.float32)))
    return hit["t_hit"].numpy().reshape(h, 2 * h), scene


def test_pillar_occludes_what_is_behind_it():
    import open3d as o3d

    from workbench.data.synth import _box

    room = _box(0.0, 0.0, 6.0, 6.0, 1.5, -1.5)  # a closed box: walls, floor and ceiling
    pillar = _box(0.0, 1.0, 0.4, 0.4, 1.5, -1.5)
    ca, cb = np.array([0.0, 0.0, -1.0]), np.array([1.2, 0.0, 2.2])
    h = 96
    ra, _ = _render([room, pillar], ca, h)
    rb, scene = _render([room, pillar], cb, h)
    c = correspond(ra, pose(t=ca), pose(t=cb), rb)
    # ground truth: is the segment from B's centre to A's point blocked?
    from workbench.geometry.equirect import range_to_points

    pts = range_to_points(ra).reshape(-1, 3) + ca
    d = pts - cb
    dist = np.linalg.norm(d, axis=1)
    rays = np.concatenate([np.broadcast_to(cb, d.shape), d / dist[:, None]], 1)
    hit = scene.cast_rays(o3d.core.Tensor(rays.astype(np.float32)))["t_hit"].numpy()
    truth_occluded = (hit < dist * 0.97).reshape(ra.shape)
    assert truth_occluded.mean() > 0.02  # the pillar hides a real part of the room
    agree = (~c.visible == truth_occluded)[c.valid]
    assert agree.mean() > 0.98
    assert not c.consistent[truth_occluded].any() or c.consistent[truth_occluded].mean() < 0.02


def test_round_trip_on_sample_pairs():
    """Over every ordered pair of every sample scene, >= 95% of co-visible pixels round-trip
    within a pixel; every pair under 2 m of baseline does on its own (wide baselines see more
    depth edges at grazing angles, where bilinear depth cannot close the loop)."""
    import itertools

    recs = index_dataset(SAMPLES)
    views = [load_view(r, SAMPLES) for r in recs]
    total = [0, 0]
    for i, j in itertools.permutations(range(len(recs)), 2):
        if recs[i].scene_id != recs[j].scene_id:
            continue
        a, b = views[i], views[j]
        c = correspond(a.range_m, a.T_world_from_cam, b.T_world_from_cam, b.range_m)
        total[0] += int(c.consistent.sum())
        total[1] += int(c.visible.sum())
        if np.linalg.norm(a.T_world_from_cam[:3, 3] - b.T_world_from_cam[:3, 3]) < 2.0:
            assert c.consistent.sum() / c.visible.sum() >= 0.95, (i, j)
    assert total[0] / total[1] >= 0.95


def test_sparse_matches_and_covisibility(tmp_path):
    recs = [r for r in index_dataset(SAMPLES)][:4]
    views = [load_view(r, SAMPLES) for r in recs]
    c = correspond(views[0].range_m, views[0].T_world_from_cam, views[1].T_world_from_cam,
                   views[1].range_m)  # fmt: skip
    m = sample_matches(c, 50)
    assert m.shape == (50, 4)
    ua, va = m[:, 0].astype(int), m[:, 1].astype(int)
    np.testing.assert_allclose(m[:, 2:], c.uv[va, ua])

    small = [resize_range(v.range_m, 32) for v in views]
    cov = covisibility_matrix(small, [v.T_world_from_cam for v in views])
    assert cov.shape == (4, 4)
    np.testing.assert_allclose(np.diag(cov), 1.0)
    np.testing.assert_allclose(cov, cov.T)
    assert ((cov > 0.2) & (cov <= 1)).all()
    write_covisibility(tmp_path / "covisibility.txt", cov)
    lines = (tmp_path / "covisibility.txt").read_text().splitlines()
    assert len(lines) == 4 and all(len(ln.split()) == 4 for ln in lines)  # no header
    back = read_covisibility(tmp_path / "covisibility.txt", 4)
    np.testing.assert_allclose(back, cov, atol=1e-4)
    with pytest.raises(WorkbenchError, match="5 x 5"):
        read_covisibility(tmp_path / "covisibility.txt", 5)


def lidar_like(range_m: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scan-line sparsity like RealSee3D's real LiDAR: every third row, 10 % dropout, no
    zenith/nadir (about 30 % of pixels valid)."""
    h = range_m.shape[0]
    rng = np.random.default_rng(seed)
    keep = np.zeros(range_m.shape, bool)
    keep[::3] = True
    keep &= rng.random(range_m.shape) > 0.1
    keep[: h // 8] = keep[-h // 8 :] = False
    return np.where(keep, range_m, 0).astype(np.float32)


def test_sparse_and_dense_depth_give_the_same_covisibility():
    """Sparse LiDAR depth fills B's gaps for the tests (fill_sparse) and counts overlap over
    A's valid pixels, so it agrees with the dense depth of the same views within 0.05."""
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:4]]
    dense = [v.range_m for v in views]  # 256 x 512, as the LiDAR would be sampled
    sparse = [lidar_like(d, i) for i, d in enumerate(dense)]
    assert 0.2 < float((sparse[0] > 0).mean()) < 0.35
    poses = [v.T_world_from_cam for v in views]
    a = covisibility_matrix(dense, poses)
    b = covisibility_matrix(sparse, poses)
    assert np.abs(a - b).max() <= 0.05, np.abs(a - b).max()
    # a sparse view matched with itself at the identity is fully co-visible
    c = correspond(sparse[0], poses[0], poses[0], sparse[0])
    assert overlap(c) > 0.99
    # without filling, the 4-neighbour test fails almost everywhere (the old behaviour)
    assert overlap(correspond(sparse[0], poses[0], poses[0], sparse[0], fill=0)) < 0.3


def test_fill_sparse_takes_the_nearest_pixel_and_wraps():
    r = np.zeros((4, 8), np.float32)
    r[1, 1], r[1, 6] = 2.0, 4.0
    f = fill_sparse(r, 1)
    assert f[1, 0] == 2.0 and f[1, 7] == 4.0 and f[0, 6] == 4.0  # nearest pixel's range
    assert f[3, 3] == 0.0 and f[1, 1] == 2.0
    g = fill_sparse(np.pad(np.full((4, 1), 3.0, np.float32), ((0, 0), (7, 0))), 1)
    assert g[0, 0] == 3.0  # column 0 is next to column 7 across the seam
    assert fill_radius(np.ones((4, 8), np.float32)) == 0


def test_match_cli(tmp_path):
    from workbench.cli import main

    assert main(["match", str(SAMPLES), "--a", "000", "--b", "002", "--out", str(tmp_path)]) == 0
    flow = np.load(tmp_path / "flow.npy")
    assert flow.shape == (256, 512, 2) and flow.dtype == np.float32
    for name in ("matches.png", "masks.png", "flow.png", "covisibility.txt", "matches.csv"):
        assert (tmp_path / name).stat().st_size > 0
    assert main(["match", str(SAMPLES), "--a", "000", "--b", "009", "--out", str(tmp_path)]) == 2


def test_bad_shapes():
    r = np.ones((8, 16), np.float32)
    with pytest.raises(ValueError, match="range_b"):
        correspond(r, np.eye(4), np.eye(4), np.ones((4, 8), np.float32))
    with pytest.raises(ValueError):
        correspond(np.ones((8, 10), np.float32), np.eye(4), np.eye(4))
