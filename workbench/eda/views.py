"""The per-view table: one row per view with pose, camera height and depth statistics.

Columns: ``scene_id, view_id, floor`` (RealSee3D ``floor.txt``), ``raw_images`` (seed
``pan/images`` shots of the view), ``has_depth`` (False for a pose-only view: a panorama and a
pose, no depth file), ``width, height`` (pixels), camera centre ``cx, cy, cz`` (metres, world
frame; NaN without a pose), ``yaw_deg, pitch_deg, roll_deg`` (scipy ``"YXZ"``, see
:func:`workbench.geometry.pose.yaw_pitch_roll`), ``height_m`` (camera height above the floor,
metres, :func:`workbench.geometry.camera_height.camera_height`: the median vertical drop of the
floor pixels of ``segment.png`` when a class table names them, else of the nadir cap (latitude
> 70°), else of the lowest valid 5° band below 30° (real LiDAR masks end near 68°); the pose's
rotation is used so tilt does not bias it) and ``height_method`` (which of those three, or
``"none"`` where the height is NaN), depth statistics over valid pixels ``d_min, d_p05,
d_median, d_p95, d_max, d_mean`` (metres), ``invalid_frac``, and per latitude band
(``ceiling`` lat < -30°, ``horizon``, ``floor`` lat > 30°; latitude grows downwards, README,
*Geometry convention*)
a histogram of range in :data:`BIN_EDGES` as ``hist_<band>`` (int64 counts, list column); with
a class table and ``segment.png``, the median range of floor, wall and ceiling pixels
(``d_floor_class``, ``d_wall_class``, ``d_ceiling_class``).

Class tables (:func:`read_class_table`) are read as RealSee3D ships them
(``metadata/class_mapping_{real,synthetic}.json``: ``{"subset", "classes": [{"id", "name",
...}]}``) or as plain ``{"id": "name"}`` JSON. RealSee3D's real and synthetic captures use
different label spaces (real ``1 = ceiling, 2 = floor, 3 = wall``; synthetic ``76 =
basic/ground/floor``, ...), so each view takes the table of its kind (:func:`capture_kind`:
only real captures ship ``pano_mask.png``, ``DATASET_STRUCTURE.md``).

Rows are cached in a parquet file keyed by each view's file paths, sizes and modification times
(and the class ids used); a rerun recomputes only views whose files changed, and the cache is
rewritten atomically as views complete (at most every chunk of views and :data:`SAVE_EVERY_S`
seconds), so an interrupted run resumes about where it stopped. An empty, foreign or corrupt
cache is treated as absent (:func:`read_cache`) and an empty table is never written as one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from workbench.data.layouts import ViewRecord, load_view
from workbench.engine import iter_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.camera_height import camera_height
from workbench.geometry.equirect import lonlat_grid
from workbench.geometry.pose import camera_centre, yaw_pitch_roll
from workbench.io import atomic_path, read_image

__all__ = [
    "BANDS",
    "BIN_EDGES",
    "SURFACES",
    "SURFACE_NAMES",
    "ROW_COLUMNS",
    "view_stats",
    "view_key",
    "view_table",
    "read_cache",
    "check_views_cache",
    "class_depths",
    "read_class_table",
    "find_class_tables",
    "capture_kind",
    "surface_ids",
    "class_table_summary",
]

BANDS = ("ceiling", "horizon", "floor")
SAVE_EVERY_S = 10.0  # the view-table cache is rewritten at most this often during a run
BIN_EDGES = np.concatenate([[0.0], np.geomspace(0.1, 50.0, 64)])  # metres, log-spaced
BAND_LAT = np.deg2rad(30.0)
KINDS = ("real", "synthetic")  # RealSee3D's two label spaces
# every row has these columns; a cache without them (another version, another file) is not used
ROW_COLUMNS = (
    "scene_id", "view_id", "key", "floor", "raw_images", "has_depth", "width", "height",
    "invalid_frac", "d_min", "d_p05", "d_median", "d_p95", "d_max", "d_mean",
    *(f"hist_{b}" for b in BANDS), "height_m", "height_method",
    "cx", "cy", "cz", "yaw_deg", "pitch_deg", "roll_deg",
)  # fmt: skip

SURFACES = ("floor", "wall", "ceiling")
# A class is a surface when its name, or one "/"-separated level of it (RealSee3D's synthetic
# names are taxonomy paths), is one of these words: RealSee3D real "floor", "wall",
# "background_wall", "ceiling"; synthetic "basic/ground/*", "basic/wall/*", "basic/top_wall/*",
# "floor", "wall", "ceiling"; never "floor_lamp", "floor_to_ceiling_window", "outdoor_ground".
SURFACE_NAMES = {
    "floor": ("floor", "ground"),
    "wall": ("wall", "background_wall"),
    "ceiling": ("ceiling", "top_wall"),
}

_EXPECTED_TABLE = (
    'expected RealSee3D\'s {"subset", "classes": [{"id", "name", ...}]} or {"id": "name"}'
)


def _parse_class_table(path: Path) -> tuple[dict[int, str], str]:
    """``({id: name}, kind)`` of a class table file; ``kind`` is ``"real"``, ``"synthetic"``
    (its ``subset`` field, else its name ``class_mapping_<kind>.json``) or ``""``."""
    d = json.loads(path.read_text(encoding="utf-8-sig"))
    kind = ""
    if isinstance(d, dict) and isinstance(d.get("classes"), list):  # as RealSee3D ships it
        kind = str(d.get("subset") or "")
        names = {int(c["id"]): str(c["name"]) for c in d["classes"]}
    else:
        if isinstance(d, list):
            d = dict(enumerate(d))
        items = d.items()
        if all(str(k).lstrip("-").isdigit() for k, _ in items):
            names = {int(k): str(v) for k, v in items}
        else:
            names = {int(v): str(k) for k, v in items}
    if kind not in ("", *KINDS):
        raise ValueError(f"subset {kind!r} is not one of {KINDS}")
    if not kind:
        m = re.fullmatch(r"class_mapping_(real|synthetic)\.json", path.name)
        kind = m.group(1) if m else ""
    if not names:
        raise ValueError("no classes")
    numbers = [n for n in names.values() if n.lstrip("-").replace(".", "", 1).isdigit()]
    if numbers:  # [1, 2, 3]: ids where names belong
        raise ValueError(f"class names must be words, got {numbers[0]!r}")
    return names, kind


def read_class_table(path: str | os.PathLike, with_kind: bool = False):
    """A ``segment.png`` class table → ``{id: name}`` (with ``with_kind``: ``({id: name},
    kind)``, ``kind`` ``"real"``, ``"synthetic"`` or ``""`` for a table of every view).

    Reads RealSee3D's ``metadata/class_mapping_{real,synthetic}.json`` exactly as shipped
    (``{"subset": "real", "classes": [{"id": 1, "name": "ceiling", ...}, ...]}``), JSON
    ``{"id": "name"}``, ``{"name": id}`` or a list of names.

    Raises:
        WorkbenchError: naming ``path`` when it is not such a table.
    """
    path = Path(path)
    try:
        names, kind = _parse_class_table(path)
    except (OSError, ValueError, TypeError, AttributeError, KeyError, UnicodeDecodeError) as e:
        why = str(e) if type(e) is ValueError else type(e).__name__
        raise WorkbenchError(f"not a class table ({why}; {_EXPECTED_TABLE})", path) from None
    return (names, kind) if with_kind else names


def find_class_tables(root: str | os.PathLike, given: str = "") -> dict[str, dict[int, str]]:
    """The class tables of a dataset by capture kind (:func:`capture_kind`; ``""``: for every
    view): ``given`` (``--classes``: a table file, or a folder holding
    ``class_mapping_{real,synthetic}.json``), else the root's ``metadata/`` folder; ``{}``
    when there is none. A table that declares its kind serves only views of that kind."""
    folder = Path(given) if given else Path(root) / "metadata"
    if given and not folder.is_dir():
        names, kind = read_class_table(given, with_kind=True)
        return {kind: names}
    out = {}
    for kind in KINDS:
        path = folder / f"class_mapping_{kind}.json"
        if path.is_file():
            names, declared = read_class_table(path, with_kind=True)
            out[declared or kind] = names
    if given and not out:
        raise WorkbenchError("no class_mapping_real.json or class_mapping_synthetic.json", given)
    return out


def capture_kind(rec: ViewRecord) -> str:
    """``"real"`` or ``"synthetic"`` for a RealSee3D view (``DATASET_STRUCTURE.md``: only
    real-world captures ship ``pano_mask.png``, for their blind spots; rendered ones have full
    coverage and no mask), ``""`` for other layouts."""
    if rec.layout != "realsee3d":
        return ""
    return "real" if rec.mask_path else "synthetic"


def surface_ids(classes: dict[int, str]) -> dict[str, tuple[int, ...]]:
    """Class ids of each surface of :data:`SURFACES` (rule: :data:`SURFACE_NAMES`).

    >>> surface_ids({1: "ceiling", 2: "floor", 3: "wall", 109: "floor_air_conditioner"})
    {'floor': (2,), 'wall': (3,), 'ceiling': (1,)}
    """
    out = {}
    for surface, words in SURFACE_NAMES.items():
        ids = (i for i, name in classes.items() if set(name.lower().split("/")) & set(words))
        out[surface] = tuple(sorted(ids))
    return out


def view_key(
    rec: ViewRecord, root: Path, surfaces: dict[str, tuple[int, ...]] | None = None
) -> str:
    """Cache key: the view's files with their sizes and modification times, how its depth is
    decoded (units per metre, invalid value: a new ``--encoding``, ``dataset.json`` or
    ``depth_scale.txt`` recomputes the view), and the class ids of its surfaces when it has a
    segment and a class table (a new table recomputes the view)."""
    parts = [f"decode:{rec.depth_scale!r}:{rec.depth_invalid}"]
    for rel in (rec.rgb_path, rec.depth_path, rec.pose_path, rec.mask_path, rec.segment_path):
        if not rel:
            continue
        try:
            st = (root / rel).stat()
            parts.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{rel}:missing")
    if surfaces and rec.segment_path:
        digest = hashlib.sha1(repr(sorted(surfaces.items())).encode()).hexdigest()[:12]
        parts.append(f"classes:{digest}")
    return "|".join(parts)


def view_stats(
    rgb_shape,
    range_m: np.ndarray,
    T_world_from_cam: np.ndarray | None,
    floor_mask: np.ndarray | None = None,
) -> dict:
    """Statistics of one view (see the module doc for the keys).

    Args:
        rgb_shape: ``(H, W, 3)`` of the RGB image. range_m: ``(H, W)`` metres (<= 0 invalid).
        T_world_from_cam: ``(4, 4)`` or ``None``.
        floor_mask: ``(H, W)`` bool, the floor pixels of a segmentation (optional): the camera
            height comes from them when there are enough.
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
    R = None if T_world_from_cam is None else T_world_from_cam[:3, :3]
    row["height_m"], row["height_method"] = camera_height(range_m, R, floor_mask)
    if T_world_from_cam is not None:
        c = camera_centre(T_world_from_cam)
        yaw, pitch, roll = np.rad2deg(yaw_pitch_roll(T_world_from_cam))
        row.update(cx=c[0], cy=c[1], cz=c[2], yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll)
    else:
        row.update({k: np.nan for k in ("cx", "cy", "cz", "yaw_deg", "pitch_deg", "roll_deg")})
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in row.items()}


def class_depths(segment: np.ndarray, range_m: np.ndarray, classes: dict) -> dict:
    """Median range (metres) of the pixels of each surface in :data:`SURFACES`, from a
    ``segment.png`` ``(H, W) uint8`` and a class table ``{id: name}`` (surfaces by
    :func:`surface_ids`) or the surfaces' ids ``{surface: (id, ...)}``; NaN where a surface
    has no valid pixel.

    >>> seg = np.array([[1, 1, 2, 2]], np.uint8); r = np.array([[1.0, 3.0, 2.0, 0.0]])
    >>> class_depths(seg, r, {1: "floor", 2: "wall"})["d_floor_class"]
    2.0
    """
    ids = classes if set(classes) <= set(SURFACES) else surface_ids(classes)
    valid = np.isfinite(range_m) & (range_m > 0)
    out = {}
    for surface in SURFACES:
        m = np.isin(segment, ids.get(surface, ())) & valid
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


FLOOR_AT_ZERO = ("zind",)  # layouts whose world frame puts the floor at y = 0


def _compute(rec: ViewRecord, root: Path, surfaces: dict | None = None) -> dict:
    """The row of one view; ``surfaces``: ``{surface: (class id, ...)}`` of its class table."""
    v = load_view(rec, root)
    classes, floor_mask = {}, None
    if surfaces and rec.segment_path:
        seg = read_image(root / rec.segment_path, cv2.IMREAD_GRAYSCALE)
        if seg.shape != v.range_m.shape:
            h, w = v.range_m.shape
            seg = cv2.resize(seg, (w, h), interpolation=cv2.INTER_NEAREST)
        classes = class_depths(seg, v.range_m, surfaces)
        floor_mask = np.isin(seg, surfaces["floor"])
    row = {
        "scene_id": rec.scene_id,
        "view_id": rec.view_id,
        "key": view_key(rec, root, surfaces),
        "floor": rec.floor,
        "raw_images": _raw_images(rec, root),
        "has_depth": rec.has_depth,
        **view_stats(v.rgb.shape, v.range_m, v.T_world_from_cam, floor_mask),
        **classes,
    }
    if not rec.has_depth:  # no depth file: nothing is invalid, there is nothing
        row["invalid_frac"] = float("nan")
    if rec.layout in FLOOR_AT_ZERO and v.T_world_from_cam is not None and not rec.has_depth:
        # the world's floor is y = 0 (y down): the camera's height is -y of its centre
        row["height_m"], row["height_method"] = -float(v.T_world_from_cam[1, 3]), "pose"
    return row


def floor_error(rec: ViewRecord, root: Path) -> WorkbenchError | None:
    """The error of a RealSee3D view whose ``floor.txt`` is there but does not hold one floor
    index (the dataset index reads it as no floor; EDA lists the view instead of grouping it
    under a wrong floor); ``None`` for every other view."""
    if rec.layout != "realsee3d" or rec.floor:
        return None
    f = (root / rec.rgb_path).parent / "floor.txt"
    try:
        words = f.read_text(encoding="utf-8-sig", errors="replace").split()
    except OSError:
        return None
    if len(words) == 1:
        return None
    return WorkbenchError(f"floor.txt must hold one floor index, got {len(words)} words", f)


def _compute_or_error(rec: ViewRecord, root: Path, surfaces=None) -> dict | WorkbenchError:
    try:
        return _compute(rec, root, surfaces)
    except WorkbenchError as e:
        return e


def _view_row(task: tuple) -> dict | WorkbenchError:
    """One engine task: ``(record, root, surfaces)`` → the view's row or its error."""
    rec, root, surfaces = task
    return _compute_or_error(rec, Path(root), surfaces)


def check_views_cache(path: str | os.PathLike) -> None:
    """Before any work: a parquet file at ``path`` that is not a views cache (no ``key``
    column: another table of the user's) is refused, naming ``--cache``; a cache of another
    version is rebuilt (:func:`read_cache`).

    Raises:
        WorkbenchError: naming ``--cache``.
    """
    path = Path(path)
    if not path.is_file():
        return
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    except Exception:  # noqa: BLE001  (an unreadable cache of ours: rebuilt by read_cache)
        return
    if "key" not in names:
        raise WorkbenchError(
            f"{path} is a parquet table but not a views cache (no 'key' column): name a new "
            "file, or move it away",
            "--cache",
        )


def read_cache(path: Path, quiet: bool = False) -> pd.DataFrame | None:
    """The cached table, or ``None`` when it is missing, unreadable, empty or not a view table
    of this version (a killed run's leftover, another file): it is then rebuilt, never
    trusted. An existing file that is not used is named in one line on stderr (unless
    ``quiet``)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001  (a corrupt cache is rebuilt, never trusted)
        why = f"unreadable ({type(e).__name__})"
    else:
        missing = [c for c in ROW_COLUMNS if c not in df.columns]
        if df.empty:
            why = "empty"
        elif missing:
            why = f"not a view table of this version (no column {missing[0]!r})"
        elif df["key"].isna().any():
            why = "rows without a key"
        else:
            return df
    if not quiet:
        print(f"eda: {path}: cache not used ({why}); recomputing", file=sys.stderr)
    return None


def _write_cache(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` over the cache atomically; an empty table is never written (a run in which
    every view failed leaves the previous cache, or none)."""
    if df.empty:
        return
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def _tables_by_kind(classes: dict | None) -> dict[str, dict[int, str]]:
    """``classes`` as ``{kind: {id: name}}`` (a single ``{id: name}`` serves every view)."""
    if not classes:
        return {}
    if all(isinstance(v, dict) for v in classes.values()):
        return dict(classes)
    return {"": dict(classes)}


def _surfaces_for(records: list[ViewRecord], classes: dict | None) -> list[dict | None]:
    """Per record, the class ids of its surfaces from the table of its kind (None: no table)."""
    tables = _tables_by_kind(classes)
    ids = {kind: surface_ids(t) for kind, t in tables.items()}
    return [ids.get(_table_of(capture_kind(rec), tables)) for rec in records]


def _table_of(kind: str, tables: dict) -> str | None:
    """The key in ``tables`` of the table a view of capture ``kind`` takes (None: none)."""
    if kind and kind in tables:
        return kind
    return "" if "" in tables else None


def class_table_summary(records: list[ViewRecord], classes: dict | None) -> pd.DataFrame:
    """Which class table the views with a ``segment.png`` used: ``capture`` (``real``,
    ``synthetic``; ``all`` for a table of every view), ``classes`` (0: no table, so no
    floor / wall / ceiling distances), ``floor_ids, wall_ids, ceiling_ids`` (the ids counted as
    each surface, comma-separated) and ``views``."""
    tables = _tables_by_kind(classes)
    used: dict[tuple[str, str | None], int] = {}
    for r in records:
        if r.segment_path:
            kind = capture_kind(r)
            key = _table_of(kind, tables)
            k = (key, None) if key is not None else (kind, "none")
            used[k] = used.get(k, 0) + 1
    rows = []
    for key, t in tables.items():
        ids = surface_ids(t)
        rows.append({"capture": key or "all", "classes": len(t), "views": used.get((key, None), 0),
                     **{f"{s}_ids": ",".join(map(str, ids[s])) for s in SURFACES}})  # fmt: skip
    for (kind, flag), n in used.items():
        if flag == "none":
            rows.append({"capture": kind or "all", "classes": 0, "views": n,
                         **{f"{s}_ids": "" for s in SURFACES}})  # fmt: skip
    cols = ["capture", "classes", "floor_ids", "wall_ids", "ceiling_ids", "views"]
    return pd.DataFrame(rows, columns=cols)


def view_table(
    records: list[ViewRecord],
    root: str | os.PathLike,
    cache: str | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = False,
    chunk: int = 256,
    errors: list | None = None,
    classes: dict | None = None,
    scheduler: str = "",
) -> pd.DataFrame:
    """The per-view table of ``records`` (module doc), from ``cache`` where files are unchanged.

    Args:
        errors: when a list, a view that cannot be read is appended to it as
            ``{"scene_id", "view_id", "error"}`` and left out of the table; otherwise its
            :class:`WorkbenchError` is raised.
        classes: a ``segment.png`` class table ``{id: name}`` for every view, or tables by
            capture kind ``{"real": {...}, "synthetic": {...}}`` (:func:`find_class_tables`,
            :func:`capture_kind`): adds the median range of the floor, wall and ceiling pixels
            (``d_floor_class``, ...) of views with segments, and their floor pixels give the
            camera height.
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
    surfaces = _surfaces_for(records, classes)
    keys = [view_key(r, root, s) for r, s in zip(records, surfaces, strict=True)]
    known = set() if old is None else set(old["key"])
    for i, e in [(i, floor_error(r, root)) for i, r in enumerate(records)]:
        if e is not None:  # listed (or raised) like an unreadable view, and left out
            if errors is None:
                raise e
            errors.append(
                {"scene_id": records[i].scene_id, "view_id": records[i].view_id, "error": str(e)}
            )
            keys[i] = ""
    todo = [i for i, k in enumerate(keys) if k and k not in known]
    rows: dict[str, dict] = {}
    if old is not None:
        keep = old[old["key"].isin(set(keys))]
        rows = {r["key"]: r for r in keep.to_dict("records")}
    tasks = [(records[i], str(root), surfaces[i]) for i in todo]
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
