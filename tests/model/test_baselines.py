"""The trivial baselines every evaluation reports beside the model."""

from pathlib import Path

import numpy as np
import pytest

from workbench.model.baselines import (
    ConstantBaseline,
    RoomPriorBaseline,
    baseline_table,
    make_baselines,
    room_prior,
)

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def test_room_prior_hand_values():
    r = room_prior(64, camera_height=1.5, ceiling_above=1.2, wall_distance=2.5)
    assert r.shape == (64, 128) and (r > 0).all()
    lat = (np.arange(64) + 0.5) / 64 * np.pi - np.pi / 2
    # straight down: the floor at 1.5 / sin(lat); at the horizon: the wall at 2.5 / cos(lat)
    assert r[-1, 0] == pytest.approx(1.5 / np.sin(lat[-1]), rel=1e-5)
    assert r[0, 5] == pytest.approx(1.2 / np.sin(-lat[0]), rel=1e-5)
    assert r[32, 7] == pytest.approx(2.5 / np.cos(lat[32]), rel=1e-5)
    assert np.ptp(r, axis=1).max() == 0  # the same along every row (yaw-free)


def test_baselines_in_evaluate_on_the_same_pixels():
    from workbench.data.dataset import describe_dataset, index_spec
    from workbench.model.evaluate import evaluate

    spec = describe_dataset(SAMPLES / "seed")
    recs = index_spec(spec)[:3]
    base = {"c": ConstantBaseline(2.0, 32), "room": RoomPriorBaseline(32)}
    mean, _, _ = evaluate(ConstantBaseline(2.0, 32), recs, spec.root, baselines=base)
    assert mean["baselines"]["c"] == pytest.approx(
        {k: v for k, v in mean.items() if k not in ("n_views", "baselines")}
    )
    assert 0 < mean["baselines"]["room"]["abs_rel"] < 2
    assert "room" in baseline_table(mean) and "model" in baseline_table(mean)


def test_constant_comes_from_the_recorded_training_median(tmp_path):
    (tmp_path / "summary.json").write_text('{"train_median_m": 2.7}')

    class Backend:
        source = tmp_path

    class P:
        backend, height = Backend(), 16

    base, origin = make_baselines(P())
    assert origin == "training set median" and "constant 2.70 m" in base
    base, origin = make_baselines(P(), constant=1.25)
    assert origin == "--constant" and "constant 1.25 m" in base
