"""Figures of one pair of a multi-view consistency check (``workbench consistency``), built
from what :func:`workbench.eda.consistency.pair_residual` returns, and a pair browser.

- :func:`pair_options`: the pairs to open, flagged first (``pairs.csv`` rows).
- :func:`residual_figure`: both panoramas side by side, each at 2:1, the disagreeing pixels
  overlaid with their residual in metres (one colour bar).
- :func:`clouds_figure`: both views' world points overlaid (plotly ``Scatter3d``), A as posed
  or after the estimated rigid correction.
- :class:`PairBrowser`: a pair picker and an as-posed/corrected toggle driving both figures.
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.geometry.equirect import resize_rgb
from workbench.viz.labels import short_id
from workbench.viz.plots import PANEL_GAP_PX, panel_grid
from workbench.viz.viewer3d import to_display
from workbench.viz.widgets import replace_figure

__all__ = ["pair_options", "disagreeing", "residual_figure", "clouds_figure", "PairBrowser"]


def _label(p) -> str:
    """``scene/a–b: diagnosis (what was fitted)`` of a ``pairs.csv`` row."""
    what = {
        "pose": f"{p.get('t_cm', 0):.1f} cm, {p.get('rot_deg', 0):.2f}°",
        "scale": f"× {p.get('scale', 1):.3f}",
        "change": f"{100 * (p.get('change_fraction') or 0):.1f} % of view {p.get('change_view')}",
    }.get(p["diagnosis"], f"inliers {p.get('inliers', 0):.2f}")
    return f"{short_id(p['scene'])}/{p['view_a']}–{p['view_b']}: {p['diagnosis']} ({what})"


def pair_options(pairs: pd.DataFrame, worst: int = 5) -> list[tuple[str, tuple[str, str, str]]]:
    """Dropdown options ``(label, (scene, view_a, view_b))``: the pairs not ``ok``, worst
    (highest ``score``) first; when every pair is ``ok``, the ``worst`` highest scores.

    >>> p = pd.DataFrame({"scene": ["s", "s"], "view_a": ["0", "0"], "view_b": ["1", "2"],
    ...                   "diagnosis": ["ok", "scale"], "score": [0.01, 0.9], "scale": [1, 1.05]})
    >>> pair_options(p)
    [('s/0–2: scale (× 1.050)', ('s', '0', '2'))]
    """
    if pairs is None or not len(pairs):
        return []
    ranked = pairs.sort_values("score", ascending=False, kind="stable")
    bad = ranked[ranked["diagnosis"] != "ok"]
    chosen = bad if len(bad) else ranked.head(worst)
    return [(_label(p), (p["scene"], p["view_a"], p["view_b"])) for p in chosen.to_dict("records")]


def disagreeing(
    residual: np.ndarray, range_m: np.ndarray, tol_abs: float = 0.02, tolerance: float = 0.01
) -> np.ndarray:
    """``(H, W) bool``: pixels whose ``|residual|`` exceeds ``tol_abs + tolerance × range``
    (``consistency``'s inlier tolerance, its defaults); False where unmatched (NaN).

    >>> disagreeing(np.array([[0.01, 0.05, np.nan]]), np.full((1, 3), 2.0)).tolist()
    [[False, True, False]]
    """
    with np.errstate(invalid="ignore"):
        return np.isfinite(residual) & (np.abs(residual) > tol_abs + tolerance * range_m)


def _panel_axes(fig, k, dom_x, dom_y, w, h, title):
    ax = "" if k == 0 else str(k + 1)
    fig.layout[f"xaxis{ax}"] = {
        "domain": dom_x,
        "anchor": f"y{ax}",
        "visible": False,
        "range": [-0.5, w - 0.5],
        "constrain": "domain",
        **({"matches": "x"} if k else {}),
    }
    fig.layout[f"yaxis{ax}"] = {
        "domain": dom_y,
        "anchor": f"x{ax}",
        "visible": False,
        "range": [h - 0.5, -0.5],
        "scaleanchor": f"x{ax}",
        "constrain": "domain",
        **({"matches": "y"} if k else {}),
    }
    fig.add_annotation(
        text=title,
        x=sum(dom_x) / 2,
        y=dom_y[1],
        xref="paper",
        yref="paper",
        yanchor="bottom",
        showarrow=False,
    )
    return f"x{ax}", f"y{ax}"


def _residual_trace(z, xa, ya, vmax, name, k, colorbar) -> go.Heatmap:
    """The residual overlay of panel ``k`` (its colour bar shown on the last panel only)."""
    return go.Heatmap(
        z=np.round(z, 4), xaxis=xa, yaxis=ya, zmin=-vmax, zmax=vmax, zmid=0, colorscale="RdBu",
        opacity=0.85, showscale=k == 1, name=f"{name} residual",
        hovertemplate="u %{x}, v %{y}: residual %{z:.3f} m<extra></extra>",
        colorbar={"title": {"text": "residual (m)"}, "xanchor": "left", "thickness": 12,
                  **colorbar},
    )  # fmt: skip


def residual_figure(
    rgb_a,
    rgb_b,
    residual_a,
    residual_b,
    range_a,
    range_b,
    names=("A", "B"),
    title: str = "",
    vmax: float | None = None,
    width: int = 1000,
) -> go.Figure:
    """Both panoramas side by side at 2:1 (plot areas sized exactly, zoom-linked), each with
    its disagreeing pixels (:func:`disagreeing`) overlaid, coloured by the residual in metres
    (blue: the surface seen in front of what the other view sees; one colour bar, symmetric
    about 0), hover ``u, v`` and the residual.

    Args:
        rgb_a, rgb_b: ``(h, w, 3) uint8`` panoramas (resized to the residuals' size).
        residual_a, residual_b: ``(H, W)`` metres, NaN where unmatched.
        range_a, range_b: ``(H, W)`` metres (the tolerance grows with range).
        vmax: colour range ±vmax metres (default: the 98th percentile of the shown |residual|).
    """
    h, w = residual_a.shape
    masks = [disagreeing(r, d) for r, d in ((residual_a, range_a), (residual_b, range_b))]
    shown = np.concatenate(
        [np.abs(r[m]) for r, m in zip((residual_a, residual_b), masks, strict=True)]
    )
    vmax = vmax or (float(np.percentile(shown, 98)) if shown.size else 0.1)
    pw, ph, _, _, fig_w, fig_h, margin = panel_grid(2, w / h, width, cols=2)
    paper_w, paper_h = fig_w - margin["l"] - margin["r"], fig_h - margin["t"] - margin["b"]
    fig = go.Figure()
    for k, (rgb, r, m) in enumerate(
        zip((rgb_a, rgb_b), (residual_a, residual_b), masks, strict=True)
    ):
        x0 = k * (pw + PANEL_GAP_PX) / paper_w
        dom_x, dom_y = [x0, x0 + pw / paper_w], [1 - ph / paper_h, 1.0]
        frac = m.sum() / max(1, np.isfinite(r).sum())
        xa, ya = _panel_axes(
            fig, k, dom_x, dom_y, w, h, f"{names[k]}: {100 * frac:.1f} % of matched pixels disagree"
        )
        img = rgb if rgb.shape[0] == h else resize_rgb(rgb, h)
        fig.add_trace(
            go.Image(
                z=img,
                xaxis=xa,
                yaxis=ya,
                name=names[k],
                hovertemplate="u %{x}, v %{y}<extra></extra>",
            )
        )
        colorbar = {"x": dom_x[1] + 6 / paper_w, "len": ph / paper_h, "y": 1 - ph / paper_h / 2}
        fig.add_trace(_residual_trace(np.where(m, r, np.nan), xa, ya, vmax, names[k], k, colorbar))
    fig.update_layout(
        title=title,
        width=fig_w,
        height=fig_h,
        margin=margin,
        template="plotly_white",
        plot_bgcolor="#e4e4e4",
    )
    return fig


def _subsample(p: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` evenly spaced rows of ``p`` (deterministic)."""
    return p if len(p) <= n else p[np.linspace(0, len(p) - 1, n).astype(int)]


def clouds_figure(
    clouds: dict,
    corrected: bool = False,
    names=("A", "B"),
    title: str = "",
    max_points: int = 15_000,
    height: int = 520,
) -> go.Figure:
    """Both views' world points overlaid (display axes x, z, up in metres): B, and A as posed
    (``clouds["a"]``) or after its estimated correction (``clouds["a_corrected"]``).

    Args:
        clouds: ``{"a", "a_corrected", "b"}`` ``(N, 3)`` world points (``PairResidual.clouds``).
        max_points: per view, evenly spaced.
    """
    a = clouds["a_corrected" if corrected else "a"]
    state = "corrected" if corrected else "as posed"
    fig = go.Figure()
    for p, name, colour in (
        (clouds["b"], names[1], "#ff7f0e"),
        (a, f"{names[0]} ({state})", "#1f77b4"),
    ):
        d = to_display(_subsample(p, max_points))
        fig.add_trace(
            go.Scatter3d(
                x=d[:, 0],
                y=d[:, 1],
                z=d[:, 2],
                mode="markers",
                name=name,
                marker={"size": 1.5, "color": colour, "opacity": 0.6},
            )
        )
    fig.update_layout(
        title=title or f"both clouds, {names[0]} {state}",
        height=height,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        legend={"itemsizing": "constant"},
        scene={
            "aspectmode": "data",
            "xaxis_title": "x (m)",
            "yaxis_title": "z (m)",
            "zaxis_title": "up (m)",
        },
        uirevision="keep",
    )
    return fig


class PairBrowser(W.VBox):
    """Pick a pair of a consistency check (flagged first): both panoramas with the disagreeing
    pixels (``residual``) and both clouds overlaid (``cloud``), with a toggle between A as
    posed and A after the estimated correction. ``pick`` is the Dropdown, ``corrected`` the
    ToggleButtons, ``info`` the pair's numbers.

    Args:
        dataset: the opened dataset (panoramas are read from it).
        pairs: the check's ``pairs.csv`` (:func:`workbench.eda.consistency.load_consistency`).
        measure: ``measure(scene, view_a, view_b)`` → a ``PairResidual``, e.g.
            ``functools.partial(pair_residual, dataset)``.
    """

    def __init__(self, dataset, pairs: pd.DataFrame, measure, stride: int = 2):
        self.dataset, self.measure, self.stride = dataset, measure, stride
        options = pair_options(pairs)
        self.pick = W.Dropdown(options=options, description="pair", layout=W.Layout(width="640px"))
        self.corrected = W.ToggleButtons(
            options=[("A as posed", False), ("A corrected", True)], value=False, description="cloud"
        )
        self.info = W.HTML()
        self.residual, self.cloud = go.FigureWidget(), go.FigureWidget()
        self.pair = None
        self.pick.observe(self.show_pair, "value")
        self.corrected.observe(self.redraw_cloud, "value")
        if options:
            self.show_pair()
        else:
            self.info.value = "no covisible pairs to open"
        super().__init__([self.pick, self.info, self.residual, self.corrected, self.cloud])

    def _rgb(self, scene: str, view: str) -> np.ndarray:
        rec = next(r for r in self.dataset.scene(scene) if r.view_id == view)
        return self.dataset.load(rec).rgb

    def show_pair(self, _=None) -> None:
        """Re-compute the picked pair and redraw both figures. (Not named ``open``: that is
        ``Widget.open``, which opens the widget's comm; overriding it leaves the box without a
        model in the front end, "Error displaying widget: model not found".)"""
        if self.pick.value is None:
            return
        scene, a, b = self.pick.value
        self.pair = pr = self.measure(scene, a, b)
        names = (f"A = {a}", f"B = {b}")
        t = pr.C[:3, 3] * 100
        rot = np.degrees(np.arccos(np.clip((np.trace(pr.C[:3, :3]) - 1) / 2, -1, 1)))
        self.info.value = html.escape(
            f"{short_id(scene)}: {pr.row['diagnosis']}; inliers {pr.row['inliers']:.3f}, "
            f"median |residual| {100 * pr.row['median_abs_m']:.1f} cm; fitted correction of A "
            f"{np.linalg.norm(t):.1f} cm, {rot:.2f}°; scale A/B {pr.scale:.3f}"
        )
        replace_figure(
            self.residual,
            residual_figure(
                self._rgb(scene, a),
                self._rgb(scene, b),
                pr.residual_a,
                pr.residual_b,
                pr.range_a,
                pr.range_b,
                names,
                f"{short_id(scene)}/{a}–{b}: disagreeing pixels",
            ),
        )
        self.redraw_cloud()

    def redraw_cloud(self, _=None) -> None:
        """Both clouds, A as posed or corrected (the toggle)."""
        if self.pair is None:
            return
        a, b = self.pick.value[1:]
        fig = clouds_figure(
            self.pair.clouds(self.stride), self.corrected.value, (f"A = {a}", f"B = {b}")
        )
        replace_figure(self.cloud, fig)
