"""The linked EDA explorer for notebooks: every control filters every figure beside it."""

from __future__ import annotations

import ipywidgets as W
import plotly.graph_objects as go

from workbench.eda.stats import depth_histogram, orientation_table, yaw_rose
from workbench.viz import plots
from workbench.viz.labels import short_id
from workbench.viz.widgets import replace_figure

__all__ = ["EdaExplorer"]


class EdaExplorer(W.VBox):
    """Linked EDA: the scene and band controls filter every figure beside them — the range
    histogram (selected scenes, selected bands), the camera maps (selected scenes side by side,
    up to 4, view ids and headings), the yaw rose and the pitch/roll plot (selected scenes).

    Attributes: ``bands``, ``scenes`` (SelectMultiple), ``hist_fig``, ``map_fig``, ``yaw_fig``,
    ``tilt_fig`` (FigureWidgets), ``summary`` (HTML).
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
        self.hist_fig, self.map_fig = go.FigureWidget(), go.FigureWidget()
        self.yaw_fig, self.tilt_fig = go.FigureWidget(), go.FigureWidget()
        self.bands.observe(self.refresh, "value")
        self.scenes.observe(self.refresh, "value")
        self.refresh()
        super().__init__([
            W.HBox([self.bands, self.scenes]), self.summary, self.hist_fig, self.map_fig,
            W.HBox([self.yaw_fig, self.tilt_fig]),
        ])  # fmt: skip

    def selected(self):
        """The view table of the selected scenes (all scenes when none is selected)."""
        v = self.tables["views"]
        return v[v["scene_id"].isin(self.scenes.value)] if self.scenes.value else v

    def refresh(self, _=None):
        v = self.selected()
        scenes = self.scenes.value or tuple(sorted(v["scene_id"].unique()))
        replace_figure(
            self.hist_fig, plots.depth_histogram_figure(depth_histogram(v), self.bands.value)
        )
        replace_figure(self.map_fig, plots.camera_map_figure(v, scenes))
        replace_figure(self.yaw_fig, plots.yaw_rose_figure(yaw_rose(v)))
        replace_figure(self.tilt_fig, plots.tilt_figure(orientation_table(v, self.tilt_limit_deg)))
        self.yaw_fig.layout.width = self.tilt_fig.layout.width = 480
        shown = "" if len(scenes) <= 4 else " (maps: the first 4)"
        d, h = float(v["d_median"].median()), float(v["height_m"].median())
        self.summary.value = (
            f"{len(v)} views in {v['scene_id'].nunique()} scene(s){shown}; median range "
            f"{d:.2f} m, median camera height {h:.2f} m"
        )
