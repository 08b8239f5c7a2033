"""Small browsers for the notebooks: one widget drives each figure beside it.

- :class:`ViewBrowser`: scene and view pickers → the RGB / range row in metres.
- :class:`PredictionBrowser`: model (any format) and view pickers → RGB / prediction / ground
  truth / |error| in metres, on one colour range.
- :class:`HistoryViewer`: run and loss-column pickers → the loss curves of ``history.csv``.
"""

from __future__ import annotations

from pathlib import Path

import ipywidgets as W
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from workbench.geometry.equirect import resize_range
from workbench.viz.labels import short_id
from workbench.viz.plots import depth_row_figure, history_figure
from workbench.viz.sources import view_source
from workbench.viz.widgets import replace_figure

__all__ = ["HistoryViewer", "PredictionBrowser", "ViewBrowser"]


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


class PredictionBrowser(W.VBox):
    """Pick a model and a view: the prediction beside the ground truth and the error, in metres.
    ``models`` maps a name to a loaded predictor (``predict``)."""

    def __init__(self, models: dict, records, root=None, step: int = 2):
        self.records, self.root, self._load = view_source(records, root)
        self.models, self.step = models, step
        names = list(models)
        self.model = W.Dropdown(options=names, value=names[0], description="model")
        self.view = W.Dropdown(options=_view_options(self.records), value=0, description="view")
        self.info, self.fig = W.HTML(), go.FigureWidget()
        for c in (self.model, self.view):
            c.observe(self.refresh, "value")
        self.refresh()
        super().__init__([W.HBox([self.model, self.view]), self.info, self.fig])

    def refresh(self, _=None):
        r = self.records[self.view.value]
        v = self._load(r)
        pred = self.models[self.model.value].predict(v.rgb, name=r.rgb_path)
        gt = v.range_m if v.range_m.shape == pred.shape else resize_range(v.range_m, pred.shape[0])
        valid = gt > 0
        rel = float(np.mean(np.abs(pred[valid] - gt[valid]) / gt[valid])) if valid.any() else 0
        where = f"{short_id(r.scene_id)}/{r.view_id}"
        self.info.value = f"{self.model.value} on {where}: AbsRel {rel:.3f}"
        fig = depth_row_figure(v.rgb, pred, gt, title=self.model.value, step=self.step)
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
