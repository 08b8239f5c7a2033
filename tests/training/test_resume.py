"""Exact resume everywhere: every trainer keeps a step counter of its own in the checkpoint, so a
run rewound to an earlier checkpoint and resumed ends bit-identical to the uninterrupted run
(mixed precision included, where ``optimizer.iterations`` skips loss-scaled steps)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import tiny_pose_config, tiny_train_config, write_sample_lists

SAMPLES = Path(__file__).parents[2] / "data_samples" / "seed"


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return write_sample_lists(tmp_path_factory.mktemp("lists"))


def rewind(logdir: Path, step: int) -> None:
    """Make ``ckpt-<step>`` the latest checkpoint, as a kill right after it would leave it."""
    ck = logdir / "checkpoints"
    for f in ck.glob("ckpt-*"):
        if int(f.name.split(".")[0].split("-")[1]) > step:
            f.unlink()
    (ck / "checkpoint").write_text(
        f'model_checkpoint_path: "ckpt-{step}"\nall_model_checkpoint_paths: "ckpt-{step}"\n'
    )
    (logdir / "model.keras").unlink()


def weights(logdir: Path, step: int) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(logdir / "checkpoints" / f"ckpt-{step}"))
    names = [
        n for n in reader.get_variable_to_shape_map() if n.startswith(("model/", "optimizer/"))
    ]
    return {n: reader.get_tensor(n) for n in names}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_mixed_precision_resume_is_bit_exact(lists, tmp_path, capsys):
    import keras
    import tensorflow as tf

    from workbench.training.supervised import MIXED_PRECISION_ON_CPU, train

    cfg = tiny_train_config(lists, tmp_path / "mp", mixed_precision=True, steps=4, val_csv="")
    try:
        first = train(cfg)
        assert first["steps"] == 4
        # on a CPU the flag costs 3-20x per step: said in one line, only where there is no GPU
        err = capsys.readouterr().err
        assert (MIXED_PRECISION_ON_CPU in err) == (not tf.config.list_physical_devices("GPU"))
        assert "--mixed-precision" in MIXED_PRECISION_ON_CPU and "\n" not in MIXED_PRECISION_ON_CPU
        final = weights(tmp_path / "mp", 4)
        # loss scaling skipped some steps: the optimizer's own counter is not the step
        its = [v for k, v in final.items() if k.endswith("_iterations/.ATTRIBUTES/VARIABLE_VALUE")]
        assert its and min(its) < 4
        rewind(tmp_path / "mp", 2)
        again = train(replace(cfg, resume=True))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert again["resumed_from"] == 2 and again["steps"] == 4
    assert_same(weights(tmp_path / "mp", 4), final)


def test_train_pose_resume_continues_at_its_step(tmp_path):
    from workbench.data.dataset import index_dataset
    from workbench.data.splits import write_split
    from workbench.training.pose import train

    write_split(index_dataset(SAMPLES), tmp_path / "lists", SAMPLES, val_fraction=0.3)
    cfg = tiny_pose_config(
        tmp_path / "lists",
        tmp_path / "p",
        val_csv="",
        width=4,
        steps=4,
        batch=2,
        log_every=1,
        ckpt_every=2,
    )
    assert train(cfg)["resumed_from"] == 0
    final = weights(tmp_path / "p", 4)
    assert (tmp_path / "p" / "tb" / "train").is_dir()
    rewind(tmp_path / "p", 2)
    with pytest.raises(ValueError, match="--resume"):
        train(cfg)  # a folder with checkpoints refuses a fresh run
    s = train(replace(cfg, resume=True))
    assert s["resumed_from"] == 2 and s["steps"] == 4
    assert_same(weights(tmp_path / "p", 4), final)
    rows = (tmp_path / "p" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "4"]
