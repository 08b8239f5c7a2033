"""Is the depth read at the right scale? A guard against a dataset decoded with the wrong
encoding (a Matterport3D folder without its ``dataset.json`` read as millimetres is 4x too far)
and against single scenes decoded at the wrong scale (a RealSee3D scene whose ``depth_scale.txt``
files are 8x too large, hidden among good scenes).

From a sample of up to :data:`SCENE_VIEWS` views per scene and :data:`SAMPLE_VIEWS` views in
all, spread over the scenes (:func:`sample_records`), read at :data:`SAMPLE_ROWS` rows exactly
as :func:`~workbench.data.layouts.load_view` reads them (masks applied), three statistics, per
scene and over the whole sample:

- the median camera height above the floor (:func:`~workbench.geometry.camera_height.camera_height`
  with each pose's rotation), metres;
- the median range, metres (the median of the views' medians);
- the fraction of valid pixels whose raw PNG value is 65535, the format's largest value (a
  missing-depth sentinel read as depth, e.g. Stanford2D3D's, unless the encoding says otherwise).

A scene is implausible when its camera height lies outside :data:`HEIGHT_RANGE_M`, its median
range exceeds :data:`MAX_MEDIAN_RANGE_M` or more than :data:`MAX_SENTINEL_FRACTION` of its
valid pixels read 65535. When every sampled scene is, and so is the whole sample, the dataset is
(one verdict, the message saying for every named PNG encoding of
:data:`~workbench.data.dataset.ENCODINGS` the camera height it would give, which are plausible
and how to choose one: ``--encoding`` or ``dataset.json``; RealSee3D: the ``depth_scale.txt``
value, or ``--depth-scale``, that would be). Otherwise each implausible scene is named with its
own verdict (``validate``: one row per scene; other verbs: one warning line for them all).
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from workbench.data.dataset import DATASET_JSON, ENCODINGS, DatasetSpec, index_spec
from workbench.data.layouts import (
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
    "ScenePlausibility",
    "check_plausibility",
    "warn_if_implausible",
    "sample_records",
    "HEIGHT_RANGE_M",
    "MAX_MEDIAN_RANGE_M",
    "MAX_SENTINEL_FRACTION",
    "SAMPLE_VIEWS",
    "SCENE_VIEWS",
    "SAMPLE_ROWS",
]

HEIGHT_RANGE_M = (0.5, 3.0)
MAX_MEDIAN_RANGE_M = 15.0
MAX_SENTINEL_FRACTION = 0.01
SAMPLE_VIEWS = 64
SCENE_VIEWS = 4
SAMPLE_ROWS = 128
PNG_MAX = 65535
TYPICAL_HEIGHT_M = 1.5  # a suggested scale aims at this camera height
SHOWN_SCENES = 5  # implausible scenes a warning line names
READ_THREADS = min(8, os.cpu_count() or 1)  # the sample's PNGs decode in parallel


@dataclass(frozen=True)
class ScenePlausibility:
    """What a scene's sampled views say about its depth scale.

    Attributes:
        scene_id: the scene.
        views: its sampled views whose depth could be read.
        camera_height_m: median camera height, metres (NaN when no view sees the floor).
        median_range_m: median of the views' median ranges, metres (NaN without valid depth).
        sentinel_fraction: fraction of valid depth pixels whose raw PNG value is 65535.
        units_per_metre: median PNG units per metre of its PNG views (0: float files).
        reasons: which rules failed (empty when plausible).
        message: one line, what is wrong and what would fix it (``""`` when plausible).
    """

    scene_id: str
    views: int
    camera_height_m: float
    median_range_m: float
    sentinel_fraction: float
    units_per_metre: float
    reasons: tuple[str, ...] = ()
    message: str = ""

    @property
    def plausible(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class Plausibility:
    """What a sample of views says about the depth scale.

    Attributes:
        views: sampled views whose depth could be read.
        camera_height_m: median camera height over the sample, metres (NaN when no view sees
            the floor).
        median_range_m: median of the views' median ranges, metres (NaN without valid depth).
        sentinel_fraction: fraction of valid depth pixels whose raw PNG value is 65535.
        units_per_metre: median PNG units per metre of the sampled PNG views (0: float files).
        alternatives: ``(encoding names, camera height m, plausible)`` per named PNG encoding
            over the sample (names sharing a decoding joined by ``/``).
        reasons: which rules failed (empty when plausible): the sample's when the whole dataset
            is implausible, else ``"<scene>: <rule>"`` per implausible scene.
        message: one line saying what is wrong and what to pass (``""`` when plausible).
        scenes: each sampled scene's verdict, in index order.
        whole_dataset: every sampled scene, and the whole sample, is implausible: one
            dataset-level verdict (else the implausible scenes are named one by one).
    """

    views: int
    camera_height_m: float
    median_range_m: float
    sentinel_fraction: float
    units_per_metre: float
    alternatives: tuple[tuple[str, float, bool], ...] = ()
    reasons: tuple[str, ...] = ()
    message: str = ""
    scenes: tuple[ScenePlausibility, ...] = ()
    whole_dataset: bool = False

    @property
    def plausible(self) -> bool:
        return not self.reasons

    @property
    def implausible_scenes(self) -> list[ScenePlausibility]:
        return [s for s in self.scenes if not s.plausible]

    def problems(self) -> list[tuple[str, str]]:
        """``(scene id, message)`` per verdict: one ``("", message)`` when the whole dataset is
        implausible, one per implausible scene otherwise, none when plausible."""
        if self.plausible:
            return []
        if self.whole_dataset:
            return [("", self.message)]
        return [(s.scene_id, s.message) for s in self.implausible_scenes]


class _View(NamedTuple):
    """One sampled view's statistics (heights and ranges in metres)."""

    scene_id: str
    height: float
    median: float
    units: float
    n_sentinel: int
    n_valid: int


def sample_records(records, n: int = SAMPLE_VIEWS, per_scene: int | None = None) -> list:
    """Up to ``n`` records with depth, spread evenly over the scenes (up to ``n`` of them, each
    with the same number of views) and within each scene (up to ``per_scene`` each; ``None``:
    ``n`` shared among the picked scenes); deterministic: the same records give the same
    sample."""
    scenes: dict[str, list[ViewRecord]] = {}
    for r in records:
        if r.has_depth:
            scenes.setdefault(r.scene_id, []).append(r)
    if not scenes or n < 1:
        return []
    names = list(scenes)
    picked = np.unique(np.linspace(0, len(names) - 1, min(n, len(names))).round().astype(int))
    k_max = max(1, n // len(picked))  # every picked scene gets as many views
    if per_scene is not None:
        k_max = max(1, min(k_max, per_scene))
    out = []
    for i in picked:
        views = scenes[names[i]]
        k = min(k_max, len(views))
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
            # not capped at MAX_PLAUSIBLE_RANGE_M as load_view caps it: the statistics are
            # rescaled to the other encodings' scales (millimetres read at 1 unit per metre
            # lost their floor beyond 1,000 "m" and suggested 512 units per metre)
            r = depth_from_png(raw, units, rec.depth_invalid, path)
        else:
            r = read_depth(path, rec.depth_scale, rec.depth_invalid)
        if rec.mask_path:
            r[~read_mask(root / rec.mask_path, r.shape)] = 0
        T = read_pose(root / rec.pose_path) if rec.pose_path else None
    valid = valid_mask(r)
    n_sentinel = int((valid & (raw == PNG_MAX)).sum()) if raw is not None else 0
    small = resize_range(r, rows) if r.shape[0] != rows else r
    return small, (None if T is None else T[:3, :3]), float(units), n_sentinel, int(valid.sum())


def _read_views(spec: DatasetSpec, records, n: int, rows: int) -> list[_View]:
    """The sampled views' statistics (:func:`sample_records`, :data:`SCENE_VIEWS` per scene,
    decoded in threads, kept in sample order); views that cannot be read are skipped
    (``validate`` reports those), and float (EXR/NPY) views too when the sample holds PNG views
    (the encoding decodes PNGs: judge those)."""
    root = Path(spec.root)

    def one(rec: ViewRecord) -> _View | None:
        try:
            r, R, units, n_sentinel, n_valid = _read_sample(rec, root, rows)
        except (WorkbenchError, OSError, ValueError):
            return None
        valid = valid_mask(r)
        med = float(np.median(r[valid])) if valid.any() else float("nan")
        return _View(rec.scene_id, camera_height(r, R)[0], med, units, n_sentinel, n_valid)

    sample = sample_records(records, n, SCENE_VIEWS)
    with ThreadPoolExecutor(max(1, min(READ_THREADS, len(sample)))) as pool:
        out = [v for v in pool.map(one, sample) if v is not None]
    if any(v.units for v in out):
        out = [v for v in out if v.units]
    return out


def _stats(views: list[_View]) -> tuple[float, float, float, float]:
    """``(median camera height m, median range m, 65535 fraction, median PNG units per metre or
    0)`` of ``views``."""
    height = _median([v.height for v in views if math.isfinite(v.height)])
    median_range = _median([v.median for v in views if math.isfinite(v.median)])
    n_valid = sum(v.n_valid for v in views)
    sentinel = sum(v.n_sentinel for v in views) / n_valid if n_valid else 0.0
    units = _median([v.units for v in views if v.units])
    return height, median_range, sentinel, units if math.isfinite(units) else 0.0


def _at_scale(views: list[_View], scale: float) -> tuple[float, float]:
    """``(median camera height m, median range m)`` of ``views`` re-read at ``scale`` PNG units
    per metre (float views, units 0, keep theirs)."""
    f = [v.units / scale if v.units else 1.0 for v in views]
    h = [v.height * fv for v, fv in zip(views, f, strict=True) if math.isfinite(v.height)]
    r = [v.median * fv for v, fv in zip(views, f, strict=True) if math.isfinite(v.median)]
    return _median(h), _median(r)


def _alternatives(views: list[_View], current: str) -> list[tuple[str, float, float, float, int]]:
    """``(names, PNG units per metre, camera height m, median range m, invalid value)`` of each
    named PNG encoding (names sharing a decoding joined by ``/``, ``current`` first)."""
    groups: dict[tuple[float, int], list[str]] = {}
    for e in ENCODINGS.values():
        if e.scale > 0 and e.png:  # EXR/NPY encodings do not decode PNGs
            groups.setdefault((e.scale, e.invalid), []).append(e.name)
    out = []
    for (scale, invalid), names in groups.items():
        names.sort(key=lambda n: n != current)
        out.append(("/".join(names), scale, *_at_scale(views, scale), invalid))
    return out


def _suggest_scale(views: list[_View], preferred=()) -> tuple[float, float] | None:
    """``(PNG units per metre, camera height m)`` at which ``views`` look plausible: the first
    of ``preferred`` (e.g. the plausible scenes' scales), the named PNG encodings' scales, or
    the current scale times or divided by 2, 4, 8, 10, 16, 100 or 1000 that gives a plausible
    camera height (median range without one), the nearest to :data:`TYPICAL_HEIGHT_M` (3 m);
    ``None`` for float views or when none does."""
    _, _, _, units = _stats(views)
    if not units:
        return None
    named = sorted({e.scale for e in ENCODINGS.values() if e.scale > 0 and e.png})
    factors = [units * f**s for f in (2, 4, 8, 10, 16, 100, 1000) for s in (1, -1)]
    for tier in (preferred, named, factors):
        best = None
        for scale in tier:
            if scale == units:
                continue
            h, r = _at_scale(views, scale)
            if not (math.isfinite(h) or math.isfinite(r)) or not _ok(h, r):
                continue
            cost = abs(math.log(h / TYPICAL_HEIGHT_M if math.isfinite(h) else r / 3.0))
            if best is None or cost < best[0]:
                best = (cost, float(scale), h)
        if best is not None:
            return best[1], best[2]
    return None


def _median(x) -> float:
    return float(np.median(x)) if len(x) else float("nan")


def _ok(height: float, median_range: float) -> bool:
    lo, hi = HEIGHT_RANGE_M
    height_ok = not math.isfinite(height) or lo <= height <= hi
    return height_ok and not median_range > MAX_MEDIAN_RANGE_M


def check_plausibility(
    spec: DatasetSpec, records, n: int = SAMPLE_VIEWS, rows: int = SAMPLE_ROWS
) -> Plausibility:
    """Sample up to ``n`` views of ``records`` (:data:`SCENE_VIEWS` per scene, read as ``spec``
    says) and judge their depth scale, per scene and as a whole (see the module).

    Args:
        spec: the dataset's description (its encoding names the current decoding).
        records: its views (views without depth, and views that cannot be read, are skipped:
            ``validate`` reports those).
        n, rows: views sampled in all and the rows (``rows x 2*rows``) each is judged at.

    Returns:
        :class:`Plausibility`; ``views == 0`` (plausible) when no sampled view has readable depth.
    """
    views = _read_views(spec, records, n, rows)
    if not views:
        return Plausibility(0, float("nan"), float("nan"), 0.0, 0.0)
    scenes = _judge_scenes(spec, views)
    height, median_range, sentinel, units = _stats(views)
    alts = _alternatives(views, spec.encoding) if units else []
    table = tuple(
        (names, h, _ok(h, r) and (sentinel <= MAX_SENTINEL_FRACTION or inv == PNG_MAX))
        for names, _, h, r, inv in alts
    )
    stats = (len(views), height, median_range, sentinel, units, table)
    bad = [s for s in scenes if not s.plausible]
    reasons = _reasons(height, median_range, sentinel, units)
    if reasons and len(bad) == len(scenes):  # every scene: the dataset's decoding
        advice = _advice(spec, views, table, units, _ok(height, median_range))
        message = "; ".join(reasons) + advice
        return Plausibility(*stats, tuple(reasons), message, scenes, whole_dataset=True)
    if not bad:
        return Plausibility(*stats, scenes=scenes)
    total = len({r.scene_id for r in records if r.has_depth})
    reasons = [f"{s.scene_id}: {why}" for s in bad for why in s.reasons]
    return Plausibility(*stats, tuple(reasons), _scenes_message(bad, len(scenes), total), scenes)


def _judge_scenes(spec: DatasetSpec, views: list[_View]) -> tuple[ScenePlausibility, ...]:
    """Each sampled scene's verdict, in sample order; an implausible scene's message suggests
    the scale of the plausible scenes first."""
    by_scene: dict[str, list[_View]] = {}
    for v in views:
        by_scene.setdefault(v.scene_id, []).append(v)
    stats = {sid: _stats(vs) for sid, vs in by_scene.items()}
    reasons = {sid: _reasons(*st) for sid, st in stats.items()}
    preferred = sorted({st[3] for sid, st in stats.items() if st[3] and not reasons[sid]})
    out = []
    for sid, vs in by_scene.items():
        message = ""
        if reasons[sid]:
            ok = _ok(stats[sid][0], stats[sid][1])
            message = "; ".join(reasons[sid]) + _scene_advice(spec, vs, preferred, ok)
        out.append(ScenePlausibility(sid, len(vs), *stats[sid], tuple(reasons[sid]), message))
    return tuple(out)


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


def _realsee_advice(spec: DatasetSpec, views: list[_View], preferred, whole: bool) -> str:
    """RealSee3D: the ``depth_scale.txt`` value (or ``--depth-scale``) that would be plausible,
    for every view (``whole``) or one scene's."""
    sug = _suggest_scale(views, preferred)
    note = "; --encoding and dataset.json do not apply" if whole else ""
    whose = "the" if whole else "its"
    if spec.depth_scale:  # --depth-scale overrides every view's depth_scale.txt
        if sug is None:
            return f" (read at --depth-scale {spec.depth_scale:g}: pass another{note})"
        return (
            f": --depth-scale {sug[0]:g} would give {sug[1]:.2f} m (it applies to every view{note})"
        )
    if sug is None:
        return f": check {whose} views' depth_scale.txt (or pass --depth-scale N{note})"
    u, h = f"{sug[0]:g}", f"{sug[1]:.2f}"
    fix = "fix its views' depth_scale.txt"
    if whole:
        fix = f"fix the views' depth_scale.txt or pass --depth-scale {u}"
    return f": depth_scale.txt would give {h} m at {u} units per metre ({fix}{note})"


def _scene_advice(spec: DatasetSpec, views: list[_View], preferred, ok: bool) -> str:
    """What would make one implausible scene plausible (``ok``: its height and range are, only
    the 65535 rule failed: nothing to add)."""
    if ok:
        return ""
    if spec.layout == "realsee3d":
        return _realsee_advice(spec, views, preferred, whole=False)
    units = _stats(views)[3]
    if not units:
        return ": its depth files are float and read as metres: check they hold metres"
    where = (
        " (its others/meta.json depth_scale?)"
        if spec.layout == "seed"
        else " (its files in other units than the other scenes'?)"
    )
    good = [  # a seed scene's meta.json may read it at another scale than the encoding's
        f"{names.split('/')[0]} ({scale:g} units per metre: {h:.2f} m)"
        for names, scale, h, r, _ in _alternatives(views, spec.encoding)
        if _ok(h, r) and scale != units
    ]
    if good:
        return f"; plausible as {', '.join(good)}{where}"
    sug = _suggest_scale(views, preferred)
    if sug is None:
        return where
    return f"; {sug[0]:g} units per metre would give {sug[1]:.2f} m{where}"


def _depth_scale_advice(spec: DatasetSpec, views: list[_View]) -> str:
    """What to pass instead of a ``--depth-scale`` (or ``dataset.json`` ``depth_scale``) that
    overrides the encoding's: the named PNG encodings' scales that give a plausible camera
    height (:func:`_suggest_scale` else)."""
    good = [
        f"--depth-scale {scale:g} ({names}: {h:.2f} m)"
        for names, scale, h, r, _ in _alternatives(views, "")
        if _ok(h, r) and scale != spec.depth_scale
    ]
    if good:
        return f"; plausible at {', '.join(good)}"
    sug = _suggest_scale(views)
    if sug is None:
        return ": pass another --depth-scale"
    return f"; --depth-scale {sug[0]:g} would give {sug[1]:.2f} m"


def _advice(spec: DatasetSpec, views: list[_View], table, units: float, ok: bool) -> str:
    """What to pass when the whole dataset is implausible: the plausible encodings, the
    RealSee3D scale, or where else to look (``ok``: height and range are plausible)."""
    if spec.layout == "realsee3d":
        if ok:
            return ": check the views' depth_scale.txt (--encoding and dataset.json do not apply)"
        return _realsee_advice(spec, views, (), whole=True)
    if not units:
        return (
            ": the depth files are float and read as metres (--encoding and dataset.json set only"
            " PNG decodings): check they hold metres"
        )
    if spec.depth_scale != ENCODINGS[spec.encoding].scale:  # --depth-scale (or dataset.json's)
        return _depth_scale_advice(spec, views)  # overrides the encoding: another scale
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


def _short(s: ScenePlausibility) -> str:
    """What is wrong with one scene, in a few words."""
    lo, hi = HEIGHT_RANGE_M
    h = s.camera_height_m
    if math.isfinite(h) and not lo <= h <= hi:
        return f"camera {h:.2f} m"
    if s.median_range_m > MAX_MEDIAN_RANGE_M:
        return f"median range {s.median_range_m:.1f} m"
    return f"{s.sentinel_fraction:.0%} at {PNG_MAX}"


def _scenes_message(bad: list[ScenePlausibility], judged: int, total: int) -> str:
    """One line naming the implausible scenes (up to :data:`SHOWN_SCENES`), the first one's
    verdict, and where each is listed."""
    of = f"{judged} scenes" if judged == total else f"{judged} sampled scenes (of {total})"
    names = ", ".join(f"{s.scene_id} ({_short(s)})" for s in bad[:SHOWN_SCENES])
    if len(bad) > SHOWN_SCENES:
        names += f" and {len(bad) - SHOWN_SCENES} more"
    return (
        f"{len(bad)} of {of} have an implausible depth scale: {names}; {bad[0].scene_id}:"
        f" {bad[0].message}; workbench validate lists each scene"
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
