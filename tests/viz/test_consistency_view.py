"""Figures and the pair browser of multi-view consistency (workbench/viz/consistency_view.py),
on hand-made residuals and clouds (no dataset is read)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from workbench.viz.consistency_view import (
    PairBrowser,
    clouds_figure,
    disagreeing,
    pair_options,
    residual_figure,
)

H = 16


def _pairs() -> pd.DataFrame:
    return pd.DataFrame({
        "scene": ["s"] * 3, "view_a": ["000", "000", "001"], "view_b": ["001", "002", "002"],
        "diagnosis": ["ok", "pose", "scale"], "score": [0.01, 0.2, 0.9], "t_cm": [0, 5.0, 0],
        "rot_deg": [0, 0.1, 0], "scale": [1, 1, 1.05], "inliers": [0.99, 0.8, 0.1],
    })  # fmt: skip


def _residual(step_at: int) -> np.ndarray:
    """A 2 m room seen at H x 2H: 1 cm residuals, 10 cm from column ``step_at``, NaN on top."""
    r = np.full((H, 2 * H), 0.01, np.float32)
    r[:, step_at:] = 0.10
    r[0] = np.nan
    return r


class FakeDataset:
    def scene(self, scene):
        return [SimpleNamespace(view_id=v) for v in ("000", "001", "002")]

    def load(self, rec):
        return SimpleNamespace(rgb=np.full((2 * H, 4 * H, 3), int(rec.view_id) * 50, np.uint8))


def _measure(scene, a, b):
    pts = np.array([[0.0, -1.0, 2.0], [1.0, 0.5, 3.0]])
    C = np.eye(4)
    C[:3, 3] = [0.05, 0, 0]
    rng = np.full((H, 2 * H), 2.0, np.float32)
    row = {"diagnosis": "pose", "inliers": 0.8, "median_abs_m": 0.03}
    return SimpleNamespace(
        row=row, residual_a=_residual(4 + 8 * int(a)), residual_b=_residual(2), range_a=rng,
        range_b=rng, C=C, scale=1.0,
        clouds=lambda stride=1: {"a": pts, "a_corrected": pts + [0.05, 0, 0], "b": pts + 1},
    )  # fmt: skip


class TestPairOptions:
    def test_flagged_first_worst_first(self):
        opts = pair_options(_pairs())
        assert [o[1] for o in opts] == [("s", "001", "002"), ("s", "000", "002")]
        assert opts[0][0] == "s/001–002: scale (× 1.050)"
        assert opts[1][0] == "s/000–002: pose (5.0 cm, 0.10°)"

    def test_all_ok_gives_the_worst(self):
        p = _pairs().assign(diagnosis="ok")
        assert [o[1][2] for o in pair_options(p, worst=2)] == ["002", "002"]
        assert pair_options(p.iloc[:0]) == [] and pair_options(None) == []


def test_disagreeing_tolerance_grows_with_range():
    r = np.array([[0.03, 0.03, -0.05, np.nan]])
    d = np.array([[0.5, 2.0, 4.0, 1.0]])
    # tolerance 2 cm + 1 %: 2.5 cm, 4 cm, 6 cm
    assert disagreeing(r, d).tolist() == [[True, False, False, False]]


class TestResidualFigure:
    def test_two_panels_at_2_to_1_one_colour_bar(self):
        rgb = np.zeros((2 * H, 4 * H, 3), np.uint8)  # resized to the residual's size
        rng = np.full((H, 2 * H), 2.0, np.float32)
        fig = residual_figure(rgb, rgb, _residual(H), _residual(2), rng, rng, title="t")
        images = [t for t in fig.data if t.type == "image"]
        maps = [t for t in fig.data if t.type == "heatmap"]
        assert len(images) == 2 and np.asarray(images[0].z).shape == (H, 2 * H, 3)
        assert [m.showscale for m in maps] == [False, True]
        assert maps[0].zmin == -maps[0].zmax and maps[0].zmax == pytest.approx(0.1, abs=1e-6)
        z = np.asarray(maps[0].z, float)
        assert np.isnan(z[:, :H]).all() and np.allclose(z[1:, H:], 0.1)  # only > 4 cm shown
        lay = fig.layout
        pw = (lay.xaxis.domain[1] - lay.xaxis.domain[0]) * (lay.width - 20)
        ph = (lay.yaxis.domain[1] - lay.yaxis.domain[0]) * (lay.height - 70)
        assert pw / ph == pytest.approx(2.0, abs=0.02)
        assert "A: 50.0 % of matched" in fig.layout.annotations[0].text  # 16 of 32 columns
        assert "B: 93.8 % of matched" in fig.layout.annotations[1].text  # 30 of 32


def test_clouds_figure_shows_a_as_posed_or_corrected_with_up_up():
    c = _measure("s", "000", "001").clouds()
    before, after = clouds_figure(c, False), clouds_figure(c, True)
    assert before.data[1].name == "A (as posed)" and after.data[1].name == "A (corrected)"
    assert list(before.data[1].x) == [0.0, 1.0] and list(after.data[1].x) == [0.05, 1.05]
    assert list(before.data[1].z) == [1.0, -0.5]  # display up = -world y
    assert list(before.data[0].y) == [3.0, 4.0]  # display y = world z (B moved by 1)


def test_the_browser_widgets_drive_both_figures():
    b = PairBrowser(FakeDataset(), _pairs(), _measure)
    assert b.residual.layout.title.text == "s/001–002: disagreeing pixels"
    first = np.asarray(b.residual.data[1].z, float)
    b.pick.value = ("s", "000", "002")
    assert b.residual.layout.title.text == "s/000–002: disagreeing pixels"
    assert "5.0 cm" in b.info.value and "pose" in b.info.value
    shown = np.isfinite(np.asarray(b.residual.data[1].z, float))
    assert shown[1:, 4:].all() and not np.isfinite(first[1:, 4:12]).any()  # A's residual moved
    assert b.cloud.data[1].name == "A = 000 (as posed)"
    b.corrected.value = True
    assert b.cloud.data[1].name == "A = 000 (corrected)" and b.cloud.data[1].x[0] == 0.05
    empty = PairBrowser(FakeDataset(), _pairs().iloc[:0], _measure)
    assert "no covisible pairs" in empty.info.value and not empty.residual.data


def test_the_browser_has_a_model_in_the_front_end():
    """The box opens its comm (a method named ``open`` would override ``Widget.open``: the lab
    then shows "model not found"), and its display names that model."""
    b = PairBrowser(FakeDataset(), _pairs(), _measure)
    view = b._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]
    assert b.comm is not None and view["model_id"] == b.comm.comm_id
