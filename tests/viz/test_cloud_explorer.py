from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import index_dataset
from workbench.viz.cloud_explorer import PointCloudExplorer, measure_text, saturated_range_m
from workbench.viz.viewer3d import (
    CloudViewer,
    cloud_layers,
    drawable,
    frustum_lines,
    legend_html,
    overview_camera,
    point_colors_u32,
    robust_limits,
    view_camera,
)

SAMPLES = Path(__file__).parents[2] / "data_samples" / "seed"
RECORDS = index_dataset(SAMPLES)


class ConstantModel:
    """A predictor of 2 m everywhere, at half the panorama's size."""

    def predict(self, rgb, name=""):
        return np.full((rgb.shape[0] // 2, rgb.shape[1] // 2), 2.0, np.float32)


@pytest.fixture(scope="module")
def explorer():
    return PointCloudExplorer(RECORDS, SAMPLES, budget=3000, stride=8, predictor=ConstantModel())


def test_drawable_drops_sentinels_and_saturation():
    r = np.float32([1.5, 0.0, -2.0, np.nan, np.inf, 65535 / 512, 65534 / 512])
    assert drawable(r, 65535 / 512).tolist() == [True, False, False, False, False, False, True]
    assert drawable(r).tolist() == [True, False, False, False, False, True, True]


def test_cloud_layers_never_keep_a_saturated_range():
    rgb = np.zeros((4, 8, 3), np.uint8)
    rng = np.full((4, 8), 3.0, np.float32)
    rng[0] = 65535 / 512  # a saturated row
    L = cloud_layers([(rgb, rng, np.eye(4), None, None)], saturated_m=65535 / 512)
    assert len(L) == 3 * 8 and np.allclose(L.range_m, 3.0)


def test_robust_limits_ignore_far_outliers_and_nan():
    v = np.r_[np.linspace(1.0, 5.0, 1000), np.full(10, 500.0), np.nan]
    lo, hi = robust_limits(v)
    assert 1.0 <= lo < 1.2 and 4.8 < hi <= 5.0  # 1 % of points at 500 m do not set the range
    assert robust_limits(np.float32([np.nan])) == (0.0, 1.0)


@pytest.mark.parametrize("mode", ["rgb", "normal", "range", "height", "error"])
def test_legend_for_every_mode(mode):
    text = legend_html(mode, (0.5, 4.5))
    assert "colour" in text
    if mode in ("range", "height", "error"):  # a bar with ticks in metres
        assert "linear-gradient" in text and "0.50" in text and "4.50" in text and "(m," in text


def test_error_colours_grey_where_there_is_no_value():
    rgb = np.zeros((2, 4, 3), np.uint8)
    err = np.float32([[0.1, 0.2, np.nan, 0.3], [0.4, 0.5, 0.6, np.nan]])
    L = cloud_layers([(rgb, np.ones((2, 4), np.float32), np.eye(4), None, err)])
    colors, (lo, hi) = point_colors_u32(L, np.arange(len(L)), "error")
    assert lo == 0.0 and 0.5 < hi <= 0.6
    assert (colors[~np.isfinite(L.error)] == 0x9E9E9E).all()
    assert (colors[np.isfinite(L.error)] != 0x9E9E9E).all()


def test_view_camera_stands_at_the_camera_and_looks_forward():
    T = np.eye(4)
    T[:3, 3] = [1.0, -1.5, 2.0]  # 1.5 m up (y down)
    yaw = np.deg2rad(90)  # camera +z turned to world +x
    T[:3, :3] = [[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]]
    cam = view_camera(T)
    assert np.allclose(cam[:3], [1.0, 2.0, 1.5])  # display (x, z, -y)
    assert np.allclose(np.subtract(cam[3:6], cam[:3]), [1.0, 0.0, 0.0], atol=1e-9)
    assert cam[6:] == [0.0, 0.0, 1.0]


def test_overview_frames_the_bulk_not_the_outliers():
    rng = np.random.default_rng(0)
    room = rng.uniform(-2, 2, (5000, 3)).astype(np.float32)
    far = np.full((40, 3), 200.0, np.float32)  # seen through a window
    cam = overview_camera(np.concatenate([room, far]))
    assert np.linalg.norm(cam[3:6]) < 0.5 and np.linalg.norm(np.subtract(cam[:3], cam[3:6])) < 10
    assert overview_camera(np.zeros((0, 3), np.float32)) is None


def test_frustum_indices_within_their_vertices():
    for k in (1, 2, 5):
        verts, segs = frustum_lines([np.eye(4)] * k)
        assert len(verts) == 6 * k and segs.max() == 6 * k - 1


def test_camera_lines_replaced_with_consistent_arrays():
    v = CloudViewer()
    v.set_cameras([np.eye(4)], ["0"])
    first = v.cameras
    v.set_cameras([np.eye(4)] * 3, ["0", "1", "2"])
    assert v.cameras is not first and first not in v.plot.objects  # a new object, never mixed
    assert int(v.cameras.indices.max()) < len(v.cameras.vertices)
    assert v.plot.menu_visibility


def test_measure_text_two_points():
    text = measure_text([(np.array([0.0, 0, 0]), ""), (np.array([1.0, 2, 2]), "")])
    assert "distance A–B: 3.000 m" in text and text.startswith("A: x 0.000, y 0.000, z 0.000 m")
    assert "second point" in measure_text([(np.zeros(3), "")])


def test_colour_toggle_sends_colours_only(explorer):
    ex = explorer
    ex.color.value = "rgb"
    pos = ex.viewer.points.positions
    sent = []
    ex.viewer.points.observe(lambda ch: sent.append(ch["name"]), ["positions", "colors"])
    ex.color.value = "height"
    assert sent == ["colors"] and ex.viewer.points.positions is pos
    assert "height above the floor (m," in ex.legend.value
    ex.viewer.points.unobserve_all()


def test_measure_turns_picking_on_and_off(explorer):
    ex = explorer
    assert not ex.viewer.picking and ex.viewer.points.click_callback is None
    assert "measure</b> on" in ex.picked.value and ex.viewer.plot.mode == "view"
    ex.measure.value = True
    assert ex.viewer.points.click_callback is not None and ex.viewer.plot.mode == "callback"
    assert "click two points" in ex.picked.value
    ex._on_pick(0)
    ex.measure.value = False  # off: no picking, and the readout is cleared
    assert ex.viewer.points.click_callback is None and ex.picks == []
    assert "measure</b> on" in ex.picked.value


def test_pick_two_points_measures_and_a_change_clears_it(explorer):
    ex = explorer
    ex.measure.value = True
    ex._on_pick(0)
    assert "second point" in ex.picked.value
    ex._on_pick(5)
    a, b = ex.layers.points[ex.shown[[0, 5]]].astype(np.float64)
    assert f"distance A–B: {np.linalg.norm(a - b):.3f} m" in ex.picked.value
    ex.color.value = "range"  # a colour change keeps the points picked
    assert "distance" in ex.picked.value
    ex.max_range.value = 5.0  # a new selection: the picks referred to the old one
    assert ex.picks == [] and "click two points" in ex.picked.value
    ex._on_pick(1)
    ex.scene.value = ex.scene.options[1][1]
    assert ex.picks == [] and "click two points" in ex.picked.value
    ex.max_range.value = ex.max_range.max
    ex.measure.value = False


def test_look_from_a_view_and_reset(explorer):
    ex = explorer
    first = ex.look.options[0][1]
    assert ex.look.value == first  # opens at the first view's camera
    assert ex.viewer.plot.camera == view_camera(ex._poses[0])
    ex.look.value = ex.look.options[1][1]
    assert ex.viewer.plot.camera == view_camera(ex._poses[1])
    ex.viewer.plot.camera = [9.0] * 6 + [0.0, 0.0, 1.0]  # the user orbits away
    ex.reset.click()
    assert ex.viewer.plot.camera == view_camera(ex._poses[1])
    ex.look.value = ""  # the overview
    assert ex.viewer.plot.camera == overview_camera(ex.layers.points[ex.shown])
    ex.point_size.value = 0.05
    assert ex.viewer.points.point_size == 0.05


def test_predicted_depth_and_error(explorer):
    ex = explorer
    ex.depth.value = "predicted"
    assert np.allclose(ex.layers.range_m, 2.0, atol=1e-3) and "predicted depth" in ex.status.value
    ex.color.value = "error"
    recs = [r for r in ex.records if r.scene_id == ex.scene.value]
    gt = np.concatenate([ex._load(r)[0].range_m[::8, ::8].reshape(-1) for r in recs])
    assert len(gt) == len(ex.layers)  # a prediction everywhere: every pixel is a point
    expected = np.where(gt > 0, np.abs(2.0 - gt), np.nan)
    assert np.allclose(ex.layers.error, expected, atol=1e-4, equal_nan=True)
    assert "|prediction − ground truth|" in ex.legend.value
    ex.depth.value = "measured"
    assert ex.layers.error is not None and np.isfinite(ex.layers.error).any()
    assert saturated_range_m(RECORDS[0]) == pytest.approx(65535 / RECORDS[0].depth_scale)


def test_a_view_without_a_pose_is_left_out_of_the_fused_cloud_and_named():
    import dataclasses

    sid = RECORDS[0].scene_id
    recs = [r for r in RECORDS if r.scene_id == sid]
    assert len(recs) >= 2
    lost = recs[1].view_id
    records = [dataclasses.replace(r, pose_path="") if r.view_id == lost and r.scene_id == sid
               else r for r in RECORDS]  # fmt: skip
    ex = PointCloudExplorer(records, SAMPLES, budget=3000, stride=8)
    ex.scene.value = sid
    ex.views.value = tuple(r.view_id for r in recs)
    posed = [r for r in recs if r.view_id != lost]
    expected = sum(int(drawable(ex._load(r)[0].range_m[::8, ::8]).sum()) for r in posed)
    assert len(ex.layers) == expected
    assert f"view(s) {lost} have no pose and are left out" in ex.status.value
    ex.views.value = (recs[0].view_id,)
    assert "no pose" not in ex.status.value


def test_an_unreadable_view_is_left_out_and_named_not_the_explorer(tmp_path):
    """Notebook 03 stopped on one truncated panorama; the explorer now draws the others and
    names it in its status line (a selection of it alone: no point, and why)."""
    import shutil

    root = tmp_path / "seed"
    shutil.copytree(SAMPLES, root)
    records = index_dataset(root)
    bad = root / records[1].rgb_path
    bad.write_bytes(bad.read_bytes()[:150])
    ex = PointCloudExplorer(records, root, budget=3000, stride=8)
    assert len(ex.shown) > 0
    assert "left out (cannot be read)" in ex.status.value and str(bad) in ex.status.value
    assert records[1].view_id not in ex._ids and records[0].view_id in ex._ids
    ex.views.value = (records[1].view_id,)  # the broken view alone: said, not raised
    assert len(ex.shown) == 0 and len(ex.layers) == 0
    assert "no point left" in ex.status.value and "truncated" in ex.status.value
    assert str(bad) in ex.status.value
    ex.views.value = (records[0].view_id,)  # and another works again
    assert len(ex.shown) > 0 and "cannot be read" not in ex.status.value
