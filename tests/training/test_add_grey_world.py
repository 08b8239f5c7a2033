"""scripts/add_grey_world.py: a finished run's weights behind a grey-world input layer (recipe
stage 10), run as the recipe runs it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.configs import TrainConfig, save_config
from workbench.model.saving import load_source_model
from workbench.model.unet import build_from_config

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "add_grey_world.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "i"
    config = TrainConfig(logdir=str(run), height=32, model_width=4, model_depth=2,
                         model_coords=True, model_context=True, model_stem=True)  # fmt: skip
    model = build_from_config(config)  # random kernels: a distinct network to carry over
    run.mkdir()
    save_config(config, run / "config.json")
    (run / "summary.json").write_text(json.dumps({"steps": 7, "train_median_m": 1.6}))
    model.save(run / "model.keras")
    return run


def test_same_weights_behind_the_layer(source, tmp_path):
    out = tmp_path / "j"
    r = _run(source, out)
    assert r.returncode == 0 and f"wrote {out}" in r.stdout, r.stderr
    src, _ = load_source_model(source)
    new, _ = load_source_model(out)
    assert "grey_world" in [layer.name for layer in new.layers]
    for a, b in zip(src.get_weights(), new.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(1).uniform(0.2, 0.7, (1, 32, 64, 3)).astype(np.float32)
    balanced = x * (x.mean() / x.mean(axis=(0, 1, 2)))  # equal channel means: the layer is identity
    np.testing.assert_allclose(new(balanced).numpy(), src(balanced).numpy(), rtol=1e-5)
    cast = balanced * np.float32([1.2, 1.0, 0.8])
    assert np.abs(new(cast).numpy() - src(cast).numpy()).max() > 1e-3
    config = json.loads((out / "config.json").read_text())
    assert config["model_grey_world"] is True and config["logdir"] == str(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_median_m"] == 1.6 and summary["grey_world_from"] == str(source)


def test_refusals_are_one_line(source, tmp_path):
    (tmp_path / "taken").mkdir()
    for args, says in [
        ((source, tmp_path / "taken"), "already exists"),
        ((tmp_path / "taken", tmp_path / "k"), "not a finished run folder"),
        ((tmp_path / "missing", tmp_path / "k"), "missing: does not exist"),
        ((source / "model.keras", tmp_path / "k"), "not a run folder (give the folder"),
        ((source,), "SOURCE_RUN NEW_RUN"),
    ]:
        r = _run(*args)
        assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "k").exists()


def test_a_source_without_summary(source, tmp_path):
    """An exported model folder holds model.keras, config.json and model.json, no summary.json:
    its training median (the constant baseline of every evaluation) is carried over."""
    import shutil

    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("model.keras", "config.json"):
        shutil.copy(source / name, bare / name)
    r = _run(bare, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["grey_world_from"] == str(bare) and summary["config"]["model_grey_world"]
    assert "train_median_m" not in summary  # nothing to carry: evaluations say "2 m (unknown)"
    (bare / "model.json").write_text(json.dumps({"train_median_m": 1.55}))  # an export's
    r = _run(bare, tmp_path / "out2")
    assert r.returncode == 0, r.stderr
    from workbench.model.baselines import model_train_median

    assert model_train_median(tmp_path / "out2") == 1.55
