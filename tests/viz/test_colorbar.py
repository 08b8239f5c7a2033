import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.viz.colorbar import add_colour_bar, bar_height, nice_ticks
from workbench.viz.colorize import colorize_depth


@pytest.mark.parametrize(
    "lo, hi, want",
    [
        (0.3, 6.2, [1, 2, 3, 4, 5, 6]),
        (1.02, 1.9, [1.2, 1.4, 1.6, 1.8]),
        (0.0, 8.0, [0, 2, 4, 6, 8]),
        (0.1, 80.0, [20, 40, 60, 80]),
        (2.001, 2.004, list(np.linspace(2.001, 2.004, 7))),  # 0.5 mm steps
    ],
)
def test_nice_ticks_hand_checked(lo, hi, want):
    assert nice_ticks(lo, hi) == pytest.approx(want)


@pytest.mark.parametrize("lo, hi", [(1.0, 1.0), (2.0, 1.0), (0.0, float("nan"))])
def test_nice_ticks_refuses_an_empty_range(lo, hi):
    with pytest.raises(WorkbenchError, match="vmax > vmin"):
        nice_ticks(lo, hi)


@pytest.mark.parametrize("w", [8, 64, 512, 2048])
def test_bar_keeps_the_map_and_colours_values_where_they_lie(w):
    r = np.tile(np.linspace(0.5, 5.5, w, dtype=np.float32), (w // 2, 1))
    img = colorize_depth(r, 0.5, 5.5)
    out = add_colour_bar(img, 0.5, 5.5)
    h = bar_height(w)
    assert out.shape == (w // 2 + h, w, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[: w // 2], img)  # the map's rows unchanged
    grad = out[w // 2 + 1].astype(int)  # the gradient row: coloured from 6 % to 94 % of W
    inside = np.flatnonzero(grad.sum(-1) > 0)
    assert inside[0] == round(0.06 * w) and inside[-1] == max(round(0.94 * w), inside[0] + 1) - 1
    # a hand-checked colour: the gradient at the position of 3.0 m is 3.0 m's colour
    x = inside[0] + int(round((3.0 - 0.5) / 5.0 * inside.size))
    want = colorize_depth(np.array([[3.0]]), 0.5, 5.5)[0, 0].astype(int)
    assert np.abs(grad[min(x, inside[-1])] - want).max() <= 40  # one column of 8 px at most


def test_bar_writes_labels_when_there_is_room():
    img = np.zeros((256, 512, 3), np.uint8)
    out = add_colour_bar(img, 0.5, 5.5)
    labels = out[256 + bar_height(512) // 2 + 4 :]
    assert (labels.min(axis=-1) > 128).sum() > 60  # white text drawn (anti-aliased)
    wide = add_colour_bar(np.zeros((1024, 2048, 3), np.uint8), 0.5, 5.5)[1024:]
    assert (wide[:, round(0.95 * 2048) :].min(axis=-1) > 128).any()  # "m" right of the gradient
    tiny = add_colour_bar(np.zeros((4, 8, 3), np.uint8), 0.5, 5.5)
    assert tiny.shape == (4 + bar_height(8), 8, 3)  # no room: labels left out, no error


def test_bar_refuses_a_non_rgb_image():
    with pytest.raises(WorkbenchError, match=r"\(H, W, 3\) uint8"):
        add_colour_bar(np.zeros((4, 8), np.float32), 0.0, 1.0)
