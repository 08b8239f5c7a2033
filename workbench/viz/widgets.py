"""ipywidgets builders for the notebooks: controls wired to :mod:`workbench.viz.plots` and
:mod:`workbench.viz.plots3d`. Each builder returns a ``VBox`` subclass whose controls and
``FigureWidget`` are attributes, so tests (and users) can set ``.value`` and read the figure."""

from __future__ import annotations

import dataclasses

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from workbench.configs import field_help
from workbench.data.layouts import load_view
from workbench.geometry.correspondence import correspond, overlap
from workbench.geometry.equirect import resize_range, resize_rgb
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import fuse, rgbd_to_pointcloud
from workbench.viz import plots
from workbench.viz.plots import camera_map_figure, depth_histogram_figure, match_figure
from workbench.viz.plots3d import pointcloud_figure

__all__ = ["EdaExplorer", "PointCloudExplorer", "config_form"]


class EdaExplorer(W.VBox):
    """Depth distribution by band + camera map of chosen scenes.

    Attributes: ``bands`` (SelectMultiple), ``scenes`` (SelectMultiple), ``hist_fig`` and
    ``map_fig`` (FigureWidgets).
    """

    def __init__(self, tables: dict):

        self.tables = tables
        scene_ids = sorted(tables["views"]["scene_id"].unique())
        self.bands = W.SelectMultiple(
            options=["ceiling", "horizon", "floor"],
            value=("ceiling", "horizon", "floor"),
            description="bands",
        )
        self.scenes = W.SelectMultiple(
            options=[(s[:8], s) for s in scene_ids],
            value=tuple(scene_ids[:3]),
            description="scenes",
            rows=6,
        )
        self.hist_fig = go.FigureWidget(plots.depth_histogram_figure(tables["depth_hist"]))
        self.map_fig = go.FigureWidget(plots.camera_map_figure(tables["views"], self.scenes.value))
        self.bands.observe(self._update_hist, "value")
        self.scenes.observe(self._update_map, "value")
        super().__init__([W.HBox([self.bands, self.scenes]), self.hist_fig, self.map_fig])

    def _update_hist(self, _=None):

        fig = depth_histogram_figure(self.tables["depth_hist"], self.bands.value)
        with self.hist_fig.batch_update():
            self.hist_fig.data = ()
            self.hist_fig.add_traces(list(fig.data))

    def _update_map(self, _=None):

        fig = camera_map_figure(self.tables["views"], self.scenes.value)
        with self.map_fig.batch_update():
            self.map_fig.data = ()
            self.map_fig.add_traces(list(fig.data))


class PointCloudExplorer(W.VBox):
    """Single-view or fused scene cloud with scene/view pickers, colour mode, point budget and
    a maximum range.

    Attributes: ``scene``, ``views``, ``color``, ``budget``, ``max_range``, ``fig``.
    """

    def __init__(self, records, root, budget: int = 20_000, stride: int = 2):
        self.records, self.root, self.stride = records, root, stride
        self._views: dict = {}
        scene_ids = sorted({r.scene_id for r in records})
        self.scene = W.Dropdown(
            options=[(s[:8], s) for s in scene_ids], value=scene_ids[0], description="scene"
        )
        self.views = W.SelectMultiple(description="views", rows=4)
        self.color = W.ToggleButtons(
            options=["rgb", "range", "normal"], value="rgb", description="colour"
        )
        self.budget = W.IntSlider(
            value=budget,
            min=1000,
            max=200_000,
            step=1000,
            description="points",
            continuous_update=False,
        )
        self.max_range = W.FloatSlider(
            value=20.0,
            min=0.5,
            max=20.0,
            step=0.5,
            description="max range",
            continuous_update=False,
        )
        self.fig = go.FigureWidget()
        self._set_view_options()
        self.scene.observe(self._on_scene, "value")
        for c in (self.views, self.color, self.budget, self.max_range):
            c.observe(self.refresh, "value")
        self.refresh()
        controls = W.HBox(
            [W.VBox([self.scene, self.views]), W.VBox([self.color, self.budget, self.max_range])]
        )
        super().__init__([controls, self.fig])

    def _set_view_options(self):
        ids = [r.view_id for r in self.records if r.scene_id == self.scene.value]
        self._updating = True
        self.views.options = ids
        self.views.value = tuple(ids)
        self._updating = False

    def _on_scene(self, _=None):
        self._set_view_options()
        self.refresh()

    def _load(self, rec):

        key = (rec.scene_id, rec.view_id)
        if key not in self._views:
            v = load_view(rec, self.root)
            self._views[key] = (v, range_to_normals(v.range_m))
        return self._views[key]

    def cloud(self):
        """The fused cloud and poses of the current selection."""

        recs = [
            r
            for r in self.records
            if r.scene_id == self.scene.value and r.view_id in self.views.value
        ]
        clouds, poses = [], []
        for r in recs:
            v, n = self._load(r)
            T = np.eye(4) if v.T_world_from_cam is None else v.T_world_from_cam
            rng = np.where(v.range_m <= self.max_range.value, v.range_m, 0.0).astype(np.float32)
            clouds.append(rgbd_to_pointcloud(v.rgb, rng, T, n, self.stride))
            poses.append(T)
        return (fuse(clouds) if clouds else None), poses

    def refresh(self, _=None):

        if getattr(self, "_updating", False):
            return
        pc, poses = self.cloud()
        with self.fig.batch_update():
            self.fig.data = ()
            if pc is None or len(pc) == 0:
                return
            fig = pointcloud_figure(
                pc, self.color.value, self.budget.value, poses, f"scene {self.scene.value[:8]}"
            )
            self.fig.add_traces(list(fig.data))
            self.fig.layout = fig.layout


def config_form(cls, **overrides):
    """Widgets for the fields of a config dataclass (one type feeds CLI, widgets and JSON).

    Returns:
        ``(box, get_config)``: a VBox of labelled widgets and a function building ``cls`` from
        their current values. Tuples of numbers become comma-separated text.
    """

    controls = {}
    for f in dataclasses.fields(cls):
        v = overrides.get(f.name, f.default)
        desc = f.name
        tip = field_help(cls, f.name)
        choices = f.metadata.get("choices")
        if choices:
            w = W.Dropdown(options=list(choices), value=v, description=desc, tooltip=tip)
        elif isinstance(v, bool):
            w = W.Checkbox(value=v, description=desc, tooltip=tip, indent=False)
        elif isinstance(v, int):
            w = W.IntText(value=v, description=desc, tooltip=tip)
        elif isinstance(v, float):
            w = W.FloatText(value=v, description=desc, tooltip=tip)
        elif isinstance(v, tuple):
            w = W.Text(value=", ".join(map(str, v)), description=desc, tooltip=tip)
        else:
            w = W.Text(value="" if v is None else str(v), description=desc, tooltip=tip)
        controls[f.name] = w

    def get_config():
        values = {}
        for f in dataclasses.fields(cls):
            w = controls[f.name]
            default = overrides.get(f.name, f.default)
            if isinstance(default, tuple):
                kind = type(default[0]) if default else str
                values[f.name] = tuple(kind(x.strip()) for x in w.value.split(",") if x.strip())
            else:
                values[f.name] = w.value
        return cls(**values)

    box = W.VBox(list(controls.values()))
    box.controls = controls
    return box, get_config


class CorrespondenceExplorer(W.VBox):
    """Pick a pair and a pixel of A; see its match in B and the pair's masks.

    Attributes: ``scene``, ``a``, ``b`` (Dropdowns), ``u``, ``v`` (IntSliders, pixel of A),
    ``fig`` (FigureWidget: A above B), ``info`` (HTML with overlap and the match), ``corr``.
    """

    def __init__(self, records, root, height: int = 128):
        self.records, self.root, self.height = records, root, height
        self._cache: dict = {}
        scene_ids = sorted({r.scene_id for r in records})
        self.scene = W.Dropdown(
            options=[(s[:8], s) for s in scene_ids], value=scene_ids[0], description="scene"
        )
        self.a = W.Dropdown(description="A")
        self.b = W.Dropdown(description="B")
        self.u = W.IntSlider(
            value=height, min=0, max=2 * height - 1, description="u (A)", continuous_update=False
        )
        self.v = W.IntSlider(
            value=height // 2, min=0, max=height - 1, description="v (A)", continuous_update=False
        )
        self.info = W.HTML()
        self.fig = go.FigureWidget()
        self._busy = False
        self._set_views()
        self.scene.observe(lambda _: (self._set_views(), self.refresh()), "value")
        for c in (self.a, self.b, self.u, self.v):
            c.observe(self.refresh, "value")
        self.refresh()
        super().__init__(
            [W.HBox([self.scene, self.a, self.b]), W.HBox([self.u, self.v]), self.info, self.fig]
        )

    def _set_views(self):
        ids = [r.view_id for r in self.records if r.scene_id == self.scene.value]
        self._busy = True
        self.a.options, self.b.options = ids, ids
        self.a.value, self.b.value = ids[0], ids[min(1, len(ids) - 1)]
        self._busy = False

    def _view(self, vid):

        key = (self.scene.value, vid)
        if key not in self._cache:
            rec = next(r for r in self.records if (r.scene_id, r.view_id) == key)
            v = load_view(rec, self.root)
            self._cache[key] = (
                resize_rgb(v.rgb, self.height),
                resize_range(v.range_m, self.height),
                v.T_world_from_cam,
            )
        return self._cache[key]

    def refresh(self, _=None):

        if self._busy:
            return
        rgb_a, ra, Ta = self._view(self.a.value)
        rgb_b, rb, Tb = self._view(self.b.value)
        self.corr = c = correspond(ra, Ta, Tb, rb)
        u, v = self.u.value, self.v.value
        ok = bool(c.consistent[v, u])
        uv_b = c.uv[v, u] if c.valid[v, u] else None
        state = (
            "consistent"
            if ok
            else ("occluded in B" if c.valid[v, u] and not c.visible[v, u] else "not consistent")
        )
        where = "-" if uv_b is None else f"({uv_b[0]:.1f}, {uv_b[1]:.1f})"
        self.info.value = (
            f"overlap {overlap(c):.3f} &middot; pixel ({u}, {v}) of A &rarr; "
            f"{where} in B: <b>{state}</b>"
        )
        fig = match_figure(rgb_a, rgb_b, (u, v), uv_b, f"A = {self.a.value}, B = {self.b.value}")
        with self.fig.batch_update():
            self.fig.data = ()
            self.fig.add_traces(list(fig.data))
            self.fig.layout = fig.layout
