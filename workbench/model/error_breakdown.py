"""Where a depth model is wrong: AbsRel of one or many views broken down by ground-truth
distance and by latitude (ceiling band, horizon, floor band), as tables for figures.

Shapes: ``pred`` and ``gt`` are ``(H, W)`` or ``(B, H, W)`` range in metres (ground truth 0 or
non-finite is invalid); latitudes follow :mod:`workbench.geometry.equirect` (+90° straight down).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.model.metrics import range_bin_metrics, range_bin_sums

__all__ = ["abs_rel_by_distance", "abs_rel_by_latitude"]


def _pairs(pred, gt):
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} differ")
    return p, g, np.isfinite(g) & (g > 0) & np.isfinite(p)


def _table(key, edges, rel, labels_unit):
    idx = np.digitize(key, edges) - 1
    rows = []
    for i in range(len(edges) - 1):
        m = idx == i
        rows.append({
            "bin": f"{edges[i]:g}–{edges[i + 1]:g} {labels_unit}",
            "lo": edges[i], "hi": edges[i + 1], "pixels": int(m.sum()),
            "abs_rel": float(rel[m].mean()) if m.any() else float("nan"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def abs_rel_by_distance(pred, gt, edges_m=(0, 1, 2, 3, 4, 6, 8, 12, 100)) -> pd.DataFrame:
    """Mean ``|pred - gt| / gt`` of valid pixels (ground truth in ``(0, edges_m[-1]]``) per
    ground-truth distance bin ``edges_m``, every view's pixels pooled: a table of
    :func:`~workbench.model.metrics.range_bin_sums`, the sums ``workbench eval`` reports.

    >>> t = abs_rel_by_distance(np.array([[1.1, 4.0]]), np.array([[1.0, 5.0]]), (0, 2, 10))
    >>> t["abs_rel"].round(3).tolist(), t["pixels"].tolist()
    ([0.1, 0.2], [1, 1])
    """
    p, g, _ = _pairs(pred, gt)
    e = np.asarray(edges_m, np.float64)
    lo, hi = max(float(e[0]), 1e-9), float(e[-1])
    bins = range_bin_metrics(range_bin_sums(p, g, e[1:-1], lo, hi), e[1:-1], lo, hi)
    return pd.DataFrame(
        {"bin": f"{e[k]:g}–{e[k + 1]:g} m", "lo": e[k], "hi": e[k + 1], "pixels": b["pixels"],
         "abs_rel": np.nan if b["abs_rel"] is None else b["abs_rel"]}
        for k, b in enumerate(bins)
    )  # fmt: skip


def abs_rel_by_latitude(pred, gt, bands: int = 9) -> pd.DataFrame:
    """Mean AbsRel of valid pixels per latitude band (``bands`` equal bands, degrees, -90 up to
    +90 down).

    >>> g = np.ones((4, 8)); p = g.copy(); p[0] = 2.0
    >>> abs_rel_by_latitude(p, g, bands=2)["abs_rel"].tolist()
    [0.5, 0.0]
    """
    p, g, v = _pairs(pred, gt)
    h = g.shape[-2]
    lat = (np.arange(h) + 0.5) / h * 180.0 - 90.0
    lat_map = np.broadcast_to(lat[:, None], g.shape[-2:])
    lat_all = np.broadcast_to(lat_map, g.shape)
    rel = np.abs(p[v] - g[v]) / g[v]
    return _table(lat_all[v], np.linspace(-90, 90, bands + 1), rel, "°")
