"""Bi-view self-supervised depth training (``workbench train-biview``).

Pairs of views of one scene with overlap in ``[min_overlap, max_overlap]``
(:mod:`workbench.data.pairs`) train the U-Net through the losses of
:mod:`workbench.model.biview_losses`. The batch of step ``s`` is a pure function of
``(seed, s)``, so ``--resume`` continues exactly; checkpoints, ``history.csv``, TensorBoard,
dumps and ``model.keras`` follow :mod:`workbench.training.loop`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from workbench.configs import MODEL_FIELDS, BiviewConfig, save_config, to_dict
from workbench.data.pairs import training_pairs
from workbench.data.pipeline import Augment, augment_sample, load_sample, sample_seed
from workbench.data.splits import read_split_csv
from workbench.geometry.pose import relative_pose
from workbench.io import claim_output_folder, write_text_atomic
from workbench.model.biview_losses import biview_losses
from workbench.model.evaluate import evaluate
from workbench.model.predictor import KerasBackend, Predictor, predict_range
from workbench.model.saving import save_keras_atomic
from workbench.model.unet import build_from_config
from workbench.training.loop import (
    Checkpoints,
    RunLog,
    learning_rate,
    make_optimizer,
    removed_if_it_fails_early,
    run_steps,
    train_until_stopped,
    two_view_run_checks,
)
from workbench.viz.dumps import write_dumps

__all__ = ["train", "run"]

FIELDS = ("step", "total", "photo", "smooth", "supervised", "skipped", "lr", "samples_per_s")
COLOUR = Augment(brightness=0.1, contrast=0.1, saturation=0.1)


def _pairs(config: BiviewConfig, csv: str):
    records, root = read_split_csv(csv)
    cache = Path(config.logdir) / f"pairs_{Path(csv).stem}.parquet"
    pairs = training_pairs(records, root, config.min_overlap, config.max_overlap, cache, csv)
    return records, root, pairs


class _PairBatches:
    """Batch of step ``s``: ``config.batch`` pairs drawn with ``rng(seed, s)``, colour-jittered."""

    def __init__(self, config: BiviewConfig, records, root, pairs):
        self.c, self.records, self.root, self.pairs = config, records, root, pairs
        self.cache: dict[int, dict] = {}

    def sample(self, i: int) -> dict:
        if i not in self.cache:
            self.cache[i] = load_sample(self.records[i], self.root, self.c.height)
        return self.cache[i]

    def __call__(self, step: int) -> dict:
        c = self.c
        rng = np.random.default_rng([c.seed, step])
        rows = self.pairs.iloc[rng.integers(len(self.pairs), size=c.batch)]
        out = {k: [] for k in ("rgb_a", "rgb_b", "gt_a", "T")}
        for j, row in enumerate(rows.itertuples()):
            a, b = self.sample(row.idx_a), self.sample(row.idx_b)
            seed = sample_seed(c.seed, step * c.batch + j)
            out["rgb_a"].append(augment_sample(a, COLOUR, seed)["rgb"])
            out["rgb_b"].append(augment_sample(b, COLOUR, seed + 1)["rgb"])
            out["gt_a"].append(a["range"][..., None])
            out["T"].append(relative_pose(a["pose"], b["pose"]).astype(np.float32))
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}


def _train_step(config: BiviewConfig, model: keras.Model, optimizer):
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

    return step_fn


def _validate(config: BiviewConfig, model: keras.Model, logdir: Path) -> dict:
    if not config.val_csv:
        return {}
    vrec, vroot = read_split_csv(config.val_csv)
    vrec = vrec[: config.val_views] if config.val_views else vrec
    pred = Predictor(KerasBackend(model, logdir))
    val, _, _ = evaluate(pred, vrec, vroot)
    aligned, _, _ = evaluate(pred, vrec, vroot, median_align=True)
    return {"val": val, "val_median_aligned": aligned}


def train(config: BiviewConfig, stop=None) -> dict:
    """Train as configured; returns the summary (also written to ``summary.json``), or
    ``{"steps", "stopped": True}`` once ``stop()`` is true (a checkpoint at that step)."""
    with removed_if_it_fails_early(Path(config.logdir)):
        return _train(config, stop)


def _train(config: BiviewConfig, stop=None) -> dict:
    logdir = Path(config.logdir)
    done = two_view_run_checks(config, MODEL_FIELDS, "bi-view training")  # no folder made yet
    if done is not None:
        return done
    claim_output_folder(logdir, "train-biview", "--logdir")
    records, root, pairs = _pairs(config, config.train_csv)
    keras.utils.set_random_seed(config.seed)
    model = build_from_config(config)
    optimizer = make_optimizer(config)
    optimizer.build(model.trainable_variables)
    ckpt = Checkpoints(logdir, config.keep_ckpts, model=model, optimizer=optimizer)
    start = ckpt.restore(config.resume)
    save_config(config, logdir / "config.json")
    batches, step_fn = (
        _PairBatches(config, records, root, pairs),
        _train_step(config, model, optimizer),
    )
    log = RunLog(
        logdir, FIELDS, start, config.steps, config.batch, desc="biview", progress=config.progress
    )
    t0 = time.perf_counter()
    step = run_steps(
        lambda s: step_fn(**batches(s)),
        log,
        ckpt,
        start=start,
        config=config,
        lr_fn=lambda: learning_rate(optimizer),
        stop=stop,
    )
    if step < config.steps:  # Ctrl-C or SIGTERM: the checkpoint of this step is saved
        return {"steps": step, "stopped": True}
    wall = time.perf_counter() - t0
    s = batches.sample(int(pairs.iloc[0].idx_a))
    pred = predict_range(model, s["rgb"][None])[0]
    write_dumps(logdir / "dumps", f"{step:07d}", s["rgb"], pred, s["range"], s["pose"])
    save_keras_atomic(model, logdir / "model.keras")
    summary = {
        "steps": step,
        "resumed_from": start,
        "wall_s": round(wall, 2),
        "pairs": len(pairs),
        "final": log.last,
        "config": to_dict(config),
    }
    summary.update(_validate(config, model, logdir))
    write_text_atomic(logdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def run(config: BiviewConfig) -> int:
    """``workbench train-biview``: prints steps, wall time, pairs and validation metrics."""
    s = train_until_stopped(train, config)
    val = {k: round(v, 4) for k, v in s.get("val", {}).items()}
    print(json.dumps({k: s[k] for k in ("steps", "wall_s", "pairs")} | {"val": val}))
    return 0
