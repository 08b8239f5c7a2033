"""The linked EDA explorer for notebooks: every control filters every figure beside it."""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from workbench.eda.stats import depth_histogram, orientation_table, yaw_rose
from workbench.viz import plots
from workbench.viz.labels import short_id
from workbench.viz.widgets import replace_figure

__all__ = ["EdaExplorer"]


class EdaExplorer(W.VBox):
    """Linked EDA: the scene and band controls filter every figure beside them — the range
    histogram (selected scenes, selected bands), the camera maps (one panel per selected scene,
    three a row, view ids and headings), the yaw rose and the pitch/roll plot (selected
    scenes). A box or lasso selection of cameras in the maps filters the histogram, the yaw
    rose and the pitch/roll plot to those views (a double click clears it).

    Attributes: ``bands``, ``scenes`` (SelectMultiple), ``hist_fig``, ``map_fig``, ``yaw_fig``,
    ``tilt_fig`` (FigureWidgets), ``summary`` (HTML), ``picked`` (the selected
    ``(scene_id, view_id)`` pairs, or None).
    """

    def __init__(self, tables: dict, tilt_limit_deg: float = 5.0):
        self.tables, self.tilt_limit_deg = tables, tilt_limit_deg
        scene_ids = sorted(tables["views"]["scene_id"].unique())
        self.bands = W.SelectMultiple(
            options=["ceiling", "horizon", "floor"],
            value=("ceiling", "horizon", "floor"),
            description="bands",
        )
        self.scenes = W.SelectMultiple(
            options=[(short_id(s), s) for s in scene_ids],
            value=tuple(scene_ids[:2]),
            description="scenes",
            rows=6,
        )
        self.summary = W.HTML()
        self.picked: set | None = None
        self._sel: dict = {}
        self.hist_fig, self.map_fig = go.FigureWidget(), go.FigureWidget()
        self.yaw_fig, self.tilt_fig = go.FigureWidget(), go.FigureWidget()
        self.bands.observe(lambda _: self.refresh_views(), "value")
        self.scenes.observe(self.refresh, "value")
        self.refresh()
        super().__init__([
            W.HBox([self.bands, self.scenes]), self.summary, self.hist_fig, self.map_fig,
            W.HBox([self.yaw_fig, self.tilt_fig]),
        ])  # fmt: skip

    def selected(self, picked: bool = True):
        """The view table of the selected scenes (all scenes when none is selected), narrowed
        to the cameras selected in the maps when ``picked``."""
        v = self.tables["views"]
        v = v[v["scene_id"].isin(self.scenes.value)] if self.scenes.value else v
        if picked and self.picked:
            keys = list(zip(v["scene_id"], v["view_id"].astype(str), strict=True))
            v = v[[k in self.picked for k in keys]]
        return v

    def refresh(self, _=None):
        self.picked, self._sel = None, {}
        v = self.selected()
        scenes = self.scenes.value or tuple(sorted(v["scene_id"].unique()))
        replace_figure(self.map_fig, plots.camera_map_figure(v, scenes))
        cams = [t for t in self.map_fig.data if t.customdata is not None]
        for t in cams:
            t.on_selection(self._on_select)
            t.on_deselect(self._on_deselect)
        self._last_cam = cams[-1].name if cams else None
        self.refresh_views()

    def pick(self, keys) -> None:
        """Narrow the histogram, yaw rose and pitch/roll plot to views ``keys`` (pairs
        ``(scene_id, view_id)``; None or empty: all views of the selected scenes)."""
        self.picked = {(s, str(v)) for s, v in keys} if keys else None
        self.refresh_views()

    def _on_select(self, trace, points, _selector):
        self._sel[trace.name] = [tuple(trace.customdata[i][:2]) for i in points.point_inds]
        if trace.name == self._last_cam:  # plotly calls every trace in order: once at the end
            self.pick([k for keys in self._sel.values() for k in keys])

    def _on_deselect(self, trace, _points):
        if trace.name == self._last_cam:
            self._sel = {}
            self.pick(None)

    def refresh_views(self) -> None:
        """Redraw the figures that follow the view selection."""
        v = self.selected()
        replace_figure(
            self.hist_fig, plots.depth_histogram_figure(depth_histogram(v), self.bands.value)
        )
        replace_figure(self.yaw_fig, plots.yaw_rose_figure(yaw_rose(v)))
        replace_figure(self.tilt_fig, plots.tilt_figure(orientation_table(v, self.tilt_limit_deg)))
        self.yaw_fig.layout.width = self.tilt_fig.layout.width = 480
        picked = (
            f"; {len(v)} view(s) picked in the camera maps (double-click a map to clear)"
            if self.picked
            else "; box or lasso cameras in the maps to narrow the other figures"
        )
        d, h = float(v["d_median"].median()), float(v["height_m"].median())
        rng = f"median range {d:.2f} m" if np.isfinite(d) else "no depth"
        cam = f"median camera height {h:.2f} m" if np.isfinite(h) else "no camera height"
        self.summary.value = (
            f"{len(v)} views in {v['scene_id'].nunique()} scene(s); {rng}, {cam}{picked}"
        )
