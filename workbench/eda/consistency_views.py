"""Per-view verdicts from a scene's pair diagnoses (:mod:`workbench.eda.consistency_pairs`): a
view that disagrees with most of its partners is the culprit, its partners are not.

A pair counts against a view when its diagnosis is ``scale``, ``pose`` or ``mismatch``, or
``change`` with the changed region in this view's pixels. A view is **flagged** when more
than half of its pairs count against it (so with a single partner both views of a bad pair
are flagged: one pair cannot tell which is wrong); a view without any pair is ``unchecked``
(its fitted figures NaN), never ``ok``, and one not flagged without any ``ok`` pair is ``weak``
(its pairs agree on only part of their overlap: not flagged, not vouched for). A flagged
view's diagnosis is the most common one among the pairs against it (``pose`` only when its
pose pairs fit one correction, :func:`corrections_agree`, else ``mismatch``, whose figures
are NaN: no correction explains it; a view not flagged carries no fault's figures); its
figures are medians over those pairs, oriented to the view (``scale``: this view's ranges
over its partners'; ``t_cm``, ``rot_deg``: the size of the correction of this view's pose;
``change_*``: the largest region seen in this view).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

__all__ = ["VIEW_COLUMNS", "aggregate_views", "corrections_agree", "rank_views"]

VIEW_COLUMNS = [
    "scene", "view", "flagged", "diagnosis", "pairs", "bad_pairs", "bad_fraction", "score",
    "median_abs_m", "inliers", "scale", "t_cm", "rot_deg", "change_fraction", "change_bbox",
    "change_lon_deg", "change_lat_deg",
]  # fmt: skip


def _against(p: dict, view: str) -> bool:
    """Whether pair ``p`` (a row of ``pairs.csv``, one of ``view``'s) counts against it."""
    side = "a" if p["view_a"] == view else "b"
    d = p["diagnosis"]
    return d in ("scale", "pose", "mismatch") or (d == "change" and p["change_view"] == side)


def _median(values, default=float("nan")) -> float:
    return float(np.median(values)) if len(values) else default


def corrections_agree(t_cm: list, rot_deg: list) -> np.ndarray:
    """Which of a view's ``pose`` pairs fit its correction: ``(n,) bool``, each translation (cm,
    oriented to the view) within max(2 cm, 20 %) of their median and each rotation within
    max(0.5°, 20 %) of theirs. The view is ``pose`` when at least two thirds of them agree (a
    second faulty view's pair fits both errors at once and is left out of the figures); a
    view whose fits scatter is a ``mismatch``.

    >>> corrections_agree([49.8, 50.0, 50.1], [0.03, 0.01, 0.02]).tolist()
    [True, True, True]
    >>> corrections_agree([40.3, 64.0, 88.0], [0.1, 0.2, 0.1]).tolist()
    [False, True, False]
    """
    t, r = np.asarray(t_cm, float), np.asarray(rot_deg, float)
    if len(t) < 2:
        return np.ones(len(t), bool)
    t_mid, r_mid = float(np.median(t)), float(np.median(r))
    return (np.abs(t - t_mid) <= max(2.0, 0.2 * t_mid)) & (
        np.abs(r - r_mid) <= max(0.5, 0.2 * r_mid)
    )


def _view_row(scene: str, view: str, mine: list) -> dict:
    """``views.csv``'s row of ``view`` from its pairs ``mine`` (dicts)."""
    bad = [p for p in mine if _against(p, view)]
    n, k = len(mine), len(bad)
    flagged = n > 0 and k > n / 2
    diagnosis = Counter(p["diagnosis"] for p in bad).most_common(1)[0][0] if flagged else "ok"
    if not flagged and not any(p["diagnosis"] == "ok" for p in mine):
        diagnosis = "weak" if n else "unchecked"  # unchecked: no partner covisible enough
    named = bad if flagged else []  # an unflagged view's minority of bad pairs: no figures
    scale = [p["scale"] if p["view_a"] == view else 1.0 / p["scale"]
             for p in named if p["diagnosis"] == "scale"]  # fmt: skip
    pose = [p for p in named if p["diagnosis"] == "pose"]
    t_cm = [p["t_cm"] if p["view_a"] == view else p["t_cm_b"] for p in pose]
    rot = [p["rot_deg"] for p in pose]
    agree = corrections_agree(t_cm, rot)
    if diagnosis == "pose" and agree.sum() < max(1, math.ceil(2 * len(pose) / 3)):
        diagnosis = "mismatch"  # its pairs fit different corrections: none of them is its own
    t_cm, rot = list(np.asarray(t_cm)[agree]), list(np.asarray(rot)[agree])
    change = sorted((p for p in named if p["diagnosis"] == "change"),
                    key=lambda p: p["change_fraction"])  # fmt: skip
    last = change[-1] if change else {}
    fitted = n and diagnosis != "weak"  # weak, unchecked: nothing vouched, nothing fitted
    one, zero = (1.0, 0.0) if fitted else (float("nan"), float("nan"))
    if diagnosis == "mismatch":  # no correction explains it: none is reported
        scale, t_cm, rot, last, one, zero = [], [], [], {}, float("nan"), float("nan")
    return {
        "scene": scene, "view": view, "flagged": bool(flagged), "diagnosis": diagnosis,
        "pairs": n, "bad_pairs": k, "bad_fraction": k / n if n else float("nan"),
        "score": _median([p["score"] for p in mine]),
        "median_abs_m": _median([p["median_abs_m"] for p in mine]),
        "inliers": _median([p["inliers"] for p in mine]),
        "scale": _median(scale, one), "t_cm": _median(t_cm, zero),
        "rot_deg": _median(rot, zero),
        "change_fraction": float(last.get("change_fraction", zero)),
        "change_bbox": last.get("change_bbox", ""),
        "change_lon_deg": float(last.get("change_lon_deg", float("nan"))),
        "change_lat_deg": float(last.get("change_lat_deg", float("nan"))),
    }  # fmt: skip


def aggregate_views(scene: str, views: list[str], pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per view of ``views`` (the columns :data:`VIEW_COLUMNS`) from the scene's
    ``pairs`` (columns ``view_a``, ``view_b``, ``diagnosis``, ``score``, ``median_abs_m``,
    ``inliers``, ``scale``, ``t_cm``, ``t_cm_b``, ``rot_deg``, ``change_*``), ranked worst
    first.

    >>> p = pd.DataFrame({"view_a": ["0"], "view_b": ["1"], "diagnosis": ["pose"],
    ...     "score": [0.3], "median_abs_m": [0.02], "inliers": [0.7], "scale": [1.0],
    ...     "t_cm": [5.0], "t_cm_b": [9.0], "rot_deg": [2.0], "change_view": [""],
    ...     "change_fraction": [0.0], "change_bbox": [""], "change_lon_deg": [0.0],
    ...     "change_lat_deg": [0.0]})
    >>> v = aggregate_views("s", ["0", "1", "2"], p)
    >>> v[["view", "flagged", "pairs", "t_cm"]].values.tolist()
    [['0', True, 1, 5.0], ['1', True, 1, 9.0], ['2', False, 0, nan]]
    """
    mine: dict[str, list] = {v: [] for v in views}
    for p in pairs.to_dict("records"):
        for v in (p["view_a"], p["view_b"]):
            mine.setdefault(v, []).append(p)
    rows = [_view_row(scene, v, mine[v]) for v in views]
    return rank_views(pd.DataFrame(rows, columns=VIEW_COLUMNS))


def rank_views(views: pd.DataFrame) -> pd.DataFrame:
    """Worst first: flagged views, then by the fraction of bad pairs, then by ``score`` (the
    median over its pairs of 1 - inlier fraction); views without pairs last."""
    key = views.assign(_f=views["flagged"].astype(bool), _b=views["bad_fraction"].fillna(-1),
                       _s=views["score"].fillna(-1))  # fmt: skip
    key = key.sort_values(["_f", "_b", "_s"], ascending=False, kind="stable")
    return key.drop(columns=["_f", "_b", "_s"]).reset_index(drop=True)
