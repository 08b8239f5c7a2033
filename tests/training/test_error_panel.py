"""The error-analysis panel on real predictors (the default model and the baselines)."""

import numpy as np
import pytest

from tests.helpers import SAMPLES
from workbench.data.dataset import index_dataset
from workbench.model.baselines import ConstantBaseline, RoomPriorBaseline
from workbench.model.error_breakdown import abs_rel_by_distance, abs_rel_by_latitude
from workbench.training.error_panel import ErrorAnalysis

RECORDS = index_dataset(SAMPLES)[:6]


def test_breakdowns_hand_values_and_shapes():
    gt = np.array([[1.0, 2.5, 0.0, 5.0]] * 2)
    pred = np.array([[1.5, 2.5, 9.0, 4.0]] * 2)
    d = abs_rel_by_distance(pred, gt, (0, 2, 4, 8))
    assert d["abs_rel"].round(3).tolist() == [0.5, 0.0, 0.2] and d["pixels"].sum() == 6
    assert d["ratio"].round(3).tolist() == [1.5, 1.0, 0.8]  # geometric mean of pred / gt
    lat = abs_rel_by_latitude(pred[None], gt[None], bands=2)  # a batch of one
    assert len(lat) == 2 and np.allclose(lat["abs_rel"], lat["abs_rel"][0])
    p = np.ones((4, 8))
    p[0, 0] = np.nan  # a non-finite prediction counts as eval's 10 m cap, not as 1e9
    band = abs_rel_by_latitude(p, np.ones((4, 8)), bands=2)
    assert band["abs_rel"].tolist() == pytest.approx([9.0 / 16, 0.0])
    assert abs_rel_by_latitude(p, np.full((4, 8), 20.0), bands=2)["pixels"].sum() == 0  # > 10 m
    with pytest.raises(ValueError, match="differ"):
        abs_rel_by_distance(pred, gt[:1])


def test_panel_worst_first_and_every_figure_follows_the_view():
    models = {"room prior": RoomPriorBaseline(32), "constant": ConstantBaseline(2.0, 32)}
    panel = ErrorAnalysis(models, RECORDS, SAMPLES, height=32)
    worst = panel.rows["room prior"]["abs_rel"].tolist()
    assert worst == sorted(worst, reverse=True) and len(worst) == 6
    assert panel.view.value == tuple(panel.rows["room prior"].iloc[0][["scene_id", "view_id"]])
    assert "worst views of room prior" in panel.table.value
    assert len(panel.row.data) == 4  # RGB, prediction, ground truth, error
    gt_before = np.asarray(panel.row.data[2].z, float)
    cloud_before = panel.viewer.points.positions.copy()
    panel.view.value = panel.view.options[-1][1]
    assert panel.compare.data[-1].name == "selected"
    assert not np.array_equal(np.asarray(panel.row.data[2].z, float), gt_before, equal_nan=True)
    assert not np.array_equal(panel.viewer.points.positions, cloud_before)
    panel.model.value = "constant"
    assert "worst views of constant" in panel.table.value
    names = {t.name for t in panel.breakdown.data}
    assert names == {"constant", "constant (all views)"}  # compared with itself
    ratios = np.asarray(panel.breakdown.data[0].customdata, float)  # shown on hover
    assert np.nanmin(ratios) > 0 and np.isfinite(ratios).any()
    panel.other.value = "room prior"
    names = {t.name for t in panel.breakdown.data if "all views" not in t.name}
    assert names == {"constant", "room prior"}


def test_a_click_in_the_scatter_opens_that_view_and_all_views_are_beside_this_one():
    models = {"room prior": RoomPriorBaseline(32), "constant": ConstantBaseline(2.0, 32)}
    panel = ErrorAnalysis(models, RECORDS, SAMPLES, height=32)
    names = [t.name for t in panel.breakdown.data]
    assert "room prior (all views)" in names and "constant (all views)" in names
    dist_all = panel.overall["room prior"][0]
    one_view = int((panel._sample(panel.view.value)["range"] > 0).sum())
    assert dist_all["pixels"].sum() > one_view  # every view's pixels
    views = panel.compare.data[0]
    target = tuple(views.customdata[-1])
    assert target != panel.view.value
    # what plotly's click sends: the trace and the index of the clicked point
    from plotly.callbacks import Points

    panel._on_scatter_click(views, Points(point_inds=[len(views.x) - 1], trace_name="views"), None)
    assert panel.view.value == target
    assert panel.row.layout.title.text.endswith(f"{target[0][:8]}/{target[1]}")
    assert "0 m &ndash;" in panel.cloud_scale.value
    for t in panel.breakdown.data:  # widget messages carry no NaN (empty distance bins)
        assert all(v is None or np.isfinite(v) for v in t.y)


def test_a_view_that_cannot_be_read_is_left_out_and_listed(tmp_path):
    """Notebook 08 stopped on one unreadable view where `workbench eval` scores the others."""
    import shutil

    root = tmp_path / "seed"
    shutil.copytree(SAMPLES, root)
    records = index_dataset(root)[:6]
    bad = root / records[1].rgb_path
    bad.write_bytes(bad.read_bytes()[:200])
    models = {"prior": RoomPriorBaseline(32), "constant": ConstantBaseline(2.0, 32)}
    panel = ErrorAnalysis(models, records, root, height=32)
    assert len(panel.records) == 5 and all(len(rows) == 5 for rows in panel.rows.values())
    assert [(f["scene_id"], f["view_id"]) for f in panel.failed] == [
        (records[1].scene_id, records[1].view_id)
    ]
    assert "unreadable or truncated" in panel.failed[0]["error"]
