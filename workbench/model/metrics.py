"""Depth metrics, numpy and TensorFlow versions with the same semantics (README, *Training*).

For each image: valid = GT finite and in ``[min_depth, max_depth]``; the prediction is clipped to
the same range (after optional median alignment, ``pred *= median(gt) / median(pred)`` over the
valid pixels, off by default). Metrics are computed per image over its valid pixels and averaged
over the images that have any valid pixel:

``abs_rel = mean(|p - g| / g)``, ``sq_rel = mean((p - g)² / g)``, ``rmse = sqrt(mean((p - g)²))``,
``rmse_log = sqrt(mean((ln p - ln g)²))``, ``delta_i = mean(max(p/g, g/p) < 1.25^i)``.

Breakdowns (:func:`range_bin_sums`, :func:`latitude_bin_sums`) pool every pixel of every image
per bin of true range (metres) or of latitude (degrees, -90 straight up, +90 straight down, row
centres of an equirect image) and add ``ratio = exp(mean(ln p - ln g))``, the geometric mean of
``p / g``: above 1 the model puts that part of the scene too far (a floor predicted deeper
than the walls shows as a ``ratio`` of the downward bands above the horizon's).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "METRIC_NAMES",
    "depth_metrics",
    "metric_sums",
    "metrics_from_sums",
    "depth_metrics_tf",
    "RANGE_EDGES_M",
    "range_bin_sums",
    "range_bin_metrics",
    "LATITUDE_EDGES_DEG",
    "latitude_bin_sums",
    "latitude_bin_metrics",
]

METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3")
RANGE_EDGES_M = (0.5, 1.0, 2.0, 4.0)  # inner edges of the true-range bins, metres
LATITUDE_EDGES_DEG = (-45.0, -15.0, 15.0, 45.0)  # inner edges of the latitude bands (+ down)


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
    """The clipped (aligned) prediction and the ground truth on the valid pixels of one image,
    and their mask: ``(pv, gv, valid)``; ``(None, None, valid)`` when none is valid."""
    with np.errstate(invalid="ignore"):
        v = np.isfinite(gi) & (gi >= min_depth) & (gi <= max_depth)
    if not v.any():
        return None, None, v
    pv, gv = pi[v], gi[v]
    pv = np.where(np.isfinite(pv), pv, max_depth)
    if median_align:
        pv = pv * (np.median(gv) / max(np.median(pv), 1e-9))
    return np.clip(pv, min_depth, max_depth), gv, v


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
        pv, gv, _ = _aligned_valid(pi, gi, min_depth, max_depth, median_align)
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


def _bin_sums(p, g, key, edges, min_depth, max_depth, median_align) -> np.ndarray:
    """``(B, len(edges) + 1, 4)`` rows ``[n, Σ|p-g|/g, Σδ1, Σ(ln p - ln g)]`` per bin of
    ``key(gi, valid) -> values`` (the binned quantity of each valid pixel)."""
    p, g = _as_batch(p), _as_batch(g)
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {p.shape} and {g.shape}")
    n = len(edges) + 1
    out = np.zeros((len(p), n, 4))
    for i, (pi, gi) in enumerate(zip(p, g, strict=True)):
        pv, gv, valid = _aligned_valid(pi, gi, min_depth, max_depth, median_align)
        if pv is None:
            continue
        k = np.searchsorted(np.asarray(edges, np.float64), key(gi, valid), side="right")
        hit = np.maximum(pv / gv, gv / pv) < 1.25
        out[i, :, 0] = np.bincount(k, minlength=n)
        out[i, :, 1] = np.bincount(k, np.abs(pv - gv) / gv, minlength=n)
        out[i, :, 2] = np.bincount(k, hit, minlength=n)
        out[i, :, 3] = np.bincount(k, np.log(pv / gv), minlength=n)
    return out


def range_bin_sums(
    pred,
    gt,
    edges=RANGE_EDGES_M,
    min_depth: float = 0.1,
    max_depth: float = 10.0,
    median_align: bool = False,
) -> np.ndarray:
    """Per image, the error sums of its valid pixels split by their true range: ``(B,
    len(edges) + 1, 4)`` rows ``[n, Σ|p-g|/g, Σδ1, Σ(ln p - ln g)]``, bin ``k`` holding
    ``edges[k-1] <= g < edges[k]`` (metres; the first bin starts at ``min_depth``, the last ends
    at ``max_depth``). Validity, clipping and median alignment (over the whole image) are those
    of :func:`metric_sums`.

    >>> s = range_bin_sums(np.array([[0.3, 3.3]]), np.array([[0.4, 3.0]]))
    >>> s[:, :, 0].tolist(), s[:, :, 1].round(4).tolist()
    ([[1.0, 0.0, 0.0, 1.0, 0.0]], [[0.25, 0.0, 0.0, 0.1, 0.0]])
    """
    return _bin_sums(pred, gt, lambda gi, v: gi[v], edges, min_depth, max_depth, median_align)


def latitude_bin_sums(
    pred,
    gt,
    edges_deg=LATITUDE_EDGES_DEG,
    min_depth: float = 0.1,
    max_depth: float = 10.0,
    median_align: bool = False,
) -> np.ndarray:
    """As :func:`range_bin_sums`, split by the latitude of each pixel's row instead (degrees,
    -90 up, +90 down, row centres; ``edges_deg`` inner edges): ``(B, len(edges_deg) + 1, 4)``.

    >>> s = latitude_bin_sums(np.array([[2.0], [1.0]]), np.array([[1.0], [1.0]]), (0.0,))
    >>> s[0, :, 0].tolist(), s[0, :, 1].tolist()  # the upper row (-45°) is off by 100 %
    ([1.0, 1.0], [1.0, 0.0])
    """

    def latitude(gi, valid):
        h = gi.shape[0]
        lat = (np.arange(h) + 0.5) / h * 180.0 - 90.0
        return np.broadcast_to(lat[:, None], gi.shape)[valid]

    return _bin_sums(pred, gt, latitude, edges_deg, min_depth, max_depth, median_align)


def _bin_metrics(sums, bounds, key: str) -> list[dict]:
    s = np.asarray(sums, np.float64).reshape(-1, len(bounds) - 1, 4)
    total = s[:, :, 0].sum(axis=0)
    out = []
    for k, n in enumerate(total):
        out.append(
            {
                key: [float(bounds[k]), float(bounds[k + 1])],
                "pixels": int(n),
                "share": float(n / max(total.sum(), 1.0)),
                "views": int((s[:, k, 0] > 0).sum()),
                "abs_rel": float(s[:, k, 1].sum() / n) if n else None,
                "delta1": float(s[:, k, 2].sum() / n) if n else None,
                "ratio": float(np.exp(s[:, k, 3].sum() / n)) if n else None,
            }
        )
    return out


def range_bin_metrics(
    sums, edges=RANGE_EDGES_M, min_depth: float = 0.1, max_depth: float = 10.0
) -> list[dict]:
    """AbsRel, δ1 and ``ratio`` (geometric mean of pred / true) per true-range bin from
    :func:`range_bin_sums` rows, every pixel of every image pooled (a bin holds few pixels of
    most images): one dict per bin, ``range_m`` its ``[lo, hi)`` metres, ``pixels`` its valid
    pixels and ``share`` their share of all valid pixels (ground truth within ``[min_depth,
    max_depth]``), ``views`` the images with pixels in it (AbsRel, δ1 and ratio None, JSON
    ``null``, where it has none).

    >>> m = range_bin_metrics(range_bin_sums(np.array([[0.3, 3.3]]), np.array([[0.4, 3.0]])))
    >>> m[0]["range_m"], round(m[0]["abs_rel"], 4), m[0]["share"], m[1]["views"]
    ([0.1, 0.5], 0.25, 0.5, 0)
    >>> round(m[0]["ratio"], 4), round(m[3]["ratio"], 4)
    (0.75, 1.1)
    """
    return _bin_metrics(sums, (min_depth, *edges, max_depth), "range_m")


def latitude_bin_metrics(sums, edges_deg=LATITUDE_EDGES_DEG) -> list[dict]:
    """:func:`range_bin_metrics` of :func:`latitude_bin_sums` rows: ``latitude_deg`` holds each
    band's ``[lo, hi)`` degrees (-90 up, +90 down).

    >>> s = latitude_bin_sums(np.array([[2.0], [1.0]]), np.array([[1.0], [1.0]]), (0.0,))
    >>> [(b["latitude_deg"], b["ratio"]) for b in latitude_bin_metrics(s, (0.0,))]
    [([-90.0, 0.0], 2.0), ([0.0, 90.0], 1.0)]
    """
    return _bin_metrics(sums, (-90.0, *edges_deg, 90.0), "latitude_deg")


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
    """TensorFlow version of :func:`depth_metrics` for ``(B, H, W, 1)`` tensors (TensorFlow is
    imported here: the numpy metrics load without it).

    Returns:
        A dict of scalar float32 tensors (same keys as the numpy version, ``n_images`` included).
    """
    import tensorflow as tf

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
