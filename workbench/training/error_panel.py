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
from workbench.errors import WorkbenchError
from workbench.geometry.pointcloud import rgbd_to_pointcloud
from workbench.model.error_breakdown import abs_rel_by_distance, abs_rel_by_latitude
from workbench.model.evaluate import evaluate
from workbench.viz.labels import short_id
from workbench.viz.plots import depth_row_figure
from workbench.viz.sources import view_source
from workbench.viz.viewer3d import CloudViewer, turbo_u32
from workbench.viz.widgets import replace_figure

__all__ = ["ErrorAnalysis", "breakdown_figure", "compare_figure", "error_scale_html"]


def breakdown_figure(
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]], title: str = "", overall=None
):
    """AbsRel by ground-truth distance (left) and latitude (right), one line per model (the
    hover adds the geometric mean of pred / true: above 1, that part is predicted too far);
    ``tables`` maps a model name to ``(by_distance, by_latitude)`` of one view, ``overall``
    (optional, same form) to those of all views (dashed, named "<model> (all views)")."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["by ground-truth distance", "by latitude (-90° up, +90° down)"],
    )
    colours = ["#1f77b4", "#d62728", "#2ca02c"]
    for k, (name, (dist, lat)) in enumerate(tables.items()):
        lines = [(name, dist, lat, "solid")]
        if overall is not None and name in overall:
            lines.append((f"{name} (all views)", *overall[name], "dash"))
        for label, d, la, dash in lines:
            line = {"color": colours[k % 3], "dash": dash}
            fig.add_scatter(
                x=d["bin"],
                y=d["abs_rel"],
                name=label,
                line=line,
                row=1,
                col=1,
                customdata=d["ratio"],
                hovertemplate="%{x}: AbsRel %{y:.3f}, pred/true x%{customdata:.2f}<extra>"
                + label
                + "</extra>",
            )
            fig.add_scatter(x=(la["lo"] + la["hi"]) / 2, y=la["abs_rel"], name=label, line=line,
                            showlegend=False, row=1, col=2,
                            customdata=la["ratio"],
                            hovertemplate="%{x:.0f}°: AbsRel %{y:.3f}, pred/true"
                            " x%{customdata:.2f}<extra>" + label + "</extra>")  # fmt: skip
    fig.update_yaxes(title_text="AbsRel", rangemode="tozero")
    fig.update_xaxes(title_text="metres", row=1, col=1)
    fig.update_xaxes(title_text="latitude (°)", row=1, col=2)
    fig.update_layout(
        title=title,
        height=340,
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
            customdata=np.stack([m["scene_id"], m["view_id"]], 1) if len(m) else None,
            name="views",
            marker={"size": 9},
            hovertemplate="%{text}: %{x:.3f} vs %{y:.3f} (click to open)<extra></extra>",
        )
    )
    fig.add_scatter(
        x=[0, top],
        y=[0, top],
        mode="lines",
        name="equal",
        line={"dash": "dot", "color": "grey"},
        hoverinfo="skip",  # a click near the diagonal goes to the view, not to the line
    )
    if mark is not None:
        sel = m[(m["scene_id"] == mark[0]) & (m["view_id"] == mark[1])]
        fig.add_scatter(
            x=sel["abs_rel_b"],
            y=sel["abs_rel_a"],
            mode="markers",
            name="selected",
            marker={"size": 14, "color": "red", "symbol": "circle-open"},
            hoverinfo="skip",
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
    """Scores every model on ``records`` at ``height``, then: ``model`` / ``other`` pickers, the
    views of ``model`` worst first as a clickable table (``view``, a list box: a click opens the
    view; ``table`` is its heading), the ``row`` figure (RGB, prediction, ground truth,
    |error|, metres, 2:1 panels), the ``breakdown`` figure (AbsRel by distance and latitude of
    this view beside those of all views), the ``compare`` scatter (a click on a point opens
    that view) and a 3D ``viewer`` (true points grey, predicted points coloured by |error|,
    its scale in ``cloud_scale``). A view that cannot be read is left out and listed in
    ``failed`` (``{"scene_id", "view_id", "error"}``), as ``workbench eval`` does."""

    def __init__(self, models: dict, records, root=None, height: int = 128, median_align=False):
        if len(models) < 1:
            raise ValueError("give at least one model")
        records, root, _ = view_source(records, root)
        self.root, self.height = root, height
        self.rows, self.preds, self.failed = {}, {}, []
        for name, m in models.items():
            errors: list = []  # a view that cannot be read: left out and listed, as eval does
            _, rows, preds = evaluate(
                m, records, root, height=height, median_align=median_align, errors=errors
            )
            if not rows:
                why = errors[0]["error"] if errors else "no views"
                raise WorkbenchError(f"no view could be scored ({why})", root)
            self.rows[name] = pd.DataFrame(rows).sort_values("abs_rel", ascending=False)
            self.preds[name] = preds
            self.failed = self.failed or errors
        left = {(e["scene_id"], e["view_id"]) for e in self.failed}
        self.records = [r for r in records if (r.scene_id, r.view_id) not in left]
        records = self.records
        self._samples = {(r.scene_id, r.view_id): r for r in records}
        self.overall = self._overall()
        names = list(models)
        self.model = W.Dropdown(options=names, value=names[0], description="model")
        self.other = W.Dropdown(
            options=names, value=names[min(1, len(names) - 1)], description="compare with"
        )
        self.view = W.Select(rows=8, layout={"width": "560px", "font_family": "monospace"})
        self.table, self.cloud_scale = W.HTML(), W.HTML()
        self.row, self.breakdown = go.FigureWidget(), go.FigureWidget()
        self.compare, self.viewer = go.FigureWidget(), CloudViewer(height=420)
        self.model.observe(self._on_model, "value")
        self.other.observe(self.refresh, "value")
        self.view.observe(self.refresh, "value")
        self._on_model()
        super().__init__(
            [
                W.HBox([self.model, self.other]),
                self.table,
                self.view,
                self.row,
                self.breakdown,
                self.compare,
                self.cloud_scale,
                self.viewer.plot,
            ]
        )

    def _sample(self, key):
        return load_sample(self._samples[key], self.root, self.height)

    def _overall(self) -> dict:
        """``{model: (by_distance, by_latitude)}`` over every scored view."""
        out = {}
        for name, preds in self.preds.items():
            keys = [k for k in preds if k in self._samples]
            if not keys:
                continue
            gts = np.stack([self._sample(k)["range"] for k in keys])
            p = np.stack([preds[k] for k in keys])
            out[name] = (abs_rel_by_distance(p, gts), abs_rel_by_latitude(p, gts))
        return out

    def _on_model(self, _=None):
        df = self.rows[self.model.value]
        keys = list(zip(df["scene_id"], df["view_id"], strict=True))
        labels = [
            f"{short_id(s) + '/' + str(v):<28} {a:8.3f} {d1:8.3f} {e:8.3f}"
            for (s, v), a, d1, e in zip(keys, df["abs_rel"], df["delta1"], df["rmse"], strict=True)
        ]
        self._updating = True
        self.view.options = list(zip(labels, keys, strict=True))
        self.view.value = keys[0]
        self._updating = False
        head = f"{'view':<28} {'AbsRel':>8} {'δ1':>8} {'RMSE m':>8}".replace(" ", "&nbsp;")
        self.table.value = (
            f"<b>worst views of {self.model.value}</b> (click a row, or a point in the "
            f"scatter below, to open it)<br><code>{head}</code>"
        )
        self.refresh()

    def open_view(self, key) -> None:
        """Open view ``key = (scene_id, view_id)`` (what a click on the table or scatter does)."""
        key = tuple(key)
        if key in dict(self.view.options).values() and key != self.view.value:
            self.view.value = key

    def _on_scatter_click(self, trace, points, _state):
        if points.point_inds:
            self.open_view(trace.customdata[points.point_inds[0]])

    def refresh(self, _=None):
        if getattr(self, "_updating", False) or self.view.value is None:
            return
        key, a, b = self.view.value, self.model.value, self.other.value
        s = self._sample(key)
        rgb, gt = (s["rgb"] * 255 + 0.5).astype(np.uint8), s["range"]
        pred = self.preds[a][key]
        where = f"{short_id(key[0])}/{key[1]}"
        replace_figure(self.row, depth_row_figure(rgb, pred, gt, title=f"{a} on {where}"))
        tables = {
            n: (
                abs_rel_by_distance(self.preds[n][key], gt),
                abs_rel_by_latitude(self.preds[n][key], gt),
            )
            for n in dict.fromkeys([a, b])
        }
        replace_figure(
            self.breakdown,
            breakdown_figure(tables, f"AbsRel of {where} (solid) and all views (dashed)",
                             self.overall),
        )  # fmt: skip
        replace_figure(self.compare, compare_figure(self.rows[a], self.rows[b], a, b, key))
        if self.compare.data:
            self.compare.data[0].on_click(self._on_scatter_click)
        self._show_clouds(rgb, pred, gt, s["pose"])

    def _show_clouds(self, rgb, pred, gt, T):
        true = rgbd_to_pointcloud(rgb, gt, T)
        valid = gt > 0
        p = rgbd_to_pointcloud(rgb, np.where(valid, pred, 0).astype(np.float32), T)
        err = np.abs(pred - gt)[valid]
        top = max(float(np.percentile(err, 98)), 1e-3) if err.size else 1.0
        colours = np.concatenate(
            [np.full(len(true), 0xB0B0B0, np.uint32), turbo_u32(err, 0.0, top)]
        )
        self.viewer.set_cloud(np.concatenate([true.points, p.points]), colours)
        self.viewer.set_cameras([T], ["camera"])
        self.viewer.look_at_cloud(true.points)
        self.cloud_scale.value = error_scale_html(top)


def error_scale_html(top_m: float) -> str:
    """A colour scale for the 3D overlay: turbo from 0 to ``top_m`` metres of |error|."""
    stops = ", ".join(_TURBO_CSS)
    return (
        "<b>3D</b>: true points grey, predicted points by |error| "
        f"<span style='display:inline-block;width:200px;height:12px;vertical-align:middle;"
        f"background:linear-gradient(to right, {stops})'></span> "
        f"0 m &ndash; {top_m:.2f} m (98th percentile and above: darkest red)"
    )


_TURBO_CSS = ("#30123b", "#4686fb", "#1ae4b6", "#a2fc3c", "#fabb39", "#e4460a", "#7a0403")
