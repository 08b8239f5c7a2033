"""ZInD (Zillow Indoor Dataset) tours: panoramas and camera poses, no depth (a pose-only layout).

A tour is a folder ``<tour>/{zind_data.json, panos/*.jpg, floor_plans/}`` (ZInD's
``data_organization.md``); the dataset root is one tour or a folder of tours (one scene each,
named after its folder). Every panorama listed in the JSON's ``merger`` tree
(``floor_<f>/complete_room_<c>/partial_room_<p>/pano_<n>``) is one view: its id is the stem of
its ``image_path`` (``floor_01_partial_room_01_pano_14``), its floor the floor key
(``floor_01``), its ``depth_path`` ``""`` and its ``pose_path`` the tour's ``zind_data.json``
(``""`` on a floor whose ``scale_meters_per_coordinate`` is ``null``: no pose in metres). Views
are in floor, then pano number order.

**Poses**, from ZInD's ``code/transformations.py`` and ``data_organization.md``:

- a panorama's layout is in its local 2-D frame ``(x, y)`` with the camera at ``(0, 0)`` and
  ``z`` up, in units where the camera height is ``camera_height`` (normalised to 1.0);
- its pixel column is the azimuth ``θ = atan2(-x, y)`` (``θ = 0`` the centre column, growing to
  the right): the centre column looks along local ``+y``, the camera's right is local ``-x``;
  this ``(x, y, up)`` frame is left-handed;
- ``floor_plan_transformation`` ``{translation [tx, ty], rotation (degrees), scale}`` maps local to
  the floor's plan: ``g = scale · Rot(rotation) · l + t`` (``Transformation2D.to_global``;
  ``Rot`` turns ``+x`` towards ``+y``);
- ``scale_meters_per_coordinate[floor]`` is metres per plan unit (``null`` when uncalibrated).

The world of this project (gravity-aligned, **y down**) is the floor plan in metres with
``x = -g_x·m``, ``z = g_y·m`` and the floor at ``y = 0`` (``m`` metres per unit); the mirror in
``x`` makes it right-handed like the camera frame. Then
``T_world_from_cam = [Ry(θ) | m·(-tx, -camera_height·scale, ty)]`` with ``θ = rotation`` in
radians (``Ry(θ) = [[cos, 0, sin], [0, 1, 0], [-sin, 0, cos]]``): the yaw of this project
(``atan2(f_x, f_z)``) *is* ZInD's rotation, and the camera height above the floor is
``camera_height · scale · m`` metres (about 1.4 m on the sample tour). Each floor has its own
plan frame; poses of different floors are not registered to each other (fused clouds are per
floor).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from pathlib import Path, PurePosixPath

import numpy as np

from workbench.data.records import ViewRecord
from workbench.errors import WorkbenchError
from workbench.io import is_temporary

__all__ = [
    "ZIND_JSON",
    "ZindLayout",
    "is_zind_tour",
    "zind_T_world_from_cam",
    "zind_pose",
]

ZIND_JSON = "zind_data.json"


def is_zind_tour(d: Path) -> bool:
    """``d`` holds ``zind_data.json`` beside a ``panos/`` folder."""
    return (d / ZIND_JSON).is_file() and (d / "panos").is_dir()


def zind_T_world_from_cam(
    translation, rotation_deg: float, scale: float, camera_height: float, metres_per_unit: float
) -> np.ndarray:
    """``T_world_from_cam`` ``(4, 4)`` float64, metres, of one ZInD panorama (module doc).

    Args:
        translation: ``(tx, ty)`` plan units, the camera centre on its floor's plan.
        rotation_deg: the plan rotation of the panorama's local frame, degrees (= yaw).
        scale: plan units per local unit.
        camera_height: the camera height in local units (ZInD normalises it to 1.0).
        metres_per_unit: the floor's ``scale_meters_per_coordinate``.

    >>> T = zind_T_world_from_cam((2.0, 3.0), 90.0, 0.5, 1.0, 3.0)
    >>> np.round(T[:3], 6).tolist()
    [[0.0, 0.0, 1.0, -6.0], [0.0, 1.0, 0.0, -1.5], [-1.0, 0.0, 0.0, 9.0]]
    """
    th = math.radians(rotation_deg)
    c, s = math.cos(th), math.sin(th)
    tx, ty = (float(v) for v in translation)
    m = float(metres_per_unit)
    T = np.eye(4)
    T[:3, :3] = [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
    T[:3, 3] = [-tx * m, -camera_height * scale * m, ty * m]
    return T


def _number(x) -> float | None:
    """``x`` as a finite float, ``None`` when it is not one (bools refused)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _pano_number(key: str) -> int:
    m = re.fullmatch(r"pano_(\d+)", key)
    return int(m.group(1)) if m else -1


def _image_path(pano: dict, keys: tuple[str, ...], path: Path) -> str:
    """The pano's ``image_path`` relative to its tour, checked to stay inside it; ZInD's file
    name pattern when absent."""
    rel = pano.get("image_path")
    if rel is None:
        floor, _, partial, pano_key = keys
        return f"panos/{floor}_{partial}_{pano_key}.jpg"
    p = PurePosixPath(str(rel).replace("\\", "/"))
    if not isinstance(rel, str) or not rel or p.is_absolute() or ".." in p.parts:
        where = "/".join(keys)
        raise WorkbenchError(f"{where}: image_path {rel!r} is not a path inside the tour", path)
    return p.as_posix()


def _panos(merger: dict, path: Path) -> dict[str, tuple[tuple[str, ...], dict, str]]:
    """``{view id: (keys, pano dict, image path)}`` from the ``merger`` tree, in floor then pano
    number order (the first of two panos with one file wins)."""
    found = []
    for floor, rooms in merger.items():
        for complete, partials in _items(rooms, (floor,), path):
            for partial, panos in _items(partials, (floor, complete), path):
                for key, pano in _items(panos, (floor, complete, partial), path):
                    keys = (floor, complete, partial, key)
                    if not isinstance(pano, dict):
                        raise WorkbenchError(f"{'/'.join(keys)} is not an object", path)
                    found.append((floor, _pano_number(key), keys, pano))
    out: dict[str, tuple[tuple[str, ...], dict, str]] = {}
    for _, _, keys, pano in sorted(found, key=lambda f: (f[0], f[1], f[2])):
        rel = _image_path(pano, keys, path)
        out.setdefault(PurePosixPath(rel).stem, (keys, pano, rel))
    return out


def _items(d, keys: tuple[str, ...], path: Path):
    if not isinstance(d, dict):
        raise WorkbenchError(f"merger/{'/'.join(keys)} is not an object", path)
    return d.items()


@functools.lru_cache(maxsize=8)
def _tour_cached(path: str, mtime_ns: int, size: int):
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"not valid JSON ({e.__class__.__name__}: {e})", p) from None
    if not isinstance(d, dict) or not isinstance(d.get("merger"), dict):
        raise WorkbenchError("no 'merger' object (not ZInD's zind_data.json format)", p)
    scales = d.get("scale_meters_per_coordinate") or {}
    if not isinstance(scales, dict):
        raise WorkbenchError("scale_meters_per_coordinate must be an object by floor", p)
    return scales, _panos(d["merger"], p)


def _tour(path: Path):
    """``(scales by floor, panos by view id)`` of a tour's ``zind_data.json`` (cached by file
    size and modification time).

    Raises:
        WorkbenchError: naming the file: missing, not JSON, not ZInD's structure.
    """
    try:
        st = path.stat()
    except OSError:
        raise WorkbenchError(f"{ZIND_JSON} not found", path) from None
    return _tour_cached(str(path), st.st_mtime_ns, st.st_size)


def zind_pose(record: ViewRecord, root: str | os.PathLike) -> np.ndarray:
    """The record's ``T_world_from_cam`` ``(4, 4)`` float64, metres (module doc), from the
    tour's ``zind_data.json`` (``record.pose_path``).

    Raises:
        WorkbenchError: naming the JSON: the pano is not in it, its floor has no metric scale,
            its ``floor_plan_transformation`` or ``camera_height`` is not numbers.
    """
    path = Path(root) / record.pose_path
    scales, panos = _tour(path)
    if record.view_id not in panos:
        raise WorkbenchError(f"no pano with image {record.view_id} in merger", path)
    keys, pano, _ = panos[record.view_id]
    where = "/".join(keys)
    m = _number(scales.get(keys[0]))
    if m is None or m <= 0:
        got = scales.get(keys[0])
        raise WorkbenchError(
            f"scale_meters_per_coordinate of {keys[0]} must be a positive number, got {got!r}",
            path,
        )
    tf = pano.get("floor_plan_transformation")
    tf = tf if isinstance(tf, dict) else {}
    t = tf.get("translation")
    t = [_number(v) for v in t] if isinstance(t, list) and len(t) == 2 else [None]
    rot, scale = _number(tf.get("rotation")), _number(tf.get("scale"))
    height = _number(pano.get("camera_height", 1.0))
    if None in t or rot is None or scale is None or scale <= 0 or height is None:
        raise WorkbenchError(
            f"{where}: floor_plan_transformation must hold translation [x, y], rotation and"
            " scale > 0, and camera_height a number",
            path,
        )
    return zind_T_world_from_cam(t, rot, scale, height, m)


def _tour_records(root: Path, name: str, tour: Path) -> list[ViewRecord]:
    scales, panos = _tour(tour / ZIND_JSON)
    prefix = PurePosixPath(tour.relative_to(root).as_posix())
    pose = (prefix / ZIND_JSON).as_posix()
    return [
        ViewRecord(name, vid, (prefix / rel).as_posix(), "",
                   pose if scales.get(keys[0]) is not None else "", "zind", floor=keys[0])
        for vid, (keys, _, rel) in panos.items()
    ]  # fmt: skip


class ZindLayout:
    """ZInD tours (module doc): one tour at the root, or one per sub-folder (one scene each)."""

    name = "zind"
    looked_for = "zind_data.json beside panos/ (a ZInD tour, at the root or in its sub-folders)"

    @staticmethod
    def tours(root: Path) -> list[tuple[str, Path]]:
        """``(scene id, tour folder)`` of every tour under ``root``."""
        if is_zind_tour(root):
            return [(root.resolve().name, root)]
        subs = sorted(p for p in root.iterdir() if p.is_dir() and not is_temporary(p))
        return [(d.name, d) for d in subs if is_zind_tour(d)]

    @classmethod
    def detect(cls, root: Path) -> bool:
        return bool(cls.tours(root))

    @classmethod
    def index(cls, root: Path, resolution: str = "low", errors=None) -> list[ViewRecord]:
        """Every view of every tour; with an ``errors`` list a tour whose JSON cannot be read
        is appended there (a :class:`WorkbenchError` naming it) and skipped."""
        out: list[ViewRecord] = []
        for name, tour in cls.tours(root):
            try:
                out += _tour_records(root, name, tour)
            except WorkbenchError as e:
                if errors is None:
                    raise
                errors.append(e)
        return out
