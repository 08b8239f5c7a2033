"""A dataset on disk with planted faults (workbench/data/planted_dataset.py): the files read
back through open_dataset carry exactly the planted fault, the other views untouched.
Tolerance: depth is written in millimetres (±0.5 mm in each file compared)."""

import json

import numpy as np
import pandas as pd
import pytest

from workbench import open_dataset
from workbench.data.planted_dataset import write_planted_dataset


def _views(root):
    ds = open_dataset(root)
    return ds, {(r.scene_id, r.view_id): ds.load(r) for r in ds.records}


def test_the_planted_fault_is_in_the_files_and_nowhere_else(tmp_path):
    faults = [("scale", {"scale": 1.0}), ("pose", {"translation_m": 0.0})]
    clean = write_planted_dataset(tmp_path / "clean", faults, views=2, height=32)
    faults = [("scale", {"scale": 1.1}), ("pose", {"translation_m": 0.05})]
    planted = write_planted_dataset(tmp_path / "planted", faults, views=2, height=32)
    assert list(planted["scene"]) == list(clean["scene"])  # the same scenes, by (seed, k)
    assert list(planted["view"]) == ["000", "001"] and list(planted["fault"]) == ["scale", "pose"]
    assert json.loads(planted["truth"][0]) == {"scale": 1.1}
    csv = pd.read_csv(tmp_path / "planted" / "planted.csv", dtype=str)
    assert list(csv["view"]) == ["000", "001"]
    ds, spoiled = _views(tmp_path / "planted")
    _, ok = _views(tmp_path / "clean")
    assert len(ds) == 4 and ds.has_depth and ds.has_poses
    s0, s1 = planted["scene"]
    ref = ok[(s0, "000")].range_m
    valid = ref > 0
    assert valid.mean() > 0.9 and spoiled[(s0, "000")].rgb.shape == (32, 64, 3)
    np.testing.assert_allclose(
        spoiled[(s0, "000")].range_m[valid], 1.1 * ref[valid], atol=1.1e-3
    )  # both in mm: 0.5 + 1.1 x 0.5 mm
    np.testing.assert_array_equal(spoiled[(s0, "001")].range_m, ok[(s0, "001")].range_m)
    moved = spoiled[(s1, "001")].T_world_from_cam[:3, 3] - ok[(s1, "001")].T_world_from_cam[:3, 3]
    assert np.linalg.norm(moved) == pytest.approx(0.05, abs=1e-9) and moved[1] == 0  # horizontal
    np.testing.assert_array_equal(spoiled[(s1, "001")].range_m, ok[(s1, "001")].range_m)


def test_invalid():
    with pytest.raises(ValueError, match="views must be >= 2"):
        write_planted_dataset("/nonexistent", views=1)
