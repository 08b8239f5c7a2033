"""Depth metrics, numpy and TensorFlow versions with the same semantics (DESIGN §5).

For each image: valid = GT finite and in ``[min_depth, max_depth]``; the prediction is clipped to
the same range (after optional median alignment, ``pred *= median(gt) / median(pred)`` over the
valid pixels, off by default). Metrics are computed per image over its valid pixels and averaged
over the images that have any valid pixel:

``abs_rel = mean(|p - g| / g)``, ``sq_rel = mean((p - g)² / g)``, ``rmse = sqrt(mean((p - g)²))``,
``rmse_log = sqrt(mean((ln p - ln g)²))``, ``delta_i = mean(max(p/g, g/p) < 1.25^i)``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["METRIC_NAMES", "depth_metrics", "depth_metrics_tf"]

METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3")


def _as_batch(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"depth must be (H, W), (B, H, W) or (B, H, W, 1), got {x.shape}")
    return x


def depth_metrics(
    pred, gt, min_depth: float = 0.1, max_depth: float = 10.0, median_align: bool = False
) -> dict[str, float]:
    """Depth metrics (numpy), averaged over images; ``n_images`` counts those with valid pixels.

    >>> m = depth_metrics(np.full((2, 4), 2.2), np.full((2, 4), 2.0))
    >>> round(m["abs_rel"], 6), m["delta1"]
    (0.1, 1.0)
    """
    p, g = _as_batch(pred), _as_batch(gt)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {p.shape} and {g.shape}")
    rows = []
    for pi, gi in zip(p, g, strict=True):
        with np.errstate(invalid="ignore"):
            v = np.isfinite(gi) & (gi >= min_depth) & (gi <= max_depth)
        if not v.any():
            continue
        pv, gv = pi[v], gi[v]
        pv = np.where(np.isfinite(pv), pv, max_depth)
        if median_align:
            pv = pv * (np.median(gv) / max(np.median(pv), 1e-9))
        pv = np.clip(pv, min_depth, max_depth)
        ratio = np.maximum(pv / gv, gv / pv)
        rows.append(
            [
                np.mean(np.abs(pv - gv) / gv),
                np.mean((pv - gv) ** 2 / gv),
                np.sqrt(np.mean((pv - gv) ** 2)),
                np.sqrt(np.mean((np.log(pv) - np.log(gv)) ** 2)),
                np.mean(ratio < 1.25),
                np.mean(ratio < 1.25**2),
                np.mean(ratio < 1.25**3),
            ]
        )
    if not rows:
        return {**{k: float("nan") for k in METRIC_NAMES}, "n_images": 0}
    mean = np.mean(np.array(rows), axis=0)
    return {**{k: float(x) for k, x in zip(METRIC_NAMES, mean, strict=True)}, "n_images": len(rows)}


def depth_metrics_tf(
    pred, gt, min_depth: float = 0.1, max_depth: float = 10.0, median_align: bool = False
):
    """TensorFlow version of :func:`depth_metrics` for ``(B, H, W, 1)`` tensors.

    Returns:
        A dict of scalar float32 tensors (same keys as the numpy version, ``n_images`` included).
    """

    p = tf.cast(tf.reshape(pred, [tf.shape(pred)[0], -1]), tf.float64)
    g = tf.cast(tf.reshape(gt, [tf.shape(gt)[0], -1]), tf.float64)
    v = tf.math.is_finite(g) & (g >= min_depth) & (g <= max_depth)
    vf = tf.cast(v, tf.float64)
    n = tf.reduce_sum(vf, axis=1)
    has = n > 0
    safe_g = tf.where(v, g, 1.0)
    p = tf.where(tf.math.is_finite(p), p, max_depth)
    if median_align:
        big = tf.constant(np.inf, tf.float64)

        def masked_median(x):
            xs = tf.sort(tf.where(v, x, big), axis=1)
            k = tf.cast(tf.maximum(n, 1.0), tf.int32)
            lo = tf.gather(xs, (k - 1) // 2, axis=1, batch_dims=1)
            hi = tf.gather(xs, k // 2, axis=1, batch_dims=1)
            return 0.5 * (lo + hi)

        scale = masked_median(g) / tf.maximum(masked_median(p), 1e-9)
        p = p * tf.where(has, scale, 1.0)[:, None]
    p = tf.clip_by_value(p, min_depth, max_depth)
    ratio = tf.maximum(p / safe_g, safe_g / p)
    denom = tf.maximum(n, 1.0)

    def mean(x):
        return tf.reduce_sum(tf.where(v, x, 0.0), axis=1) / denom

    per = {
        "abs_rel": mean(tf.abs(p - safe_g) / safe_g),
        "sq_rel": mean((p - safe_g) ** 2 / safe_g),
        "rmse": tf.sqrt(mean((p - safe_g) ** 2)),
        "rmse_log": tf.sqrt(mean((tf.math.log(p) - tf.math.log(safe_g)) ** 2)),
        "delta1": mean(tf.cast(ratio < 1.25, tf.float64)),
        "delta2": mean(tf.cast(ratio < 1.25**2, tf.float64)),
        "delta3": mean(tf.cast(ratio < 1.25**3, tf.float64)),
    }
    hf = tf.cast(has, tf.float64)
    n_img = tf.reduce_sum(hf)
    out = {
        k: tf.cast(tf.reduce_sum(x * hf) / tf.maximum(n_img, 1.0), tf.float32)
        for k, x in per.items()
    }
    out["n_images"] = tf.cast(n_img, tf.float32)
    return out
