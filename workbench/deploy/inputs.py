"""What ``workbench infer`` runs on: image files, folders of images and dataset roots.

A folder argument that is a dataset root of a known layout
(:func:`workbench.data.layouts.find_datasets`: ``seed``, ``realsee3d``, ``rgbd-folder`` with or
without depth, ``shards``), or a folder holding several datasets, is read through its layout's
records (:func:`workbench.data.dataset.open_dataset`): exactly the dataset's panoramas (each
record's ``rgb_path``; never RealSee3D's masks, segments or depth images, never a seed scene's
other resolution), keyed ``<scene>/<view>`` (``<dataset>/<scene>/<view>`` inside a collection),
so views of different scenes never share an output name. Any other folder is searched
recursively for images, keyed by their path relative to it.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.dataset import open_dataset
from workbench.data.layouts import ViewRecord, find_datasets, load_view, read_record_pose
from workbench.errors import WorkbenchError
from workbench.io import is_temporary, read_rgb

__all__ = [
    "IMAGE_EXTS",
    "OUTPUT_SUFFIXES",
    "FUSED_NAME",
    "InferItem",
    "Inputs",
    "collect_inputs",
    "collect_images",
    "dataset_roots",
    "read_item_rgb",
    "read_item_pose",
]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
OUTPUT_SUFFIXES = ("_depth.png", "_depth_color.png", "_normals.png")
FUSED_NAME = "fused_predicted"  # <scene folder>/fused_predicted.ply: a scene's fused cloud


@dataclass(frozen=True)
class InferItem:
    """One panorama to infer.

    Attributes:
        image: the file read (a packed dataset's shard for a ``shards`` record).
        key: its outputs' path under ``--out``, without suffix (``<scene>/<view>`` for a
            dataset view).
        record: the dataset view it is (``None`` for a plain image).
        root: the dataset root ``record``'s paths are relative to (``""`` for a plain image).
    """

    image: Path
    key: Path
    record: ViewRecord | None = None
    root: str = ""

    @property
    def label(self) -> str:
        """How messages name it: the image, or the shard and the view."""
        if self.record is not None and self.record.layout == "shards":
            return f"{self.image} ({self.record.scene_id}/{self.record.view_id})"
        return str(self.image)


@dataclass(frozen=True)
class Inputs:
    """Everything ``infer`` was given: the items, the datasets' summaries (one line each) and
    the views that could not even be listed (``{"image", "error"}``: a scene whose index
    failed, a view id that is not a plain name)."""

    items: list[InferItem]
    datasets: list[str]
    failed: list[dict]


def dataset_roots(folder: Path) -> list[tuple[Path, str]]:
    """``(dataset root, layout)`` of the datasets ``folder`` is or holds; ``[]`` for a folder
    of a known layout's nothing (a plain folder of images)."""
    try:
        return find_datasets(folder)
    except WorkbenchError:
        return []


def _own_output(path: Path, out_dir: Path | None, folder: Path) -> bool:
    """Whether ``path`` (resolved) is one of this job's outputs: anything under ``out_dir``
    when it is a sub-folder of the input ``folder``; when ``out_dir`` is the input folder
    itself, the files named like outputs."""
    if out_dir is None or out_dir not in path.parents:
        return False
    if out_dir != folder.resolve():
        return True
    return path.name.endswith(OUTPUT_SUFFIXES)


def _earlier_output(path: Path, folder: Path, runs: dict) -> bool:
    """Whether ``path`` is named like an ``infer`` output and lies in a folder of an earlier
    run (one holding ``infer.json``, at or above its folder within the input ``folder``)."""
    if not path.name.endswith(OUTPUT_SUFFIXES):
        return False
    for d in [path.parent, *path.parent.parents]:
        if d not in runs:
            runs[d] = (d / "infer.json").is_file()
        if runs[d] or d == folder:
            return runs[d]
    return False


def _folder_images(p: Path, out_dir: Path | None) -> list[tuple[Path, Path]]:
    runs: dict[Path, bool] = {}
    imgs = sorted(
        q
        for q in p.rglob("*")
        if q.suffix.lower() in IMAGE_EXTS
        and q.is_file()
        and not is_temporary(q)
        and not _own_output(q.resolve(), out_dir, p)
        and not _earlier_output(q, p, runs)
        and not any(is_temporary(part) for part in q.relative_to(p).parts[:-1])
    )
    if not imgs:
        raise WorkbenchError("folder has no images (" + ", ".join(IMAGE_EXTS) + ")", p)
    return [(q, q.relative_to(p)) for q in imgs]


_PLAIN_NAME = re.compile(r"^[^/\\\x00]+$")


def _plain(name: str) -> bool:
    return bool(_PLAIN_NAME.match(name)) and name not in (".", "..")


def _dataset_items(
    p: Path, root: Path, layout: str, resolution: str, taken: dict, failed: list
) -> tuple[list[InferItem], str]:
    """The items of one dataset found under the folder argument ``p``; scene folders already
    ``taken`` by another dataset's scene get a ``_2`` suffix."""
    ds = open_dataset(root, layout=layout, resolution=resolution)
    prefix = root.relative_to(p) if root != p else Path()
    failed += [{"image": e.path or str(root), "error": str(e)} for e in ds.errors]
    folders: dict[str, Path] = {}
    items = []
    for rec in ds.records:
        if not (_plain(rec.scene_id) and _plain(rec.view_id)):
            where = f"{root / rec.rgb_path} ({rec.scene_id}/{rec.view_id})"
            failed.append({"image": where, "error": f"{where}: view id is not a plain name"})
            continue
        if rec.scene_id not in folders:
            base = folder = prefix / rec.scene_id
            i = 2
            while taken.setdefault(folder, (root, rec.scene_id)) != (root, rec.scene_id):
                folder, i = base.with_name(f"{base.name}_{i}"), i + 1
            folders[rec.scene_id] = folder
        image = root / rec.rgb_path
        items.append(InferItem(image, folders[rec.scene_id] / rec.view_id, rec, str(root)))
    what = [f"{ds.spec.layout}, {len(ds)} panoramas in {len(ds.scenes)} scene(s)"]
    what += [] if ds.has_depth else ["pose-only (no depth)"]
    what += [] if ds.has_poses else ["no poses"]
    return items, f"{root} ({', '.join(what)})"


def collect_inputs(paths, out: str | os.PathLike | None = None, resolution: str = "low") -> Inputs:
    """The items to infer for the command line's ``paths`` (files, folders, dataset roots).

    Plain images are keyed by their path relative to the folder they were found in (their name
    for a file given directly; an image reached twice, as a folder's and its sub-folder's or
    by name, is taken once, as first found), without extension: ``a.png`` and ``sub/a.png``
    never share an output (``a.png`` beside ``a.jpg`` become ``a_png`` and ``a_jpg``). Hidden
    and temporary files, anything under ``out`` and the outputs of earlier runs found in the
    folder (named like outputs, in a folder holding ``infer.json``) are skipped: a job never
    reads what an ``infer`` wrote. Dataset views are keyed ``<scene>/<view>`` (module doc);
    ``resolution`` picks a seed dataset's ``pan/low`` or ``pan/high``.

    Raises:
        WorkbenchError: a path that does not exist, a folder without images, a dataset root
            that cannot be opened (no views, a bad ``dataset.json``).
    """
    out_dir = Path(out).resolve() if out else None
    plain: list[tuple[Path, Path]] = []
    items: list[InferItem] = []
    datasets, failed, taken = [], [], {}
    for p in map(Path, paths):
        if p.is_dir():
            roots = dataset_roots(p)
            if not roots:
                plain += _folder_images(p, out_dir)
            for root, layout in roots:
                found, line = _dataset_items(p, root, layout, resolution, taken, failed)
                items += found
                datasets.append(line)
        elif p.is_file():
            plain.append((p, Path(p.name)))
        else:
            raise WorkbenchError("no such file or folder", p)
    return Inputs(_unique_keys(_once(plain), items), datasets, failed)


def _once(plain: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Each image once, keyed as first found (``infer in in/sub`` inferred ``sub``'s images
    twice, under two names, and renamed others around them)."""
    seen: set[Path] = set()
    out = []
    for path, rel in plain:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            out.append((path, rel))
    return out


def _unique_keys(plain: list[tuple[Path, Path]], items: list[InferItem]) -> list[InferItem]:
    """Dataset items keep their ``<scene>/<view>`` keys (a repeated view id gets ``_2``); plain
    images are keyed by path without extension, the extension added where two differ only by
    it. No key is a scene's fused cloud (``<scene>/fused_predicted``)."""
    used = {it.key.parent / FUSED_NAME for it in items}
    keys = [rel.with_suffix("") for _, rel in plain]
    dup = {k for k, n in Counter(keys).items() if n > 1}
    wanted = [(it, it.key) for it in items]
    for (path, rel), key in zip(plain, keys, strict=True):
        if key in dup:
            key = rel.with_name(f"{rel.stem}_{rel.suffix.lstrip('.').lower()}")
        wanted.append((InferItem(path, key), key))
    out = []
    for it, key in wanted:
        base, i = key, 2
        while key in used:  # the same name given twice from different folders
            key, i = base.with_name(f"{base.name}_{i}"), i + 1
        used.add(key)
        out.append(InferItem(it.image, key, it.record, it.root))
    return out


def collect_images(paths, out: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """``(image file, output key)`` of :func:`collect_inputs` (dataset views included).

    Raises:
        WorkbenchError: a path that does not exist, or a folder without images.
    """
    return [(it.image, it.key) for it in collect_inputs(paths, out).items]


def read_item_rgb(item: InferItem) -> np.ndarray:
    """The item's panorama, ``(H, W, 3) uint8`` RGB (a packed view decoded from its shard)."""
    if item.record is not None and item.record.layout == "shards":
        return load_view(item.record, item.root, with_pose=False).rgb
    return read_rgb(item.image)


def read_item_pose(item: InferItem) -> np.ndarray | None:
    """The item's ``T_world_from_cam`` ``(4, 4)`` float64 (metres), ``None`` without a pose.

    Raises:
        WorkbenchError: naming the pose file when it is unreadable or not rigid.
    """
    rec = item.record
    if rec is None or not rec.pose_path:
        return None
    if rec.layout == "shards":
        return load_view(rec, item.root).T_world_from_cam
    return read_record_pose(rec, item.root)
