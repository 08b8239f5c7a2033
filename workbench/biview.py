"""Bi-view self-supervised depth training (``workbench train-biview``), Monodepth2-style on
panoramas with known poses.

For a pair (A, B) of the same scene with ``T_B_from_A`` known, the U-Net predicts range for both.
A's predicted points are moved into B and projected (DESIGN §1); B's image is sampled there
(bilinear, columns wrapping at the seam) to reconstruct A, and vice versa. The loss per direction
is the photometric error ``alpha * (1 - SSIM) / 2 + (1 - alpha) * L1`` on RGB at several scales,
optionally masked where the target point is visible in the source (a z-test against the source's
*predicted* range, gradient-stopped, so no ground truth is needed), plus edge-aware smoothness
of mean-normalised inverse range, plus an optional supervised L1 term (``supervised_weight``, 0
by default). Scale is metric because the pose translation is. Checkpoints, ``history.csv``,
TensorBoard, dumps and ``model.keras`` follow :mod:`workbench.train`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError

__all__ = ["warp_tf", "photometric_loss", "smoothness_loss", "biview_losses", "train", "run"]


def _tf():
    import tensorflow as tf

    return tf


def warp_tf(src, range_tgt, T_src_from_tgt):
    """Sample ``src`` (B, H, W, C) at the projections of the target's pixels.

    Args:
        src: source image(s) ``(B, H, W, C)``. range_tgt: ``(B, H, W, 1)`` metres.
        T_src_from_tgt: ``(B, 4, 4)``.

    Returns:
        ``(warped (B, H, W, C), range_in_src (B, H, W, 1), (u, v) each (B, H, W))``.
    """
    from workbench.geometry.equirect import unit_rays

    tf = _tf()
    h, w = src.shape[1], src.shape[2]
    rays = tf.constant(np.asarray(unit_rays(h, w)), tf.float32)
    p = range_tgt * rays[None]
    R, t = T_src_from_tgt[:, :3, :3], T_src_from_tgt[:, :3, 3]
    q = tf.einsum("bij,bhwj->bhwi", R, p) + t[:, None, None, :]
    r = tf.sqrt(tf.reduce_sum(q * q, -1) + 1e-12)
    x, z = q[..., 0], q[..., 2]
    # finite gradients everywhere: atan2 is undefined at x = z = 0 (straight up or down) and
    # asin's derivative is infinite at +-1
    z = tf.where((tf.abs(x) < 1e-9) & (tf.abs(z) < 1e-9), tf.ones_like(z) * 1e-9, z)
    lon = tf.atan2(x, z)
    lat = tf.asin(tf.clip_by_value(q[..., 1] / r, -1.0 + 1e-6, 1.0 - 1e-6))
    u = (lon + np.pi) * (w / (2 * np.pi)) - 0.5
    v = (lat + np.pi / 2) * (h / np.pi) - 0.5
    u0, v0 = tf.floor(u), tf.floor(v)
    fu, fv = (u - u0)[..., None], tf.clip_by_value(v - v0, 0.0, 1.0)[..., None]
    iu0 = tf.math.floormod(tf.cast(u0, tf.int32), w)
    iu1 = tf.math.floormod(iu0 + 1, w)
    iv0 = tf.clip_by_value(tf.cast(v0, tf.int32), 0, h - 1)
    iv1 = tf.clip_by_value(iv0 + 1, 0, h - 1)

    def g(iv, iu):
        return tf.gather_nd(src, tf.stack([iv, iu], -1), batch_dims=1)

    out = (g(iv0, iu0) * (1 - fu) + g(iv0, iu1) * fu) * (1 - fv) + (
        g(iv1, iu0) * (1 - fu) + g(iv1, iu1) * fu
    ) * fv
    return out, r[..., None], (u, v)


def _ssim_rgb(x, y):
    tf = _tf()

    def pool(z):
        z = tf.concat([z[:, :, -1:], z, z[:, :, :1]], 2)
        z = tf.concat([z[:, :1], z, z[:, -1:]], 1)
        return tf.nn.avg_pool2d(z, 3, 1, "VALID")

    mx, my = pool(x), pool(y)
    sx, sy = pool(x * x) - mx * mx, pool(y * y) - my * my
    sxy = pool(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sx + sy + c2))
    return tf.clip_by_value((1 - s) / 2, 0, 1)


def photometric_loss(target, warped, mask, alpha: float = 0.85):
    """Mean over masked pixels of ``alpha * (1-SSIM)/2 + (1-alpha) * |target - warped|``."""
    tf = _tf()
    per = alpha * _ssim_rgb(target, warped) + (1 - alpha) * tf.abs(target - warped)
    per = tf.reduce_mean(per, -1, keepdims=True)
    return tf.reduce_sum(per * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def smoothness_loss(range_pred, image):
    """Edge-aware smoothness of mean-normalised inverse range (columns wrap)."""
    tf = _tf()
    inv = 1.0 / tf.maximum(range_pred, 1e-3)
    inv = inv / (tf.reduce_mean(inv, [1, 2, 3], keepdims=True) + 1e-7)
    dx = tf.abs(tf.roll(inv, -1, 2) - inv)
    dy = tf.abs(inv[:, 1:] - inv[:, :-1])
    ix = tf.reduce_mean(tf.abs(tf.roll(image, -1, 2) - image), -1, keepdims=True)
    iy = tf.reduce_mean(tf.abs(image[:, 1:] - image[:, :-1]), -1, keepdims=True)
    return tf.reduce_mean(dx * tf.exp(-ix)) + tf.reduce_mean(dy * tf.exp(-iy))


def _pool(x, k: int):
    """``k x k`` average pooling (``k`` = 1: unchanged)."""
    return x if k == 1 else _tf().nn.avg_pool2d(x, k, k, "VALID")


def biview_losses(
    rgb_a,
    rgb_b,
    pred_a,
    pred_b,
    T_b_from_a,
    gt_a=None,
    mask_a=None,
    smooth_weight: float = 1e-3,
    supervised_weight: float = 0.0,
    alpha: float = 0.85,
    tol: float = 0.05,
    occlusion: str = "none",
    scales: int = 1,
) -> dict:
    """Both warping directions, smoothness and the optional supervised term.

    Args:
        rgb_a, rgb_b: ``(B, H, W, 3)`` in [0, 1]. pred_a, pred_b: ``(B, H, W, 1)`` range, metres.
        T_b_from_a: ``(B, 4, 4)``. gt_a, mask_a: ``(B, H, W, 1)`` for the supervised term.
        occlusion: ``"none"`` (every pixel counts) or ``"predicted"`` (a pixel counts only where
            it passes a z-test against the source's predicted range, ``tol`` relative). The
            z-test drops pixels predicted too far (they fall behind the source's surface) but
            keeps those predicted too near, so early in training it biases range upwards.
        scales: photometric loss averaged over this many scales (images and range average-pooled
            by 1, 2, 4, ...): coarse scales widen the basin of convergence.
    """
    from workbench.model.losses import masked_l1

    tf = _tf()
    if occlusion not in ("none", "predicted"):
        raise ValueError(f"occlusion must be 'none' or 'predicted', got {occlusion!r}")
    T_a_from_b = tf.linalg.inv(T_b_from_a)
    terms = {}
    photo = []
    for s in range(max(int(scales), 1)):
        k = 2**s
        ia, ib, pa, pb = (_pool(x, k) for x in (rgb_a, rgb_b, pred_a, pred_b))
        for tgt, src, pt, ps, T in ((ia, ib, pa, pb, T_b_from_a), (ib, ia, pb, pa, T_a_from_b)):
            warped, r_src, (u, v) = warp_tf(src, pt, T)
            vis = tf.ones_like(r_src)
            if occlusion == "predicted":
                src_range, _, _ = warp_tf(tf.stop_gradient(ps), pt, T)
                vis = tf.stop_gradient(tf.cast(r_src <= src_range * (1 + tol), tf.float32))
            photo.append(photometric_loss(tgt, warped, vis, alpha))
    terms["photo"] = tf.add_n(photo) / len(photo)
    terms["smooth"] = (smoothness_loss(pred_a, rgb_a) + smoothness_loss(pred_b, rgb_b)) / 2
    terms["supervised"] = (
        masked_l1(gt_a, pred_a, mask_a)
        if gt_a is not None and supervised_weight > 0
        else tf.constant(0.0)
    )
    terms["total"] = (
        terms["photo"] + smooth_weight * terms["smooth"] + supervised_weight * terms["supervised"]
    )
    return terms


# --------------------------------------------------------------------------- training


def _pairs(config, csv):
    from workbench.data.pairs import pair_candidates, select_pairs
    from workbench.data.splits import read_split_csv

    records, root = read_split_csv(csv)
    cache = Path(config.logdir) / f"pairs_{Path(csv).stem}.parquet"
    pairs = select_pairs(
        pair_candidates(records, root, cache=cache), config.min_overlap, config.max_overlap
    )
    if pairs.empty:
        raise WorkbenchError(
            f"no view pairs with overlap in [{config.min_overlap}, {config.max_overlap}]", csv
        )
    return records, root, pairs


def train(config) -> dict:
    """Train as configured (a :class:`workbench.configs.BiviewConfig`); returns the summary."""
    from workbench.config import save_config, to_dict
    from workbench.train import (
        _read_csv,
        _write_csv_atomic,
        build_model,
        check_resume,
        make_optimizer,
        restore_latest,
        save_keras_atomic,
        write_dumps,
    )

    logdir = Path(config.logdir)
    check_resume(config, logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    records, root, pairs = _pairs(config, config.train_csv)
    import keras
    import tensorflow as tf

    from workbench.data.pipeline import Augment, augment_sample, load_sample, sample_seed
    from workbench.geometry.pose import relative_pose

    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    manager, start = restore_latest(config, model, optimizer, logdir)
    save_config(config, logdir / "config.json")
    cache: dict[int, dict] = {}
    colour = Augment(brightness=0.1, contrast=0.1, saturation=0.1)

    def sample(i):
        if i not in cache:
            cache[i] = load_sample(records[i], root, config.height)
        return cache[i]

    def batch_at(step):
        rng = np.random.default_rng([config.seed, step])
        rows = pairs.iloc[rng.integers(len(pairs), size=config.batch)]
        out = {k: [] for k in ("rgb_a", "rgb_b", "gt_a", "T")}
        for j, row in enumerate(rows.itertuples()):
            a, b = sample(row.idx_a), sample(row.idx_b)
            seed = sample_seed(config.seed, step * config.batch + j)
            out["rgb_a"].append(augment_sample(a, colour, seed)["rgb"])
            out["rgb_b"].append(augment_sample(b, colour, seed + 1)["rgb"])
            out["gt_a"].append(a["range"][..., None])
            out["T"].append(relative_pose(a["pose"], b["pose"]).astype(np.float32))
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}

    @tf.function
    def step_fn(rgb_a, rgb_b, gt_a, T):
        with tf.GradientTape() as tape:
            pred = model(tf.concat([rgb_a, rgb_b], 0), training=True)
            n = tf.shape(rgb_a)[0]
            mask = tf.cast(gt_a > 0, tf.float32)
            terms = biview_losses(
                rgb_a,
                rgb_b,
                pred[:n],
                pred[n:],
                T,
                gt_a,
                mask,
                config.smooth_weight,
                config.supervised_weight,
                occlusion=config.occlusion,
                scales=config.scales,
            )
        grads = tape.gradient(terms["total"], model.trainable_variables)
        # a non-finite step (degenerate geometry in one sample) is skipped, not applied
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        terms["skipped"] = 1.0 - tf.cast(finite, tf.float32)
        return terms

    history = _read_csv(logdir / "history.csv", start)
    tb = tf.summary.create_file_writer(str(logdir / "tb" / "train"))
    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=start, desc="biview", disable=not config.progress)
    acc, n_log, t_log, t0 = {}, 0, time.perf_counter(), time.perf_counter()
    fields = ("step", "total", "photo", "smooth", "supervised", "skipped", "lr", "samples_per_s")
    step = start
    while step < config.steps:
        b = batch_at(step)
        terms = step_fn(b["rgb_a"], b["rgb_b"], b["gt_a"], b["T"])
        step += 1
        n_log += 1
        bar.update(1)
        for k, v in terms.items():
            acc[k] = acc.get(k, 0.0) + float(v)
        if step % config.log_every == 0 or step == config.steps:
            lr = optimizer.learning_rate
            row = {
                "step": step,
                **{k: round(v / n_log, 6) for k, v in acc.items()},
                "lr": float(lr.numpy() if hasattr(lr, "numpy") else lr),
                "samples_per_s": round(n_log * config.batch / (time.perf_counter() - t_log), 2),
            }
            history.append(row)
            with tb.as_default(step=step):
                for k in ("total", "photo", "smooth", "supervised"):
                    tf.summary.scalar(f"loss/{k}", row[k], step=step)
            acc, n_log, t_log = {}, 0, time.perf_counter()
        if step % config.ckpt_every == 0 or step == config.steps:
            _write_csv_atomic(logdir / "history.csv", fields, history)
            manager.save(checkpoint_number=step)
    bar.close()
    wall = time.perf_counter() - t0
    s = sample(int(pairs.iloc[0].idx_a))
    from workbench.train import predict_range

    write_dumps(
        logdir / "dumps",
        f"{step:07d}",
        s["rgb"],
        predict_range(model, s["rgb"][None])[0],
        s["range"],
        s["pose"],
    )
    save_keras_atomic(model, logdir / "model.keras")
    summary = {
        "steps": step,
        "resumed_from": start,
        "wall_s": round(wall, 2),
        "pairs": len(pairs),
        "final": history[-1] if history else {},
        "config": to_dict(config),
    }
    if config.val_csv:
        from workbench.data.splits import read_split_csv
        from workbench.evaluate import evaluate
        from workbench.infer import KerasBackend, Predictor

        vrec, vroot = read_split_csv(config.val_csv)
        vrec = vrec[: config.val_views] if config.val_views else vrec
        pred = Predictor(KerasBackend(model, logdir))
        summary["val"], _, _ = evaluate(pred, vrec, vroot)
        summary["val_median_aligned"], _, _ = evaluate(pred, vrec, vroot, median_align=True)
    from workbench.io import write_text_atomic

    write_text_atomic(logdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def run(config) -> int:
    s = train(config)
    print(
        json.dumps(
            {k: s[k] for k in ("steps", "wall_s", "pairs")}
            | {"val": {k: round(v, 4) for k, v in s.get("val", {}).items()}}
        )
    )
    return 0
