"""ipywidgets builders for the notebooks: controls wired to :mod:`workbench.viz.plots` and
:mod:`workbench.viz.plots3d`. Each builder returns a ``VBox`` subclass whose controls and
``FigureWidget`` are attributes, so tests (and users) can set ``.value`` and read the figure."""

from __future__ import annotations

import dataclasses
import html

import ipywidgets as W
import numpy as np
import plotly.graph_objects as go

from workbench.configs import field_help
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence import correspond, overlap
from workbench.geometry.equirect import resize_range, resize_rgb
from workbench.viz import plots
from workbench.viz.cloud_explorer import PointCloudExplorer
from workbench.viz.labels import short_id
from workbench.viz.plots import match_figure
from workbench.viz.sources import view_source

__all__ = ["PointCloudExplorer", "config_form", "replace_figure", "json_safe_trace"]


def replace_figure(widget: go.FigureWidget, fig: go.Figure) -> None:
    """Swap a FigureWidget's traces and layout for ``fig``'s in one update (NaN in trace data,
    e.g. a view without depth or pose, sent as JSON null: widget messages cannot carry NaN)."""
    with widget.batch_update():
        widget.data = ()
        widget.add_traces([json_safe_trace(t) for t in fig.data])
        widget.layout = fig.layout


NAN_FIELDS = ("x", "y", "z", "r", "theta", "customdata")


def json_safe_trace(trace):
    """``trace`` with NaN and infinities in its data arrays replaced by ``None`` (JSON null,
    which plotly draws as a gap, as it draws NaN).

    >>> t = json_safe_trace(go.Scatter(x=[0.0, 1.0], y=np.array([1.0, np.nan])))
    >>> list(t.y)
    [1.0, None]
    """
    for name in NAN_FIELDS:
        v = getattr(trace, name, None)
        if v is None or isinstance(v, str):
            continue
        a = np.asarray(v)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            setattr(trace, name, np.where(np.isfinite(a), a, None).astype(object))
    return trace


def config_form(cls, groups: dict | None = None, **overrides):
    """Widgets for the fields of a config dataclass (one type feeds CLI, widgets and JSON).

    Args:
        groups: optional ``{tab title: field names}``: the fields in tabs (fields in no group go
            to a last "other" tab); labels are full field names, each field's help (from the
            dataclass's field docs) beside it and as its tooltip.

    Returns:
        ``(box, get_config)``: a box of labelled widgets (``box.controls``: name → widget,
        ``box.helps``: name → its help line) and a function building ``cls`` from
        their current values (which checks every range). Tuples of numbers become
        comma-separated text.
    """

    controls, helps = {}, {}
    style = {"description_width": "150px"}
    layout = {"width": "420px"}
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
        w.style, w.layout = (
            ({"description_width": "0px"}, {"width": "420px"})
            if isinstance(w, W.Checkbox)
            else (style, layout)
        )
        controls[f.name] = w
        helps[f.name] = W.HTML(
            f"<span style='color:#666;font-size:12px'>{html.escape(tip)}</span>",
            layout={"margin": "0 0 0 12px"},
        )

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

    rows = {n: W.HBox([w, helps[n]], layout={"align_items": "center"}) for n, w in controls.items()}
    if groups:
        rest = [n for n in controls if not any(n in g for g in groups.values())]
        tabs = {**groups, **({"other": tuple(rest)} if rest else {})}
        pages = [W.VBox([rows[n] for n in names if n in rows]) for names in tabs.values()]
        box = W.Tab(children=pages, titles=tuple(tabs))
    else:
        box = W.VBox(list(rows.values()))
    box.controls, box.helps = controls, helps
    return box, get_config


class CorrespondenceExplorer(W.VBox):
    """Pick a pair, then click a pixel of A (or set ``u``/``v``): its match in B is drawn in the
    colour and symbol of its state (consistent, occluded in B, not consistent, outside B), and
    A's pixels coloured by state show the pair's masks. Every number is at ``height``.

    Attributes: ``scene``, ``a``, ``b`` (Dropdowns), ``u``, ``v`` (IntSliders, pixel of A),
    ``fig`` (FigureWidget: A, B, masks), ``info`` (HTML: overlap, the match), ``corr``.
    """

    def __init__(self, records, root=None, height: int = 128):
        self.records, self.root, self._load_view = view_source(records, root)
        self.height = height
        self._cache: dict = {}
        scene_ids = sorted({r.scene_id for r in self.records})
        self.scene = W.Dropdown(
            options=[(short_id(s), s) for s in scene_ids], value=scene_ids[0], description="scene"
        )
        self.a = W.Dropdown(description="A")
        self.b = W.Dropdown(description="B")
        slider = {"continuous_update": False}
        self.u = W.IntSlider(value=height, min=0, max=2 * height - 1, description="u (A)", **slider)
        self.v = W.IntSlider(
            value=height // 2, min=0, max=height - 1, description="v (A)", **slider
        )
        self.info = W.HTML()
        self.fig = go.FigureWidget()
        self._busy, self.corr = False, None
        self._set_views()
        self.scene.observe(lambda _: (self._set_views(), self.refresh()), "value")
        for c in (self.a, self.b):
            c.observe(self.refresh, "value")
        for c in (self.u, self.v):
            c.observe(self.refresh_pixel, "value")
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
            v = self._load_view(rec)
            self._cache[key] = (
                resize_rgb(v.rgb, self.height),
                resize_range(v.range_m, self.height),
                v.T_world_from_cam,
            )
        return self._cache[key]

    def refresh(self, _=None):
        """A new pair: correspondence at ``height``, then the pixel."""
        if self._busy:
            return
        try:
            _, ra, Ta = self._view(self.a.value)
            _, rb, Tb = self._view(self.b.value)
        except WorkbenchError as e:  # one unreadable view: said, another pair can be picked
            self.corr = None
            self.info.value = f"<b>cannot be read</b>: {html.escape(str(e))} (pick another view)"
            return
        self.corr = correspond(ra, Ta, Tb, rb)
        self.refresh_pixel()

    def click(self, u: int, v: int) -> None:
        """Pick pixel ``(u, v)`` of A (what a click on A does)."""
        self._busy = True
        self.u.value, self.v.value = (
            int(np.clip(u, 0, 2 * self.height - 1)),
            int(np.clip(v, 0, self.height - 1)),
        )
        self._busy = False
        self.refresh_pixel()

    def _on_click(self, _trace, points, _state):
        if points.xs and points.ys and points.ys[0] < self.height:  # a click on A
            self.click(round(points.xs[0]), round(points.ys[0]))

    def pixel_readout(self, u: int, v: int) -> tuple[str, str, np.ndarray | None]:
        """``(state, text, uv_b)`` of pixel ``(u, v)`` of A: A's depth, where its point lands
        in B, B's depth there and the residual (A's point seen from B minus B's depth), in
        metres."""
        c = self.corr
        landed = True if c.landed is None else bool(c.landed[v, u])
        state = plots.match_state(
            bool(c.valid[v, u]), bool(c.visible[v, u]), bool(c.consistent[v, u]), landed
        )
        ra, rb = self._view(self.a.value)[1], self._view(self.b.value)[1]
        if not c.valid[v, u]:
            return state, f"A has no depth at ({u}, {v}): no match", None
        uv_b = c.uv[v, u]
        text = f"depth in A {float(ra[v, u]):.3f} m &rarr; ({uv_b[0]:.1f}, {uv_b[1]:.1f}) in B"
        iu = int(np.rint(uv_b[0])) % rb.shape[1]
        iv = int(np.clip(np.rint(uv_b[1]), 0, rb.shape[0] - 1))
        d_b, seen = float(rb[iv, iu]), float(c.range_in_b[v, u])
        if d_b > 0:
            text += (
                f", depth in B there {d_b:.3f} m, A's point from B {seen:.3f} m: residual "
                f"{seen - d_b:+.3f} m"
            )
        else:
            text += f", B has no depth there (A's point {seen:.3f} m from B)"
        return state, text, uv_b

    def refresh_pixel(self, _=None):
        if self._busy or self.corr is None:
            return
        c, (u, v) = self.corr, (self.u.value, self.v.value)
        state, text, uv_b = self.pixel_readout(u, v)
        self.info.value = (
            f"at {self.height}×{2 * self.height}: overlap {overlap(c):.3f} &middot; pixel "
            f"({u}, {v}) of A: <b>{state}</b> &middot; {text} &middot; click A to pick"
        )
        rgb_a, rgb_b = self._view(self.a.value)[0], self._view(self.b.value)[0]
        masks = (c.valid, c.visible, c.consistent, c.landed)
        fig = match_figure(
            rgb_a, rgb_b, (u, v), uv_b, f"A = {self.a.value}, B = {self.b.value}", state, masks
        )
        replace_figure(self.fig, fig)
        self.fig.data[0].on_click(self._on_click)
