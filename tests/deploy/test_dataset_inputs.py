"""``infer`` on dataset roots (exactly their panoramas, keyed by scene/view; with ``--ply`` one
fused cloud of predicted depth per scene, placed by the known poses), ``export --report``'s
count of the views it scored, and ``pointcloud`` on views without a pose or without depth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from tests.helpers import write_sample_lists
from workbench.cli import main

ROOT = Path(__file__).parents[2]
MODEL = ROOT / "models" / "default" / "model_int8.tflite"


def _synth(out: Path, layout: str, scenes: int = 1, views: int = 2, **kw) -> Path:
    argv = ["synth", "--out", str(out), "--layout", layout, "--scenes", str(scenes)]
    argv += ["--views", str(views), "--size", kw.get("size", "64x32"), "--preset", "easy"]
    argv += ["--low-size", kw.get("low", "64x32"), "--workers", "1"]
    argv += ["--encoding", kw["encoding"]] if "encoding" in kw else []
    assert main(argv) == 0
    return out


def _infer(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["infer", *map(str, argv), "--model", str(MODEL), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def _outputs(out: Path) -> set[str]:
    """Output keys (``<scene>/<view>``) of the ``_depth.npy`` files under ``out``."""
    return {p.relative_to(out).as_posix()[: -len("_depth.npy")] for p in out.rglob("*_depth.npy")}


def _pose_only(tmp: Path, views: int = 2) -> Path:
    """An rgbd-folder dataset of panoramas and poses: synthesised, then its depth/ deleted."""
    root = _synth(tmp / "tour", "rgbd-folder", views=views, encoding="matterport3d")
    shutil.rmtree(root / "depth")
    return root


# ------------------------------------------------------------------------- 1. dataset roots


def test_infer_on_a_collection_reads_exactly_each_datasets_panoramas(tmp_path, capsys):
    from workbench.data.dataset import open_dataset

    coll = tmp_path / "coll"
    seed = _synth(coll / "seed", "seed", scenes=2, views=2, size="128x64", low="64x32")
    rs = _synth(coll / "rs", "realsee3d", views=2, encoding="real")
    assert list(rs.rglob("pano_mask.png")) and list(rs.rglob("segment.png"))  # not inputs
    expect = {f"{name}/{r.scene_id}/{r.view_id}" for name in ("seed", "rs")
              for r in open_dataset(coll / name).records}  # fmt: skip
    assert len(expect) == 6  # two seed scenes share the view ids 000 and 001
    code, out, err = _infer(capsys, coll, "--out", tmp_path / "o")
    assert code == 0, out + err
    assert _outputs(tmp_path / "o") == expect
    info = json.loads((tmp_path / "o" / "infer.json").read_text())
    assert not info["failed"] and len(info["images"]) == 6
    assert {Path(r["image"]).name for r in info["images"] if r["output"].startswith("rs/")} == {
        "panoImage_1600.jpg"
    }
    assert "seed, 4 panoramas in 2 scene(s)" in out and "realsee3d, 2 panoramas" in out
    # a seed dataset's training size (pan/low) by default, pan/high when asked
    key = sorted(k for k in expect if k.startswith("seed/"))[0]
    assert np.load(tmp_path / "o" / f"{key}_depth.npy").shape == (32, 64)
    code, out, err = _infer(capsys, seed, "--out", tmp_path / "hi", "--resolution", "high")
    assert code == 0 and np.load(tmp_path / "hi" / f"{key[5:]}_depth.npy").shape == (64, 128)
    # a re-run skips them all; a plain folder of images is still keyed by file name
    assert (
        "0 images (6 finished before, skipped)" in _infer(capsys, coll, "--out", tmp_path / "o")[1]
    )
    code, out, err = _infer(
        capsys, seed / key.split("/")[1] / "pan" / "low", "--out", tmp_path / "p"
    )
    assert code == 0 and _outputs(tmp_path / "p") == {"000", "001"}


def test_infer_on_a_realsee3d_root_reports_a_bad_panorama_not_its_masks(tmp_path, capsys):
    rs = _synth(tmp_path / "rs", "realsee3d", views=3, encoding="real")
    bad = sorted(rs.rglob("panoImage_1600.jpg"))[1]
    bad.write_bytes(bad.read_bytes()[:200])  # a truncated panorama
    code, out, err = _infer(capsys, rs, "--out", tmp_path / "o")
    assert code == 1, out + err
    assert "2 images" in out and "1 failed" in out and str(bad) in out
    failed = json.loads((tmp_path / "o" / "infer.json").read_text())["failed"]
    assert [f["image"] for f in failed] == [str(bad)]  # not depth_image.png, masks, segments
    assert len(_outputs(tmp_path / "o")) == 2


# ---------------------------------------------------- 2. fused clouds of predicted depth


def _yaw(deg: float) -> np.ndarray:
    """A rotation about the camera's y axis (down) by ``deg`` degrees, ``(3, 3)``."""
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _write_pose(path: Path, R: np.ndarray, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    path.write_text("\n".join(" ".join(f"{x:.17g}" for x in row) for row in T) + "\n")
    return T


def test_infer_ply_on_a_pose_only_dataset_fuses_predicted_depth_where_the_poses_put_it(
    tmp_path, capsys
):
    from workbench.geometry.equirect import range_to_points, valid_mask
    from workbench.geometry.pointcloud import read_ply

    root = _pose_only(tmp_path, views=3)
    rgbs = sorted((root / "rgb").iterdir())
    a, b, c = (p.stem for p in rgbs)
    shutil.copy(rgbs[0], rgbs[1])  # the same panorama: the same predicted depth
    _write_pose(root / "pose" / f"{a}.txt", np.eye(3), [0, 0, 0])
    T_b = _write_pose(root / "pose" / f"{b}.txt", _yaw(90), [5.0, 0.5, -3.0])
    (root / "pose" / f"{c}.txt").unlink()  # a view without a pose: inferred, not fused
    o = tmp_path / "o"
    code, out, err = _infer(capsys, root, "--out", o, "--ply", "--voxel", "0")
    assert code == 0, out + err
    assert "pose-only (no depth)" in out and "fused cloud" in out and "fused_predicted.ply" in out
    assert f"{c} (no pose)" in out
    scene = root.name
    assert _outputs(o) == {f"{scene}/{v}" for v in (a, b, c)}
    fused = read_ply(o / scene / "fused_predicted.ply").points
    depth = np.load(o / scene / f"{a}_depth.npy")
    cam = range_to_points(depth)[valid_mask(depth)]
    assert len(fused) == 2 * len(cam) > 1000
    np.testing.assert_allclose(fused[: len(cam)], cam, atol=1e-4)  # at the identity
    moved = cam @ T_b[:3, :3].T + T_b[:3, 3]  # T_world_from_cam, not its inverse
    np.testing.assert_allclose(fused[len(cam) :], moved, atol=1e-3)
    (entry,) = json.loads((o / "infer.json").read_text())["fused"]
    assert entry["views"] == [a, b] and entry["left_out"] == [{"view": c, "why": "no pose"}]
    # a re-run keeps the cloud; another voxel size rebuilds it without re-inferring a view
    stamp = (o / scene / "fused_predicted.ply").stat().st_mtime_ns
    code, out, _ = _infer(capsys, root, "--out", o, "--ply", "--voxel", "0")
    assert "0 images (3 finished before" in out
    assert (o / scene / "fused_predicted.ply").stat().st_mtime_ns == stamp
    code, out, _ = _infer(capsys, root, "--out", o, "--ply", "--voxel", "0.1")
    assert code == 0 and "0 images (3 finished before" in out
    assert 100 < len(read_ply(o / scene / "fused_predicted.ply")) < len(fused)


def test_infer_ply_fuses_the_synthesised_views_around_their_cameras(tmp_path, capsys):
    from workbench.geometry.pointcloud import read_ply
    from workbench.geometry.pose import read_pose

    root = _pose_only(tmp_path, views=3)
    code, out, err = _infer(capsys, root, "--out", tmp_path / "o", "--ply")
    assert code == 0, out + err
    pts = read_ply(tmp_path / "o" / root.name / "fused_predicted.ply").points
    centres = np.array([read_pose(p)[:3, 3] for p in sorted((root / "pose").iterdir())])
    lo, hi = pts.min(0), pts.max(0)
    assert np.all(centres > lo) and np.all(centres < hi)  # each camera inside its room's cloud
    # depth predicted again without --ply: the clouds stay, said not to match it any more
    code, out, err = _infer(capsys, root, "--out", tmp_path / "o", "--upsample", "bilinear")
    assert code == 0 and "3 point cloud(s) of an earlier --ply run stay" in err, out + err
    # a folder of the user's holding a fused_predicted.ply of their own: refused, kept
    fused = next((tmp_path / "o").rglob("fused_predicted.ply")).relative_to(tmp_path / "o")
    mine = tmp_path / "mine" / fused
    mine.parent.mkdir(parents=True)
    mine.write_text("MY LIDAR SCAN")
    code, out, err = _infer(capsys, root, "--out", tmp_path / "mine", "--ply")
    assert code == 2 and f"is not empty ({fused.parts[0]})" in err
    assert mine.read_text() == "MY LIDAR SCAN"
    # a pose in millimetres: left out of the fused cloud and named (it was fused 1.5 km away)
    pose = sorted((root / "pose").iterdir())[1]
    T = np.loadtxt(pose)
    T[:3, 3] *= 1000
    np.savetxt(pose, T)
    code, out, err = _infer(capsys, root, "--out", tmp_path / "o2", "--ply")
    assert code == 1 and f"{pose}: camera" in out and "millimetres?" in out, out + err
    # the dataset's own rgb/ folder as --out: its outputs would be read as views
    code, out, err = _infer(capsys, root / "rgb", "--out", root / "rgb")
    assert code == 2 and f"is inside the dataset scene {root}" in err, out + err


# --------------------------------------------------------------------- 3. export --report


def test_export_report_counts_the_views_it_scored(tmp_path, capsys):
    lists = write_sample_lists(tmp_path / "lists")
    rows = (lists / "val.csv").read_text().splitlines()
    assert len(rows) >= 5
    (lists / "val.csv").write_text("\n".join(rows[:5]) + "\n")  # a 4-view CSV
    argv = ["export", "--format", "tflite", "--quantize", "none", "--height", "32"]
    argv += ["--csv", str(lists / "val.csv"), "--report", "--runs", "1", "--out"]
    assert main([*argv, str(tmp_path / "e")]) == 0  # --views stays 16
    err = capsys.readouterr().err  # the report loads its staged files: said once, by export
    assert err.count("the model was trained at 128 rows") == 1 and ".tmp" not in err
    rep = json.loads((tmp_path / "e" / "report.json").read_text())
    assert rep["meta"]["views"] == 4 and rep["meta"]["views_requested"] == 16
    assert {r["views"] for r in rep["rows"] if "abs_rel" in r and "views" in r} == {4}
    md = (tmp_path / "e" / "report.md").read_text()
    assert "accuracy on 4 views" in md and "16 views" not in md


# ------------------------------------------------------------------------- 4. pointcloud


def _cloud(capsys, root: Path, out: Path, *extra) -> tuple[int, str, np.ndarray | None]:
    from workbench.geometry.pointcloud import read_ply

    capsys.readouterr()
    code = main(["pointcloud", str(root), "--voxel", "0", "--out", str(out), *extra])
    err = capsys.readouterr().err
    return code, err, read_ply(out).points if code == 0 else None


def test_pointcloud_leaves_out_views_without_a_pose_and_says_so(tmp_path, capsys):
    from workbench.data.dataset import open_dataset

    root = _synth(tmp_path / "ds", "rgbd-folder", views=3, encoding="matterport3d")
    ids = [r.view_id for r in open_dataset(root).records]
    (root / "pose" / f"{ids[2]}.txt").unlink()
    code, err, pts = _cloud(capsys, root, tmp_path / "all.ply")
    assert code == 0 and err.count("\n") == 1 and "warning" in err, err
    assert ids[2] in err and "no pose" in err and ids[0] not in err
    code, err2, posed = _cloud(capsys, root, tmp_path / "two.ply", "--views", *ids[:2])
    assert code == 0 and not err2 and len(pts) == len(posed)  # the same two views
    # one view without a pose: its camera frame, without a word
    code, err, alone = _cloud(capsys, root, tmp_path / "one.ply", "--views", ids[2])
    view = open_dataset(root).load(2)
    assert code == 0 and not err
    np.testing.assert_allclose(
        np.sort(np.linalg.norm(alone, axis=1)), np.sort(view.range_m[view.range_m > 0]), atol=1e-4
    )
    # several views, none with a pose: the first alone, and the warning says so
    shutil.rmtree(root / "pose")
    code, err, first = _cloud(capsys, root, tmp_path / "none.ply")
    assert code == 0 and err.count("\n") == 1 and "no view has a pose" in err and ids[0] in err
    assert len(first) == int((open_dataset(root).load(0).range_m > 0).sum())


def test_pointcloud_on_a_pose_only_dataset_points_to_infer(tmp_path, capsys):
    root = _pose_only(tmp_path)
    code, err, _ = _cloud(capsys, root, tmp_path / "p.ply")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "no depth" in err and f"workbench infer {root} --out predicted --ply" in err
    assert not (tmp_path / "p.ply").exists()


def test_covisibility_and_match_refuse_a_pose_only_dataset_before_any_work(tmp_path, capsys):
    from workbench.cli import main
    from workbench.data.dataset import open_dataset

    root = _pose_only(tmp_path)
    ds = open_dataset(root)
    a, b = ds.records[0].view_id, ds.records[1].view_id
    runs = {
        "covisibility": ["covisibility", str(root), "--out", str(tmp_path / "cov")],
        "correspondence": [
            "match",
            str(root),
            "--a",
            a,
            "--b",
            b,
            "--out",
            str(tmp_path / "m"),
        ],  # fmt: skip
    }
    for needs, argv in runs.items():
        capsys.readouterr()
        assert main(argv) == 2  # was exit 0 with an overlap of 0 everywhere
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{needs} needs measured depth" in err, err
    assert not (tmp_path / "cov").exists() and not (tmp_path / "m").exists()
    # pack: a line per view, then the error, and a manifest with an empty shard left behind
    assert main(["pack", str(root), "--out", str(tmp_path / "pk")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset has no depth" in err and str(root) in err, err
    assert not (tmp_path / "pk").exists()


def test_infer_never_reads_an_earlier_runs_outputs_inside_the_folder(tmp_path):
    """``infer imgs --out imgs/pred`` then ``infer imgs --out imgs/pred2``: the second run
    took pred's depth, colour and normal PNGs for panoramas (6 images, 6 failed). Outputs of
    a folder holding ``infer.json`` are skipped; a user's own ``*_depth.png`` elsewhere is not."""
    from workbench.deploy.inputs import collect_images

    imgs = tmp_path / "imgs"
    (imgs / "pred" / "scene").mkdir(parents=True)
    pano = np.zeros((8, 16, 3), np.uint8)
    from workbench.io import write_image

    write_image(imgs / "a.jpg", pano)
    (imgs / "pred" / "infer.json").write_text("{}")
    for name in ("a_depth.png", "a_depth_color.png", "a_normals.png", "scene/v_depth.png"):
        write_image(imgs / "pred" / name, pano)
    write_image(imgs / "mine" / "b_depth.png", pano)  # not an infer run's folder
    got = sorted(str(k) for _, k in collect_images([imgs], out=imgs / "pred2"))
    assert got == ["a", "mine/b_depth"]


def test_pointcloud_names_the_views_of_other_floors_it_leaves_out(tmp_path, capsys):
    """Without --views a cloud keeps the scene's first floor; a view on another floor (or with
    a floor.txt unlike the others) was dropped without a word."""
    root = tmp_path / "rs"
    shutil.copytree(Path(__file__).resolve().parents[2] / "data_samples" / "realsee3d", root)
    floors = sorted(root.rglob("floor.txt"))
    assert len(floors) >= 3
    floors[-1].write_text("7\n")
    code, err, _ = _cloud(capsys, root, tmp_path / "a.ply")
    view = floors[-1].parent.name
    assert code == 0 and "another floor" in err and view in err and "--views" in err, err


def test_pointcloud_mesh_without_a_mesh_is_refused_before_writing(tmp_path, capsys):
    """--mesh on a folder without obj/ wrote the .ply, said so, then failed naming a path that
    does not exist."""
    from workbench.cli import main

    rgbd = Path(__file__).resolve().parents[2] / "data_samples" / "rgbd-folder"
    ply, html = tmp_path / "c.ply", tmp_path / "c.html"
    argv = ["pointcloud", str(rgbd), "--out", str(ply), "--html", str(html), "--mesh"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "--mesh" in captured.err and "obj/" in captured.err and not captured.out
    assert not ply.exists() and not html.exists()
    assert main(["pointcloud", str(rgbd), "--out", str(ply), "--mesh"]) == 2  # was ignored
    assert "--mesh" in capsys.readouterr().err and not ply.exists()
