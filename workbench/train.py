"""Supervised training of the equirect depth U-Net (``workbench train``).

One :class:`~workbench.configs.TrainConfig` drives everything and is saved as ``config.json`` in
the run folder. The loop is a custom ``tf.distribute`` loop:

- **strategies**: the default strategy on one device; ``MirroredStrategy`` over GPUs (or over
  ``cpu_devices`` logical CPUs, to try it without GPUs); ``MultiWorkerMirroredStrategy`` from
  ``TF_CONFIG`` for several machines. Only the chief writes the run folder; other workers write
  their (required) checkpoint copies to a temporary folder.
- **data**: :func:`workbench.data.pipeline.make_dataset` with ``start = step * batch``, so a
  resumed run sees exactly the batches an uninterrupted one would have seen.
- **checkpoints**: ``tf.train.CheckpointManager`` (model, optimizer state and step). TensorFlow
  writes checkpoint shards to temporary names and updates the ``checkpoint`` index atomically, so
  a killed run always leaves the previous checkpoint loadable; ``--resume`` continues at its step.
- **logs**: TensorBoard scalars (every loss term, total, learning rate, samples/s, validation
  metrics) and images (RGB, GT, prediction, normals, error); ``history.csv`` and
  ``val_metrics.csv`` for notebooks; visual dumps ``dumps/<step>_{rgb,depth_gt,depth_pred,
  norm_pred,depth_err}.png`` and ``<step>_pc.ply``; the final ``model.keras``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from workbench.config import config_hash, load_config, save_config, to_dict
from workbench.configs import MODEL_FIELDS, TrainConfig
from workbench.errors import WorkbenchError
from workbench.io import atomic_path, write_text_atomic

__all__ = [
    "make_strategy",
    "build_model",
    "make_optimizer",
    "check_resume",
    "restore_checked",
    "init_weights",
    "restore_latest",
    "predict_range",
    "dump_images",
    "write_dumps",
    "train",
    "run",
    "load_run_model",
]

HISTORY_FIELDS = ("step", "total", "l1", "normal", "ssim", "lr", "samples_per_s")


# --------------------------------------------------------------------------- set-up


def make_strategy(config: TrainConfig):
    """Pick the ``tf.distribute`` strategy (call before any other TensorFlow work).

    Returns:
        ``(strategy, is_chief, task_label)``.
    """
    import tensorflow as tf

    if config.cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * config.cpu_devices
        )
    name = config.strategy
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif len(gpus) > 1 or config.cpu_devices > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        try:
            tf_config = json.loads(os.environ["TF_CONFIG"])
        except KeyError:
            raise WorkbenchError("strategy multiworker needs the TF_CONFIG environment") from None
        except json.JSONDecodeError as e:
            raise WorkbenchError(f"TF_CONFIG is not valid JSON ({e})") from None
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = tf_config.get("task", {})
        ttype, tid = task.get("type", "worker"), int(task.get("index", 0))
        is_chief = ttype == "chief" or (
            ttype == "worker" and tid == 0 and "chief" not in tf_config.get("cluster", {})
        )
        return strategy, is_chief, f"{ttype}{tid}"
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy(), True, "chief"
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices), True, "chief"
    return tf.distribute.get_strategy(), True, "chief"


def build_model(config: TrainConfig):
    """The U-Net of ``config`` (``MODEL_FIELDS``)."""
    from workbench.model.unet import build_unet

    return build_unet(
        config.height,
        width=config.model_width,
        depth=config.model_depth,
        coords=config.model_coords,
        context=config.model_context,
    )


def make_optimizer(config: TrainConfig):
    """Adam(W) with the configured schedule (``optimizer.iterations`` is the training step)."""
    import keras

    lr = config.lr
    warm = max(0, min(config.warmup_steps, config.steps - 1))
    if config.lr_schedule == "cosine":
        decay = max(1, config.steps - warm)
        if warm:
            lr = keras.optimizers.schedules.CosineDecay(
                lr * 0.01, decay, alpha=0.02, warmup_target=lr, warmup_steps=warm
            )
        else:
            lr = keras.optimizers.schedules.CosineDecay(lr, decay, alpha=0.02)
    elif config.lr_schedule == "step":
        bounds = [int(config.steps * 0.6), int(config.steps * 0.85)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [lr, lr * 0.1, lr * 0.01])
    if getattr(config, "weight_decay", 0.0) > 0:
        opt = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    else:
        opt = keras.optimizers.Adam(lr)
    if getattr(config, "mixed_precision", False):
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def _check_config(config: TrainConfig) -> None:
    checks = [
        (config.steps >= 1, f"steps must be >= 1, got {config.steps}"),
        (config.batch >= 1, f"batch must be >= 1, got {config.batch}"),
        (
            config.height % (2**config.model_depth) == 0,
            f"height {config.height} must be divisible by 2**model_depth = {2**config.model_depth}",
        ),
        (config.ssim_k >= 1 and config.ssim_k % 2 == 1, f"ssim_k must be odd, got {config.ssim_k}"),
        (
            len(config.rate) == 3 and all(r >= 0 for r in config.rate),
            f"rate must be 3 non-negative weights, got {config.rate}",
        ),
        (config.lr > 0, f"lr must be > 0, got {config.lr}"),
        (config.model_width >= 1 and config.model_depth >= 1, "model width/depth must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise WorkbenchError(msg)


def check_resume(config: TrainConfig, logdir: Path) -> None:
    """Refuse to mix runs: a logdir with checkpoints needs ``resume``, whose model must match."""
    ckpt = logdir / "checkpoints" / "checkpoint"
    saved = logdir / "config.json"
    if not config.resume:
        if ckpt.exists():
            raise WorkbenchError(
                "run folder already has checkpoints (pass --resume to continue, or pick a new "
                "--logdir)",
                logdir,
            )
        return
    if saved.exists():
        old = load_config(type(config), saved)
        diff = [f for f in MODEL_FIELDS if getattr(old, f) != getattr(config, f)]
        if diff:
            desc = ", ".join(f"{f}={getattr(old, f)} vs {getattr(config, f)}" for f in diff)
            raise WorkbenchError(
                f"checkpoints were made by a different model config ({desc})", saved
            )


# --------------------------------------------------------------------------- outputs


def predict_range(model, rgb: np.ndarray, batch: int = 8) -> np.ndarray:
    """Run ``model`` on ``(B, H, W, 3)`` float RGB in [0, 1] → ``(B, H, W)`` float32 metres."""
    out = []
    for i in range(0, len(rgb), batch):
        y = model(np.asarray(rgb[i : i + batch], np.float32), training=False)
        out.append(np.asarray(y, np.float32)[..., 0])
    return np.concatenate(out, axis=0)


def dump_images(
    rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Colourised views of one prediction: ``rgb``, ``depth_pred``, ``norm_pred`` and, with
    ``gt``, ``depth_gt`` and ``depth_err``; each ``(H, W, 3) uint8``. Predicted and true depth
    share one colour scale (0 to 1.05 × the 99th percentile of the ground truth when given)."""
    from workbench.geometry.normals import range_to_normals
    from workbench.viz.colorize import colorize_depth, colorize_error, colorize_normals

    img = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    lo, hi = 0.0, float(np.percentile(pred, 99)) * 1.05
    if gt is not None and (gt > 0).any():
        hi = float(np.percentile(gt[gt > 0], 99)) * 1.05
    out = {
        "rgb": img,
        "depth_pred": colorize_depth(pred, lo, hi),
        "norm_pred": colorize_normals(range_to_normals(pred)),
    }
    if gt is not None:
        out["depth_gt"] = colorize_depth(gt, lo, hi)
        out["depth_err"] = colorize_error(np.where(gt > 0, np.abs(pred - gt), np.nan))
    return out


def write_dumps(
    folder: Path,
    prefix: str,
    rgb: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray | None = None,
    pose: np.ndarray | None = None,
    stride: int = 2,
    images: dict[str, np.ndarray] | None = None,
) -> list[Path]:
    """Visual dump of one view: ``<prefix>_rgb.png``, ``_depth_pred.png``, ``_norm_pred.png``,
    ``_depth_err.png`` and ``_depth_gt.png`` (when ``gt`` is given), ``_pc.ply``.

    Args:
        rgb: ``(H, W, 3)`` float in [0, 1] or uint8. pred, gt: ``(H, W)`` metres (gt 0 = invalid).
        pose: ``T_world_from_cam`` for the point cloud (camera frame when ``None``).
        images: :func:`dump_images` of the same view when already computed.
    """
    from workbench.geometry.normals import range_to_normals
    from workbench.geometry.pointcloud import rgbd_to_pointcloud, write_ply
    from workbench.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    images = images if images is not None else dump_images(rgb, pred, gt)
    paths = [write_image(folder / f"{prefix}_{k}.png", v) for k, v in images.items()]
    normals = range_to_normals(pred)
    pc = rgbd_to_pointcloud(images["rgb"], pred, pose, normals=normals, stride=stride)
    paths.append(write_ply(folder / f"{prefix}_pc.ply", pc))
    return paths


def _write_csv_atomic(path: Path, fields, rows) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def _read_csv(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def save_keras_atomic(model, path: Path) -> Path:
    """``model.save`` to a temporary ``.keras`` name, then rename over ``path``.

    Keras stores the archive's members uncompressed; they are re-packed with deflate (about 10 %
    smaller for float32 weights, read back by ``keras.saving.load_model`` unchanged)."""
    import zipfile

    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
        packed = Path(str(tmp) + ".zip")
        with (
            zipfile.ZipFile(tmp) as src,
            zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as dst,
        ):
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info), zipfile.ZIP_DEFLATED)
        os.replace(packed, tmp)
    return path


# --------------------------------------------------------------------------- loop


def restore_checked(ckpt, path: str, what: str, strict: bool = False) -> None:
    """Restore ``tf.train.Checkpoint`` ``ckpt`` from ``path``; ``strict``: every object of
    ``ckpt`` must be matched (else extra checkpoint values are ignored).

    Raises:
        WorkbenchError: naming ``path`` and ``what`` it does not fit, with TF's first line.
    """
    import tensorflow as tf

    try:
        status = ckpt.restore(path)
        if strict:
            status.assert_existing_objects_matched()
        else:
            status.expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise WorkbenchError(
            f"checkpoint does not fit {what} ({str(e).splitlines()[0][:200]})", path
        ) from None


def init_weights(model, source: str | os.PathLike) -> None:
    """Copy every weight of the model in ``source`` (run folder or ``.keras``) into ``model``.

    The U-Net's weights do not depend on the input height (latitude channels are computed from
    it), so a model trained at ``H`` initialises one at ``2H``: progressive resizing.

    Raises:
        WorkbenchError: naming ``source`` when it cannot be read or its weights differ in number
            or shape (a different ``model_width/depth/coords/context``).
    """
    from workbench.export import load_source_model

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


def restore_latest(config, model, optimizer, folder: Path):
    """Checkpoint manager of ``folder/checkpoints``; with ``config.resume`` the latest checkpoint
    is restored into ``model`` and ``optimizer``.

    Returns:
        ``(manager, start_step)``.

    Raises:
        WorkbenchError: naming the checkpoint when it does not fit the model.
    """
    import tensorflow as tf

    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(ckpt, str(folder / "checkpoints"), config.keep_ckpts)
    if not (config.resume and manager.latest_checkpoint):
        return manager, 0
    restore_checked(ckpt, manager.latest_checkpoint, "this model", strict=True)
    return manager, int(optimizer.iterations.numpy())


def train(config: TrainConfig) -> dict:
    """Train as configured; returns the run summary (also written to ``summary.json``)."""
    _check_config(config)
    logdir = Path(config.logdir)
    check_resume(config, logdir)
    from workbench.data.splits import read_split_csv

    records, root = read_split_csv(config.train_csv)
    val_records, val_root = ([], None)
    if config.val_csv:
        val_records, val_root = read_split_csv(config.val_csv)

    strategy, is_chief, task = make_strategy(config)
    import keras
    import tensorflow as tf

    from workbench.data.pipeline import Augment, load_sample, make_dataset
    from workbench.model.losses import total_loss

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")

    replicas = strategy.num_replicas_in_sync
    if config.batch % replicas:
        raise WorkbenchError(f"batch {config.batch} must be divisible by {replicas} replicas")
    write_dir = logdir if is_chief else Path(tempfile.mkdtemp(prefix=f"workbench-{task}-"))
    write_dir.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        model = build_model(config)
        if config.init_from:
            init_weights(model, config.init_from)
        optimizer = make_optimizer(config)
        optimizer.build(model.trainable_variables)
    manager, start = restore_latest(config, model, optimizer, write_dir)
    if is_chief:
        save_config(config, logdir / "config.json")

    aug = (
        Augment(yaw_roll=True, flip=True, brightness=0.2, contrast=0.2, saturation=0.2, gamma=0.2)
        if config.augment
        else None
    )
    ds = make_dataset(
        records,
        root,
        config.height,
        config.batch,
        augment=aug,
        shuffle=True,
        seed=config.seed,
        repeat=True,
        cache=config.cache,
        drop_remainder=True,
        start=start * config.batch,
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    dist_ds = strategy.experimental_distribute_dataset(ds)
    rate = tuple(float(r) for r in config.rate)

    def step_fn(b):
        with tf.GradientTape() as tape:
            pred = tf.cast(model(b["rgb"], training=True), tf.float32)
            terms = total_loss(
                b["range"], pred, b["mask"], rate, config.ssim_k, config.l1_space == "log"
            )
            loss = terms["total"] / replicas
            if config.mixed_precision:
                loss = optimizer.scale_loss(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return terms

    @tf.function
    def train_step(b):
        per = strategy.run(step_fn, args=(b,))
        return {
            k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per.items()
        }

    history = _read_csv(logdir / "history.csv", start) if is_chief else []
    val_hist = _read_csv(logdir / "val_metrics.csv", start) if is_chief else []
    tb_train = tb_val = None
    if is_chief:
        tb_train = tf.summary.create_file_writer(str(logdir / "tb" / "train"))
        tb_val = tf.summary.create_file_writer(str(logdir / "tb" / "val"))
    dump_src = None
    if is_chief:
        rec0, root0 = (val_records[0], val_root) if val_records else (records[0], root)
        dump_src = load_sample(rec0, root0, config.height)

    def lr_now() -> float:
        lr = optimizer.learning_rate
        return float(lr.numpy() if hasattr(lr, "numpy") else lr)

    def do_dump(step: int) -> None:
        s = dump_src
        pred = predict_range(model, s["rgb"][None])[0]
        imgs = dump_images(s["rgb"], pred, s["range"])
        write_dumps(
            logdir / "dumps", f"{step:07d}", s["rgb"], pred, s["range"], s["pose"], images=imgs
        )
        with tb_val.as_default(step=step):
            for k, v in imgs.items():
                tf.summary.image(k, v[None], step=step)

    from workbench.evaluate import evaluate
    from workbench.infer import KerasBackend, Predictor

    val_predictor = Predictor(KerasBackend(model, logdir))

    def do_validate(step: int) -> dict:
        if not val_records:
            return {}
        recs = val_records[: config.val_views] if config.val_views else val_records
        mean, _, _ = evaluate(val_predictor, recs, val_root, config.batch)
        with tb_val.as_default(step=step):
            for k, v in mean.items():
                tf.summary.scalar(f"metrics/{k}", v, step=step)
        val_hist.append({"step": step, **{k: round(v, 6) for k, v in mean.items()}})
        _write_csv_atomic(logdir / "val_metrics.csv", val_hist[-1].keys(), val_hist)
        return mean

    from tqdm.auto import tqdm

    bar = tqdm(
        total=config.steps,
        initial=start,
        disable=not (config.progress and is_chief),
        desc="train",
        unit="step",
        dynamic_ncols=True,
    )
    it = iter(dist_ds)
    t_run = time.perf_counter()
    t_log, n_log = time.perf_counter(), 0
    acc: dict[str, float] = {}
    step = start
    val = {}
    while step < config.steps:
        terms = train_step(next(it))
        step += 1
        n_log += 1
        for k, v in terms.items():
            acc[k] = acc.get(k, 0.0) + float(v)
        bar.update(1)
        if step % config.log_every == 0 or step == config.steps:
            dt = time.perf_counter() - t_log
            row = {
                "step": step,
                **{k: round(v / n_log, 6) for k, v in acc.items()},
                "lr": lr_now(),
                "samples_per_s": round(n_log * config.batch / dt, 2),
            }
            bar.set_postfix(loss=f"{row['total']:.4f}", sps=row["samples_per_s"])
            if is_chief:
                history.append(row)
                with tb_train.as_default(step=step):
                    for k in ("total", "l1", "normal", "ssim", "lr", "samples_per_s"):
                        tf.summary.scalar(
                            k if k in ("lr", "samples_per_s") else f"loss/{k}", row[k], step=step
                        )
            acc, n_log, t_log = {}, 0, time.perf_counter()
        if step % config.ckpt_every == 0 or step == config.steps:
            if is_chief:  # history first: a kill in between leaves rows past the checkpoint,
                # which the resumed run drops (it keeps rows up to its step)
                _write_csv_atomic(logdir / "history.csv", HISTORY_FIELDS, history)
            manager.save(checkpoint_number=step)
        if is_chief and config.val_every and step % config.val_every == 0 and step < config.steps:
            val = do_validate(step)
        if is_chief and config.dump_every and step % config.dump_every == 0:
            do_dump(step)
    bar.close()
    wall = time.perf_counter() - t_run
    summary = {"steps": step, "resumed_from": start, "task": task}
    if is_chief:
        val = do_validate(step) or val
        if not config.dump_every or step % config.dump_every:
            do_dump(step)
        save_keras_atomic(model, logdir / "model.keras")
        tb_train.flush()
        tb_val.flush()
        summary.update(
            {
                "wall_s": round(wall, 2),
                "steps_per_s": round((step - start) / max(wall, 1e-9), 4),
                "replicas": replicas,
                "strategy": type(strategy).__name__,
                "params": int(model.count_params()),
                "config_hash": config_hash(config),
                "final": history[-1] if history else {},
                "val": val,
                "config": to_dict(config),
            }
        )
        write_text_atomic(logdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    else:
        shutil.rmtree(write_dir, ignore_errors=True)
    return summary


def load_keras_model(path: str | os.PathLike):
    """A ``.keras`` file of this workbench (custom layers registered), uncompiled.

    Raises:
        WorkbenchError: naming ``path`` when Keras cannot read it.
    """
    import keras

    import workbench.model.pose_layers  # noqa: F401  (registers every custom layer, U-Net's too)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (keras raises many types on corrupt files)
        raise WorkbenchError(f"cannot load Keras model ({str(e)[:300]})", path) from None


def load_run_model(run_dir: str | os.PathLike):
    """The model of a run folder: ``model.keras`` when present, else the latest checkpoint."""
    run_dir = Path(run_dir)
    if (run_dir / "model.keras").exists():
        return load_keras_model(run_dir / "model.keras")
    config = load_config(TrainConfig, run_dir / "config.json")
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if not latest:
        raise WorkbenchError("run folder has neither model.keras nor a checkpoint", run_dir)
    model = build_model(config)
    restore_checked(tf.train.Checkpoint(model=model), latest, "the model of config.json")
    return model


def run(config: TrainConfig) -> int:
    summary = train(replace(config))
    if "val" in summary:
        print(
            json.dumps(
                {
                    "steps": summary["steps"],
                    "wall_s": summary.get("wall_s"),
                    "val": {k: round(v, 4) for k, v in summary["val"].items()},
                }
            )
        )
    return 0
