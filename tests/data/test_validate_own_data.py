"""``workbench validate`` on users' own datasets: the summary names files and the full report is
always written, zero views is an error, orphan files, masks, broken RealSee3D viewpoints,
pose-only datasets, and the depth-scale plausibility guard (also warned by eda, split,
pointcloud and match)."""

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.data.dataset import describe_dataset, index_spec, open_dataset
from workbench.data.layouts import find_datasets, load_view, read_depth
from workbench.data.plausibility import (
    HEIGHT_RANGE_M,
    check_plausibility,
    sample_records,
    warn_if_implausible,
)
from workbench.data.validate import (
    MASK_NO_VALID,
    SHOWN_PROBLEMS,
    default_report_path,
    validate_dataset,
)
from workbench.errors import WorkbenchError
from workbench.io import read_image, write_image
from workbench.paths import OUTPUTS, REPO

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"
WARNING = "workbench: warning:"


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(SAMPLES / name, root)
    return root


def _rows(report: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(report.read_text())))


def _problems(root, **kw) -> set[tuple[str, str, str]]:
    _, problems = validate_dataset(root, progress=False, **kw)
    return {(p.view_id, p.file, p.problem) for p in problems}


@pytest.fixture(scope="module")
def matterport(tmp_path_factory) -> Path:
    """Two synthetic scenes in the Matterport3D encoding (4000 units per metre) without the
    ``dataset.json`` that names it: read as the default millimetres, 4x too far."""
    root = tmp_path_factory.mktemp("mp") / "mp"
    argv = ["synth", "--scenes", "2", "--views", "3", "--seed", "3", "--size", "64x32"]
    argv += ["--preset", "easy", "--layout", "rgbd-folder", "--encoding", "matterport3d"]
    assert main([*argv, "--out", str(root)]) == 0
    (root / "dataset.json").unlink()
    return root


# ----------------------------------------------------------------- 1. output names files


def test_summary_lists_twenty_problems_and_writes_the_full_report(tmp_path, monkeypatch, capsys):
    root = _copy("rgbd-folder", tmp_path)
    for i in range(SHOWN_PROBLEMS + 5):
        (root / "pose" / f"orphan{i:02d}.txt").write_text("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["validate", str(root)]) == 1
    out = capsys.readouterr().out
    shown = [ln for ln in out.splitlines() if "orphan file" in ln and "pose/orphan" in ln]
    assert len(shown) == SHOWN_PROBLEMS, out
    assert "rgbd-folder/orphan00: pose/orphan00.txt: orphan file: " in out  # scene/view, file
    assert "... and 5 more" in out
    report = elsewhere / "validate-rgbd-folder.csv"  # the default, printed
    assert f"report: {report}" in out
    text = report.read_text()
    assert text.startswith("scene,view,file,problem,detail,dataset\n")
    assert len(_rows(report)) == SHOWN_PROBLEMS + 5
    # --report still chooses the path; a clean dataset gets its (empty) report too
    assert main(["validate", str(SAMPLES / "seed"), "--report", str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").read_text() == "scene,view,file,problem,detail,dataset\n"
    assert "... and" not in capsys.readouterr().out


def test_default_report_is_never_inside_the_dataset_or_the_package(tmp_path):
    ds = tmp_path / "my_data"
    (ds / "sub").mkdir(parents=True)
    assert default_report_path(ds, cwd=tmp_path) == tmp_path / "validate-my_data.csv"
    inside = default_report_path(ds, cwd=ds / "sub")
    assert inside.name == "validate-my_data.csv"
    assert not inside.resolve().is_relative_to(ds.resolve())
    in_repo = default_report_path(ds, cwd=REPO / "workbench")
    assert in_repo == OUTPUTS / "validate-my_data.csv"  # outputs/ is ignored by git
    assert not in_repo.is_relative_to(REPO / "workbench")


# ----------------------------------------------------------------- 2. zero views


def test_zero_views_is_an_error_naming_what_was_looked_for(tmp_path, capsys):
    root = tmp_path / "depth_only"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    write_image(root / "depth" / "000.png", np.full((8, 16), 1000, np.uint16))
    assert main(["validate", str(root)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("workbench: error:")]
    assert len(lines) == 1, err
    assert str(root) in lines[0] and "no views found" in lines[0] and "rgb/" in lines[0]
    assert "1 depth and pose files" in lines[0]
    with pytest.raises(WorkbenchError, match="no views found"):
        validate_dataset(root, progress=False)


# ----------------------------------------------------------------- 3. orphan files


def test_orphan_depth_and_pose_files_are_problems(tmp_path):
    root = _copy("rgbd-folder", tmp_path)
    depth = sorted((root / "depth").glob("*.png"))[0]
    shutil.copy(depth, root / "depth" / "lost.png")
    shutil.copy(sorted((root / "pose").glob("*.txt"))[0], root / "pose" / "stray.txt")
    found = _problems(root)
    assert ("lost", "depth/lost.png", "orphan file") in found
    assert ("stray", "pose/stray.txt", "orphan file") in found
    assert len(found) == 2, found

    seed = tmp_path / "seed"
    scene = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[0]
    shutil.copytree(scene, seed / scene.name)
    shutil.copy(seed / scene.name / "pose" / "000.txt", seed / scene.name / "pose" / "099.txt")
    assert _problems(seed) == {("099", f"{scene.name}/pose/099.txt", "orphan file")}


# ----------------------------------------------------------------- 4. masks


def test_mask_is_applied_and_a_0_1_mask_is_a_problem(tmp_path):
    root = _copy("realsee3d", tmp_path)
    recs = index_spec(describe_dataset(root))
    a, b = recs[0], recs[1]
    m = read_image(root / a.mask_path)
    assert m.dtype == np.uint8 and (m == 255).any()
    m[:, : m.shape[1] // 2] = 0  # mask out the left half of view a
    write_image(root / a.mask_path, m)
    density: dict = {}
    _, problems = validate_dataset(root, progress=False, density=density)
    assert problems == []
    for rec in recs:  # the valid fraction is the one load_view gives (mask applied)
        view = load_view(rec, root)
        assert view.range_m.shape == read_depth(root / rec.depth_path).shape
        assert density[(rec.scene_id, rec.view_id)] == pytest.approx((view.range_m > 0).mean())
    unmasked = (read_depth(root / a.depth_path, a.depth_scale) > 0).mean()
    assert density[(a.scene_id, a.view_id)] < 0.6 * unmasked
    mb = read_image(root / b.mask_path)
    write_image(root / b.mask_path, (mb == 255).astype(np.uint8))  # 0/1: no pixel is 255
    _, problems = validate_dataset(root, progress=False, density=density)
    bad = [p for p in problems if p.problem == "bad mask"]
    assert len(bad) == 1 and MASK_NO_VALID in bad[0].detail
    assert bad[0].file == b.mask_path and bad[0].view_id == b.view_id
    assert density[(b.scene_id, b.view_id)] == 0.0  # load_view would mask every pixel
    assert {p.problem for p in problems} == {"bad mask", "all invalid depth"}


# ----------------------------------------------------------------- 5. RealSee3D viewpoints


def test_realsee_bad_viewpoints_are_named_and_keep_their_scene(tmp_path, capsys):
    root = _copy("realsee3d", tmp_path)
    scene = next(p for p in root.iterdir() if (p / "viewpoints").is_dir())
    vp = scene / "viewpoints"
    (vp / "000").rename(vp / "extra")  # 000 listed but absent; "extra" present but unlisted
    (vp / "001" / "depth_scale.txt").unlink()
    (vp / "002" / "floor.txt").write_text("1 2\n")
    density: dict = {}
    records, problems = validate_dataset(root, progress=False, density=density)
    assert sorted(r.view_id for r in records) == ["000", "001", "002", "extra"]
    assert records[-1].view_id == "extra"  # unlisted folders come after the listed ones
    got = {(p.view_id, p.file, p.problem) for p in problems}
    s = scene.name
    assert got == {
        ("000", f"{s}/viewpoints/000", "missing viewpoint folder"),
        ("001", f"{s}/viewpoints/001/depth_scale.txt", "missing file"),
        ("002", f"{s}/viewpoints/002/floor.txt", "bad floor.txt"),
        ("extra", f"{s}/viewpoints/extra", "unlisted viewpoint"),
    }, got
    detail = {p.view_id: p.detail for p in problems}
    assert "depth_scale.txt" in detail["001"] and "RealSee3D" in detail["001"]
    assert "viewpoints.txt" in detail["000"]
    # the other views were still checked in full
    assert {v for _, v in density} == {"002", "extra"}
    assert main(["validate", str(root), "--report", str(tmp_path / "r.csv")]) == 1
    assert "missing viewpoint folder" in capsys.readouterr().out


# ----------------------------------------------------------------- 6. pose-only datasets


def test_pose_only_dataset_checks_rgb_and_poses(tmp_path, capsys):
    root = _copy("rgbd-folder", tmp_path)
    shutil.rmtree(root / "depth")
    report = tmp_path / "r.csv"
    assert main(["validate", str(root), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "4 views, 1 scene, 0 problems" in out
    assert out.count("depth: absent") == 1 and "RGB and poses checked" in out
    assert _rows(report) == []
    pose = sorted((root / "pose").glob("*.txt"))
    pose[0].unlink()
    pose[1].write_text("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n")
    assert main(["validate", str(root), "--report", str(report)]) == 1
    got = {(r["view"], r["problem"]) for r in _rows(report)}
    assert got == {(pose[0].stem, "missing file"), (pose[1].stem, "non-rigid pose")}
    missing = next(r for r in _rows(report) if r["problem"] == "missing file")
    assert missing["file"] == f"pose/{pose[0].stem}.txt"  # the file to add, not just "pose"


def test_a_missing_pose_names_the_file_the_layout_keeps_it_in(tmp_path):
    root = _copy("realsee3d", tmp_path)
    scene = next(p for p in root.iterdir() if (p / "viewpoints").is_dir())
    pose = scene / "viewpoints" / "001" / "extrinsics.txt"
    text = pose.read_text()
    pose.unlink()
    assert _problems(root) == {
        ("001", f"{scene.name}/viewpoints/001/extrinsics.txt", "missing file")
    }
    pose.write_text(text)
    assert (scene / "covisibility.txt").is_file()
    (scene / "viewpoints.txt").unlink()
    assert _problems(root) == {("", f"{scene.name}/viewpoints.txt", "missing file")}
    root = _copy("seed", tmp_path)
    pose = sorted(root.glob("*/pose/*.txt"))[0]
    pose.unlink()
    assert _problems(root) == {(pose.stem, pose.relative_to(root).as_posix(), "missing file")}


def test_a_scene_of_one_view_is_a_note_and_an_empty_folder_is_named_once(tmp_path, capsys):
    root = _copy("seed", tmp_path)
    scene = sorted(d for d in root.iterdir() if d.is_dir())[0]
    keep = sorted(p.stem for p in (scene / "pan" / "high").glob("*.jpg"))[0]
    for f in scene.glob("*/**/*"):
        if f.is_file() and f.stem != keep and f.parent.name in ("high", "low", "depth", "pose"):
            f.unlink()
    report = tmp_path / "r.csv"
    assert main(["validate", str(root), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"1 scene(s) of a single view ({scene.name})" in out and "0 problems" in out
    (root / "thumbnails").mkdir()
    assert main(["validate", str(root), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "    thumbnails: empty scene: no views found" in out, out


# ----------------------------------------------------------------- 7. plausibility guard


def test_sample_spreads_over_scenes():
    from workbench.data.layouts import ViewRecord

    many = [
        ViewRecord(f"s{i:02d}", f"{v}", "a", "d", "", "seed") for i in range(40) for v in range(3)
    ]
    picked = sample_records(many, 16)
    assert len(picked) == 16 and len({r.scene_id for r in picked}) == 16
    assert picked[0].scene_id == "s00" and picked[-1].scene_id == "s39"
    two = [ViewRecord(s, f"{v:02d}", "a", "d", "", "seed") for s in "ab" for v in range(20)]
    picked = sample_records(two, 16)
    assert [r.scene_id for r in picked].count("a") == 8
    assert picked[0].view_id == "00" and picked[7].view_id == "19"
    pose_only = [ViewRecord("s", "0", "a", "", "p", "rgbd-folder")]
    assert sample_records(pose_only) == []


def test_every_sample_dataset_is_plausible(capsys):
    for root, layout in find_datasets(SAMPLES):
        spec = describe_dataset(root, layout=layout)
        result = check_plausibility(spec, index_spec(spec))
        assert result.plausible, (root.name, result.message)
        if any(r.has_depth for r in index_spec(spec)):  # not the pose-only sample
            assert result.views > 0
            assert HEIGHT_RANGE_M[0] <= result.camera_height_m <= HEIGHT_RANGE_M[1], root.name
        assert warn_if_implausible(spec) is None
    assert WARNING not in capsys.readouterr().err


def test_matterport_without_dataset_json_is_implausible(matterport, tmp_path, capsys):
    report = tmp_path / "r.csv"
    assert main(["validate", str(matterport), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "implausible depth scale" in out and "--encoding matterport3d" in out
    rows = [r for r in _rows(report) if r["problem"] == "implausible depth scale"]
    assert len(rows) == 1 and rows[0]["scene"] == rows[0]["view"] == ""
    assert "at 1000 units per metre" in rows[0]["detail"]
    assert '{"encoding": "matterport3d"} in dataset.json' in rows[0]["detail"]
    assert len(_rows(report)) == 1  # nothing else is wrong with it
    # read as it is encoded, it is plausible
    ok = ["validate", str(matterport), "--encoding", "matterport3d", "--report", str(report)]
    assert main(ok) == 0
    spec = describe_dataset(matterport)
    judged = check_plausibility(spec, index_spec(spec))
    heights = {names: h for names, h, _ in judged.alternatives}
    assert heights["millimetres/structured3d"] == pytest.approx(4 * heights["matterport3d"])
    assert [n for n, _, ok in judged.alternatives if ok] == ["matterport3d"]


def test_stanford_sentinels_read_as_depth_are_implausible(tmp_path):
    root = _copy("stanford2d3d", tmp_path)
    (root / "dataset.json").unlink()
    spec = describe_dataset(root)
    judged = check_plausibility(spec, index_spec(spec))
    assert not judged.plausible and judged.sentinel_fraction > 0.01
    assert "65535" in judged.message and "--encoding stanford2d3d" in judged.message


def test_eda_warns_once_naming_the_encoding(matterport, tmp_path, capfd):
    assert main(["eda", str(matterport), "--out", str(tmp_path / "eda")]) == 0
    err = capfd.readouterr().err
    warnings = [ln for ln in err.splitlines() if WARNING in ln]
    assert len(warnings) == 1, err
    assert "--encoding matterport3d" in warnings[0] and "dataset.json" in warnings[0]


@pytest.mark.parametrize("verb", ["split", "pointcloud", "match"])
def test_other_verbs_warn_once(verb, matterport, tmp_path, capfd):
    out = str(tmp_path / "out")
    first = sorted(d for d in matterport.iterdir() if d.is_dir())[0]  # one folder per scene
    views = sorted(p.stem for p in (first / "rgb").iterdir())
    argv = {
        "split": ["--out", out, "--unit", "view", "--val-fraction", "0.5"],
        "pointcloud": ["--out", out + ".ply"],
        "match": ["--a", views[0], "--b", views[1], "--out", out],
    }[verb]
    assert main([verb, str(matterport), *argv]) == 0
    err = capfd.readouterr().err
    warnings = [ln for ln in err.splitlines() if WARNING in ln]
    assert len(warnings) == 1 and "--encoding matterport3d" in warnings[0], err
    assert main([verb, str(matterport), *argv, "--encoding", "matterport3d"]) == 0
    assert WARNING not in capfd.readouterr().err


def test_train_eval_and_a_notebook_warn_once_on_a_split_of_that_folder(matterport, tmp_path, capfd):
    lists = tmp_path / "lists"
    assert main(["split", str(matterport), "--out", str(lists), "--unit", "view",
                 "--val-fraction", "0.5"]) == 0  # fmt: skip
    capfd.readouterr()
    runs = {
        "train": ["train", "--train-csv", str(lists / "train.csv"), "--val-csv", "", "--steps",
                  "1", "--height", "32", "--batch", "1", "--logdir", str(tmp_path / "run"),
                  "--no-progress"],
        "eval": ["eval", str(lists / "val.csv"), "--out", str(tmp_path / "ev"), "--limit", "2"],
    }  # fmt: skip
    for verb, argv in runs.items():
        assert main(argv) == 0, verb
        warnings = [ln for ln in capfd.readouterr().err.splitlines() if WARNING in ln]
        assert len(warnings) == 1 and "--encoding matterport3d" in warnings[0], (verb, warnings)
    from workbench.data.plausibility import warn_if_implausible  # the notebooks' opener line

    assert warn_if_implausible(open_dataset(matterport)) is not None
    assert WARNING in capfd.readouterr().err


def test_split_leaves_out_a_realsee_view_it_cannot_decode_and_names_it(tmp_path, capsys):
    root = _copy("realsee3d", tmp_path)
    n = len(list(root.glob("*/viewpoints/*/depth_image.png")))
    lost = sorted(root.glob("*/viewpoints/*/depth_scale.txt"))[1]
    lost.unlink()
    out = tmp_path / "lists"
    assert main(["split", str(root), "--out", str(out), "--val-fraction", "0"]) == 0
    err = capsys.readouterr().err
    assert f"{lost}: 1 view(s) without a usable depth_scale.txt left out" in err
    rows = [r for f in ("train.csv", "val.csv") for r in _rows(out / f)]
    assert len(rows) == n - 1 and lost.parent.name not in {r["view_id"] for r in rows}
    assert (
        main(
            ["split", str(root), "--out", str(out), "--val-fraction", "0", "--depth-scale", "4000"]
        )
        == 0
    )
    assert "depth_scale.txt" not in capsys.readouterr().err  # the flag decodes every view


def test_a_folder_of_images_alone_is_pointed_to_infer_counting_every_file(tmp_path, capsys):
    src = sorted((SAMPLES / "rgbd-folder" / "rgb").glob("*.png"))[0]
    shutil.copy(src, tmp_path / "a.png")
    shutil.copy(src, tmp_path / "a.jpg")  # same stem, two files
    assert main(["validate", str(tmp_path), "--report", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "2 images but no depth or poses" in err and "notebook 06" in err


def test_a_view_without_the_pose_its_scene_has_is_a_missing_file(tmp_path):
    """Poses are optional in an rgbd folder, but one view of a posed scene without its pose
    file was passed as clean (and dropped the scene from motion tables and notebook 09)."""
    root = _copy("rgbd-folder", tmp_path)
    assert _problems(root) == set()
    (root / "pose" / "d169f286_002.txt").unlink()
    assert _problems(root) == {("d169f286_002", "pose/d169f286_002.txt", "missing file")}
    for p in (root / "pose").iterdir():  # no poses at all: an unposed RGB-D folder, fine
        p.unlink()
    assert _problems(root) == set()
