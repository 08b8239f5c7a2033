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
temporary, then renamed) with a sidecar ``.json`` written last: a re-run skips finished shards
whose sidecar records the same job (the same views, decodings and source file sizes and times:
another ``--shard-mb`` or ``--depth-scale`` redoes them); ``manifest.json`` records the options;
a view that cannot be read is reported and left out, the others are packed.

:func:`check_pack` checks a pack as a pack (``validate`` of a packed dataset): the manifest's
counts, every shard's size and SHA-256, every index row's record (CRCs and fields);
:func:`check_shards` is the cheap check (present, manifest size) the training pipeline runs when
it opens a pack.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from workbench.data.dataset import describe_dataset, index_spec, require_depth
from workbench.data.layouts import (
    SHARDS_FORMAT,
    ViewRecord,
    check_record_scale,
    depth_from_png,
    read_depth,
    read_mask,
)
from workbench.data.tfrecord import decode_example, encode_example, frame_record, read_record_at
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.pose import read_pose
from workbench.io import (
    atomic_path,
    claim_output_folder,
    decode_image,
    make_folder,
    read_csv_text,
    read_image,
    rgb_from_image,
    sweep_temporaries,
    unclaim_output_folder,
    write_csv_atomic,
    write_text_atomic,
)
from workbench.paths import confine

__all__ = ["INDEX_FIELDS", "ShardJob", "pack", "pack_view", "check_pack", "check_shards", "run"]

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
    check_record_scale(rec, root)  # a bad depth_scale.txt named, not the PNG
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

    def fingerprint(self) -> str:
        """What shaped this shard: its views with their decodings and the size and modification
        time of each source file (a sidecar with another fingerprint is redone)."""
        h = hashlib.sha256(f"{self.name}\n{Path(self.root).resolve()}\n".encode())
        for rec in self.records:
            h.update(repr(rec).encode())
            for rel in (rec.rgb_path, rec.depth_path, rec.pose_path, rec.mask_path):
                st = _stat(Path(self.root) / rel) if rel else None
                h.update(repr(st).encode())
        return h.hexdigest()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def write_shard(job: ShardJob) -> dict:
    """Write one shard (skipped when its sidecar says it is done); returns the sidecar:
    ``file``, ``bytes``, ``sha256``, ``rows`` (index rows) and ``errors`` (views left out)."""
    out = Path(job.out)
    side = out / f".{job.name}.json"
    fingerprint = job.fingerprint()
    if side.is_file() and (out / job.name).is_file():
        try:
            done = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            done = {}
        if (
            isinstance(done, dict)
            and done.get("job") == fingerprint
            and done.get("bytes") == (out / job.name).stat().st_size
        ):
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
        "job": fingerprint,
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
    options: dict | None = None,
) -> dict:
    """Pack ``records`` of the dataset at ``root`` into ``out`` (see the module doc); returns
    the manifest (``errors`` lists the views left out; ``options`` the options that shaped it,
    ``shard_mb`` and what the caller adds)."""
    root, out = Path(root), make_folder(out)
    sweep_temporaries(out, recursive=False)  # shard temporaries of killed packs, only those
    earlier = _recorded_shards(out)
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
        "options": {"shard_mb": shard_mb, **(options or {})},
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    for name in earlier - {s["file"] for s in shards}:  # an earlier pack's, now unlisted
        (out / name).unlink(missing_ok=True)
        (out / f".{name}.json").unlink(missing_ok=True)
    return manifest


def _recorded_shards(out: Path) -> set[str]:
    """The shard files an earlier pack into ``out`` listed in its ``manifest.json`` (plain
    ``.tfrecord`` names inside ``out``; none when there is no readable manifest): a re-pack
    with other shard sizes removes those it does not write again, and nothing else."""
    try:
        m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        names = {e["file"] for e in m["shards"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    return {n for n in names if isinstance(n, str) and n == Path(n).name
            and n.endswith(".tfrecord")}  # fmt: skip


def _read_manifest(root: Path) -> tuple[dict, list[dict]]:
    """``manifest.json`` and its shard entries, each checked to be ``{file, views, bytes,
    sha256}`` of a file inside ``root``.

    Raises:
        WorkbenchError: naming ``manifest.json`` and the entry that is wrong.
    """
    path = root / "manifest.json"
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        shards = m["shards"]
        for i, e in enumerate(shards):
            if not (isinstance(e["file"], str) and isinstance(e["sha256"], str)):
                raise TypeError(f"shards[{i}]: file and sha256 must be strings")
            if not all(isinstance(e[k], int) and e[k] >= 0 for k in ("views", "bytes")):
                raise TypeError(f"shards[{i}]: views and bytes must be counts")
            try:
                confine(root, e["file"])
            except ValueError as err:
                raise TypeError(f"shards[{i}]: {err}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise WorkbenchError(f"not a pack manifest ({type(e).__name__}: {e})", path) from None
    return m, shards


def check_shards(root: str | os.PathLike, names=None) -> None:
    """The cheap check of a pack before reading it (the training pipeline's): every shard of
    the manifest (or of ``names``) is present and of the size the manifest records. Content is
    checked as each record is read (CRCs); :func:`check_pack` hashes everything.

    Raises:
        WorkbenchError: naming the shard file that is missing or of the wrong size.
    """
    root = Path(root)
    _, shards = _read_manifest(root)
    sizes = {e["file"]: e["bytes"] for e in shards}
    for name in sorted(sizes if names is None else set(names)):
        path = root / name
        if name not in sizes:
            raise WorkbenchError("shard is not in the pack's manifest.json", path)
        if not path.is_file():
            raise WorkbenchError("shard of the pack is missing (see manifest.json)", path)
        if path.stat().st_size != sizes[name]:
            raise WorkbenchError(
                f"shard is {path.stat().st_size} bytes, manifest.json says {sizes[name]}"
                " (truncated or replaced: pack again)",
                path,
            )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _shard_problems(root: Path, entry: dict, rows: list[dict], records: bool) -> list:
    """One shard against its manifest entry and its index rows."""
    name, path = entry["file"], root / entry["file"]
    if not path.is_file():
        return [(name, "missing shard", f"listed in manifest.json with {entry['views']} views")]
    out = []
    size, said = path.stat().st_size, entry["bytes"]
    if size != said:
        out.append((name, "shard size mismatch", f"{size} bytes, manifest.json says {said}"))
    elif _sha256(path) != entry["sha256"]:
        detail = "SHA-256 differs from manifest.json (changed or corrupt)"
        out.append((name, "shard checksum mismatch", detail))
    if len(rows) != entry["views"]:
        detail = f"index.csv has {len(rows)} rows, manifest.json says {entry['views']}"
        out.append((name, "view count mismatch", detail))
    for r in rows if records else ():
        view = f"{r['scene_id']}/{r['view_id']}"
        try:
            f = decode_example(read_record_at(path, int(r["offset"])))
            named = (f.get("scene_id"), f.get("view_id"))
            if named != (r["scene_id"].encode(), r["view_id"].encode()):
                raise WorkbenchError(f"the record at byte {r['offset']} is another view", path)
        except WorkbenchError as e:
            out.append((name, "unreadable record", f"{view}: {e.message}"))
        except (ValueError, IndexError, KeyError, UnicodeDecodeError) as e:
            detail = f"{view}: the record at byte {r['offset']} is not a view ({type(e).__name__})"
            out.append((name, "unreadable record", detail))
    return out


def check_pack(root: str | os.PathLike, records: bool = True) -> list[tuple[str, str, str]]:
    """A pack checked as a pack: ``(file, problem, detail)`` rows (empty when healthy) for the
    manifest's counts against ``index.csv``, each shard's presence, size and SHA-256, and (with
    ``records``) every index row's record (its CRCs, its fields, the view it names; ``validate``
    decodes each view itself instead)."""
    root = Path(root)
    try:
        m, shards = _read_manifest(root)
        rows = list(csv.DictReader(io.StringIO(read_csv_text(root / "index.csv"))))
    except WorkbenchError as e:
        return [(Path(e.path).name if e.path else "", "bad pack", e.message)]
    out = []
    if m.get("views") != len(rows):
        out.append(("manifest.json", "view count mismatch",
                    f"views {m.get('views')}, index.csv has {len(rows)} rows"))  # fmt: skip
    known = {e["file"] for e in shards}
    for name in sorted({r.get("shard") or "" for r in rows} - known):
        out.append(("index.csv", "unknown shard", f"rows name {name!r}, not in manifest.json"))
    for entry in shards:
        mine = [r for r in rows if r.get("shard") == entry["file"]]
        out += _shard_problems(root, entry, mine, records)
    return out


def run(config) -> int:
    """CLI entry: ``workbench pack ROOT --out SHARDS``."""
    spec = describe_dataset(config.root, config)  # --out outside the root: the config's check
    if spec.layout == "shards":
        raise WorkbenchError(
            "is already packed (TFRecord shards, which every verb reads as they are): pack "
            "reads a folder dataset",
            config.root,
        )
    index_errors: list = []
    records = index_spec(spec, errors=index_errors)
    if not records:
        raise WorkbenchError("dataset has no views", config.root)
    require_depth(records, config.root, "a pack holds panoramas with their depth")
    made = not Path(config.out).exists()
    claim_output_folder(config.out, "pack", source=spec.root)  # a folder of others' files: no
    m = pack(
        records,
        spec.root,
        config.out,
        config.shard_mb,
        config.workers,
        config.scheduler,
        config.progress,
        options={k: v for k, v in spec.as_dict().items() if k not in ("root", "detected")},
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
        if made:
            unclaim_output_folder(config.out)
        raise WorkbenchError(f"no view could be packed ({failed[0]['error']})", config.root)
    return 1 if failed else 0
