import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.data.dataset import index_dataset
from workbench.data.splits import read_split_csv, split_records, write_split
from workbench.data.validate import validate_dataset
from workbench.errors import WorkbenchError
from workbench.io import write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def test_split_deterministic_and_by_scene(tmp_path):
    recs = index_dataset(SAMPLES / "seed")
    write_split(recs, tmp_path / "a", SAMPLES / "seed", 0.3)
    write_split(recs, tmp_path / "b", SAMPLES / "seed", 0.3)
    for f in ("train.csv", "val.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    train, val = split_records(recs, 0.3)
    assert not {r.scene_id for r in train} & {r.scene_id for r in val}
    assert len(train) + len(val) == len(recs)


def test_adding_scenes_never_moves_old_ones():
    from workbench.data.layouts import ViewRecord

    def recs(n):
        return [ViewRecord(f"scene-{i}", "0", "a", "b", "", "seed") for i in range(n)]

    _, val_small = split_records(recs(200), 0.2)
    _, val_big = split_records(recs(400), 0.2)
    small = {r.scene_id for r in val_small}
    assert small == {r.scene_id for r in val_big if int(r.scene_id.split("-")[1]) < 200}
    assert 0.1 < len(val_big) / 400 < 0.3


def test_read_split_csv_round_trip_and_confinement(tmp_path):
    recs = index_dataset(SAMPLES / "seed")
    write_split(recs, tmp_path, SAMPLES / "seed", 0.5)
    a, root = read_split_csv(tmp_path / "train.csv")
    b, _ = read_split_csv(tmp_path / "val.csv")
    assert sorted(a + b, key=lambda r: (r.scene_id, r.view_id)) == recs
    assert root == (SAMPLES / "seed").resolve()
    header = (tmp_path / "train.csv").read_text().splitlines()[0]
    for path in ("../../etc/passwd", "/etc/passwd"):
        bad = tmp_path / "bad.csv"
        bad.write_text(f"{header}\ns,v,{path},d.png,,seed,1000.0,0,\n")
        with pytest.raises(WorkbenchError, match="line 2: rgb_path .* outside the dataset root"):
            read_split_csv(bad)
    cols = tmp_path / "cols.csv"
    cols.write_text("scene_id,view_id\nx,y\n")
    with pytest.raises(WorkbenchError, match="missing columns"):
        read_split_csv(cols, SAMPLES)


def test_split_cli(tmp_path, capsys):
    import json

    # 6 scenes hash above 0.2: an empty validation side is refused, saying what to change
    assert (
        main(
            ["split", str(SAMPLES / "seed"), "--out", str(tmp_path / "a"), "--val-fraction", "0.2"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--val-fraction" in err and "validation side would be empty" in err
    assert not (tmp_path / "a" / "train.csv").exists()
    assert (
        main(
            ["split", str(SAMPLES / "seed"), "--out", str(tmp_path / "b"), "--val-fraction", "0.5"]
        )
        == 0
    )
    info = json.loads((tmp_path / "b" / "split.json").read_text())
    assert info["train_views"] and info["val_views"]
    assert info["dataset"]["layout"] == "seed" and info["dataset"]["encoding"] == "millimetres"
    # a root-level rgbd folder is one scene: split by view
    rgbd = SAMPLES / "rgbd-folder"
    assert main(["split", str(rgbd), "--out", str(tmp_path / "c"), "--val-fraction", "0.5"]) == 2
    assert "--unit view" in capsys.readouterr().err
    assert (
        main(
            [
                "split",
                str(rgbd),
                "--out",
                str(tmp_path / "c"),
                "--val-fraction",
                "0.5",
                "--unit",
                "view",
            ]
        )
        == 0
    )
    info = json.loads((tmp_path / "c" / "split.json").read_text())
    assert info["train_views"] + info["val_views"] == 4 and info["val_views"] > 0


@pytest.fixture
def broken(tmp_path):
    """A copy of two sample scenes with one problem planted per view (the bad-input corpus)."""
    root = tmp_path / "ds"
    scenes = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())
    for s in scenes[:2]:
        shutil.copytree(s, root / s.name)
    a, b = (root / s.name for s in scenes[:2])
    jpg = (a / "pan/low/000.jpg").read_bytes()
    (a / "pan/low/000.jpg").write_bytes(jpg[: len(jpg) // 2])  # truncated JPEG
    write_image(a / "depth/001.png", np.full((256, 512), 7, np.uint8))  # 8-bit depth
    (a / "pose/002.txt").write_text("garbage pose\n")
    (a / "pose/003.txt").write_text("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")  # non-rigid
    write_image(b / "pan/low/000.jpg", np.zeros((100, 300, 3), np.uint8))  # not 2:1
    write_image(b / "depth/001.png", np.zeros((256, 512), np.uint16))  # all invalid
    (b / "pose/002.txt").unlink()  # missing pose
    (b / "pan/low/003.png").write_bytes(b"")  # duplicate id (and zero bytes)
    (root / "empty-scene" / "pan").mkdir(parents=True)
    (root / "empty-scene" / "depth").mkdir()
    return root


def test_validate_reports_everything(broken):
    recs, problems = validate_dataset(broken, progress=False)
    found = {(p.scene_id[:4], p.view_id, p.problem) for p in problems}
    a, b = sorted(p.name for p in broken.iterdir() if p.name != "empty-scene")
    expect = {
        (a[:4], "000", "unreadable image"),
        (a[:4], "001", "wrong depth dtype"),
        (a[:4], "002", "bad pose"),
        (a[:4], "003", "non-rigid pose"),
        (b[:4], "000", "not 2:1"),
        (b[:4], "001", "all invalid depth"),
        (b[:4], "002", "missing file"),
        (b[:4], "003", "duplicate view id"),
        ("empt", "", "empty scene"),
    }
    assert expect <= found, expect - found
    for p in problems:
        assert p.detail or p.problem in ("empty scene",)


def test_validate_cli_exit_codes(broken, tmp_path, capsys):
    assert main(["validate", str(SAMPLES / "seed")]) == 0
    report = tmp_path / "r.csv"
    assert main(["validate", str(broken), "--report", str(report)]) == 1
    assert report.read_text().startswith("scene,view,file,problem,detail,dataset\n")
    assert main(["validate", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "workbench: error:" in err and "not a folder" in err
    # excluded views leave the split
    assert (
        main(
            [
                "split",
                str(broken),
                "--out",
                str(tmp_path / "l"),
                "--exclude",
                str(report),
                "--val-fraction",
                "0",
            ]
        )
        == 0
    )
    info = json.loads((tmp_path / "l/split.json").read_text())
    assert info["excluded_views"] == 8 and info["train_views"] == 0  # every view has a problem
    assert main(["split", str(broken), "--out", str(tmp_path / "m"), "--val-fraction", "0"]) == 0
    assert json.loads((tmp_path / "m/split.json").read_text())["train_views"] == 8


def test_split_dataset_leaves_both_sides_non_empty_on_tiny_datasets(tmp_path):
    from workbench import open_dataset
    from workbench.data.splits import read_split_csv, split_dataset

    samples = Path(__file__).resolve().parents[2] / "data_samples"
    for name in ("seed", "rgbd-folder", "realsee3d", "pose-only"):
        ds = open_dataset(samples / name)
        info = split_dataset(ds, tmp_path / name, val_fraction=0.3)
        train, _ = read_split_csv(tmp_path / name / "train.csv")
        val, _ = read_split_csv(tmp_path / name / "val.csv")
        assert train and val and len(train) + len(val) == len(ds)
        assert info["unit"] == ("scene" if len(ds.scenes) > 1 else "view")
        again = split_dataset(ds, tmp_path / f"{name}-again", val_fraction=0.3)
        assert again == info  # a pure function of the ids


def test_split_dataset_for_pairs_keeps_a_one_scene_dataset_whole(tmp_path):
    from workbench import open_dataset
    from workbench.data.splits import split_dataset

    samples = Path(__file__).resolve().parents[2] / "data_samples"
    info = split_dataset(open_dataset(samples / "realsee3d"), tmp_path, 0.3, pairs=True)
    assert info["validation"] == "training views" and info["train_views"] == 3
    assert (tmp_path / "val.csv").read_bytes() == (tmp_path / "train.csv").read_bytes()
    assert json.loads((tmp_path / "split.json").read_text())["val_views"] == 3
    many = split_dataset(open_dataset(samples / "seed"), tmp_path / "seed", 0.3, pairs=True)
    assert "validation" not in many and many["unit"] == "scene"  # held-out scenes


def test_a_refused_split_leaves_no_folder(tmp_path, capsys):
    from workbench.cli import main

    seed = Path(__file__).resolve().parents[2] / "data_samples" / "seed"
    for argv in (["split", str(seed), "--encoding", "foo"],
                 ["split", str(tmp_path / "missing")],
                 ["split", str(seed), "--val-fraction", "0.999"]):  # fmt: skip
        out = tmp_path / "lists"
        assert main([*argv, "--out", str(out)]) == 2, argv
        assert not out.exists(), argv
    capsys.readouterr()


def test_an_empty_split_says_how_to_train_without_validation(tmp_path):
    """`split --val-fraction 0` writes a header-only val.csv, which train then refused with no
    hint of --val-csv ''."""
    assert (
        main(["split", str(SAMPLES / "seed"), "--out", str(tmp_path / "l"), "--val-fraction", "0"])
        == 0
    )
    with pytest.raises(WorkbenchError, match="header but no views .*--val-csv ''"):
        read_split_csv(tmp_path / "l" / "val.csv")
