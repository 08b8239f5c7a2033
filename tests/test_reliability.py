"""Crash safety (SIGKILL at random points), interrupted EDA caches, determinism and property
tests that span modules."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

SAMPLES = Path(__file__).parents[1] / "data_samples" / "seed"

WRITER = textwrap.dedent("""
    import sys, numpy as np
    from pathlib import Path
    from workbench.io import save_npy, write_text_atomic, write_image
    from workbench.geometry.pointcloud import PointCloud, write_ply
    out = Path(sys.argv[1]); i = 0
    while True:
        v = i % 2
        save_npy(out / "a.npy", np.full((400, 400), v, np.float32))
        write_text_atomic(out / "b.csv", ("x,y\\n" + f"{v},{v}\\n" * 20000))
        write_image(out / "c.png", np.full((300, 600), 1000 * (v + 1), np.uint16))
        write_ply(out / "d.ply", PointCloud(np.full((30000 + v, 3), v, np.float32)))
        (out / "round").write_text(str(i)); i += 1
""")


def test_sigkill_never_leaves_a_half_written_file(tmp_path):
    from workbench.geometry.pointcloud import read_ply
    from workbench.io import read_image

    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    for _ in range(6):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env)
        t0 = time.time()  # wait for the loop to run, then kill it at a random point
        while not (tmp_path / "a.npy").exists() and time.time() - t0 < 60:
            time.sleep(0.01)
        time.sleep(rng.random() * 0.6)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if (tmp_path / "a.npy").exists():
            a = np.load(tmp_path / "a.npy")
            assert a.shape == (400, 400) and np.unique(a).size == 1
        if (tmp_path / "b.csv").exists():
            lines = (tmp_path / "b.csv").read_text().splitlines()
            assert len(lines) == 20001 and len(set(lines[1:])) == 1
        if (tmp_path / "c.png").exists():
            c = read_image(tmp_path / "c.png")
            assert c.shape == (300, 600) and np.unique(c).size == 1
        if (tmp_path / "d.ply").exists():
            assert len(read_ply(tmp_path / "d.ply")) in (30000, 30001)
    assert (tmp_path / "a.npy").exists()  # the writer did run
    leftovers = [q.name for q in tmp_path.iterdir() if q.name.startswith(".")]
    assert all(".tmp" in n or n.count(".") >= 2 for n in leftovers)  # only hidden temp names


def test_eda_cache_survives_an_interrupted_run(tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(SAMPLES, root)
    out = tmp_path / "eda"
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "eda",
        str(root),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = out / "views_cache.parquet"
    t0 = time.time()
    while not cache.exists() and p.poll() is None and time.time() - t0 < 60:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    import pandas as pd

    partial = len(pd.read_parquet(cache)) if cache.exists() else 0
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    done = pd.read_parquet(cache)
    assert len(done) == 24 and partial <= 24
    s = json.loads((out / "summary.json").read_text())
    assert s["views"] == 24


def test_seeded_pipeline_and_split_are_byte_identical(tmp_path):
    from workbench.data.dataset import index_dataset
    from workbench.data.pipeline import Augment, make_dataset
    from workbench.data.splits import write_split

    recs = index_dataset(SAMPLES)
    for k in (1, 2):
        write_split(recs, tmp_path / f"s{k}", SAMPLES, val_fraction=0.3)
    for name in ("train.csv", "val.csv"):
        assert (tmp_path / "s1" / name).read_bytes() == (tmp_path / "s2" / name).read_bytes()
    aug = Augment(yaw_roll=True, flip=True, brightness=0.2, gamma=0.2)

    def first(start):
        ds = make_dataset(recs, SAMPLES, 16, 4, aug, shuffle=True, seed=5, repeat=True, start=start)
        return [b["rgb"].numpy() for b in ds.take(3)]

    a, b = first(0), first(0)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    # resuming the stream at sample 4 gives the second batch onwards, exactly
    np.testing.assert_array_equal(first(4)[0], a[1])


@settings(max_examples=20, deadline=None)
@given(k=st.integers(0, 63))
def test_normals_are_yaw_equivariant(k):
    from workbench.geometry.analytic import box_room
    from workbench.geometry.equirect import yaw_matrix
    from workbench.geometry.normals import range_to_normals

    r, _ = box_room(32, (-2, -1.5, -3), (2.5, 1.2, 2))
    n = range_to_normals(r)
    n_rolled = range_to_normals(np.roll(r, k, axis=1))
    # rolling by k columns = the camera turned by delta = -k 2pi/W: camera-frame vectors rotate
    R = yaw_matrix(-k * 2 * np.pi / 64)
    np.testing.assert_allclose(n_rolled, np.roll(n, k, axis=1) @ R, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(0.2, 5.0), seed=st.integers(0, 1000))
def test_metric_invariances(scale, seed):
    from workbench.model.metrics import depth_metrics

    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.5, 1.5, (2, 8, 16))
    pred = gt * rng.uniform(0.8, 1.2, gt.shape)
    m = depth_metrics(pred, gt, 0.01, 100.0)
    ms = depth_metrics(pred * scale, gt * scale, 0.01, 100.0)
    for k in ("abs_rel", "rmse_log", "delta1", "delta2"):
        assert abs(m[k] - ms[k]) < 1e-9
    # median alignment removes a global scale of the prediction alone
    ma = depth_metrics(pred, gt, 0.01, 100.0, median_align=True)
    mb = depth_metrics(pred * scale, gt, 0.01, 100.0, median_align=True)
    assert abs(ma["abs_rel"] - mb["abs_rel"]) < 1e-9


def test_sigkilled_synth_leaves_nothing_a_reader_takes_for_data(tmp_path):
    """Temporary names are hidden ``.tmp`` files: after a SIGKILL mid-write, ``validate`` and
    ``infer``'s image search see no phantom view, and a re-run of ``synth`` sweeps them (they
    name the killed process)."""
    from workbench.data.dataset import index_dataset
    from workbench.deploy.infer import collect_images
    from workbench.io import is_temporary, temporary_name

    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "synth",
        "--out",
        str(out),
        "--scenes",
        "3",
        "--views",
        "3",
        "--size",
        "256x128",
        "--low-size",
        "128x64",
        "--workers",
        "1",
    ]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not list(out.rglob("*.png")) and time.time() - t0 < 120:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # plant what a kill in the middle of a write leaves (the kill above may miss that moment):
    # temporaries named for the killed process
    scene = next(d for d in out.iterdir() if d.is_dir())
    leftover = temporary_name("009.jpg").replace(f"-{os.getpid()}-", f"-{p.pid}-")
    for sub in ("pan/low", "depth", "pan/high"):
        (scene / sub).mkdir(parents=True, exist_ok=True)
        (scene / sub / leftover).write_bytes(b"")
    records = index_dataset(out)
    assert all(not is_temporary(r.rgb_path) and "009" != r.view_id for r in records)
    assert all(not is_temporary(q) for q, _ in collect_images([out]))
    r = subprocess.run([*cmd[:3], "validate", str(out)], env=env, capture_output=True, text=True)
    assert "009" not in r.stdout + r.stderr
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    assert not [q for q in out.rglob("*") if q.name.endswith(".tmp")]
    assert len(index_dataset(out)) == 9
