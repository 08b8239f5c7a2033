"""Plotly figures of the EDA tables (:mod:`workbench.eda`). Each takes a tidy DataFrame and
returns a ``plotly.graph_objects.Figure``; nothing here computes statistics."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.viz.labels import short_id, wrap_label

__all__ = [
    "depth_histogram_figure",
    "yaw_rose_figure",
    "tilt_figure",
    "camera_map_figure",
    "covisibility_figure",
    "match_state",
    "match_mask_image",
    "baseline_figure",
    "depth_by_scene_figure",
    "html_report",
]

BAND_COLOURS = {"ceiling": "#4c78a8", "horizon": "#59a14f", "floor": "#e15759"}


def depth_histogram_figure(hist: pd.DataFrame, bands=("ceiling", "horizon", "floor")) -> go.Figure:
    """Range distribution per latitude band (fraction of the band's pixels per log bin); the
    range axis spans the non-empty bins only (metres, log scale)."""
    fig = go.Figure()
    used = hist[(hist["count"] > 0) & (hist["bin_lo"] > 0) & hist["band"].isin(list(bands))]
    for band in bands:
        h = hist[(hist["band"] == band) & (hist["bin_lo"] > 0)]
        fig.add_trace(
            go.Scatter(
                x=np.sqrt(h["bin_lo"] * h["bin_hi"]),
                y=h["fraction"],
                name=band,
                mode="lines",
                line={"color": BAND_COLOURS.get(band)},
                line_shape="hvh",
                hovertemplate="%{x:.2f} m: %{y:.3f}<extra>" + band + "</extra>",
            )
        )
    fig.update_layout(
        title="Range distribution by latitude band",
        xaxis_title="range (m)",
        yaxis_title="fraction of the band's pixels",
        xaxis_type="log",
        template="plotly_white",
    )
    if len(used):
        fig.update_xaxes(range=[np.log10(used["bin_lo"].min()), np.log10(used["bin_hi"].max())])
    return fig


def yaw_rose_figure(rose: pd.DataFrame) -> go.Figure:
    """Polar bar chart of camera yaw (0° = +z, positive turning right)."""
    fig = go.Figure(
        go.Barpolar(
            r=rose["count"],
            theta=(rose["yaw_lo"] + rose["yaw_hi"]) / 2,
            width=rose["yaw_hi"] - rose["yaw_lo"],
            name="yaw",
        )
    )
    fig.update_layout(
        title="Camera yaw (0° = +z, clockwise = turning right)",
        template="plotly_white",
        polar={
            "angularaxis": {"rotation": 90, "direction": "clockwise", "ticksuffix": "°"},
            "radialaxis": {"title": {"text": "views"}},
        },
    )
    return fig


def tilt_figure(orient: pd.DataFrame) -> go.Figure:
    """Pitch vs roll per view; tilt outliers in red."""
    out = orient["tilt_outlier"].to_numpy()
    fig = go.Figure()
    for flag, name, colour in ((False, "views", "#4c78a8"), (True, "tilt outliers", "#e15759")):
        o = orient[out == flag]
        fig.add_trace(
            go.Scattergl(
                x=o["roll_deg"],
                y=o["pitch_deg"],
                mode="markers",
                name=name,
                marker={"color": colour, "size": 6},
                text=o["scene_id"].map(short_id) + "/" + o["view_id"],
            )
        )
    fig.update_layout(
        title="Camera pitch and roll",
        xaxis_title="roll (°)",
        yaxis_title="pitch (°)",
        template="plotly_white",
    )
    return fig


def camera_map_figure(
    table: pd.DataFrame, scenes=None, max_scenes: int | None = None, width: int = 1000
) -> go.Figure:
    """Top-down maps (x right, z up the page, metres, equal aspect), small multiples: one
    square panel per scene (each scene has its own world frame), three a row, as many rows as
    scenes, every panel's range fitted to its own cameras (nothing drawn outside its panel):
    camera positions labelled with their view ids, the capture path, a heading line per view.
    The camera trace of each scene comes first, named by the scene, with
    ``customdata = [[scene_id, view_id], ...]`` (for selections)."""
    scenes = list(scenes) if scenes is not None else sorted(table["scene_id"].unique())
    scenes = scenes[:max_scenes] if max_scenes else scenes
    cols = max(1, min(3, len(scenes)))
    rows = max(1, -(-len(scenes) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[short_id(s) for s in scenes],
                        horizontal_spacing=0.08, vertical_spacing=0.3 / rows)  # fmt: skip
    for k, sid in enumerate(scenes):
        r, c = divmod(k, cols)
        t = table[table["scene_id"] == sid].sort_values("view_id")
        _camera_panel(fig, t, sid, r + 1, c + 1, k)
    panel = min(360.0, (width - 100) / cols * 0.85)  # px: a lone scene stays on screen
    fig.update_layout(
        title="Camera positions (top-down, one panel per scene; grey: heading; box or lasso "
        "select cameras)",
        template="plotly_white",
        showlegend=False,
        width=int(min(width, cols * panel / 0.85 + 100)),
        height=int(rows * panel * 1.12 + 90),
        margin={"l": 50, "r": 20, "t": 80, "b": 40},
        dragmode="lasso",
    )
    return fig


def _num(v) -> float | None:
    """A float for JSON (None for NaN or infinity)."""
    v = float(v)
    return v if np.isfinite(v) else None


def _camera_panel(fig, t: pd.DataFrame, sid: str, row: int, col: int, k: int) -> None:
    """One scene's cameras, path and headings in subplot ``(row, col)``, on equal, padded
    ranges around them."""
    yaw = np.deg2rad(t["yaw_deg"].to_numpy(float))
    cx, cz = t["cx"].to_numpy(float), t["cz"].to_numpy(float)
    fig.add_trace(
        go.Scatter(
            x=cx, y=cz, mode="lines+markers+text", name=short_id(sid), text=t["view_id"],
            textposition="top center", cliponaxis=True, marker={"size": 8},
            customdata=[[sid, str(v), _num(y), _num(h)] for v, y, h in
                        zip(t["view_id"], t["yaw_deg"], t["height_m"], strict=True)],
            hovertemplate="view %{text}: x %{x:.2f} m, z %{y:.2f} m, heading "
            "%{customdata[2]:.0f}°, height %{customdata[3]:.2f} m<extra></extra>",
        ),
        row, col,
    )  # fmt: skip
    nan = np.full(len(t), np.nan)
    hx = np.stack([cx, cx + 0.4 * np.sin(yaw), nan], 1).ravel()
    hz = np.stack([cz, cz + 0.4 * np.cos(yaw), nan], 1).ravel()
    fig.add_trace(
        go.Scatter(x=hx, y=hz, mode="lines", showlegend=False, hoverinfo="skip",
                   line={"color": "grey", "width": 2}),
        row, col,
    )  # fmt: skip
    ok = np.isfinite(cx) & np.isfinite(cz)
    mid = [(float(np.min(a[ok])) + float(np.max(a[ok]))) / 2 if ok.any() else 0.0
           for a in (cx, cz)]  # fmt: skip
    half = (float(max(np.ptp(cx[ok]), np.ptp(cz[ok]))) if ok.any() else 0.0) / 2 + 0.8
    axis = "x" if k == 0 else f"x{k + 1}"
    fig.update_xaxes(title_text="x (m)", range=[mid[0] - half, mid[0] + half],
                     constrain="domain", row=row, col=col)  # fmt: skip
    fig.update_yaxes(title_text="z (m)", range=[mid[1] - half, mid[1] + half], scaleratio=1,
                     scaleanchor=axis, constrain="domain", row=row, col=col)  # fmt: skip


def baseline_figure(pairs: pd.DataFrame) -> go.Figure:
    """Histogram of pairwise baselines within scenes."""
    fig = go.Figure(go.Histogram(x=pairs["baseline_m"], nbinsx=40, name="pairs"))
    fig.update_layout(
        title="Baselines between views of a scene",
        xaxis_title="baseline (m)",
        yaxis_title="pairs",
        template="plotly_white",
    )
    return fig


def depth_by_scene_figure(per_scene: pd.DataFrame) -> go.Figure:
    """Per-scene median range with the p05-p95 span."""
    s = per_scene.sort_values("d_median")
    fig = go.Figure(
        go.Scatter(
            x=s["scene_id"].map(short_id),
            y=s["d_median"],
            mode="markers",
            name="median",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": s["d_p95"] - s["d_median"],
                "arrayminus": s["d_median"] - s["d_p05"],
            },
        )
    )
    fig.update_layout(
        title="Range per scene (median, p05-p95)", yaxis_title="range (m)", template="plotly_white"
    )
    return fig


def html_report(
    figures: dict[str, go.Figure],
    tables: dict[str, pd.DataFrame],
    title: str,
    notes: list[str] | tuple[str, ...] = (),
) -> str:
    """One self-contained HTML page (plotly.js inlined once, no network) with ``notes`` (plain
    sentences, escaped) under the title, then figures and tables."""
    parts = [
        f"<html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;"
        "font-size:12px} td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
        f"<h1>{title}</h1>",
        *(f"<p class='note'>{html.escape(n)}</p>" for n in notes),
    ]
    first = True
    for name, fig in figures.items():
        parts.append(f"<h2>{name}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if first else False))
        first = False
    for name, df in tables.items():
        parts.append(f"<h2>{name}</h2>" + df.to_html(index=False, float_format="%.3f"))
    parts.append("</body></html>")
    return "\n".join(parts)


def history_figure(history_csv, columns=("total", "l1", "normal", "ssim")) -> go.Figure:
    """Loss curves from a run's ``history.csv`` (one line per column present)."""
    df = pd.read_csv(history_csv)
    fig = go.Figure()
    for c in columns:
        if c in df:
            fig.add_trace(go.Scatter(x=df["step"], y=df[c], name=c, mode="lines+markers"))
    fig.update_layout(
        title="Training losses", xaxis_title="step", yaxis_title="loss", template="plotly_white"
    )
    return fig


def views_figure(views, max_range: float = 8.0) -> go.Figure:
    """RGB (top row) and range in metres (bottom row: 0 to ``max_range``, one colour bar in
    metres, the range of a pixel on hover, invalid pixels blank) of a few views (``View``
    objects); views without measured depth (a pose-only dataset) show their RGB alone and the
    title says so, rather than black panels that read as a range of 0 m."""

    n = len(views)
    depth = any(v.record.has_depth for v in views)
    rows = 2 if depth else 1
    titles = [wrap_label(v.record.view_id) for v in views]
    lines = max(t.count("<br>") for t in titles) + 1
    fig = make_subplots(
        rows=rows,
        cols=n,
        horizontal_spacing=0.01,
        vertical_spacing=0.02,
        subplot_titles=titles + [""] * n * (rows - 1),
    )
    for i, v in enumerate(views):
        fig.add_trace(go.Image(z=v.rgb[::2, ::2]), 1, i + 1)
        if depth:
            step = max(1, v.range_m.shape[0] // 64)  # 64 rows a panel: light in a notebook
            trace = _map_trace("range", v.range_m[::step, ::step], step, max_range)
            trace.update(showscale=i == 0, colorbar={"title": {"text": "m"}, "len": 0.45,
                                                     "y": 0.22})  # fmt: skip
            fig.add_trace(trace, 2, i + 1)
            fig.update_yaxes(autorange="reversed", scaleanchor=f"x{n + i + 1}", row=2, col=i + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    what = f"RGB and range (0-{max_range} m)" if depth else "RGB (no measured depth: pose-only)"
    fig.update_layout(
        height=160 * rows + 46 + 14 * lines,
        margin={"l": 0, "r": 0, "t": 26 + 14 * lines, "b": 0},
        title=f"scene {short_id(views[0].record.scene_id)}: {what}",
        plot_bgcolor="white",
    )
    return fig


MATCH_STATES = {  # state -> (colour, marker symbol, meaning)
    "consistent": ("#2ca02c", "circle-open", "seen by B, depth agrees both ways"),
    "occluded in B": ("#ff7f0e", "x", "projects into B behind B's surface"),
    "not consistent": ("#d62728", "x-thin", "visible but the round trip misses"),
    "outside B": ("#7f7f7f", "square-open", "lands where B has no depth: cannot be checked"),
    "no depth in A": ("#000000", "diamond-open", "A has no depth at this pixel: no match"),
}
_MASK_COLOURS = np.array(
    [[127, 127, 127], [255, 127, 14], [214, 39, 40], [44, 160, 44], [0, 0, 0]], np.uint8
)


def match_state(valid: bool, visible: bool, consistent: bool, landed: bool = True) -> str:
    """One pixel's correspondence state (a key of :data:`MATCH_STATES`): ``valid`` A has
    depth, ``landed`` its point lands where B has depth, ``visible`` not behind B's surface,
    ``consistent`` the round trip closes.

    >>> match_state(False, False, False), match_state(True, False, False, landed=False)
    ('no depth in A', 'outside B')
    """
    if consistent:
        return "consistent"
    if not valid:
        return "no depth in A"
    if not landed:
        return "outside B"
    return "occluded in B" if not visible else "not consistent"


def match_mask_image(valid, visible, consistent, landed=None) -> np.ndarray:
    """``(H, W, 3) uint8`` image of A's pixels by state: black no depth in A, grey outside
    B (no depth there), orange occluded, red not consistent, green consistent (the colours
    of :data:`MATCH_STATES`)."""
    landed = valid if landed is None else landed
    state = np.where(~valid, 4, np.where(~landed, 0, np.where(~visible, 1, 2)))
    return _MASK_COLOURS[np.where(consistent, 3, state)]


def match_figure(
    rgb_a, rgb_b, uv_a, uv_b, title: str = "", state: str = "consistent", masks=None,
    zoom: int | None = None,
) -> go.Figure:  # fmt: skip
    """A above B (and, with ``masks = (valid, visible, consistent[, landed])``, A's pixels
    coloured by state below them), a pixel of A and its match in B drawn in the colour and
    symbol of its ``state`` (:data:`MATCH_STATES`; ``uv_b`` may be ``None``), every image at
    ``zoom`` screen pixels per pixel (default: at least 512 px wide, at least 2×: a pixel is
    easy to pick). Trace 0 is the image stack (click it to pick a pixel of A; the markers
    let clicks through)."""
    h, w = rgb_a.shape[:2]
    zoom = zoom or max(2, -(-512 // w))
    panels = [rgb_a, rgb_b] + ([match_mask_image(*masks)] if masks is not None else [])
    fig = go.Figure(
        go.Image(
            z=np.concatenate(panels, axis=0),
            name="A / B",
            hovertemplate="u %{x}, v %{y}<extra></extra>",
        )
    )
    colour, symbol, meaning = MATCH_STATES[state]
    a_marker = {"color": "white", "size": 12, "symbol": "x", "line": {"color": "black", "width": 1}}
    fig.add_scatter(x=[uv_a[0]], y=[uv_a[1]], mode="markers", name="A pixel", marker=a_marker,
                    hoverinfo="skip")  # fmt: skip
    if uv_b is not None:
        fig.add_scatter(
            x=[uv_b[0]], y=[uv_b[1] + h], mode="markers", hoverinfo="skip",
            name=f"match in B: {state} ({meaning})",
            marker={"color": colour, "size": 14, "symbol": symbol,
                    "line": {"color": colour, "width": 3}},
        )  # fmt: skip
    for name, (colour, _, _meaning) in MATCH_STATES.items():
        if masks is not None:  # legend of the mask panel
            fig.add_scatter(x=[None], y=[None], mode="markers", name=f"mask: {name}",
                            marker={"color": colour, "symbol": "square", "size": 10})  # fmt: skip
    labels = ["A", "B"] + (["A by state"] if masks is not None else [])
    for k, label in enumerate(labels):
        fig.add_annotation(x=4, y=k * h + 4, text=f"<b>{label}</b>", showarrow=False,
                           xanchor="left", yanchor="top",
                           bgcolor="rgba(255,255,255,0.7)")  # fmt: skip
    margin = {"l": 10, "r": 10, "t": 40, "b": 10}
    fig.update_xaxes(range=[-0.5, w - 0.5], visible=False, constrain="domain")
    fig.update_yaxes(range=[len(panels) * h - 0.5, -0.5], visible=False, scaleanchor="x",
                     constrain="domain")  # fmt: skip
    fig.update_layout(
        title=title,
        margin=margin,
        width=w * zoom + margin["l"] + margin["r"],
        height=len(panels) * h * zoom + margin["t"] + margin["b"],
        showlegend=True,
        legend={"x": 1.02, "xanchor": "left", "y": 1},
    )
    if masks is not None:  # the legend beside the images, not over them
        fig.update_layout(width=fig.layout.width + 330, margin={**margin, "r": 340})
    return fig


def covisibility_figure(cov: np.ndarray, ids, title: str = "Covisibility") -> go.Figure:
    """Labelled heatmap of a covisibility matrix (row A, column B: the fraction of A's
    checkable pixels seen consistently in B)."""
    ids = [str(i) for i in ids]
    fig = go.Figure(
        go.Heatmap(
            z=cov,
            x=ids,
            y=ids,
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            text=np.round(cov, 2),
            texttemplate="%{text}",
            colorbar={"title": "overlap"},
            hovertemplate="A %{y} → B %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="view B",
        yaxis_title="view A",
        yaxis={"autorange": "reversed"},
        template="plotly_white",
        width=480,
        height=440,
    )
    return fig


PANEL_GAP_PX = 80  # right of each panel column: its colour bar and tick labels
TITLE_PX = 24  # above each panel: its name


def panel_grid(n: int, aspect: float, width: int = 1000, cols: int | None = None):
    """Pixel layout of ``n`` equal panels of ``aspect`` (width / height) in a grid: returns
    ``(panel_w, panel_h, cols, rows, fig_w, fig_h, margin)`` such that each panel's plot area
    is exactly ``panel_w × panel_h`` px, with a colour-bar gap right of each column.

    >>> panel_grid(4, 2.0, 1000)[:6]
    (410, 205, 2, 2, 1000, 504)
    """
    cols = cols or (1 if n == 1 else 2)
    rows = -(-n // cols)
    margin = {"l": 10, "r": 10, "t": 60, "b": 10}
    pw = (width - margin["l"] - margin["r"]) // cols - PANEL_GAP_PX
    ph = round(pw / aspect)
    fig_h = margin["t"] + margin["b"] + rows * (ph + TITLE_PX) - TITLE_PX
    return pw, ph, cols, rows, width, fig_h, margin


def _map_trace(name: str, m: np.ndarray, step: int, vmax: float) -> go.Heatmap:
    """One depth-like map in metres (invalid pixels blank: JSON null, never NaN, which widget
    messages cannot carry); x, y in the full image's pixel coordinates."""
    err = "error" in name
    valid = np.isfinite(m) & ((m >= 0) if err else (m > 0))
    h, w = m.shape
    return go.Heatmap(
        z=np.where(valid, np.round(m, 4).astype(object), None),
        x=np.arange(w) * step,
        y=np.arange(h) * step,
        zmin=0,
        zmax=vmax / 2 if err else vmax,
        colorscale="Reds" if err else "Turbo",
        name=name,
        hovertemplate=f"u %{{x}}, v %{{y}}: {name.split(' (')[0]} %{{z:.2f}} m<extra></extra>",
    )


def depth_row_figure(
    rgb: np.ndarray,
    depth: np.ndarray | None = None,
    gt: np.ndarray | None = None,
    title: str = "",
    max_range: float | None = None,
    step: int = 1,
    width: int = 1000,
) -> go.Figure:
    """The RGB panorama, predicted (or stored) range, ground truth and the absolute error as
    heatmaps in metres, each panel at the image's own aspect (2:1 for a panorama, plot area
    sized exactly, ``scaleanchor`` keeps it when resized), all zoom-linked (matching axes: a
    zoom or pan in one moves all), hover in every panel at the same pixel coordinates ``u, v``
    of the full image, one colour bar per map beside it (range and ground truth on one colour
    range), invalid pixels grey (blank). ``step`` strides the pixels (a lighter figure).

    Args:
        rgb: ``(H, W, 3)`` uint8. depth, gt: ``(H, W)`` metres (0 = invalid), any may be
            ``None``; both are shown at the RGB's size.
        max_range: top of the colour range (default: the 98th percentile of the ground truth,
            else of the depth).
        width: figure width in px (two panels a row, four panels in two rows).
    """
    maps = {"range (m)": depth, "ground truth (m)": gt}
    maps = {k: v for k, v in maps.items() if v is not None}
    if depth is not None and gt is not None:
        ok = (gt > 0) & (depth > 0)
        maps["|error| (m)"] = np.where(ok, np.abs(depth - gt), np.nan)
    ref = gt if gt is not None else depth
    good = ref[np.isfinite(ref) & (ref > 0)] if ref is not None else np.zeros(0)
    vmax = max_range or (float(np.percentile(good, 98)) if good.size else 1.0)
    img = rgb[::step, ::step]
    h, w = img.shape[:2]
    pw, ph, cols, rows, fig_w, fig_h, margin = panel_grid(1 + len(maps), w / h, width)
    paper_w = fig_w - margin["l"] - margin["r"]
    paper_h = fig_h - margin["t"] - margin["b"]
    fig = go.Figure()
    names = ["RGB", *maps]
    for k, name in enumerate(names):
        r, c = divmod(k, cols)
        x0 = c * (pw + PANEL_GAP_PX) / paper_w
        y1 = 1 - r * (ph + TITLE_PX) / paper_h
        dom_x, dom_y = [x0, x0 + pw / paper_w], [y1 - ph / paper_h, y1]
        ax = "" if k == 0 else str(k + 1)
        if k == 0:
            trace = go.Image(z=img, dx=step, dy=step, hovertemplate="u %{x}, v %{y}<extra></extra>")
        else:
            trace = _map_trace(name, maps[name][::step, ::step], step, vmax)
            trace.colorbar = {
                "title": {"text": "m"}, "x": dom_x[1] + 6 / paper_w, "xanchor": "left",
                "y": sum(dom_y) / 2, "len": ph / paper_h, "thickness": 12,
            }  # fmt: skip
        trace.update(xaxis=f"x{ax}", yaxis=f"y{ax}")
        fig.add_trace(trace)
        match = {} if k == 0 else {"matches": "x"}
        fig.layout[f"xaxis{ax}"] = {"domain": dom_x, "anchor": f"y{ax}", "visible": False,
                                    "range": [-step / 2, w * step - step / 2],
                                    "constrain": "domain", **match}  # fmt: skip
        fig.layout[f"yaxis{ax}"] = {"domain": dom_y, "anchor": f"x{ax}", "visible": False,
                                    "range": [h * step - step / 2, -step / 2],
                                    "scaleanchor": f"x{ax}", "constrain": "domain",
                                    **({} if k == 0 else {"matches": "y"})}  # fmt: skip
        fig.add_annotation(text=name, x=sum(dom_x) / 2, y=dom_y[1], xref="paper", yref="paper",
                           yanchor="bottom", showarrow=False)  # fmt: skip
    fig.update_layout(title=title, width=fig_w, height=fig_h, margin=margin,
                      template="plotly_white", plot_bgcolor="#e4e4e4",
                      dragmode="zoom")  # fmt: skip
    return fig
