"""One description of a dataset, handed to every verb: how its files are laid out and how its
depth is encoded.

A :class:`DatasetSpec` is detected from the files (the layout; ``dataset.json`` in the root, when
present, names the encoding; RealSee3D and seed scenes carry their own scales) and any of its
parts can be overridden by flags (``--layout``, ``--encoding``, ``--depth-scale``,
``--depth-invalid``, ``--resolution``; ``--depth-scale`` overrides RealSee3D's per-view
``depth_scale.txt`` too). ``split`` stores it in ``split.json`` and every record of
the split CSVs carries its decoding (scale and invalid value), so ``validate``, ``split``,
``eda``, ``pointcloud``, ``match``, ``train``, ``eval``, ``train-biview``, ``train-pose`` and
the notebooks' widgets read one file at one scale.

Named encodings (:data:`ENCODINGS`), as their datasets document them:

==============  =====================================  =========  ==================
name            files                                  per metre  invalid
==============  =====================================  =========  ==================
millimetres     uint16 PNG (the seed layout's default)  1000       0
matterport3d    uint16 PNG                             4000       0
stanford2d3d    uint16 PNG                             512        0 and 65535
structured3d    uint16 PNG, millimetres                1000       0
pano3d          EXR float metres (also 3D60)           —          0, inf, NaN
realsee3d       uint16 PNG, per view depth_scale.txt   per view   0, pano_mask ≠ 255
metres          EXR or NPY float metres                —          0, inf, NaN
==============  =====================================  =========  ==================
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.data.layouts import (
    DEPTH_EXTS,
    LAYOUTS,
    MAX_PLAUSIBLE_RANGE_M,
    RGB_EXTS,
    RgbdFolderLayout,
    ViewRecord,
    files_by_stem,
    find_datasets,
    index_layout,
    load_view,
)
from workbench.data.records import scene_count
from workbench.errors import WorkbenchError
from workbench.paths import SAMPLES

__all__ = [
    "depth_decoding",
    "Encoding",
    "ENCODINGS",
    "DatasetSpec",
    "Dataset",
    "ViewCollection",
    "describe_dataset",
    "index_spec",
    "index_dataset",
    "open_dataset",
    "depth_or_sample",
    "readable_views",
    "require_depth",
    "require_poses",
    "no_views_error",
    "match_scene",
    "DATASET_JSON",
]

DATASET_JSON = "dataset.json"


@dataclass(frozen=True)
class Encoding:
    """How one dataset stores depth.

    Attributes:
        scale: PNG units per metre (``0``: per view, from the dataset's own files).
        invalid: a PNG value that means "no depth" besides 0 (``0``: none).
        doc: where it comes from.
        png: its depth files are uint16 PNGs (``scale`` decodes them); False for float files
            (EXR, NPY) in metres, which no scale applies to.
    """

    name: str
    scale: float
    invalid: int
    doc: str
    png: bool = True


ENCODINGS: dict[str, Encoding] = {
    e.name: e
    for e in (
        Encoding("millimetres", 1000.0, 0, "uint16 PNG in millimetres (seed layout)"),
        Encoding("matterport3d", 4000.0, 0, "Matterport3D: uint16 PNG, 4000 per metre, 0 invalid"),
        Encoding(
            "stanford2d3d", 512.0, 65535, "Stanford2D3D: uint16 PNG, 512 per metre, 65535 missing"
        ),
        Encoding("structured3d", 1000.0, 0, "Structured3D: uint16 PNG in millimetres, 0 invalid"),
        Encoding("pano3d", 1000.0, 0, "Pano3D / 3D60: EXR float metres, inf invalid", False),
        Encoding("realsee3d", 0.0, 0, "RealSee3D: uint16 PNG / depth_scale.txt per view, mask 255"),
        Encoding("metres", 1000.0, 0, "EXR or NPY float metres", False),
    )
}

LAYOUT_ENCODING = {
    "seed": "millimetres",
    "realsee3d": "realsee3d",
    "rgbd-folder": "millimetres",
    "shards": "millimetres",  # each view carries its own decoding (index.csv)
    "zind": "millimetres",  # pose-only: no depth to decode
}


@dataclass(frozen=True)
class DatasetSpec:
    """What every verb needs to read a dataset the same way.

    Attributes:
        root: the dataset root (absolute).
        layout: a name of :data:`~workbench.data.layouts.LAYOUTS` (``seed``, ``realsee3d``,
            ``rgbd-folder``, ``shards``, ``zind``).
        encoding: a name of :data:`ENCODINGS`.
        depth_scale: PNG units per metre (0: per view, RealSee3D's ``depth_scale.txt``, unless
            ``--depth-scale`` overrides every view's: then ``depth_scale`` is absent from
            ``detected``; seed scenes may override it in ``others/meta.json``).
        depth_invalid: a PNG value that marks missing depth besides 0 (0: none).
        max_range_m: larger ranges are sentinels and read as invalid.
        resolution: ``low`` (``pan/low``, the training size) or ``high`` (``pan/high``).
        mask: ``pano_mask==255`` (RealSee3D: valid where the mask is 255) or ``none``.
        up: the world's up axis (``-y``: gravity-aligned, y down, README, *Geometry convention*).
        detected: which fields came from the files (the others from flags).
    """

    root: str
    layout: str
    encoding: str
    depth_scale: float
    depth_invalid: int
    max_range_m: float = MAX_PLAUSIBLE_RANGE_M
    resolution: str = "low"
    mask: str = "none"
    up: str = "-y"
    detected: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {**asdict(self), "detected": list(self.detected)}


def _dataset_json(root: Path) -> dict:
    path = root / DATASET_JSON
    if not path.is_file():
        return {}
    try:
        d = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise WorkbenchError(f"not valid JSON ({e})", path) from None
    if not isinstance(d, dict):
        raise WorkbenchError('must be a JSON object such as {"encoding": "matterport3d"}', path)
    return d


def _check_encoding(name: str, where: str) -> Encoding:
    if name not in ENCODINGS:
        raise WorkbenchError(
            f"unknown encoding {name!r} (expected one of {', '.join(ENCODINGS)})", where
        )
    return ENCODINGS[name]


def _scale_error(scale: float, enc: Encoding, layout: str, detected: list, root: Path):
    """The error of a depth scale that is not a positive number, naming where it came from:
    ``--depth-scale``, ``dataset.json``'s ``depth_scale``, or an encoding whose scale is each
    view's own file (``realsee3d``) on a layout that has no such file."""
    if "depth_scale" not in detected:
        return WorkbenchError(f"must be a positive number, got {scale}", "--depth-scale")
    if not enc.scale and scale == enc.scale:
        where = str(root / DATASET_JSON) if "encoding" in detected else "--encoding"
        return WorkbenchError(
            f"encoding {enc.name!r} reads each view's depth_scale.txt, which only the realsee3d "
            f"layout has (this is {layout}): give depth_scale (PNG units per metre) in "
            f"{DATASET_JSON} or --depth-scale",
            where,
        )
    return WorkbenchError(f"depth_scale must be a positive number, got {scale}",
                          root / DATASET_JSON)  # fmt: skip


def describe_dataset(root: str | os.PathLike, options=None, **overrides) -> DatasetSpec:
    """Detect the dataset at ``root``; ``options`` (a config with ``layout``, ``encoding``,
    ``depth_scale``, ``depth_invalid``, ``resolution`` fields, e.g. a verb's
    :class:`~workbench.configs.DataFlags`) and then ``overrides`` (the same names) override.

    Raises:
        WorkbenchError: naming the root or the flag: unknown layout or encoding, a folder
            holding several datasets, a scale that is not a positive number.
    """
    root = Path(root)

    def get(key, default):
        return overrides.get(key, getattr(options, key, default))

    detected = []
    layout = get("layout", "") or ""
    if layout:
        if layout not in LAYOUTS:
            raise WorkbenchError(
                f"unknown layout {layout!r} (expected {', '.join(LAYOUTS)})", "--layout"
            )
    else:
        found = find_datasets(root)
        if len(found) > 1 or found[0][0] != root:
            names = ", ".join(f"{p.name}/ ({lay})" for p, lay in found)
            raise WorkbenchError(
                f"folder holds {len(found)} datasets: {names}; pass one of them", root
            )
        layout = found[0][1]
        detected.append("layout")
    meta = _dataset_json(root)
    name = get("encoding", "") or ""
    if name:
        enc = _check_encoding(name, "--encoding")
    else:
        enc = _check_encoding(
            meta.get("encoding", LAYOUT_ENCODING[layout]), str(root / DATASET_JSON)
        )
        detected.append("encoding")
    scale = float(get("depth_scale", 0.0) or 0.0)
    if not scale:
        scale = float(meta.get("depth_scale", enc.scale))
        detected.append("depth_scale")
    invalid = get("depth_invalid", -1)
    if invalid in (-1, None):
        invalid = int(meta.get("depth_invalid", enc.invalid))
        detected.append("depth_invalid")
    invalid = int(invalid)
    # RealSee3D: each view's depth_scale.txt, unless --depth-scale overrides every view's
    per_view = layout == "realsee3d" and "depth_scale" in detected
    if not per_view and not (math.isfinite(scale) and scale > 0):
        raise _scale_error(scale, enc, layout, detected, root)
    return DatasetSpec(
        root=str(root.resolve()),
        layout=layout,
        encoding=enc.name,
        depth_scale=0.0 if per_view else scale,
        depth_invalid=invalid,
        max_range_m=float(meta.get("max_range_m", MAX_PLAUSIBLE_RANGE_M)),
        resolution=get("resolution", "low") or "low",
        mask="pano_mask==255" if layout == "realsee3d" else "none",
        detected=tuple(detected),
    )


def depth_decoding(spec: DatasetSpec, records) -> str:
    """How the depth of ``records`` (at least one with depth) is read, in a few words: the
    encoding and its PNG scale, a scale given instead (``--depth-scale`` or ``dataset.json``),
    or float files in metres, which no encoding applies to.

    >>> spec = DatasetSpec("/d", "seed", "millimetres", 1.0, 0)
    >>> depth_decoding(spec, [ViewRecord("s", "v", "r.jpg", "d.png", "", "seed")])
    'PNG depth at 1 units per metre (given; encoding millimetres: 1000)'
    """
    suffixes = {Path(r.depth_path).suffix.lower() for r in records if r.has_depth}
    if spec.layout != "shards" and suffixes and not suffixes & {".png"}:
        return "float depth files in metres (no encoding applies)"
    enc = ENCODINGS[spec.encoding]
    if not spec.depth_scale:
        return f"encoding {enc.name} (per view)"
    if not enc.scale:  # --depth-scale in place of every view's own (RealSee3D)
        return f"encoding {enc.name} ({spec.depth_scale:g}/m given for every view)"
    if spec.depth_scale != enc.scale:
        return (
            f"PNG depth at {spec.depth_scale:g} units per metre (given; encoding {enc.name}: "
            f"{enc.scale:g})"
        )
    return f"encoding {enc.name} ({spec.depth_scale:g}/m)"


def index_spec(spec: DatasetSpec, errors: list | None = None) -> list[ViewRecord]:
    """Every view of the dataset ``spec`` describes, decoded as it says.

    Args:
        errors: when a list, scenes that cannot be indexed are appended to it and skipped.
    """
    scale = spec.depth_scale or None
    if spec.layout == "seed" and {"encoding", "depth_scale"} <= set(spec.detected):
        scale = None  # nothing given: each scene's meta.json decodes its own PNGs
    return index_layout(
        spec.root, spec.layout, scale, spec.depth_invalid, spec.resolution, errors=errors
    )


def index_dataset(
    root: str | os.PathLike,
    layout: str | None = None,
    depth_scale: float | None = None,
    depth_invalid: int | None = None,
    resolution: str = "low",
    errors: list | None = None,
) -> list[ViewRecord]:
    """Index every view under ``root``, decoded as the dataset describes itself.

    With no ``depth_scale`` and no ``depth_invalid`` the encoding is detected exactly as every
    verb detects it (:func:`workbench.data.dataset.describe_dataset`: ``dataset.json``,
    RealSee3D's ``depth_scale.txt``, a seed scene's ``meta.json``); given, they apply to every
    view (:func:`~workbench.data.layouts.index_layout`). :func:`open_dataset` wraps this.

    Returns:
        Records sorted by scene, in each scene's view order.
    """
    if depth_scale is None and depth_invalid is None:
        spec = describe_dataset(root, layout=layout or "", resolution=resolution)
        return index_spec(spec, errors=errors)
    return index_layout(root, layout, depth_scale, depth_invalid or 0, resolution, errors)


class ViewCollection:
    """What every opened collection of views shares (:class:`Dataset`, and the inference
    notebook's folder of panoramas alone): a sequence of ``records`` relative to ``root``,
    their scenes, and the reader every verb uses. Subclasses provide ``records`` and ``root``."""

    records: tuple[ViewRecord, ...]
    root: Path

    @property
    def name(self) -> str:
        return Path(self.root).name

    @property
    def scenes(self) -> list[str]:
        """Scene ids in index order."""
        return list(dict.fromkeys(r.scene_id for r in self.records))

    @property
    def has_depth(self) -> bool:
        return any(r.has_depth for r in self.records)

    @property
    def has_poses(self) -> bool:
        return any(r.pose_path for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def scene(self, scene_id: str) -> list[ViewRecord]:
        """The records of one scene, in its view order."""
        return [r for r in self.records if r.scene_id == scene_id]

    def load(self, record: ViewRecord | int, with_pose: bool = True):
        """A :class:`~workbench.data.layouts.View`: ``rgb (H, W, 3) uint8``, ``range_m (H, W)
        float32`` metres (0 invalid), ``T_world_from_cam (4, 4)`` or ``None``."""
        if isinstance(record, int):
            record = self.records[record]
        return load_view(record, self.root, with_pose)


@dataclass(frozen=True)
class Dataset(ViewCollection):
    """An opened dataset: its description, its views and the reader every verb uses.

    ``records`` are in index order (by scene, each scene in its view order); ``errors`` are the
    scenes that could not be indexed (each a :class:`WorkbenchError` naming its file), left out.
    A pose-only dataset (panoramas and poses, no depth) has ``has_depth == False``: its views load
    with every range pixel 0 (invalid).

    >>> from workbench.paths import SAMPLES
    >>> ds = open_dataset(SAMPLES / "stanford2d3d")
    >>> ds.spec.encoding, ds.spec.depth_scale, len(ds)
    ('stanford2d3d', 512.0, 3)
    """

    spec: DatasetSpec
    records: tuple[ViewRecord, ...]
    errors: tuple[WorkbenchError, ...] = ()

    @property
    def root(self) -> Path:
        return Path(self.spec.root)

    def summary(self) -> str:
        """One line: name, layout, encoding, views, scenes, what is missing."""
        s = self.spec
        depth = depth_decoding(s, self.records) if self.has_depth else "pose-only (no depth)"
        parts = [f"{self.name}: {s.layout}", depth,
                 f"{len(self)} views in {len(self.scenes)} scene(s)"]  # fmt: skip
        if not self.has_poses:
            parts.append("no poses")
        if self.errors:
            parts.append(f"{len(self.errors)} scenes unreadable")
        return ", ".join(parts)


def open_dataset(
    root: str | os.PathLike,
    *,
    layout: str = "",
    encoding: str = "",
    depth_scale: float = 0.0,
    depth_invalid: int = -1,
    resolution: str = "low",
    strict: bool = False,
) -> Dataset:
    """Open the dataset at ``root`` exactly as the command line does: the same detection
    (:func:`describe_dataset`: layout from the folders, encoding from ``dataset.json`` or the
    dataset's own files) and the same overrides as the flags ``--layout``, ``--encoding``,
    ``--depth-scale``, ``--depth-invalid``, ``--resolution``.

    Args:
        strict: raise on the first scene that cannot be indexed (default: it is left out and
            listed in ``Dataset.errors``).

    Raises:
        WorkbenchError: naming the root or the option: not a folder, no known layout, several
            datasets in one folder, an unknown encoding, no views at all.
    """
    spec = describe_dataset(
        root, layout=layout, encoding=encoding, depth_scale=depth_scale,
        depth_invalid=depth_invalid, resolution=resolution,
    )  # fmt: skip
    errors: list | None = None if strict else []
    records = index_spec(spec, errors=errors)
    if not records:
        why = f": {errors[0]}" if errors else ""
        raise WorkbenchError(f"no views found ({LAYOUTS[spec.layout].looked_for}){why}", root)
    return Dataset(spec, tuple(records), tuple(errors or ()))


def require_depth(records, root, needs: str) -> None:
    """Refuse a dataset without depth (pose-only: panoramas and poses) for a verb that reads
    measured depth, before any work.

    Raises:
        WorkbenchError: naming ``root`` and ``needs`` (e.g. ``"covisibility needs measured
            depth"``).
    """
    if not any(r.has_depth for r in records):
        raise WorkbenchError(
            f"dataset has no depth (pose-only: panoramas and poses); {needs}", root
        )


def no_views_error(spec: DatasetSpec, errors: list) -> WorkbenchError:
    """The error of a dataset without a single view, naming what was looked for and, when
    indexing met them, the first unreadable scene's error (a broken ``zind_data.json``)."""
    root = Path(spec.root)
    looked = LAYOUTS[spec.layout].looked_for
    if errors:
        return WorkbenchError(
            f"no views found ({scene_count(len(errors))} unreadable, the first {errors[0]};"
            f" looked for {looked})",
            root,
        )
    detail = ""
    if spec.layout == "rgbd-folder":
        scenes = [d for _, d in RgbdFolderLayout.scenes(root)]
        n = sum(len(files_by_stem(d / "depth", DEPTH_EXTS)) for d in scenes)
        n += sum(len(files_by_stem(d / "pose", (".txt",))) for d in scenes)
        detail = f"; rgb/ holds no {'/'.join(RGB_EXTS)} panorama"
        detail += f" for the {n} depth and pose files" if n else ""
    return WorkbenchError(f"no views found (looked for {looked}{detail})", root)


def require_poses(records, root, needs: str) -> None:
    """Refuse a dataset none of whose views has a pose file (depth alone) for a verb that
    places views by their poses, before any work.

    Raises:
        WorkbenchError: naming ``root`` and ``needs``.
    """
    if not any(r.pose_path for r in records):
        raise WorkbenchError(f"dataset has no poses (no view has a pose file); {needs}", root)


def match_scene(records, scene: str, root) -> str:
    """The one scene id of ``records`` that starts with ``scene`` (``--scene``, an id prefix;
    ``""``: the first scene).

    Raises:
        WorkbenchError: naming ``root``: ``--scene`` matches no scene or several (listing the
            scenes to pick from).
    """
    scenes = sorted({r.scene_id for r in records})
    match = [s for s in scenes if s.startswith(scene)] if scene else scenes[:1]
    if len(match) == 1:
        return match[0]
    pick = match or scenes
    shown = ", ".join(pick[:5]) + (f" and {len(pick) - 5} more" if len(pick) > 5 else "")
    what = "matches no scene" if not match else f"matches {len(match)} scenes"
    raise WorkbenchError(f"--scene {scene!r} {what} (pick one of: {shown})", root)


def depth_or_sample(ds, use: str, poses: bool = False):
    """``ds`` when it has depth (and poses, with ``poses``), else the bundled ``seed`` sample,
    with one printed line saying which and why: for the notebooks whose ``use`` (training,
    scoring) needs ground truth.

    >>> from workbench.paths import SAMPLES
    >>> depth_or_sample(open_dataset(SAMPLES / "pose-only"), "training").name
    pose-only: no depth, so training uses the bundled sample seed instead
    'seed'
    """
    lacks = [w for w, ok in (("depth", ds.has_depth), ("poses", ds.has_poses or not poses))
             if not ok]  # fmt: skip
    if not lacks:
        return ds
    print(f"{ds.name}: no {' and no '.join(lacks)}, so {use} uses the bundled sample seed instead")
    return open_dataset(SAMPLES / "seed")


def readable_views(source, records, left_out: list | None = None) -> list:
    """The views of ``records`` that ``source.load`` can read (a dataset, or its predicted
    depth), in order; each that cannot is left out with one printed line naming its file
    (appended to ``left_out`` as its :class:`~workbench.errors.WorkbenchError` when a list is
    given), as the folder-wide verbs carry on past a bad file."""
    views = []
    for r in records:
        try:
            views.append(source.load(r))
        except WorkbenchError as e:
            print(f"view left out: {e}")
            if left_out is not None:
                left_out.append(e)
    return views
