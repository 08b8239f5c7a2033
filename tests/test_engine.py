"""The engine (:mod:`workbench.engine`): every dataset-wide job gives the same result in this
process, on local threads and on a real Dask cluster reached through ``--scheduler``; a broken
item is returned, not raised."""

import shutil
from dataclasses import astuple
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli import main
from workbench.data.dataset import index_dataset
from workbench.data.synth import generate
from workbench.data.validate import validate_dataset
from workbench.eda.views import view_table
from workbench.engine import engine_name, iter_tasks, local_cluster, run_tasks

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("three is broken")
    return x * x


@pytest.fixture(scope="module")
def scheduler():
    """A real two-process Dask cluster for the module's tests; its address."""
    cluster = local_cluster(2)
    yield cluster.scheduler_address
    cluster.close()


def test_run_tasks_returns_errors_in_item_order_on_every_engine(scheduler):
    items = list(range(6))
    for kw in ({}, {"workers": 2, "local": "threads"}, {"scheduler": scheduler}):
        out = run_tasks(_square, items, progress=False, **kw)
        assert [i for i, _ in out] == items
        assert [r for i, r in out if i != 3] == [0, 1, 4, 16, 25]
        assert isinstance(out[3][1], ValueError) and "three" in str(out[3][1])
    got = dict(iter_tasks(_square, items, workers=2, local="threads", progress=False))
    assert set(got) == set(items) and got[5] == 25
    assert engine_name(1) == "in process" and engine_name(2, local="threads") == "threads"
    assert engine_name(4).startswith("dask") and scheduler in engine_name(1, scheduler)
    with pytest.raises(ValueError, match="local"):
        run_tasks(_square, items, workers=2, local="gpu", progress=False)


def test_view_table_is_the_same_in_process_on_threads_and_on_the_cluster(scheduler, tmp_path):
    root = SAMPLES / "seed"
    records = index_dataset(root)
    plain = view_table(records, root, workers=1)
    threads = view_table(records, root, workers=2)
    errors: list = []
    cached = tmp_path / "cache.parquet"
    cluster = view_table(records, root, cache=cached, scheduler=scheduler, errors=errors)
    for other in (threads, cluster):
        pd.testing.assert_frame_equal(plain.drop(columns="key"), other.drop(columns="key"))
    assert not errors and len(pd.read_parquet(cached)) == len(records)


def test_validate_is_the_same_on_the_cluster_and_reports_a_broken_view(scheduler, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(SAMPLES / "seed", root)
    png = next(root.glob("*/depth/001.png"))
    png.write_bytes(png.read_bytes()[:100])
    runs = []
    for kw in ({"workers": 1}, {"scheduler": scheduler}):
        density: dict = {}
        records, problems = validate_dataset(root, progress=False, density=density, **kw)
        runs.append((sorted(astuple(p) for p in problems), density))
    assert runs[0] == runs[1]
    assert any(p[3].startswith("unreadable") and "001.png" in p[2] for p in runs[0][0])


def test_synth_writes_the_same_files_on_threads_and_on_the_cluster(scheduler, tmp_path):
    generate(tmp_path / "a", 3, 2, seed=5, height=32, progress=False, workers=1)
    generate(tmp_path / "b", 3, 2, seed=5, height=32, progress=False, scheduler=scheduler)
    generate(tmp_path / "c", 3, 2, seed=5, height=32, progress=False, workers=2)

    def files(d):
        return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}

    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert len(a) > 8 and a == b == c


def test_consistency_is_the_same_on_the_cluster(scheduler, tmp_path):
    scene = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[0]
    shutil.copytree(scene, tmp_path / "ds" / scene.name)
    args = ["consistency", str(tmp_path / "ds"), "--height", "64", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--scheduler", scheduler]) == 0
    for name in ("pairs.csv", "views.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_bad_scheduler_address_is_one_line_before_any_work(tmp_path, capsys):
    for verb in ("eda", "validate", "synth", "covisibility", "consistency", "pack", "infer",
                 "eval"):  # fmt: skip
        args = [verb, str(SAMPLES / "seed"), "--scheduler", "localhost:8786"]
        if verb in ("synth",):
            args = [verb, "--out", str(tmp_path / "s"), "--scheduler", "localhost:8786"]
        assert main(args) == 2, verb
        err = capsys.readouterr().err
        assert "--scheduler" in err and "tcp://host:8786" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "tcp://127.0.0.1:99999"])
def test_an_unreachable_scheduler_is_one_line_naming_the_flag(tmp_path, capsys, address):
    code = main(["validate", str(SAMPLES / "seed"), "--scheduler", address])
    err = capsys.readouterr().err
    assert code == 2 and "--scheduler" in err and address in err, err
    assert "Traceback" not in err and "0/" not in err  # refused before any progress is shown


@pytest.mark.parametrize("verb", ["eda", "consistency", "covisibility", "pack"])
def test_a_refused_dataset_job_leaves_no_output_folder(tmp_path, capsys, verb):
    """An unreachable scheduler or a missing root: one line, and no empty ``--out`` left."""
    out = tmp_path / "out"
    args = [verb, str(SAMPLES / "seed"), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]
    assert main(args) == 2 and "--scheduler" in capsys.readouterr().err
    assert main([verb, str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "nowhere: dataset root is not a folder" in capsys.readouterr().err
    assert not out.exists()


def test_infer_on_the_cluster_writes_what_this_process_writes(scheduler, tmp_path):
    import numpy as np

    images = sorted((SAMPLES / "seed").glob("*/pan/high/*.jpg"))[:3]
    model = Path(__file__).resolve().parents[1] / "models" / "default" / "model_int8.tflite"
    base = ["infer", *map(str, images), "--model", str(model), "--batch", "2", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "here")]) == 0
    assert main([*base, "--out", str(tmp_path / "cluster"), "--scheduler", scheduler]) == 0
    here = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*.npy"))
    there = sorted(
        p.relative_to(tmp_path / "cluster") for p in (tmp_path / "cluster").rglob("*.npy")
    )
    assert len(here) == 3 and here == there
    for rel in here:
        a, b = np.load(tmp_path / "here" / rel), np.load(tmp_path / "cluster" / rel)
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_eval_on_the_cluster_gives_the_metrics_of_this_process(scheduler, tmp_path):
    import json

    lists = tmp_path / "lists"
    assert main(["split", str(SAMPLES / "seed"), "--out", str(lists), "--val-fraction", "0.5"]) == 0
    model = Path(__file__).resolve().parents[1] / "models" / "default" / "model_int8.tflite"
    base = ["eval", str(lists / "val.csv"), "--model", str(model), "--batch", "1", "--worst", "1"]
    assert main([*base, "--out", str(tmp_path / "here")]) == 0
    assert main([*base, "--out", str(tmp_path / "cluster"), "--scheduler", scheduler]) == 0
    here = json.loads((tmp_path / "here" / "metrics.json").read_text())
    there = json.loads((tmp_path / "cluster" / "metrics.json").read_text())
    assert here["n_views"] > 0 and here == there
    a = (tmp_path / "here" / "per_view.csv").read_text()
    assert a == (tmp_path / "cluster" / "per_view.csv").read_text()
    assert len(list((tmp_path / "cluster" / "dumps").iterdir())) > 0
