"""The per-view table: one row per view with pose, camera height and depth statistics.

Columns: ``scene_id, view_id, floor`` (RealSee3D ``floor.txt``), ``raw_images`` (seed
``pan/images`` shots of the view), ``width, height`` (pixels), camera centre ``cx, cy, cz`` (metres,
world frame; NaN without a pose), ``yaw_deg, pitch_deg, roll_deg`` (scipy ``"YXZ"``, see
:func:`workbench.geometry.pose.yaw_pitch_roll`), ``height_m`` (camera height above the floor,
from the depth of the nadir cap: median vertical drop of the points with latitude > 70°, using the
pose's rotation so tilt does not bias it), depth statistics over valid pixels ``d_min, d_p05,
d_median, d_p95, d_max, d_mean`` (metres), ``invalid_frac``, and per latitude band
(``ceiling`` lat < -30°, ``horizon``, ``floor`` lat > 30°; latitude grows downwards, DESIGN §1)
a histogram of range in :data:`BIN_EDGES` as ``hist_<band>`` (int64 counts, list column); with
a class table and ``segment.png``, the median range of floor, wall and ceiling pixels
(``d_floor_class``, ``d_wall_class``, ``d_ceiling_class``).

Rows are cached in a parquet file keyed by each view's file paths, sizes and modification times;
a rerun recomputes only views whose files changed, and the cache is rewritten atomically as
views complete (at most every chunk of views and :data:`SAVE_EVERY_S` seconds), so an
interrupted run resumes about where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from workbench.data.layouts import ViewRecord, load_view
from workbench.engine import iter_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.equirect import lonlat_grid, unit_rays
from workbench.geometry.pose import camera_centre, yaw_pitch_roll
from workbench.io import atomic_path, read_image

__all__ = [
    "BANDS",
    "BIN_EDGES",
    "SURFACES",
    "view_stats",
    "view_key",
    "view_table",
    "read_cache",
    "class_depths",
    "read_class_table",
]

BANDS = ("ceiling", "horizon", "floor")
SAVE_EVERY_S = 10.0  # the view-table cache is rewritten at most this often during a run
BIN_EDGES = np.concatenate([[0.0], np.geomspace(0.1, 50.0, 64)])  # metres, log-spaced
NADIR_LAT = np.deg2rad(70.0)
BAND_LAT = np.deg2rad(30.0)


def read_class_table(path: str | os.PathLike) -> dict[int, str]:
    """A ``segment.png`` class table: JSON ``{"id": "name"}`` or ``{"name": id}`` (RealSee3D's
    ``metadata/class_mapping_{real,synthetic}.json``) → ``{id: name}``.

    Raises:
        WorkbenchError: naming ``path`` when it is not such a table.
    """
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8-sig"))
        if isinstance(d, list):
            d = {i: name for i, name in enumerate(d)}
        items = d.items()
        if all(str(k).lstrip("-").isdigit() for k, _ in items):
            return {int(k): str(v) for k, v in items}
        return {int(v): str(k) for k, v in items}
    except (OSError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"not a class table ({type(e).__name__})", path) from None


def view_key(rec: ViewRecord, root: Path) -> str:
    """Cache key: the view's files with their sizes and modification times."""
    parts = []
    for rel in (rec.rgb_path, rec.depth_path, rec.pose_path, rec.mask_path, rec.segment_path):
        if not rel:
            continue
        try:
            st = (root / rel).stat()
            parts.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{rel}:missing")
    return "|".join(parts)


def view_stats(rgb_shape, range_m: np.ndarray, T_world_from_cam: np.ndarray | None) -> dict:
    """Statistics of one view (see the module doc for the keys).

    Args:
        rgb_shape: ``(H, W, 3)`` of the RGB image. range_m: ``(H, W)`` metres (<= 0 invalid).
        T_world_from_cam: ``(4, 4)`` or ``None``.
    """

    h, w = range_m.shape
    valid = np.isfinite(range_m) & (range_m > 0)
    d = range_m[valid]
    row = {
        "width": int(rgb_shape[1]),
        "height": int(rgb_shape[0]),
        "invalid_frac": float(1.0 - valid.mean()),
    }
    if d.size:
        q = np.percentile(d, [0, 5, 50, 95, 100])
        row.update(
            d_min=q[0], d_p05=q[1], d_median=q[2], d_p95=q[3], d_max=q[4], d_mean=float(d.mean())
        )
    else:
        row.update({k: np.nan for k in ("d_min", "d_p05", "d_median", "d_p95", "d_max", "d_mean")})
    _, lat = lonlat_grid(h, w)
    bands = {
        "ceiling": lat < -BAND_LAT,
        "horizon": np.abs(lat) <= BAND_LAT,
        "floor": lat > BAND_LAT,
    }
    for name, rows in bands.items():
        vals = range_m[rows][valid[rows]]
        row[f"hist_{name}"] = np.histogram(vals, BIN_EDGES)[0].astype(np.int64)
    R = np.eye(3) if T_world_from_cam is None else T_world_from_cam[:3, :3]
    cap = lat > NADIR_LAT
    rays = unit_rays(h, w)[cap]  # (n_rows_in_cap, W, 3)
    rc = range_m[cap]
    ok = np.isfinite(rc) & (rc > 0)
    drop = (rays @ R.T)[..., 1] * rc  # world y points down: the vertical drop below the camera
    row["height_m"] = float(np.median(drop[ok])) if ok.any() else np.nan
    if T_world_from_cam is not None:
        c = camera_centre(T_world_from_cam)
        yaw, pitch, roll = np.rad2deg(yaw_pitch_roll(T_world_from_cam))
        row.update(cx=c[0], cy=c[1], cz=c[2], yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)
    else:
        row.update({k: np.nan for k in ("cx", "cy", "cz", "yaw_deg", "pitch_deg", "roll_deg")})
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}


SURFACES = ("floor", "wall", "ceiling")


def class_depths(segment: np.ndarray, range_m: np.ndarray, classes: dict[int, str]) -> dict:
    """Median range (metres) of the pixels of each surface in :data:`SURFACES`, from a
    ``segment.png`` ``(H, W) uint8`` and a class table ``{id: name}`` (a class counts as
    "floor" when its name contains "floor", and so on); NaN where a surface has no pixel.

    >>> seg = np.array([[1, 1, 2, 2]], np.uint8); r = np.array([[1.0, 3.0, 2.0, 0.0]])
    >>> class_depths(seg, r, {1: "floor", 2: "wall"})["d_floor_class"]
    2.0
    """
    valid = np.isfinite(range_m) & (range_m > 0)
    out = {}
    for surface in SURFACES:
        ids = [i for i, name in classes.items() if surface in name.lower()]
        m = np.isin(segment, ids) & valid
        out[f"d_{surface}_class"] = float(np.median(range_m[m])) if m.any() else float("nan")
    return out


def _raw_images(rec: ViewRecord, root: Path) -> int:
    """Raw shots of a seed view in ``<scene>/pan/images`` (files named after the view, or a
    sub-folder named after it); listed, never required."""
    folder = root / rec.scene_id / "pan" / "images"
    if rec.layout != "seed" or not folder.is_dir():
        return 0
    sub = folder / rec.view_id
    if sub.is_dir():
        return sum(1 for p in sub.iterdir() if p.is_file())
    return sum(1 for p in folder.iterdir() if p.is_file() and p.name.startswith(rec.view_id))


def _compute(rec: ViewRecord, root: Path, classes: dict[int, str] | None = None) -> dict:
    v = load_view(rec, root)
    row = {
        "scene_id": rec.scene_id,
        "view_id": rec.view_id,
        "key": view_key(rec, root),
        "floor": rec.floor,
        "raw_images": _raw_images(rec, root),
        **view_stats(v.rgb.shape, v.range_m, v.T_world_from_cam),
    }
    if classes and rec.segment_path:
        seg = read_image(root / rec.segment_path, cv2.IMREAD_GRAYSCALE)
        if seg.shape != v.range_m.shape:
            h, w = v.range_m.shape
            seg = cv2.resize(seg, (w, h), interpolation=cv2.INTER_NEAREST)
        row.update(class_depths(seg, v.range_m, classes))
    return row


def _compute_or_error(rec: ViewRecord, root: Path, classes=None) -> dict | WorkbenchError:
    try:
        return _compute(rec, root, classes)
    except WorkbenchError as e:
        return e


def _view_row(task: tuple) -> dict | WorkbenchError:
    """One engine task: ``(record, root, classes)`` → the view's row or its error."""
    rec, root, classes = task
    return _compute_or_error(rec, Path(root), classes)


def read_cache(path: Path) -> pd.DataFrame | None:
    """The cached table, or ``None`` when missing or unreadable (it is then rebuilt)."""
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception:  # noqa: BLE001  (a corrupt cache is rebuilt, never trusted)
        return None


def _write_cache(df: pd.DataFrame, path: Path) -> None:

    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def view_table(
    records: list[ViewRecord],
    root: str | os.PathLike,
    cache: str | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = False,
    chunk: int = 256,
    errors: list | None = None,
    classes: dict[int, str] | None = None,
    scheduler: str = "",
) -> pd.DataFrame:
    """The per-view table of ``records`` (module doc), from ``cache`` where files are unchanged.

    Args:
        errors: when a list, a view that cannot be read is appended to it as
            ``{"scene_id", "view_id", "error"}`` and left out of the table; otherwise its
            :class:`WorkbenchError` is raised.
        classes: a ``segment.png`` class table ``{id: name}``: adds the median range of the
            floor, wall and ceiling pixels (``d_floor_class``, ...) of views with segments.
        workers, scheduler: where the views are read (:func:`workbench.engine.iter_tasks`:
            ``workers`` threads here by default, or a Dask cluster at ``scheduler``); the cache
            is saved as views complete, at most every ``chunk`` views and
            :data:`SAVE_EVERY_S` seconds (a whole-table write each time: at 300k views a
            write per chunk would cost more than the statistics).

    Returns:
        A DataFrame with one row per readable record, in record order.
    """

    root = Path(root)
    cache = Path(cache) if cache else None
    old = read_cache(cache) if cache else None
    known = {} if old is None else {k: i for i, k in enumerate(old["key"])}
    keys = [view_key(r, root) for r in records]
    todo = [i for i, k in enumerate(keys) if k not in known]
    rows: dict[str, dict] = {}
    if old is not None:
        keep = old[old["key"].isin(set(keys))]
        rows = {r["key"]: r for r in keep.to_dict("records")}
    tasks = [(records[i], str(root), classes) for i in todo]
    saved = (0, time.monotonic())  # views done and time at the last cache write
    engine = iter_tasks(_view_row, tasks, workers, scheduler, "view stats", progress, "threads")
    for done, ((rec, _, _), row) in enumerate(engine, 1):
        if isinstance(row, Exception) and not isinstance(row, WorkbenchError):
            raise row  # a bug, not a bad file
        if isinstance(row, WorkbenchError):
            if errors is None:
                raise row
            errors.append({"scene_id": rec.scene_id, "view_id": rec.view_id, "error": str(row)})
        else:
            rows[row["key"]] = row
        due = done - saved[0] >= chunk and time.monotonic() - saved[1] >= SAVE_EVERY_S
        if cache and (due or done == len(tasks)):
            _write_cache(pd.DataFrame(list(rows.values())), cache)
            saved = (done, time.monotonic())
    df = pd.DataFrame([rows[k] for k in keys if k in rows])
    if cache and not todo and old is not None and len(old) != len(df):
        _write_cache(df, cache)
    return df
