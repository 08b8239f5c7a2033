"""The prediction browser's camera-height box (workbench/viz/browsers.py), on the analytic box
room: a "model" that predicts the true range times 1.3, and one that sees no floor (no dataset
or network is read)."""

from types import SimpleNamespace

import numpy as np
import pytest

from workbench.configs.commands import CAMERA_HEIGHT_HELP
from workbench.geometry.analytic import box_room
from workbench.viz.browsers import PredictionBrowser, rescale_readout

H = 32
CAMERA_HEIGHT = 1.4  # the box's floor (y = +1.4, y down) below the camera at the origin
TRUE = box_room(H, lo=(-2.0, -1.3, -3.0), hi=(2.5, CAMERA_HEIGHT, 2.0), centre=(0.3, 0, 0.2))[0]
NO_FLOOR = TRUE * 1.3
NO_FLOOR[H // 2 :] = 0  # nothing valid below the horizon
PREDICTIONS = {"room": TRUE * 1.3, "no floor": NO_FLOOR}
# fit_floor's least squares on the exact planar floor: well under 1 % on any instruction set
TOL = 0.01


class ScaledModel:
    """Predicts the analytic range times 1.3 (``no floor``: the lower half invalid)."""

    def predict(self, rgb, name=""):
        return PREDICTIONS[name]


class BoxRoomViews:
    """A dataset-like source: two views of the box room, its exact range as ground truth."""

    root = "."
    records = [SimpleNamespace(scene_id="box", view_id=v, rgb_path=v) for v in PREDICTIONS]

    def load(self, record):
        return SimpleNamespace(rgb=np.full((H, 2 * H, 3), 128, np.uint8), range_m=TRUE)


def shown(b: PredictionBrowser) -> np.ndarray:
    """The prediction panel's metres (step 1: every pixel; NaN where blank)."""
    return np.asarray(b.fig.data[1].z, float)


@pytest.fixture
def browser():
    return PredictionBrowser({"scaled": ScaledModel()}, BoxRoomViews(), step=1)


def test_zero_is_off(browser):
    assert browser.camera_height.value == 0 and "off" in browser.scale.value
    np.testing.assert_allclose(shown(browser), TRUE * 1.3, rtol=1e-4)
    assert "AbsRel 0.300 (as predicted)" in browser.info.value
    assert "as predicted" in browser.fig.layout.title.text


def test_true_camera_height_gives_back_the_true_range(browser):
    browser.camera_height.value = CAMERA_HEIGHT
    np.testing.assert_allclose(shown(browser), TRUE, rtol=TOL)
    factor = float(browser.scale.value.split("×")[1].split()[0])
    assert factor == pytest.approx(1 / 1.3, rel=TOL)
    assert "covers" in browser.scale.value and "% of the view" in browser.scale.value
    # the per-view AbsRel follows the rescaled prediction and says so, beside the unscaled one
    abs_rel = float(browser.info.value.split("AbsRel ")[1].split()[0])
    assert abs_rel < TOL and "rescaled to a 1.4 m camera height; as predicted 0.300" in (
        browser.info.value
    )
    assert "rescaled ×" in browser.fig.layout.title.text
    browser.camera_height.value = 0  # and back off
    np.testing.assert_allclose(shown(browser), TRUE * 1.3, rtol=1e-4)
    assert "AbsRel 0.300 (as predicted)" in browser.info.value


def test_no_floor_is_refused_and_shown_as_predicted(browser):
    browser.camera_height.value = CAMERA_HEIGHT
    browser.view.value = 1
    assert "not rescaled, shown as predicted: no floor visible" in browser.scale.value
    assert "too few valid pixels below the horizon" in browser.scale.value
    z = shown(browser)
    top = TRUE[: H // 2] * 1.3
    np.testing.assert_allclose(z[: H // 2], top, rtol=1e-4)  # unscaled, not 1/1.3 of it
    assert np.isnan(z[H // 2 :]).all()
    assert "(as predicted)" in browser.info.value
    assert "as predicted" in browser.fig.layout.title.text


def test_height_outside_the_rig_range_is_refused(browser):
    browser.camera_height.value = 0.2
    assert "not rescaled" in browser.scale.value and "between 0.3 and 3.0" in browser.scale.value
    np.testing.assert_allclose(shown(browser), TRUE * 1.3, rtol=1e-4)
    browser.camera_height.value = 7.0  # the box stops at the CLI's top
    assert browser.camera_height.value == 3.0


def test_the_box_says_what_the_cli_says(browser):
    assert browser.camera_height.tooltip == CAMERA_HEIGHT_HELP
    assert "0.3-3.0" in CAMERA_HEIGHT_HELP and browser.camera_height.max == 3.0


def test_rescale_readout_leaves_the_input_alone():
    pred = TRUE * 0.5
    out, factor, line = rescale_readout(pred, CAMERA_HEIGHT)
    assert factor == pytest.approx(2.0, rel=TOL) and line.startswith("camera height 1.4 m")
    np.testing.assert_array_equal(pred, TRUE * 0.5)
    out, factor, line = rescale_readout(pred, 0)
    assert out is pred and factor is None
