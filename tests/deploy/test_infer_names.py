"""`infer`'s output names across inputs and runs: an image reached twice in one run is
inferred once; an earlier run's outputs are never another image's to replace; notes edited
beside a model do not make a re-run redo everything."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.configs import TrainConfig

RGB = sorted((Path(__file__).parents[2] / "data_samples" / "rgbd-folder" / "rgb").glob("*.png"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A model folder (``model.keras`` and a model card beside it)."""
    from workbench.model.saving import save_keras_atomic
    from workbench.model.unet import build_from_config

    folder = tmp_path_factory.mktemp("model")
    save_keras_atomic(build_from_config(TrainConfig(height=32, model_width=4, model_depth=2)),
                      folder / "model.keras")  # fmt: skip
    (folder / "MODEL_CARD.md").write_text("# a model\n")
    return folder / "model.keras"


def _infer(model, out, *paths) -> int:
    return main(["infer", *map(str, paths), "--model", str(model), "--out", str(out),
                 "--no-progress"])  # fmt: skip


def test_an_image_reached_twice_is_inferred_once(tiny_run, tmp_path, capsys):
    """`infer in in/sub` did sub's images twice, under two names; `infer one one/p.png` wrote
    p_png and p_png_2 and no p."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(RGB[0], src / "a.png")
    shutil.copy(RGB[1], src / "sub" / "b.png")
    out = tmp_path / "out"
    assert _infer(tiny_run, out, src, src / "sub", src / "a.png") == 0
    assert "infer: 2 images" in capsys.readouterr().out
    info = json.loads((out / "infer.json").read_text())
    assert sorted(r["output"] for r in info["images"]) == ["a", "sub/b"]
    assert not list(out.rglob("*_2_depth.npy")) and not list(out.glob("*_png_depth.npy"))


def test_an_earlier_runs_output_is_not_another_images_to_replace(tiny_run, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(RGB[0], a / "p.png")
    shutil.copy(RGB[1], b / "p.png")
    out = tmp_path / "out"
    assert _infer(tiny_run, out, a) == 0
    first = np.load(out / "p_depth.npy")
    capsys.readouterr()
    assert _infer(tiny_run, out, b) == 2
    err = capsys.readouterr().err
    assert "--out: " in err and f"are {a / 'p.png'}'s (an earlier run)" in err
    assert f"{b / 'p.png'} would replace them" in err
    np.testing.assert_array_equal(np.load(out / "p_depth.npy"), first)
    assert _infer(tiny_run, out, a) == 0  # the same image again: a re-run, skipped
    assert "1 finished before, skipped" in capsys.readouterr().out
    moved = tmp_path / "moved"
    shutil.copytree(a, moved)
    shutil.copystat(a / "p.png", moved / "p.png")
    assert _infer(tiny_run, out, moved) == 0  # the same file moved: the same image


def test_an_edited_model_card_does_not_redo_a_run(tiny_run, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(RGB[0], src / "a.png")
    model = tmp_path / "m"
    shutil.copytree(tiny_run.parent, model)
    out = tmp_path / "out"
    assert _infer(model, out, src) == 0
    (model / "MODEL_CARD.md").write_text("# a model\n\nmeasured since\n")
    (model / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert _infer(model, out, src) == 0
    assert "1 finished before, skipped" in capsys.readouterr().out


@pytest.mark.parametrize("size", [(20, 40), (8, 16)])
def test_a_thumbnail_is_refused_like_validate_refuses_it(tiny_run, tmp_path, capsys, size):
    """A 40x20 image got a depth map 2.6x nearer than the same photo at full size."""
    from workbench.io import write_image

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(RGB[0], src / "a.png")
    write_image(src / "thumb.png", np.full((*size, 3), 128, np.uint8))
    assert _infer(tiny_run, tmp_path / "out", src) == 1
    out = capsys.readouterr().out
    assert f"thumb.png: image is {size[1]}x{size[0]} pixels, too small (at least 64x32)" in out
