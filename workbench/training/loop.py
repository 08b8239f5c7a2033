"""The machinery every trainer shares (supervised, bi-view, pose): strategy, optimizer, resume
checks, checkpoints with their own step counter, the run log and the step loop.

- **strategies**: the default strategy on one device; ``MirroredStrategy`` over GPUs (or over
  ``cpu_devices`` logical CPUs, to try it without GPUs); ``MultiWorkerMirroredStrategy`` from
  ``TF_CONFIG`` for several machines. Only the chief writes the run folder; other workers write
  their (required) checkpoint copies to a temporary folder.
- **checkpoints** (:class:`Checkpoints`): ``tf.train.CheckpointManager`` over the model, the
  optimizer state and a step counter of its own (``optimizer.iterations`` skips the steps a
  mixed-precision loss scale rejects, so it cannot be the step). TensorFlow writes shards to
  temporary names and updates the ``checkpoint`` index atomically, so a killed run always leaves
  the previous checkpoint loadable.
- **logs** (:class:`RunLog`): ``history.csv`` (rows up to the resumed step are kept), TensorBoard
  scalars and a tqdm bar with loss and samples/s.
- **the loop** (:func:`run_steps`): step, log, checkpoint, then the trainer's hooks
  (validation, dumps) at their intervals.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import tensorflow as tf
from tqdm.auto import tqdm

from workbench.configs import MODEL_FIELDS, load_config
from workbench.errors import WorkbenchError
from workbench.io import check_outside, write_csv_atomic
from workbench.model.saving import restore_checked

__all__ = [
    "make_strategy",
    "make_optimizer",
    "check_resume",
    "Checkpoints",
    "RunLog",
    "run_steps",
    "learning_rate",
    "read_rows",
]


def _multiworker(tf_config_text: str | None):
    try:
        tf_config = json.loads(tf_config_text) if tf_config_text else None
    except json.JSONDecodeError as e:
        raise WorkbenchError(f"TF_CONFIG is not valid JSON ({e})") from None
    if not isinstance(tf_config, dict):
        raise WorkbenchError("strategy multiworker needs the TF_CONFIG environment (a JSON object)")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = tf_config.get("task", {})
    ttype, tid = task.get("type", "worker"), int(task.get("index", 0))
    is_chief = ttype == "chief" or (
        ttype == "worker" and tid == 0 and "chief" not in tf_config.get("cluster", {})
    )
    return strategy, is_chief, f"{ttype}{tid}"


def make_strategy(config) -> tuple[tf.distribute.Strategy, bool, str]:
    """Pick the ``tf.distribute`` strategy of ``config.strategy`` (call before any other
    TensorFlow work; ``cpu_devices`` > 1 splits the CPU into logical devices).

    Returns:
        ``(strategy, is_chief, task_label)``.
    """
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
        return _multiworker(os.environ.get("TF_CONFIG"))
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy(), True, "chief"
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices), True, "chief"
    return tf.distribute.get_strategy(), True, "chief"


def make_optimizer(config) -> keras.optimizers.Optimizer:
    """Adam(W) with the configured schedule (``lr``, ``lr_schedule``, ``warmup_steps``,
    ``steps``, ``weight_decay``; loss-scaled with ``mixed_precision``)."""
    lr = config.lr
    warm = max(0, min(getattr(config, "warmup_steps", 0), config.steps - 1))
    schedule = getattr(config, "lr_schedule", "constant")
    if schedule == "cosine":
        decay = max(1, config.steps - warm)
        if warm:
            lr = keras.optimizers.schedules.CosineDecay(
                lr * 0.01, decay, alpha=0.02, warmup_target=lr, warmup_steps=warm
            )
        else:
            lr = keras.optimizers.schedules.CosineDecay(lr, decay, alpha=0.02)
    elif schedule == "step":
        bounds = [int(config.steps * 0.6), int(config.steps * 0.85)]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [lr, lr * 0.1, lr * 0.01])
    if getattr(config, "weight_decay", 0.0) > 0:
        opt = keras.optimizers.AdamW(lr, weight_decay=config.weight_decay)
    else:
        opt = keras.optimizers.Adam(lr)
    if getattr(config, "mixed_precision", False):
        opt = keras.optimizers.LossScaleOptimizer(opt)
    return opt


def learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    """The optimizer's current learning rate (schedules evaluated at its iteration)."""
    lr = optimizer.learning_rate
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)


def check_resume(config, logdir: Path, fields: Sequence[str] = MODEL_FIELDS) -> None:
    """Refuse to mix runs: a logdir with checkpoints needs ``resume``, and the saved
    ``config.json`` must agree with ``config`` on ``fields`` (the network's shape); ``resume``
    without a checkpoint starts a new run, in one warning line. A ``model.keras`` without a
    checkpoint beside it (a model put there, e.g. by ``scripts/add_grey_world.py``) is data
    no training run wrote: refused either way, never overwritten."""
    ckpt = logdir / "checkpoints" / "checkpoint"
    saved = logdir / "config.json"
    if (logdir / "model.keras").exists() and not ckpt.exists():
        raise WorkbenchError(
            "holds a model.keras but no checkpoint to continue from: training would replace "
            "it (pick a new --logdir; --init-from it to start from its weights)",
            logdir,
        )
    if not config.resume:
        if ckpt.exists():
            raise WorkbenchError(
                "run folder already has checkpoints (pass --resume to continue, or pick a new "
                "--logdir)",
                logdir,
            )
        return
    if not ckpt.exists():  # a typo'd --logdir would otherwise retrain from scratch unnoticed
        print(
            f"workbench: warning: {logdir}: --resume found no checkpoint: a new run starts at "
            "step 0",
            file=sys.stderr,
        )
    if saved.exists():
        old = load_config(type(config), saved)
        fields = [f for f in fields if hasattr(config, f)]  # bi-view nets have no stem option
        diff = [f for f in fields if getattr(old, f) != getattr(config, f)]
        if diff:
            desc = ", ".join(f"{f}={getattr(old, f)} vs {getattr(config, f)}" for f in diff)
            raise WorkbenchError(
                f"checkpoints were made by a different model config ({desc})", saved
            )
        if ckpt.exists():
            _check_steps_reach(config, logdir)
            _check_resumed_settings(old, config, logdir, saved)


def checkpoint_step(logdir: Path) -> int:
    """The step of the run's latest checkpoint (``ckpt-<step>``, as :class:`Checkpoints`
    names them), 0 when there is none; read from its state file, TensorFlow not called."""
    latest = tf.train.latest_checkpoint(str(Path(logdir) / "checkpoints"))
    try:
        return int(str(latest).rsplit("-", 1)[1]) if latest else 0
    except (IndexError, ValueError):
        return 0


def _check_steps_reach(config, logdir: Path) -> None:
    """``--steps`` not below the checkpoint's step (the run "finished" at step 350 of 100)."""
    step = checkpoint_step(logdir)
    if config.steps < step:
        raise WorkbenchError(
            f"{config.steps} ends before step {step}, where the run in {logdir} is: pass more, "
            "or --init-from it in a new --logdir",
            "--steps",
        )


def finished_summary(config, logdir: Path) -> dict | None:
    """The ``summary.json`` of a run resumed at the step it finished (``model.keras`` written):
    nothing to do (validating again appended the step's rows twice; a two-view run re-saved
    its model), else ``None``."""
    if not (config.resume and (Path(logdir) / "model.keras").is_file()):
        return None
    if checkpoint_step(logdir) != config.steps:
        return None
    try:
        summary = json.loads((Path(logdir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("finished") is False:
        return None
    print(f"{Path(logdir)}: finished at step {config.steps} already (--steps more goes on)")
    return summary


def two_view_run_checks(config, fields: Sequence[str], what: str) -> dict | None:
    """Before any work, for the two-view trainers (``what``: their name in messages): the
    resume checks (:func:`check_resume` on ``fields``), a split with depth and poses, a
    ``--logdir`` outside the data, readable validation views. Returns the summary of a run
    resumed at the step it finished (:func:`finished_summary`: nothing to do), else ``None``.
    """
    from workbench.data.splits import read_split_csv, require_splits_depth

    logdir = Path(config.logdir)
    check_resume(config, logdir, fields)
    done = finished_summary(config, logdir)
    if done is not None:
        return done
    require_splits_depth(config.train_csv, config.val_csv, what, poses=True)
    val_records, val_root = read_split_csv(config.val_csv) if config.val_csv else ([], None)
    check_logdir_outside(logdir, [read_split_csv(config.train_csv)[1], val_root])
    check_val_views(val_records, val_root, config.height, getattr(config, "val_views", 0))
    return None


def check_val_views(records, root, height: int, n: int = 0) -> None:
    """Before any work: the first ``n`` (0: all) views of the validation split ``records``
    (of the dataset at ``root``) can be read (one that cannot stopped the run only after
    training, its folder left without a result).

    Raises:
        WorkbenchError: naming the file that cannot be read.
    """
    from workbench.data.pipeline import load_sample

    for r in records[:n] if n else records:
        load_sample(r, root, height)


def check_logdir_outside(logdir, roots) -> None:
    """Before any work: ``--logdir`` is not inside any of the dataset ``roots`` of its splits
    (``None`` skipped; a run folder there was read as an empty scene by every verb).

    Raises:
        WorkbenchError: naming ``--logdir`` and the root.
    """
    for root in {r for r in roots if r is not None}:
        check_outside(logdir, "--logdir", root, "the dataset root")


# settings a checkpoint's optimizer state depends on: another value cannot be restored
STATE_FIELDS = ("lr_schedule", "mixed_precision")
# settings a resumed run may change, said in one warning: the batches or the updates then
# differ from an uninterrupted run's
RUN_FIELDS = ("train_csv", "seed", "batch", "lr", "warmup_steps", "weight_decay", "rate",
              "ssim_k", "l1_space", "augment", "min_overlap", "max_overlap")  # fmt: skip


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _check_resumed_settings(old, config, logdir: Path, saved: Path) -> None:
    """A resumed run against the settings its ``config.json`` recorded: a change the
    optimizer's saved state cannot follow is refused; others are said in one warning line."""
    for f in STATE_FIELDS:
        if hasattr(config, f) and getattr(old, f) != getattr(config, f):
            raise WorkbenchError(
                f"{getattr(config, f)} where the run in {logdir} has {getattr(old, f)} (its "
                "checkpoint's optimizer state fits that only): resume with it, or start a new "
                "--logdir with --init-from this run",
                _flag(f),
            )
    changed = [f for f in (*RUN_FIELDS, "steps") if hasattr(config, f)]
    changed = [f for f in changed if getattr(old, f) != getattr(config, f)]
    if changed:
        said = ", ".join(
            f"{_flag(f)} {getattr(config, f)} (was {getattr(old, f)})" for f in changed
        )
        print(
            f"workbench: warning: {logdir}: resumed with {said}: the rest of the run differs "
            f"from an uninterrupted one (the learning-rate schedule runs to --steps); "
            f"{saved.name} now records these",
            file=sys.stderr,
        )


@contextlib.contextmanager
def stop_on_interrupt():
    """Within: the first SIGINT/SIGTERM sets the yielded :class:`threading.Event` (the loop
    stops at the next step boundary), a second raises :class:`KeyboardInterrupt`; the previous
    handlers come back after. Off the main thread nothing is installed."""
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return

    def handler(signum, frame):
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def removed_if_it_fails_early(logdir: Path):
    """Within: a run folder this run makes is removed again when the run fails before its
    first checkpoint (a refused or broken run left ``config.json``, ``summary.json`` and
    ``tb/``; a run folder of only those is nothing to resume)."""
    made = not Path(logdir).exists() and "TF_CONFIG" not in os.environ  # one worker of many:
    # the chief may be making the folder at the same time
    try:
        yield
    except BaseException:
        if made and not (Path(logdir) / "checkpoints" / "checkpoint").exists():
            shutil.rmtree(logdir, ignore_errors=True)
        raise


def train_until_stopped(train: Callable, config, **kw) -> dict:
    """``train(config, stop=..., **kw)`` under :func:`stop_on_interrupt`: a run Ctrl-C or
    SIGTERM stopped (``{"stopped": True}``) becomes :func:`interrupted_error`."""
    with stop_on_interrupt() as stopping:
        summary = train(config, stop=stopping.is_set, **kw)
    if summary.get("stopped"):
        raise interrupted_error(summary["steps"], config)
    return summary


def interrupted_error(step: int, config) -> WorkbenchError:
    """The one line of a run stopped by Ctrl-C or SIGTERM at ``step``, its checkpoint saved."""
    return WorkbenchError(
        f"interrupted at step {step} of {config.steps}, checkpoint saved: the same command "
        "with --resume continues it",
        config.logdir,
    )


class Checkpoints:
    """Checkpoints of ``objects`` (model, optimizer) plus a step counter, in
    ``folder/checkpoints``, keeping the last ``keep``."""

    def __init__(self, folder: Path, keep: int, **objects):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="train_step")
        self.ckpt = tf.train.Checkpoint(train_step=self.step, **objects)
        self.manager = tf.train.CheckpointManager(self.ckpt, str(folder / "checkpoints"), keep)

    def restore(self, resume: bool) -> int:
        """With ``resume`` and a checkpoint present, restore it and return its step, else 0.

        Raises:
            WorkbenchError: naming the checkpoint when it does not fit the objects.
        """
        latest = self.manager.latest_checkpoint
        if not (resume and latest):
            return 0
        restore_checked(self.ckpt, latest, "this model", strict=True)
        return int(self.step.numpy())

    def save(self, step: int) -> None:
        self.step.assign(step)
        self.manager.save(checkpoint_number=step)


def read_rows(path: Path, upto: int) -> list[dict]:
    """Rows of a run CSV (``history.csv``, ``val_metrics.csv``) up to step ``upto``."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


class RunLog:
    """``history.csv``, TensorBoard scalars (``tb/train``) and the progress bar of one run.

    Loss terms are averaged between rows; ``fields`` is the CSV header (``step``, the terms,
    ``lr``, ``samples_per_s``). With ``enabled=False`` (non-chief workers) nothing is written.
    """

    def __init__(
        self,
        logdir: Path,
        fields: Sequence[str],
        start: int,
        total: int,
        batch: int,
        *,
        desc: str,
        progress: bool,
        enabled: bool = True,
    ):
        self.path, self.fields, self.batch, self.enabled = (
            logdir / "history.csv",
            fields,
            batch,
            enabled,
        )
        self.history = read_rows(self.path, start) if enabled else []
        self.tb = tf.summary.create_file_writer(str(logdir / "tb" / "train")) if enabled else None
        self.bar = tqdm(
            total=total,
            initial=start,
            desc=desc,
            unit="step",
            dynamic_ncols=True,
            disable=not (progress and enabled),
        )
        self._acc: dict[str, float] = {}
        self._n, self._t = 0, time.perf_counter()

    def update(self, terms: dict) -> None:
        for k, v in terms.items():
            self._acc[k] = self._acc.get(k, 0.0) + float(v)
        self._n += 1
        self.bar.update(1)

    def row(self, step: int, lr: float) -> dict:
        """Close the current averaging window as one history row (also sent to TensorBoard)."""
        n = max(self._n, 1)
        row = {"step": step, **{k: round(v / n, 6) for k, v in self._acc.items()}}
        row["lr"] = lr
        row["samples_per_s"] = round(n * self.batch / max(time.perf_counter() - self._t, 1e-9), 2)
        self.bar.set_postfix(loss=f"{row.get('total', 0.0):.4f}", sps=row["samples_per_s"])
        if self.enabled:
            self.history.append(row)
            with self.tb.as_default(step=step):
                for k, v in row.items():
                    if k != "step":
                        tag = k if k in ("lr", "samples_per_s") else f"loss/{k}"
                        tf.summary.scalar(tag, v, step=step)
        self._acc, self._n, self._t = {}, 0, time.perf_counter()
        return row

    def save(self) -> None:
        if self.enabled:
            write_csv_atomic(self.path, self.fields, self.history)

    @property
    def last(self) -> dict:
        return self.history[-1] if self.history else {}

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.flush()


def run_steps(
    step_fn: Callable[[int], dict],
    log: RunLog,
    ckpt: Checkpoints,
    *,
    start: int,
    config,
    lr_fn: Callable[[], float],
    hooks: Sequence[Callable[[int], None]] = (),
    stop: Callable[[], bool] | None = None,
) -> int:
    """Run steps ``start + 1 .. config.steps``: ``step_fn(step_index)`` returns the loss terms;
    rows every ``config.log_every`` steps, checkpoints every ``config.ckpt_every`` (history is
    written first: a kill in between leaves rows past the checkpoint, which a resumed run
    drops) and at the end, then each hook with the new step. ``stop()`` (e.g. a
    ``threading.Event``'s ``is_set``) true after a step ends the run there, with a row and a
    checkpoint as at the last step (``--resume`` continues it). Returns the last step."""
    step = start
    while step < config.steps:
        terms = step_fn(step)
        step += 1
        log.update(terms)
        last = step == config.steps or (stop is not None and stop())
        if step % config.log_every == 0 or last:
            log.row(step, lr_fn())
        if step % config.ckpt_every == 0 or last:
            log.save()
            ckpt.save(step)
        for hook in hooks:
            hook(step)
        if last:
            break
    log.close()
    return step
