"""Scene-level train/val splits (README, *Data*), deterministic and stable.

A scene goes to validation when the first 8 bytes of ``sha256(scene_id)``, read as a fraction of
2^64, fall below ``val_fraction``: the decision depends on the scene id alone, so adding scenes
never moves an existing scene to the other side, and the same input gives the same bytes.
``split.json`` beside the CSVs records the dataset root the relative paths start from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shlex
import sys
from pathlib import Path

from workbench.data.dataset import DatasetSpec, describe_dataset, index_spec
from workbench.data.layouts import ViewRecord
from workbench.data.plausibility import warn_if_implausible
from workbench.data.records import scene_count
from workbench.data.validate import read_report_exclusions
from workbench.errors import WorkbenchError
from workbench.io import (
    check_output_owner,
    claim_output_folder,
    read_csv_text,
    unclaim_output_folder,
    write_text_atomic,
)
from workbench.paths import confine

__all__ = [
    "is_val_scene",
    "split_records",
    "write_split",
    "split_dataset",
    "read_split_csv",
    "warn_if_split_implausible",
    "require_split_depth",
    "require_splits_depth",
    "records_to_csv",
]


def scene_fraction(scene_id: str) -> float:
    """Stable position of a scene in ``[0, 1)`` from its id."""
    return int.from_bytes(hashlib.sha256(scene_id.encode()).digest()[:8], "big") / 2.0**64


def is_val_scene(scene_id: str, val_fraction: float) -> bool:
    """Whether ``scene_id`` belongs to the validation side.

    >>> is_val_scene("any-scene", 0.0), is_val_scene("any-scene", 1.0)
    (False, True)
    """
    return scene_fraction(scene_id) < val_fraction


def _unit_key(r: ViewRecord, unit: str) -> str:
    return r.scene_id if unit == "scene" else f"{r.scene_id}/{r.view_id}"


def split_records(records: list[ViewRecord], val_fraction: float = 0.1, unit: str = "scene"):
    """Split records by scene (or by view, ``unit="view"``, for a dataset of one scene);
    returns ``(train, val)`` keeping the input order."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    if unit not in ("scene", "view"):
        raise ValueError(f"unit must be 'scene' or 'view', got {unit!r}")
    train = [r for r in records if not is_val_scene(_unit_key(r, unit), val_fraction)]
    val = [r for r in records if is_val_scene(_unit_key(r, unit), val_fraction)]
    return train, val


def _check_sides(train, val, val_fraction: float, unit: str) -> None:
    """A fraction strictly between 0 and 1 must leave views on both sides."""
    if not 0.0 < val_fraction < 1.0 or (train and val):
        return
    n = len({_unit_key(r, unit) for r in train + val})
    side = "validation" if not val else "training"
    hint = "raise --val-fraction" if not val else "lower --val-fraction"
    if unit == "scene":
        hint += " or split by view (--unit view)"
    raise WorkbenchError(
        f"the {side} side would be empty: {n} {unit}s, none hashed to it at "
        f"--val-fraction {val_fraction}; {hint} (0 and 1 put everything on one side)",
        "--val-fraction",
    )


def records_to_csv(records: list[ViewRecord]) -> str:
    """CSV text with the :class:`ViewRecord` columns, ``\\n`` line ends (byte-stable)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ViewRecord.columns(), lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow(r.as_row())
    return buf.getvalue()


def write_split(
    records,
    out_dir,
    root,
    val_fraction=0.1,
    exclude: set | None = None,
    spec=None,
    unit: str = "scene",
) -> dict:
    """Write ``train.csv``, ``val.csv`` and ``split.json`` into ``out_dir`` atomically.

    Args:
        exclude: ``(scene_id, view_id)`` pairs to leave out (e.g. views the health check rejected).
        spec: the :class:`~workbench.data.dataset.DatasetSpec` the records came from, saved in
            ``split.json`` (``dataset``) so later verbs read the files the same way.
        unit: split by ``scene`` (default) or by ``view``.

    Returns:
        The ``split.json`` content (counts of views and scenes per side).

    Raises:
        WorkbenchError: when a fraction strictly between 0 and 1 leaves a side empty.
    """
    out = Path(out_dir)
    exclude = exclude or set()
    kept = [r for r in records if (r.scene_id, r.view_id) not in exclude]
    train, val = split_records(kept, val_fraction, unit)
    _check_sides(train, val, val_fraction, unit)
    write_text_atomic(out / "train.csv", records_to_csv(train))
    write_text_atomic(out / "val.csv", records_to_csv(val))
    info = {
        "root": str(Path(root).resolve()),
        "val_fraction": val_fraction,
        "train_views": len(train),
        "val_views": len(val),
        "train_scenes": len({r.scene_id for r in train}),
        "val_scenes": len({r.scene_id for r in val}),
        "excluded_views": len(records) - len(kept),
        "unit": unit,
    }
    if spec is not None:
        info["dataset"] = spec.as_dict()
    write_text_atomic(out / "split.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def split_dataset(dataset, out_dir, val_fraction: float = 0.1, pairs: bool = False) -> dict:
    """:func:`write_split` of an opened dataset (:func:`workbench.open_dataset`) with its
    description saved in ``split.json``: by scene when both sides get one, else by view (a
    folder of one or a few scenes). When a small dataset's hashes put no unit on one side, the
    fraction is moved to the midpoint between the hashes that give the validation side
    ``max(1, round(n * val_fraction))`` units (still a pure function of the ids);
    ``split.json``'s ``unit`` and ``val_fraction`` say what was used.

    ``pairs=True`` (two-view training): pairs come from one scene, so a dataset that cannot be
    split by scene is not split: ``val.csv`` repeats ``train.csv`` and ``split.json`` says
    ``"validation": "training views"`` (a check of the machinery, not of generalisation).

    Raises:
        WorkbenchError: for a dataset of one view (no split can leave both sides non-empty).
    """
    records = list(dataset.records)
    for unit in ("scene", "view"):
        keys = sorted({scene_fraction(_unit_key(r, unit)) for r in records})
        n_val = sum(k < val_fraction for k in keys)
        if 0 < n_val < len(keys):
            break
    if len(keys) < 2:
        raise WorkbenchError("one view cannot be split into training and validation", dataset.root)
    if pairs and unit == "view":
        return _split_pairs_unsplit(dataset, Path(out_dir))
    if not 0 < n_val < len(keys):
        k = min(max(1, round(len(keys) * val_fraction)), len(keys) - 1)
        val_fraction = (keys[k - 1] + keys[k]) / 2
    return write_split(records, out_dir, dataset.root, val_fraction, spec=dataset.spec, unit=unit)


def _split_pairs_unsplit(dataset, out: Path) -> dict:
    """Every view on the training side, ``val.csv`` a copy of ``train.csv`` (see
    :func:`split_dataset`)."""
    info = write_split(list(dataset.records), out, dataset.root, 0.0, spec=dataset.spec)
    write_text_atomic(out / "val.csv", (out / "train.csv").read_text(encoding="utf-8"))
    info.update(val_views=info["train_views"], val_scenes=info["train_scenes"],
                validation="training views")  # fmt: skip
    write_text_atomic(out / "split.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def warn_if_split_implausible(csv_path: str | os.PathLike, records: list[ViewRecord]) -> None:
    """The depth-scale guard of ``split`` (:func:`~workbench.data.plausibility.
    warn_if_implausible`, one warning line) on the views of a split CSV, read as the dataset
    ``split.json`` beside it records (nothing when it records none): ``train`` and ``eval`` on
    a folder whose ``dataset.json`` went missing say so too."""
    try:
        meta = json.loads((Path(csv_path).parent / "split.json").read_text(encoding="utf-8-sig"))
        d = dict(meta["dataset"])
        spec = DatasetSpec(**{**d, "detected": tuple(d.get("detected", ()))})
    except (OSError, ValueError, KeyError, TypeError):
        return
    if records:
        warn_if_implausible(spec, records)


def read_split_csv(path: str | os.PathLike, root: str | os.PathLike | None = None):
    """Read a split CSV into ``(records, root)``.

    ``root`` defaults to the one in ``split.json`` beside the CSV. Every path must stay inside the
    root (no absolute paths, no ``..`` escapes).

    Raises:
        WorkbenchError: naming the CSV: missing columns, bad values, paths outside the root.
    """
    path = Path(path)
    if path.is_dir():
        raise WorkbenchError(
            "is a folder, not a split CSV: make one with `workbench split "
            f"{shlex.quote(str(path))} --out lists`, then pass lists/val.csv",
            path,
        )
    if not path.is_file():
        raise WorkbenchError("split CSV not found", path)
    if root is None:
        meta = path.parent / "split.json"
        if not meta.is_file():
            raise WorkbenchError("no dataset root given and no split.json beside the CSV", path)
        try:
            root = json.loads(meta.read_text(encoding="utf-8-sig"))["root"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise WorkbenchError("split.json has no 'root'", meta) from None
        if not isinstance(root, str) or not root:
            raise WorkbenchError(f"split.json's 'root' must be a folder path, got {root!r}", meta)
    root = Path(root).resolve()
    text = read_csv_text(path)
    rows = list(csv.DictReader(io.StringIO(text)))
    need = ViewRecord.columns()
    header = next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in need[:6] if c not in header]
    if missing:
        raise WorkbenchError(f"CSV is missing columns {missing} (expected {need})", path)
    records = []
    for i, row in enumerate(rows, start=2):
        try:
            rec = ViewRecord(
                row["scene_id"],
                row["view_id"],
                row["rgb_path"],
                row["depth_path"],
                row["pose_path"] or "",
                row["layout"],
                float(row.get("depth_scale") or 1000.0),
                int(row.get("depth_invalid") or 0),
                row.get("mask_path") or "",
                row.get("floor") or "",
                row.get("segment_path") or "",
            )
        except (TypeError, ValueError) as e:
            raise WorkbenchError(f"line {i}: bad value ({e})", path) from None
        for col in ("rgb_path", "depth_path", "pose_path", "mask_path", "segment_path"):
            p = getattr(rec, col)
            if not p:
                continue
            try:
                confine(root, p)
            except ValueError as e:
                raise WorkbenchError(f"line {i}: {col} {e}", path) from None
        records.append(rec)
    if not records:
        raise WorkbenchError(
            "split CSV has a header but no views (split --val-fraction 0 writes such a "
            "val.csv: train with --val-csv '' for no validation)",
            path,
        )
    return records, root


def _without_undecodable(records: list[ViewRecord], root) -> list[ViewRecord]:
    """The records whose depth can be decoded: a RealSee3D view without a usable
    ``depth_scale.txt`` (and no ``--depth-scale``) is left out, in one warning line naming the
    first; none left is an error."""
    kept, bad = [], []
    for r in records:
        undecodable = r.layout == "realsee3d" and r.has_depth and not r.depth_scale > 0
        (bad if undecodable else kept).append(r)
    if not bad:
        return records
    first = (Path(root) / bad[0].depth_path).parent / "depth_scale.txt"
    print(
        f"workbench: warning: {first}: {len(bad)} view(s) without a usable depth_scale.txt left "
        "out of the split (`workbench validate` names each; or pass --depth-scale N)",
        file=sys.stderr,
    )
    if not kept:
        raise WorkbenchError("no view has a usable depth_scale.txt (or pass --depth-scale N)", root)
    return kept


def run(config) -> int:
    """CLI entry: ``workbench split``; a refused split leaves no folder behind."""
    check_output_owner(config.out, "split")  # a folder of the user's (their train.csv)
    spec = describe_dataset(config.root, config)
    records = index_spec(spec)
    if not records:
        raise WorkbenchError("no views found", config.root)
    warn_if_implausible(spec, records)
    records = _without_undecodable(records, config.root)
    exclude = None
    if config.exclude:
        exclude = read_report_exclusions(config.exclude)
    made = not Path(config.out).exists()
    claim_output_folder(config.out, "split")
    try:
        info = write_split(
            records, config.out, config.root, config.val_fraction, exclude, spec, config.unit
        )
    except WorkbenchError:  # refused (an empty side): a folder this run made goes too
        if made:
            unclaim_output_folder(config.out)
        raise
    print(
        f"split: {info['train_views']} train views ({scene_count(info['train_scenes'])}), "
        f"{info['val_views']} val views ({scene_count(info['val_scenes'])}) -> {config.out}"
    )
    return 0


def require_split_depth(records, csv, flag: str, use: str) -> None:
    """Refuse a split CSV none of whose views has depth (a pose-only dataset, panoramas
    alone) before any work: ``use`` (e.g. "supervised training") needs ground truth.

    Raises:
        WorkbenchError: naming ``csv`` and ``flag``.
    """
    if not any(r.has_depth for r in records):
        raise WorkbenchError(
            f"{flag}: none of its views has depth (a pose-only dataset or panoramas alone): "
            f"{use} needs it",
            csv,
        )


def require_splits_depth(train_csv, val_csv, use: str, poses: bool = False) -> None:
    """:func:`require_split_depth` of a trainer's ``--train-csv`` and ``--val-csv`` (``""``:
    none), read here: before a run folder is made. With ``poses`` (the pair trainers), the
    training split must hold posed views too (its pairs are views placed by their poses).

    Raises:
        WorkbenchError: naming the CSV and its flag.
    """
    for flag, path in (("--train-csv", train_csv), ("--val-csv", val_csv)):
        if path:
            records = read_split_csv(path)[0]
            require_split_depth(records, path, flag, use)
            if poses and flag == "--train-csv" and not any(r.pose_path for r in records):
                raise WorkbenchError(
                    f"--train-csv: none of its views has a pose: {use} pairs views by their poses",
                    path,
                )
