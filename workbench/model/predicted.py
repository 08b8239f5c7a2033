"""A dataset seen through a depth model: every view's range replaced by the model's prediction
(metres, resized to the panorama's size), its RGB and pose kept. For datasets without depth
(panoramas and poses only) this is what the point-cloud and two-view widgets show: predicted
depth placed by the known poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.data.layouts import View, ViewRecord
from workbench.geometry.equirect import resize_range

__all__ = ["PredictedDepth"]


class PredictedDepth:
    """``records``, ``root`` and ``load(record) -> View`` of ``dataset``, with
    ``View.range_m`` the prediction of ``predictor`` (:func:`workbench.model.predictor.load`)
    at the panorama's size, ``(H, W) float32`` metres. Predictions are cached per view.

    Args:
        dataset: an opened dataset (:func:`workbench.open_dataset`).
        predictor: anything with ``predict(rgb (H, W, 3) uint8, name) -> (h, w) metres``.
    """

    def __init__(self, dataset, predictor):
        self.dataset, self.predictor = dataset, predictor
        self.records, self.root = list(dataset.records), Path(dataset.root)
        self._cache: dict[tuple[str, str], View] = {}

    def __len__(self) -> int:
        return len(self.records)

    def load(self, record: ViewRecord | int, with_pose: bool = True) -> View:
        if isinstance(record, int):
            record = self.records[record]
        key = (record.scene_id, record.view_id)
        if key not in self._cache:
            v = self.dataset.load(record, with_pose)
            pred = np.asarray(self.predictor.predict(v.rgb, name=record.rgb_path), np.float32)
            if pred.shape != v.rgb.shape[:2]:
                pred = resize_range(pred, *v.rgb.shape[:2])
            self._cache[key] = View(record, v.rgb, pred, v.T_world_from_cam)
        return self._cache[key]
