"""Dataset layouts: one registry of readers, auto-detected from a root folder.

Every reader indexes a root into :class:`ViewRecord` rows (the same columns for every layout, the
columns of the split CSVs) and :func:`load_view` loads a record into a :class:`View`:
``rgb (H, W, 3) uint8``, ``range_m (H, W) float32`` metres (resized to the RGB size without
blending invalid pixels), ``T_world_from_cam (4, 4) float64 | None``.

Layouts (README, *Data*):

- ``seed``: ``<scene>/{pan/{high,low}/<view>.jpg, depth/<view>.png (uint16 mm), pose/<view>.txt,
  obj/, others/meta.json}``.
- ``realsee3d``: ``<scene>/viewpoints/<id>/{panoImage_1600.jpg, depth_image.png,
  depth_scale.txt, extrinsics.txt, pano_mask.png}``, views ordered by ``<scene>/viewpoints.txt``
  when present; metres = png / depth_scale; zeros (sparse LiDAR) and masked pixels are invalid.
- ``rgbd-folder``: ``rgb/<name>.{jpg,png}`` + ``depth/<name>.{png,exr,npy}`` (+ optional
  ``pose/<name>.txt``), at the root (one scene named after the folder) or in sub-folders (one
  scene each); PNG depth divided by a user-given scale (1000 mm, 4000 Matterport3D, 512
  Stanford2D3D with 65535 invalid), EXR and NPY in metres.
- ``zind``: ZInD tours, ``<tour>/{zind_data.json, panos/}`` (:mod:`workbench.data.zind`): pose-only
  (no depth), poses from each pano's floor-plan transformation and its floor's metric scale.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import shlex
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

from workbench.data.records import View, ViewRecord
from workbench.data.tfrecord import decode_example, read_record_at
from workbench.data.zind import ZindLayout, is_zind_tour, zind_pose
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence import read_covisibility
from workbench.geometry.equirect import resize_range
from workbench.geometry.pose import read_pose
from workbench.io import (
    decode_image,
    image_size,
    is_temporary,
    load_npy,
    read_csv_text,
    read_image,
    read_rgb,
    rgb_from_image,
)
from workbench.paths import confine

__all__ = [
    "ViewRecord",
    "check_record_scale",
    "View",
    "LAYOUTS",
    "detect_layout",
    "find_datasets",
    "scene_folder_above",
    "scene_covisibility",
    "files_by_stem",
    "pose_file_of",
    "index_layout",
    "load_view",
    "load_range",
    "depth_to_png",
    "read_record_pose",
    "read_depth",
    "MAX_PLAUSIBLE_RANGE_M",
]

MAX_PLAUSIBLE_RANGE_M = 1000.0  # larger values are sentinels (1e10, inf), mapped to invalid
RGB_EXTS = (".jpg", ".jpeg", ".png")
DEPTH_EXTS = (".png", ".exr", ".npy")


# --------------------------------------------------------------------------- decoding


def depth_from_png(d: np.ndarray, scale: float, invalid_value: int, path) -> np.ndarray:
    """Range in metres from a decoded 16-bit depth PNG: ``value / scale``, 0 and
    ``invalid_value`` invalid."""
    if d.dtype != np.uint16:
        raise WorkbenchError(f"depth PNG must be 16-bit, got {d.dtype} (an 8-bit image?)", path)
    if d.ndim != 2:
        raise WorkbenchError(f"depth PNG must be single-channel, got shape {d.shape}", path)
    if not scale > 0:
        raise WorkbenchError(f"depth scale must be > 0, got {scale}", path)
    r = d.astype(np.float32) / np.float32(scale)
    r[d == 0] = 0
    if invalid_value:
        r[d == invalid_value] = 0
    return r


def depth_to_png(range_m: np.ndarray, scale: float, invalid_value: int = 0) -> np.ndarray:
    """The inverse of :func:`depth_from_png`: ``(H, W)`` metres → ``uint16`` ``round(range ·
    scale)``; invalid ranges (``<= 0``, not finite) and ranges the code cannot hold (at or above
    ``65535 / scale``, or rounding to ``invalid_value``) written as ``invalid_value``, like a
    sensor past its range: never saturated at the largest code, which would read back as a
    real, wrong range (16.38 m at 4000 per metre).

    >>> depth_to_png(np.array([[0.0, 1.5, 20.0]]), 4000.0).tolist()
    [[0, 6000, 0]]
    """
    r = np.asarray(range_m, np.float64)
    code = np.rint(np.where(np.isfinite(r), r, 0.0) * scale)
    bad = ~(code > 0) | (code >= 65535) | (code == invalid_value)
    return np.where(bad, invalid_value, code).astype(np.uint16)


def read_depth(
    path: str | os.PathLike, scale: float = 1000.0, invalid_value: int = 0
) -> np.ndarray:
    """Decode a depth file into range in metres, ``(H, W) float32``, invalid pixels 0.

    Args:
        path: ``.png`` (uint16, metres = value / ``scale``), ``.exr`` (float metres) or ``.npy``
            (float metres, never unpickled).
        scale: PNG units per metre (1000 millimetres, 4000 Matterport3D, 512 Stanford2D3D).
        invalid_value: a PNG value that marks missing depth besides 0 (65535 Stanford2D3D).

    Raises:
        WorkbenchError: naming the file: unreadable, wrong dtype (8-bit PNG), wrong shape.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".npy":
        r = load_npy(path).astype(np.float32)
    elif ext == ".exr":
        d = read_image(path, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
        if d.ndim == 3:
            d = d[..., 0]
        r = d.astype(np.float32)
    elif ext == ".png":
        r = depth_from_png(read_image(path), scale, invalid_value, path)
    else:
        raise WorkbenchError(
            f"unknown depth format {ext!r} (expected {', '.join(DEPTH_EXTS)})", path
        )
    if r.ndim != 2:
        raise WorkbenchError(f"depth must be (H, W), got shape {r.shape}", path)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(r) | (r <= 0) | (r > MAX_PLAUSIBLE_RANGE_M)
    r[bad] = 0
    return r


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:

    m = read_image(path, cv2.IMREAD_GRAYSCALE)
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return m == 255  # RealSee3D: 255 = valid (DATASET_STRUCTURE.md)


def read_record_pose(record: ViewRecord, root: str | os.PathLike) -> np.ndarray:
    """The record's ``T_world_from_cam`` ``(4, 4)`` float64, metres: its pose file (a 4x4 text
    file), or for a ZInD view its pano's pose computed from the tour's ``zind_data.json``.

    Raises:
        WorkbenchError: naming the file: missing, malformed or not rigid.
    """
    if record.layout == "zind":
        return zind_pose(record, root)
    return read_pose(Path(root) / record.pose_path)


MAX_DEPTH_OVER_RGB = 4  # depth this many times the RGB's height is another view's, not a resize


def depth_beside_rgb(depth_shape: tuple, rgb_shape: tuple) -> str | None:
    """What is wrong with a depth map of ``(h, w)`` beside a panorama of ``(H, W)`` (both 2:1),
    or ``None``: depth is a resize of the view when its height is between ``max(8, H/16)``
    and :data:`MAX_DEPTH_OVER_RGB` times ``H`` (a 2x1 panorama beside a 512x256 map is not).

    >>> depth_beside_rgb((256, 512), (1, 2))
    'size mismatch: depth 512x256 beside RGB 2x1 (more than 4x larger)'
    >>> depth_beside_rgb((128, 256), (512, 1024)) is None
    True
    """
    (h, w), (rh, rw) = depth_shape[:2], rgb_shape[:2]
    beside = f"depth {w}x{h} beside RGB {rw}x{rh}"
    if h < max(8, rh // 16):
        return f"depth too small: {beside}"
    if h > MAX_DEPTH_OVER_RGB * rh:
        return f"size mismatch: {beside} (more than {MAX_DEPTH_OVER_RGB}x larger)"
    if rw * h != rh * w:
        return f"size mismatch: {beside} (not a resize)"
    return None


def load_view(record: ViewRecord, root: str | os.PathLike, with_pose: bool = True) -> View:
    """Load a record's RGB, range (resized to the RGB size) and pose.

    Raises:
        WorkbenchError: naming the file and the problem (non-2:1 image, unreadable file, ...).
    """
    root = Path(root)
    if record.layout == "shards":
        return _load_packed_view(record, root, with_pose)
    _check_realsee_folder(record, root)
    rgb_path = root / record.rgb_path
    rgb = read_rgb(rgb_path)
    h, w = rgb.shape[:2]
    if w != 2 * h:
        raise WorkbenchError(f"panorama must be 2:1, got {w}x{h}", rgb_path)
    r = _record_range(record, root, (h, w))
    T = read_record_pose(record, root) if with_pose and record.pose_path else None
    return View(record, rgb, r, T)


def load_range(
    record: ViewRecord, root: str | os.PathLike, with_pose: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """A record's ``(range_m, T_world_from_cam)`` as :func:`load_view` gives them, without
    decoding the panorama: range ``(H, W) float32`` metres at the RGB's size read from its
    header (the depth map's own size where the RGB cannot be read), pose ``(4, 4)`` or
    ``None``. For jobs that need only geometry (covisibility, consistency): a broken JPEG
    does not cost its view.

    Raises:
        WorkbenchError: naming the depth, mask or pose file that cannot be read.
    """
    root = Path(root)
    if record.layout == "shards":
        v = _load_packed_view(record, root, with_pose)
        return v.range_m, v.T_world_from_cam
    _check_realsee_folder(record, root)
    r = _record_range(record, root, _rgb_shape_or_none(root / record.rgb_path))
    T = read_record_pose(record, root) if with_pose and record.pose_path else None
    return r, T


def _check_realsee_folder(record: ViewRecord, root: Path) -> None:
    if record.layout == "realsee3d" and not (root / record.rgb_path).parent.is_dir():
        folder = (root / record.rgb_path).parent
        raise WorkbenchError("viewpoint listed in viewpoints.txt has no folder", folder)


def _rgb_shape_or_none(path: Path) -> tuple[int, int] | None:
    """``(H, W)`` of a 2:1 panorama from its PNG/JPEG header (decoded for other formats), or
    ``None`` where it cannot be read."""
    try:
        with open(path, "rb") as f:
            info = image_size(f.read(65536))
        h, w = (info[2], info[1]) if info and info[1] > 0 else read_rgb(path).shape[:2]
    except (OSError, WorkbenchError):
        return None
    return (h, w) if w == 2 * h else None


def check_record_scale(record: ViewRecord, root: Path) -> None:
    """A RealSee3D view indexed without a scale (its ``depth_scale.txt`` missing or bad): the
    error names that file and what is wrong with it, not the depth PNG."""
    if record.layout == "realsee3d" and not record.depth_scale > 0:
        _realsee_scale((Path(root) / record.depth_path).parent)


def _record_range(record: ViewRecord, root: Path, shape: tuple[int, int] | None) -> np.ndarray:
    """The record's range ``(H, W) float32`` metres, masked, resized to ``shape`` (the depth
    map's own size when ``None``); all zeros at ``shape`` for a view without depth."""
    if not record.has_depth:  # a pose-only dataset: every pixel invalid
        if shape is None:
            raise WorkbenchError("view has no depth and its panorama cannot be read",
                                 root / record.rgb_path)  # fmt: skip
        return np.zeros(shape, np.float32)
    depth_path = root / record.depth_path
    check_record_scale(record, root)
    r = read_depth(depth_path, record.depth_scale, record.depth_invalid)
    dh, dw = r.shape
    if dw != 2 * dh:
        raise WorkbenchError(f"depth must be 2:1, got {dw}x{dh}", depth_path)
    if record.mask_path:
        r[~read_mask(root / record.mask_path, r.shape)] = 0
    if shape is not None and r.shape != shape:
        problem = depth_beside_rgb(r.shape, shape)
        if problem:
            raise WorkbenchError(problem, depth_path)
        r = resize_range(r, *shape)
    return r


# --------------------------------------------------------------------------- readers


def pose_file_of(layout: str, rgb_path: str | os.PathLike) -> Path:
    """Where ``layout`` keeps the pose of the view whose panorama is ``rgb_path`` (relative or
    absolute, the result alike): RealSee3D's ``extrinsics.txt`` beside the panorama,
    ``<scene>/pose/<view>.txt`` for ``seed`` (panoramas in ``<scene>/pan/<res>/``) and
    ``pose/<name>.txt`` beside ``rgb/`` for ``rgbd-folder``.

    >>> pose_file_of("seed", "s1/pan/low/003.jpg").as_posix()
    's1/pose/003.txt'
    >>> pose_file_of("rgbd-folder", "tour/rgb/hall.png").as_posix()
    'tour/pose/hall.txt'
    """
    rgb = Path(rgb_path)
    if layout == "realsee3d":
        return rgb.parent / "extrinsics.txt"
    up = rgb.parents[2] if layout == "seed" else rgb.parents[1]
    return up / "pose" / f"{rgb.stem}.txt"


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def files_by_stem(folder: Path, exts) -> dict[str, Path]:
    """Data files of ``folder`` by stem: extensions case-insensitive (``000.JPG``), hidden and
    temporary files (crash leftovers of atomic writes) skipped; the first of ``exts`` wins."""
    if not folder.is_dir():
        return {}
    rank = {e: i for i, e in enumerate(exts)}
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        ext = p.suffix.lower()
        if ext not in rank or is_temporary(p):
            continue
        if p.is_file():
            old = found.get(p.stem)
            if old is None or rank[ext] < rank[old.suffix.lower()]:
                found[p.stem] = p
        else:
            is_link_loop(p)  # warned once; a loop is skipped like any non-file
    return found


_WARNED_LOOPS: set[str] = set()


def is_link_loop(p: Path) -> bool:
    """Whether ``p`` is a symbolic-link loop; the first time a path is found to be one, a
    warning naming it goes to stderr. Listings skip it (a loop is never a refusal of the
    dataset: the rest of the folder is read)."""
    if not p.is_symlink():
        return False
    try:
        os.stat(p)
        return False
    except OSError as e:
        if e.errno != errno.ELOOP:
            return False
    if str(p) not in _WARNED_LOOPS:
        _WARNED_LOOPS.add(str(p))
        print(f"workbench: warning: {p}: a symbolic-link loop, skipped", file=sys.stderr)
    return True


def _first(folder: Path, stem: str, exts) -> Path | None:
    return files_by_stem(folder, exts).get(stem)


def _scene_dirs(root: Path) -> list[Path]:
    """Sub-folders of ``root`` (temporaries skipped; symbolic-link loops skipped with a
    warning)."""
    found = []
    for p in sorted(root.iterdir()):
        if is_temporary(p):
            continue
        if p.is_dir():
            found.append(p)
        else:
            is_link_loop(p)  # warned once, skipped
    return found


def _each_scene(scenes, read, errors: list | None) -> list[ViewRecord]:
    """``read(scene)`` for every scene; with an ``errors`` list a scene that cannot be indexed
    is recorded there (and skipped) instead of stopping the whole index."""
    out: list[ViewRecord] = []
    for scene in scenes:
        try:
            out += read(scene)
        except WorkbenchError as e:
            if errors is None:
                raise
            errors.append(e)
    return out


def _seed_scale(scene: Path) -> float:
    meta = scene / "others/meta.json"
    if not meta.is_file():
        return 1000.0
    try:
        scale = float(json.loads(meta.read_text(encoding="utf-8-sig")).get("depth_scale", 1000.0))
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
        raise WorkbenchError(
            "meta.json is not valid JSON with a numeric depth_scale", meta
        ) from None
    if not (math.isfinite(scale) and scale > 0):
        raise WorkbenchError(f"depth_scale must be a positive number, got {scale}", meta)
    return scale


class SeedLayout:
    """``<scene>/pan/{low,high}``, ``depth/``, ``pose/``, ``others/meta.json``. Each scene's
    ``meta.json`` ``depth_scale`` decodes its PNGs unless ``depth_scale`` is given (a user's
    flag or encoding), which then applies to every scene; ``depth_invalid`` likewise."""

    name = "seed"
    looked_for = "<scene>/pan/ and <scene>/depth/ folders"

    def __init__(self, depth_scale: float | None = None, depth_invalid: int = 0):
        self.depth_scale, self.depth_invalid = depth_scale, depth_invalid

    @staticmethod
    def detect(root: Path) -> bool:
        return any(_is_seed_scene(d) for d in _scene_dirs(root))

    def scene(self, root: Path, scene: Path, resolution: str) -> list[ViewRecord]:
        scale = self.depth_scale or _seed_scale(scene)
        order = ("low", "high") if resolution == "low" else ("high", "low")
        rgb_files = {sub: files_by_stem(scene / "pan" / sub, RGB_EXTS) for sub in order}
        depth_files = files_by_stem(scene / "depth", DEPTH_EXTS)
        out = []
        for v in sorted(set(rgb_files["high"]) | set(rgb_files["low"]) | set(depth_files)):
            rgb = rgb_files[order[0]].get(v) or rgb_files[order[1]].get(v)
            depth = depth_files.get(v)
            pose = pose_file_of("seed", scene / "pan" / order[0] / f"{v}.jpg")
            out.append(
                ViewRecord(
                    scene.name,
                    v,
                    _rel(rgb, root) if rgb else f"{scene.name}/pan/{order[0]}/{v}.jpg",
                    _rel(depth, root) if depth else f"{scene.name}/depth/{v}.png",
                    _rel(pose, root) if pose.is_file() else "",
                    "seed",
                    scale,
                    self.depth_invalid,
                )
            )
        return out

    def index(self, root: Path, resolution: str = "low", errors=None) -> list[ViewRecord]:
        scenes = [d for d in _scene_dirs(root) if (d / "pan").is_dir()]
        return _each_scene(scenes, lambda d: self.scene(root, d, resolution), errors)


def realsee_folders(scene: Path) -> list[str]:
    """The viewpoint folders of a RealSee3D scene, sorted (temporary files skipped, symbolic-link
    loops skipped with a warning).

    Raises:
        WorkbenchError: naming a folder that is a symbolic link leading outside ``viewpoints/``.
    """
    vp = scene / "viewpoints"
    names = []
    for p in sorted(vp.iterdir()):
        if is_temporary(p):
            continue
        if not p.is_dir():
            is_link_loop(p)  # warned once, skipped
            continue
        try:
            confine(vp, p.name)
        except ValueError as e:
            raise WorkbenchError(f"viewpoint folder {e}", vp) from None
        names.append(p.name)
    return names


def realsee_listed(scene: Path) -> list[str] | None:
    """The viewpoint ids ``<scene>/viewpoints.txt`` lists, in its order (``None`` without the
    file); an entry that is not a plain folder name (``../x``, ``a/b``) or whose folder is a
    symbolic link leading outside ``viewpoints/`` is refused, naming its line: nothing is read
    outside the root."""
    order_file = scene / "viewpoints.txt"
    if not order_file.is_file():
        return None
    text = order_file.read_text(encoding="utf-8-sig", errors="replace")
    listed = []
    for i, ln in enumerate(text.splitlines(), start=1):
        if not ln.strip():
            continue
        vid = ln.split()[0]
        if vid in (".", "..") or "/" in vid or "\\" in vid:
            raise WorkbenchError(f"line {i}: viewpoint id {vid!r} is not a folder name", order_file)
        try:
            confine(scene / "viewpoints", vid)
        except ValueError as e:
            raise WorkbenchError(f"line {i}: viewpoint {e}", order_file) from None
        listed.append(vid)
    return listed


def _realsee_ids(scene: Path) -> list[str]:
    """Viewpoint ids in ``viewpoints.txt`` order (other folders after, sorted)."""
    ids, listed = realsee_folders(scene), realsee_listed(scene)
    if listed is None:
        return ids
    return listed + [i for i in ids if i not in set(listed)]


def _realsee_scale_or_zero(d: Path) -> float:
    """The view's scale, or 0 when its folder or ``depth_scale.txt`` is missing or bad: the
    view stays in the index (its scene is not dropped) and :func:`load_view` names the fault."""
    try:
        return _realsee_scale(d)
    except WorkbenchError:
        return 0.0


# PNG units per metre a depth_scale.txt may hold: under 1 a unit is coarser than a metre, over
# 65535 the largest 16-bit value is under a metre (a room does not fit)
DEPTH_SCALE_RANGE = (1.0, 65535.0)


def _realsee_scale(d: Path) -> float:
    """The view's ``depth_scale.txt``: exactly one finite number in :data:`DEPTH_SCALE_RANGE`.

    Raises:
        WorkbenchError: naming the file: missing, not one number, out of range.
    """
    scale_file = d / "depth_scale.txt"
    try:
        words = scale_file.read_text(encoding="utf-8-sig").split()
    except FileNotFoundError:
        raise WorkbenchError(
            "missing depth_scale.txt (required by RealSee3D, or pass --depth-scale N)", scale_file
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkbenchError(
            f"unreadable depth_scale.txt ({type(e).__name__})", scale_file
        ) from None
    try:
        (scale,) = (float(w) for w in words)
    except ValueError:
        shown = " ".join(words)[:40]
        raise WorkbenchError(
            f"depth_scale.txt must hold one number, got {shown!r} (or pass --depth-scale N)",
            scale_file,
        ) from None
    lo, hi = DEPTH_SCALE_RANGE
    if not (math.isfinite(scale) and lo <= scale <= hi):
        raise WorkbenchError(
            f"depth scale must be a positive number of PNG units per metre in [{lo:g}, {hi:g}],"
            f" got {scale:g}",
            scale_file,
        )
    return scale


def _realsee_floor(d: Path) -> str:
    """The view's floor index from ``floor.txt`` (``""`` when absent)."""
    f = d / "floor.txt"
    if not f.is_file():
        return ""
    words = f.read_text(encoding="utf-8-sig", errors="replace").split()
    if len(words) != 1:
        raise WorkbenchError("floor.txt must hold one floor index", f)
    return words[0]


def _realsee_floor_or_blank(d: Path) -> str:
    """:func:`_realsee_floor`, or ``""`` when ``floor.txt`` is malformed (``validate`` names
    it; the view is not dropped with its scene)."""
    try:
        return _realsee_floor(d)
    except WorkbenchError:
        return ""


def scene_covisibility(root: str | os.PathLike, records: list[ViewRecord]):
    """The covisibility matrix a RealSee3D scene ships (``<scene>/covisibility.txt``, rows in
    ``viewpoints.txt`` order), indexed like ``records`` (one scene's records, in index
    order); ``None`` when the scene has none or is of another layout."""
    if not records or records[0].layout != "realsee3d":
        return None
    scene = Path(root) / Path(records[0].rgb_path).parts[0]
    path = scene / "covisibility.txt"
    if not path.is_file():
        return None
    order = _realsee_ids(scene)
    m = read_covisibility(path, len(order))
    pos = [order.index(r.view_id) for r in records]
    return m[np.ix_(pos, pos)]


class RealSee3DLayout:
    """RealSee3D scenes; each view's PNG depth is decoded by its own ``depth_scale.txt`` (PNG
    units per metre) unless ``depth_scale`` (``--depth-scale``) overrides every view's (then a
    missing ``depth_scale.txt`` is fine and none is read)."""

    name = "realsee3d"
    looked_for = "<scene>/viewpoints/<id>/panoImage_1600.jpg"

    def __init__(self, depth_scale: float | None = None, depth_invalid: int = 0):
        self.depth_scale = depth_scale

    @staticmethod
    def detect(root: Path) -> bool:
        return any(_is_realsee_scene(d) for d in _scene_dirs(root))

    def scene(self, root: Path, scene: Path) -> list[ViewRecord]:
        out = []
        for vid in _realsee_ids(scene):
            d = scene / "viewpoints" / vid
            files = files_by_stem(d, RGB_EXTS)
            rgb = files.get("panoImage_1600") or files.get("panoImage")
            mask, pose = d / "pano_mask.png", pose_file_of("realsee3d", d / "panoImage.jpg")
            segment = d / "segment.png"
            out.append(
                ViewRecord(
                    scene.name,
                    vid,
                    _rel(rgb, root) if rgb else _rel(d / "panoImage_1600.jpg", root),
                    _rel(d / "depth_image.png", root),
                    _rel(pose, root) if pose.is_file() else "",
                    "realsee3d",
                    float(self.depth_scale or _realsee_scale_or_zero(d)),
                    0,
                    _rel(mask, root) if mask.is_file() else "",
                    _realsee_floor_or_blank(d),
                    _rel(segment, root) if segment.is_file() else "",
                )
            )
        return out

    def index(self, root: Path, resolution: str = "low", errors=None) -> list[ViewRecord]:
        scenes = [d for d in _scene_dirs(root) if _is_realsee_scene(d)]
        return _each_scene(scenes, lambda d: self.scene(root, d), errors)


def is_rgbd_scene(d: Path) -> bool:
    """``d`` holds ``rgb/`` and ``depth/`` (RGB-D) or ``rgb/`` and ``pose/`` (pose-only)."""
    return (d / "rgb").is_dir() and ((d / "depth").is_dir() or (d / "pose").is_dir())


def scene_folder_above(path: str | os.PathLike, levels: int = 3) -> Path | None:
    """The scene folder of a dataset that ``path`` lies in (or is), looking ``levels`` folders
    up: an rgbd-folder scene (``rgb/`` beside ``depth/`` or ``pose/``), a seed scene (``pan/``
    beside ``depth/``), a RealSee3D scene (``viewpoints/``), a ZInD tour (``panos/`` beside
    ``zind_data.json``); else ``None``. An output there would be read as the scene's files
    (``infer --out`` a dataset's ``rgb/`` folder added phantom views).

    >>> scene_folder_above("/no/such/folder") is None
    True
    """
    p = Path(path).resolve()
    for d in [p, *p.parents][: levels + 1]:
        if is_rgbd_scene(d) or _is_seed_scene(d) or _is_realsee_scene(d) or is_zind_tour(d):
            return d
    return None


def _is_seed_scene(d: Path) -> bool:
    return (d / "pan").is_dir() and (d / "depth").is_dir()


def _is_realsee_scene(d: Path) -> bool:
    return (d / "viewpoints").is_dir()


class RgbdFolderLayout:
    """``rgb/`` + ``depth/`` (+ ``pose/``) at the root or per sub-folder. A scene with ``rgb/``
    and ``pose/`` but no ``depth/`` folder is **pose-only** (e.g. a capture tour without depth):
    its records have ``depth_path == ""`` and load with every pixel invalid."""

    name = "rgbd-folder"
    looked_for = "rgb/ with depth/ or pose/ folders (at the root or in its sub-folders)"

    def __init__(self, depth_scale: float = 1000.0, depth_invalid: int = 0):
        self.depth_scale = depth_scale
        self.depth_invalid = depth_invalid

    @staticmethod
    def detect(root: Path) -> bool:
        return is_rgbd_scene(root) or any(is_rgbd_scene(d) for d in _scene_dirs(root))

    def scene(self, root: Path, name: str, d: Path) -> list[ViewRecord]:
        rgbs, depths = files_by_stem(d / "rgb", RGB_EXTS), files_by_stem(d / "depth", DEPTH_EXTS)
        pose_only = not (d / "depth").is_dir()
        out = []
        for s in sorted(rgbs):
            depth, pose = depths.get(s), pose_file_of("rgbd-folder", rgbs[s])
            if pose_only:
                depth_rel = ""
            else:
                depth_rel = _rel(depth, root) if depth else _rel(d / "depth" / f"{s}.png", root)
            out.append(
                ViewRecord(
                    name,
                    s,
                    _rel(rgbs[s], root),
                    depth_rel,
                    _rel(pose, root) if pose.is_file() else "",
                    "rgbd-folder",
                    float(self.depth_scale),
                    int(self.depth_invalid),
                )
            )
        return out

    @staticmethod
    def scenes(root: Path) -> list[tuple[str, Path]]:
        """``(scene id, folder)``: the root itself (named after it) or each scene sub-folder."""
        if is_rgbd_scene(root):
            return [(root.resolve().name, root)]
        return [(d.name, d) for d in _scene_dirs(root) if is_rgbd_scene(d)]

    def index(self, root: Path, resolution: str = "low", errors=None) -> list[ViewRecord]:
        return _each_scene(self.scenes(root), lambda nd: self.scene(root, *nd), errors)


SHARDS_FORMAT = "workbench-shards/1"


class ShardsLayout:
    """A packed dataset (``workbench pack``): TFRecord shards, ``index.csv`` (one row per view:
    its shard, byte offset and decoding) and ``manifest.json``. Records name the shard file in
    ``rgb_path`` and the record's byte offset in ``depth_path``."""

    name = "shards"
    looked_for = f"manifest.json of format {SHARDS_FORMAT}"

    @staticmethod
    def detect(root: Path) -> bool:
        m = root / "manifest.json"
        if not m.is_file():
            return False
        try:
            return json.loads(m.read_text(encoding="utf-8")).get("format") == SHARDS_FORMAT
        except (OSError, ValueError, AttributeError):
            return False

    @staticmethod
    def index(root: Path, resolution: str, errors: list | None) -> list[ViewRecord]:
        """The views of ``index.csv``; every row's shard must be a file inside ``root``
        (:func:`~workbench.paths.confine`) and its offset a byte count.

        Raises:
            WorkbenchError: naming ``index.csv`` and the row (its line) that is refused.
        """
        path = root / "index.csv"
        rows = list(csv.DictReader(io.StringIO(read_csv_text(path))))
        out = []
        for i, r in enumerate(rows, start=2):
            try:
                confine(root, r.get("shard") or "")
            except ValueError as e:
                raise WorkbenchError(f"line {i}: shard {e}", path) from None
            try:
                if int(r["offset"]) < 0:
                    raise ValueError(f"offset {r['offset']} < 0")
                out.append(
                    ViewRecord(r["scene_id"], r["view_id"], r["shard"], str(int(r["offset"])),
                               "packed" if r["has_pose"] == "1" else "", "shards",
                               float(r["depth_scale"]), int(r["depth_invalid"]), "", r["floor"])
                )  # fmt: skip
            except (KeyError, TypeError, ValueError) as e:
                raise WorkbenchError(
                    f"line {i}: not a shard index row ({type(e).__name__}: {e})", path
                ) from None
        return out


def _load_packed_view(record: ViewRecord, root: Path, with_pose: bool) -> View:
    """A view of a packed dataset, decoded exactly as :func:`load_view` decodes its source."""
    shard, offset = root / record.rgb_path, int(record.depth_path)
    data = read_record_at(shard, offset)
    try:
        f = decode_example(data)
        missing = [k for k in ("rgb", "depth", "depth_kind", "depth_shape") if k not in f]
        if missing:
            raise KeyError(missing[0])
    except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
        raise WorkbenchError(
            f"the record at byte {offset} is not a packed view ({type(e).__name__})", shard
        ) from None
    where = f"{shard.name} ({record.scene_id}/{record.view_id})"
    rgb = rgb_from_image(decode_image(f["rgb"], where), where)
    h, w = (int(x) for x in f["depth_shape"])
    if f["depth_kind"] == b"png16":
        r = depth_from_png(decode_image(f["depth"], where), record.depth_scale,
                           record.depth_invalid, where)  # fmt: skip
    else:
        r = np.frombuffer(zlib.decompress(f["depth"]), "<f4").reshape(h, w).copy()
    if r.shape != rgb.shape[:2]:
        r = resize_range(r, *rgb.shape[:2])
    T = None
    if with_pose and record.pose_path:
        T = np.frombuffer(f["pose"], "<f8").reshape(4, 4).copy()
    return View(record, rgb, r, T)


LAYOUTS = {
    "seed": SeedLayout,
    "realsee3d": RealSee3DLayout,
    "rgbd-folder": RgbdFolderLayout,
    "shards": ShardsLayout,
    "zind": ZindLayout,
}


def find_datasets(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """``(dataset root, layout)`` of every dataset in ``root``: ``root`` itself, or each of its
    sub-folders when it is a collection (e.g. ``data_samples/`` holding a seed, a RealSee3D and
    an rgbd-folder dataset). A folder whose sub-folders are seed, RealSee3D or ZInD roots (a
    folder of tours) is a collection; rgbd-folder scenes and ZInD tours beside them count as
    datasets of their own. Sub-folders that are all rgbd-folder scenes, or all ZInD tours, are
    the scenes of one dataset (``root``).

    Raises:
        WorkbenchError: when ``root`` is missing or holds no dataset.
    """
    root = Path(root)
    if not root.is_dir():
        raise WorkbenchError("dataset root is not a folder", root)
    nested = []
    for child in _scene_dirs(root):
        for name in ("seed", "realsee3d", "zind"):
            if LAYOUTS[name].detect(child):
                nested.append((child, name))
                break
        else:
            if is_rgbd_scene(child):
                nested.append((child, "rgbd-folder"))
    scene_like = [lay for d, lay in nested if lay == "rgbd-folder" or is_zind_tour(d)]
    if len(scene_like) < len(nested) or len(set(scene_like)) > 1:
        return nested
    return [(root, _detect_one(root))]


def _image_files(folder: Path) -> int:
    """How many image files ``folder`` holds (not its sub-folders; temporaries skipped)."""
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.suffix.lower() in RGB_EXTS and p.is_file()
               and not is_temporary(p))  # fmt: skip


def _detect_one(root: Path) -> str:
    for name, cls in LAYOUTS.items():
        if cls.detect(root):
            return name
    images = _image_files(root) or _image_files(root / "rgb")
    if images:  # panoramas alone: not a dataset, but a folder infer reads
        raise WorkbenchError(
            f"{images} images but no depth or poses: `workbench infer {shlex.quote(str(root))}` "
            "(or notebook 06) "
            "predicts their depth; for a dataset put them in rgb/ beside depth/ (metric depth) "
            "or pose/ (4x4 T_world_from_cam text files, pose-only)",
            root,
        )
    looked = "; ".join(f"{n}: {c.looked_for}" for n, c in LAYOUTS.items())
    raise WorkbenchError(f"unknown dataset layout (looked for {looked})", root)


def detect_layout(root: str | os.PathLike) -> str:
    """Name of the layout of ``root``.

    Raises:
        WorkbenchError: when ``root`` is missing, matches no layout (listing what was looked
            for), or holds several datasets (naming them: pass one of them).
    """
    found = find_datasets(root)
    if len(found) > 1 or found[0][0] != Path(root):
        names = ", ".join(f"{p.name}/ ({layout})" for p, layout in found)
        raise WorkbenchError(f"folder holds {len(found)} datasets: {names}; pass one of them", root)
    return found[0][1]


def index_layout(
    root: str | os.PathLike,
    layout: str | None = None,
    depth_scale: float | None = None,
    depth_invalid: int = 0,
    resolution: str = "low",
    errors: list | None = None,
) -> list[ViewRecord]:
    """Index every view under ``root`` with an explicit decoding (the layout's reader alone:
    ``dataset.json`` is not read; use :func:`workbench.data.dataset.index_dataset` for that).

    Args:
        depth_scale, depth_invalid: PNG depth decoding of the ``rgbd-folder`` layout (default
            1000 units per metre) and of the ``seed`` layout (``None``: each scene's
            ``meta.json``; a value overrides every scene's); ``depth_scale`` (PNG units per
            metre) also overrides every RealSee3D view's ``depth_scale.txt`` (``None``: each
            view's own).
        resolution: ``"low"`` (training size, the default) or ``"high"`` panoramas (seed layout).
        errors: when a list, scenes that cannot be indexed are appended to it (as
            :class:`WorkbenchError`) and skipped; otherwise the first one is raised.

    Returns:
        Records sorted by scene, in each scene's view order.
    """
    root = Path(root)
    name = layout or detect_layout(root)
    if name not in LAYOUTS:
        raise WorkbenchError(f"unknown layout {name!r} (expected one of {sorted(LAYOUTS)})", root)
    if depth_scale is not None and (not math.isfinite(depth_scale) or depth_scale <= 0):
        raise ValueError(f"depth_scale must be a positive number, got {depth_scale}")
    if name == "rgbd-folder":
        reader = LAYOUTS[name](depth_scale or 1000.0, depth_invalid)
    elif name in ("seed", "realsee3d"):
        reader = LAYOUTS[name](depth_scale, depth_invalid)
    else:
        reader = LAYOUTS[name]
    return reader.index(root, resolution, errors)
