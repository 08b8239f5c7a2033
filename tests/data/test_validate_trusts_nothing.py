"""``validate`` trusts nothing: image and depth sizes agree and a panorama is 2:1 and big enough,
poses are rigid and in metres, ``depth_scale.txt`` is one plausible number, view ids are unique,
``covisibility.txt`` is N x N numbers in [0, 1]; one bad view or scene never stops the others;
index entries stay inside their root and a symbolic-link loop is skipped with a warning."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view, realsee_listed
from workbench.data.validate import MAX_POSE_TRANSLATION_M, MIN_PANORAMA, validate_dataset
from workbench.errors import WorkbenchError
from workbench.geometry.pose import read_pose, write_pose
from workbench.io import read_image, write_image
from workbench.paths import confine

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def _copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(SAMPLES / name, root)
    return root


def _problems(root) -> set[tuple[str, str, str]]:
    _, problems = validate_dataset(root, progress=False, plausibility=False)
    return {(p.view_id, p.file, p.problem) for p in problems}


def _realsee(tmp_path: Path) -> tuple[Path, Path]:
    root = _copy("realsee3d", tmp_path)
    return root, next(p for p in root.iterdir() if (p / "viewpoints").is_dir())


# ----------------------------------------------------------------- sizes


def test_a_tiny_panorama_beside_full_depth_is_named(tmp_path):
    root = _copy("rgbd-folder", tmp_path)
    rgb = sorted((root / "rgb").iterdir())[0]
    write_image(rgb, np.full((1, 2, 3), 128, np.uint8))  # a 2x1 "panorama" (still 2:1)
    view = rgb.stem
    got = _problems(root)
    assert (view, f"rgb/{rgb.name}", "panorama too small") in got
    assert (view, f"depth/{view}.png", "size mismatch") in got, got
    assert {v for v, _, _ in got} == {view}  # the other three views are clean
    rec = next(r for r in index_dataset(root) if r.view_id == view)
    with pytest.raises(WorkbenchError, match="size mismatch: depth 512x256 beside RGB 2x1"):
        load_view(rec, root)  # every verb (eda's statistics too) refuses it, not only validate


def test_depth_size_rules():
    from workbench.data.validate import _check_depth_size

    def check(depth_hw, rgb_hw):
        out = []
        rec = index_dataset(SAMPLES / "seed")[0]
        _check_depth_size(rec, depth_hw, rgb_hw, lambda f, p, d="": out.append(p))
        return out

    assert check((256, 512), (256, 512)) == []
    assert check((128, 256), (512, 1024)) == []  # a resize
    assert check((512, 1024), (128, 256)) == []  # 4x: the largest accepted
    assert check((1024, 2048), (128, 256)) == ["size mismatch"]  # 8x: another view's
    assert check((256, 512), (100, 250)) == ["size mismatch"]  # another aspect
    assert check((16, 32), (16, 32)) == ["depth too small"]
    assert check(MIN_PANORAMA, MIN_PANORAMA) == []
    assert check((256, 500), (256, 512)) == ["not 2:1", "size mismatch"]


# ----------------------------------------------------------------- poses


def test_poses_in_millimetres_and_non_rigid_poses_are_named(tmp_path):
    root = _copy("rgbd-folder", tmp_path)
    poses = sorted((root / "pose").iterdir())
    T = read_pose(poses[0])
    T[:3, 3] = [1500.0, -1200.0, 2500.0]  # millimetres
    write_pose(poses[0], T)
    sheared = read_pose(poses[1])
    sheared[0, 1] += 2e-3  # |RᵀR - I| ~ 2e-3: not a rotation
    np.savetxt(poses[1], sheared)
    _, problems = validate_dataset(root, progress=False, plausibility=False)
    by_view = {p.view_id: p for p in problems}
    mm = by_view[poses[0].stem]
    assert (mm.file, mm.problem) == (f"pose/{poses[0].name}", "implausible pose")
    assert "millimetres" in mm.detail and f"> {MAX_POSE_TRANSLATION_M:.0f} m" in mm.detail
    assert by_view[poses[1].stem].problem == "non-rigid pose"
    assert "orthonormal" in by_view[poses[1].stem].detail
    assert set(by_view) == {poses[0].stem, poses[1].stem}


# ----------------------------------------------------------------- RealSee3D files


@pytest.mark.parametrize(
    ("text", "words"),
    [("1e30\n", "[1, 65535]"), ("-4000\n", "[1, 65535]"), ("4000 4000\n", "one number"),
     ("nan\n", "[1, 65535]"), ("4000\nx\n", "one number")],
)  # fmt: skip
def test_depth_scale_txt_must_be_one_plausible_number(tmp_path, text, words):
    root, scene = _realsee(tmp_path)
    bad = sorted((scene / "viewpoints").iterdir())[1]
    (bad / "depth_scale.txt").write_text(text)
    _, problems = validate_dataset(root, progress=False, plausibility=False)
    named = [p for p in problems if p.problem == "bad depth scale"]
    assert [(p.view_id, p.file) for p in named] == [
        (bad.name, f"{scene.name}/viewpoints/{bad.name}/depth_scale.txt")
    ]
    assert words in named[0].detail
    rec = next(r for r in index_dataset(root) if r.view_id == bad.name)
    with pytest.raises(WorkbenchError, match="depth_scale.txt|PNG units"):
        load_view(rec, root)  # the reader refuses it too
    other = next(r for r in index_dataset(root) if r.view_id != bad.name)
    assert load_view(other, root).range_m.max() > 0


def test_a_viewpoint_listed_twice_is_a_duplicate_id(tmp_path):
    root, scene = _realsee(tmp_path)
    ids = (scene / "viewpoints.txt").read_text().split()
    (scene / "viewpoints.txt").write_text("\n".join([*ids, ids[0]]) + "\n")
    got = _problems(root)
    assert (ids[0], f"{scene.name}/viewpoints.txt", "duplicate view id") in got


@pytest.mark.parametrize(
    ("rows", "words"),
    [(["1 0.5 0.2", "0.5 1 0.3"], "3 x 3"),  # 2 rows for 3 viewpoints
     (["1 0.5", "0.5 1", "0.2 0.3"], "3 x 3"),  # not square
     (["1 1.5 0.2", "0.5 1 0.3", "0.2 0.3 1"], "outside [0, 1]"),
     (["1 -0.1 0.2", "0.5 1 0.3", "0.2 0.3 1"], "outside [0, 1]"),
     (["1 nan 0.2", "0.5 1 0.3", "0.2 0.3 1"], "outside [0, 1]"),
     (["1 x 0.2", "0.5 1 0.3", "0.2 0.3 1"], "numbers")],
)  # fmt: skip
def test_a_malformed_covisibility_txt_is_named(tmp_path, rows, words):
    root, scene = _realsee(tmp_path)
    (scene / "covisibility.txt").write_text("\n".join(rows) + "\n")
    _, problems = validate_dataset(root, progress=False, plausibility=False)
    named = [p for p in problems if p.problem == "bad covisibility.txt"]
    assert [(p.scene_id, p.file) for p in named] == [(scene.name, f"{scene.name}/covisibility.txt")]
    assert words in named[0].detail


def test_the_sample_covisibility_is_clean():
    assert _problems(SAMPLES / "realsee3d") == set()


def test_one_broken_view_per_kind_leaves_the_others_checked(tmp_path):
    """A bad depth scale, a bad floor, a 2x1 panorama and a pose in millimetres, each in one
    view of two scenes: every one is named and the untouched views are clean."""
    root, scene = _realsee(tmp_path)
    shutil.copytree(scene, root / "second")
    a, b, c = sorted((scene / "viewpoints").iterdir())
    (a / "depth_scale.txt").write_text("-1\n")
    (b / "floor.txt").write_text("1 2\n")
    write_image(c / "panoImage_1600.jpg", np.zeros((1, 2, 3), np.uint8))
    e = root / "second" / "viewpoints" / a.name / "extrinsics.txt"
    T = read_pose(e)
    T[:3, 3] *= 1000
    T[:3, 3] += 1000  # never at the origin
    write_pose(e, T)
    _, problems = validate_dataset(root, progress=False, plausibility=False)
    got = {(p.scene_id, p.view_id, p.problem) for p in problems}
    assert {
        (scene.name, a.name, "bad depth scale"),
        (scene.name, b.name, "bad floor.txt"),
        (scene.name, c.name, "panorama too small"),
        ("second", a.name, "implausible pose"),
    } <= got
    assert {(s, v) for s, v, _ in got} == {
        (scene.name, a.name), (scene.name, b.name), (scene.name, c.name), ("second", a.name)
    }  # fmt: skip


# ----------------------------------------------------------------- confinement


def test_confine_is_the_one_rule(tmp_path):
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    root = tmp_path / "root"
    os.symlink(tmp_path / "outside", root / "a" / "out")
    os.symlink("loop", root / "loop")
    assert confine(root, "a/../a") == (root / "a").resolve()
    for rel, why in (("../x", "climbs out"), ("/etc/passwd", "absolute"),
                     ("a/out/f.jpg", "symbolic link"), ("loop/f.jpg", "loop")):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            confine(root, rel)


def test_realsee_lists_are_confined_naming_the_line(tmp_path):
    root, scene = _realsee(tmp_path)
    shutil.copytree(scene, root / "second")  # a healthy scene beside it
    outside = tmp_path / "elsewhere"
    shutil.copytree(sorted((scene / "viewpoints").iterdir())[0], outside)
    os.symlink(outside, scene / "viewpoints" / "escape")
    ids = (scene / "viewpoints.txt").read_text().split()
    (scene / "viewpoints.txt").write_text("\n".join([*ids, "escape"]) + "\n")
    with pytest.raises(WorkbenchError, match="line 4: viewpoint 'escape' points outside"):
        realsee_listed(scene)
    records, problems = validate_dataset(root, progress=False, plausibility=False)
    assert {r.scene_id for r in records} == {"second"}  # the healthy scene is checked
    assert [(p.scene_id, p.problem) for p in problems] == [(scene.name, "unreadable scene")]
    assert "'escape' points outside the dataset root" in problems[0].detail  # refused, not read


def test_a_symlink_loop_is_skipped_with_a_warning(tmp_path, capsys):
    root = _copy("rgbd-folder", tmp_path)
    os.symlink("loop.jpg", root / "rgb" / "loop.jpg")
    os.symlink("b.png", root / "depth" / "a.png")
    os.symlink("a.png", root / "depth" / "b.png")
    records, problems = validate_dataset(root, progress=False, plausibility=False)
    assert len(records) == 4 and problems == []
    err = capsys.readouterr().err
    assert "symbolic-link loop, skipped" in err and "loop.jpg" in err and "a.png" in err
    rs, scene = _realsee(tmp_path)
    os.symlink("spin", scene / "viewpoints" / "spin")
    os.symlink("self", rs / "self")
    records, problems = validate_dataset(rs, progress=False, plausibility=False)
    assert len(records) == 3 and problems == []
    err = capsys.readouterr().err
    assert "spin: a symbolic-link loop" in err and "self: a symbolic-link loop" in err


def test_cli_names_the_millimetre_pose(tmp_path, capsys):
    root = _copy("rgbd-folder", tmp_path)
    pose = sorted((root / "pose").iterdir())[2]
    T = read_pose(pose)
    T[:3, 3] = [2000.0, 0.0, 0.0]
    write_pose(pose, T)
    assert main(["validate", str(root), "--report", str(tmp_path / "r.csv")]) == 1
    out = capsys.readouterr().out
    assert f"pose/{pose.name}: implausible pose: camera 2000 m" in out and "millimetres" in out


def test_a_16_bit_colour_panorama_is_read_and_a_16_bit_grey_one_is_named(tmp_path):
    root = _copy("rgbd-folder", tmp_path)
    rgb = sorted((root / "rgb").glob("*.png"))
    img = read_image(rgb[0])[..., ::-1].astype(np.uint16) * 257  # the same picture, 16-bit
    write_image(rgb[0], img)
    write_image(rgb[1], np.full(img.shape[:2], 1500, np.uint16))
    got = _problems(root)
    assert got == {(rgb[1].stem, f"rgb/{rgb[1].name}", "wrong dtype")}, got
    rec = next(r for r in index_dataset(root) if r.view_id == rgb[0].stem)
    assert load_view(rec, root).rgb.dtype == np.uint8  # read as every verb reads it
