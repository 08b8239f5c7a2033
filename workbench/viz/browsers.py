"""Small browsers for the notebooks: one widget drives each figure beside it.

- :class:`ViewBrowser`: scene and view pickers → the RGB / range row in metres.
- :class:`PredictionBrowser`: model (any format) and view pickers → RGB / prediction / ground
  truth / |error| in metres, on one colour range; a camera-height box rescales the prediction
  so that its floor lies that far below the camera (:func:`rescale_readout`, as ``infer`` /
  ``eval --camera-height``).
- :class:`HistoryViewer`: run and loss-column pickers → the loss curves of ``history.csv``.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.configs.commands import CAMERA_HEIGHT_HELP
from workbench.errors import WorkbenchError
from workbench.geometry.equirect import resize_range
from workbench.geometry.floor_scale import CAMERA_HEIGHT_RANGE_M, rescale_to_camera_height
from workbench.viz.labels import short_id
from workbench.viz.plots import depth_row_figure, history_figure
from workbench.viz.sources import view_source
from workbench.viz.widgets import replace_figure

__all__ = ["HistoryViewer", "PredictionBrowser", "ViewBrowser", "rescale_readout"]


def _view_options(records):
    return [(f"{short_id(r.scene_id)}/{r.view_id}", i) for i, r in enumerate(records)]


class ViewBrowser(W.VBox):
    """Pick a view: its RGB and range (metres, colour bar, hover values). ``view`` is the
    Dropdown (index into ``records``), ``fig`` the FigureWidget."""

    def __init__(self, records, root=None, step: int = 2):
        self.records, self.root, self._load = view_source(records, root)
        self.step = step
        self.view = W.Dropdown(options=_view_options(self.records), value=0, description="view")
        self.fig = go.FigureWidget()
        self.view.observe(self.refresh, "value")
        self.refresh()
        super().__init__([self.view, self.fig])

    def set_dataset(self, dataset) -> None:
        """Browse another dataset (e.g. one a ``DatasetPicker`` opened)."""
        self.records, self.root, self._load = view_source(dataset)
        self._busy = True
        self.view.options = _view_options(self.records)  # the value goes back to the first view
        self._busy = False
        self.refresh()

    def refresh(self, _=None):
        if getattr(self, "_busy", False):
            return
        r = self.records[self.view.value]
        v = self._load(r)
        title = f"{short_id(r.scene_id)}/{r.view_id}: {v.rgb.shape[1]}×{v.rgb.shape[0]}"
        replace_figure(self.fig, depth_row_figure(v.rgb, v.range_m, title=title, step=self.step))


def rescale_readout(
    pred: np.ndarray, camera_height_m: float
) -> tuple[np.ndarray, float | None, str]:
    """``pred`` rescaled so that its fitted floor lies ``camera_height_m`` below the camera
    (:func:`~workbench.geometry.floor_scale.rescale_to_camera_height`, as ``infer --camera-height``)
    and a one-line readout of what was done.

    Args:
        pred: ``(H, 2H)`` predicted range, metres (any scale); ``<= 0`` invalid.
        camera_height_m: the rig's camera height, metres; 0 turns rescaling off.

    Returns:
        ``(shown (H, 2H), factor, line)``: the rescaled map and its factor, or, when off or
        refused (no floor visible, a height outside the accepted range), ``pred`` itself,
        ``None`` and the reason in ``line``: a refused map is shown as predicted.

    >>> from workbench.geometry.analytic import box_room
    >>> r = box_room(32, lo=(-2, -1.5, -3), hi=(2, 1.5, 3))[0] * 0.6
    >>> shown, factor, line = rescale_readout(r, 1.5); round(factor, 2), line[:31]
    (1.67, 'camera height 1.5 m: rescaled ×')
    """
    h = float(camera_height_m)
    if not h:
        return pred, None, "camera height: off (shown as predicted)"
    try:
        shown, factor, fit = rescale_to_camera_height(pred, h, "prediction")
    except WorkbenchError as e:
        reason = e.message.removeprefix(f"--camera-height {h:g}: ")
        return pred, None, f"camera height {h:g} m: not rescaled, shown as predicted: {reason}"
    line = (
        f"camera height {h:g} m: rescaled ×{factor:.3f} (the fitted floor was {fit.height_m:.2f} m "
        f"below the camera; it covers {fit.coverage:.0%} of the view, tilt {fit.tilt_deg:.1f}°)"
    )
    return shown, factor, line


def _abs_rel(pred: np.ndarray, gt: np.ndarray) -> float | None:
    valid = gt > 0
    return float(np.mean(np.abs(pred[valid] - gt[valid]) / gt[valid])) if valid.any() else None


class PredictionBrowser(W.VBox):
    """Pick a model and a view: the prediction beside the ground truth and the error, in metres.
    ``models`` maps a name to a loaded predictor (``predict``). ``camera_height`` (the box of
    that name, metres; 0: off) rescales every shown prediction to the rig's camera height
    (:func:`rescale_readout`); ``scale`` reads out the factor or why none was applied, ``info``
    the AbsRel of the prediction as shown (and as predicted, when rescaled)."""

    def __init__(self, models: dict, records, root=None, step: int = 2, camera_height: float = 0):
        self.records, self.root, self._load = view_source(records, root)
        self.models, self.step = models, step
        names = list(models)
        self.model = W.Dropdown(options=names, value=names[0], description="model")
        self.view = W.Dropdown(options=_view_options(self.records), value=0, description="view")
        self.camera_height = W.BoundedFloatText(
            value=camera_height, min=0.0, max=CAMERA_HEIGHT_RANGE_M[1], step=0.05,
            description="camera height (m)", tooltip=CAMERA_HEIGHT_HELP,
            style={"description_width": "initial"}, layout=W.Layout(width="220px"),
        )  # fmt: skip
        self.scale, self.info, self.fig = W.HTML(), W.HTML(), go.FigureWidget()
        self._predicted = (None, None, None)  # (model, view) → the view and its prediction
        for c in (self.model, self.view, self.camera_height):
            c.observe(self.refresh, "value")
        self.refresh()
        super().__init__([W.HBox([self.model, self.view, self.camera_height]), self.scale,
                          self.info, self.fig])  # fmt: skip

    def _prediction(self, r):
        key = (self.model.value, self.view.value)
        if self._predicted[0] != key:
            v = self._load(r)
            self._predicted = (key, v, self.models[key[0]].predict(v.rgb, name=r.rgb_path))
        return self._predicted[1:]

    def refresh(self, _=None):
        r = self.records[self.view.value]
        v, predicted = self._prediction(r)
        pred, factor, self.scale.value = rescale_readout(predicted, self.camera_height.value)
        gt = v.range_m if v.range_m.shape == pred.shape else resize_range(v.range_m, pred.shape[0])
        rel, rel0 = _abs_rel(pred, gt), _abs_rel(predicted, gt)
        where = f"{self.model.value} on {short_id(r.scene_id)}/{r.view_id}"
        if rel is None:
            self.info.value = f"{where}: no ground truth to score"
        elif factor is None:
            self.info.value = f"{where}: AbsRel {rel:.3f} (as predicted)"
        else:
            h = self.camera_height.value
            self.info.value = (
                f"{where}: AbsRel {rel:.3f} (rescaled to a {h:g} m camera height; "
                f"as predicted {rel0:.3f})"
            )
        how = "as predicted" if factor is None else f"rescaled ×{factor:.3f}"
        fig = depth_row_figure(v.rgb, pred, gt, title=f"{self.model.value} ({how})", step=self.step)
        replace_figure(self.fig, fig)


class HistoryViewer(W.VBox):
    """Pick a run folder and loss columns: the curves of its ``history.csv``."""

    def __init__(self, runs: dict):
        self.runs = {name: Path(p) for name, p in runs.items()}
        names = list(self.runs)
        self.run = W.Dropdown(options=names, value=names[0], description="run")
        self.columns = W.SelectMultiple(description="losses", rows=4)
        self.fig = go.FigureWidget()
        self._set_columns()
        self.run.observe(lambda _: (self._set_columns(), self.refresh()), "value")
        self.columns.observe(self.refresh, "value")
        self.refresh()
        super().__init__([W.HBox([self.run, self.columns]), self.fig])

    def _history(self) -> Path:
        return self.runs[self.run.value] / "history.csv"

    def _set_columns(self):
        cols = [c for c in pd.read_csv(self._history(), nrows=1).columns
                if c not in ("step", "lr", "samples_per_s")]  # fmt: skip
        self._busy = True
        self.columns.options, self.columns.value = cols, tuple(cols[:2])
        self._busy = False

    def refresh(self, _=None):
        if getattr(self, "_busy", False):
            return
        fig = history_figure(self._history(), self.columns.value)
        fig.update_layout(title=f"{self.run.value}: training losses")
        replace_figure(self.fig, fig)
