"""Training and run inspection in a notebook: a grouped config form with a Train button that
trains in a background thread beside a live loss plot, and a dumps browser for a run folder.

The form is built from the config dataclass (one type feeds the CLI, these widgets and the
run's ``config.json``); the loss plot follows the run's ``history.csv``, so it shows the same
numbers TensorBoard and the CLI log.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import threading
import traceback
from pathlib import Path

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.errors import WorkbenchError
from workbench.viz.labels import plain_text
from workbench.viz.widgets import config_form

__all__ = ["TRAIN_GROUPS", "DumpsBrowser", "TrainPanel", "next_run_dir"]

# the TrainConfig fields by what a researcher changes together
TRAIN_GROUPS = {
    "data": ("train_csv", "val_csv", "height", "batch", "augment", "cache", "seed"),
    "model": (
        "model_width",
        "model_depth",
        "model_coords",
        "model_context",
        "model_stem",
        "model_grey_world",
        "init_from",
    ),
    "loss": ("rate", "ssim_k", "l1_space"),
    "schedule": (
        "steps",
        "lr",
        "lr_schedule",
        "warmup_steps",
        "weight_decay",
        "mixed_precision",
        "strategy",
        "cpu_devices",
        "deterministic",
    ),
    "output": (
        "logdir",
        "log_every",
        "val_every",
        "val_views",
        "dump_every",
        "ckpt_every",
        "keep_ckpts",
        "resume",
        "progress",
    ),
}

_DUMP_KINDS = (
    ("rgb", "RGB"),
    ("depth_gt", "ground truth"),
    ("depth_pred", "prediction"),
    ("norm_pred", "predicted normals"),
    ("depth_err", "|error|"),
)


def next_run_dir(parent: str | Path, prefix: str = "run") -> Path:
    """``parent/<prefix>-NNN`` with the first unused number: every run gets its own folder and
    nothing is deleted (``run-001``, ``run-002``, ...)."""
    parent = Path(parent)
    taken = [
        int(m.group(1))
        for p in (parent.iterdir() if parent.is_dir() else [])
        if (m := re.fullmatch(rf"{re.escape(prefix)}-(\d+)", p.name))
    ]
    return parent / f"{prefix}-{max(taken, default=0) + 1:03d}"


def _loss_figure() -> go.FigureWidget:
    fig = go.FigureWidget()
    for name in ("total", "l1", "normal", "ssim"):
        fig.add_scatter(x=[], y=[], mode="lines", name=name)
    fig.update_layout(
        height=300,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
        title="training loss (live)",
        xaxis_title="step",
        yaxis_title="loss",
        yaxis_type="log",
        template="plotly_white",
    )
    return fig


class TrainPanel(W.VBox):
    """Grouped config form (tabs: data / model / loss / schedule / output, full labels, each
    field's help beside it), a Train button that runs ``train`` in a background thread, a Stop
    button that ends it at the next step with a checkpoint, a live loss plot and a status line.

    Every press trains into a fresh run folder: when the form's ``logdir`` already holds a run
    (and ``resume`` is off) the next free ``<prefix>-NNN`` beside it is used and written back
    into the form. ``config`` is the config of the last run started; ``summary`` its result;
    ``wait()`` blocks until it ends (for scripts and nbval); ``stop()`` is the Stop button.
    ``train_fn(config, stop=callable)`` is polled after each step when it takes ``stop``."""

    def __init__(self, config_cls, train_fn, **defaults):
        self.config_cls, self.train_fn = config_cls, train_fn
        self.form, self.get_config = config_form(config_cls, groups=TRAIN_GROUPS, **defaults)
        self.button = W.Button(description="Train", button_style="primary", icon="play")
        self.stop_button = W.Button(description="Stop", icon="stop", disabled=True)
        self.status = W.HTML("set the fields, then Train")
        self.loss = _loss_figure()
        self.config, self.summary, self.error = None, None, None
        self._thread: threading.Thread | None = None
        self._done, self._halt = threading.Event(), threading.Event()
        self.button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        super().__init__(
            [self.form, W.HBox([self.button, self.stop_button, self.status]), self.loss]
        )

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Check the form, then train in the background (one run at a time)."""
        if self.running():
            self.status.value = "a run is in progress (Stop ends it at a checkpoint)"
            return
        try:
            config = self.get_config()
            config = self._fresh_logdir(config)
        except (ValueError, TypeError, WorkbenchError) as e:
            self.status.value = f"<b>not started</b>: {e}"
            return
        self.config, self.summary, self.error = config, None, None
        self._done.clear()
        self._halt.clear()
        self._clear_loss()
        self.status.value = f"training into {self.config.logdir} ..."
        self.button.disabled, self.stop_button.disabled = True, False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        threading.Thread(target=self._follow, daemon=True).start()

    def stop(self) -> None:
        """End the run after the current step; it writes a checkpoint and its files."""
        if self.running():
            self._halt.set()
            self.stop_button.disabled = True
            self.status.value = "stopping after this step (a checkpoint is written) ..."

    def _fresh_logdir(self, config):
        """``config`` with a fresh run folder unless it resumes or its folder is unused."""
        logdir = Path(config.logdir)
        used = logdir.is_dir() and any(logdir.iterdir())
        if getattr(config, "resume", False) or not used:
            return config
        m = re.fullmatch(r"(.+)-\d+", logdir.name)
        fresh = next_run_dir(logdir.parent, m.group(1) if m else logdir.name)
        self.form.controls["logdir"].value = str(fresh)
        return dataclasses.replace(config, logdir=str(fresh))

    def _call_train(self):
        if "stop" in inspect.signature(self.train_fn).parameters:
            return self.train_fn(self.config, stop=self._halt.is_set)
        return self.train_fn(self.config)

    def _run(self) -> None:
        try:
            self.summary = self._call_train()
            val = self.summary.get("val", {})
            score = f"; validation AbsRel {val['abs_rel']:.3f}" if "abs_rel" in val else ""
            how = "stopped at step" if self.summary["steps"] < self.config.steps else "done:"
            self.status.value = (
                f"{how} {self.summary['steps']} steps in {self.summary.get('wall_s', 0):.0f} s"
                f"{score} → run folder {Path(self.config.logdir).name}"
            )
        except WorkbenchError as e:
            self.error = e
            self.status.value = f"<b>stopped</b>: {e}"
        except Exception as e:  # noqa: BLE001 - shown in the panel, not lost in a thread
            self.error = e
            self.status.value = f"<b>failed</b>: {type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            self._done.set()
            self.button.disabled, self.stop_button.disabled = False, True
            self.refresh_loss()

    def _follow(self) -> None:
        while not self._done.wait(1.0):
            self.refresh_loss()

    def _clear_loss(self) -> None:
        with self.loss.batch_update():
            for trace in self.loss.data:
                trace.x, trace.y = [], []

    def refresh_loss(self) -> None:
        """Redraw the loss plot from the run's ``history.csv``."""
        path = Path(self.config.logdir) / "history.csv" if self.config else None
        if path is None or not path.is_file():
            return
        try:
            h = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            return  # being written
        with self.loss.batch_update():
            for trace in self.loss.data:
                if trace.name in h:
                    ok = np.isfinite(h[trace.name].to_numpy(float))  # JSON-safe: no NaN/inf
                    trace.x = h["step"][ok].tolist()
                    trace.y = h[trace.name][ok].tolist()

    def wait(self, timeout: float | None = None) -> dict | None:
        """Block until the run ends; returns its summary (None if it failed)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.summary

    def status_text(self) -> str:
        """The status line as plain text, for a printed cell output (``status`` is HTML)."""
        return plain_text(self.status.value)

    def result(self, timeout: float | None = None) -> dict | None:
        """:meth:`wait`, then what stopped the run raised again (e.g. a
        :class:`~workbench.errors.WorkbenchError` naming an unreadable file): a notebook run
        headless stops at that line instead of failing later on a missing summary."""
        summary = self.wait(timeout)
        if self.error is not None:
            raise self.error
        return summary


class DumpsBrowser(W.VBox):
    """The visual dumps of a run folder (``dumps/<step>_<kind>.png``): a step slider and the
    labelled RGB / ground truth / prediction / normals / error images of that step."""

    def __init__(self, run_dir: str | Path, width: int = 300):
        self.run_dir = Path(run_dir)
        steps = sorted(
            {
                int(m.group(1))
                for p in (self.run_dir / "dumps").glob("*_rgb.png")
                if (m := re.fullmatch(r"(\d+)_rgb\.png", p.name))
            }
        )
        if not steps:
            raise WorkbenchError("no visual dumps in this run (dumps/*_rgb.png)", self.run_dir)
        self.steps = steps
        self.step = W.SelectionSlider(
            options=steps, value=steps[-1], description="step", continuous_update=False
        )
        self.images = {
            k: W.Image(format="png", layout={"width": f"{width}px"}) for k, _ in _DUMP_KINDS
        }
        cells = [W.VBox([W.HTML(f"<b>{label}</b>"), self.images[k]]) for k, label in _DUMP_KINDS]
        self.step.observe(self.refresh, "value")
        self.refresh()
        super().__init__(
            [
                self.step,
                W.GridBox(cells, layout={"grid_template_columns": f"repeat(3, {width + 10}px)"}),
            ]
        )

    def refresh(self, _=None) -> None:
        for kind, image in self.images.items():
            path = self.run_dir / "dumps" / f"{self.step.value:07d}_{kind}.png"
            image.value = path.read_bytes() if path.is_file() else b""
