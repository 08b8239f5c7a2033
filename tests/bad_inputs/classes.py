"""Bad inputs by class: one generator per class of failure, applied to every verb the class
reaches (the corpus in ``corpus.py`` holds single cases). ``CLASSES`` maps ``(class, verb)``
to ``build(tmp, ctx) -> (argv, exit_code, needles)`` like the corpus; needles must appear in the
one error line (exit 2) or in the job's output (exit 0/1)."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np

from tests.bad_inputs.corpus import SAMPLES
from workbench.io import read_rgb, write_image

CLASSES: dict = {}


def _register(cls_name: str, verbs: dict) -> None:
    for verb, fn in verbs.items():
        CLASSES[(cls_name, verb)] = fn


def _seed(tmp: Path) -> Path:
    src = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[0]
    shutil.copytree(src, tmp / "ds" / src.name)
    return tmp / "ds"


def _imgs(tmp: Path, n: int = 2) -> Path:
    folder = tmp / "imgs"
    for i in range(n):
        write_image(folder / f"p{i}.png", np.full((32, 64, 3), 60 + 40 * i, np.uint8))
    return folder


def _verbs_with_out(tmp: Path, ctx, out: str) -> dict:
    """argv of every verb with an output path, writing to ``out``."""
    lists = ctx.lists
    return {
        "infer": ["infer", str(_imgs(tmp)), "--model", str(ctx.run), "--out", out],
        "eval": ["eval", str(lists / "val.csv"), "--model", str(ctx.run), "--out", out],
        "export": ["export", "--checkpoint", str(ctx.run), "--quantize", "none", "--out", out],
        "split": ["split", str(SAMPLES / "seed"), "--out", out],
        "eda": ["eda", str(SAMPLES / "seed"), "--out", out],
        "match": ["match", str(SAMPLES / "seed"), "--out", out],
        "synth": ["synth", "--scenes", "1", "--views", "1", "--size", "64x32", "--out", out],
        "train": [
            "train",
            "--train-csv",
            str(lists / "train.csv"),
            "--val-csv",
            "",
            "--height",
            "32",
            "--model-depth",
            "2",
            "--steps",
            "1",
            "--logdir",
            out,
        ],
    }


# --------------------------------------------------------------- 1. --out is an existing file


def _out_is_file(verb):
    def build(tmp, ctx):
        (tmp / "taken").write_text("not a folder")
        return _verbs_with_out(tmp, ctx, str(tmp / "taken"))[verb], 2, ["taken"]

    return build


_register(
    "out_is_a_file",
    {
        v: _out_is_file(v)
        for v in ("infer", "eval", "export", "split", "eda", "match", "synth", "train")
    },
)


# ------------------------------------------------------ 2. --out below a file (ENOTDIR)


def _out_below_file(verb):
    def build(tmp, ctx):
        (tmp / "file").write_text("x")
        return _verbs_with_out(tmp, ctx, str(tmp / "file" / "sub"))[verb], 2, ["file"]

    return build


_register(
    "out_below_a_file",
    {v: _out_below_file(v) for v in ("infer", "eval", "export", "split", "eda", "match", "train")},
)


# ---------------------------------- 3. images read by content: valid files are not refused


def _content_variants(folder: Path) -> None:
    """A PNG named .jpg, a JPEG with bytes after its end marker, upper-case extensions."""
    img = np.full((32, 64, 3), 90, np.uint8)
    write_image(folder / "png_named.png", img)
    (folder / "png_named.png").rename(folder / "png_named.jpg")
    write_image(folder / "trailer.jpg", img)
    with open(folder / "trailer.jpg", "ab") as f:
        f.write(b"PHONE-TRAILER" * 50)
    write_image(folder / "UPPER.JPG", img)
    write_image(folder / "UPPER2.PNG", img)


def _content_infer(tmp, ctx):
    folder = tmp / "imgs"
    folder.mkdir()
    _content_variants(folder)
    argv = ["infer", str(folder), "--model", str(ctx.run), "--out", str(tmp / "o")]
    return argv, 0, ["4 images"]


def _content_validate(tmp, ctx):
    root = _seed(tmp)
    scene = next(root.iterdir())
    low = scene / "pan" / "low"
    data = (low / "001.jpg").read_bytes()
    (low / "001.jpg").write_bytes(data + b"\x00TRAILER" * 100)  # phone trailer
    (low / "002.jpg").rename(low / "002.JPG")  # upper-case extension
    img = read_rgb(low / "003.jpg")
    write_image(low / "003.png", img)
    (low / "003.jpg").unlink()
    (low / "003.png").rename(low / "003.jpg")  # a PNG named .jpg
    return ["validate", str(root)], 0, ["4 views", "0 problems"]


_register("read_by_content", {"infer": _content_infer, "validate": _content_validate})


# ---------------------------------------------- 4. .npy files whose header does not fit


def _rgbd_with_bad_npy(tmp: Path, kind: str) -> Path:
    root = tmp / "rgbd"
    shutil.copytree(SAMPLES / "rgbd-folder", root)
    npy = sorted((root / "depth").glob("*.npy"))[0]
    if kind == "huge":  # a header claiming 300 GB in a small file
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (300000, 250000), }"
        header = header + " " * (63 - len(header) % 64) + "\n"
        npy.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    else:  # an .npz archive named .npy
        np.savez(tmp / "x.npz", a=np.ones((4, 8), np.float32))
        npy.write_bytes((tmp / "x.npz").read_bytes())
    return root


def _npy(verb, kind):
    def build(tmp, ctx):
        root = _rgbd_with_bad_npy(tmp, kind)
        if verb == "validate":
            return ["validate", str(root), "--report", str(tmp / "report.csv")], 1, [".npy"]
        if verb == "eda":
            return ["eda", str(root), "--out", str(tmp / "eda")], 1, [".npy"]
        # the scene's other views are fused; the broken one is named (exit 1)
        return ["pointcloud", str(root), "--out", str(tmp / "p.ply")], 1, ["view left out", ".npy"]

    return build


for _kind in ("huge", "npz"):
    _register(f"npy_{_kind}", {v: _npy(v, _kind) for v in ("validate", "eda", "pointcloud")})


# ------------------------------------------- 5. an image whose header claims 60000 x 30000


def _huge_png(path: Path) -> Path:
    ihdr = struct.pack(">IIBBBBB", 60000, 30000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
    data += struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _huge_infer(tmp, ctx):
    p = _huge_png(tmp / "big.png")
    return (
        ["infer", str(p), "--model", str(ctx.run), "--out", str(tmp / "o")],
        2,
        ["big.png", "Mpx"],
    )


def _huge_validate(tmp, ctx):
    root = _seed(tmp)
    scene = next(root.iterdir())
    (scene / "pan" / "low" / "001.jpg").unlink()
    _huge_png(scene / "pan" / "low" / "001.png")
    return ["validate", str(root), "--report", str(tmp / "report.csv")], 1, ["001.png", "Mpx"]


_register("pixel_budget", {"infer": _huge_infer, "validate": _huge_validate})


# ------------------------------------ 6. a folder job with one bad file carries on (exit 1)


def _one_bad_infer(tmp, ctx):
    folder = _imgs(tmp, 3)
    (folder / "p1.png").write_bytes(b"\x89PNG broken")
    argv = ["infer", str(folder), "--model", str(ctx.run), "--out", str(tmp / "o")]
    return argv, 1, ["2 images", "1 failed", "p1.png"]


def _one_bad_eval(tmp, ctx):
    lists = tmp / "lists"
    shutil.copytree(ctx.lists, lists)
    rows = (lists / "val.csv").read_text().splitlines()
    first = rows[1].split(",")
    meta = json.loads((lists / "split.json").read_text())
    shutil.copytree(meta["root"], tmp / "root")
    bad = tmp / "root" / first[2]
    bad.write_bytes(bad.read_bytes()[:100])  # a truncated panorama
    meta["root"] = str(tmp / "root")
    (lists / "split.json").write_text(json.dumps(meta))
    argv = ["eval", str(lists / "val.csv"), "--model", str(ctx.run), "--out", str(tmp / "e")]
    return argv, 1, [Path(first[2]).name]


def _one_bad_validate(tmp, ctx):
    root = _seed(tmp)
    (root / "broken-scene" / "pan" / "low").mkdir(parents=True)
    (root / "broken-scene" / "depth").mkdir()
    (root / "broken-scene" / "others").mkdir()
    (root / "broken-scene" / "others" / "meta.json").write_text("{not json")
    return ["validate", str(root), "--report", str(tmp / "report.csv")], 1, ["meta.json"]


_register(
    "folder_job_carries_on",
    {"infer": _one_bad_infer, "eval": _one_bad_eval, "validate": _one_bad_validate},
)


# ------------------------------------- 7. crash leftovers (temporary names) are never data


def _leftovers(verb):
    def build(tmp, ctx):
        root = _seed(tmp)
        scene = next(root.iterdir())
        for sub in ("pan/low", "depth", "pose"):
            (scene / sub / ".007.jpg.abc123.tmp").write_bytes(b"")
        if verb == "validate":
            return ["validate", str(root)], 0, ["4 views", "0 problems"]
        argv = [
            "infer",
            str(scene / "pan" / "low"),
            "--model",
            str(ctx.run),
            "--out",
            str(tmp / "o"),
        ]
        return argv, 0, ["4 images"]

    return build


_register("temporary_leftovers", {v: _leftovers(v) for v in ("validate", "infer")})


# ------------------------------------ 8. outputs written into the input folder are not inputs


def _out_is_input_folder(tmp, ctx):
    from workbench.cli import main

    folder = _imgs(tmp, 2)
    argv = ["infer", str(folder), "--model", str(ctx.run), "--out", str(folder), "--no-progress"]
    assert main(argv) == 0  # the first run writes its outputs beside the inputs
    return argv, 0, ["2 images"]  # the re-run reads the same two images, not its outputs


def _tiny_images(tmp, ctx):
    folder = _imgs(tmp, 1)
    write_image(folder / "tiny.png", np.zeros((1, 2, 3), np.uint8))
    argv = ["infer", str(folder), "--model", str(ctx.run), "--out", str(tmp / "o"), "--pad"]
    return argv, 1, ["infer: 1 image with", "tiny.png", "too small"]


_register(
    "own_outputs_and_tiny_images", {"infer": _out_is_input_folder, "infer-tiny": _tiny_images}
)


# --------------------------- 9. output paths checked before any work (named, never half-done)


def _report_is_a_folder(tmp, ctx):
    (tmp / "rep").mkdir()
    return ["validate", str(SAMPLES / "seed"), "--report", str(tmp / "rep")], 2, ["rep", "folder"]


def _ply_suffix(tmp, ctx):
    return (
        ["pointcloud", str(SAMPLES / "seed"), "--out", str(tmp / "cloud.txt")],
        2,
        ["cloud.txt", ".ply"],
    )


def _eda_cache_under_a_file(tmp, ctx):
    (tmp / "f").write_text("x")
    argv = [
        "eda",
        str(SAMPLES / "seed"),
        "--out",
        str(tmp / "o"),
        "--cache",
        str(tmp / "f" / "c.parquet"),
    ]
    return argv, 2, ["c.parquet"]


_register(
    "outputs_checked_first",
    {"validate": _report_is_a_folder, "pointcloud": _ply_suffix, "eda": _eda_cache_under_a_file},
)
