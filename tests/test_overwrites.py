"""A run overwrites only its own kind of file: an existing file that a flag names and that is
not what the job writes is the user's, refused before any work with one line naming the flag
(a new user's ``--cache notes.txt``, ``--report pose/000.txt``, ``--html`` equal to ``--out``
and ``export --out`` equal to the model's folder each replaced a file of theirs)."""

import json
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.io import check_replaceable

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_check_replaceable_keeps_other_files_and_accepts_its_own(tmp_path):
    mine, theirs, empty = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    mine.write_text("scene,view\n")
    theirs.write_text("my notes\n")
    empty.write_bytes(b"")
    ours = lambda b: b.startswith(b"scene,view")  # noqa: E731
    assert check_replaceable(mine, "--report", "a report", ours) == mine
    assert check_replaceable(empty, "--report", "a report", ours) == empty  # nothing to lose
    assert check_replaceable(tmp_path / "new.csv", "--report", "a report", ours).name == "new.csv"
    with pytest.raises(ValueError, match=r"--report: .*b.csv exists and is not a report"):
        check_replaceable(theirs, "--report", "a report", ours)


@pytest.fixture
def seed(tmp_path):
    root = tmp_path / "seed"
    shutil.copytree(SAMPLES / "seed", root)
    return root


def test_eda_refuses_a_cache_path_that_holds_another_file(seed, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    out = tmp_path / "eda"
    assert main(["eda", str(seed), "--out", str(out), "--cache", str(notes)]) == 2
    assert "--cache: " in capsys.readouterr().err
    assert notes.read_text() == "my notes\n" and not out.exists()


def test_validate_refuses_a_report_path_that_holds_a_data_file(seed, tmp_path, capsys):
    pose = next(seed.glob("*/pose/000.txt"))
    before = pose.read_bytes()
    assert main(["validate", str(seed), "--report", str(pose)]) == 2
    assert "--report: " in capsys.readouterr().err and pose.read_bytes() == before
    report = tmp_path / "report.csv"
    assert main(["validate", str(seed), "--report", str(report)]) == 0
    assert main(["validate", str(seed), "--report", str(report)]) == 0  # its own: replaced


def test_pointcloud_refuses_html_on_its_ply_and_a_ply_path_of_another_file(seed, tmp_path, capsys):
    ply = tmp_path / "p.ply"
    assert main(["pointcloud", str(seed), "--out", str(ply), "--html", str(ply)]) == 2
    assert "--html: the same file as --out" in capsys.readouterr().err and not ply.exists()
    ply.write_text("not a cloud\n")
    assert main(["pointcloud", str(seed), "--out", str(ply)]) == 2
    assert "--out: " in capsys.readouterr().err and ply.read_text() == "not a cloud\n"


def test_export_refuses_to_write_into_the_models_own_folder(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"PK\x03\x04")  # refused before it is read
    (run / "model.json").write_text('{"source": "mine"}\n')
    assert main(["export", "--checkpoint", str(run), "--out", str(run), "--format", "pb"]) == 2
    assert "--out: is the model's own folder" in capsys.readouterr().err
    assert (run / "model.json").read_text() == '{"source": "mine"}\n'


def test_pointcloud_html_refuses_a_users_file_and_paths_inside_the_root(seed, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    ply = str(tmp_path / "p.ply")
    assert main(["pointcloud", str(seed), "--out", ply, "--html", str(notes)]) == 2
    assert "--html: " in capsys.readouterr().err and notes.read_text() == "mine\n"
    inside = next(seed.iterdir()) / "p.ply"
    assert main(["pointcloud", str(seed), "--out", str(inside)]) == 2
    assert "--out: " in capsys.readouterr().err and not inside.exists()


def test_eval_refuses_the_models_folder_and_the_dataset_root(seed, tmp_path, capsys):
    """eval --out MODEL replaced the model's benchmark metrics.json with a 2-view eval."""
    lists = tmp_path / "lists"
    assert main(["split", str(seed), "--out", str(lists), "--val-fraction", "0.5"]) == 0
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.keras").write_bytes(b"PK\x03\x04")
    (model / "metrics.json").write_text("{}\n")
    val = str(lists / "val.csv")
    assert main(["eval", val, "--model", str(model), "--out", str(model)]) == 2
    assert "--out: is the model's own folder" in capsys.readouterr().err
    assert (model / "metrics.json").read_text() == "{}\n"
    (model / "config.json").write_text("{}\n")  # a run folder: its model file names it too
    for given in (model, model / "model.keras"):
        assert main(["eval", val, "--model", str(given), "--out", str(model / "sub")]) == 2
        assert f"--out: {model / 'sub'} is inside the model's run folder" in capsys.readouterr().err
    assert main(["eval", val, "--model", str(model), "--out", str(seed / "ev")]) == 2
    assert "is inside the dataset root" in capsys.readouterr().err and not (seed / "ev").exists()


def test_validate_and_eda_refuse_files_in_the_dataset_and_a_users_parquet(seed, tmp_path, capsys):
    import pandas as pd

    new = next(seed.iterdir()) / "pose" / "999.txt"
    assert main(["validate", str(seed), "--report", str(new)]) == 2
    assert "--report: " in capsys.readouterr().err and not new.exists()
    mine = tmp_path / "mine.parquet"
    pd.DataFrame({"scene": ["a"], "path_m": [1.0]}).to_parquet(mine)
    before = mine.read_bytes()
    assert main(["eda", str(seed), "--out", str(tmp_path / "e"), "--cache", str(mine)]) == 2
    assert "--cache: " in capsys.readouterr().err and mine.read_bytes() == before
    assert not (tmp_path / "e").exists()


def test_eda_names_a_consistency_table_of_the_wrong_kind(seed, tmp_path, capsys):
    bad = tmp_path / "badc"
    bad.mkdir()
    (bad / "views.csv").write_text("scene,view\na,b\n")
    out = tmp_path / "e"
    assert main(["eda", str(seed), "--out", str(out), "--consistency", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad / 'views.csv'}: not a consistency table" in err and "KeyError" not in err
    assert not out.exists()


def test_infer_refuses_an_out_inside_a_dataset_it_reads(seed, capsys):
    out = seed / "pred"
    assert main(["infer", str(seed), "--out", str(out)]) == 2
    assert "is inside the dataset root" in capsys.readouterr().err and not out.exists()


def test_a_verb_does_not_write_into_another_verbs_output_folder(seed, tmp_path, capsys):
    """eda into a consistency folder replaced its views.csv, pairs.csv and summary.json (both
    write them); each verb now marks its folder and another verb refuses it."""
    out = tmp_path / "shared"
    base = ["--height", "32", "--no-progress"]
    assert main(["covisibility", str(seed), "--out", str(out), *base]) == 0
    summary = (out / "summary.json").read_bytes()
    assert main(["consistency", str(seed), "--out", str(out), "--no-progress"]) == 2
    assert "holds the output of `workbench covisibility`" in capsys.readouterr().err
    assert main(["eda", str(seed), "--out", str(out)]) == 2
    assert "--out: " in capsys.readouterr().err and (out / "summary.json").read_bytes() == summary
    assert main(["covisibility", str(seed), "--out", str(out), *base]) == 0  # its own: resumes


def test_a_folder_no_run_marked_must_be_empty(tmp_path):
    """check_output_owner: a folder of the user's files is refused (its files would be
    replaced), an empty one or one holding only hidden files is fine, a marked one is its
    verb's."""
    from workbench.io import check_output_owner, claim_output_folder

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".DS_Store").write_bytes(b"")
    check_output_owner(mine, "eda")  # a desktop's litter aside, empty
    (mine / ".env").write_text("TOKEN=abc")  # a user's hidden file makes it theirs (--out ~)
    with pytest.raises(ValueError, match=r"mine is not empty \(.env\)"):
        check_output_owner(mine, "eda")
    (mine / ".env").unlink()
    (mine / "metrics.json").write_text('{"mine": 1}')
    with pytest.raises(ValueError, match=r"--logdir: .*mine is not empty \(metrics.json\)"):
        check_output_owner(mine, "train", "--logdir")
    check_output_owner(tmp_path / "new", "eval")  # not there yet
    out = claim_output_folder(tmp_path / "new", "eval")
    (out / "metrics.json").write_text("{}")
    check_output_owner(out, "eval")  # its own folder: a re-run goes on
    with pytest.raises(ValueError, match="holds the output of `workbench eval`"):
        check_output_owner(out, "infer")


def test_verbs_refuse_a_folder_of_the_users_files(seed, tmp_path, capsys):
    """infer replaced a user's own x_depth.png (ground truth) and infer.json; eval their
    metrics.json; train --logdir a dataset root (its run folders became empty scenes)."""
    mine = tmp_path / "mine"
    shutil.copytree(seed / next(p.name for p in seed.iterdir() if p.is_dir()) / "pan", mine)
    before = {p.name: p.read_bytes() for p in mine.rglob("*") if p.is_file()}
    for argv in (
        ["eval", str(tmp_path / "x.csv"), "--out", str(mine)],
        ["split", str(seed), "--out", str(mine)],
        ["covisibility", str(seed), "--out", str(mine), "--no-progress"],
        ["train", "--logdir", str(seed), "--steps", "1"],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "is not empty" in err and "Traceback" not in err, (argv, err)
    assert {p.name: p.read_bytes() for p in mine.rglob("*") if p.is_file()} == before
    assert not list(mine.rglob(".workbench-output"))
    # infer refuses it too where it is not the images' own folder (it wrote beside the user's
    # files, and into a dataset root)
    photo = sorted(
        (seed / next(p.name for p in seed.iterdir() if p.is_dir()) / "pan" / "low").iterdir()
    )[0]
    for folder in (mine, seed):
        assert main(["infer", str(photo), "--out", str(folder), "--no-progress"]) == 2
        assert "is not empty" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in mine.rglob("*") if p.is_file()} == before
    # infer writes beside the input images, but never over a file of the user's
    photos = mine / "low"
    depth = photos / f"{sorted(photos.iterdir())[0].stem}_depth.png"
    depth.write_bytes(b"my ground truth")
    assert main(["infer", str(photos), "--out", str(photos), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"would replace ({depth.name}) not written by `workbench infer`" in err
    assert depth.read_bytes() == b"my ground truth" and not (photos / "infer.json").exists()


def test_infer_marks_its_folder_and_resumes_in_it(seed, tmp_path, capsys):
    out = tmp_path / "pred"
    views = next(p for p in seed.iterdir() if p.is_dir()) / "pan" / "low"
    argv = ["infer", str(views), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert (out / ".workbench-output").read_text() == "infer\n"
    assert main(argv) == 0 and "skipped" in capsys.readouterr().out  # its own folder
    # a file the user put there later under the name of a new image's output is theirs
    extra = views.parent / "more"
    shutil.copytree(views, extra)
    new = sorted(extra.iterdir())[0]
    new.rename(extra / f"new{new.suffix}")
    (out / "new_depth.png").write_bytes(b"my ground truth")
    assert main(["infer", str(extra), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "(new_depth.png) that no earlier run listed in its infer.json" in err
    assert (out / "new_depth.png").read_bytes() == b"my ground truth"
    # nor a cloud of the user's named like one --ply would now add for an image done without it
    done = json.loads((out / "infer.json").read_text())["images"][0]["output"]
    (out / f"{done}.ply").write_bytes(b"my scan")
    assert main([*argv, "--ply"]) == 2
    assert f"({done}.ply) that no earlier run listed" in capsys.readouterr().err
    assert (out / f"{done}.ply").read_bytes() == b"my scan"
    assert main(["eda", str(seed), "--out", str(out)]) == 2
    assert "holds the output of `workbench infer`" in capsys.readouterr().err


def test_an_eda_that_reads_no_view_leaves_no_folder(tmp_path, capsys):
    """It left a folder holding only its mark, which then refused every other verb."""
    root = tmp_path / "allbad"
    shutil.copytree(SAMPLES / "rgbd-folder", root)
    for png in (root / "depth").iterdir():
        png.write_bytes(b"not a png")
    out = tmp_path / "e"
    assert main(["eda", str(root), "--out", str(out), "--workers", "1"]) == 2
    assert "Traceback" not in capsys.readouterr().err and not out.exists()


def test_one_verb_does_not_mix_two_datasets_in_one_folder(seed, tmp_path, capsys):
    """consistency of a second dataset into the first one's folder replaced its tables and
    left its scenes beside them (eda then refused the first dataset's results)."""
    out = tmp_path / "cov"
    base = ["--height", "32", "--no-progress"]
    assert main(["covisibility", str(seed), "--out", str(out), *base]) == 0
    other = tmp_path / "rs"
    shutil.copytree(SAMPLES / "realsee3d", other)
    summary = (out / "summary.json").read_bytes()
    assert main(["covisibility", str(other), "--out", str(out), *base]) == 2
    err = capsys.readouterr().err
    assert f"holds the `workbench covisibility` results of {seed.resolve()}" in err
    assert (out / "summary.json").read_bytes() == summary
    assert main(["covisibility", str(seed), "--out", str(out), *base]) == 0  # its own again
