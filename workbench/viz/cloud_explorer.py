"""The point-cloud explorer of the notebooks: a single-view or fused scene cloud in the WebGL
viewer (:mod:`workbench.viz.viewer3d`) with controls, a colour legend in metres, cameras to look
from, and a two-point measurement.

A colour change sends only the new colours; a change of views, budget or cuts sends the new
selection; readouts that refer to points on screen are cleared whenever the selection changes.
"""

from __future__ import annotations

import math

import ipywidgets as W
import numpy as np

from workbench.errors import WorkbenchError
from workbench.geometry.equirect import resize_range
from workbench.geometry.mesh import read_obj
from workbench.geometry.normals import range_to_normals
from workbench.viz.labels import plain_text, short_id
from workbench.viz.plots3d import posed_records
from workbench.viz.sources import view_source
from workbench.viz.viewer3d import (
    CloudViewer,
    cloud_layers,
    drawable,
    legend_html,
    point_colors_u32,
    select_points,
)

__all__ = ["PointCloudExplorer", "measure_text", "saturated_range_m"]

PNG_MAX = 65535
PICK_HINT = "click two points to measure the distance between them"
MEASURE_HINT = "turn <b>measure</b> on to click points: their height, range and distance apart"


def saturated_range_m(record) -> float:
    """The largest range a record's depth encoding can hold, in metres (``65535 / scale`` for
    a PNG; ``inf`` for float depth or an unknown scale): a reading there is saturated."""
    scale = getattr(record, "depth_scale", 0) or 0
    path = str(getattr(record, "depth_path", "") or "")
    return PNG_MAX / scale if path.lower().endswith(".png") and scale > 0 else math.inf


def measure_text(points: list[tuple[np.ndarray, str]]) -> str:
    """Readout of one or two picked points ``(world xyz (3,) metres, description)``: each
    point's coordinates and, for two, the distance between them in metres.

    >>> measure_text([(np.zeros(3), "view 0"), (np.array([3.0, 0, 4]), "view 1")])[-38:]
    'view 1<br><b>distance A–B: 5.000 m</b>'
    """
    rows = [
        f"{name}: x {p[0]:.3f}, y {p[1]:.3f}, z {p[2]:.3f} m (world, y down) {desc}"
        for name, (p, desc) in zip("AB", points, strict=False)
    ]
    if len(points) == 2:
        d = float(np.linalg.norm(np.asarray(points[0][0]) - np.asarray(points[1][0])))
        rows.append(f"<b>distance A–B: {d:.3f} m</b>")
    elif len(points) == 1:
        rows.append("click a second point to measure")
    return "<br>".join(rows)


class PointCloudExplorer(W.VBox):
    """Single-view or fused scene cloud with scene/view pickers, colour mode and its legend, an
    exact point budget (up to 1M), a range cut and a ceiling cut, point size, the scene mesh
    (``obj/``) as an overlay, a camera to look from (a view's own camera, or an overview from
    above) with a reset, and, with ``measure`` on, two clicked points measured (picking is off
    until asked for: it makes k3d rebuild a search tree on every cut).

    With a ``predictor`` (anything with ``predict(rgb, name) -> (h, w) metres``) on a dataset
    with depth, ``depth`` toggles between the measured and the predicted cloud and the colour
    mode ``error`` shows ``|prediction − ground truth|`` in metres (grey where there is no
    ground truth).

    Attributes: ``scene``, ``views``, ``depth``, ``color``, ``budget``, ``max_range``,
    ``max_height``, ``point_size``, ``look``, ``reset``, ``mesh``, ``measure``, ``status``,
    ``legend``, ``picked``, ``viewer`` (its ``plot`` is the k3d widget), ``shown`` (indices of
    the points on screen into ``layers``), ``picks`` (indices into ``layers``, at most two).
    ``stride`` keeps every N-th pixel row and column; 0 (default) chooses it so that at most
    :attr:`MAX_PIXELS` pixels are fused (a tour of 2048×1024 panoramas stays in memory).
    """

    MAX_PIXELS = 4_000_000  # pixels fused at most: the stride grows to keep a tour in memory

    def __init__(self, records, root=None, budget: int = 200_000, stride: int = 0,
                 predictor=None):  # fmt: skip
        self.records, self.root, self._load_view = view_source(records, root)
        self.stride, self.predictor = stride, predictor
        self._views: dict = {}
        self._layers_key, self.layers, self.shown = None, None, np.zeros(0, np.int64)
        self._pose_warning = ""  # views of the selection left out for want of a pose
        self._unreadable: dict = {}  # (scene, view) -> the error of a view that cannot be read
        self.picks: list[int] = []
        self._updating = False
        self._build_controls(budget)
        self._set_view_options()
        self.scene.observe(self._on_scene, "value")
        for c in (self.views, self.depth, self.budget, self.max_range, self.max_height):
            c.observe(self.refresh, "value")
        self.color.observe(self._on_color, "value")
        self.mesh.observe(self._on_mesh, "value")
        self.point_size.observe(lambda ch: self.viewer.set_point_size(ch["new"]), "value")
        self.look.observe(lambda _: self.look_again(), "value")
        self.measure.observe(self._on_measure, "value")
        self.reset.on_click(lambda _: self.look_again())
        self.refresh()
        self.look_again()
        left = W.VBox([self.scene, self.views, self.depth, self.mesh])
        right = W.VBox([self.color, self.budget, self.max_range, self.max_height])
        camera = W.HBox([self.look, self.reset, self.point_size, self.measure])
        super().__init__(
            [
                W.HBox([left, right]),
                camera,
                self.status,
                self.legend,
                self.viewer.plot,
                self.picked,
            ]  # fmt: skip
        )

    def _build_controls(self, budget: int) -> None:
        scene_ids = sorted({r.scene_id for r in self.records})
        self.scene = W.Dropdown(
            options=[(short_id(s), s) for s in scene_ids], value=scene_ids[0], description="scene"
        )
        self.views = W.SelectMultiple(description="views", rows=4)
        has_depth = any(getattr(r, "has_depth", True) for r in self.records)
        both = self._both = self.predictor is not None and has_depth
        only = "measured" if has_depth else "predicted"  # a source of predicted depth
        self.depth = W.ToggleButtons(
            options=["measured", "predicted"] if both else [only], value="measured" if both
            else only, description="depth", disabled=not both,
        )  # fmt: skip
        modes = ["rgb", "range", "normal", "height"] + (["error"] if both else [])
        self.color = W.ToggleButtons(options=modes, value="rgb", description="colour")
        slider = {"continuous_update": False, "style": {"description_width": "110px"}}
        self.budget = W.IntSlider(
            value=budget, min=1000, max=1_000_000, step=1000, description="points", **slider
        )
        self.max_range = W.FloatSlider(
            value=20.0, min=0.5, max=20.0, step=0.25, description="range cut (m)", **slider
        )
        self.max_height = W.FloatSlider(
            value=4.0, min=0.2, max=4.0, step=0.05, description="ceiling cut (m)", **slider
        )
        self.point_size = W.FloatSlider(
            value=0.02, min=0.005, max=0.1, step=0.005, description="point size (m)",
            readout_format=".3f", **slider,
        )  # fmt: skip
        self.look = W.Dropdown(description="look from")
        self.reset = W.Button(description="reset camera", tooltip="back to the chosen camera")
        self.mesh = W.Checkbox(value=False, description="mesh overlay (obj/)")
        self.measure = W.ToggleButton(
            value=False, description="measure", icon="crosshairs",
            tooltip="pick points: height above the floor, range, and the distance between two",
        )  # fmt: skip
        self.measure.add_class("wb-measure")
        self.status, self.legend, self.picked = W.HTML(), W.HTML(), W.HTML(MEASURE_HINT)
        self.viewer = CloudViewer(on_pick=self._on_pick)

    def _set_view_options(self):
        ids = [r.view_id for r in self.records if r.scene_id == self.scene.value]
        self._updating = True
        self.views.options = ids
        self.views.value = tuple(ids)
        self.look.options = [(f"view {i}", i) for i in ids] + [("overview (from above)", "")]
        self.look.value = ids[0]
        self._updating = False

    def _on_scene(self, _=None):
        self._set_view_options()
        self.refresh()
        self._on_mesh()
        self.look_again()

    def _on_mesh(self, _=None):
        obj = self.root / self.scene.value / "obj" / "scene.obj"
        if self.mesh.value and obj.is_file():
            self.viewer.set_mesh(*read_obj(obj))
        else:
            self.viewer.set_mesh(None)

    def look_again(self) -> None:
        """Put the camera back at the chosen one: a view's own camera, or the overview."""
        if self._updating or self.layers is None:
            return
        vid = self.look.value
        if vid and vid in self._ids:
            self.viewer.look_from(self._poses[self._ids.index(vid)])
        else:
            self.viewer.look_at_cloud(self.layers.points[self.shown])

    def _load(self, rec):
        key = (rec.scene_id, rec.view_id)
        if key not in self._views:
            v = self._load_view(rec)
            self._views[key] = (v, range_to_normals(v.range_m))
        return self._views[key]

    def _predicted(self, rec, v):
        key = (rec.scene_id, rec.view_id, "predicted")
        if key not in self._views:
            pred = np.asarray(self.predictor.predict(v.rgb, name=rec.rgb_path), np.float32)
            if pred.shape != v.rgb.shape[:2]:
                pred = resize_range(pred, *v.rgb.shape[:2])
            self._views[key] = (pred, range_to_normals(pred))
        return self._views[key]

    def _readable(self, recs) -> list:
        """``recs`` without the views that cannot be read (each loaded once, its error kept and
        named in the status line, as the folder-wide verbs carry on past a bad file; a
        selection of unreadable views alone shows no point and says why)."""
        kept = []
        for r in recs:
            key = (r.scene_id, r.view_id)
            if key not in self._unreadable:
                try:
                    self._load(r)
                except WorkbenchError as e:
                    self._unreadable[key] = e
            if key not in self._unreadable:
                kept.append(r)
        left = [str(self._unreadable[(r.scene_id, r.view_id)]) for r in recs if r not in kept]
        if left:
            note = "left out (cannot be read): " + "; ".join(left)
            self._pose_warning = f"{self._pose_warning}<br>{note}" if self._pose_warning else note
        return kept

    def _view_layers(self, rec, need_error: bool):
        """``(rgb, range, T, normals, error)`` of a record for :func:`cloud_layers`."""
        v, n = self._load(rec)
        T = np.eye(4) if v.T_world_from_cam is None else v.T_world_from_cam
        rng, err = v.range_m, None
        predicting = self._both and self.depth.value == "predicted"
        if predicting or (self._both and need_error):
            pred, pn = self._predicted(rec, v)
            gt_ok = drawable(v.range_m, saturated_range_m(rec))
            err = np.where(gt_ok, np.abs(pred - v.range_m), np.float32(np.nan))
            if predicting:
                rng, n = pred, pn
        return (v.rgb, rng, T, n, err), T

    def current_layers(self):
        """Per-point layers of the selected views (cached per selection) and their poses."""
        recs = [
            r
            for r in self.records
            if r.scene_id == self.scene.value and r.view_id in self.views.value
        ]
        recs, self._pose_warning = posed_records(recs, self.scene.value)
        recs = self._readable(recs)
        need_error = self.color.value == "error"
        key = (self.scene.value, tuple(r.view_id for r in recs), self.depth.value)
        if key != self._layers_key or (need_error and self.layers.error is None):
            views, self._poses = [], []
            for r in recs:
                view, T = self._view_layers(r, need_error)
                views.append(view)
                self._poses.append(T)
            pixels = sum(v[1].size for v in views)
            stride = self.stride or max(1, math.ceil(math.sqrt(pixels / self.MAX_PIXELS)))
            sat = [saturated_range_m(r) for r in recs]
            if self._both and self.depth.value == "predicted":
                sat = math.inf
            self.layers, self._layers_key = cloud_layers(views, stride, sat), key
            self._ids = [r.view_id for r in recs]
            self.viewer.set_cameras(self._poses, self._ids)
        return self.layers

    def refresh(self, _=None):
        """A new selection (views, depth, budget, cuts): points, colours, legend; the picked
        points are cleared (they referred to the old selection)."""
        if self._updating:
            return
        layers = self.current_layers()
        cut_h = np.inf if self.max_height.value >= self.max_height.max else self.max_height.value
        cut_r = np.inf if self.max_range.value >= self.max_range.max else self.max_range.value
        self.shown = select_points(layers, self.budget.value, cut_r, cut_h)
        colors, lim = point_colors_u32(layers, self.shown, self.color.value)
        self.viewer.set_cloud(layers.points[self.shown], colors)
        self._show_status(lim)
        self.clear_picks()

    def _on_color(self, _=None):
        """A colour change sends the colours alone (the positions and picks stay)."""
        if self.color.value == "error" and self.layers.error is None:
            self.refresh()  # the error layer needs the predictions: built once per selection
            return
        colors, lim = point_colors_u32(self.layers, self.shown, self.color.value)
        if len(self.shown):
            self.viewer.set_colors(colors)
        self._show_status(lim)

    def _show_status(self, lim) -> None:
        n = len(self.shown)
        self.status.value = f"{n:,} points shown of {len(self.layers):,} ({self.depth.value} depth)"
        if not n:
            self.status.value = (
                "<b>no point left</b>: widen the range or ceiling cut, or pick views"
            )
        if self._pose_warning:
            self.status.value += f"<br>{self._pose_warning}"
        self.legend.value = legend_html(self.color.value, lim)

    def status_text(self) -> str:
        """The status line as plain text, for a printed cell output (``status`` is HTML)."""
        return plain_text(self.status.value)

    def clear_picks(self) -> None:
        self.picks = []
        self.picked.value = PICK_HINT if self.measure.value else MEASURE_HINT

    def _on_measure(self, _=None) -> None:
        """Picking follows the measure toggle (off: cuts at 1M points skip k3d's search
        tree)."""
        self.viewer.set_picking(self.measure.value)
        self.clear_picks()

    def _on_pick(self, index: int):
        if not 0 <= index < len(self.shown):
            return
        if len(self.picks) == 2:
            self.picks = []
        self.picks.append(int(self.shown[index]))
        self.picked.value = measure_text([self._describe(i) for i in self.picks])

    def _describe(self, i: int) -> tuple[np.ndarray, str]:
        L = self.layers
        view = self._ids[int(L.view[i])]
        return L.points[i].astype(np.float64), (
            f"&middot; height {float(L.heights()[i]):.3f} m above the floor &middot; range "
            f"{float(L.range_m[i]):.3f} m from view {view}"
        )
