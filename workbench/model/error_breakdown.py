"""Where a depth model is wrong: AbsRel of one or many views broken down by ground-truth
distance and by latitude (ceiling band, horizon, floor band), as tables for figures; each
row also holds ``ratio``, the geometric mean of pred / gt (above 1: predicted too far).

Shapes: ``pred`` and ``gt`` are ``(H, W)`` or ``(B, H, W)`` range in metres (ground truth 0 or
non-finite is invalid); latitudes follow :mod:`workbench.geometry.equirect` (+90° straight down).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.model.metrics import (
    latitude_bin_metrics,
    latitude_bin_sums,
    range_bin_metrics,
    range_bin_sums,
)

__all__ = ["abs_rel_by_distance", "abs_rel_by_latitude"]


def _frame(bins: list[dict], edges: np.ndarray, unit: str) -> pd.DataFrame:
    """The table of ``bins`` (one per interval of ``edges``), labelled by those edges."""
    return pd.DataFrame(
        {"bin": f"{lo:g}–{hi:g}{unit}", "lo": lo, "hi": hi, "pixels": b["pixels"],
         "abs_rel": np.nan if b["abs_rel"] is None else b["abs_rel"],
         "ratio": np.nan if b["ratio"] is None else b["ratio"]}
        for b, lo, hi in zip(bins, edges[:-1], edges[1:], strict=True)
    )  # fmt: skip


def _checked(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} differ")
    return p, g


def abs_rel_by_distance(pred, gt, edges_m=(0, 1, 2, 3, 4, 6, 8, 12, 100)) -> pd.DataFrame:
    """Mean ``|pred - gt| / gt`` and ``ratio`` (geometric mean of pred / gt: above 1, too far)
    of valid pixels (ground truth in ``(0, edges_m[-1]]``) per ground-truth distance bin
    ``edges_m``, every view's pixels pooled: a table of
    :func:`~workbench.model.metrics.range_bin_sums`, the sums ``workbench eval`` reports.

    >>> t = abs_rel_by_distance(np.array([[1.1, 4.0]]), np.array([[1.0, 5.0]]), (0, 2, 10))
    >>> t["abs_rel"].round(3).tolist(), t["pixels"].tolist(), t["ratio"].round(3).tolist()
    ([0.1, 0.2], [1, 1], [1.1, 0.8])
    """
    p, g = _checked(pred, gt)
    e = np.asarray(edges_m, np.float64)
    lo, hi = max(float(e[0]), 1e-9), float(e[-1])
    bins = range_bin_metrics(range_bin_sums(p, g, e[1:-1], lo, hi), e[1:-1], lo, hi)
    return _frame(bins, e, " m")


def abs_rel_by_latitude(
    pred, gt, bands: int = 9, min_depth: float = 0.1, max_depth: float = 10.0
) -> pd.DataFrame:
    """Mean AbsRel and ``ratio`` of valid pixels per latitude band (``bands`` equal bands,
    degrees, -90 up to +90 down): a table of :func:`~workbench.model.metrics.latitude_bin_sums`
    with ``workbench eval``'s validity (ground truth within ``[min_depth, max_depth]`` metres,
    the prediction clipped to it).

    >>> g = np.ones((4, 8)); p = g.copy(); p[0] = 2.0
    >>> t = abs_rel_by_latitude(p, g, bands=2)
    >>> t["abs_rel"].tolist(), t["ratio"].round(3).tolist()
    ([0.5, 0.0], [1.414, 1.0])
    """
    p, g = _checked(pred, gt)
    e = np.linspace(-90.0, 90.0, bands + 1)
    sums = latitude_bin_sums(p, g, e[1:-1], min_depth, max_depth)
    return _frame(latitude_bin_metrics(sums, e[1:-1]), e, "°")
