"""Scene-level train/val splits (DESIGN §3), deterministic and stable.

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
from pathlib import Path

from workbench.data.layouts import ViewRecord, index_dataset
from workbench.data.validate import read_report_exclusions
from workbench.errors import WorkbenchError
from workbench.io import read_csv_text, write_text_atomic

__all__ = ["is_val_scene", "split_records", "write_split", "read_split_csv", "records_to_csv"]


def scene_fraction(scene_id: str) -> float:
    """Stable position of a scene in ``[0, 1)`` from its id."""
    return int.from_bytes(hashlib.sha256(scene_id.encode()).digest()[:8], "big") / 2.0**64


def is_val_scene(scene_id: str, val_fraction: float) -> bool:
    """Whether ``scene_id`` belongs to the validation side.

    >>> is_val_scene("any-scene", 0.0), is_val_scene("any-scene", 1.0)
    (False, True)
    """
    return scene_fraction(scene_id) < val_fraction


def split_records(records: list[ViewRecord], val_fraction: float = 0.1):
    """Split records by scene; returns ``(train, val)`` keeping the input order."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    train = [r for r in records if not is_val_scene(r.scene_id, val_fraction)]
    val = [r for r in records if is_val_scene(r.scene_id, val_fraction)]
    return train, val


def records_to_csv(records: list[ViewRecord]) -> str:
    """CSV text with the :class:`ViewRecord` columns, ``\\n`` line ends (byte-stable)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ViewRecord.columns(), lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow(r.as_row())
    return buf.getvalue()


def write_split(records, out_dir, root, val_fraction=0.1, exclude: set | None = None) -> dict:
    """Write ``train.csv``, ``val.csv`` and ``split.json`` into ``out_dir`` atomically.

    Args:
        exclude: ``(scene_id, view_id)`` pairs to leave out (e.g. views the health check rejected).

    Returns:
        The ``split.json`` content (counts of views and scenes per side).
    """
    out = Path(out_dir)
    exclude = exclude or set()
    kept = [r for r in records if (r.scene_id, r.view_id) not in exclude]
    train, val = split_records(kept, val_fraction)
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
    }
    write_text_atomic(out / "split.json", json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info


def read_split_csv(path: str | os.PathLike, root: str | os.PathLike | None = None):
    """Read a split CSV into ``(records, root)``.

    ``root`` defaults to the one in ``split.json`` beside the CSV. Every path must stay inside the
    root (no absolute paths, no ``..`` escapes).

    Raises:
        WorkbenchError: naming the CSV: missing columns, bad values, paths outside the root.
    """
    path = Path(path)
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
    if not path.is_file():
        raise WorkbenchError("split CSV not found", path)
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
            )
        except (TypeError, ValueError) as e:
            raise WorkbenchError(f"line {i}: bad value ({e})", path) from None
        for col in ("rgb_path", "depth_path", "pose_path", "mask_path"):
            p = getattr(rec, col)
            if not p:
                continue
            full = (root / p).resolve()
            if Path(p).is_absolute() or not full.is_relative_to(root):
                raise WorkbenchError(f"line {i}: {col} {p!r} points outside the dataset root", path)
        records.append(rec)
    if not records:
        raise WorkbenchError("split CSV has a header but no views", path)
    return records, root


def run(config) -> int:
    """CLI entry: ``workbench split``."""

    records = index_dataset(config.root, config.layout or None, config.depth_scale)
    if not records:
        raise WorkbenchError("no views found", config.root)
    exclude = None
    if config.exclude:
        exclude = read_report_exclusions(config.exclude)
    info = write_split(records, config.out, config.root, config.val_fraction, exclude)
    print(
        f"split: {info['train_views']} train views ({info['train_scenes']} scenes), "
        f"{info['val_views']} val views ({info['val_scenes']} scenes) -> {config.out}"
    )
    return 0
