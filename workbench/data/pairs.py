"""Pairs of views of the same scene for two-view training, chosen by overlap and baseline.

:func:`pair_candidates` computes, for every ordered pair in each scene of a split, the baseline
and the consistent overlap (:func:`workbench.geometry.correspondence_fast.overlap_fast`, at a small
``height`` so it is fast), cached as parquet keyed by the split's records; :func:`select_pairs`
filters them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.layouts import load_range, scene_covisibility
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence_fast import overlap_fast, prepare_target
from workbench.geometry.equirect import resize_range
from workbench.geometry.pose import read_pose
from workbench.io import atomic_path

__all__ = ["pair_candidates", "select_pairs", "training_pairs"]


def _scene_pairs(records, root, sid: str, idx: list[int], height: int) -> list[dict]:
    """Ordered pairs of one scene. A RealSee3D scene's shipped ``covisibility.txt`` gives the
    overlap when present (else it is computed); views on different floors never pair."""
    shipped = scene_covisibility(root, [records[i] for i in idx])
    if shipped is None:
        views = {i: load_range(records[i], root) for i in idx}  # depth and pose, no RGB
        poses = {i: T for i, (_, T) in views.items()}
        small = {i: resize_range(r, height) for i, (r, _) in views.items()}
        targets = {i: prepare_target(r) for i, r in small.items()}
    else:
        poses = {
            i: read_pose(Path(root) / records[i].pose_path) if records[i].pose_path else None
            for i in idx
        }
    rows = []
    for a, i in enumerate(idx):
        for b, j in enumerate(idx):
            Ti, Tj = poses[i], poses[j]
            if i == j or Ti is None or Tj is None or records[i].floor != records[j].floor:
                continue
            if shipped is None:
                ov = overlap_fast(small[i], Ti, Tj, targets[j])
            else:
                ov = float(shipped[a, b])
            rows.append(
                {
                    "scene_id": sid,
                    "view_a": records[i].view_id,
                    "view_b": records[j].view_id,
                    "idx_a": i,
                    "idx_b": j,
                    "baseline_m": float(np.linalg.norm(Ti[:3, 3] - Tj[:3, 3])),
                    "overlap": ov,
                }
            )
    return rows


def pair_candidates(records, root, height: int = 64, cache=None) -> pd.DataFrame:
    """Rows ``scene_id, view_a, view_b, idx_a, idx_b, baseline_m, overlap`` for every ordered
    pair of views in the same scene (indices into ``records``)."""

    key = hashlib.sha256(
        (
            "|".join(f"{r.scene_id}/{r.view_id}:{r.depth_path}:{r.pose_path}" for r in records)
            + f"|{height}"
        ).encode()
    ).hexdigest()[:16]
    if cache and Path(cache).is_file():
        try:
            df = pd.read_parquet(cache)
            if len(df) and df.attrs.get("key", df.get("key", pd.Series([""])).iloc[0]) == key:
                return df.drop(columns=["key"])
        except Exception:  # noqa: BLE001  (a broken cache is recomputed)
            pass
    by_scene: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_scene.setdefault(r.scene_id, []).append(i)
    rows = []
    for sid, idx in by_scene.items():
        rows += _scene_pairs(records, root, sid, idx, height)
    df = pd.DataFrame(
        rows, columns=["scene_id", "view_a", "view_b", "idx_a", "idx_b", "baseline_m", "overlap"]
    )
    if cache:
        with atomic_path(cache) as tmp:
            df.assign(key=key).to_parquet(tmp, index=False)
    return df


def select_pairs(
    pairs: pd.DataFrame,
    min_overlap: float = 0.3,
    max_overlap: float = 1.0,
    min_baseline: float = 0.0,
    max_baseline: float = np.inf,
) -> pd.DataFrame:
    """Pairs whose overlap and baseline fall in the given ranges."""
    m = pairs["overlap"].between(min_overlap, max_overlap)
    m &= pairs["baseline_m"].between(min_baseline, max_baseline)
    return pairs[m].reset_index(drop=True)


def training_pairs(
    records, root, min_overlap: float, max_overlap: float, cache, csv
) -> pd.DataFrame:
    """The pairs of a split's ``records`` whose overlap lies in ``[min_overlap, max_overlap]``
    (:func:`pair_candidates` cached in ``cache``, then :func:`select_pairs`).

    Raises:
        WorkbenchError: naming ``csv`` when none does, with the dataset and what the pairs it
            has overlap, so a folder of rotations only (overlap 1) or of far-apart views reads
            as what it is.
    """
    cands = pair_candidates(records, root, cache=cache)
    pairs = select_pairs(cands, min_overlap, max_overlap)
    if pairs.empty:
        lo, hi = (cands.overlap.min(), cands.overlap.max()) if len(cands) else (0, 0)
        n = len(cands) // 2  # candidates hold both orders of a pair
        seen = (f"its one pair overlaps {lo:.2f}" if n == 1 else
                f"its {n} pairs overlap {lo:.2f}–{hi:.2f}")  # fmt: skip
        seen = seen if n else "no two views share a scene"
        raise WorkbenchError(
            f"no view pairs with overlap in [{min_overlap}, {max_overlap}] among the "
            f"{len(records)} views of {root} ({seen}; --min-overlap, --max-overlap, or in a "
            "notebook the config's min_overlap, max_overlap)",
            csv,
        )
    return pairs
