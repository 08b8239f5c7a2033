import numpy as np
import pytest

from workbench.viz.viewer3d import (
    CloudLayers,
    CloudViewer,
    cloud_layers,
    frustum_lines,
    point_colors_u32,
    select_points,
    to_display,
)


def _layers(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-5, 5, (n, 3)).astype(np.float32)
    return CloudLayers(
        pts,
        rng.integers(0, 256, (n, 3), dtype=np.uint8),
        np.linalg.norm(pts, axis=1).astype(np.float32),
        np.tile(np.float32([0, -1, 0]), (n, 1)),
        rng.uniform(0, 1, n).astype(np.float32),
        np.zeros(n, np.int32),
    )


@pytest.mark.parametrize("budget", [0, 1, 137, 999, 1000, 5000])
def test_exactly_the_budget(budget):
    idx = select_points(_layers(), budget)
    assert len(idx) == min(budget, 1000) and len(np.unique(idx)) == len(idx)
    assert np.array_equal(idx, np.sort(idx))


def test_cuts_remove_every_point_beyond_them():
    L = _layers()
    idx = select_points(L, 10_000, max_range=3.0, max_height=1.0)
    assert (L.range_m[idx] <= 3.0).all() and (-L.points[idx, 1] <= 1.0).all()
    expect = (L.range_m <= 3.0) & (-L.points[:, 1] <= 1.0)
    assert len(idx) == expect.sum()  # and nothing within them is dropped
    assert len(select_points(L, 10, max_range=-1.0)) == 0
    with pytest.raises(ValueError, match="budget"):
        select_points(L, -1)


def test_sample_is_seeded_and_proportional():
    L = _layers(20_000)
    a, b = select_points(L, 2000, seed=3), select_points(L, 2000, seed=3)
    assert np.array_equal(a, b)
    far = L.range_m > 5
    assert abs(far[a].mean() - far.mean()) < 0.05  # far points are not favoured


def test_colours_hand_values():
    rgb8 = np.array([[255, 0, 16], [1, 2, 3]], np.uint8)
    nrm = np.float32([[1, 0, 0], [0, 0, -1]])
    L = CloudLayers(np.zeros((2, 3), np.float32), rgb8, np.float32([1.0, 3.0]), nrm)
    rgb, lim = point_colors_u32(L, np.arange(2), "rgb")
    assert rgb.tolist() == [0xFF0010, 0x010203] and lim is None
    nrm, _ = point_colors_u32(L, np.arange(2), "normal")
    assert nrm.tolist() == [(255 << 16) | (127 << 8) | 127, (127 << 16) | (127 << 8) | 0]
    rng, lim = point_colors_u32(L, np.arange(2), "range")
    assert lim[0] == pytest.approx(1.04) and lim[1] == pytest.approx(2.96) and rng[0] != rng[1]
    with pytest.raises(ValueError, match="error layer"):
        point_colors_u32(L, np.arange(2), "error")
    with pytest.raises(ValueError, match="colour mode"):
        point_colors_u32(L, np.arange(2), "depth")


def test_display_frame_and_frustums():
    assert to_display(np.array([[1, 2, 3]])).tolist() == [[1, 3, -2]]
    T = np.eye(4)
    T[:3, 3] = [1, -1.5, 2]
    v, s = frustum_lines([T, np.eye(4)], size=0.5)
    assert v.shape == (12, 3) and s.shape == (20, 2) and s.max() == 11
    assert np.allclose(v[0], [1, 2, 1.5])  # the centre, 1.5 m up
    assert np.allclose(v[1], [1 - 0.5, 2 + 0.5, 1.5 + 0.25])  # ahead (+z), up-left corner


def test_layers_from_views_and_viewer_arrays():
    rgb = np.full((8, 16, 3), 7, np.uint8)
    rng = np.full((8, 16), 2.0, np.float32)
    rng[0] = 0  # invalid row dropped
    err = np.full((8, 16), 0.25, np.float32)
    L = cloud_layers([(rgb, rng, np.eye(4), None, err), (rgb, rng, np.eye(4), None, err)])
    assert len(L) == 2 * 7 * 16 and L.normals is None and (L.error == 0.25).all()
    assert set(L.view.tolist()) == {0, 1} and np.allclose(L.range_m, 2.0)
    viewer = CloudViewer()
    idx = select_points(L, 50)
    viewer.set_cloud(L.points[idx], point_colors_u32(L, idx, "error")[0])
    assert viewer.points.positions.shape == (50, 3)
    viewer.set_cloud(L.points[:0], np.zeros(0, np.uint32))  # nothing left: still drawable
    assert viewer.points.positions.shape == (1, 3)
