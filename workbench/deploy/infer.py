"""``workbench infer``: depth for a folder of the user's own panoramas, with any model format
(:func:`workbench.model.predictor.load`).

Per image: ``<stem>_depth.png`` (uint16 millimetres), ``<stem>_depth.npy`` (float32 metres),
``<stem>_depth_color.png``, ``<stem>_normals.png`` and, with ``--ply``, ``<stem>.ply``;
``infer.json`` lists every image.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from workbench.errors import WorkbenchError
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pointcloud import rgbd_to_pointcloud, write_ply
from workbench.io import read_rgb, save_npy, write_image, write_text_atomic
from workbench.model.predictor import load
from workbench.viz.colorize import colorize_depth, colorize_normals

__all__ = ["IMAGE_EXTS", "collect_images", "write_outputs", "run"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------- CLI


def collect_images(paths) -> list[Path]:
    """Image files from files and folders (recursively, sorted); errors name the bad path."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTS and q.is_file()
            )
            if not found:
                raise WorkbenchError("folder has no images (" + ", ".join(IMAGE_EXTS) + ")", p)
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise WorkbenchError("no such file or folder", p)
    return out


def write_outputs(out: Path, stem: str, rgb: np.ndarray, depth: np.ndarray, ply: bool) -> None:
    """Per image: ``<stem>_depth.png`` (uint16 mm), ``.npy`` (metres), colourised depth,
    normals, and optionally ``<stem>.ply``."""
    mm = np.clip(np.round(depth * 1000.0), 1, 65535).astype(np.uint16)
    write_image(out / f"{stem}_depth.png", mm)
    save_npy(out / f"{stem}_depth.npy", depth.astype(np.float32))
    write_image(out / f"{stem}_depth_color.png", colorize_depth(depth))
    normals = range_to_normals(depth)
    write_image(out / f"{stem}_normals.png", colorize_normals(normals))
    if ply:
        stride = max(1, depth.shape[0] // 256)
        write_ply(
            out / f"{stem}.ply", rgbd_to_pointcloud(rgb, depth, normals=normals, stride=stride)
        )


def run(config) -> int:
    """``workbench infer``: depth for every image under ``config.paths``."""
    images = collect_images(config.paths)
    predictor = load(config.model or None, threads=config.threads, pad=config.pad)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    rows = []
    batch = max(1, config.batch)
    for i in tqdm(
        range(0, len(images), batch), desc="infer", unit="batch", disable=not config.progress
    ):
        chunk = images[i : i + batch]
        rgbs = [read_rgb(p) for p in chunk]
        prepared = [predictor.prepare(r, str(p)) for r, p in zip(rgbs, chunk, strict=True)]
        preds = predictor.predict_batch(np.stack([x for x, _ in prepared]))
        for p, rgb, (_, info), pred in zip(chunk, rgbs, prepared, preds, strict=True):
            depth = predictor.restore(pred, info)
            stem = p.stem
            seen[stem] = seen.get(stem, 0) + 1
            if seen[stem] > 1:
                stem = f"{stem}_{seen[stem]}"
            write_outputs(out, stem, rgb, depth, config.ply)
            rows.append(
                {
                    "image": str(p),
                    "stem": stem,
                    "size": list(depth.shape),
                    "median_m": round(float(np.median(depth)), 4),
                }
            )
    info = {
        "model": str(predictor.backend.source),
        "format": predictor.backend.kind,
        "model_height": predictor.height,
        "images": rows,
    }
    write_text_atomic(out / "infer.json", json.dumps(info, indent=2) + "\n")
    print(f"infer: {len(rows)} images with {predictor.backend.kind} model -> {out}")
    return 0
