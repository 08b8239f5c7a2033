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
    (out / "stale").mkdir()
    (out / "stale" / ".covisibility.txt.x1y2.tmp").write_text("half")  # a kill mid-write
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 0
    assert '"computed": 4, "skipped": 2' in capsys.readouterr().out
    assert _files(out) == full


def test_a_broken_scene_is_reported_and_skipped(tmp_path, capsys):
    root = tmp_path / "ds"
    scenes = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[:2]
    for s in scenes:
        shutil.copytree(s, root / s.name)
    png = root / scenes[1].name / "depth" / "002.png"
    png.write_bytes(png.read_bytes()[:200])
    out = tmp_path / "out"
    code = main(["covisibility", str(root), "--out", str(out), "--height", "32", "--no-progress"])
    assert code == 1
    assert (out / scenes[0].name / "covisibility.txt").is_file()
    assert not (out / scenes[1].name).exists()
    failed = (out / "failed.csv").read_text()
    assert scenes[1].name in failed and "002.png" in failed
