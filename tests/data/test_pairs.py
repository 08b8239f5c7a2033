"""Training pairs: overlaps equal the numpy reference's, floors and poses respected."""

from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view
from workbench.data.pairs import pair_candidates, select_pairs, training_pairs
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence import correspond, overlap
from workbench.geometry.equirect import resize_range

SEED = Path(__file__).resolve().parents[2] / "data_samples" / "seed"


def test_pair_overlaps_equal_the_reference_and_are_cached(tmp_path):
    records = index_dataset(SEED)
    cache = tmp_path / "pairs.parquet"
    df = pair_candidates(records, SEED, height=32, cache=cache)
    per_scene = {}
    for r in records:
        per_scene[r.scene_id] = per_scene.get(r.scene_id, 0) + 1
    assert len(df) == sum(k * (k - 1) for k in per_scene.values())
    row = df.iloc[3]
    a, b = (load_view(records[int(row[k])], SEED) for k in ("idx_a", "idx_b"))
    ra, rb = resize_range(a.range_m, 32), resize_range(b.range_m, 32)
    want = overlap(correspond(ra, a.T_world_from_cam, b.T_world_from_cam, rb))
    assert row.overlap == pytest.approx(want, abs=1e-12)
    base = np.linalg.norm(a.T_world_from_cam[:3, 3] - b.T_world_from_cam[:3, 3])
    assert row.baseline_m == pytest.approx(base)
    again = pair_candidates(records, SEED, height=32, cache=cache)
    assert again.equals(df)
    picked = select_pairs(df, min_overlap=0.3, max_overlap=0.98)
    assert len(picked) and picked.overlap.between(0.3, 0.98).all()


def test_training_pairs_say_what_the_dataset_has_when_none_fits(tmp_path):
    """A folder of rotations only (overlap 1) or of one view per scene: the error names the
    split CSV, the dataset and the overlaps it does have, not just the range asked for."""
    records = index_dataset(SEED)
    cache = tmp_path / "pairs.parquet"
    got = training_pairs(records, SEED, 0.3, 0.98, cache, "lists/train.csv")
    assert len(got) and got.overlap.between(0.3, 0.98).all()
    full = pair_candidates(records, SEED, cache=cache)
    lo, hi = full.overlap.min(), full.overlap.max()
    with pytest.raises(WorkbenchError, match="lists/train.csv") as e:
        training_pairs(records, SEED, 0.999, 1.0, cache, "lists/train.csv")
    assert f"among the {len(records)} views of {SEED}" in str(e.value)
    assert f"overlap {lo:.2f}–{hi:.2f}" in str(e.value) and "--min-overlap" in str(e.value)
    two = [r for r in records if r.scene_id == records[0].scene_id][:2]
    with pytest.raises(WorkbenchError, match=r"its one pair overlaps \d\.\d\d;"):
        training_pairs(two, SEED, 0.999, 1.0, tmp_path / "two.parquet", "v.csv")
    one = [records[0]]
    with pytest.raises(WorkbenchError, match="no two views share a scene"):
        training_pairs(one, SEED, 0.3, 0.98, tmp_path / "one.parquet", "v.csv")
