"""Supervised training of the equirect depth U-Net (``workbench train``).

One :class:`~workbench.configs.TrainConfig` drives everything and is saved as ``config.json`` in
the run folder; :func:`train` reads as its steps: records → strategy → model and optimizer
(restored with ``--resume``, warm-started with ``--init-from``) → input stream → step function →
:func:`workbench.training.loop.run_steps` with validation and dump hooks → final files.

- **data**: :func:`workbench.data.pipeline.make_dataset` with ``start = step * batch``, so a
  resumed run sees exactly the batches an uninterrupted one would have seen.
- **logs**: TensorBoard scalars (every loss term, total, learning rate, samples/s, validation
  metrics) and images (RGB, GT, prediction, normals, error); ``history.csv`` and
  ``val_metrics.csv`` for notebooks; visual dumps ``dumps/<step>_{rgb,depth_gt,depth_pred,
  norm_pred,depth_err}.png`` and ``<step>_pc.ply``; the final ``model.keras`` and
  ``summary.json`` (written first with ``"finished": false`` and the training median range, the
  constant baseline of every evaluation, so a run stopped before its end has it too).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from workbench.configs import TrainConfig, config_hash, save_config, to_dict
from workbench.data.pipeline import Augment, cache_capacity, load_sample, make_dataset
from workbench.data.splits import (
    read_split_csv,
    require_split_depth,
    warn_if_split_implausible,
)
from workbench.errors import WorkbenchError
from workbench.io import (
    check_model_path,
    check_output_owner,
    claim_output_folder,
    write_csv_atomic,
    write_text_atomic,
)
from workbench.model.evaluate import evaluate
from workbench.model.losses import total_loss
from workbench.model.predictor import KerasBackend, Predictor, predict_range
from workbench.model.saving import load_source_model, save_keras_atomic
from workbench.model.unet import build_from_config
from workbench.training.loop import (
    Checkpoints,
    RunLog,
    check_logdir_outside,
    check_resume,
    check_val_views,
    finished_summary,
    learning_rate,
    make_optimizer,
    make_strategy,
    read_rows,
    removed_if_it_fails_early,
    run_steps,
    train_until_stopped,
)
from workbench.viz.dumps import dump_images, write_dumps

__all__ = ["check_config", "init_weights", "train", "run"]

HISTORY_FIELDS = ("step", "total", "l1", "normal", "ssim", "lr", "samples_per_s")
AUGMENT = Augment(yaw_roll=True, flip=True, brightness=0.2, contrast=0.2, saturation=0.2, gamma=0.2)


def check_config(config: TrainConfig) -> None:
    """The ranges one flag alone cannot state (each is checked by its config field): raises a
    :class:`WorkbenchError` naming the flag."""
    div = 2**config.model_depth
    checks = [
        (config.height % div == 0, "--height",
         f"{config.height} must be divisible by 2**--model-depth = {div}"),
        (config.ssim_k % 2 == 1, "--ssim-k", f"must be odd, got {config.ssim_k}"),
        (config.ssim_k <= config.height // 2, "--ssim-k",
         f"{config.ssim_k} is wider than half the training height {config.height}"),
        (len(config.rate) == 3, "--rate", f"must be 3 weights, got {config.rate}"),
    ]  # fmt: skip
    for ok, flag, msg in checks:
        if not ok:
            raise WorkbenchError(msg, flag)


def init_weights(model: keras.Model, source: str | os.PathLike) -> None:
    """Copy every weight of the model in ``source`` (run folder or ``.keras``) into ``model``.

    The U-Net's weights do not depend on the input height (latitude channels are computed from
    it), so a model trained at ``H`` initialises one at ``2H``: progressive resizing.

    Raises:
        WorkbenchError: naming ``source`` when it cannot be read or its weights differ in number
            or shape (a different ``model_width/depth/coords/context``).
    """
    if not Path(source).exists():
        raise WorkbenchError("init_from must be a run folder or an existing .keras file", source)
    src, _ = load_source_model(source, what="init_from")
    want = [tuple(w.shape) for w in model.weights]
    have = [tuple(w.shape) for w in src.weights]
    if want != have:
        first = next(
            (
                f"{w.path}: {a} vs {b}"
                for w, a, b in zip(model.weights, want, have, strict=False)
                if a != b
            ),
            f"{len(have)} weight arrays, this model has {len(want)}",
        )
        raise WorkbenchError(f"weights do not fit this model ({first})", source)
    model.set_weights(src.get_weights())


# measured with the default model's architecture at 64x128, batch 8 (README, *Training*)
MIXED_PRECISION_ON_CPU = (
    "workbench: warning: --mixed-precision: no GPU, so float16 is emulated on the CPU: "
    "3x slower per step than float32 on an AMD EPYC (AVX2), ~20x on an Intel Xeon (AVX-512); "
    "drop the flag on a CPU"
)


@dataclass
class _Run:
    """What the steps of one training run share."""

    config: TrainConfig
    logdir: Path
    write_dir: Path
    strategy: tf.distribute.Strategy
    is_chief: bool
    task: str
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    ckpt: Checkpoints
    start: int
    train_median_m: float = 0.0


def _set_up(config: TrainConfig) -> _Run:
    """Strategy, seeds, precision, model, optimizer and checkpoints (restored on resume)."""
    logdir = Path(config.logdir)
    strategy, is_chief, task = make_strategy(config)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.mixed_precision:
        if not tf.config.list_physical_devices("GPU"):
            print(MIXED_PRECISION_ON_CPU, file=sys.stderr)
        keras.mixed_precision.set_global_policy("mixed_float16")
    if config.batch % strategy.num_replicas_in_sync:
        raise WorkbenchError(
            f"--batch {config.batch} must be divisible by {strategy.num_replicas_in_sync} replicas"
        )
    write_dir = logdir if is_chief else Path(tempfile.mkdtemp(prefix=f"workbench-{task}-"))
    with strategy.scope():
        model = build_from_config(config)
        if config.init_from:
            init_weights(model, config.init_from)  # weights that do not fit: no folder made
        optimizer = make_optimizer(config)
        optimizer.build(model.trainable_variables)
    claim_output_folder(write_dir, "train", "--logdir")
    ckpt = Checkpoints(write_dir, config.keep_ckpts, model=model, optimizer=optimizer)
    start = ckpt.restore(config.resume)
    if is_chief:
        save_config(config, logdir / "config.json")
    return _Run(config, logdir, write_dir, strategy, is_chief, task, model, optimizer, ckpt, start)


def _input_stream(run: _Run, records, root):
    """The distributed batch iterator, starting at the run's first unseen sample."""
    c = run.config
    keep = cache_capacity(c.height) if c.cache else 0  # measured once: said and used alike
    if c.cache and run.is_chief and len(records) > keep:
        print(
            f"train: --cache keeps {keep} of the {len(records)} training views in memory (half "
            "of what is available); the others are decoded each time they are drawn",
            file=sys.stderr,
        )
    ds = make_dataset(
        records,
        root,
        c.height,
        c.batch,
        augment=AUGMENT if c.augment else None,
        shuffle=True,
        seed=c.seed,
        repeat=True,
        cache=keep,
        drop_remainder=True,
        start=run.start * c.batch,
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return iter(run.strategy.experimental_distribute_dataset(ds.with_options(options)))


def _train_step(run: _Run):
    """A ``tf.function`` batch → mean loss terms over replicas, applying one optimizer step."""
    c, model, optimizer, strategy = run.config, run.model, run.optimizer, run.strategy
    rate = tuple(float(r) for r in c.rate)
    replicas = strategy.num_replicas_in_sync

    def step_fn(b):
        with tf.GradientTape() as tape:
            pred = tf.cast(model(b["rgb"], training=True), tf.float32)
            terms = total_loss(b["range"], pred, b["mask"], rate, c.ssim_k, c.l1_space == "log")
            loss = terms["total"] / replicas
            if c.mixed_precision:
                loss = optimizer.scale_loss(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return terms

    # no autograph: the step has no tensor-dependent Python control flow, and converting the
    # loss functions' source costs ~1.3 s of every run's first step (measured at 32x64)
    @tf.function(autograph=False)
    def train_step(b):
        per = strategy.run(step_fn, args=(b,))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per.items()
        }

    return train_step


class _Monitor:
    """Validation (``val_metrics.csv``, TensorBoard) and visual dumps of the chief."""

    def __init__(self, run: _Run, val_records, val_root, dump_sample):
        self.run, self.c = run, run.config
        self.records = val_records[: self.c.val_views] if self.c.val_views else val_records
        self.root, self.sample = val_root, dump_sample
        self.predictor = Predictor(KerasBackend(run.model, run.logdir))
        self.tb = tf.summary.create_file_writer(str(run.logdir / "tb" / "val"))
        self.path = run.logdir / "val_metrics.csv"
        self.rows = read_rows(self.path, run.start)
        self.last: dict = {}

    def validate(self, step: int) -> dict:
        if not self.records:
            return {}
        mean, _, _ = evaluate(self.predictor, self.records, self.root, self.c.batch)
        with self.tb.as_default(step=step):
            for k, v in mean.items():
                tf.summary.scalar(f"metrics/{k}", v, step=step)
        self.rows.append({"step": step, **{k: round(v, 6) for k, v in mean.items()}})
        write_csv_atomic(self.path, self.rows[-1].keys(), self.rows)
        self.last = mean
        return mean

    def dump(self, step: int) -> None:
        s = self.sample
        pred = predict_range(self.run.model, s["rgb"][None])[0]
        imgs = dump_images(s["rgb"], pred, s["range"])
        write_dumps(
            self.run.logdir / "dumps",
            f"{step:07d}",
            s["rgb"],
            pred,
            s["range"],
            s["pose"],
            images=imgs,
        )
        with self.tb.as_default(step=step):
            for k, v in imgs.items():
                tf.summary.image(k, v[None], step=step)

    def hook(self, step: int) -> None:
        if self.c.val_every and step % self.c.val_every == 0 and step < self.c.steps:
            self.validate(step)
        if self.c.dump_every and step % self.c.dump_every == 0:
            self.dump(step)

    def finish(self, step: int) -> None:
        self.validate(step)
        if not self.c.dump_every or step % self.c.dump_every:
            self.dump(step)
        self.tb.flush()


def _require_depth(config: TrainConfig, records, val_records) -> None:
    """Both split CSVs hold views with depth (:func:`require_split_depth`)."""
    require_split_depth(records, config.train_csv, "--train-csv", "supervised training")
    if config.val_csv:
        require_split_depth(val_records, config.val_csv, "--val-csv", "validation")


def train_median(records, root, height: int, n: int = 64) -> float:
    """Median range (metres) of up to ``n`` training views spread over the split: the value of
    the constant baseline every evaluation of the model reports."""
    pick = records[:: max(1, len(records) // n)][:n]
    medians = []
    for r in pick:
        d = load_sample(r, root, height)["range"]
        if (d > 0).any():
            medians.append(float(np.median(d[d > 0])))
    return round(float(np.median(medians)), 4) if medians else 0.0


def _summary(run: _Run, step: int, wall: float, log: RunLog, val: dict) -> dict:
    return {
        "finished": True,
        "steps": step,
        "resumed_from": run.start,
        "task": run.task,
        "wall_s": round(wall, 2),
        "steps_per_s": round((step - run.start) / max(wall, 1e-9), 4),
        "replicas": run.strategy.num_replicas_in_sync,
        "strategy": type(run.strategy).__name__,
        "params": int(run.model.count_params()),
        "config_hash": config_hash(run.config),
        "final": log.last,
        "val": val,
        "config": to_dict(run.config),
        "train_median_m": run.train_median_m,
    }


def train(config: TrainConfig, stop=None, finish_on_stop: bool = True) -> dict:
    """Train as configured; returns the run summary (also written to ``summary.json``).
    ``stop``: optional callable polled after each step; true ends the run at a checkpoint
    (the notebook panel's Stop button), then validates and writes ``model.keras`` unless
    ``finish_on_stop`` is false (the command line's Ctrl-C: ``{"steps", "stopped": True}``
    is returned at once, for ``--resume`` to continue)."""
    with removed_if_it_fails_early(Path(config.logdir)):
        return _train(config, stop, finish_on_stop)


def _train(config: TrainConfig, stop=None, finish_on_stop: bool = True) -> dict:
    check_config(config)
    check_resume(config, Path(config.logdir))
    done = finished_summary(config, Path(config.logdir))
    if done is not None:
        return done
    check_output_owner(config.logdir, "train", "--logdir")
    if config.init_from:
        check_model_path(config.init_from)  # before the run folder is made
    records, root = read_split_csv(config.train_csv)
    val_records, val_root = read_split_csv(config.val_csv) if config.val_csv else ([], None)
    check_logdir_outside(config.logdir, [root, val_root])
    _require_depth(config, records, val_records)
    warn_if_split_implausible(config.train_csv, records)
    check_val_views(val_records, val_root, config.height, config.val_views)
    run = _set_up(config)
    if run.start and run.is_chief:
        print(f"train: resuming {run.logdir} at step {run.start} of {config.steps}")
    if run.is_chief:  # before any step: a run stopped early keeps its constant baseline too
        run.train_median_m = train_median(records, root, config.height)
        unfinished = {"finished": False, "train_median_m": run.train_median_m}
        write_text_atomic(run.logdir / "summary.json", json.dumps(unfinished, indent=2) + "\n")
    batches = _input_stream(run, records, root)
    train_step = _train_step(run)
    log = RunLog(
        run.logdir,
        HISTORY_FIELDS,
        run.start,
        config.steps,
        config.batch,
        desc="train",
        progress=config.progress,
        enabled=run.is_chief,
    )
    monitor = None
    if run.is_chief:
        rec0, root0 = (val_records[0], val_root) if val_records else (records[0], root)
        monitor = _Monitor(run, val_records, val_root, load_sample(rec0, root0, config.height))
    t0 = time.perf_counter()
    step = run_steps(
        lambda _: train_step(next(batches)),
        log,
        run.ckpt,
        start=run.start,
        config=config,
        lr_fn=lambda: learning_rate(run.optimizer),
        hooks=[monitor.hook] if monitor else [],
        stop=stop,
    )
    wall = time.perf_counter() - t0
    if step < config.steps and not finish_on_stop:
        return {"steps": step, "stopped": True}
    if not run.is_chief:
        shutil.rmtree(run.write_dir, ignore_errors=True)
        return {"steps": step, "resumed_from": run.start, "task": run.task}
    monitor.finish(step)
    save_keras_atomic(run.model, run.logdir / "model.keras")
    summary = _summary(run, step, wall, log, monitor.last)
    write_text_atomic(run.logdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def run(config: TrainConfig) -> int:
    """``workbench train``: prints steps, wall time and the final validation metrics. Ctrl-C
    or SIGTERM ends the run after the step under way, with a checkpoint (a second one stops at
    once): one line says where it stopped and how to continue (exit 2)."""
    summary = train_until_stopped(train, config, finish_on_stop=False)
    if "val" in summary:
        val = {k: round(v, 4) for k, v in summary["val"].items()}
        print(json.dumps({"steps": summary["steps"], "wall_s": summary.get("wall_s"), "val": val}))
    return 0
