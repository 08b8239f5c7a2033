"""``workbench infer``: depth for the user's own panoramas or a dataset's, with any model format
(:func:`workbench.model.predictor.load`).

Inputs (:mod:`workbench.deploy.inputs`): image files, folders searched for images, and dataset
roots, read through their layout's records (only the panoramas, keyed ``<scene>/<view>``).
Per image, under its key: ``<name>_depth.png`` (uint16 millimetres), ``<name>_depth.npy``
(float32 metres), ``<name>_depth_color.png``, ``<name>_normals.png`` and, with ``--ply``,
``<name>.ply`` (camera frame); with ``--ply`` a dataset with poses also gets one fused cloud of
predicted depth per scene in the world frame, ``<scene>/fused_predicted.ply``
(:mod:`workbench.deploy.fused`). ``infer.json`` lists every image, every fused cloud and every
failure; images an earlier run into the same folder finished with the same model and options
stay listed (their outputs are still there), and a run with other options says when it replaces
a listing of other images (their files stay). A job whose every image fails leaves the folder as
it found it.

A re-run skips the images an earlier run finished with the same model (its files' sizes and
times) and options, when the image is unchanged and its outputs are all there: ``infer.json``
is saved before the first batch (its ``"pending"`` outputs), as batches complete (the first at
once, then at most every :data:`SAVE_EVERY_S` seconds) and when the job is interrupted or
terminated (``"complete": false`` until the end), so a killed job resumes where it stopped; the
temporaries a killed job left are removed. A file of a new image's output name that no earlier
run listed (finished or pending) is the user's: the run is refused before any work.
``--redo`` recomputes all.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

from workbench.data.layouts import scene_folder_above
from workbench.deploy.inputs import (
    FUSED_NAME,
    IMAGE_EXTS,
    OUTPUT_SUFFIXES,
    InferItem,
    collect_images,
    collect_inputs,
    read_item_rgb,
)
from workbench.engine import iter_tasks
from workbench.errors import WorkbenchError, raise_if_interrupted
from workbench.geometry.floor_scale import rescale_to_camera_height
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import rgbd_to_pointcloud, write_ply
from workbench.geometry.upsample import guided_upsample
from workbench.io import (
    OUTPUT_OWNER,
    check_image,
    check_model_path,
    check_output_folder,
    check_output_owner,
    check_outside,
    claim_output_folder,
    save_npy,
    sweep_temporaries,
    unclaim_output_folder,
    write_image,
    write_text_atomic,
)
from workbench.viz.colorbar import add_colour_bar
from workbench.viz.colorize import colorize_depth, colorize_normals, depth_limits

__all__ = [
    "IMAGE_EXTS",
    "collect_images",
    "normals_any_aspect",
    "full_resolution_depth",
    "write_outputs",
    "run",
]


# --------------------------------------------------------------------------- CLI


PNG_MAX_M = 65.535  # the _depth.png holds uint16 millimetres: ranges beyond are clipped there
SAVE_EVERY_S = 10.0  # infer.json is rewritten at most this often while a job runs


def normals_any_aspect(depth: np.ndarray) -> np.ndarray:
    """Normals of a depth map of any aspect ratio: computed on its 2:1 letterbox (as the model
    saw it) and cropped back. ``(H, W)`` metres → ``(H, W, 3)``."""
    from workbench.model.predictor import letterbox  # TensorFlow: imported when needed

    h, w = depth.shape
    if w == 2 * h:
        return range_to_normals(depth)
    padded, (top, bottom, left, right) = letterbox(depth[..., None])
    n = range_to_normals(padded[..., 0])
    return np.ascontiguousarray(n[top : n.shape[0] - bottom, left : n.shape[1] - right])


def cloud_any_aspect(rgb: np.ndarray, depth: np.ndarray, normals: np.ndarray):
    """The camera-frame cloud of an image of any aspect ratio (``--pad``): its pixels placed on
    the sphere where the model saw them, on the 2:1 letterbox (the padding holds no point).
    ``rgb (H, W, 3)``, ``depth (H, W)`` metres, ``normals (H, W, 3)``; every 1 in ``H // 256``
    rows and columns."""
    from workbench.model.predictor import letterbox  # TensorFlow: imported when needed

    stride = max(1, depth.shape[0] // 256)
    if depth.shape[1] != 2 * depth.shape[0]:
        rgb = letterbox(rgb)[0]
        normals = letterbox(normals)[0]
        depth = letterbox(depth[..., None])[0][..., 0]  # 0: no point
    return rgbd_to_pointcloud(rgb, depth, normals=normals, stride=stride)


def write_outputs(
    out: Path, key: Path, rgb: np.ndarray, depth: np.ndarray, ply: bool, shape_from=None
) -> None:
    """Per image: ``<key>_depth.png`` (uint16 mm), ``.npy`` (metres), colourised depth (2nd-98th
    percentile range, a colour bar in metres below it), normals, and optionally ``<key>.ply``;
    everything is computed before the first write. Normals come from ``shape_from`` (``(H, W)``,
    any scale: normals do not depend on it) when given, else from ``depth``: ``infer`` passes the
    bilinear upsampling of a guided ``depth``, whose texture-following ripples a normal map would
    magnify."""
    mm = np.clip(np.round(depth * 1000.0), 1, PNG_MAX_M * 1000.0).astype(np.uint16)
    normals = normals_any_aspect(depth if shape_from is None else shape_from)
    limits = depth_limits(depth)
    files = {
        "_depth.png": mm,
        "_depth_color.png": add_colour_bar(colorize_depth(depth, *limits), *limits),
        "_normals.png": colorize_normals(normals),
    }
    cloud = cloud_any_aspect(rgb, depth, normals) if ply else None
    base = out / key
    written: list[Path] = []
    try:  # all of an image's files or none (a name too long for the file system failed 3rd)
        written.append(save_npy(base.with_name(base.name + "_depth.npy"), depth.astype(np.float32)))
        for suffix, img in files.items():
            written.append(write_image(base.with_name(base.name + suffix), img))
        if cloud is not None:
            written.append(write_ply(base.with_name(base.name + ".ply"), cloud))
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise


def full_resolution_depth(pred: np.ndarray, info: tuple, rgb: np.ndarray, upsample: str):
    """Model-size depth ``(h, 2h)`` metres → depth at the image's size ``(H, W)``: ``bilinear``
    resizing, or ``guided`` upsampling whose edges follow the image
    (:func:`workbench.geometry.upsample.guided_upsample`; a letterboxed image is guided by its
    letterbox, then cropped; an image no larger than the prediction is resized)."""
    from workbench.model.predictor import Predictor, letterbox

    if upsample == "bilinear" or info[0][0] <= pred.shape[0]:  # guided only when upsampling
        return Predictor.restore(pred, info)
    (hp, wp), (top, bottom, left, right) = info
    guide = letterbox(rgb)[0] if (top, bottom, left, right) != (0, 0, 0, 0) else rgb
    full = guided_upsample(pred, guide)
    return np.ascontiguousarray(full[top : hp - bottom, left : wp - right])


def _rescaled(depth: np.ndarray, label: str, camera_height: float) -> tuple[np.ndarray, dict]:
    """``depth`` rescaled to ``--camera-height`` and ``infer.json``'s record of it; an image
    without a visible floor is kept unscaled, its record saying why."""
    try:
        depth, factor, fit = rescale_to_camera_height(depth, camera_height, label)
    except WorkbenchError as e:
        return depth, {"camera_height_m": camera_height, "factor": None, "problem": str(e)}
    record = {"camera_height_m": camera_height, "factor": round(factor, 4)}
    record.update(floor_m_before=round(fit.height_m, 4), floor_tilt_deg=round(fit.tilt_deg, 2))
    return depth, record


def _named(e: Exception, label: str) -> str:
    """The error's one line, naming the image when it does not already."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if label in text else f"{label}: {text}"


def _failure(item: InferItem, e: Exception) -> dict:
    return {"image": item.label, "error": _named(e, item.label)}


def _row(item: InferItem, depth: np.ndarray) -> dict:
    """``infer.json``'s row of a written image (its file's identity decides a re-run)."""
    row = {
        "image": str(item.image),
        "image_file": _file_identity(item.image),
        "output": item.key.as_posix(),
        "size": list(depth.shape),
        "median_m": round(float(np.median(depth)), 4),
    }
    beyond = int(np.count_nonzero(depth > PNG_MAX_M))
    if beyond:  # the uint16-millimetre PNG tops out at 65.535 m; the .npy keeps them
        row["png_clipped_pixels"] = beyond
    if item.record is not None:
        row.update(scene_id=item.record.scene_id, view_id=item.record.view_id)
    return row


def _item_error(e: Exception) -> Exception:
    """An error met on one image as one line: an OS error names its file and reason (an output
    name the file system refuses, a folder that cannot be written)."""
    if isinstance(e, OSError) and not isinstance(e, WorkbenchError):
        reason = e.strerror or type(e).__name__
        return WorkbenchError(f"cannot write ({reason})", e.filename) if e.filename else e
    return e


def _predict_each(predictor, ready: list) -> list:
    """Depth of every prepared image of ``ready``: in one batch, else (the batch failed) one
    by one, an image that fails on its own getting its exception instead of depth."""
    try:
        return list(predictor.predict_batch(np.stack([x for *_, (x, _) in ready])))
    except Exception as e:  # noqa: BLE001  (find the image at fault: the others still get depth)
        raise_if_interrupted(e)
        preds = []
        for *_, (x, _) in ready:
            try:
                preds.append(predictor.predict_batch(x[None])[0])
            except Exception as e:  # noqa: BLE001
                raise_if_interrupted(e)
                preds.append(e)
        return preds


def _predict_chunk(
    predictor, chunk, out: Path, ply: bool, rows: list, failed: list, post: tuple = ("bilinear", 0)
) -> None:
    """Read, predict and write one batch of :class:`InferItem`; an image that fails (unreadable,
    an output name too long for the file system, a write that fails) is recorded in ``failed``
    and the others go on. ``post``: ``(upsample, camera_height)``."""
    ready = []
    for item in chunk:
        try:
            rgb = read_item_rgb(item)
            ready.append((item, rgb, predictor.prepare(rgb, item.label)))
        except Exception as e:  # noqa: BLE001  (one bad image never stops the batch)
            raise_if_interrupted(e)  # but Ctrl-C / SIGTERM met inside C code does
            failed.append(_failure(item, _item_error(e)))
    if not ready:
        return
    for (item, rgb, (_, info)), pred in zip(ready, _predict_each(predictor, ready), strict=True):
        try:
            if isinstance(pred, Exception):
                raise pred
            depth = full_resolution_depth(pred, info, rgb, post[0])
            smooth = None  # guided depth: normals from its bilinear twin (write_outputs)
            if post[0] != "bilinear":
                smooth = full_resolution_depth(pred, info, rgb, "bilinear")
            scaled = _rescaled(depth, item.label, post[1]) if post[1] else (depth, None)
            write_outputs(out, item.key, rgb, scaled[0], ply, smooth)
        except Exception as e:  # noqa: BLE001  (one bad image never stops the batch)
            raise_if_interrupted(e)  # but Ctrl-C / SIGTERM met inside C code does
            failed.append(_failure(item, _item_error(e)))
            continue
        rows.append(_row(item, scaled[0]))
        if scaled[1] is not None:
            rows[-1]["rescale"] = scaled[1]


@functools.lru_cache(maxsize=1)  # one model held at a time
def _predictor(model: str, threads: int, pad: bool, flip: bool):
    """The predictor of ``model``, loaded once per process (engine workers keep theirs)."""
    from workbench.model.predictor import load  # TensorFlow: after the inputs are checked

    return load(model or None, threads=threads, pad=pad, flip=flip)


def _infer_task(task: tuple) -> tuple[list[dict], list[dict]]:
    """One engine task: ``(model, threads, (pad, flip), [InferItem], out, ply, (upsample,
    camera_height))`` → the written images' rows and the failed ones."""
    model, threads, (pad, flip), chunk, out, ply, post = task
    rows: list[dict] = []
    failed: list[dict] = []
    predictor = _predictor(model, threads, pad, flip)
    _predict_chunk(predictor, chunk, Path(out), ply, rows, failed, post)
    return rows, failed


def _file_identity(path: Path) -> list[int]:
    """``[size, mtime_ns]`` of a file."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


NOT_MODEL = (".md", ".txt", ".html", ".ipynb")  # notes beside a model: no depth changes


def _model_identity(source: Path) -> list[int]:
    """``[files, bytes, newest mtime_ns]`` of a model file or folder (a retrained or
    re-exported model differs; a model card or notes edited beside it do not)."""
    files = [source] if source.is_file() else sorted(
        p for p in source.rglob("*")
        if p.is_file() and p.suffix.lower() not in NOT_MODEL and not p.name.startswith(".")
    )  # fmt: skip
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
        "flip": bool(config.flip),
        "ply": bool(config.ply),
        "upsample": config.upsample,
        "camera_height": config.camera_height,
    }


def _previous_info(out: Path) -> dict:
    """An earlier run's ``infer.json`` in ``out`` (``{}`` when none can be read)."""
    try:
        info = json.loads((out / "infer.json").read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _replaced_note(out: Path, before: dict, signature: dict, ids: list) -> str:
    """A warning when this run's ``infer.json`` replaces one made with other options that
    listed images this run does not write (their files stay, no longer listed), else ``""``."""
    if not before or before.get("signature") == signature:
        return ""
    mine = {i[1] for i in ids}
    others = [r for r in before.get("images", []) if isinstance(r, dict) and
              r.get("output") not in mine]  # fmt: skip
    if not others:
        return ""
    old = before.get("signature") if isinstance(before.get("signature"), dict) else {}
    changed = [k for k in signature if old.get(k) != signature[k]]
    return (
        f"workbench: warning: {out / 'infer.json'}: the earlier run's listing (other "
        f"{', '.join(changed) or 'options'}) is replaced; the outputs of its {len(others)} "
        "other image(s) stay in the folder, no longer listed"
    )


def _stale_clouds_note(out: Path, before: dict, ply: bool, ids: list) -> str:
    """A warning when an earlier run here wrote point clouds (``--ply``) and this one, without
    ``--ply``, rewrote depth beside them: the clouds stay (a run deletes only what it wrote)
    but no longer match the depth; else ``""``."""
    old = before.get("signature") if isinstance(before.get("signature"), dict) else {}
    if ply or not old.get("ply"):
        return ""
    stale = [key for _, key in ids if (out / f"{key}.ply").is_file()]
    if not stale:
        return ""
    return (
        f"workbench: warning: {out}: {len(stale)} point cloud(s) of an earlier --ply run stay "
        f"beside depth predicted again without --ply (e.g. {stale[0]}.ply): they no longer "
        "match it; add --ply to rewrite them"
    )


def _finished_rows(out: Path, info: dict) -> dict[tuple[str, str], dict]:
    """Rows of an earlier run's ``info`` (:func:`_previous_info`), by ``(image, output)``,
    whose image is unchanged and whose output files are all there."""
    if not info:
        return {}
    suffixes = ["_depth.npy", *OUTPUT_SUFFIXES] + ([".ply"] if info["signature"]["ply"] else [])
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


def _write_info(
    out: Path, signature: dict, rows: list, failed: list, complete: bool, fused=(), pending=()
) -> None:
    """``infer.json``; ``pending``: the outputs (``scene/view``) a run not yet complete may
    have begun, which a re-run takes as its own (a killed run's files are not the user's)."""
    info = {
        "model": signature["model"],
        "format": signature["format"],
        "model_height": signature["model_height"],
        "signature": signature,
        "complete": complete,
        "images": rows,
        "fused": list(fused),
        "failed": failed,
        "pending": list(pending),
    }
    write_text_atomic(out / "infer.json", json.dumps(info, indent=2) + "\n")


def _infer_all(config, todo, out: Path, signature: dict, rows: list, kept=()) -> list[dict]:
    """Run the batches of ``todo`` (:class:`InferItem`) on the engine, appending to ``rows``;
    ``infer.json`` is saved as batches complete (listing ``kept``, earlier runs' images, too).
    Returns the failed images."""
    opts = (config.model, config.threads, (config.pad, config.flip))
    batch = config.batch
    post = (config.upsample, config.camera_height)
    tasks = [
        (*opts, todo[i : i + batch], str(out), config.ply, post) for i in range(0, len(todo), batch)
    ]
    failed: list[dict] = []
    pending = [it.key.as_posix() for it in todo]
    _write_info(out, signature, rows + list(kept), failed, complete=False, pending=pending)
    saved = time.monotonic() - SAVE_EVERY_S  # the first batch is saved at once
    try:
        for task, result in iter_tasks(
            _infer_task, tasks, 1, config.scheduler, "infer", config.progress
        ):
            if isinstance(result, Exception):  # the engine lost the batch
                failed += [_failure(item, result) for item in task[3]]
            else:
                rows += result[0]
                failed += result[1]
            if time.monotonic() - saved >= SAVE_EVERY_S:
                _write_info(out, signature, rows + list(kept), failed, False, pending=pending)
                saved = time.monotonic()
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the finished batches stay for a re-run
        _write_info(out, signature, rows + list(kept), failed, False, pending=pending)
        raise WorkbenchError(
            f"interrupted: {len(rows)} image(s) finished, listed in infer.json; the same "
            "command goes on from there",
            out,
        ) from None
    return failed


def _fused_lines(entries: list[dict], out: Path, items: list[InferItem]) -> list[str]:
    """The summary's lines about the fused clouds of predicted depth."""
    if not any(it.record is not None for it in items):
        return []
    if not entries:
        return ["infer: no fused cloud (no inferred dataset view has a pose)"]
    left = [f"{e['scene_id']}/{x['view']} ({x['why']})" for e in entries for x in e["left_out"]]
    names = {Path(e["file"]).name for e in entries}
    where = out / "<scene>" / (names.pop() if len(names) == 1 else "fused_predicted*.ply")
    lines = [
        f"infer: {len(entries)} fused cloud(s) of predicted depth, one per scene, each view "
        f"placed by its known pose (world frame, T_world_from_cam) -> {where}"
    ]
    if left:
        more = f" and {len(left) - 5} more" if len(left) > 5 else ""
        lines.append(f"  left out of the fused clouds: {', '.join(left[:5])}{more}")
    return lines


def _rescale_lines(rows: list[dict], camera_height: float) -> list[str]:
    """The summary's lines about ``--camera-height``: factors, and the images left unscaled."""
    if not camera_height:
        return []
    records = [r["rescale"] for r in rows if "rescale" in r]
    factors = [x["factor"] for x in records if x["factor"] is not None]
    unscaled = [x["problem"] for x in records if x["factor"] is None]
    lines = []
    if factors:
        lines.append(
            f"infer: {len(factors)} image(s) rescaled to a {camera_height:g} m camera height, "
            f"factor {min(factors):.3f}..{max(factors):.3f} (median {np.median(factors):.3f}; "
            "each in infer.json)"
        )
    lines += [f"  not rescaled (written unscaled): {p}" for p in unscaled]
    return lines


def _clipped_lines(rows: list[dict]) -> list[str]:
    """The summary's line about depth the uint16 ``_depth.png`` could not hold, if any."""
    clipped = [r for r in rows if r.get("png_clipped_pixels")]
    if not clipped:
        return []
    return [
        f"infer: {len(clipped)} image(s) with depth beyond {PNG_MAX_M:g} m, clipped in their"
        " _depth.png (uint16 millimetres); their _depth.npy keeps it (pixels in infer.json)"
    ]


def _check_out_folder(out: Path, items, ply: bool, before: dict, paths=()) -> None:
    """Before any work: ``--out`` is not another verb's folder; it is new, empty or an infer
    run's unless it is the folder of input images (``paths``: the inputs given), and it holds
    none of the files this run would write but those an earlier infer run there listed: a run
    replaces only its own outputs.

    Raises:
        WorkbenchError: naming ``--out`` and the first files it would replace.
    """
    # beside the input images (a folder given, or one holding an image) a folder may hold
    # the user's files; anywhere else it must be new, empty or an infer run's
    given = {Path(p).resolve() for p in paths} | {it.image.parent.resolve() for it in items}
    check_output_owner(out, "infer", empty=out.resolve() not in given)
    scene = scene_folder_above(out)
    if scene is not None:
        raise WorkbenchError(
            f"{out} is inside the dataset scene {scene} (its outputs would be read as the "
            "scene's files): name a folder outside the dataset",
            "--out",
        )
    if not out.is_dir():
        return
    ours = (out / OUTPUT_OWNER).is_file()
    if ours:  # an earlier run's outputs are its own; any other file of this run's names is not
        _check_earlier_names(out, items, before)
        pending = before.get("pending", [])
        pending = {p for p in pending if isinstance(p, str)} if isinstance(pending, list) else set()
        earlier = set(_earlier_outputs(before)) | pending
        done = [it for it in items if it.key.as_posix() in earlier]
        items = [it for it in items if it.key.as_posix() not in earlier]
    suffixes = ("_depth.npy", *OUTPUT_SUFFIXES) + ((".ply",) if ply else ())
    names = [] if ours else ["infer.json"]
    names += [(it.key.parent / f"{it.key.name}{s}").as_posix() for it in items for s in suffixes]
    signature = before.get("signature")
    new_clouds = ply and not (ours and isinstance(signature, dict) and signature.get("ply"))
    if ours and new_clouds:  # clouds of images done before without --ply: not written yet
        names += [(it.key.parent / f"{it.key.name}.ply").as_posix() for it in done]
        items = items + done
    if new_clouds:  # the fused clouds: <scene folder>/fused_predicted[_floorN].ply
        for parent in sorted({it.key.parent for it in items}):
            found = (out / parent).glob(f"{FUSED_NAME}*.ply")
            names += [p.relative_to(out).as_posix() for p in found]
    taken = [n for n in names if (out / n).exists()]
    if taken:
        more = f" and {len(taken) - 3} more" if len(taken) > 3 else ""
        whose = (
            "that no earlier run listed in its infer.json: move them (or delete a killed run's)"
            if ours
            else "not written by `workbench infer`: move them"
        )
        raise WorkbenchError(
            f"{out} holds files this run would replace ({', '.join(taken[:3])}{more}) {whose}, "
            "or name another folder",
            "--out",
        )


def _earlier_outputs(before: dict) -> dict[str, dict]:
    """An earlier run's ``infer.json`` rows by output name (``scene/view``, no suffix)."""
    rows = before.get("images", [])
    rows = rows if isinstance(rows, list) else []
    return {
        r["output"]: r for r in rows if isinstance(r, dict) and isinstance(r.get("output"), str)
    }


def _check_earlier_names(out: Path, items, before: dict) -> None:
    """Before any work in an infer folder: no output of this run is another image's from an
    earlier run (``a/p.jpg`` then ``b/p.jpg`` into one ``--out``: both are ``p``, and the second
    run replaced the first's files and dropped it from ``infer.json``). The same image moved
    (same size and time) is the same image.

    Raises:
        WorkbenchError: naming ``--out``, the output and both images.
    """
    earlier = _earlier_outputs(before)
    for it in items:
        row = earlier.get(it.key.as_posix())
        if row is None or Path(str(row.get("image", ""))).resolve() == it.image.resolve():
            continue
        try:
            moved = _file_identity(it.image) == row.get("image_file")
        except OSError:
            moved = False
        if not moved:
            raise WorkbenchError(
                f"{out / it.key.as_posix()}_depth.* are {row.get('image')}'s (an earlier run): "
                f"{it.image} would replace them; name another --out for it",
                "--out",
            )


def _undo(out: Path, made: bool, before: dict, marked: bool = True) -> None:
    """A job whose every image failed leaves the folder as it found it: the earlier
    ``infer.json`` back (or none), the mark it added to a folder it found unmarked removed, and
    a folder this run made removed with the empty folders it made in it."""
    if not marked:
        (out / OUTPUT_OWNER).unlink(missing_ok=True)
    if before:
        write_text_atomic(out / "infer.json", json.dumps(before, indent=2) + "\n")
    else:
        (out / "infer.json").unlink(missing_ok=True)
    if made:
        unclaim_output_folder(out)  # its mark; the folder itself once the empty ones are gone
        for d in sorted((d for d in out.rglob("*") if d.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()  # only empty ones
        with contextlib.suppress(OSError):
            out.rmdir()


def _all_failed(failed: list[dict]) -> WorkbenchError:
    """The one line of a job whose every image failed (exit 2): the first three reasons."""
    if len(failed) == 1:
        return WorkbenchError(failed[0]["error"])
    shown = "; ".join(f["error"] for f in failed[:3])
    more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
    return WorkbenchError(f"all {len(failed)} images failed: {shown}{more}")


def _refuse_unreadable(inputs) -> None:
    """Before the model loads: images are checked in order until one decodes (usually the
    first); when none does, the job is refused (exit 2) with no output folder made. A bad image
    after a good one is found and listed when the job reaches it.

    Raises:
        WorkbenchError: every input failed (:func:`_all_failed`'s line).
    """
    failed = list(inputs.failed)
    for item in inputs.items:
        if item.record is not None and item.record.layout == "shards":
            return  # decoded from its shard with the batch
        try:
            check_image(item.image)
            return
        except WorkbenchError as e:
            failed.append(_failure(item, e))
    if failed:
        raise _all_failed(failed)


def run(config) -> int:
    """``workbench infer``: depth for every image under ``config.paths`` (dataset roots: their
    panoramas, :mod:`workbench.deploy.inputs`), batch by batch in this process or, with
    ``--scheduler``, on a Dask cluster (whose workers must see the images, the model and
    ``--out``); images an earlier run finished are skipped (module doc); with ``--ply``, the
    fused clouds of predicted depth of datasets with poses (:mod:`workbench.deploy.fused`). A
    bad image is listed (``infer.json`` and the summary) and the others are processed: exit 1
    when some failed, 0 when none did; when every image failed, one line with the first three
    reasons (exit 2; before the model loads when no input decodes at all)."""
    out = check_output_folder(config.out)
    check_model_path(config.model)  # a missing model named before TensorFlow loads
    inputs = collect_inputs(config.paths, out, config.resolution)
    for root in sorted({item.root for item in inputs.items if item.record is not None}):
        check_outside(out, "--out", root, "the dataset root")
    before = _previous_info(out)  # an earlier run's listing: its names, what a re-run skips
    _check_out_folder(out, inputs.items, config.ply, before, config.paths)
    _refuse_unreadable(inputs)
    # a bad model: exit 2 now, with no output folder made
    predictor = _predictor(config.model, config.threads, config.pad, config.flip)
    made, marked = not out.exists(), (out / OUTPUT_OWNER).is_file()
    claim_output_folder(out, "infer", empty=False)  # its files checked by _check_out_folder
    sweep_temporaries(out)  # the half-written files of a killed run, only those
    signature = _signature(config, predictor)
    same = before if before.get("signature") == signature else {}
    earlier = _finished_rows(out, same)  # by (image, output key)
    done = {} if config.redo else earlier
    ids = [(str(it.image.resolve()), it.key.as_posix()) for it in inputs.items]
    replaced = _replaced_note(out, before, signature, ids)
    rows = [done[i] for i in ids if i in done]
    skipped = len(rows)
    todo = [it for it, i in zip(inputs.items, ids, strict=True) if i not in done]
    mine = {key for _, key in ids}  # an output this run writes is this run's, whatever wrote it
    kept = [row for (_, key), row in earlier.items() if key not in mine]
    failed = inputs.failed + _infer_all(config, todo, out, signature, rows, kept)
    if failed and len(rows) == 0:
        _undo(out, made, before, marked)
        raise _all_failed(failed)
    for line in [replaced, _stale_clouds_note(out, before, config.ply, ids)]:
        if line:
            print(line, file=sys.stderr)
    fused: list[dict] = []
    if config.ply:
        from workbench.deploy.fused import write_fused_clouds  # open3d: only with --ply

        keys, redone = {r["output"] for r in rows}, {r["output"] for r in rows[skipped:]}
        prev = same.get("fused", []) if isinstance(same.get("fused"), list) else []
        fused, bad = write_fused_clouds(out, inputs.items, keys, redone, config.voxel, prev)
        failed += bad
    _write_info(out, signature, rows + kept, failed, True, fused)
    for line in inputs.datasets:
        print(f"infer: dataset {line}: its panoramas only")
    note = f", {len(failed)} failed (listed in infer.json)" if failed else ""
    skip = f" ({skipped} finished before, skipped)" if skipped else ""
    kind = predictor.backend.kind
    n = len(rows) - skipped
    print(f"infer: {n} image{'' if n == 1 else 's'}{skip} with {kind} model -> {out}{note}")
    for line in _fused_lines(fused, out, inputs.items) if config.ply else []:
        print(line)
    for line in _rescale_lines(rows, config.camera_height):
        print(line)
    for line in _clipped_lines(rows[skipped:]):
        print(line)
    for f in failed:
        print(f"  failed: {f['error']}")
    return 1 if failed else 0
