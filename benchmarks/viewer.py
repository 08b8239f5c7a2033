"""Point-cloud viewer update on the kernel side at 200k and 1M points (goal <= 1 s at 200k):
what one widget change costs before the browser draws — the range/ceiling cuts, the exact
random sample, the colours (turbo on range) and the binary serialisation k3d sends
(positions ``float32``, colours ``uint32``). Baseline in the same run: ``np.copy`` of the
positions sent, and the old plotly path (one ``"rgb(r,g,b)"`` string per point and the JSON
of the figure) at 200k points.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import figure, median_time, write_result


def _layers(n: int):
    from workbench.viz.viewer3d import CloudLayers

    rng = np.random.default_rng(0)
    pts = rng.uniform(-6, 6, (n, 3)).astype(np.float32)
    return CloudLayers(
        pts,
        rng.integers(0, 256, (n, 3), dtype=np.uint8),
        np.linalg.norm(pts, axis=1).astype(np.float32),
        rng.normal(size=(n, 3)).astype(np.float32),
        None,
        np.zeros(n, np.int32),
    )


def _update_time(viewer, layers, budget: int) -> float:
    from k3d.helpers import array_to_json

    from workbench.viz.viewer3d import point_colors_u32, select_points

    def update():
        idx = select_points(layers, budget, max_range=8.0, max_height=2.4, seed=1)
        colors, _ = point_colors_u32(layers, idx, "range")
        viewer.set_cloud(layers.points[idx], colors)
        array_to_json(viewer.points.positions), array_to_json(viewer.points.colors)

    return median_time(update, repeat=5)


def _plotly_time(layers, budget: int) -> float:
    import plotly.graph_objects as go

    from workbench.viz.viewer3d import point_colors_u32, select_points

    def old():
        idx = select_points(layers, budget)
        c = point_colors_u32(layers, idx, "rgb")[0]
        rgb = np.stack([(c >> 16) & 255, (c >> 8) & 255, c & 255], 1)
        p = layers.points[idx]
        colours = [f"rgb({r},{g},{b})" for r, g, b in rgb]
        go.Figure(go.Scatter3d(x=p[:, 0], y=p[:, 2], z=-p[:, 1], mode="markers",
                               marker={"color": colours})).to_json()  # fmt: skip

    return median_time(old, repeat=3)


def main() -> dict:
    from workbench.viz.viewer3d import CloudViewer

    viewer = CloudViewer()
    figs, details = [], {}
    for n in (200_000, 1_000_000):
        layers = _layers(int(n * 1.6))  # the cuts keep about 70 %, then the sample
        t = _update_time(viewer, layers, n)
        pos = layers.points[:n]
        t_copy = median_time(lambda pos=pos: np.copy(pos), repeat=15)
        goal = 1.0 if n == 200_000 else None
        figs.append(figure(f"viewer update at {n:,} points (kernel side)", t, "s", goal=goal))
        figs.append(figure(f"viewer update / copy of the positions at {n:,}", t / t_copy, "x"))
        details[f"t_update_{n}_s"], details[f"t_copy_{n}_s"] = t, t_copy
    t_old = _plotly_time(_layers(320_000), 200_000)
    figs.append(figure("old plotly update at 200,000 points", t_old, "s"))
    details["t_plotly_200000_s"] = t_old
    write_result("viewer", figs, details)
    return details


if __name__ == "__main__":
    main()
