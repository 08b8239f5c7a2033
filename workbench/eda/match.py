"""``workbench match``: dense correspondence between two views of a scene, visualised.

Writes into ``--out``: ``flow.npy`` (``(H, W, 2) float32``, ``uv_B - uv_A``), ``masks.png``
(red: valid, green: visible in B, blue: consistent), ``matches.png`` (A above B with lines for a
sample of consistent matches), ``flow.png`` (flow colour-coded: hue = direction,
value = magnitude), ``matches.csv`` (sampled ``u_a, v_a, u_b, v_b``) and ``covisibility.txt``
of the whole scene (left out, with a warning and exit 1, when another view of the scene cannot
be read or has no pose: only A and B decide whether the match runs).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from workbench.data.dataset import describe_dataset, index_spec, match_scene, require_depth
from workbench.data.layouts import load_view
from workbench.data.plausibility import warn_if_implausible
from workbench.data.validate import check_pose_units, check_range_units
from workbench.eda.scene_ranges import check_height
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence import (
    correspond,
    overlap,
    sample_matches,
    write_covisibility,
)
from workbench.geometry.correspondence_fast import covisibility_matrix_fast
from workbench.geometry.equirect import resize_range, resize_rgb
from workbench.io import claim_output_folder, save_npy, write_image, write_text_atomic
from workbench.viz.twoview import draw_matches, flow_to_rgb

__all__ = ["run"]


def _scene_covisibility(out: Path, recs: dict, loaded: dict, shrink, config) -> str:
    """``covisibility.txt`` and ``viewpoints.txt`` of the whole scene (its own view order,
    RealSee3D: ``viewpoints.txt``) into ``out``; ``""``, or why they were not written (a view
    of the scene that cannot be read or has no pose: the match of A and B stands)."""
    views = dict(loaded)
    try:
        for k in recs:
            if k not in views:
                views[k] = load_view(recs[k], config.root)
                if views[k].T_world_from_cam is not None:
                    check_pose_units(
                        views[k].T_world_from_cam, Path(config.root, recs[k].pose_path)
                    )
    except WorkbenchError as e:
        return f"the scene's covisibility.txt was not written: {e}"
    unposed = [k for k, v in views.items() if v.T_world_from_cam is None]
    if unposed:
        return f"the scene's covisibility.txt was not written: views {unposed} have no pose"
    ids = list(recs)
    small = [shrink(views[k]) for k in ids]
    cov = covisibility_matrix_fast(small, [views[k].T_world_from_cam for k in ids], config.tol)
    write_covisibility(out / "covisibility.txt", cov)
    write_text_atomic(out / "viewpoints.txt", "\n".join(ids) + "\n")
    return ""


def run(config) -> int:
    spec = describe_dataset(config.root, config)
    records = index_spec(spec)
    require_depth(records, config.root, "correspondence needs measured depth")
    warn_if_implausible(spec, records)
    sid = match_scene(records, config.scene, config.root)
    recs = {r.view_id: r for r in records if r.scene_id == sid}
    for vid in (config.a, config.b):
        if vid not in recs:
            raise WorkbenchError(
                f"--a/--b: scene {sid} has no view {vid!r} (views: {', '.join(sorted(recs))})",
                config.root,
            )
    views = {k: load_view(recs[k], config.root) for k in (config.a, config.b)}
    for k, v in views.items():
        if v.T_world_from_cam is None:
            raise WorkbenchError(f"view {k} has no pose: correspondence needs poses", config.root)
        check_pose_units(v.T_world_from_cam, Path(config.root, recs[k].pose_path))
        check_range_units(v.range_m, Path(config.root) / recs[k].depth_path)

    check_height(config.height, min(v.range_m.shape[0] for v in views.values()),
                 "0 works at their own height")  # fmt: skip

    def at(v):
        h = config.height or v.range_m.shape[0]
        rgb = resize_rgb(v.rgb, h) if v.rgb.shape[0] != h else v.rgb
        rng = resize_range(v.range_m, h) if v.range_m.shape[0] != h else v.range_m
        return rgb, rng

    (rgb_a, ra), (rgb_b, rb) = at(views[config.a]), at(views[config.b])
    Ta, Tb = views[config.a].T_world_from_cam, views[config.b].T_world_from_cam
    corr = correspond(ra, Ta, Tb, rb, tol=config.tol)
    out = claim_output_folder(config.out, "match")
    save_npy(out / "flow.npy", corr.flow)
    masks = np.stack([corr.valid, corr.visible, corr.consistent], -1).astype(np.uint8) * 255
    write_image(out / "masks.png", masks)
    m = sample_matches(corr, config.matches, seed=0)
    write_image(out / "matches.png", draw_matches(rgb_a, rgb_b, m))
    write_image(out / "flow.png", flow_to_rgb(corr.flow, corr.consistent))
    write_text_atomic(
        out / "matches.csv",
        "u_a,v_a,u_b,v_b\n" + "".join(f"{a:.2f},{b:.2f},{c:.3f},{d:.3f}\n" for a, b, c, d in m),
    )
    missing = _scene_covisibility(out, recs, views, lambda v: at(v)[1], config)
    if missing:
        print(f"workbench: warning: {missing}", file=sys.stderr)
    summary = {
        "scene": sid,
        "a": config.a,
        "b": config.b,
        "overlap": round(overlap(corr), 4),
        "consistent_of_visible": round(
            float(corr.consistent.sum() / max(corr.visible.sum(), 1)), 4
        ),
        "baseline_m": round(float(np.linalg.norm(Ta[:3, 3] - Tb[:3, 3])), 3),
    }
    write_text_atomic(out / "match.json", json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 1 if missing else 0  # 1: the match written, the scene's covisibility not
