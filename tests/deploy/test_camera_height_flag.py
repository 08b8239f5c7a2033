"""``infer``/``eval`` ``--camera-height`` and ``infer --upsample`` on the command line (the
shipped default model, in this process)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.paths import SAMPLES

IMAGE = SAMPLES / "rgbd-folder" / "rgb" / "d169f286_001.png"  # a room with its floor in view


@pytest.mark.parametrize("verb", ["infer", "eval"])
@pytest.mark.parametrize("value", ["0.1", "3.5", "nan", "-1"])
def test_range_checked(verb, value, capsys):
    assert main([verb, "anything", "--camera-height", value]) == 2
    err = capsys.readouterr().err
    assert "--camera-height" in err and len(err.strip().splitlines()) == 1
    assert "must be 0 (off) or between 0.3 and 3.0 metres" in err  # -1 said ">= 0" alone


def _infer(tmp_path, name: str, *flags: str) -> tuple[np.ndarray, dict]:
    out = tmp_path / name
    assert main(["infer", str(IMAGE), "--out", str(out), "--no-progress", *flags]) == 0
    info = json.loads((out / "infer.json").read_text())
    return np.load(out / f"{IMAGE.stem}_depth.npy"), info


def test_infer_rescales_and_records(tmp_path, capsys):
    plain, info = _infer(tmp_path, "plain", "--upsample", "bilinear")
    assert "rescale" not in info["images"][0]
    scaled, info = _infer(tmp_path, "scaled", "--upsample", "bilinear", "--camera-height", "1.5")
    record = info["images"][0]["rescale"]
    assert record["camera_height_m"] == 1.5 and 0.5 < record["factor"] < 2.0
    np.testing.assert_allclose(scaled, plain * record["factor"], rtol=1e-3)
    assert info["signature"]["camera_height"] == 1.5
    assert "rescaled to a 1.5 m camera height" in capsys.readouterr().out
    guided, info = _infer(tmp_path, "guided")
    assert info["signature"]["upsample"] == "guided" and guided.shape == plain.shape
    assert np.all(guided > 0)
    # guided and bilinear agree away from edges: same scale, different edges
    assert np.median(guided / plain) == pytest.approx(1.0, abs=0.02)


def test_no_floor_written_unscaled_others_go_on(tmp_path, monkeypatch, capsys):
    import workbench.deploy.infer as infer

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(IMAGE, folder / name)
    real = infer.rescale_to_camera_height

    def no_floor_in_b(depth, h, label):
        if label.endswith("b.png"):
            raise WorkbenchError(f"--camera-height {h:g}: no floor visible to rescale to", label)
        return real(depth, h, label)

    monkeypatch.setattr(infer, "rescale_to_camera_height", no_floor_in_b)
    out = tmp_path / "out"
    args = ["infer", str(folder), "--out", str(out), "--no-progress", "--camera-height", "1.5"]
    assert main(args) == 0
    rows = {
        r["output"]: r["rescale"] for r in json.loads((out / "infer.json").read_text())["images"]
    }
    assert rows["a"]["factor"] > 0 and rows["b"]["factor"] is None
    assert "b.png" in rows["b"]["problem"] and (out / "b_depth.npy").is_file()
    assert "not rescaled (written unscaled)" in capsys.readouterr().out


def test_depth_beyond_the_png_range_is_counted_and_said(tmp_path):
    import cv2

    from workbench.deploy.infer import PNG_MAX_M, _clipped_lines, _row, write_outputs
    from workbench.deploy.inputs import InferItem

    depth = np.full((8, 16), 3.0, np.float32)
    depth[4, :5] = 80.0  # a window onto a far street, say
    item = InferItem(IMAGE, tmp_path / "far", None, "")
    row = _row(item, depth)
    assert row["png_clipped_pixels"] == 5 and "png_clipped_pixels" not in _row(item, depth * 0 + 1)
    write_outputs(tmp_path, tmp_path / "far", np.zeros((8, 16, 3), np.uint8), depth, False)
    png = cv2.imread(str(tmp_path / "far_depth.png"), cv2.IMREAD_UNCHANGED)
    assert png.max() == round(PNG_MAX_M * 1000) and np.load(tmp_path / "far_depth.npy").max() == 80
    (line,) = _clipped_lines([row, {"output": "near"}])
    assert "1 image(s) with depth beyond 65.535 m" in line and "_depth.npy keeps it" in line
    assert _clipped_lines([{"output": "near"}]) == []
