"""`workbench notebook NN --data ROOT --out DIR`: every notebook runs headless on any kind of
dataset by its parameters alone (executed .ipynb + HTML in DIR, nothing written elsewhere).

`make test` runs one here (the pose-only EDA) beside the browser test, which runs every
notebook on a dataset other than the seed samples (tests/test_browser.py ``BROWSER_DATA``); set
``WORKBENCH_NOTEBOOK_MATRIX=1`` (``make notebooks-matrix``) to run every notebook on every kind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest

from workbench.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KINDS = ("seed", "realsee3d", "realsee3d-synthetic", "rgbd-folder", "stanford2d3d", "shards",
         "pose-only")  # fmt: skip
COVERING = [("02", "pose-only")]
MATRIX = [(nb[:2], kind) for nb in NOTEBOOKS for kind in KINDS]
CASES = MATRIX if os.environ.get("WORKBENCH_NOTEBOOK_MATRIX") == "1" else COVERING


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """Every kind of sample dataset; ``shards`` packed from the Stanford2D3D sample here."""
    out = {k: SAMPLES / k for k in KINDS if k != "shards"}
    shards = tmp_path_factory.mktemp("packed") / "shards"
    assert (
        main(["pack", str(SAMPLES / "stanford2d3d"), "--out", str(shards), "--workers", "1"]) == 0
    )
    out["shards"] = shards
    return out


def _tree(*folders: Path) -> dict[str, int]:
    """Files (with their modification times) of the repository folders a notebook could write
    into by mistake: its own folder (the lab's working directory) and the samples it reads."""
    return {str(p): p.stat().st_mtime_ns for f in folders for p in f.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip


@pytest.mark.parametrize(("number", "kind"), CASES)
def test_notebook_runs_on_any_dataset(number, kind, datasets, tmp_path, capsys):
    before = _tree(REPO / "notebooks", SAMPLES)
    out = tmp_path / "out"
    code = main(["notebook", number, "--data", str(datasets[kind]), "--out", str(out)])
    name = next(n for n in NOTEBOOKS if n.startswith(number))
    assert code == 0, capsys.readouterr().err
    nb = nbformat.read(out / f"{name}.ipynb", 4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and str(datasets[kind]) in injected[0].source
    assert all(c.execution_count for c in nb.cells if c.cell_type == "code")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)  # fmt: skip
    assert datasets[kind].name in text  # the summary line names the dataset it opened
    assert "Traceback" not in text
    assert (out / f"{name}.html").stat().st_size > 10_000
    assert _tree(REPO / "notebooks", SAMPLES) == before  # nothing written inside the repository


def test_notebook_flags_are_checked_before_any_work(tmp_path, capsys):
    assert main(["notebook", "99", "--out", str(tmp_path)]) == 2
    assert "name: no notebook '99'" in capsys.readouterr().err
    assert main(["notebook", "01", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["notebook", "01", "--timeout", "1"]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert main(["notebook", "01", "--encoding", "foo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # was: the notebook ran and failed in a cell, exit 1
    assert err.count("\n") == 1 and "--encoding" in err and "matterport3d" in err
    assert not any(tmp_path.iterdir())


def test_failing_cell_is_named_and_the_partial_report_written(tmp_path, capsys):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('DATA = ""')
    params.metadata["tags"] = ["parameters"]
    stale = nbformat.v4.new_code_cell("print('after')")  # stored executed, as shipped
    stale.outputs = [nbformat.v4.new_output("stream", name="stdout", text="SAMPLE RESULT\n")]
    stale.execution_count = 9
    nb.cells = [params, nbformat.v4.new_code_cell("print(DATA)"),
                nbformat.v4.new_code_cell("1 / 0"), stale]  # fmt: skip
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "mine.ipynb"
    nbformat.write(nb, path)
    data = tmp_path / "data"
    data.mkdir()
    assert main(["notebook", str(path), "--data", str(data), "--out", str(tmp_path / "o")]) == 1
    assert "In [4] failed: ZeroDivisionError" in capsys.readouterr().err  # as the page numbers it
    done = nbformat.read(tmp_path / "o" / "mine.ipynb", 4)
    assert "This run stopped" in done.cells[0].source and "In [4]" in done.cells[0].source
    assert str(data) in done.cells[3].outputs[0]["text"]  # the injected DATA reached the code
    assert done.cells[-1].outputs == [] and done.cells[-1].execution_count is None
    html = (tmp_path / "o" / "mine.html").read_text()
    assert "SAMPLE RESULT" not in html and "This run stopped" in html


def test_parameters_cell_defaults_to_the_environment(tmp_path, monkeypatch):
    from workbench.paths import data_folder, output_folder

    monkeypatch.setenv("WORKBENCH_DATA", str(SAMPLES / "stanford2d3d"))
    monkeypatch.setenv("WORKBENCH_OUT", str(tmp_path / "env-out"))
    assert data_folder("", "seed") == SAMPLES / "stanford2d3d"
    assert data_folder(str(tmp_path), "seed") == tmp_path  # the cell's own value wins
    assert output_folder("", "01").is_dir() and output_folder("", "01") == tmp_path / "env-out"
    monkeypatch.delenv("WORKBENCH_DATA")
    monkeypatch.delenv("WORKBENCH_OUT")
    assert data_folder("", "seed") == SAMPLES / "seed"
    import workbench.paths

    assert not str(workbench.paths.USER_OUTPUTS).startswith(str(REPO))  # outside the repository
    monkeypatch.setattr(workbench.paths, "USER_OUTPUTS", tmp_path / "home-outputs")
    assert output_folder("", "02_eda") == tmp_path / "home-outputs" / "02_eda"


def test_the_kernel_is_stopped_after_the_run(tmp_path):
    """nbclient does not stop a kernel manager it was handed: each run once left a kernel
    (TensorFlow loaded) running behind it."""
    import psutil

    from workbench.notebook import run_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(os.getpid())")]
    path = tmp_path / "pid.ipynb"
    nbformat.write(nb, path)
    _, ok = run_notebook(path, tmp_path, {})
    assert ok
    pid = int(nbformat.read(tmp_path / "pid.ipynb", 4).cells[1].outputs[0]["text"])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_notebook_06_browses_a_folder_of_your_own_panoramas_alone(tmp_path, capsys):
    """What `workbench infer` reads (images, no depth, no poses) the inference notebook shows:
    one view per 2:1 image, predictions without ground truth; a non-2:1 image named, left out."""
    import shutil

    import numpy as np

    from workbench.io import write_image

    mine = tmp_path / "my photos"
    (mine / "sub").mkdir(parents=True)
    for k, src in enumerate(sorted((SAMPLES / "seed").glob("*/pan/high/*.jpg"))[:3]):
        shutil.copy(src, mine / ("sub" if k == 2 else "") / f"room{k}.jpg")
    write_image(mine / "crop.png", np.zeros((30, 40, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["notebook", "06", "--data", str(mine), "--out", str(out)]) == 0
    nb = nbformat.read(out / "06_export_inference.ipynb", 4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)  # fmt: skip
    assert "my photos: 3 panoramas alone (no depth, no poses" in text
    assert "1 left out (crop.png: not a 2:1 panorama (40x30))" in text
    assert "calibrated and scored on seed" in text and "Traceback" not in text


def test_an_out_that_is_a_file_is_named(tmp_path, capsys):
    f = tmp_path / "f.txt"
    f.write_text("x")
    assert main(["notebook", "01", "--out", str(f)]) == 2
    assert f"--out: cannot create the output folder {f}" in capsys.readouterr().err


def test_every_code_cell_compiles_and_no_code_became_markdown():
    """Notebook 04's covisibility figure was a markdown heading: its f-string reused its own
    quotes (valid from Python 3.12 only), so the generator took the cell for text."""
    for name in NOTEBOOKS:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                compile(cell.source, f"{name}.ipynb", "exec")  # a SyntaxError fails the test
            else:
                assert not cell.source.startswith("# NBVAL"), (name, cell.source[:80])


def test_an_out_inside_the_data_or_of_another_verb_is_refused(tmp_path, capsys):
    """--out inside the dataset became an empty scene of it; a folder of the user's files
    would be written into."""
    data = tmp_path / "ds"
    shutil.copytree(SAMPLES / "rgbd-folder", data)
    assert main(["notebook", "01", "--data", str(data), "--out", str(data / "nb")]) == 2
    assert "--out: " in capsys.readouterr().err and not (data / "nb").exists()
    assert main(["notebook", "01", "--data", str(SAMPLES / "seed"), "--out", str(data)]) == 2
    assert "is not empty (dataset.json, depth, pose" in capsys.readouterr().err


def test_an_out_of_another_datasets_notebook_run_is_refused_before_any_work(tmp_path, capsys):
    """It ran notebook 09 of one dataset over another's run in the same --out: its page and
    notebook were replaced before the run failed."""
    from workbench.io import claim_output_folder

    out = tmp_path / "nb"
    claim_output_folder(out, "notebook", source=str((SAMPLES / "seed").resolve()))
    (out / "09_multiview_consistency.html").write_text("the seed sample's page")
    data = SAMPLES / "rgbd-folder"
    assert main(["notebook", "09", "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds the `workbench notebook` results of" in err and "--out" in err
    assert (out / "09_multiview_consistency.html").read_text() == "the seed sample's page"


def test_a_folder_the_notebook_cannot_open_is_one_line(tmp_path, capsys):
    """A folder of panoramas alone put an 8-frame traceback in notebook 01's page, and its
    advice (`workbench infer PATH`) broke on the space in the path."""
    photos = tmp_path / "my panos"
    photos.mkdir()
    for p in sorted((SAMPLES / "pose-only" / "rgb").iterdir())[:2]:
        (photos / p.name).write_bytes(p.read_bytes())
    assert main(["notebook", "01", "--data", str(photos), "--out", str(tmp_path / "nb")]) == 2
    err = capsys.readouterr().err
    assert f"`workbench infer '{photos}'`" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "nb").exists()


def test_ctrl_c_during_a_notebook_is_one_interrupted_line(tmp_path):
    """nbclient's own SIGINT handler stops the kernel; the cell under way then failed with
    "AssertionError:" (exit 2, no word of the interrupt)."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "nb"
    argv = [sys.executable, "-m", "workbench.cli", "notebook", "03", "--data",
            str(SAMPLES / "seed"), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.time()
    while not out.exists() and p.poll() is None and time.time() - t0 < 60:
        time.sleep(0.05)
    time.sleep(2.0)  # the kernel is running a cell
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and err == "workbench: error: interrupted\n", err
