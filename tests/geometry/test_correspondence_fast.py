"""The compiled correspondence equals the numpy reference."""

import math
from pathlib import Path

import numpy as np
import pytest

from workbench.data.layouts import index_dataset, load_view
from workbench.geometry.correspondence import correspond, covisibility_matrix, overlap
from workbench.geometry.correspondence_fast import (
    correspond_fast,
    covisibility_matrix_fast,
    fast_atan2,
    overlap_fast,
    prepare_target,
)
from workbench.geometry.equirect import resize_range

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "seed"


def test_fast_atan2_matches_math_everywhere():
    rng = np.random.default_rng(0)
    pts = np.concatenate(
        [
            rng.normal(size=(5000, 2)),
            rng.normal(size=(50, 2)) * 1e-9,
            [[0.0, -1.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 0.0]],
        ]
    )
    err = max(abs(fast_atan2(y, x) - math.atan2(y, x)) for y, x in pts)
    assert err < 1e-8


@pytest.mark.parametrize("height", [64, 256])
def test_fast_correspondence_equals_the_numpy_reference(height):
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:3]]
    ranges = [resize_range(v.range_m, height) for v in views]
    poses = [v.T_world_from_cam for v in views]
    for a, b in ((0, 1), (1, 2), (2, 0)):
        ref = correspond(ranges[a], poses[a], poses[b], ranges[b])
        got = correspond_fast(ranges[a], poses[a], poses[b], ranges[b])
        for name in ("valid", "landed", "visible", "consistent"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
        w = ranges[a].shape[1]
        du = np.abs((got.uv[..., 0] - ref.uv[..., 0] + w / 2) % w - w / 2)
        dv = np.abs(got.uv[..., 1] - ref.uv[..., 1])
        # away from B's poles, where longitude is ill-conditioned in float32
        lat_b = (ref.uv[..., 1] + 0.5) / height * 180 - 90
        ok = ref.valid & (np.abs(lat_b) < 85)
        assert du[ok].max() < 1e-4 and dv[ok].max() < 1e-4, (du[ok].max(), dv[ok].max())
        np.testing.assert_allclose(got.range_in_b[ref.valid], ref.range_in_b[ref.valid], rtol=1e-5)


def test_fast_covisibility_equals_the_reference_and_handles_sparse_depth():
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:4]]
    ranges = [resize_range(v.range_m, 64) for v in views]
    poses = [v.T_world_from_cam for v in views]
    np.testing.assert_allclose(
        covisibility_matrix_fast(ranges, poses), covisibility_matrix(ranges, poses), atol=1e-12
    )
    sparse = [np.where(np.arange(64)[:, None] % 3 == 0, r, 0).astype(np.float32) for r in ranges]
    np.testing.assert_allclose(
        covisibility_matrix_fast(sparse, poses), covisibility_matrix(sparse, poses), atol=1e-12
    )


def test_fast_correspondence_handles_nan_inf_and_holes_like_the_reference():
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:2]]
    ra, rb = (resize_range(v.range_m, 64).copy() for v in views)
    ra[5:9, 10:30], ra[20, :] = np.nan, np.inf  # non-finite depth in A
    ra[30:33, 40:60] = -1.0
    rb[40:50, 0:20], rb[10, 100:128] = np.nan, np.inf  # and B's holes, across the seam
    rb[:, 127] = 0.0
    pa, pb = views[0].T_world_from_cam, views[1].T_world_from_cam
    ref = correspond(ra, pa, pb, rb)
    got = correspond_fast(ra, pa, pb, rb)
    assert not ref.valid.all() and ref.valid.any()
    for name in ("valid", "landed", "visible", "consistent"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
    assert np.isnan(got.uv[~ref.valid]).all() and np.isnan(got.range_in_b[~ref.valid]).all()
    assert np.isfinite(got.uv[ref.valid]).all()


def test_overlap_fast_equals_overlap_of_the_masks_and_a_target_is_reusable():
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:3]]
    ranges = [resize_range(v.range_m, 64) for v in views]
    poses = [v.T_world_from_cam for v in views]
    target = prepare_target(ranges[2])
    for a in (0, 1):
        want = overlap(correspond(ranges[a], poses[a], poses[2], ranges[2]))
        assert overlap_fast(ranges[a], poses[a], poses[2], target) == pytest.approx(want, abs=1e-12)
        got = correspond_fast(ranges[a], poses[a], poses[2], target)
        assert overlap(got) == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="range_b must be"):
        correspond_fast(resize_range(views[0].range_m, 32), poses[0], poses[2], target)
