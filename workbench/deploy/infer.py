"""``workbench infer``: depth for a folder of the user's own panoramas, with any model format
(:func:`workbench.model.predictor.load`).

Per image, under the image's path relative to the folder it was found in:
``<name>_depth.png`` (uint16 millimetres), ``<name>_depth.npy`` (float32 metres),
``<name>_depth_color.png``, ``<name>_normals.png`` and, with ``--ply``, ``<name>.ply``;
``infer.json`` lists every image and every failure.

A re-run skips the images an earlier run finished with the same model (its files' sizes and
times) and options, when the image is unchanged and its outputs are all there: ``infer.json``
is saved as batches complete (at most every :data:`SAVE_EVERY_S` seconds, ``"complete":
false`` until the end), so a killed job resumes where it stopped. ``--redo`` recomputes all.
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import numpy as np

from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import rgbd_to_pointcloud, write_ply
from workbench.io import (
    is_temporary,
    make_folder,
    read_rgb,
    save_npy,
    write_image,
    write_text_atomic,
)
from workbench.model.predictor import letterbox, load
from workbench.viz.colorize import colorize_depth, colorize_normals

__all__ = ["IMAGE_EXTS", "collect_images", "normals_any_aspect", "write_outputs", "run"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------- CLI


OUTPUT_SUFFIXES = ("_depth.png", "_depth_color.png", "_normals.png")
SAVE_EVERY_S = 10.0  # infer.json is rewritten at most this often while a job runs


def _own_output(path: Path, out_dir: Path | None, folder: Path) -> bool:
    """Whether ``path`` (resolved) is one of this job's outputs: anything under ``out_dir``
    when it is a sub-folder of the input ``folder``; when ``out_dir`` is the input folder
    itself, the files named like outputs."""
    if out_dir is None or out_dir not in path.parents:
        return False
    if out_dir != folder.resolve():
        return True
    return path.name.endswith(OUTPUT_SUFFIXES)


def collect_images(paths, out: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """``(image file, output key)`` for files and folders (recursively, sorted).

    The key is the image's path relative to the folder it was found in (its name for a file
    given directly), without extension: outputs keep the inputs' tree, so ``a.png`` and
    ``sub/a.png`` never share an output name (``a.png`` beside ``a.jpg`` become ``a_png`` and
    ``a_jpg``). Hidden and temporary files and anything under ``out`` (a job never reads its
    own outputs) are skipped.

    Raises:
        WorkbenchError: a path that does not exist, or a folder without images.
    """
    out_dir = Path(out).resolve() if out else None
    found: list[tuple[Path, Path]] = []
    for p in map(Path, paths):
        if p.is_dir():
            imgs = sorted(
                q
                for q in p.rglob("*")
                if q.suffix.lower() in IMAGE_EXTS
                and q.is_file()
                and not is_temporary(q)
                and not _own_output(q.resolve(), out_dir, p)
                and not any(is_temporary(part) for part in q.relative_to(p).parts[:-1])
            )
            if not imgs:
                raise WorkbenchError("folder has no images (" + ", ".join(IMAGE_EXTS) + ")", p)
            found += [(q, q.relative_to(p)) for q in imgs]
        elif p.is_file():
            found.append((p, Path(p.name)))
        else:
            raise WorkbenchError("no such file or folder", p)
    return _unique_keys(found)


def _unique_keys(found: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    keys = [rel.with_suffix("") for _, rel in found]
    dup = {k for k in keys if keys.count(k) > 1}
    out, used = [], set()
    for (path, rel), key in zip(found, keys, strict=True):
        if key in dup:
            key = rel.with_name(f"{rel.stem}_{rel.suffix.lstrip('.').lower()}")
        base, i = key, 2
        while key in used:  # the same name given twice from different folders
            key, i = base.with_name(f"{base.name}_{i}"), i + 1
        used.add(key)
        out.append((path, key))
    return out


def normals_any_aspect(depth: np.ndarray) -> np.ndarray:
    """Normals of a depth map of any aspect ratio: computed on its 2:1 letterbox (as the model
    saw it) and cropped back. ``(H, W)`` metres → ``(H, W, 3)``."""
    h, w = depth.shape
    if w == 2 * h:
        return range_to_normals(depth)
    padded, (top, bottom, left, right) = letterbox(depth[..., None])
    n = range_to_normals(padded[..., 0])
    return np.ascontiguousarray(n[top : n.shape[0] - bottom, left : n.shape[1] - right])


def write_outputs(out: Path, key: Path, rgb: np.ndarray, depth: np.ndarray, ply: bool) -> None:
    """Per image: ``<key>_depth.png`` (uint16 mm), ``.npy`` (metres), colourised depth,
    normals, and optionally ``<key>.ply``; everything is computed before the first write."""
    mm = np.clip(np.round(depth * 1000.0), 1, 65535).astype(np.uint16)
    normals = normals_any_aspect(depth)
    files = {
        "_depth.png": mm,
        "_depth_color.png": colorize_depth(depth),
        "_normals.png": colorize_normals(normals),
    }
    cloud = None
    if ply:
        stride = max(1, depth.shape[0] // 256)
        cloud = rgbd_to_pointcloud(rgb, depth, normals=normals, stride=stride)
    base = out / key
    save_npy(base.with_name(base.name + "_depth.npy"), depth.astype(np.float32))
    for suffix, img in files.items():
        write_image(base.with_name(base.name + suffix), img)
    if cloud is not None:
        write_ply(base.with_name(base.name + ".ply"), cloud)


def _named(e: Exception, path: Path) -> str:
    """The error's one line, naming the image when it does not already."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if str(path) in text else f"{path}: {text}"


def _predict_chunk(predictor, chunk, out: Path, ply: bool, rows: list, failed: list) -> None:
    """Read, predict and write one batch; a bad image is recorded in ``failed``, not raised."""
    ready = []
    for path, key in chunk:
        try:
            rgb = read_rgb(path)
            ready.append((path, key, rgb, predictor.prepare(rgb, str(path))))
        except (WorkbenchError, ValueError) as e:
            failed.append({"image": str(path), "error": _named(e, path)})
    if not ready:
        return
    preds = predictor.predict_batch(np.stack([x for *_, (x, _) in ready]))
    for (path, key, rgb, (_, info)), pred in zip(ready, preds, strict=True):
        depth = predictor.restore(pred, info)
        try:
            write_outputs(out, key, rgb, depth, ply)
        except (WorkbenchError, ValueError) as e:
            failed.append({"image": str(path), "error": _named(e, path)})
            continue
        rows.append(
            {
                "image": str(path),
                "image_file": _file_identity(path),
                "output": key.as_posix(),
                "size": list(depth.shape),
                "median_m": round(float(np.median(depth)), 4),
            }
        )


@functools.lru_cache(maxsize=1)  # one model held at a time
def _predictor(model: str, threads: int, pad: bool):
    """The predictor of ``model``, loaded once per process (engine workers keep theirs)."""
    return load(model or None, threads=threads, pad=pad)


def _infer_task(task: tuple) -> tuple[list[dict], list[dict]]:
    """One engine task: ``(model, threads, pad, [(image, key)], out, ply)`` → the written
    images' rows and the failed ones."""
    model, threads, pad, chunk, out, ply = task
    rows: list[dict] = []
    failed: list[dict] = []
    _predict_chunk(_predictor(model, threads, pad), chunk, Path(out), ply, rows, failed)
    return rows, failed


def _file_identity(path: Path) -> list[int]:
    """``[size, mtime_ns]`` of a file."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _model_identity(source: Path) -> list[int]:
    """``[files, bytes, newest mtime_ns]`` of a model file or folder (a retrained or
    re-exported model differs)."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    ids = [_file_identity(p) for p in files]
    return [len(ids), sum(i[0] for i in ids), max((i[1] for i in ids), default=0)]


def _signature(config, predictor) -> dict:
    """What makes an earlier run's outputs this run's: the model and the options."""
    source = Path(predictor.backend.source)
    return {
        "model": str(source),
        "model_files": _model_identity(source) if source.exists() else [],
        "format": predictor.backend.kind,
        "model_height": predictor.height,
        "pad": bool(config.pad),
        "ply": bool(config.ply),
    }


def _finished_rows(out: Path, signature: dict) -> dict[tuple[str, str], dict]:
    """Rows of an earlier run into ``out`` with the same ``signature``, by ``(image, output)``,
    whose image is unchanged and whose output files are all there."""
    try:
        info = json.loads((out / "infer.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(info, dict) or info.get("signature") != signature:
        return {}
    suffixes = ["_depth.npy", *OUTPUT_SUFFIXES] + ([".ply"] if signature["ply"] else [])
    done = {}
    for row in info.get("images", []):
        try:
            image, base = Path(row["image"]), out / row["output"]
            same = _file_identity(image) == row["image_file"]
            there = all(base.with_name(base.name + s).is_file() for s in suffixes)
        except (KeyError, TypeError, OSError):
            continue
        if same and there:
            done[(str(image.resolve()), row["output"])] = row
    return done


def _write_info(out: Path, signature: dict, rows: list, failed: list, complete: bool) -> None:
    info = {
        "model": signature["model"],
        "format": signature["format"],
        "model_height": signature["model_height"],
        "signature": signature,
        "complete": complete,
        "images": rows,
        "failed": failed,
    }
    write_text_atomic(out / "infer.json", json.dumps(info, indent=2) + "\n")


def _infer_all(config, todo, out: Path, signature: dict, rows: list) -> list[dict]:
    """Run the batches of ``todo`` on the engine, appending to ``rows``; ``infer.json`` is
    saved as batches complete. Returns the failed images."""
    opts = (config.model, config.threads, config.pad)
    batch = config.batch
    tasks = [(*opts, todo[i : i + batch], str(out), config.ply) for i in range(0, len(todo), batch)]
    failed: list[dict] = []
    saved = time.monotonic()
    for task, result in run_tasks(
        _infer_task, tasks, 1, config.scheduler, "infer", config.progress
    ):
        if isinstance(result, Exception):  # the engine lost the batch
            failed += [{"image": str(p), "error": _named(result, p)} for p, _ in task[3]]
        else:
            rows += result[0]
            failed += result[1]
        if time.monotonic() - saved >= SAVE_EVERY_S:
            _write_info(out, signature, rows, failed, complete=False)
            saved = time.monotonic()
    return failed


def run(config) -> int:
    """``workbench infer``: depth for every image under ``config.paths``, batch by batch in this
    process or, with ``--scheduler``, on a Dask cluster (whose workers must see the images,
    the model and ``--out``); images an earlier run finished are skipped (module doc). A bad
    image is listed (``infer.json`` and the summary line) and the others are processed: exit 1
    when some failed, 0 when none did; when every image failed, the first error (exit 2)."""
    out = make_folder(config.out)
    images = collect_images(config.paths, out)
    predictor = _predictor(config.model, config.threads, config.pad)  # a bad model: exit 2 now
    signature = _signature(config, predictor)
    done = {} if config.redo else _finished_rows(out, signature)
    ids = [(str(p.resolve()), k.as_posix()) for p, k in images]
    rows = [done[i] for i in ids if i in done]
    todo = [image for image, i in zip(images, ids, strict=True) if i not in done]
    failed = _infer_all(config, todo, out, signature, rows)
    _write_info(out, signature, rows, failed, complete=True)
    written = len(rows) - len(done)
    if failed and not rows:
        raise (
            WorkbenchError(failed[0]["error"])
            if len(failed) == 1
            else WorkbenchError(f"all {len(failed)} images failed, first: {failed[0]['error']}")
        )
    note = f", {len(failed)} failed (listed in infer.json)" if failed else ""
    skipped = f" ({len(done)} finished before, skipped)" if done else ""
    print(f"infer: {written} images{skipped} with {predictor.backend.kind} model -> {out}{note}")
    for f in failed:
        print(f"  failed: {f['error']}")
    return 1 if failed else 0
