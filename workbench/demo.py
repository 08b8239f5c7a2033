"""``workbench demo``: the main job end to end, printing a short summary.

Steps (everything lands under ``outputs/demo/``):

1. ``data_samples/seed`` → health check (``validate``, report CSV) → scene split (``split``);
2. one sample view → colourised depth, normals, and a fused coloured point cloud of its scene;
3. EDA report (``eda/report.html``) and a two-view match visualisation (``match/``);
4. a tiny training run of the recipe (``train/``: checkpoints, TensorBoard, dumps);
5. export of the default model (SavedModel, ``.pb``, TFLite fp32/int8) with the
   size/latency/accuracy report (``export/report.md``), and inference on the sample images
   (``infer/``: depth PNG/NPY, colourised depth, normals, PLY);
6. an analytic box room → exact range and normals (checked against the analytic ones).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from workbench.cli import main as cli
from workbench.configs import DemoConfig, TrainConfig
from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view
from workbench.data.records import scene_count
from workbench.data.splits import write_split
from workbench.data.validate import validate_dataset, write_report
from workbench.errors import WorkbenchError
from workbench.geometry.analytic import box_room
from workbench.geometry.normals import normals_valid, range_to_normals
from workbench.geometry.pointcloud import fuse, rgbd_to_pointcloud, voxel_downsample, write_ply
from workbench.io import make_folder, sweep_temporaries, write_image, write_text_atomic
from workbench.paths import DEFAULT_MODEL, SAMPLES
from workbench.training.supervised import train
from workbench.viz.colorbar import add_colour_bar
from workbench.viz.colorize import colorize_depth, colorize_normals

__all__ = ["run", "claim_out"]

DEMO_MARKER = ".workbench-demo"
TRAIN_RECORD = ".workbench-demo-files.json"


def _step(title: str):
    print(f"== {title}", flush=True)


def run_geometry(out: Path, height: int) -> dict:

    _step("analytic box room: range, normals, point cloud")
    rng, n_true = box_room(height, lo=(-2.5, -1.5, -3.5), hi=(3.0, 1.3, 2.5), centre=(0, 0, 0))
    n_est = range_to_normals(rng)
    ok = normals_valid(n_est)
    cos = np.sum(n_est * n_true, axis=-1)[ok]
    agree = float(np.mean(cos > np.cos(np.deg2rad(5))))
    depth_png = colorize_depth(rng)
    normal_png = colorize_normals(n_est)
    write_image(out / "box_depth.png", depth_png)
    write_image(out / "box_normals.png", normal_png)
    pc = rgbd_to_pointcloud(depth_png, rng, normals=n_est)
    pc = voxel_downsample(pc, 0.05)
    write_ply(out / "box_points.ply", pc)
    summary = {
        "size": [int(rng.shape[0]), int(rng.shape[1])],
        "range_m": [round(float(rng.min()), 3), round(float(rng.max()), 3)],
        "normals_within_5deg": round(agree, 4),
        "points_after_5cm_voxels": len(pc),
    }
    print(json.dumps(summary))
    return summary


def run_data(out: Path, root: Path) -> dict:

    _step(f"validate {root}")
    records, problems = validate_dataset(root, progress=False)
    write_report(problems, out / "health.csv")
    print(
        json.dumps({"views": len(records), "problems": dict(Counter(p.problem for p in problems))})
    )
    _step("split by scene")
    info = write_split(records, out / "lists", root, val_fraction=0.3)
    print(
        json.dumps({k: info[k] for k in ("train_scenes", "val_scenes", "train_views", "val_views")})
    )
    _step("first scene: depth, normals, fused point cloud")
    scene = records[0].scene_id
    views = [load_view(r, root) for r in records if r.scene_id == scene]
    write_image(out / "sample_rgb.png", views[0].rgb)
    coloured = colorize_depth(views[0].range_m, 0.0, 8.0)
    write_image(out / "sample_depth.png", add_colour_bar(coloured, 0.0, 8.0))
    write_image(out / "sample_normals.png", colorize_normals(range_to_normals(views[0].range_m)))
    cloud = fuse([rgbd_to_pointcloud(v.rgb, v.range_m, v.T_world_from_cam) for v in views])
    cloud = voxel_downsample(cloud, 0.02)
    write_ply(out / "sample_scene.ply", cloud)
    print(json.dumps({"scene": scene, "views": len(views), "fused_points_2cm": len(cloud)}))
    return {"views": len(records), "problems": len(problems), "split": info, "scene": scene}


def run_eda_match(out: Path, root: Path) -> dict:

    _step("EDA report and a two-view match")
    cli(["eda", str(root), "--out", str(out / "eda")])
    cli(["match", str(root), "--a", "000", "--b", "001", "--out", str(out / "match")])
    return json.loads((out / "match" / "match.json").read_text())


def _files_under(folder: Path) -> set[str]:
    """Relative paths of the regular files under ``folder`` (links not followed), the train
    step's record of them aside."""
    found = set()
    for top, _, files in os.walk(folder):
        for name in files:
            p = Path(top) / name
            if p.is_file() and not p.is_symlink():
                found.add(p.relative_to(folder).as_posix())
    return found - {TRAIN_RECORD}


def _remove_earlier_train(folder: Path) -> None:
    """Remove what an earlier demo's train step wrote in ``folder`` and nothing else: the files
    its record lists as created, or, when it was killed before finishing the record, the files
    that appeared after its ``before`` list. Folders emptied by that go too."""
    try:
        record = json.loads((folder / TRAIN_RECORD).read_text())
    except (OSError, ValueError):
        return
    if not isinstance(record, dict):
        return
    files = _files_under(folder)
    if isinstance(record.get("created"), list):
        doomed = files & {str(r) for r in record["created"]}
    else:
        doomed = files - {str(r) for r in record.get("before") or []}
    for rel in sorted(doomed):
        (folder / rel).unlink(missing_ok=True)
    for parent in sorted({(folder / r).parent for r in doomed}, key=lambda d: -len(d.parts)):
        while parent != folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _train_folder(out: Path) -> Path:
    """``out/train`` made ready for the demo's run: an earlier demo's files there removed (see
    :func:`_remove_earlier_train`); a training run it did not record (a user's, an older
    demo's) is kept, moved aside to ``train-earlier``; nothing is deleted that the demo did not
    write."""
    folder = out / "train"
    if folder.is_dir():
        _remove_earlier_train(folder)
    if (folder / "checkpoints" / "checkpoint").exists():  # what ``train`` would refuse
        aside = out / "train-earlier"
        k = 1
        while aside.exists():
            k += 1
            aside = out / f"train-earlier-{k}"
        folder.rename(aside)
        print(f"demo: {folder} held a training run the demo did not record; moved to {aside}")
    return make_folder(folder)


def run_train(out: Path) -> dict:

    _step("tiny training run (the recipe's machinery, a few steps)")

    folder = _train_folder(out)
    before = sorted(_files_under(folder))
    write_text_atomic(folder / TRAIN_RECORD, json.dumps({"before": before}) + "\n")
    s = train(
        TrainConfig(
            train_csv=str(out / "lists" / "train.csv"),
            val_csv=str(out / "lists" / "val.csv"),
            logdir=str(out / "train"),
            height=32,
            model_width=8,
            model_depth=3,
            batch=4,
            steps=20,
            log_every=5,
            ckpt_every=10,
            val_views=4,
            progress=False,
        )
    )
    created = sorted(_files_under(folder) - set(before))
    write_text_atomic(folder / TRAIN_RECORD, json.dumps({"created": created}) + "\n")
    hist = (out / "train" / "history.csv").read_text().splitlines()
    res = {
        "steps": s["steps"],
        "first_loss": float(hist[1].split(",")[1]),
        "last_loss": float(hist[-1].split(",")[1]),
        "val_abs_rel": round(s["val"]["abs_rel"], 4),
    }
    print(json.dumps(res))
    return res


def run_export_infer(out: Path, root: Path) -> dict:

    model = DEFAULT_MODEL if (DEFAULT_MODEL / "model.keras").exists() else out / "train"
    _step(f"export {model} and infer on the sample images")
    code = cli(
        [
            "export",
            "--checkpoint",
            str(model),
            "--out",
            str(out / "export"),
            "--csv",
            str(out / "lists" / "val.csv"),
            "--report",
            "--runs",
            "5",
            "--views",
            "4",
            "--calibration",
            "8",
        ]
    )
    if code:
        raise RuntimeError("export failed")
    cli(
        [
            "infer",
            str(SAMPLES / "rgbd-folder" / "rgb"),
            "--model",
            str(out / "export" / "model_int8.tflite"),
            "--out",
            str(out / "infer"),
            "--ply",
            "--no-progress",
        ]
    )
    rows = json.loads((out / "export" / "report.json").read_text())["rows"]
    return {"model": str(model), "report": rows}


def check_demo_data(root: Path) -> None:
    """Before any folder is made: the demo splits ``--data`` by scene and trains on it, so it
    needs views with depth in at least two scenes.

    Raises:
        WorkbenchError: naming ``--data``, with what it holds and the verbs that take it.
    """
    records = [r for r in index_dataset(root, errors=[]) if r.has_depth]
    scenes = len({r.scene_id for r in records})
    if scenes < 2:
        held = f"{scene_count(scenes)} with depth" if records else "no view with depth"
        raise WorkbenchError(
            f"{root} holds {held}; the demo splits by scene and trains, so it needs two or "
            "more (`workbench validate`, `eda` and `split --unit view` take it as it is)",
            "--data",
        )


def claim_out(out: Path) -> Path:
    """Make ``out`` the demo's folder: a new or empty one (hidden files aside), or one an
    earlier demo wrote (its hidden ``.workbench-demo`` marker, or the ``summary.json`` of an
    older demo). The demo re-writes its own files there and leaves every other file alone; killed
    runs' temporaries of this project's naming are removed.

    Raises:
        WorkbenchError: naming ``--out`` when it holds other files.
    """
    if out.is_dir() and not (out / DEMO_MARKER).is_file():
        try:
            earlier = "geometry" in json.loads((out / "summary.json").read_text())
        except (OSError, ValueError, TypeError):
            earlier = False
        if not earlier and any(not p.name.startswith(".") for p in out.iterdir()):
            raise WorkbenchError(
                f"{out} is not empty and holds no earlier demo (the demo writes train/, "
                "export/, lists/ and more there: pick a new or empty --out)",
                "--out",
            )
    make_folder(out)
    write_text_atomic(out / DEMO_MARKER, "workbench demo output\n")
    sweep_temporaries(out, recursive=False)
    return out


def run(config: DemoConfig) -> int:
    t0 = time.perf_counter()
    root = Path(config.data).expanduser() if config.data else SAMPLES / "seed"
    if config.data and not root.is_dir():  # the bundled sample is found from any folder
        raise WorkbenchError("dataset root is not a folder", "--data")
    if config.data:
        check_demo_data(root)
    out = claim_out(Path(config.out))
    summary = {}
    if root.is_dir():
        summary["data"] = run_data(out, root)
        summary["match"] = run_eda_match(out, root)
        summary["train"] = run_train(out)
        summary["export"] = run_export_infer(out, root)
    else:
        print(f"demo: {root} not found, skipping the dataset part")
    summary["geometry"] = run_geometry(out, config.height)

    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"demo: wrote {out}/ in {time.perf_counter() - t0:.1f} s")
    return 0
