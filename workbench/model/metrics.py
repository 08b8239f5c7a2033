"""Depth metrics, numpy and TensorFlow versions with the same semantics (README, *Training*).

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

__all__ = [
    "METRIC_NAMES",
    "depth_metrics",
    "metric_sums",
    "metrics_from_sums",
    "depth_metrics_tf",
]

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


def _aligned_valid(pi, gi, min_depth, max_depth, median_align):
    """Valid ground-truth pixels of one image and the clipped (aligned) prediction there."""
    with np.errstate(invalid="ignore"):
        v = np.isfinite(gi) & (gi >= min_depth) & (gi <= max_depth)
    if not v.any():
        return None, None
    pv, gv = pi[v], gi[v]
    pv = np.where(np.isfinite(pv), pv, max_depth)
    if median_align:
        pv = pv * (np.median(gv) / max(np.median(pv), 1e-9))
    return np.clip(pv, min_depth, max_depth), gv


def metric_sums(
    pred, gt, min_depth: float = 0.1, max_depth: float = 10.0, median_align: bool = False
) -> np.ndarray:
    """Per image, the sums the metrics are made of: ``(B, 8)`` rows ``[n, Σ|p-g|/g,
    Σ(p-g)²/g, Σ(p-g)², Σ(ln p - ln g)², Σδ1, Σδ2, Σδ3]`` over its valid pixels (median
    alignment, when asked, is per image). :func:`metrics_from_sums` turns them into metrics
    averaged over images (``views``) or over all pixels together (``pixels``)."""
    p, g = _as_batch(pred), _as_batch(gt)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {p.shape} and {g.shape}")
    out = np.zeros((len(p), 8))
    for i, (pi, gi) in enumerate(zip(p, g, strict=True)):
        pv, gv = _aligned_valid(pi, gi, min_depth, max_depth, median_align)
        if pv is None:
            continue
        ratio = np.maximum(pv / gv, gv / pv)
        d = pv - gv
        out[i] = [
            len(gv),
            np.sum(np.abs(d) / gv),
            np.sum(d**2 / gv),
            np.sum(d**2),
            np.sum((np.log(pv) - np.log(gv)) ** 2),
            np.sum(ratio < 1.25),
            np.sum(ratio < 1.25**2),
            np.sum(ratio < 1.25**3),
        ]
    return out


def metrics_from_sums(sums: np.ndarray, average: str = "views") -> dict[str, float]:
    """Metrics from :func:`metric_sums` rows: ``views`` averages each image's metrics (UniFuse,
    HoHoNet), ``pixels`` pools every valid pixel of every image (DAC, Argus); ``n_images``
    counts the images with valid pixels.

    >>> s = metric_sums(np.stack([np.full((2, 4), 2.2), np.full((2, 4), 2.0)]),
    ...                 np.stack([np.full((2, 4), 2.0), np.full((2, 4), 2.0)]))
    >>> round(metrics_from_sums(s, "views")["abs_rel"], 6), metrics_from_sums(s)["n_images"]
    (0.05, 2)
    """
    if average not in ("views", "pixels"):
        raise ValueError(f"average must be 'views' or 'pixels', got {average!r}")
    s = np.asarray(sums, np.float64).reshape(-1, 8)
    s = s[s[:, 0] > 0]
    if not len(s):
        return {**{k: float("nan") for k in METRIC_NAMES}, "n_images": 0}
    n_images = len(s)
    if average == "pixels":
        s = s.sum(axis=0, keepdims=True)
    n = s[:, :1]
    per = np.concatenate([s[:, 1:3] / n, np.sqrt(s[:, 3:5] / n), s[:, 5:8] / n], axis=1)
    mean = per.mean(axis=0)
    return {**{k: float(x) for k, x in zip(METRIC_NAMES, mean, strict=True)}, "n_images": n_images}


def depth_metrics(
    pred,
    gt,
    min_depth: float = 0.1,
    max_depth: float = 10.0,
    median_align: bool = False,
    average: str = "views",
) -> dict[str, float]:
    """Depth metrics (numpy), averaged over images (``views``) or pooled over their pixels
    (``pixels``); ``n_images`` counts those with valid pixels.

    >>> m = depth_metrics(np.full((2, 4), 2.2), np.full((2, 4), 2.0))
    >>> round(m["abs_rel"], 6), m["delta1"]
    (0.1, 1.0)
    """
    sums = metric_sums(pred, gt, min_depth, max_depth, median_align)
    return metrics_from_sums(sums, average)


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
