"""Relative-pose training (``workbench train-pose``), compared with a cross-correlation yaw
baseline and the identity.

Training pairs come from :mod:`workbench.data.pairs`; with ``random_yaw`` B is rolled by a random
number of columns and its pose updated, so relative yaw covers the whole circle. The batch of
step ``s`` is a pure function of ``(seed, s)``; checkpoints (model, optimizer, step),
``--resume``, ``history.csv`` and TensorBoard follow :mod:`workbench.training.loop`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from workbench.configs import PoseConfig, save_config, to_dict
from workbench.data.pairs import training_pairs
from workbench.data.pipeline import load_sample
from workbench.data.splits import read_split_csv
from workbench.geometry.equirect import yaw_matrix
from workbench.geometry.pose import relative_pose
from workbench.io import claim_output_folder, write_text_atomic
from workbench.model.posenet import (
    baseline_yaw,
    build_posenet,
    pose_errors,
    pose_losses,
    rotation_from_6d,
)
from workbench.model.saving import save_keras_atomic
from workbench.training.loop import (
    Checkpoints,
    RunLog,
    learning_rate,
    removed_if_it_fails_early,
    run_steps,
    train_until_stopped,
    two_view_run_checks,
)

__all__ = ["PairSource", "train", "run"]

FIELDS = ("step", "rotation", "translation", "yaw_ce", "total", "lr", "samples_per_s")
NET_FIELDS = ("height", "width")


class PairSource:
    """View pairs of a split CSV and batches of them: ``(x (n, H, 2H, 6), T_B_from_A (n, 4, 4),
    [(rgb_a, rgb_b)])``, B rolled by a random yaw when ``random_yaw``."""

    def __init__(self, config: PoseConfig, csv: str, logdir: Path):
        self.c = config
        self.records, self.root = read_split_csv(csv)
        cache = logdir / f"pairs_{Path(csv).stem}.parquet"
        self.pairs = training_pairs(
            self.records, self.root, config.min_overlap, config.max_overlap, cache, csv
        )
        self.cache: dict[int, dict] = {}

    def sample(self, i: int) -> dict:
        if i not in self.cache:
            self.cache[i] = load_sample(self.records[i], self.root, self.c.height)
        return self.cache[i]

    def batch(self, rng: np.random.Generator, n: int):
        rows = self.pairs.iloc[rng.integers(len(self.pairs), size=n)]
        xs, Ts, ab = [], [], []
        for row in rows.itertuples():
            a, b = self.sample(row.idx_a), self.sample(row.idx_b)
            rgb_b, Tb = b["rgb"], b["pose"]
            if self.c.random_yaw:
                k = int(rng.integers(rgb_b.shape[1]))
                rgb_b = np.roll(rgb_b, k, axis=1)
                R = np.eye(4)
                R[:3, :3] = yaw_matrix(-k * 2 * np.pi / rgb_b.shape[1])
                Tb = Tb @ R
            xs.append(np.concatenate([a["rgb"], rgb_b], -1))
            Ts.append(relative_pose(a["pose"], Tb))
            ab.append((a["rgb"], rgb_b))
        return np.stack(xs).astype(np.float32), np.stack(Ts).astype(np.float32), ab


def _train_step(config: PoseConfig, model: keras.Model, opt):
    @tf.function
    def step_fn(x, T):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            terms = pose_losses(out, T, config.translation_weight, config.yaw_ce_weight)
        g = tape.gradient(terms["total"], model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables, strict=True))
        return terms

    return step_fn


def _median(d: dict) -> dict:
    """Medians of :func:`pose_errors` over the pairs that define each (``None``, JSON
    ``null``, where none does: every pair taken from one spot has no translation to compare)."""
    return {f"median_{k}": round(float(np.median(v[~np.isnan(v)])), 3) if (~np.isnan(v)).any()
            else None for k, v in d.items()}  # fmt: skip


def validate(model: keras.Model, source: PairSource) -> dict:
    """Median errors of the network, the cross-correlation yaw baseline and the identity on up
    to 64 validation pairs (a fixed draw)."""
    x, T, ab = source.batch(np.random.default_rng(12345), min(64, len(source.pairs) * 2))
    T = T.astype(np.float64)
    out = model.predict(x, verbose=0)
    R = np.asarray(rotation_from_6d(tf.constant(out)))
    zeros = np.zeros((len(ab), 3))
    base_R = np.stack([yaw_matrix(-baseline_yaw(a, b)) for a, b in ab])
    identity = np.repeat(np.eye(3)[None], len(ab), 0)
    return {
        "val_pairs": len(ab),
        "network": _median(pose_errors(R, out[:, 6:9], T)),
        "baseline_yaw_xcorr": _median(pose_errors(base_R, zeros, T)),
        "identity": _median(pose_errors(identity, zeros, T)),
    }


def train(config: PoseConfig, stop=None) -> dict:
    """Train as configured; returns the summary (also written to ``summary.json``), or
    ``{"steps", "stopped": True}`` once ``stop()`` is true (a checkpoint at that step)."""
    with removed_if_it_fails_early(Path(config.logdir)):
        return _train(config, stop)


def _train(config: PoseConfig, stop=None) -> dict:
    logdir = Path(config.logdir)
    done = two_view_run_checks(config, NET_FIELDS, "pose training")  # no folder made yet
    if done is not None:
        return done
    claim_output_folder(logdir, "train-pose", "--logdir")
    source = PairSource(config, config.train_csv, logdir)
    keras.utils.set_random_seed(config.seed)
    model = build_posenet(config.height, config.width)
    opt = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(config.lr, config.steps, alpha=0.05)
    )
    opt.build(model.trainable_variables)
    ckpt = Checkpoints(logdir, config.keep_ckpts, model=model, optimizer=opt)
    start = ckpt.restore(config.resume)
    save_config(config, logdir / "config.json")
    step_fn = _train_step(config, model, opt)

    def one_step(step: int) -> dict:
        x, T, _ = source.batch(np.random.default_rng([config.seed, step]), config.batch)
        return step_fn(x, T)

    log = RunLog(
        logdir, FIELDS, start, config.steps, config.batch, desc="pose", progress=config.progress
    )
    t0 = time.perf_counter()
    step = run_steps(
        one_step, log, ckpt, start=start, config=config, lr_fn=lambda: learning_rate(opt), stop=stop
    )
    if step < config.steps:  # Ctrl-C or SIGTERM: the checkpoint of this step is saved
        return {"steps": step, "stopped": True}
    save_keras_atomic(model, logdir / "model.keras")
    summary = {
        "steps": step,
        "resumed_from": start,
        "wall_s": round(time.perf_counter() - t0, 2),
        "train_pairs": len(source.pairs),
        "final": log.last,
        "config": to_dict(config),
    }
    if config.val_csv:
        summary.update(validate(model, PairSource(config, config.val_csv, logdir)))
    write_text_atomic(logdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def run(config: PoseConfig) -> int:
    """``workbench train-pose``: prints steps, wall time and the median errors."""
    s = train_until_stopped(train, config)
    print(json.dumps({k: s.get(k) for k in ("steps", "wall_s", "network", "baseline_yaw_xcorr")}))
    return 0
