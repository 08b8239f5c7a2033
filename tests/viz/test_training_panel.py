"""The notebook's training panel (grouped form, Train button in a thread, live loss plot) and
the dumps browser, on a real tiny run."""

import dataclasses

import ipywidgets as W
import pytest

from tests.helpers import tiny_train_config, write_sample_lists
from workbench.configs import TrainConfig
from workbench.errors import WorkbenchError
from workbench.training.supervised import train
from workbench.viz.training_panel import TRAIN_GROUPS, DumpsBrowser, TrainPanel, next_run_dir


def test_next_run_dir_never_reuses_a_folder(tmp_path):
    assert next_run_dir(tmp_path / "none").name == "run-001"
    (tmp_path / "run-001").mkdir()
    (tmp_path / "run-007").mkdir()
    (tmp_path / "run-x").mkdir()
    assert next_run_dir(tmp_path).name == "run-008"


def test_groups_cover_every_train_field():
    grouped = [n for names in TRAIN_GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    assert len(grouped) == len(set(grouped))


def test_panel_trains_in_the_background_and_follows_the_loss(tmp_path):
    lists = write_sample_lists(tmp_path / "lists")
    tiny = dataclasses.asdict(tiny_train_config(lists, tmp_path / "run", steps=4, dump_every=2))
    panel = TrainPanel(TrainConfig, train, **tiny)
    assert isinstance(panel.form, W.Tab) and panel.form.titles[:2] == ("data", "model")
    panel.form.controls["steps"].value = 4
    panel.button.click()
    summary = panel.wait(timeout=300)
    assert summary is not None and summary["steps"] == 4, panel.status.value
    assert "done: 4 steps" in panel.status.value
    total = [t for t in panel.loss.data if t.name == "total"][0]
    assert len(total.x) >= 2 and all(v > 0 for v in total.y)
    browser = DumpsBrowser(tmp_path / "run")
    assert browser.steps == [2, 4]
    first = browser.images["depth_pred"].value
    assert first[:4] == b"\x89PNG" and browser.images["depth_gt"].value[:4] == b"\x89PNG"
    browser.step.value = 2
    assert browser.images["depth_pred"].value != first


def test_panel_reports_a_bad_form_and_a_refused_run(tmp_path):
    lists = write_sample_lists(tmp_path / "lists")
    panel = TrainPanel(TrainConfig, train, **dataclasses.asdict(
        tiny_train_config(lists, tmp_path / "run")))  # fmt: skip
    panel.form.controls["lr"].value = -1.0
    panel.start()
    assert panel.status.value.startswith("<b>not started</b>") and "lr" in panel.status.value
    assert panel.status_text().startswith("not started: ")  # printed by notebook 05
    panel.form.controls["lr"].value = 1e-3
    panel.form.controls["train_csv"].value = str(tmp_path / "missing.csv")
    panel.start()
    assert panel.wait(timeout=120) is None
    assert "stopped" in panel.status.value and "missing.csv" in panel.status.value
    with pytest.raises(WorkbenchError, match="missing.csv"):  # what a headless notebook shows
        panel.result()
    with pytest.raises(WorkbenchError, match="no visual dumps"):
        DumpsBrowser(tmp_path)


def test_a_press_after_a_finished_run_trains_into_a_fresh_folder_and_stop_ends_it(tmp_path):
    """The notebook's order: a run into run-001 already happened (Run All), then Train is
    pressed; Stop right after the press ends the run after its first step, at a checkpoint."""
    lists = write_sample_lists(tmp_path / "lists")
    done = tmp_path / "runs" / "run-001"
    (done / "checkpoints").mkdir(parents=True)
    (done / "checkpoints" / "checkpoint").write_text("earlier run")
    (tmp_path / "runs" / "run-004").mkdir()  # an older, unrelated folder: never reused
    panel = TrainPanel(TrainConfig, train, **dataclasses.asdict(
        tiny_train_config(lists, done, steps=500, dump_every=0, val_every=0)))  # fmt: skip
    assert "run folder" in panel.form.helps["logdir"].value  # the field's doc beside it
    panel.button.click()
    panel.stop_button.click()
    summary = panel.wait(timeout=300)
    assert summary is not None, panel.status.value
    assert panel.config.logdir == str(tmp_path / "runs" / "run-005")
    assert panel.form.controls["logdir"].value == panel.config.logdir
    assert 1 <= summary["steps"] < 500
    assert panel.status.value.startswith(f"stopped at step {summary['steps']}")
    assert (tmp_path / "runs" / "run-005" / "checkpoints" / "checkpoint").is_file()
    assert (tmp_path / "runs" / "run-005" / "model.keras").is_file()
    assert not panel.button.disabled and panel.stop_button.disabled
    assert (done / "checkpoints" / "checkpoint").read_text() == "earlier run"  # untouched
