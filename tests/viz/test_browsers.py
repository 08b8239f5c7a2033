"""The notebook browsers: each widget drives its figure."""

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SAMPLES, tiny_train_config, write_sample_lists
from workbench.data.dataset import index_dataset
from workbench.model.predictor import load
from workbench.viz.browsers import HistoryViewer, PredictionBrowser, ViewBrowser

RECORDS = index_dataset(SAMPLES)[:3]


def test_view_browser_shows_the_picked_view_in_metres():
    b = ViewBrowser(RECORDS, SAMPLES, step=4)
    z0 = np.asarray(b.fig.data[1].z, float)
    assert b.fig.data[1].colorbar.title.text == "m" and np.nanmax(z0) > 0.3
    b.view.value = 2
    assert not np.array_equal(np.asarray(b.fig.data[1].z, float), z0, equal_nan=True)
    assert RECORDS[2].view_id in b.fig.layout.title.text


def test_prediction_browser_scores_the_picked_model():
    models = {
        "keras": load(),
        "int8 tflite": load(SAMPLES.parents[1] / "models/default/model_int8.tflite"),
    }
    b = PredictionBrowser(models, RECORDS, SAMPLES, step=4)
    assert len(b.fig.data) == 4 and "keras on" in b.info.value and "AbsRel" in b.info.value
    pred = np.asarray(b.fig.data[1].z, float)
    b.model.value = "int8 tflite"
    assert "int8 tflite on" in b.info.value
    assert not np.array_equal(np.asarray(b.fig.data[1].z, float), pred, equal_nan=True)


def test_history_viewer_follows_run_and_columns(tmp_path):
    from workbench.training.supervised import train

    lists = write_sample_lists(tmp_path / "lists")
    train(tiny_train_config(lists, tmp_path / "run", steps=4))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "history.csv").write_text("step,total,photo\n1,3.0,2.0\n2,2.0,1.0\n")
    v = HistoryViewer({"supervised": tmp_path / "run", "other": tmp_path / "other"})
    assert [t.name for t in v.fig.data] == ["total", "l1"]
    v.columns.value = ("ssim",)
    assert [t.name for t in v.fig.data] == ["ssim"]
    v.run.value = "other"
    assert list(v.columns.options) == ["total", "photo"]
    assert [t.name for t in v.fig.data] == ["total", "photo"]


def test_dataset_picker_opens_a_folder_into_the_browser(tmp_path):
    from workbench import open_dataset
    from workbench.viz.browsers import ViewBrowser
    from workbench.viz.dataset_picker import DatasetPicker

    samples = Path(__file__).resolve().parents[2] / "data_samples"
    ds = open_dataset(samples / "seed")
    picker, browser = DatasetPicker(ds), ViewBrowser(ds)
    picker.on_open(browser.set_dataset)
    browser.view.value = 5
    picker.folder.value = str(samples / "stanford2d3d")
    assert picker.load()
    assert picker.dataset.spec.encoding == "stanford2d3d" and "stanford2d3d" in picker.status.value
    assert len(browser.view.options) == 3 and browser.view.value == 0
    assert browser.fig.layout.title.text.startswith(picker.dataset.records[0].scene_id[:8])
    v = picker.dataset.load(0)  # the browser shows the dataset's metres (512 per metre here)
    shown = [x for row in browser.fig.data[1].z for x in row if x is not None]  # None: invalid
    assert max(shown) == pytest.approx(v.range_m.max(), rel=0.05)
    picker.folder.value = str(tmp_path / "nowhere")
    assert not picker.load()
    assert "not a folder" in picker.status.value and picker.dataset.name == "stanford2d3d"
