"""``workbench pack``: any supported dataset → TFRecord shards that every verb reads.

At 300k views on shared storage, opening one JPEG, one PNG and one text file per sample limits
training, not decoding. A packed dataset is a folder of ``shard-NNNNN-of-MMMMM.tfrecord`` files
(~``shard_mb`` each), ``index.csv`` (one row per view: shard, byte offset, decoding) and
``manifest.json`` (format, counts, per-shard view count, bytes and SHA-256). It is the
``shards`` layout of :mod:`workbench.data.layouts`: ``split``, ``train``, ``eval``, ``eda`` and
the rest read it like a folder, decode every view exactly as from its source (same pixels, same
range, same pose: tested), and keep the exact-resume sample order (the pipeline reads a record
by its offset).

Each view is one ``tf.train.Example`` (TensorFlow's ``TFRecordDataset`` reads the shards too):
``rgb`` (the source file's bytes), ``depth`` (the source 16-bit PNG's bytes, the mask applied
when the dataset has one, or zlib-compressed float32 metres for EXR/NPY sources),
``depth_kind`` (``png16``/``f32z``), ``depth_shape``, ``depth_scale``, ``depth_invalid``,
``pose`` (16 float64, ``T_world_from_cam``), ``scene_id``, ``view_id``, ``floor``.

Shards are written on the engine (:mod:`workbench.engine`: ``--workers N`` threads, or the Dask
cluster at ``--scheduler``), each atomically (a hidden
temporary, then renamed) with a sidecar ``.json`` written last: a re-run skips finished shards;
a view that cannot be read is reported and left out, the others are packed.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from workbench.data.dataset import describe_dataset, index_spec
from workbench.data.layouts import (
    SHARDS_FORMAT,
    ViewRecord,
    depth_from_png,
    read_depth,
    read_mask,
)
from workbench.data.tfrecord import encode_example, frame_record
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.pose import read_pose
from workbench.io import (
    atomic_path,
    decode_image,
    make_folder,
    read_image,
    rgb_from_image,
    write_csv_atomic,
    write_text_atomic,
)

__all__ = ["INDEX_FIELDS", "ShardJob", "pack", "pack_view", "run"]

INDEX_FIELDS = (
    "scene_id",
    "view_id",
    "shard",
    "offset",
    "length",
    "has_pose",
    "depth_scale",
    "depth_invalid",
    "floor",
)


def _depth_bytes(rec: ViewRecord, root: Path) -> tuple[bytes, str, tuple[int, int]]:
    """The depth as stored in a shard: ``(bytes, kind, (H, W))``."""
    path = root / rec.depth_path
    if path.suffix.lower() == ".png":
        d = read_image(path)
        depth_from_png(d, rec.depth_scale, rec.depth_invalid, path)  # checks dtype, scale
        if not rec.mask_path:
            return path.read_bytes(), "png16", d.shape
        d = d.copy()
        d[~read_mask(root / rec.mask_path, d.shape)] = 0
        _, buf = cv2.imencode(".png", d)
        return buf.tobytes(), "png16", d.shape
    r = read_depth(path, rec.depth_scale, rec.depth_invalid)
    if rec.mask_path:
        r[~read_mask(root / rec.mask_path, r.shape)] = 0
    return zlib.compress(r.astype("<f4").tobytes(), 1), "f32z", r.shape


def pack_view(rec: ViewRecord, root: str | Path) -> bytes:
    """One view as a serialized ``tf.train.Example`` (see the module doc)."""
    root = Path(root)
    rgb_path = root / rec.rgb_path
    rgb_bytes = rgb_path.read_bytes() if rgb_path.is_file() else b""
    rgb = rgb_from_image(decode_image(rgb_bytes, rgb_path), rgb_path)  # refuse bad files now
    if rgb.shape[1] != 2 * rgb.shape[0]:
        raise WorkbenchError(f"panorama must be 2:1, got {rgb.shape[1]}x{rgb.shape[0]}", rgb_path)
    depth, kind, shape = _depth_bytes(rec, root)
    pose = read_pose(root / rec.pose_path).astype("<f8").tobytes() if rec.pose_path else b""
    return encode_example(
        {
            "scene_id": rec.scene_id.encode(),
            "view_id": rec.view_id.encode(),
            "floor": rec.floor.encode(),
            "rgb": rgb_bytes,
            "depth": depth,
            "depth_kind": kind.encode(),
            "depth_shape": list(shape),
            "depth_scale": [rec.depth_scale],
            "depth_invalid": [rec.depth_invalid],
            "pose": pose,
        }
    )


@dataclass(frozen=True)
class ShardJob:
    """Shard ``k`` of ``n``: ``records`` of the dataset at ``root``, written into ``out``."""

    k: int
    n: int
    records: tuple
    root: str
    out: str

    @property
    def name(self) -> str:
        return f"shard-{self.k:05d}-of-{self.n:05d}.tfrecord"


def write_shard(job: ShardJob) -> dict:
    """Write one shard (skipped when its sidecar says it is done); returns the sidecar:
    ``file``, ``bytes``, ``sha256``, ``rows`` (index rows) and ``errors`` (views left out)."""
    out = Path(job.out)
    side = out / f".{job.name}.json"
    if side.is_file() and (out / job.name).is_file():
        done = json.loads(side.read_text(encoding="utf-8"))
        if done.get("bytes") == (out / job.name).stat().st_size:
            return {**done, "skipped": True}
    rows, errors, offset, digest = [], [], 0, hashlib.sha256()
    with atomic_path(out / job.name) as tmp, open(tmp, "wb") as f:
        for rec in job.records:
            try:
                data = frame_record(pack_view(rec, job.root))
            except WorkbenchError as e:
                errors.append({"scene_id": rec.scene_id, "view_id": rec.view_id, "error": str(e)})
                continue
            f.write(data)
            digest.update(data)
            rows.append(
                {
                    "scene_id": rec.scene_id,
                    "view_id": rec.view_id,
                    "shard": job.name,
                    "offset": offset,
                    "length": len(data),
                    "has_pose": int(bool(rec.pose_path)),
                    "depth_scale": repr(float(rec.depth_scale)),
                    "depth_invalid": rec.depth_invalid,
                    "floor": rec.floor,
                }
            )
            offset += len(data)
    result = {
        "file": job.name,
        "bytes": offset,
        "sha256": digest.hexdigest(),
        "views": len(rows),
        "rows": rows,
        "errors": errors,
    }
    write_text_atomic(side, json.dumps(result) + "\n")
    return {**result, "skipped": False}


def views_per_shard(records, root: Path, shard_mb: float, probe: int = 16) -> int:
    """Views that fill about ``shard_mb`` MiB, from the file sizes of the first ``probe``."""
    sizes = []
    for r in records[:probe]:
        paths = [root / r.rgb_path, root / r.depth_path]
        sizes.append(sum(p.stat().st_size for p in paths if p.is_file()) + 300)
    return max(1, int(shard_mb * 2**20 / max(float(np.mean(sizes)), 1.0)))


def pack(
    records,
    root,
    out,
    shard_mb: float = 150.0,
    workers: int = 1,
    scheduler: str = "",
    progress: bool = True,
) -> dict:
    """Pack ``records`` of the dataset at ``root`` into ``out`` (see the module doc); returns
    the manifest (``errors`` lists the views left out)."""
    root, out = Path(root), make_folder(out)
    per = views_per_shard(records, root, shard_mb)
    chunks = [tuple(records[i : i + per]) for i in range(0, len(records), per)]
    jobs = [ShardJob(k, len(chunks), c, str(root), str(out)) for k, c in enumerate(chunks)]
    results = run_tasks(
        write_shard, jobs, workers, scheduler, desc="pack", progress=progress, local="threads"
    )
    rows, errors, shards = [], [], []
    for job, res in results:
        if isinstance(res, Exception):
            errors.append({"scene_id": "", "view_id": job.name, "error": str(res)[:300]})
            continue
        rows += res["rows"]
        errors += res["errors"]
        shards.append({k: res[k] for k in ("file", "views", "bytes", "sha256")})
    write_csv_atomic(out / "index.csv", INDEX_FIELDS, rows)
    manifest = {
        "format": SHARDS_FORMAT,
        "source": str(root),
        "views": len(rows),
        "scenes": len({r["scene_id"] for r in rows}),
        "shards": shards,
        "bytes": sum(s["bytes"] for s in shards),
        "errors": errors,
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def run(config) -> int:
    """CLI entry: ``workbench pack ROOT --out SHARDS``."""
    if Path(config.out).resolve() == Path(config.root).resolve():
        raise WorkbenchError("--out must differ from the dataset root", config.out)
    spec = describe_dataset(config.root, config)
    index_errors: list = []
    records = index_spec(spec, errors=index_errors)
    if not records:
        raise WorkbenchError("dataset has no views", config.root)
    m = pack(
        records,
        spec.root,
        config.out,
        config.shard_mb,
        config.workers,
        config.scheduler,
        config.progress,
    )
    failed = [
        {"scene_id": Path(e.path or "").name, "view_id": "", "error": str(e)} for e in index_errors
    ] + m["errors"]
    print(
        f"pack: {m['views']} views of {m['scenes']} scenes in {len(m['shards'])} shards "
        f"({m['bytes'] / 2**20:.1f} MiB) -> {config.out}"
    )
    for f in failed:
        print(f"  left out: {f['scene_id']}/{f['view_id']}: {f['error']}")
    if not m["views"]:
        raise WorkbenchError(f"no view could be packed ({failed[0]['error']})", config.root)
    return 1 if failed else 0
