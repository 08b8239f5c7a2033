"""``workbench covisibility``: the Dask engine and the plain path agree, a killed job resumes,
a broken scene is reported and skipped."""

import shutil
from pathlib import Path

import numpy as np

from workbench.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.txt"))}


def test_engine_and_plain_path_write_identical_files(tmp_path):
    args = ["covisibility", str(SAMPLES / "seed"), "--height", "32", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "dask"), "--workers", "2"]) == 0
    plain, dask = _files(tmp_path / "plain"), _files(tmp_path / "dask")
    assert len(plain) == 12 and plain == dask
    cov = np.loadtxt(tmp_path / "plain" / next(iter(plain)).split("/")[0] / "covisibility.txt")
    assert cov.shape == (4, 4) and np.allclose(np.diag(cov), 1) and np.allclose(cov, cov.T)


def test_a_killed_job_resumes_with_the_same_files(tmp_path, capsys):
    args = ["covisibility", str(SAMPLES / "seed"), "--height", "32", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    # a job killed after two scenes: their files are there, the others are not
    out = tmp_path / "resumed"
    full = _files(tmp_path / "full")
    for scene in sorted({k.split("/")[0] for k in full})[:2]:
        shutil.copytree(tmp_path / "full" / scene, out / scene)
    shutil.copy(tmp_path / "full" / ".workbench-output", out)  # the killed job's folder
    (out / "stale").mkdir()
    (out / "stale" / ".covisibility.txt.x1y2.tmp").write_text("half")  # a kill mid-write
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 0
    assert '"computed": 4, "skipped": 2' in capsys.readouterr().out
    assert _files(out) == full


def _two_scenes(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "ds"
    scenes = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[:2]
    for s in scenes:
        shutil.copytree(s, root / s.name)
    return root, [root / s.name for s in scenes]


def test_a_broken_depth_costs_its_view_not_its_scene(tmp_path, capsys):
    root, scenes = _two_scenes(tmp_path)
    png = scenes[1] / "depth" / "002.png"
    good = png.read_bytes()
    png.write_bytes(good[:200])
    out = tmp_path / "out"
    args = ["covisibility", str(root), "--out", str(out), "--height", "32", "--no-progress"]
    assert main(args) == 1
    assert '"failed": 0, "views_left_out": 1' in capsys.readouterr().out
    assert (out / scenes[1].name / "viewpoints.txt").read_text().split() == ["000", "001", "003"]
    cov = np.loadtxt(out / scenes[1].name / "covisibility.txt")
    assert cov.shape == (3, 3)
    failed = (out / "failed.csv").read_text()
    assert f"{scenes[1].name},view 002 left out:" in failed and "002.png" in failed
    assert scenes[0].name not in failed
    # the matrix of the views that were read is theirs as in the whole scene's
    full = tmp_path / "full"
    png.write_bytes(good)
    capsys.readouterr()
    assert main([*args[:3], str(full), *args[4:]]) == 0
    whole = np.loadtxt(full / scenes[1].name / "covisibility.txt")
    assert np.array_equal(cov, whole[np.ix_([0, 1, 3], [0, 1, 3])])
    # mended, a re-run redoes that scene alone (its views left out were recorded)
    assert main(args) == 0
    assert '"computed": 1, "skipped": 1' in capsys.readouterr().out
    assert _files(out) == _files(full)


def test_a_truncated_panorama_costs_nothing_and_an_unreadable_scene_is_listed(tmp_path):
    root, scenes = _two_scenes(tmp_path)
    ref = tmp_path / "ref"
    args = ["--height", "32", "--no-progress"]
    assert main(["covisibility", str(root), "--out", str(ref), *args]) == 0
    for jpg in (scenes[0] / "pan").rglob("001.jpg"):  # covisibility reads only depth
        jpg.write_bytes(jpg.read_bytes()[:300])
    for png in (scenes[1] / "depth").glob("*.png"):
        png.write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["covisibility", str(root), "--out", str(out), *args]) == 1
    name = scenes[0].name
    cov = "covisibility.txt"
    assert (out / name / cov).read_bytes() == (ref / name / cov).read_bytes()
    assert not (out / scenes[1].name).exists()
    failed = (out / "failed.csv").read_text()
    assert f"no view of scene {scenes[1].name} can be read" in failed and "000.png" in failed


def test_a_missing_pose_file_is_named(tmp_path, capsys):
    """It said the view's panorama had no pose (validate named the pose file)."""
    root, scenes = _two_scenes(tmp_path)
    pose = scenes[0] / "pose" / "001.txt"
    pose.unlink()
    out = tmp_path / "out"
    args = ["covisibility", str(root), "--out", str(out), "--height", "32", "--no-progress"]
    assert main(args) == 1
    assert f"view 001 left out: {pose}: pose file not found" in (out / "failed.csv").read_text()


def test_a_depth_map_rewritten_in_place_recomputes_its_scene(tmp_path, capsys):
    """The fingerprint covered the file list only: a depth map rewritten at half its range
    kept the old matrix (0.85 where a fresh run gives 0.002)."""
    from workbench.io import read_image, write_image

    root, scenes = _two_scenes(tmp_path)
    out = tmp_path / "out"
    args = ["covisibility", str(root), "--out", str(out), "--height", "32", "--no-progress"]
    assert main(args) == 0
    before = np.loadtxt(out / scenes[0].name / "covisibility.txt")
    png = scenes[0] / "depth" / "000.png"
    write_image(png, (read_image(png) // 2).astype(np.uint16))
    capsys.readouterr()
    assert main(args) == 0
    assert '"computed": 1, "skipped": 1' in capsys.readouterr().out
    after = np.loadtxt(out / scenes[0].name / "covisibility.txt")
    assert not np.allclose(after[0], before[0])


def test_a_scene_being_rewritten_has_no_options_record(tmp_path):
    """Files first, options.json last: a run cut short between them must not leave the old
    record, which a re-run with those old options would take as done."""
    from workbench.eda.scene_ranges import finished_with, start_scene

    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "covisibility.txt").write_text("1\n")
    (folder / "options.json").write_text('{"height": 32}')
    assert finished_with(folder, ("covisibility.txt",), {"height": 32})
    assert start_scene(folder) == folder and not (folder / "options.json").exists()
    assert not finished_with(folder, ("covisibility.txt",), {"height": 32})


def test_a_pose_in_millimetres_costs_its_view_in_covisibility_and_pointcloud(tmp_path, capsys):
    """validate named it, but covisibility wrote 0 for the view and pointcloud fused it 1.5 km
    away without a word."""
    root, scenes = _two_scenes(tmp_path)
    pose = scenes[0] / "pose" / "001.txt"
    T = np.loadtxt(pose)
    T[:3, 3] *= 1000
    np.savetxt(pose, T)
    out = tmp_path / "out"
    args = ["covisibility", str(root), "--out", str(out), "--height", "32", "--no-progress"]
    assert main(args) == 1
    assert f"view 001 left out: {pose}: camera" in (out / "failed.csv").read_text()
    assert "millimetres?" in (out / "failed.csv").read_text()
    ply = tmp_path / "c.ply"
    assert main(["pointcloud", str(root), "--scene", scenes[0].name, "--out", str(ply)]) == 1
    err = capsys.readouterr().err
    assert f"view left out: {pose}: camera" in err and "millimetres?" in err


def test_a_depth_in_millimetres_among_metres_costs_its_view(tmp_path, capsys):
    """A ``.npy`` in millimetres among metre views: pointcloud fused it 1.5 km out with no
    word (validate named it)."""
    root = tmp_path / "mix"
    shutil.copytree(SAMPLES / "rgbd-folder", root)
    npy = next((root / "depth").glob("*.npy"))
    np.save(npy, np.load(npy) * 1000)
    ply = tmp_path / "c.ply"
    assert main(["pointcloud", str(root), "--out", str(ply)]) == 1
    err = capsys.readouterr().err
    assert f"view left out: {npy}: median range" in err and "millimetres or another" in err
    out = tmp_path / "cov"
    assert main(["covisibility", str(root), "--out", str(out), "--no-progress"]) == 1
    assert f"left out: {npy}: median range" in (out / "failed.csv").read_text()


def test_a_scene_gone_from_the_dataset_keeps_its_folder_and_is_named(tmp_path, capsys):
    """Its folder stayed in --out with no word (its results are not collected)."""
    root, scenes = _two_scenes(tmp_path)
    out = tmp_path / "out"
    for verb in ("covisibility", "consistency"):
        args = [verb, str(root), "--out", str(out / verb), "--height", "32", "--no-progress"]
        assert main(args) == 0
    shutil.rmtree(scenes[0])
    for verb in ("covisibility", "consistency"):
        capsys.readouterr()
        args = [verb, str(root), "--out", str(out / verb), "--height", "32", "--no-progress"]
        assert main(args) == 0
        said = capsys.readouterr().out
        assert f"{verb}: 1 scene folder(s) in {out / verb} hold results of scenes this " in said
        assert f"({scenes[0].name}): left as they are, not collected" in said
        assert (out / verb / scenes[0].name / "options.json").is_file()
    assert main(["covisibility", str(root), "--out", str(tmp_path / "new"), "--height", "32"]) == 0
    assert "no longer has" not in capsys.readouterr().out


def test_a_height_above_the_views_rows_is_refused_before_any_work(tmp_path, capsys):
    """covisibility fell from 0.95 to 0.24 at 8192 rows on a clean sample with no word, and
    consistency called clean pairs weak (match refused it)."""
    for verb, height in (("covisibility", "8192"), ("consistency", "1024")):
        out = tmp_path / verb
        argv = [verb, str(SAMPLES / "seed"), "--out", str(out), "--height", height]
        assert main([*argv, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"workbench: error: --height: {height} is above the views' own 256 rows (depth "
            "upsampled that far fails the occlusion test): name at most 256\n"
        )
        assert not out.exists()
