"""Figures build with the expected traces; widgets respond to ``.value``; point clouds line up
with the generator's mesh."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import index_dataset

SAMPLES = Path(__file__).parents[2] / "data_samples" / "seed"
RECORDS = index_dataset(SAMPLES)


@pytest.fixture(scope="module")
def tables():
    from workbench.eda.report import compute

    return compute(SAMPLES)


def test_figures_have_expected_traces(tables):
    from workbench.eda.report import figures

    figs = figures(tables)
    assert [t.name for t in figs["Range distribution"].data] == ["ceiling", "horizon", "floor"]
    assert figs["Camera yaw"].data[0].type == "barpolar"
    assert sum(figs["Camera yaw"].data[0].r) == len(RECORDS)
    assert figs["Camera positions"].data[0].type == "scatter"
    assert len(figs["Baselines"].data[0].x) == len(tables["pairs"])


def test_eda_explorer_widgets(tables):
    from workbench.eda.explorer import EdaExplorer

    ex = EdaExplorer(tables)
    assert len(ex.hist_fig.data) == 3 and ex.hist_fig.layout.xaxis.range[0] > -1.0  # >= 0.1 m
    two = [t.name for t in ex.map_fig.data if t.name]
    assert len(two) == 2  # two scenes side by side, each its own panel
    ex.bands.value = ("floor",)
    assert [t.name for t in ex.hist_fig.data] == ["floor"]
    floor_two = np.asarray(ex.hist_fig.data[0].y, float)
    sid = ex.scenes.options[-1][1]
    ex.scenes.value = (sid,)  # the scene control filters every figure
    assert ex.map_fig.data[0].name == sid[:8]
    assert list(ex.map_fig.data[0].text) == ["000", "001", "002", "003"]  # view ids
    assert not np.allclose(np.asarray(ex.hist_fig.data[0].y, float), floor_two)
    assert sum(ex.yaw_fig.data[0].r) == 4 and "1 scene(s)" in ex.summary.value
    assert ex.yaw_fig.layout.polar.angularaxis.ticksuffix == "°"


def test_pointcloud_explorer_widgets():
    from workbench.viz.widgets import PointCloudExplorer

    ex = PointCloudExplorer(RECORDS, SAMPLES, budget=5000, stride=4)
    pts = ex.viewer.points
    assert pts.positions.shape == (5000, 3) and pts.positions.dtype == np.float32  # exact
    assert pts.colors.dtype == np.uint32 and len(ex.viewer._labels) == 4  # 4 cameras, ids
    colours_rgb = pts.colors.copy()
    ex.color.value = "range"
    assert not np.array_equal(pts.colors, colours_rgb) and "camera (m," in ex.legend.value
    ex.budget.value = 2000
    assert len(pts.positions) == 2000 and len(pts.colors) == 2000
    ex.views.value = (ex.views.options[0],)
    assert len(ex.viewer._labels) == 1
    n_all = len(ex.layers)
    ex.max_range.value = 1.0
    kept = ex.layers.range_m[ex.shown]
    assert 0 < len(ex.shown) <= 2000 and kept.max() <= 1.0  # every range-cut point is gone
    cam = ex._poses[0][:3, 3]
    world = ex.layers.points[ex.shown]
    assert np.linalg.norm(world - cam, axis=1).max() <= 1.0 + 1e-4
    shown = pts.positions  # display frame (x, z, -y)
    assert np.allclose(shown, np.stack([world[:, 0], world[:, 2], -world[:, 1]], 1))
    assert n_all == len(ex.layers)  # a cut never reloads the views
    ex.max_height.value = 0.5  # ceiling cut: nothing above 0.5 m
    assert (ex.layers.heights()[ex.shown] <= 0.5).all()
    assert abs(np.median(ex.layers.height[ex.layers.normals[:, 1] < -0.9])) < 0.05  # the floor
    ex.max_range.value, ex.max_height.value = 0.5, 0.2
    if not len(ex.shown):
        assert "no point left" in ex.status.value
    ex.max_range.value, ex.max_height.value = ex.max_range.max, ex.max_height.max
    ex.scene.value = sorted({r.scene_id for r in RECORDS})[1]
    assert len(ex.views.value) == 4
    ex.mesh.value = True
    assert ex.viewer.mesh is not None and len(ex.viewer.mesh.vertices) > 8
    ex._on_pick(0)
    assert "range" in ex.picked.value and " m" in ex.picked.value


def test_fused_cloud_lies_on_the_mesh():
    import open3d as o3d

    from workbench.viz.plots3d import scene_cloud

    sid = RECORDS[0].scene_id
    cloud, poses, got = scene_cloud(RECORDS, SAMPLES, sid[:6], stride=2)
    assert got == sid and len(poses) == 4
    mesh = o3d.io.read_triangle_mesh(str(SAMPLES / sid / "obj" / "scene.obj"))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    d = scene.compute_distance(o3d.core.Tensor(cloud.points.astype(np.float32))).numpy()
    assert d.mean() < 0.01, d.mean()


def test_pointcloud_cli(tmp_path):
    from workbench.cli import main
    from workbench.geometry.pointcloud import read_ply

    sid = RECORDS[0].scene_id
    out = tmp_path / "s.ply"
    assert (
        main(
            [
                "pointcloud",
                str(SAMPLES),
                "--scene",
                sid[:8],
                "--views",
                "000",
                "001",
                "--out",
                str(out),
                "--html",
                str(tmp_path / "s.html"),
            ]
        )
        == 0
    )
    assert len(read_ply(out)) > 1000 and (tmp_path / "s.html").stat().st_size > 100_000
    assert main(["pointcloud", str(SAMPLES), "--scene", "zzz", "--out", str(out)]) == 2


def test_config_form_round_trip():
    from workbench.configs import TrainConfig
    from workbench.viz.widgets import config_form

    box, get = config_form(TrainConfig, steps=7)
    assert get().steps == 7
    box.controls["rate"].value = "1, 0, 0.5"
    box.controls["lr_schedule"].value = "step"
    cfg = get()
    assert cfg.rate == (1.0, 0.0, 0.5) and cfg.lr_schedule == "step"


def test_correspondence_explorer_widget():
    from workbench.viz.widgets import CorrespondenceExplorer

    ex = CorrespondenceExplorer(RECORDS, SAMPLES, height=32)
    assert "overlap" in ex.info.value and "at 32×64" in ex.info.value
    stack = ex.fig.data[0].z
    assert np.shape(stack) == (96, 64, 3)  # A, B and A's pixels coloured by state
    names = [t.name for t in ex.fig.data]
    assert {"mask: consistent", "mask: occluded in B", "mask: outside B"} <= set(names)
    before = (ex.fig.data[2].x[0], ex.fig.data[2].y[0])
    ex.click(5, 20)  # what a click on A does
    assert (ex.u.value, ex.v.value) == (5, 20) and ex.fig.data[1].x[0] == 5
    assert (ex.fig.data[2].x[0], ex.fig.data[2].y[0]) != before
    c = ex.corr
    from workbench.viz.plots import MATCH_STATES, match_state

    state = match_state(
        bool(c.valid[20, 5]),
        bool(c.visible[20, 5]),
        bool(c.consistent[20, 5]),
        bool(c.landed[20, 5]),
    )
    assert f"<b>{state}</b>" in ex.info.value
    if c.valid[20, 5]:
        assert ex.fig.data[2].marker.color == MATCH_STATES[state][0]
    # an occluded pixel is drawn differently from a consistent one
    occ = np.argwhere(c.landed & ~c.visible)
    if len(occ):
        ex.click(int(occ[0][1]), int(occ[0][0]))
        assert "occluded in B" in ex.info.value
        assert ex.fig.data[2].marker.symbol == MATCH_STATES["occluded in B"][1]
    ex.b.value = ex.a.value  # same view: the match is the pixel itself
    ex.click(5, 16)
    assert ex.fig.data[2].x[0] == pytest.approx(5, abs=0.05)
    assert "<b>consistent</b>" in ex.info.value


def test_two_view_states_are_honest_and_depths_are_in_metres():
    from workbench.viz.widgets import CorrespondenceExplorer

    ex = CorrespondenceExplorer(RECORDS, SAMPLES, height=32)
    assert ex.fig.layout.width >= 2 * 64 and ex.fig.layout.height >= 3 * 32 * 2  # 2x at least
    assert all(t.hoverinfo == "skip" for t in ex.fig.data[1:3])  # markers let clicks through
    ex.b.value = ex.a.value  # same view: B's depth at the match is A's, residual 0
    ex.click(10, 16)
    ra = ex._view(ex.a.value)[1]
    assert f"depth in A {ra[16, 10]:.3f} m" in ex.info.value
    assert "residual +0.000 m" in ex.info.value or "residual -0.000 m" in ex.info.value
    key = (ex.scene.value, ex.a.value)
    rgb, rng, T = ex._cache[key]
    rng = rng.copy()
    rng[16, 10] = 0.0  # a pixel of A without depth is not "outside B"
    ex._cache[key] = (rgb, rng, T)
    ex.refresh()
    assert "<b>no depth in A</b>" in ex.info.value and len(ex.fig.data[0].z) == 96
    ex.b.value = ex.b.options[1]  # another view: B without depth where A's pixel lands
    ex.click(20, 16)
    ub, vb = ex.corr.uv[16, 20]
    kb = (ex.scene.value, ex.b.value)
    rgb_b, rng_b, T_b = ex._cache[kb]
    rng_b = rng_b.copy()
    rng_b[max(0, int(vb) - 3) : int(vb) + 4] = 0.0  # every column: the match's rows
    ex._cache[kb] = (rgb_b, rng_b, T_b)
    ex.refresh()
    assert "<b>outside B</b>" in ex.info.value and "B has no depth there" in ex.info.value


def test_covisibility_figure_is_labelled():
    from workbench.viz.plots import covisibility_figure

    fig = covisibility_figure(np.array([[1.0, 0.4], [0.3, 1.0]]), ["000", "001"])
    assert list(fig.data[0].x) == ["000", "001"] and fig.layout.xaxis.title.text == "view B"
    assert fig.data[0].zmax == 1


def test_history_and_views_figures(tmp_path):
    from workbench.data.layouts import load_view
    from workbench.viz.plots import history_figure, views_figure

    (tmp_path / "h.csv").write_text("step,total,l1\n1,2.0,1.5\n2,1.0,0.7\n")
    fig = history_figure(tmp_path / "h.csv")
    assert [t.name for t in fig.data] == ["total", "l1"] and list(fig.data[0].y) == [2.0, 1.0]
    views = [load_view(r, SAMPLES) for r in RECORDS[:3]]
    fig = views_figure(views)
    assert len(fig.data) == 6 and [t.type for t in fig.data[1::2]] == ["heatmap"] * 3
    ranges = fig.data[1]  # in metres, one colour bar, the true range on hover
    assert ranges.showscale and ranges.colorbar.title.text == "m" and ranges.zmax == 8.0
    assert not fig.data[3].showscale
    step = views[0].range_m.shape[0] // len(ranges.y)
    z = np.array([[np.nan if x is None else x for x in row] for row in ranges.z], float)
    np.testing.assert_allclose(z, views[0].range_m[::step, ::step], atol=1e-4, equal_nan=False)
    posed_only = [dataclasses.replace(v, record=dataclasses.replace(v.record, depth_path=""))
                  for v in views]  # fmt: skip
    fig = views_figure(posed_only)  # no black "0 m" panels for a pose-only dataset
    assert len(fig.data) == 3 and "no measured depth" in fig.layout.title.text
    # ZInD's long view ids are wrapped, not run into each other, and the margin makes room
    ids = [f"floor_01_partial_room_0{i}_pano_{i + 10}" for i in range(3)]
    zind = [dataclasses.replace(v, record=dataclasses.replace(v.record, view_id=i))
            for v, i in zip(views, ids, strict=True)]  # fmt: skip
    fig, short = views_figure(zind), views_figure(views)
    titles = [a.text for a in fig.layout.annotations if a.text]
    assert titles[0] == "floor_01_<br>partial_room_00_<br>pano_10"
    assert [t.replace("<br>", "") for t in titles] == [v.record.view_id for v in zind]
    assert fig.layout.margin.t == short.layout.margin.t + 28


def test_budget_gives_exactly_the_points_asked_for_in_proportion():
    """A random budget keeps near and far points in proportion (a voxel grid kept sparse far
    points and thinned the room)."""
    from workbench.geometry.pointcloud import PointCloud
    from workbench.viz.plots3d import fit_budget

    rng = np.random.default_rng(1)
    near = rng.normal(0, 1, (98_000, 3)).astype(np.float32)
    far = (rng.normal(0, 1, (2_000, 3)) * 0.1 + [15, 0, 0]).astype(np.float32)
    pc = PointCloud(np.concatenate([near, far]))
    small = fit_budget(pc, 20_000)
    assert len(small) == 20_000
    far_share = float((small.points[:, 0] > 10).mean())
    assert abs(far_share - 0.02) < 0.005
    assert len(fit_budget(pc, 10**6)) == len(pc)


def test_depth_row_figure_is_in_metres_with_one_colour_range():
    from workbench.viz.plots import depth_row_figure

    rgb = np.zeros((32, 64, 3), np.uint8)
    gt = np.full((32, 64), 2.0, np.float32)
    gt[:4] = 0  # invalid rows are blank, not 0 m
    pred = np.full((32, 64), 2.5, np.float32)
    fig = depth_row_figure(rgb, pred, gt)
    names = [a.text for a in fig.layout.annotations]
    assert names == ["RGB", "range (m)", "ground truth (m)", "|error| (m)"]
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert heat[0].zmax == heat[1].zmax == pytest.approx(2.0)  # one shared range (GT's p98)
    assert np.isnan(np.asarray(heat[1].z, float)[0]).all()
    assert np.asarray(heat[2].z, float)[10, 10] == pytest.approx(0.5)
    assert "%{z:.2f}" in heat[0].hovertemplate and heat[0].colorbar.title.text == "m"


def test_scene_labels_never_merge_scenes():
    """Scene ids that share their first 8 characters keep distinct labels (only UUIDs are
    shortened): the EDA camera map and the scene pickers once showed 'apartmen' twice."""
    import pandas as pd

    from workbench.viz.labels import short_id
    from workbench.viz.plots import camera_map_figure

    ids = ["apartment_01", "apartment_02", "3fbc2fd9-1923-4164-b547-14cebcea2527"]
    assert [short_id(s) for s in ids] == ["apartment_01", "apartment_02", "3fbc2fd9"]
    t = pd.DataFrame({"scene_id": ids[:2] * 2, "view_id": ["0", "0", "1", "1"],
                      "cx": [0.0, 1, 2, 3], "cz": [0.0, 1, 2, 3], "yaw_deg": [0.0] * 4,
                      "height_m": [1.5] * 4})  # fmt: skip
    fig = camera_map_figure(t, ids[:2])
    titles = [a.text for a in fig.layout.annotations]
    assert "apartment_01" in titles and "apartment_02" in titles


def test_point_cloud_explorer_strides_a_large_selection(monkeypatch):
    from workbench import open_dataset
    from workbench.viz.widgets import PointCloudExplorer

    ds = open_dataset(Path(__file__).resolve().parents[2] / "data_samples/rgbd-folder")
    full = PointCloudExplorer(ds, budget=1000)
    n_full = len(full.layers)
    monkeypatch.setattr(PointCloudExplorer, "MAX_PIXELS", 4 * 256 * 512 // 16)
    small = PointCloudExplorer(ds, budget=1000)  # 4 views of 256x512: every 4th row and column
    assert len(small.layers) == pytest.approx(n_full / 16, rel=0.05)
    assert len(PointCloudExplorer(ds, budget=1000, stride=1).layers) == n_full


@pytest.mark.parametrize("maps", [1, 3])
def test_depth_row_panels_are_2_to_1_zoom_linked_and_their_colour_bars_apart(maps):
    from workbench.viz.plots import depth_row_figure

    rgb = np.zeros((32, 64, 3), np.uint8)
    gt = np.full((32, 64), 2.0, np.float32)
    fig = depth_row_figure(rgb, gt, gt * 1.1 if maps == 3 else None, step=2)
    lay = fig.layout
    pw = lay.width - lay.margin.l - lay.margin.r
    ph = lay.height - lay.margin.t - lay.margin.b
    axes = [""] + [str(k) for k in range(2, 2 + maps)]
    for ax in axes:
        x, y = lay[f"xaxis{ax}"].domain, lay[f"yaxis{ax}"].domain
        assert (x[1] - x[0]) * pw / ((y[1] - y[0]) * ph) == pytest.approx(2.0, rel=0.01)
        if ax:
            assert lay[f"xaxis{ax}"].matches == "x" and lay[f"yaxis{ax}"].matches == "y"
    bars = [(t.colorbar.x, t.colorbar.y) for t in fig.data if t.type == "heatmap"]
    assert len(bars) == maps and len(set(bars)) == maps  # one each, none on another
    for t in fig.data[1:]:
        assert t.x[1] == 2 and "u %{x}, v %{y}" in t.hovertemplate  # full-image pixels


def test_eda_explorer_says_no_depth_instead_of_nan(tables):
    from workbench.eda.explorer import EdaExplorer

    views = tables["views"].copy()
    views["d_median"] = np.nan  # a pose-only dataset: no range, no camera height from depth
    views["height_m"] = np.nan
    ex = EdaExplorer({**tables, "views": views})
    assert "no depth, no camera height" in ex.summary.value and "nan" not in ex.summary.value


def test_eda_camera_selection_narrows_the_other_figures(tables):
    from plotly.callbacks import BoxSelector, Points

    from workbench.eda.explorer import EdaExplorer

    ex = EdaExplorer(tables)
    n_all = sum(ex.yaw_fig.data[0].r)
    cams = [t for t in ex.map_fig.data if t.customdata is not None]
    assert len(cams) == 2 and len(ex.map_fig.layout.annotations) == 2  # every scene drawn
    box = BoxSelector(xrange=[0, 1], yrange=[0, 1])
    for t in ex.map_fig.data:  # plotly calls every trace in order; two cameras of the first
        inds = [0, 1] if t is cams[0] else []
        ex._on_select(t, Points(point_inds=inds, trace_name=t.name), box)
    assert sum(ex.yaw_fig.data[0].r) == 2 < n_all
    assert "2 view(s) picked" in ex.summary.value
    ex._on_deselect(cams[-1], Points())
    assert sum(ex.yaw_fig.data[0].r) == n_all


def test_camera_maps_draw_every_scene_in_its_own_square_panel():
    import pandas as pd

    from workbench.viz.plots import camera_map_figure

    t = pd.DataFrame({"scene_id": [f"s{k}" for k in range(7) for _ in range(3)],
                      "view_id": ["0", "1", "2"] * 7, "cx": np.tile([0.0, 3.0, 30.0], 7),
                      "cz": np.tile([0.0, 1.0, 2.0], 7), "yaw_deg": 0.0,
                      "height_m": [1.5, np.nan, 1.5] * 7})  # fmt: skip
    fig = camera_map_figure(t)
    assert len(fig.layout.annotations) == 7  # all drawn, three a row
    assert fig.layout.xaxis7.domain[1] < 0.5 and fig.layout.yaxis7.domain[1] < 0.3
    x, y = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x[0] < 0 and x[1] > 30 and (x[1] - x[0]) == pytest.approx(y[1] - y[0])
    assert fig.data[0].customdata[1][3] is None  # NaN height: JSON null


def test_two_view_explorer_says_a_view_cannot_be_read_and_takes_another(tmp_path):
    """Notebook 04 stopped on one truncated panorama; the explorer says so in its line and a
    readable pair works again (readable_views leaves the view out of the notebook's figures)."""
    import shutil

    from workbench import open_dataset
    from workbench.data.dataset import readable_views
    from workbench.viz.widgets import CorrespondenceExplorer

    root = tmp_path / "seed"
    shutil.copytree(SAMPLES, root)
    ds = open_dataset(root)
    recs = ds.scene(ds.scenes[0])
    bad = root / recs[1].rgb_path
    bad.write_bytes(bad.read_bytes()[:150])
    ex = CorrespondenceExplorer(ds, height=32)  # the first pair holds the broken view
    assert "cannot be read" in ex.info.value and str(bad) in ex.info.value and ex.corr is None
    ex.b.value = recs[2].view_id
    assert ex.corr is not None and "overlap" in ex.info.value
    views = readable_views(ds, recs)
    assert [v.record.view_id for v in views] == [r.view_id for r in recs if r is not recs[1]]
