"""``workbench eval``: fixed comparison height, wrap-aware resizing of predictions."""

import json
import re

import numpy as np
import pytest

from tests.helpers import tiny_train_config, write_sample_lists
from workbench.model.evaluate import resize_prediction


def test_resize_prediction_wraps_at_the_seam_hand_value():
    pred = np.tile(np.arange(4, dtype=np.float32), (2, 1))  # (2, 4): columns 0..3
    out = resize_prediction(pred, 4)  # (4, 8); output column x samples input (x + 0.5) / 2 - 0.5
    assert out.shape == (4, 8)
    # column 0 sits at input -0.25: a quarter of column 3 (across the seam), 3/4 of column 0
    assert out[0, 0] == pytest.approx(0.25 * 3 + 0.75 * 0)
    assert out[2, 1] == pytest.approx(0.25)  # input 0.25: between columns 0 and 1
    assert out[3, 7] == pytest.approx(0.75 * 3 + 0.25 * 0)
    assert resize_prediction(np.full((8, 16), 2.5, np.float32), 16) == pytest.approx(2.5)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run with latitude channels, global context and the log-L1 term."""
    from workbench.training.supervised import train

    out = tmp_path_factory.mktemp("evalrun")
    lists = write_sample_lists(out / "lists")
    cfg = tiny_train_config(
        lists, out / "run", model_coords=True, model_context=True, l1_space="log", ckpt_every=3
    )
    s = train(cfg)
    assert np.isfinite(s["val"]["abs_rel"])
    return out


def test_eval_at_the_model_height_equals_the_default(run):
    from workbench.data.splits import read_split_csv
    from workbench.model.evaluate import evaluate
    from workbench.model.predictor import load

    recs, root = read_split_csv(run / "lists/val.csv")
    pred = load(run / "run")
    a, _, _ = evaluate(pred, recs[:4], root)
    b, _, _ = evaluate(pred, recs[:4], root, height=32)
    c, _, p = evaluate(pred, recs[:4], root, height=64)
    assert a == b and c["n_views"] == 4 and c != a
    assert next(iter(p.values())).shape == (64, 128)


def test_eval_cli_height_and_outputs(run, capsys):
    from workbench.cli import main

    # the CLI in this process (TensorFlow is loaded already; the process entry of a verb is
    # run by tests/deploy/test_export_infer.py and tests/test_quiet_logs.py)
    args = ["eval", str(run / "lists/val.csv"), "--model", str(run / "run")]
    assert main([*args, "--out", str(run / "e"), "--height", "64", "--worst", "2"]) == 0, (
        capsys.readouterr().err
    )
    m = json.loads((run / "e" / "metrics.json").read_text())
    assert m["height"] == 64 and m["model_height"] == 32 and m["n_views"] > 0
    bins = m["by_true_range"]  # pixels of every view pooled per bin of true range
    assert sum(b["share"] for b in bins) == pytest.approx(1.0, abs=1e-5)
    assert max(b["views"] for b in bins) <= m["n_views"]
    lat = m["by_latitude"]  # the same pixels per latitude band, -90° up to +90° down
    assert [b["latitude_deg"][0] for b in lat] == [-90, -45, -15, 15, 45]
    assert sum(b["pixels"] for b in lat) == sum(b["pixels"] for b in bins)
    assert all(b["ratio"] > 0 for b in lat + bins if b["pixels"])
    out = capsys.readouterr().out
    assert "by true range: 0.1 to 0.5 m" in out and "by latitude (- up, + down): -90 to -45°" in out
    assert m["flip"] is True and f"×{m['ratio_all']:.2f} over all pixels" in out
    assert "as predicted, all views pooled" in out
    logs = sum(b["pixels"] * np.log(b["ratio"]) for b in lat if b["pixels"])
    assert m["ratio_all"] == pytest.approx(np.exp(logs / sum(b["pixels"] for b in lat)), rel=1e-5)
    assert "NaN" not in (run / "e" / "metrics.json").read_text()  # strict JSON: null, not NaN
    assert len(list((run / "e" / "dumps").glob("worst01_*_depth_pred.png"))) == 1


def test_eval_refused_before_any_work_leaves_no_folder(run, tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "never"
    assert main(["eval", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "missing.csv" in capsys.readouterr().err and not out.exists()
    args = ["eval", str(run / "lists/val.csv"), "--model", str(tmp_path / "no_model")]
    assert main([*args, "--out", str(out)]) == 2 and not out.exists()


def test_eval_bin_line_shows_empty_bins_and_says_which_prediction(run, capsys):
    from workbench.cli import main
    from workbench.training.evaluate import _bin_line

    bins = [
        {"range_m": [0.1, 0.5], "views": 0, "pixels": 0, "share": 0.0, "abs_rel": None,
         "ratio": None},
        {"range_m": [0.5, 1.0], "views": 2, "pixels": 9, "share": 1.0, "abs_rel": 0.25,
         "ratio": 1.5},
    ]  # fmt: skip
    assert _bin_line(bins, "range_m", " m") == "0.1 to 0.5 m –, 0.5 to 1 m 0.250 ×1.50 (100 %)"
    bins[1]["share"] = 0.0006  # a few pixels: not "0 %"
    assert _bin_line(bins, "range_m", " m").endswith("×1.50 (<1 %)")
    args = ["eval", str(run / "lists/val.csv"), "--model", str(run / "run"), "--worst", "0"]
    assert main([*args, "--out", str(run / "ea"), "--median-align"]) == 0
    assert "median-aligned, all views pooled" in capsys.readouterr().out
    assert main([*args, "--out", str(run / "eh"), "--camera-height", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "as predicted (before --camera-height 1.5)" in out
    if "median factor" in out:  # three decimals
        assert re.search(r"median factor \d+\.\d{3}\)", out), out


def test_eval_refuses_views_without_ground_truth_in_one_line(tmp_path, capsys):
    import shutil

    import cv2

    from tests.helpers import SAMPLES
    from workbench.cli import main

    root = tmp_path / "data"
    shutil.copytree(SAMPLES, root)
    for png in root.glob("*/depth/*.png"):  # every depth pixel missing (0)
        cv2.imwrite(str(png), np.zeros_like(cv2.imread(str(png), cv2.IMREAD_UNCHANGED)))
    lists = write_sample_lists(tmp_path / "lists", root)
    out = tmp_path / "never"
    assert main(["eval", str(lists / "val.csv"), "--out", str(out), "--worst", "0"]) == 2
    err = capsys.readouterr().err
    assert "has ground truth within 0.1-10 m: nothing to score" in err and "val.csv" in err
    last = err.strip().splitlines()[-1]  # after the progress bar: one line, no traceback
    assert "nothing to score" in last and "Traceback" not in err and not out.exists()


def test_an_eval_rerun_replaces_the_earlier_dumps_and_a_folder_gets_the_split_hint(
    run, tmp_path, capsys
):
    """A re-run into the same --out (other data, fewer --worst) left the earlier run's dumps
    beside the new ones; `eval DATASET_ROOT` said only "split CSV not found"."""
    from workbench.cli import main

    out = tmp_path / "e"
    argv = ["eval", str(run / "lists" / "val.csv"), "--model", str(run / "run"), "--out",
            str(out), "--no-progress"]  # fmt: skip
    assert main([*argv, "--worst", "3"]) == 0
    assert len(list((out / "dumps").glob("worst02_*_rgb.png"))) == 1
    assert main([*argv, "--worst", "1"]) == 0
    assert {p.name.split("_")[0] for p in (out / "dumps").iterdir()} == {"worst00"}
    capsys.readouterr()
    assert main(["eval", str(run / "lists"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "is a folder, not a split CSV: make one with `workbench split" in err
