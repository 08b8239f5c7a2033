import numpy as np
import pytest
import tensorflow as tf

from workbench.geometry.analytic import box_room
from workbench.geometry.normals import range_to_normals
from workbench.model.losses import (
    masked_l1,
    normal_loss,
    range_to_normals_tf,
    ssim_loss,
    total_loss,
)


def _t(x):
    return tf.constant(np.asarray(x, np.float32).reshape(1, *np.shape(x)[-2:], 1))


def test_l1_hand_value_and_mask():
    gt = _t([[1.0, 2.0, 0.0, 4.0]])
    pred = _t([[2.0, 2.0, 100.0, 3.0]])
    mask = tf.cast(gt > 0, tf.float32)
    assert float(masked_l1(gt, pred, mask)) == pytest.approx(2 / 3)


def test_log_l1_hand_value_mask_and_scale_invariance():
    gt = _t([[1.0, 2.0, 0.0, 4.0]])
    pred = _t([[2.0, 2.0, 100.0, 2.0]])
    mask = tf.cast(gt > 0, tf.float32)
    # |log 2| + 0 + |log 1/2| over 3 valid pixels; the invalid one (GT 0) adds nothing
    assert float(masked_l1(gt, pred, mask, log=True)) == pytest.approx(2 * np.log(2) / 3)
    # relative: the same ratios at ten times the range give the same loss
    assert float(masked_l1(gt * 10, pred * 10, mask, log=True)) == pytest.approx(
        2 * np.log(2) / 3, rel=1e-5
    )


def test_log_l1_finite_gradients_on_invalid_and_zero_predictions():
    gt = np.full((4, 8), 2.0, np.float32)
    gt[1, 2:5] = 0.0
    gt, pred = _t(gt), tf.Variable(tf.zeros((1, 4, 8, 1)))  # range 0 predicted everywhere
    with tf.GradientTape() as tape:
        loss = total_loss(gt, pred, tf.cast(gt > 0, tf.float32), log_l1=True)["l1"]
    assert np.isfinite(float(loss)) and np.isfinite(tape.gradient(loss, pred).numpy()).all()


def test_tf_normals_match_numpy():
    r, _ = box_room(32, centre=(0.3, 0.1, -0.2))
    r[5, 7] = 0
    n_np = range_to_normals(r)
    n_tf, ok = range_to_normals_tf(_t(r))
    assert np.allclose(n_tf.numpy()[0], n_np, atol=1e-4)
    assert np.array_equal(ok.numpy()[0, ..., 0] > 0, np.any(n_np != 0, -1))


def test_losses_zero_at_truth_positive_elsewhere():
    r, _ = box_room(16)
    gt = _t(r)
    mask = tf.ones_like(gt)
    for fn in (masked_l1, normal_loss, ssim_loss):
        assert float(fn(gt, gt, mask)) == pytest.approx(0, abs=1e-5)
        assert float(fn(gt, gt * 1.3 + 0.2 * tf.sin(gt * 9), mask)) > 1e-3


def test_invalid_pixels_never_contribute():
    r, _ = box_room(16)
    gt = _t(r)
    mask = np.ones_like(r)
    mask[4:8, 10:20] = 0
    mask = _t(mask)
    pred = gt.numpy().copy()
    pred[0, 4:8, 10:20] = 50.0  # garbage only where the GT is invalid
    pred = tf.constant(pred)
    assert float(masked_l1(gt, pred, mask)) == 0
    assert float(ssim_loss(gt, pred, mask)) < 1e-5


def test_all_invalid_batch_has_finite_zero_gradients():
    gt = tf.zeros((2, 8, 16, 1))
    mask = tf.zeros_like(gt)
    pred = tf.Variable(tf.ones_like(gt) * 2.0)
    with tf.GradientTape() as tape:
        loss = total_loss(gt, pred, mask, rate=(1.0, 0.5, 0.5), ssim_k=3)["total"]
    g = tape.gradient(loss, pred)
    assert float(loss) == 0 and np.isfinite(g.numpy()).all()


def test_total_weights_terms():
    r, _ = box_room(16)
    gt, mask = _t(r), tf.ones((1, 16, 32, 1))
    pred = gt * 1.1
    t = total_loss(gt, pred, mask, rate=(2.0, 0.0, 3.0), ssim_k=5)
    assert float(t["total"]) == pytest.approx(2 * float(t["l1"]) + 3 * float(t["ssim"]), rel=1e-5)
    with pytest.raises(ValueError, match="ssim_k must be a positive odd"):
        ssim_loss(gt, pred, mask, ssim_k=4)
    with pytest.raises(ValueError, match="rate must have 3"):
        total_loss(gt, pred, mask, rate=(1.0,))
