"""Is the depth read at the right scale? A guard against a dataset decoded with the wrong
encoding (a Matterport3D folder without its ``dataset.json`` read as millimetres is 4x too far).

From a sample of up to :data:`SAMPLE_VIEWS` views spread over the scenes, read at
:data:`SAMPLE_ROWS` rows exactly as :func:`~workbench.data.layouts.load_view` reads them (masks
applied), three statistics:

- the median camera height above the floor (:func:`~workbench.geometry.camera_height.camera_height`
  with each pose's rotation), metres;
- the median range, metres (the median of the views' medians);
- the fraction of valid pixels whose raw PNG value is 65535, the format's largest value (a
  missing-depth sentinel read as depth, e.g. Stanford2D3D's, unless the encoding says otherwise).

The depth is implausible when the camera height lies outside :data:`HEIGHT_RANGE_M`, the median
range exceeds :data:`MAX_MEDIAN_RANGE_M` or more than :data:`MAX_SENTINEL_FRACTION` of the valid
pixels read 65535. The message then says, for every named PNG encoding of
:data:`~workbench.data.dataset.ENCODINGS`, the camera height it would give and which are
plausible, and how to choose one (``--encoding`` or ``dataset.json``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.dataset import DATASET_JSON, ENCODINGS, DatasetSpec, index_spec
from workbench.data.layouts import (
    MAX_PLAUSIBLE_RANGE_M,
    ViewRecord,
    depth_from_png,
    load_view,
    read_depth,
    read_mask,
)
from workbench.errors import WorkbenchError
from workbench.geometry.camera_height import camera_height
from workbench.geometry.equirect import resize_range, valid_mask
from workbench.geometry.pose import read_pose
from workbench.io import read_image

__all__ = [
    "Plausibility",
    "check_plausibility",
    "warn_if_implausible",
    "sample_records",
    "HEIGHT_RANGE_M",
    "MAX_MEDIAN_RANGE_M",
    "MAX_SENTINEL_FRACTION",
    "SAMPLE_VIEWS",
    "SAMPLE_ROWS",
]

HEIGHT_RANGE_M = (0.5, 3.0)
MAX_MEDIAN_RANGE_M = 15.0
MAX_SENTINEL_FRACTION = 0.01
SAMPLE_VIEWS = 16
SAMPLE_ROWS = 128
PNG_MAX = 65535


@dataclass(frozen=True)
class Plausibility:
    """What a sample of views says about the depth scale.

    Attributes:
        views: sampled views whose depth could be read.
        camera_height_m: median camera height, metres (NaN when no view sees the floor).
        median_range_m: median of the views' median ranges, metres (NaN without valid depth).
        sentinel_fraction: fraction of valid depth pixels whose raw PNG value is 65535.
        units_per_metre: median PNG units per metre of the sampled PNG views (0: float files).
        alternatives: ``(encoding names, camera height m, plausible)`` per named PNG encoding
            (names sharing a decoding joined by ``/``).
        reasons: which rules failed (empty when plausible).
        message: one line saying what is wrong and what to pass (``""`` when plausible).
    """

    views: int
    camera_height_m: float
    median_range_m: float
    sentinel_fraction: float
    units_per_metre: float
    alternatives: tuple[tuple[str, float, bool], ...] = ()
    reasons: tuple[str, ...] = ()
    message: str = ""

    @property
    def plausible(self) -> bool:
        return not self.reasons


def sample_records(records, n: int = SAMPLE_VIEWS) -> list[ViewRecord]:
    """Up to ``n`` records with depth, spread evenly over the scenes and within each scene
    (deterministic: the same records give the same sample)."""
    scenes: dict[str, list[ViewRecord]] = {}
    for r in records:
        if r.has_depth:
            scenes.setdefault(r.scene_id, []).append(r)
    if not scenes or n < 1:
        return []
    names = list(scenes)
    picked = np.unique(np.linspace(0, len(names) - 1, min(n, len(names))).round().astype(int))
    per_scene = math.ceil(n / len(picked))
    out = []
    for i in picked:
        views = scenes[names[i]]
        k = min(per_scene, len(views))
        out += [views[j] for j in np.unique(np.linspace(0, len(views) - 1, k).round().astype(int))]
    return out[:n]


def _read_sample(rec: ViewRecord, root: Path, rows: int):
    """One view's ``(range (rows, 2*rows) float32 m, R (3, 3) or None, PNG units per metre or 0,
    valid pixels reading 65535, valid pixels)``; masks applied as :func:`load_view` does."""
    if rec.layout == "shards":
        v = load_view(rec, root)
        r, T, units, raw = v.range_m, v.T_world_from_cam, rec.depth_scale, None
    else:
        path = root / rec.depth_path
        units, raw = 0.0, None
        if path.suffix.lower() == ".png":
            raw = read_image(path)
            units = rec.depth_scale
            r = depth_from_png(raw, units, rec.depth_invalid, path)
            r[r > MAX_PLAUSIBLE_RANGE_M] = 0
        else:
            r = read_depth(path, rec.depth_scale, rec.depth_invalid)
        if rec.mask_path:
            r[~read_mask(root / rec.mask_path, r.shape)] = 0
        T = read_pose(root / rec.pose_path) if rec.pose_path else None
    valid = valid_mask(r)
    n_sentinel = int((valid & (raw == PNG_MAX)).sum()) if raw is not None else 0
    small = resize_range(r, rows) if r.shape[0] != rows else r
    return small, (None if T is None else T[:3, :3]), float(units), n_sentinel, int(valid.sum())


def _alternatives(per_view, current: str) -> list[tuple[str, float, float, int]]:
    """``(names, camera height m, median range m, invalid value)`` of each named PNG encoding,
    from per-view ``(height m, median range m, units per metre)`` (float views keep theirs)."""
    groups: dict[tuple[float, int], list[str]] = {}
    for e in ENCODINGS.values():
        if e.scale > 0 and "PNG" in e.doc:  # EXR/NPY encodings do not decode PNGs
            groups.setdefault((e.scale, e.invalid), []).append(e.name)
    out = []
    for (scale, invalid), names in groups.items():
        names.sort(key=lambda n: n != current)
        f = [u / scale if u else 1.0 for _, _, u in per_view]
        h = [hv * fv for (hv, _, _), fv in zip(per_view, f, strict=True) if math.isfinite(hv)]
        r = [rv * fv for (_, rv, _), fv in zip(per_view, f, strict=True) if math.isfinite(rv)]
        out.append(("/".join(names), _median(h), _median(r), invalid))
    return out


def _median(x) -> float:
    return float(np.median(x)) if len(x) else float("nan")


def _ok(height: float, median_range: float) -> bool:
    lo, hi = HEIGHT_RANGE_M
    height_ok = not math.isfinite(height) or lo <= height <= hi
    return height_ok and not median_range > MAX_MEDIAN_RANGE_M


def check_plausibility(
    spec: DatasetSpec, records, n: int = SAMPLE_VIEWS, rows: int = SAMPLE_ROWS
) -> Plausibility:
    """Sample ``n`` views of ``records`` (read as ``spec`` says) and judge their depth scale.

    Args:
        spec: the dataset's description (its encoding names the current decoding).
        records: its views (views without depth, and views that cannot be read, are skipped:
            ``validate`` reports those).
        n, rows: views sampled and the rows (``rows x 2*rows``) each is judged at.

    Returns:
        :class:`Plausibility`; ``views == 0`` (plausible) when no sampled view has readable depth.
    """
    root = Path(spec.root)
    per_view, n_sentinel, n_valid = [], 0, 0
    for rec in sample_records(records, n):
        try:
            r, R, units, s, v = _read_sample(rec, root, rows)
        except (WorkbenchError, OSError, ValueError):
            continue
        n_sentinel, n_valid = n_sentinel + s, n_valid + v
        valid = valid_mask(r)
        med = float(np.median(r[valid])) if valid.any() else float("nan")
        per_view.append((camera_height(r, R)[0], med, units))
    if not per_view:
        return Plausibility(0, float("nan"), float("nan"), 0.0, 0.0)
    if any(u for _, _, u in per_view):  # the encoding decodes PNGs: judge those (not EXR/NPY)
        per_view = [v for v in per_view if v[2]]
    height = _median([h for h, _, _ in per_view if math.isfinite(h)])
    median_range = _median([m for _, m, _ in per_view if math.isfinite(m)])
    units = _median([u for _, _, u in per_view if u])
    units = units if math.isfinite(units) else 0.0
    sentinel = n_sentinel / n_valid if n_valid else 0.0
    reasons = _reasons(height, median_range, sentinel, units)
    alts = _alternatives(per_view, spec.encoding) if units else []
    table = tuple(
        (names, h, _ok(h, r) and (sentinel <= MAX_SENTINEL_FRACTION or inv == PNG_MAX))
        for names, h, r, inv in alts
    )
    result = Plausibility(len(per_view), height, median_range, sentinel, units, table)
    if not reasons:
        return result
    message = "; ".join(reasons) + _advice(spec, table, units)
    return Plausibility(len(per_view), height, median_range, sentinel, units, table,
                        tuple(reasons), message)  # fmt: skip


def _reasons(height: float, median_range: float, sentinel: float, units: float) -> list[str]:
    lo, hi = HEIGHT_RANGE_M
    at = f" at {units:g} units per metre" if units else ""
    out = []
    if math.isfinite(height) and not lo <= height <= hi:
        out.append(f"median camera height {height:.2f} m{at} (expected {lo:g}-{hi:g} m)")
    if median_range > MAX_MEDIAN_RANGE_M:
        out.append(
            f"median range {median_range:.1f} m{at} (expected <= {MAX_MEDIAN_RANGE_M:g} m indoors)"
        )
    if sentinel > MAX_SENTINEL_FRACTION:
        out.append(
            f"{sentinel:.1%} of valid depth pixels are the PNG maximum {PNG_MAX}"
            f" ({PNG_MAX / units:.1f} m, a missing-depth sentinel read as depth?)"
        )
    return out


def _advice(spec: DatasetSpec, table, units: float) -> str:
    """What to pass: the plausible encodings, or where else to look."""
    if spec.layout == "realsee3d":
        return ": check the views' depth_scale.txt (--encoding and dataset.json do not apply)"
    if not units:
        return (
            ": the depth files are float and read as metres (--encoding and dataset.json set only"
            " PNG decodings): check they hold metres"
        )
    good = [(names, h) for names, h, ok in table if ok and spec.encoding not in names.split("/")]
    others = ", ".join(f"{names} {h:.2f} m" for names, h, ok in table if (names, h) not in good)
    if good:
        first = good[0][0].split("/")[0]
        listed = ", ".join(f"--encoding {names.split('/')[0]} ({h:.2f} m)" for names, h in good)
        return (
            f"; plausible as {listed} (others: {others}): pass --encoding {first} or write"
            f' {{"encoding": "{first}"}} in {DATASET_JSON}'
        )
    return (
        f"; no named encoding gives a plausible camera height ({others}): pass --depth-scale"
        f' UNITS_PER_METRE or --encoding, or write {{"depth_scale": ...}} in {DATASET_JSON}'
    )


def warn_if_implausible(dataset, records=None, file=None) -> Plausibility | None:
    """Print one warning line to stderr when the depth scale looks wrong (see the module).

    Args:
        dataset: a :class:`~workbench.data.dataset.Dataset` (its spec and records) or a
            :class:`~workbench.data.dataset.DatasetSpec` (``records`` then, or its index).
        file: where to print (default ``sys.stderr``).

    Returns:
        the :class:`Plausibility` when it is implausible (after warning), else ``None``.
    """
    spec = getattr(dataset, "spec", dataset)
    if records is None:
        records = getattr(dataset, "records", None)
    if records is None:
        records = index_spec(spec, errors=[])
    result = check_plausibility(spec, records)
    if result.plausible:
        return None
    print(f"workbench: warning: {spec.root}: {result.message}", file=file or sys.stderr)
    return result
