"""Reliability, round 3: a run deletes only what it wrote; one broken view does not stop a
folder-wide job; library calls from a notebook check their inputs instead of crashing.

Each test plants the fault: a user's files beside and under an output folder, temporaries of a
live and of a killed run, a negative ``depth_scale.txt`` and a two-word ``floor.txt`` in one
RealSee3D scene, empty / all-NaN / mismatched arrays.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.io import (
    atomic_path,
    is_stale_temporary,
    sweep_temporaries,
    temporary_name,
    temporary_owner,
)

ROOT = Path(__file__).parents[1]
SAMPLES = ROOT / "data_samples"


# --------------------------------------------------------------- temporaries of dead/live runs


@pytest.fixture
def pids():
    """``(dead, live)``: the id of a process that has ended and of one that runs (a sleeper
    ended after the test)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    time.sleep(0.05)
    yield done.pid, live.pid
    live.kill()
    live.wait()


def _named(pid: int, name: str = "a.jpg") -> str:
    """A temporary name of this project written by process ``pid`` on this host."""
    return temporary_name(name).replace(f"-{os.getpid()}-", f"-{pid}-")


def _plant(folder: Path, dead: int, live: int) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "user_tmp": folder / ".notes.tmp",  # a user's hidden file
        "old_style": folder / ".000.jpg.k3j2x9.tmp",  # not this project's naming: not ours
        "user_file": folder / "notes.txt",
        "live": folder / _named(live),  # another run, still writing
        "mine": folder / _named(os.getpid()),  # this process's own, still writing
        "stale": folder / _named(dead),  # a killed run's leftover
    }
    here = temporary_owner(temporary_name("x"))[0]
    there = "000000" if here != "000000" else "111111"  # a process of another host
    files["other_host"] = folder / f".b.jpg.workbench-{there}-{dead}-abcd.tmp"
    for p in files.values():
        p.write_text("x")
    stale_dir = folder / _named(dead, "export")
    stale_dir.mkdir()
    (stale_dir / "model.pb").write_text("half")
    files["stale_dir"] = stale_dir
    return files


def test_temporary_names_carry_the_writer():
    name = temporary_name("000.jpg")
    assert name.startswith(".000.jpg.workbench-") and name.endswith(".tmp")
    assert temporary_owner(name)[1] == os.getpid()
    assert temporary_owner(".000.jpg.k3j2x9.tmp") is None
    assert temporary_owner(".notes.tmp") is None
    with atomic_path(Path("/tmp") / f"wb-r3-{os.getpid()}.txt") as tmp:
        assert temporary_owner(tmp)[1] == os.getpid()
        tmp.write_text("x")
    Path(f"/tmp/wb-r3-{os.getpid()}.txt").unlink()


def test_the_sweep_removes_only_stale_temporaries_of_its_own_naming(tmp_path, pids):
    dead, live = pids
    files = _plant(tmp_path / "sub", dead, live)
    assert sweep_temporaries(tmp_path) == 2  # the stale file and the stale staging folder
    gone = {k for k, p in files.items() if not p.exists()}
    assert gone == {"stale", "stale_dir"}


def test_a_reused_process_id_does_not_keep_a_leftover(tmp_path, pids):
    """The owner's id now names a process that started after the file was last written."""
    _, live = pids
    p = tmp_path / _named(live)
    p.write_text("x")
    os.utime(p, (time.time() - 3600, time.time() - 3600))
    assert is_stale_temporary(p)


def test_synth_writes_beside_a_users_files_and_sweeps_only_stale_temporaries(tmp_path, pids):
    from workbench.data.synth import generate

    dead, live = pids
    out = tmp_path / "ds"
    files = _plant(out, dead, live)
    (out / "train").mkdir()
    (out / "train" / "mine.txt").write_text("keep")
    ids = generate(out, 1, 1, height=32, preset="easy", progress=False, workers=1)
    assert (out / ids[0] / "others" / "meta.json").is_file()
    assert (out / "train" / "mine.txt").read_text() == "keep"
    gone = {k for k, p in files.items() if not p.exists()}
    assert gone == {"stale", "stale_dir"}


def test_synth_of_another_layout_refuses_a_folder_holding_other_files(tmp_path, capsys):
    out = tmp_path / "ds"
    (out / "rgb").mkdir(parents=True)
    (out / "rgb" / "holiday.png").write_bytes(b"mine")
    args = ["synth", "--out", str(out), "--layout", "rgbd-folder", "--scenes", "1"]
    assert main([*args, "--views", "1", "--size", "64x32", "--low-size", "64x32"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not empty" in err and err.count("\n") == 1
    assert (out / "rgb" / "holiday.png").read_bytes() == b"mine"
    assert sorted(p.name for p in out.rglob("*")) == ["holiday.png", "rgb"]


def test_synth_of_another_layout_re_runs_into_its_own_output(tmp_path):
    out = tmp_path / "ds"
    args = ["synth", "--out", str(out), "--layout", "rgbd-folder", "--scenes", "1"]
    args += ["--views", "1", "--size", "64x32", "--low-size", "64x32", "--preset", "easy"]
    assert main(args) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert ".workbench-synth" not in files and "dataset.json" in files
    assert main(args) == 0  # recognised by its dataset.json
    (out / "dataset.json").unlink()  # as if killed before writing it: the marker is left
    (out / ".workbench-synth").write_text("rgbd-folder matterport3d\n")
    assert main(args) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == files


def test_a_killed_packs_shard_temporary_is_removed_by_the_next_pack(tmp_path, pids):
    from workbench.data.dataset import index_dataset
    from workbench.data.pack import pack

    dead, live = pids
    out = tmp_path / "packed"
    out.mkdir()
    stale = out / _named(dead, "shard-00000-of-00001.tfrecord")
    running = out / _named(live, "shard-00000-of-00001.tfrecord")
    user = out / ".shard-00000-of-00001.tfrecord.mine.tmp"
    for p in (stale, running, user):
        p.write_bytes(b"half a shard")
    records = index_dataset(SAMPLES / "seed")[:2]
    m = pack(records, SAMPLES / "seed", out, shard_mb=100, progress=False)
    assert m["views"] == 2
    assert not stale.exists() and running.exists() and user.exists()


# -------------------------------------------------------------------------------- demo


def test_demo_refuses_a_folder_of_a_users_files_and_deletes_nothing(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "train").mkdir(parents=True)
    (out / "train" / "notes.txt").write_text("keep")
    assert main(["demo", "--out", str(out), "--height", "16"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not empty" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "train",
        "train/notes.txt",
    ]


def _earlier_demo(out: Path, record: dict | None) -> None:
    from workbench.demo import DEMO_MARKER, TRAIN_RECORD

    train = out / "train"
    (train / "checkpoints").mkdir(parents=True)
    (out / DEMO_MARKER).write_text("")
    for rel in ("config.json", "history.csv", "checkpoints/checkpoint", "checkpoints/ckpt-1"):
        (train / rel).write_text("demo")
    (train / "notes.txt").write_text("user")  # a user's files inside the demo's train folder
    (train / "checkpoints" / "README").write_text("user")
    if record is not None:
        (train / TRAIN_RECORD).write_text(json.dumps(record))


@pytest.mark.parametrize(
    "record",
    [
        {"created": ["config.json", "history.csv", "checkpoints/checkpoint", "checkpoints/ckpt-1"]},
        {"before": ["notes.txt", "checkpoints/README"]},  # an earlier demo killed mid-training
    ],
    ids=["finished", "killed"],
)
def test_the_demos_train_step_removes_only_what_an_earlier_demo_wrote(tmp_path, record):
    from workbench.demo import _train_folder, claim_out

    out = tmp_path / "demo"
    _earlier_demo(out, record)
    claim_out(out)
    folder = _train_folder(out)
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert left == [".workbench-demo-files.json", "checkpoints/README", "notes.txt"]


def test_an_unrecorded_training_run_is_moved_aside_not_deleted(tmp_path):
    from workbench.demo import _train_folder

    out = tmp_path / "demo"
    _earlier_demo(out, None)
    before = sorted(p.relative_to(out / "train").as_posix() for p in (out / "train").rglob("*"))
    folder = _train_folder(out)
    assert folder.is_dir() and not any(folder.iterdir())
    aside = out / "train-earlier"
    assert sorted(p.relative_to(aside).as_posix() for p in aside.rglob("*")) == before


# ------------------------------------------------------------------ eda past broken views


def _realsee_two_scenes(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "realsee"
    shutil.copytree(SAMPLES / "realsee3d-synthetic", root)
    scene = next(p for p in root.iterdir() if p.is_dir() and p.name != "metadata")
    twin = root / ("0" * 8 + scene.name[8:])
    shutil.copytree(scene, twin)
    (scene / "viewpoints" / "001" / "depth_scale.txt").write_text("-1000\n")
    (twin / "viewpoints" / "000" / "floor.txt").write_text("1 2\n")
    return root, [scene.name, twin.name]


def test_eda_lists_a_negative_depth_scale_and_a_two_word_floor_and_goes_on(tmp_path, capsys):
    root, (scene, twin) = _realsee_two_scenes(tmp_path)
    out = tmp_path / "eda"
    assert main(["eda", str(root), "--out", str(out)]) == 1  # 1: some views were left out
    printed = capsys.readouterr().out
    summary = json.loads(printed.splitlines()[0])
    assert summary["failed_views"] == 2 and summary["views"] == 4 and summary["scenes"] == 2
    for bad in (f"{scene}/viewpoints/001/depth_scale.txt", f"{twin}/viewpoints/000/floor.txt"):
        assert f"failed: {root}/{bad}" in printed
        assert bad in (out / "report.html").read_text()
    failed = (out / "failed.csv").read_text()
    assert f"{scene},001," in failed and f"{twin},000," in failed
    assert json.loads((out / "summary.json").read_text())["failed_views"] == 2


def test_pointcloud_fuses_the_readable_views_and_names_the_broken_one(tmp_path, capsys):
    root, (scene, _) = _realsee_two_scenes(tmp_path)
    ply = tmp_path / "scene.ply"
    assert main(["pointcloud", str(root), "--scene", scene, "--out", str(ply)]) == 1
    out, err = capsys.readouterr()
    assert f"view left out: {root}/{scene}/viewpoints/001/depth_scale.txt" in err
    assert f"scene {scene}, 2 views" in out and ply.stat().st_size > 1000


# --------------------------------------------------------- library calls from a notebook


def test_colorize_depth_of_an_empty_array_raises_and_the_process_lives():
    code = (
        "import numpy as np\n"
        "from workbench.errors import WorkbenchError\n"
        "from workbench.viz.colorize import colorize_depth, colorize_error, colorize_segment\n"
        "for f, a in ((colorize_depth, np.zeros((0, 0))), (colorize_depth, np.zeros((4, 0))),\n"
        "             (colorize_error, np.zeros((0, 8))), (colorize_segment, np.zeros((0, 0)))):\n"
        "    try:\n"
        "        f(a)\n"
        "    except WorkbenchError as e:\n"
        "        print('refused:', e)\n"
        "print('alive')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-800:]
    lines = r.stdout.splitlines()
    assert lines[-1] == "alive" and len(lines) == 5
    assert "range_m must be (H, W) with at least one pixel, got (0, 0)" in lines[0]
    assert "error must be" in lines[2] and "segment must be" in lines[3]


def test_colorize_all_nan_is_a_black_image_and_wrong_shapes_name_the_argument():
    from workbench.viz.colorize import colorize_depth, colorize_error, colorize_normals

    assert not colorize_depth(np.full((4, 8), np.nan)).any()
    assert not colorize_error(np.full((4, 8), np.nan)).any()
    with pytest.raises(WorkbenchError, match=r"range_m must be \(H, W\), got \(4, 8, 3\)"):
        colorize_depth(np.zeros((4, 8, 3)))
    with pytest.raises(WorkbenchError, match=r"normals must be \(H, W, 3\)"):
        colorize_normals(np.zeros((0, 0, 3)))


@pytest.mark.parametrize("fill", [np.nan, 0.0], ids=["all_nan", "all_zero"])
@pytest.mark.parametrize("color", ["rgb", "range", "normal"])
def test_pointcloud_figure_of_a_depth_without_valid_pixels_names_pc(fill, color):
    from workbench.geometry.pointcloud import rgbd_to_pointcloud
    from workbench.viz.plots3d import pointcloud_figure

    pc = rgbd_to_pointcloud(np.zeros((8, 16, 3), np.uint8), np.full((8, 16), fill, np.float32))
    with pytest.raises(WorkbenchError, match="pc has no finite point"):
        pointcloud_figure(pc, color=color)


def test_pointcloud_figure_drops_non_finite_points_and_checks_cameras():
    from workbench.geometry.pointcloud import PointCloud
    from workbench.viz.plots3d import pointcloud_figure

    p = np.float32([[1, 0, 0], [np.nan, 0, 0], [0, 1, 2]])
    fig = pointcloud_figure(PointCloud(p, np.zeros((3, 3), np.uint8)), color="range")
    assert len(fig.data[0].x) == 2
    with pytest.raises(WorkbenchError, match=r"cameras\[0\] must be a \(4, 4\) pose, got \(3, 3\)"):
        pointcloud_figure(PointCloud(p), cameras=[np.eye(3)])


def test_cloud_layers_with_a_mismatched_error_map_names_both_shapes():
    from workbench.viz.viewer3d import cloud_layers

    view = (np.zeros((8, 16, 3), np.uint8), np.ones((8, 16), np.float32), np.eye(4), None)
    with pytest.raises(WorkbenchError, match=r"views\[0\]: error .* \(8, 16\), got \(4, 8\)"):
        cloud_layers([(*view, np.zeros((4, 8), np.float32))])
    assert len(cloud_layers([(*view, np.zeros((8, 16), np.float32))])) == 128


def test_two_view_images_check_their_inputs():
    from workbench.viz.twoview import draw_matches, flow_to_rgb

    img = np.zeros((4, 8, 3), np.uint8)
    assert draw_matches(img, img, np.zeros((0, 4))).shape == (8, 8, 3)
    with pytest.raises(WorkbenchError, match="rgb_a must be"):
        draw_matches(img[:0], img[:0], np.zeros((0, 4)))
    with pytest.raises(WorkbenchError, match=r"valid must be \(4, 8\) like flow, got \(2, 8\)"):
        flow_to_rgb(np.zeros((4, 8, 2)), np.ones((2, 8), bool))
    with pytest.raises(WorkbenchError, match="flow must be"):
        flow_to_rgb(np.zeros((0, 0, 2)), np.ones((0, 0), bool))


@pytest.mark.parametrize(("sample", "held"), [("realsee3d", "1 scene with depth"),
                                               ("pose-only", "no view with depth")])  # fmt: skip
def test_demo_on_a_dataset_it_cannot_split_says_so_before_any_folder(tmp_path, capsys, sample,
                                                                       held):  # fmt: skip
    """It blamed --val-fraction, a flag demo does not have, and left health.csv behind."""
    out = tmp_path / "demo"
    assert main(["demo", "--data", str(SAMPLES / sample), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--data: {SAMPLES / sample} holds {held}" in err and "val-fraction" not in err
    assert not out.exists()
