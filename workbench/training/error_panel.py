"""Error analysis of depth models on the same views, for the notebooks: worst views first,
prediction beside ground truth in metres, error by distance and by latitude, the predicted
and true point clouds overlaid, and two models compared view by view.

Models are anything with ``height`` and ``predict_batch`` (a loaded
:class:`~workbench.model.predictor.Predictor` or a baseline of :mod:`workbench.model.baselines`);
all are scored by :func:`workbench.model.evaluate.evaluate` at one ``height`` on the same
pixels, so every number on the panel comes from one resolution.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.data.pipeline import load_sample
from workbench.geometry.pointcloud import rgbd_to_pointcloud
from workbench.model.error_breakdown import abs_rel_by_distance, abs_rel_by_latitude
from workbench.model.evaluate import evaluate
from workbench.viz.labels import short_id
from workbench.viz.plots import depth_row_figure
from workbench.viz.sources import view_source
from workbench.viz.viewer3d import CloudViewer, turbo_u32

__all__ = ["ErrorAnalysis", "breakdown_figure", "compare_figure"]


def breakdown_figure(tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]], title: str = ""):
    """AbsRel by ground-truth distance (left) and latitude (right), one line per model;
    ``tables`` maps a model name to ``(by_distance, by_latitude)``."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["by ground-truth distance", "by latitude (-90° up, +90° down)"],
    )
    for k, (name, (dist, lat)) in enumerate(tables.items()):
        c = ["#1f77b4", "#d62728", "#2ca02c"][k % 3]
        fig.add_scatter(
            x=dist["bin"],
            y=dist["abs_rel"],
            name=name,
            line={"color": c},
            row=1,
            col=1,
            hovertemplate="%{x}: AbsRel %{y:.3f}<extra></extra>",
        )
        fig.add_scatter(
            x=(lat["lo"] + lat["hi"]) / 2,
            y=lat["abs_rel"],
            name=name,
            line={"color": c},
            showlegend=False,
            row=1,
            col=2,
            hovertemplate="%{x:.0f}°: AbsRel %{y:.3f}<extra></extra>",
        )
    fig.update_yaxes(title_text="AbsRel", rangemode="tozero")
    fig.update_xaxes(title_text="metres", row=1, col=1)
    fig.update_xaxes(title_text="latitude (°)", row=1, col=2)
    fig.update_layout(
        title=title,
        height=320,
        template="plotly_white",
        margin={"l": 50, "r": 10, "t": 60, "b": 40},
    )
    return fig


def compare_figure(a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str, mark=None):
    """Per-view AbsRel of model ``a`` against ``b`` (same views), the diagonal, and the view
    ``mark = (scene_id, view_id)`` highlighted."""
    m = a.merge(b, on=["scene_id", "view_id"], suffixes=("_a", "_b"))
    text = [f"{short_id(s)}/{v}" for s, v in zip(m["scene_id"], m["view_id"], strict=True)]
    top = float(np.nanmax([m["abs_rel_a"].max(), m["abs_rel_b"].max(), 0.1])) * 1.05
    fig = go.Figure(
        go.Scatter(
            x=m["abs_rel_b"],
            y=m["abs_rel_a"],
            mode="markers",
            text=text,
            name="views",
            hovertemplate="%{text}: %{x:.3f} vs %{y:.3f}",
        )
    )
    fig.add_scatter(
        x=[0, top], y=[0, top], mode="lines", name="equal", line={"dash": "dot", "color": "grey"}
    )
    if mark is not None:
        sel = m[(m["scene_id"] == mark[0]) & (m["view_id"] == mark[1])]
        fig.add_scatter(
            x=sel["abs_rel_b"],
            y=sel["abs_rel_a"],
            mode="markers",
            name="selected",
            marker={"size": 14, "color": "red", "symbol": "circle-open"},
        )
    fig.update_layout(
        title=f"AbsRel per view: {name_a} (y) vs {name_b} (x); below the line: {name_a} better",
        xaxis_title=f"{name_b} AbsRel",
        yaxis_title=f"{name_a} AbsRel",
        height=380,
        template="plotly_white",
    )
    return fig


class ErrorAnalysis(W.VBox):
    """Scores every model on ``records`` at ``height``, then: ``model`` / ``other`` pickers, a
    ``view`` picker (worst first for ``model``), the worst-views ``table``, the ``row`` figure
    (RGB, prediction, ground truth, |error|, metres), the ``breakdown`` and ``compare``
    figures and a 3D ``viewer`` (true points grey, predicted points coloured by |error|)."""

    def __init__(self, models: dict, records, root=None, height: int = 128, median_align=False):
        if len(models) < 1:
            raise ValueError("give at least one model")
        records, root, _ = view_source(records, root)
        self.records, self.root, self.height = records, root, height
        self.rows, self.preds = {}, {}
        for name, m in models.items():
            _, rows, preds = evaluate(m, records, root, height=height, median_align=median_align)
            self.rows[name] = pd.DataFrame(rows).sort_values("abs_rel", ascending=False)
            self.preds[name] = preds
        self._samples = {(r.scene_id, r.view_id): r for r in records}
        names = list(models)
        self.model = W.Dropdown(options=names, value=names[0], description="model")
        self.other = W.Dropdown(
            options=names, value=names[min(1, len(names) - 1)], description="compare with"
        )
        self.view = W.Dropdown(description="view", layout={"width": "420px"})
        self.table, self.row, self.breakdown = W.HTML(), go.FigureWidget(), go.FigureWidget()
        self.compare, self.viewer = go.FigureWidget(), CloudViewer(height=420)
        self.model.observe(self._on_model, "value")
        self.other.observe(self.refresh, "value")
        self.view.observe(self.refresh, "value")
        self._on_model()
        super().__init__(
            [
                W.HBox([self.model, self.other, self.view]),
                self.table,
                self.row,
                self.breakdown,
                self.compare,
                self.viewer.plot,
            ]
        )

    def _sample(self, key):
        return load_sample(self._samples[key], self.root, self.height)

    def _on_model(self, _=None):
        df = self.rows[self.model.value]
        keys = list(zip(df["scene_id"], df["view_id"], strict=True))
        labels = [
            f"{short_id(s)}/{v}  AbsRel {a:.3f}"
            for (s, v), a in zip(keys, df["abs_rel"], strict=True)
        ]
        self._updating = True
        self.view.options = list(zip(labels, keys, strict=True))
        self.view.value = keys[0]
        self._updating = False
        head = df.head(8)[["scene_id", "view_id", "abs_rel", "delta1", "rmse"]].copy()
        head["scene_id"] = head["scene_id"].map(short_id)
        self.table.value = (
            "<b>worst views of " + self.model.value + "</b>" + head.round(3).to_html(index=False)
        )
        self.refresh()

    def refresh(self, _=None):
        if getattr(self, "_updating", False) or self.view.value is None:
            return
        key, a, b = self.view.value, self.model.value, self.other.value
        s = self._sample(key)
        rgb, gt = (s["rgb"] * 255 + 0.5).astype(np.uint8), s["range"]
        pred = self.preds[a][key]
        _replace(
            self.row, depth_row_figure(rgb, pred, gt, title=f"{a} on {short_id(key[0])}/{key[1]}")
        )
        tables = {
            n: (
                abs_rel_by_distance(self.preds[n][key], gt),
                abs_rel_by_latitude(self.preds[n][key], gt),
            )
            for n in dict.fromkeys([a, b])
        }
        _replace(self.breakdown, breakdown_figure(tables, "this view"))
        _replace(self.compare, compare_figure(self.rows[a], self.rows[b], a, b, key))
        self._show_clouds(rgb, pred, gt, s["pose"])

    def _show_clouds(self, rgb, pred, gt, T):
        true = rgbd_to_pointcloud(rgb, gt, T)
        valid = gt > 0
        p = rgbd_to_pointcloud(rgb, np.where(valid, pred, 0).astype(np.float32), T)
        err = np.abs(pred - gt)[valid]
        colours = np.concatenate(
            [
                np.full(len(true), 0xB0B0B0, np.uint32),
                turbo_u32(err, 0.0, max(float(np.percentile(err, 98)), 1e-3)),
            ]
        )
        self.viewer.set_cloud(np.concatenate([true.points, p.points]), colours)
        self.viewer.set_cameras([T], ["camera"])
        self.viewer.look_at_cloud(true.points)


def _replace(widget: go.FigureWidget, fig: go.Figure) -> None:
    with widget.batch_update():
        widget.data = ()
        widget.add_traces(list(fig.data))
        widget.layout = fig.layout
