"""``workbench eval``: fixed comparison height, wrap-aware resizing of predictions."""

import json

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
    assert len(list((run / "e" / "dumps").glob("worst01_*_depth_pred.png"))) == 1


def test_eval_refused_before_any_work_leaves_no_folder(run, tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "never"
    assert main(["eval", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "missing.csv" in capsys.readouterr().err and not out.exists()
    args = ["eval", str(run / "lists/val.csv"), "--model", str(tmp_path / "no_model")]
    assert main([*args, "--out", str(out)]) == 2 and not out.exists()
