"""``workbench covisibility`` records the options that shaped each scene's files: a re-run with
the same options skips, one with another ``--height`` (or other views) recomputes."""

import json
import shutil
from pathlib import Path

import numpy as np

from workbench.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def _run(root: Path, out: Path, height: int, capsys) -> dict:
    argv = ["covisibility", str(root), "--out", str(out), "--height", str(height)]
    assert main([*argv, "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out.split("covisibility: ", 1)[1].split(" -> ")[0])


def test_another_height_recomputes_every_scene(tmp_path, capsys):
    root = tmp_path / "ds"
    for s in sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[:2]:
        shutil.copytree(s, root / s.name)
    out = tmp_path / "out"
    first = _run(root, out, 16, capsys)
    assert (first["computed"], first["skipped"], first["height"]) == (2, 0, 16)
    scene = sorted(p for p in out.iterdir() if p.is_dir())[0]
    assert json.loads((scene / "options.json").read_text())["height"] == 16
    old = np.loadtxt(scene / "covisibility.txt")
    again = _run(root, out, 16, capsys)
    assert (again["computed"], again["skipped"]) == (0, 2)
    taller = _run(root, out, 32, capsys)
    assert (taller["computed"], taller["skipped"]) == (2, 0)
    assert json.loads((scene / "options.json").read_text())["height"] == 32
    fresh = tmp_path / "fresh"
    _run(root, fresh, 32, capsys)
    assert (scene / "covisibility.txt").read_bytes() == (
        fresh / scene.name / "covisibility.txt"
    ).read_bytes()  # the same as a run at 32 from scratch
    assert not np.array_equal(old, np.loadtxt(scene / "covisibility.txt"))


def test_a_scene_whose_views_changed_or_without_options_is_redone(tmp_path, capsys):
    root = tmp_path / "ds"
    scenes = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[:2]
    for s in scenes:
        shutil.copytree(s, root / s.name)
    out = tmp_path / "out"
    _run(root, out, 16, capsys)
    (out / scenes[0].name / "options.json").unlink()  # an older run's files: nothing recorded
    for sub in ("pan/low", "pan/high", "depth", "pose"):  # one view fewer in the second scene
        for f in (root / scenes[1].name / sub).glob("003.*"):
            f.unlink()
    res = _run(root, out, 16, capsys)
    assert (res["computed"], res["skipped"]) == (2, 0)
    ids = (out / scenes[1].name / "viewpoints.txt").read_text().split()
    assert ids == ["000", "001", "002"]
    assert np.loadtxt(out / scenes[1].name / "covisibility.txt").shape == (3, 3)
