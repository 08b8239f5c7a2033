"""Interactive 3D views of point clouds (plotly ``Scatter3d``) and the ``pointcloud`` command.

A cloud is reduced to a point budget with open3d voxel grids (the voxel size is searched so the
result fits the budget), coloured by RGB, range (turbo) or normal, and drawn with the cameras
(centre and a short forward/up axis per view) in the world frame (y down: the figure flips y so
the floor is at the bottom).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from workbench.data.dataset import describe_dataset, index_spec, match_scene
from workbench.data.layouts import load_view
from workbench.data.plausibility import warn_if_implausible
from workbench.data.validate import check_pose_units, check_range_units
from workbench.errors import WorkbenchError
from workbench.geometry.mesh import read_obj
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import (
    PointCloud,
    fuse,
    rgbd_to_pointcloud,
    voxel_downsample,
    write_ply,
)
from workbench.io import check_output_file, check_outside, check_replaceable, write_text_atomic
from workbench.viz.colorize import colorize_depth

__all__ = [
    "COLOR_MODES",
    "fit_budget",
    "point_colors",
    "pointcloud_figure",
    "posed_records",
    "scene_cloud",
    "scene_records",
    "run",
]

COLOR_MODES = ("rgb", "range", "normal")


def fit_budget(pc: PointCloud, budget: int, seed: int = 0) -> PointCloud:
    """Exactly ``min(budget, N)`` points, a seeded uniform random sample of the cloud (in
    their original order). Unlike a voxel grid, which keeps every sparse far point and thins
    the dense room, a random sample keeps each part of the scene in proportion to how much of
    it was observed."""
    if len(pc) <= budget:
        return pc
    keep = np.sort(np.random.default_rng(seed).choice(len(pc), budget, replace=False))
    return PointCloud(
        pc.points[keep],
        None if pc.colors is None else pc.colors[keep],
        None if pc.normals is None else pc.normals[keep],
    )


def point_colors(pc: PointCloud, mode: str, origin=None) -> np.ndarray:
    """``(N, 3) uint8`` colours: ``rgb`` (the cloud's), ``range`` (distance to ``origin``,
    turbo) or ``normal`` (``(n + 1) / 2``)."""

    if mode not in COLOR_MODES:
        raise ValueError(f"colour mode must be one of {COLOR_MODES}, got {mode!r}")
    if mode == "rgb" and pc.colors is not None:
        c = pc.colors
        return (c * 255).astype(np.uint8) if c.dtype != np.uint8 else c
    if mode == "normal" and pc.normals is not None:
        return ((np.asarray(pc.normals) + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    if len(pc) == 0:
        return np.zeros((0, 3), np.uint8)
    o = np.zeros(3) if origin is None else np.asarray(origin, np.float64)
    d = np.linalg.norm(pc.points - o, axis=1).astype(np.float32)
    if not np.isfinite(d).any():
        return np.zeros((len(d), 3), np.uint8)
    return colorize_depth(d[None], float(np.percentile(d, 2)), float(np.percentile(d, 98)))[0]


def _finite_points(pc: PointCloud) -> PointCloud:
    """``pc`` without its points of a non-finite coordinate; a cloud left without points is
    an error naming ``pc``."""
    p = np.asarray(pc.points)
    if p.ndim != 2 or p.shape[1:] != (3,):
        raise WorkbenchError(f"pc.points must be (N, 3), got {p.shape}")
    keep = np.isfinite(p).all(axis=1)
    if not keep.any():
        raise WorkbenchError(
            f"pc has no finite point ({len(p)} points: was its depth map empty or all invalid?)"
        )
    if keep.all():
        return pc
    pick = lambda a: None if a is None else np.asarray(a)[keep]  # noqa: E731
    return PointCloud(p[keep], pick(pc.colors), pick(pc.normals))


def _check_overlays(cameras, mesh) -> None:
    """``cameras``: ``(4, 4)`` poses; ``mesh``: ``(V, 3)`` vertices and ``(T, 3)`` triangles."""
    for i, T in enumerate(cameras or []):
        if np.shape(T) != (4, 4):
            raise WorkbenchError(f"cameras[{i}] must be a (4, 4) pose, got {np.shape(T)}")
    if mesh is not None:
        v, t = (np.asarray(a) for a in mesh)
        if v.ndim != 2 or v.shape[1:] != (3,) or t.ndim != 2 or t.shape[1:] != (3,):
            raise WorkbenchError(
                f"mesh must be (V, 3) vertices and (T, 3) triangles, got {v.shape} and {t.shape}"
            )


def pointcloud_figure(
    pc: PointCloud,
    color: str = "rgb",
    budget: int = 50_000,
    cameras: list[np.ndarray] | None = None,
    title: str = "",
    point_size: float = 1.5,
    mesh: tuple[np.ndarray, np.ndarray] | None = None,
) -> go.Figure:
    """A ``Scatter3d`` figure of ``pc`` (trace 0: points; then one trace per camera; then the
    scene ``mesh`` ``(vertices, triangles)``, world frame, as a translucent overlay). Points
    with a non-finite coordinate are left out.

    Raises:
        WorkbenchError: naming the argument: ``pc`` without a finite point (a cloud of an
            empty or all-invalid depth map), a camera that is not ``(4, 4)``, a mesh that is
            not ``(V, 3)`` vertices and ``(T, 3)`` triangles.
    """
    pc = _finite_points(pc)
    _check_overlays(cameras, mesh)
    origin = None if not cameras else cameras[0][:3, 3]
    small = fit_budget(pc, budget)
    rgb = point_colors(small, color, origin)
    p = small.points
    fig = go.Figure(
        go.Scatter3d(
            x=p[:, 0],
            y=p[:, 2],
            z=-p[:, 1],
            mode="markers",
            name=f"points ({len(p)})",
            marker={"size": point_size, "color": [f"rgb({r},{g},{b})" for r, g, b in rgb]},
            hoverinfo="skip",
        )
    )
    for i, T in enumerate(cameras or []):
        c = T[:3, 3]
        fwd, up = T[:3, 2] * 0.4, -T[:3, 1] * 0.25
        xs = [c[0], c[0] + fwd[0], None, c[0], c[0] + up[0]]
        ys = [c[2], c[2] + fwd[2], None, c[2], c[2] + up[2]]
        zs = [-c[1], -(c[1] + fwd[1]), None, -c[1], -(c[1] + up[1])]
        fig.add_trace(
            go.Scatter3d(
                x=xs,
                y=ys,
                z=zs,
                mode="lines+markers",
                name=f"camera {i}",
                marker={"size": 3, "color": "red"},
                line={"color": "red", "width": 4},
            )
        )
    if mesh is not None:
        v, t = mesh
        fig.add_trace(
            go.Mesh3d(
                x=v[:, 0],
                y=v[:, 2],
                z=-v[:, 1],
                i=t[:, 0],
                j=t[:, 1],
                k=t[:, 2],
                name="mesh (obj/)",
                opacity=0.25,
                color="lightgrey",
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title=title,
        template="plotly_white",
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        scene={
            "aspectmode": "data",
            "xaxis_title": "x",
            "yaxis_title": "z",
            "zaxis_title": "-y (up)",
        },
    )
    return fig


def scene_records(records, root, scene: str = "", views=()) -> tuple[list, str]:
    """The records of one scene to fuse, in index order, and the scene id: ``scene`` may be a
    unique id prefix (default: the first scene); without ``views``, the first floor's views
    (a fused cloud stays within one floor, RealSee3D ``floor.txt``).

    Raises:
        WorkbenchError: naming ``root``: no scene or several match, a missing view id.
    """
    sid = match_scene(records, scene, root)
    recs = [r for r in records if r.scene_id == sid and (not views or r.view_id in views)]
    missing = set(views) - {r.view_id for r in recs}
    if missing:
        have = ", ".join(r.view_id for r in records if r.scene_id == sid)
        raise WorkbenchError(
            f"--views: scene {sid} has no view(s) {sorted(missing)} (views: {have})", root
        )
    if not views and recs:
        recs = [r for r in recs if r.floor == recs[0].floor]
    return recs, sid


def posed_records(recs, sid: str) -> tuple[list, str]:
    """The records to fuse in one world frame and a warning (``""`` when there is none).

    A single view without a pose is fused alone in its camera frame, without a warning. Of
    several views, those without a pose are left out (their identity is not where they were
    taken) and named; when no view has a pose, the first view is kept alone in its camera
    frame and the warning says so.
    """
    unposed = [r.view_id for r in recs if not r.pose_path]
    if len(recs) < 2 or not unposed:
        return recs, ""
    if len(unposed) == len(recs):
        first = recs[0].view_id
        return recs[:1], (
            f"scene {sid}: no view has a pose; view {first} alone, in its camera frame "
            "(choose one view: --views, or the view picker)"
        )
    kept = [r for r in recs if r.pose_path]
    return kept, (
        f"scene {sid}: view(s) {', '.join(unposed)} have no pose and are left out of the fused "
        f"cloud of {len(kept)} posed view(s)"
    )


def scene_cloud(
    records,
    root,
    scene: str = "",
    views=(),
    stride: int = 1,
    voxel: float = 0.0,
    notes=None,
    errors=None,
) -> tuple[PointCloud, list[np.ndarray], str]:
    """Fuse the views of one scene in the world frame (each view's points moved by its
    ``T_world_from_cam``; points ``(N, 3) float32`` metres, RGB colours, normals).

    Args:
        notes: when a list, the warning of :func:`posed_records` is appended to it (views
            without a pose left out).
        errors: when a list, a view that cannot be read (or whose depth has no valid pixel)
            is appended to it as its :class:`WorkbenchError` and left out, the others fused;
            otherwise its error is raised.

    Returns:
        ``(cloud, poses, scene_id)``: ``poses`` of the fused views (identity for a lone view
        without a pose: its camera frame).

    Raises:
        WorkbenchError: see :func:`scene_records`; a scene without depth (pose-only: pointing
            to ``workbench infer ROOT --ply``); the first view's error when no view can be read
            (a broken view, a depth without a valid pixel), and any view's without ``errors``.
    """
    recs, sid = scene_records(records, root, scene, views)
    other = [] if views else [r.view_id for r in records if r.scene_id == sid and r not in recs]
    if other and notes is not None:  # views on other floors (RealSee3D floor.txt)
        notes.append(
            f"scene {sid}: view(s) {', '.join(other)} on another floor than view "
            f"{recs[0].view_id} are left out (one floor per cloud; --views chooses)"
        )
    if recs and not any(r.has_depth for r in recs):
        what = "dataset" if not any(r.has_depth for r in records) else f"scene {sid}"
        raise WorkbenchError(
            f"{what} has no depth (pose-only: panoramas and poses); for a fused cloud of "
            f"predicted depth run: workbench infer {shlex.quote(str(root))} --out predicted --ply",
            root,
        )
    recs, note = posed_records(recs, sid)
    if note and notes is not None:
        notes.append(note)
    clouds, poses, broken = [], [], []
    for r in recs:
        try:
            v = load_view(r, root)
            if not (v.range_m > 0).any():
                raise WorkbenchError("depth has no valid pixel", Path(root) / r.depth_path)
            check_range_units(v.range_m, Path(root) / r.depth_path)
            if v.T_world_from_cam is not None:
                check_pose_units(v.T_world_from_cam, Path(root, r.pose_path))
        except WorkbenchError as e:  # one broken view: the others are fused, it is named
            broken.append(e)
            continue
        T = np.eye(4) if v.T_world_from_cam is None else v.T_world_from_cam
        clouds.append(rgbd_to_pointcloud(v.rgb, v.range_m, T, range_to_normals(v.range_m), stride))
        poses.append(T)
    if broken and (not clouds or errors is None):
        raise broken[0]
    if errors is not None:
        errors.extend(broken)
    cloud = fuse(clouds)
    if voxel > 0:
        cloud = voxel_downsample(cloud, voxel)
    return cloud, poses, sid


def _looks_html(head: bytes) -> bool:
    """An HTML page's first bytes (what ``--html`` writes, or any page the user may replace)."""
    return head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))


def run(config) -> int:
    """``workbench pointcloud``: outputs are checked before any work."""
    check_outside(config.out, "--out", config.root, "the dataset root")
    check_output_file(config.out, ".ply")
    check_replaceable(config.out, "--out", "a PLY point cloud", lambda b: b.startswith(b"ply"))
    if config.html:
        if Path(config.html).resolve() == Path(config.out).resolve():
            raise WorkbenchError(f"the same file as --out ({config.html})", "--html")
        check_outside(config.html, "--html", config.root, "the dataset root")
        check_replaceable(config.html, "--html", "an HTML page", _looks_html)
        check_output_file(config.html)
    elif config.mesh:  # the mesh is drawn in the HTML page only
        raise WorkbenchError("draws the mesh in the --html page: give --html too", "--mesh")
    spec = describe_dataset(config.root, config)
    records = index_spec(spec)
    warn_if_implausible(spec, records)
    notes: list[str] = []
    broken: list[WorkbenchError] = []
    cloud, poses, sid = scene_cloud(
        records, config.root, config.scene, config.views, config.stride, config.voxel, notes, broken
    )
    for note in notes:
        print(f"workbench: warning: {config.root}: {note}", file=sys.stderr)
    for e in broken:
        print(f"workbench: warning: view left out: {e}", file=sys.stderr)
    mesh = None
    if config.html and config.mesh:  # before anything is written
        objs = sorted((Path(config.root) / sid / "obj").glob("*.obj"))
        if not objs:
            raise WorkbenchError(f"--mesh: scene {sid} has no obj/*.obj to overlay", config.root)
        mesh = read_obj(objs[0])
    write_ply(config.out, cloud)
    views = f"{len(poses)} view{'' if len(poses) == 1 else 's'}"
    print(f"pointcloud: scene {sid}, {views}, {len(cloud)} points -> {config.out}")
    if config.html:
        fig = pointcloud_figure(cloud, "rgb", config.budget, poses, f"scene {sid}", mesh=mesh)
        write_text_atomic(Path(config.html), fig.to_html(include_plotlyjs="inline"))
    return 1 if broken else 0  # 1: written without the views named above
