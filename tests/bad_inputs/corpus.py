"""The bad-input corpus: every case is built by code into a temporary folder (nothing binary is
committed). ``CASES`` maps a case name to ``build(tmp, ctx) -> (argv, exit_code, needles)``: the
CLI arguments, the exit status the workbench must give (2: unusable input; 1: ``validate`` found
problems and wrote them to its report) and strings its one-line error (or report) must contain.

``ctx`` holds shared fixtures: ``ctx.scene`` copies one healthy sample scene, ``ctx.run`` is a
tiny trained run folder, ``ctx.lists`` its split CSVs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from workbench.io import write_image

SAMPLES = Path(__file__).parents[2] / "data_samples"
CASES: dict = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


class Ctx:
    def __init__(self, run: Path, lists: Path):
        self.run, self.lists = run, lists

    @classmethod
    def make(cls, tmp: Path) -> Ctx:
        """Sample split lists and a 2-step tiny run folder under ``tmp``."""
        from tests.helpers import tiny_train_config, write_sample_lists
        from workbench.training.supervised import train

        lists = write_sample_lists(tmp / "lists")
        cfg = tiny_train_config(
            lists, tmp / "run", val_csv="", model_width=4, model_depth=2, batch=2, steps=2
        )
        train(cfg)
        return cls(tmp / "run", tmp / "lists")

    @staticmethod
    def scene(tmp: Path) -> tuple[Path, Path]:
        """A one-scene seed-layout dataset; returns ``(root, scene folder)``."""
        src = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[0]
        root = tmp / "ds"
        shutil.copytree(src, root / src.name)
        return root, root / src.name

    @staticmethod
    def rgbd(tmp: Path) -> Path:
        root = tmp / "rgbd"
        shutil.copytree(SAMPLES / "rgbd-folder", root)
        return root


def _img(path: Path, h=64, w=128, dtype=np.uint8):
    write_image(path, np.full((h, w, 3), 100, dtype))
    return path


# ------------------------------------------------------------------ validate (exit 2: unusable)


@case
def validate_empty_scene_folder(tmp, ctx):
    (tmp / "ds" / "scene-without-files" / "pan").mkdir(parents=True)
    return ["validate", str(tmp / "ds")], 2, ["ds"]


@case
def validate_root_is_a_file(tmp, ctx):
    (tmp / "file.txt").write_text("x")
    return ["validate", str(tmp / "file.txt")], 2, ["file.txt"]


@case
def validate_symlink_loop(tmp, ctx):
    root, scene = ctx.scene(tmp)
    os.symlink(scene, scene / "pan" / "loop")
    os.symlink(root / "ds-loop", root / "ds-loop")  # a dangling self-loop
    return ["validate", str(root), "--report", str(tmp / "r.csv")], 0, []


# ------------------------------------------------------- validate (exit 1: problems reported)


def _validate(tmp, root):
    return ["validate", str(root), "--report", str(tmp / "report.csv")]


@case
def validate_truncated_jpeg(tmp, ctx):
    root, s = ctx.scene(tmp)
    f = s / "pan/low/000.jpg"
    f.write_bytes(f.read_bytes()[:2000])
    return _validate(tmp, root), 1, ["pan/low/000.jpg", "unreadable image"]


@case
def validate_zero_byte_jpeg(tmp, ctx):
    root, s = ctx.scene(tmp)
    (s / "pan/low/001.jpg").write_bytes(b"")
    return _validate(tmp, root), 1, ["pan/low/001.jpg"]


@case
def validate_8bit_depth(tmp, ctx):
    root, s = ctx.scene(tmp)
    write_image(s / "depth/000.png", np.full((256, 512), 9, np.uint8))
    return _validate(tmp, root), 1, ["depth/000.png", "16-bit"]


@case
def validate_nan_depth(tmp, ctx):
    root = ctx.rgbd(tmp)
    d = sorted((root / "depth").glob("*.npy"))[0]
    a = np.load(d)
    a[:10] = np.nan
    np.save(d, a)
    return _validate(tmp, root), 1, [d.name, "NaN depth"]


@case
def validate_negative_and_inf_depth_all_invalid(tmp, ctx):
    root = ctx.rgbd(tmp)
    d = sorted((root / "depth").glob("*.npy"))[0]
    a = np.load(d)
    np.save(d, np.where(np.arange(a.size).reshape(a.shape) % 2, -1.0, np.inf).astype(np.float32))
    return _validate(tmp, root), 1, [d.name, "all invalid depth"]


@case
def validate_non_2to1_rgb(tmp, ctx):
    root, s = ctx.scene(tmp)
    _img(s / "pan/low/002.jpg", 100, 300)
    return _validate(tmp, root), 1, ["pan/low/002.jpg", "not 2:1"]


@case
def validate_rgb_depth_size_mismatch(tmp, ctx):
    root, s = ctx.scene(tmp)
    write_image(s / "depth/003.png", np.full((100, 300), 2000, np.uint16))
    return _validate(tmp, root), 1, ["depth/003.png"]


@case
def validate_missing_pose(tmp, ctx):
    root, s = ctx.scene(tmp)
    (s / "pose/001.txt").unlink()
    return _validate(tmp, root), 1, ["missing file", "pose"]


@case
def validate_garbage_pose(tmp, ctx):
    root, s = ctx.scene(tmp)
    (s / "pose/002.txt").write_text("not a pose at all\n")
    return _validate(tmp, root), 1, ["pose/002.txt", "bad pose"]


@case
def validate_non_rigid_pose(tmp, ctx):
    root, s = ctx.scene(tmp)
    (s / "pose/003.txt").write_text("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    return _validate(tmp, root), 1, ["pose/003.txt", "non-rigid"]


@case
def validate_duplicate_view_ids(tmp, ctx):
    root, s = ctx.scene(tmp)
    shutil.copy(s / "pan/low/000.jpg", s / "pan/low/000.png")
    return _validate(tmp, root), 1, ["000", "duplicate"]


# ------------------------------------------------------------------------- split / train / eval


@case
def split_exclude_report_missing_columns(tmp, ctx):
    (tmp / "r.csv").write_text("a,b\n1,2\n")
    return (
        ["split", str(SAMPLES / "seed"), "--out", str(tmp / "l"), "--exclude", str(tmp / "r.csv")],
        2,
        ["r.csv"],
    )


def _csv(tmp, ctx, text):
    shutil.copy(ctx.lists / "split.json", tmp / "split.json")
    (tmp / "train.csv").write_text(text)
    return tmp / "train.csv"


def _train(ctx, csv, tmp, *extra):
    return [
        "train",
        "--train-csv",
        str(csv),
        "--val-csv",
        "",
        "--logdir",
        str(tmp / "run"),
        "--height",
        "32",
        "--model-width",
        "4",
        "--model-depth",
        "2",
        "--steps",
        "1",
        "--batch",
        "2",
        "--no-progress",
        *extra,
    ]


@case
def train_csv_missing_columns(tmp, ctx):
    csv = _csv(tmp, ctx, "scene_id,view_id\nx,000\n")
    return _train(ctx, csv, tmp), 2, ["train.csv", "column"]


@case
def train_csv_path_outside_root(tmp, ctx):
    lines = (ctx.lists / "train.csv").read_text().splitlines()
    head, row = lines[0], lines[1].split(",")
    col = head.split(",").index("rgb_path")
    row[col] = "../../etc/passwd"
    csv = _csv(tmp, ctx, head + "\n" + ",".join(row) + "\n")
    return _train(ctx, csv, tmp), 2, ["train.csv", "outside"]


@case
def train_csv_not_found(tmp, ctx):
    return _train(ctx, tmp / "nope.csv", tmp), 2, ["nope.csv"]


@case
def train_resume_different_model(tmp, ctx):
    run = tmp / "run"
    shutil.copytree(ctx.run, run)
    argv = _train(ctx, ctx.lists / "train.csv", tmp, "--resume")
    argv[argv.index("--model-width") + 1] = "16"
    return argv, 2, ["config.json", "different model config"]


@case
def eval_corrupt_keras_model(tmp, ctx):
    (tmp / "m.keras").write_bytes(b"PK\x03\x04 not really a zip")
    return (
        [
            "eval",
            str(ctx.lists / "val.csv"),
            "--model",
            str(tmp / "m.keras"),
            "--out",
            str(tmp / "e"),
        ],
        2,
        ["m.keras"],
    )


@case
def infer_text_file_named_keras(tmp, ctx):
    """Keras said "File not found" of a file that exists but is not a zip archive."""
    (tmp / "m.keras").write_text("not a model")
    (tmp / "imgs").mkdir()
    write_image(tmp / "imgs" / "a.jpg", np.zeros((8, 16, 3), np.uint8))
    argv = ["infer", str(tmp / "imgs"), "--model", str(tmp / "m.keras"), "--out", str(tmp / "o")]
    return argv, 2, ["m.keras", "not a Keras model file"]


@case
def eval_csv_outside_root(tmp, ctx):
    lines = (ctx.lists / "val.csv").read_text().splitlines()
    head, row = lines[0], lines[1].split(",")
    row[head.split(",").index("depth_path")] = "/etc/hostname"
    csv = _csv(tmp, ctx, head + "\n" + ",".join(row) + "\n")
    return ["eval", str(csv), "--model", str(ctx.run), "--out", str(tmp / "e")], 2, ["train.csv"]


# --------------------------------------------------------------------------------------- export


@case
def export_not_a_run_folder(tmp, ctx):
    (tmp / "folder").mkdir()
    return (
        [
            "export",
            "--checkpoint",
            str(tmp / "folder"),
            "--out",
            str(tmp / "x"),
            "--format",
            "tflite",
            "--quantize",
            "none",
        ],
        2,
        ["folder", "run folder"],
    )


@case
def export_checkpoint_from_other_config(tmp, ctx):
    run = tmp / "run"
    shutil.copytree(ctx.run, run)
    (run / "model.keras").unlink()
    cfg = (run / "config.json").read_text().replace('"model_width": 4', '"model_width": 8')
    (run / "config.json").write_text(cfg)
    return (
        [
            "export",
            "--checkpoint",
            str(run),
            "--out",
            str(tmp / "x"),
            "--format",
            "tflite",
            "--quantize",
            "none",
        ],
        2,
        ["ckpt-", "does not fit"],
    )


# ---------------------------------------------------------------------------------------- infer


def _infer(tmp, ctx, path, *extra):
    return [
        "infer",
        str(path),
        "--model",
        str(ctx.run),
        "--out",
        str(tmp / "o"),
        "--no-progress",
        *extra,
    ]


@case
def infer_zero_byte_jpeg(tmp, ctx):
    (tmp / "a.jpg").write_bytes(b"")
    return _infer(tmp, ctx, tmp / "a.jpg"), 2, ["a.jpg", "empty"]


@case
def infer_truncated_png(tmp, ctx):
    p = _img(tmp / "b.png")
    p.write_bytes(p.read_bytes()[:60])
    return _infer(tmp, ctx, p), 2, ["b.png"]


@case
def infer_non_2to1(tmp, ctx):
    return _infer(tmp, ctx, _img(tmp / "c.png", 64, 100)), 2, ["c.png", "2:1"]


@case
def infer_16bit_grey(tmp, ctx):  # a depth map given as a panorama (16-bit colour is read)
    write_image(tmp / "d.png", np.full((32, 64), 1000, np.uint16))
    return _infer(tmp, ctx, tmp / "d.png"), 2, ["d.png", "16-bit single-channel", "depth map"]


@case
def infer_corrupt_tflite(tmp, ctx):
    (tmp / "m.tflite").write_bytes(os.urandom(256))
    argv = _infer(tmp, ctx, _img(tmp / "e.png"))
    argv[argv.index("--model") + 1] = str(tmp / "m.tflite")
    return argv, 2, ["m.tflite", ".tflite"]


@case
def infer_folder_without_images(tmp, ctx):
    (tmp / "empty").mkdir()
    return _infer(tmp, ctx, tmp / "empty"), 2, ["empty", "no images"]


# ------------------------------------------------------------------ pointcloud / match / eda


@case
def pointcloud_8bit_depth(tmp, ctx):
    root, s = ctx.scene(tmp)
    write_image(s / "depth/000.png", np.full((256, 512), 9, np.uint8))
    # one broken view: named and left out, the others fused (exit 1)
    return ["pointcloud", str(root), "--out", str(tmp / "p.ply")], 1, ["depth/000.png", "16-bit"]


@case
def pointcloud_all_invalid_depth(tmp, ctx):
    root, s = ctx.scene(tmp)
    write_image(s / "depth/001.png", np.zeros((256, 512), np.uint16))
    return ["pointcloud", str(root), "--out", str(tmp / "p.ply")], 1, ["depth/001.png", "valid"]


@case
def pointcloud_garbage_pose(tmp, ctx):
    root, s = ctx.scene(tmp)
    (s / "pose/002.txt").write_text("1 2 3\n")
    return ["pointcloud", str(root), "--out", str(tmp / "p.ply")], 1, ["pose/002.txt"]


@case
def match_without_poses(tmp, ctx):
    root = ctx.rgbd(tmp)
    for p in (root / "pose").glob("*"):
        p.unlink()
    a, b = sorted(p.stem for p in (root / "rgb").iterdir())[:2]
    return ["match", str(root), "--a", a, "--b", b, "--out", str(tmp / "m")], 2, ["no pose"]


@case
def match_unknown_view(tmp, ctx):
    return ["match", str(SAMPLES / "seed"), "--b", "042", "--out", str(tmp / "m")], 2, ["042"]


@case
def eda_truncated_jpeg(tmp, ctx):
    root, s = ctx.scene(tmp)
    f = s / "pan/low/003.jpg"
    f.write_bytes(f.read_bytes()[:1500])
    # a folder job carries on: the other views are analysed, the bad one is listed (exit 1)
    return ["eda", str(root), "--out", str(tmp / "eda")], 1, ["pan/low/003.jpg"]


@case
def eda_no_views(tmp, ctx):
    (tmp / "ds" / "x").mkdir(parents=True)
    return ["eda", str(tmp / "ds"), "--out", str(tmp / "eda")], 2, ["ds"]
