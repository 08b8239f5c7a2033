import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.model.metrics import (
    METRIC_NAMES,
    depth_metrics,
    depth_metrics_tf,
    latitude_bin_metrics,
    latitude_bin_sums,
    metric_sums,
    range_bin_metrics,
    range_bin_sums,
)


def test_hand_computed():
    gt = np.array([[1.0, 2.0, 4.0, 0.0]])  # last pixel invalid
    pred = np.array([[1.5, 2.0, 2.0, 9.0]])
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx((0.5 + 0 + 0.5) / 3)
    assert m["sq_rel"] == pytest.approx((0.25 / 1 + 0 + 4 / 4) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 4) / 3))
    assert m["rmse_log"] == pytest.approx(np.sqrt((np.log(1.5) ** 2 + 0 + np.log(2) ** 2) / 3))
    assert m["delta1"] == pytest.approx(1 / 3)  # ratios 1.5, 1, 2
    assert m["delta2"] == pytest.approx(2 / 3)  # 1.25² = 1.5625 > 1.5
    assert m["delta3"] == pytest.approx(2 / 3)  # 1.25³ = 1.953 < 2
    assert m["n_images"] == 1


def test_clipping_and_range():
    gt = np.array([[0.05, 5.0, 20.0, 5.0]])  # only the 5 m pixels are valid
    pred = np.array([[1.0, 50.0, 1.0, 0.0]])  # predictions clipped to [0.1, 10]
    m = depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx(((10 - 5) / 5 + (5 - 0.1) / 5) / 2)


def test_median_alignment_is_scale_free():
    rng = np.random.default_rng(0)
    gt = rng.uniform(1, 8, (2, 8, 16))
    m = depth_metrics(gt * 0.5, gt, median_align=True)
    assert m["abs_rel"] < 1e-12 and m["delta1"] == 1.0


def test_no_valid_pixels():
    m = depth_metrics(np.ones((2, 4)), np.zeros((2, 4)))
    assert m["n_images"] == 0 and np.isnan(m["abs_rel"])


def test_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        depth_metrics(np.ones((2, 4)), np.ones((2, 6)))


@given(seed=st.integers(0, 1000), align=st.booleans())
def test_tf_agrees_with_numpy(seed, align):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.05, 12, (3, 4, 8, 1))
    gt[0, 0, :3] = np.nan
    gt[2] = 0.0  # an image with no valid pixel
    pred = gt * rng.uniform(0.7, 1.4, gt.shape)
    a = depth_metrics(pred, gt, median_align=align)
    b = {k: float(v) for k, v in depth_metrics_tf(pred, gt, median_align=align).items()}
    for k in METRIC_NAMES:
        assert b[k] == pytest.approx(a[k], rel=1e-4, abs=1e-6), k
    assert b["n_images"] == a["n_images"] == 2


@given(s=st.floats(0.5, 2.0))
def test_metrics_invariant_to_common_scale_with_alignment(s):
    rng = np.random.default_rng(1)
    gt = rng.uniform(1, 4, (1, 4, 8))
    pred = gt * rng.uniform(0.9, 1.1, gt.shape)
    a = depth_metrics(pred, gt, median_align=True)
    b = depth_metrics(pred * s, gt, median_align=True)
    assert a["abs_rel"] == pytest.approx(b["abs_rel"], rel=1e-9)


def test_average_views_and_pixels_by_hand():
    """One dense view (8 pixels, every AbsRel 0.1) and one sparse view (1 valid pixel, AbsRel
    0.5): views average 0.3, pixels pool to (8 x 0.1 + 0.5) / 9."""
    from workbench.model.metrics import depth_metrics

    gt = np.stack([np.full((2, 4), 2.0), np.zeros((2, 4))])
    gt[1, 0, 0] = 2.0
    pred = np.stack([np.full((2, 4), 2.2), np.full((2, 4), 3.0)])
    views = depth_metrics(pred, gt, average="views")
    pixels = depth_metrics(pred, gt, average="pixels")
    assert views["abs_rel"] == pytest.approx((0.1 + 0.5) / 2)
    assert pixels["abs_rel"] == pytest.approx((8 * 0.1 + 0.5) / 9)
    assert pixels["rmse"] == pytest.approx(np.sqrt((8 * 0.2**2 + 1.0**2) / 9))
    assert views["rmse"] == pytest.approx((0.2 + 1.0) / 2)
    assert pixels["delta1"] == pytest.approx(8 / 9) and views["delta1"] == pytest.approx(0.5)
    assert views["n_images"] == pixels["n_images"] == 2
    with pytest.raises(ValueError, match="average"):
        depth_metrics(pred, gt, average="scenes")


def test_range_bins_hand_computed():
    gt = np.array([[0.4, 0.5, 1.5, 3.0, 6.0, 0.0]])  # 0.5 m falls in [0.5, 1); 0 is invalid
    pred = np.array([[0.2, 0.5, 3.0, 3.3, 6.0, 4.0]])
    s = range_bin_sums(pred, gt)
    assert s.shape == (1, 5, 4)
    assert s[0, :, 0].tolist() == [1, 1, 1, 1, 1]
    assert s[0, :, 1] == pytest.approx([0.5, 0.0, 1.0, 0.1, 0.0])
    assert s[0, :, 2].tolist() == [0, 1, 0, 1, 1]  # ratios 2, 1, 2, 1.1, 1
    m = range_bin_metrics(s)
    edges = [[0.1, 0.5], [0.5, 1.0], [1.0, 2.0], [2.0, 4.0], [4.0, 10.0]]
    assert [b["range_m"] for b in m] == edges
    assert [b["share"] for b in m] == pytest.approx([0.2] * 5)
    assert [b["pixels"] for b in m] == [1] * 5
    assert [b["ratio"] for b in m] == pytest.approx([0.5, 1.0, 2.0, 1.1, 1.0])


def test_range_bins_add_up_to_the_pixel_pooled_metrics():
    rng = np.random.default_rng(1)
    gt = rng.uniform(0.2, 9.0, (3, 8, 16))
    pred = gt * rng.uniform(0.7, 1.4, gt.shape)
    for align in (False, True):
        s = range_bin_sums(pred, gt, median_align=align)
        whole = metric_sums(pred, gt, median_align=align)
        assert s[:, :, 0].sum(axis=1) == pytest.approx(whole[:, 0])
        assert s[:, :, 1].sum(axis=1) == pytest.approx(whole[:, 1])
        assert s[:, :, 2].sum(axis=1) == pytest.approx(whole[:, 5])


def test_range_bins_empty_bin_and_views():
    s = range_bin_sums(np.full((2, 2, 4), 3.0), np.full((2, 2, 4), 3.0))
    m = range_bin_metrics(s)
    assert m[3]["views"] == 2 and m[3]["abs_rel"] == 0.0 and m[3]["share"] == 1.0
    assert m[0]["views"] == 0 and m[0]["abs_rel"] is None and m[0]["pixels"] == 0
    assert range_bin_metrics(np.zeros((0, 5, 4)))[2]["delta1"] is None  # JSON null, not NaN
    assert m[0]["ratio"] is None


def test_latitude_bands_hand_computed_and_add_up_to_the_whole():
    gt = np.full((2, 4, 8), 2.0)  # rows at -67.5°, -22.5°, 22.5°, 67.5°
    pred = gt.copy()
    pred[:, 0] = 3.0  # straight-up band too far by 1.5x
    pred[:, 3] = 1.0  # straight-down band too near by 2x
    s = latitude_bin_sums(pred, gt)
    assert s.shape == (2, 5, 4)
    m = latitude_bin_metrics(s)
    assert [b["latitude_deg"] for b in m] == [
        [-90.0, -45.0], [-45.0, -15.0], [-15.0, 15.0], [15.0, 45.0], [45.0, 90.0]
    ]  # fmt: skip
    assert [b["pixels"] for b in m] == [16, 16, 0, 16, 16]
    assert m[0]["ratio"] == pytest.approx(1.5) and m[4]["ratio"] == pytest.approx(0.5)
    assert m[0]["abs_rel"] == pytest.approx(0.5) and m[4]["abs_rel"] == pytest.approx(0.5)
    assert m[1]["ratio"] == pytest.approx(1.0) and m[2]["ratio"] is None
    whole = metric_sums(pred, gt)
    assert s[:, :, 0].sum(axis=1) == pytest.approx(whole[:, 0])
    assert s[:, :, 1].sum(axis=1) == pytest.approx(whole[:, 1])


def test_bin_ratio_is_the_geometric_mean_and_follows_median_alignment():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.5, 7.0, (2, 8, 16))  # 1.3x stays below the 10 m clip
    pred = gt * 1.3
    for sums in (range_bin_sums, latitude_bin_sums):
        whole = sum(b["ratio"] * b["pixels"] for b in _metrics_of(sums, pred, gt) if b["pixels"])
        assert whole / gt.size == pytest.approx(1.3)
        aligned = [b["ratio"] for b in _metrics_of(sums, pred, gt, True) if b["pixels"]]
        assert aligned == pytest.approx([1.0] * len(aligned))


def _metrics_of(sums, pred, gt, median_align=False):
    s = sums(pred, gt, median_align=median_align)
    return (range_bin_metrics if sums is range_bin_sums else latitude_bin_metrics)(s)
