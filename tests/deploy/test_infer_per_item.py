"""`infer` on a folder goes image by image: an unreadable image, an output name too long for the
file system or an image the model fails on is listed (summary and ``infer.json``), the good
images beside it in the same batch are written, exit 1."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.configs import TrainConfig

RGB = sorted((Path(__file__).parents[2] / "data_samples" / "rgbd-folder" / "rgb").glob("*.png"))[0]
LONG = "p" * 246  # + ".png" is a legal name; + "_depth_color.png" is not (NAME_MAX 255)


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    from workbench.model.saving import save_keras_atomic
    from workbench.model.unet import build_from_config

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model = build_from_config(TrainConfig(height=32, model_width=4, model_depth=2))
    return save_keras_atomic(model, path)


def test_one_bad_image_does_not_fail_its_batch(tiny_keras, tmp_path, capsys):
    src = tmp_path / "imgs"
    src.mkdir()
    for name in ("a_good.png", f"{LONG}.png", "z_good.png"):
        shutil.copy(RGB, src / name)
    (src / "m_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    argv = ["infer", str(src), "--model", str(tiny_keras), "--out", str(out), "--batch", "4"]
    assert main([*argv, "--no-progress"]) == 1
    printed = capsys.readouterr().out
    for name in ("a_good", "z_good"):
        assert (out / f"{name}_depth.npy").is_file() and (out / f"{name}_normals.png").is_file()
    info = json.loads((out / "infer.json").read_text())
    assert sorted(Path(r["image"]).name for r in info["images"]) == ["a_good.png", "z_good.png"]
    errors = sorted(f["error"] for f in info["failed"])
    assert len(errors) == 2
    assert "m_broken.png" in errors[0]
    assert f"{LONG}.png" in errors[1] and "cannot write (File name too long)" in errors[1]
    assert not list(out.glob(f"{LONG}_*"))  # none of its files: it left _depth.npy and .png
    assert "infer: 2 images" in printed and "2 failed" in printed
    assert printed.count("  failed: ") == 2
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert hidden == [".workbench-output"]  # its folder's mark; no temporary left


def test_a_batch_the_model_fails_on_is_retried_image_by_image():
    from workbench.deploy.infer import _predict_each

    class Picky:
        def predict_batch(self, x):
            if np.isnan(x).any():
                raise ValueError("NaN input")
            return x[..., 0] + 1.0

    ready = [(None, None, (np.full((4, 8, 3), v, np.float32), None)) for v in (0.0, np.nan, 2.0)]
    preds = _predict_each(Picky(), ready)
    assert float(preds[0][0, 0]) == 1.0 and float(preds[2][0, 0]) == 3.0
    assert isinstance(preds[1], ValueError)


def test_an_output_folder_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    assert main(["infer", str(RGB), "--out", str(tmp_path / "afile")]) == 2
    assert "afile: exists and is not a folder" in capsys.readouterr().err


def test_normals_follow_the_shape_not_the_depth_ripples(tmp_path):
    import cv2

    from workbench.deploy.infer import write_outputs

    lat = np.linspace(-1.5, 1.5, 32)[:, None]
    smooth = np.broadcast_to(2.0 / np.maximum(np.cos(lat), 0.3), (32, 64)).astype(np.float32)
    ripples = (smooth * (1 + 0.05 * (np.indices((32, 64)).sum(0) % 2))).astype(np.float32)
    rgb = np.zeros((32, 64, 3), np.uint8)
    write_outputs(tmp_path, Path("plain"), rgb, smooth, False)
    write_outputs(tmp_path, Path("guided"), rgb, ripples, False, shape_from=3.0 * smooth)
    write_outputs(tmp_path, Path("raw"), rgb, ripples, False)
    png = {k: cv2.imread(str(tmp_path / f"{k}_normals.png")) for k in ("plain", "guided", "raw")}
    assert np.array_equal(png["guided"], png["plain"])  # normals do not depend on scale
    assert not np.array_equal(png["raw"], png["plain"])
    np.testing.assert_array_equal(np.load(tmp_path / "guided_depth.npy"), ripples)


@pytest.mark.parametrize("n_bad", [2, 5])
def test_a_folder_of_bad_images_is_refused_naming_their_reasons(tmp_path, capsys, n_bad):
    """No image decodes: exit 2 before the model loads (no output folder), one line giving the
    first three files and their reasons, and how many more."""
    src = tmp_path / "imgs"
    src.mkdir()
    (src / "a_empty.png").write_bytes(b"")
    for i in range(1, n_bad):
        (src / f"b{i}_text.jpg").write_text("not an image")
    out = tmp_path / "out"
    assert main(["infer", str(src), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"all {n_bad} images failed: " in err
    assert "a_empty.png: empty file (0 bytes)" in err and "b1_text.jpg: unreadable" in err
    assert ("(and 2 more)" in err) == (n_bad == 5)
    assert not out.exists()


def test_pad_and_ply_write_the_cloud_of_an_image_of_any_aspect(tiny_keras, tmp_path, capsys):
    """`--pad --ply` failed on every image that is not 2:1 ("range_m must be (H, W) with
    W == 2*H"): the cloud is that of the 2:1 letterbox the model saw, padding left out."""
    import cv2
    import open3d as o3d

    from workbench.deploy.infer import cloud_any_aspect

    src = tmp_path / "imgs"
    src.mkdir()
    img = cv2.imread(str(RGB))
    cv2.imwrite(str(src / "tall.png"), img[:, : img.shape[1] // 3])  # 3:2
    cv2.imwrite(str(src / "wide.png"), cv2.resize(img, (img.shape[1], img.shape[0] // 3)))
    out = tmp_path / "out"
    argv = ["infer", str(src), "--model", str(tiny_keras), "--out", str(out), "--pad", "--ply"]
    assert main([*argv, "--no-progress"]) == 0
    for name in ("tall", "wide"):
        depth = np.load(out / f"{name}_depth.npy")
        cloud = o3d.io.read_point_cloud(str(out / f"{name}.ply"))
        assert len(cloud.points) == int((depth > 0).sum())  # every pixel once, no padding
    # a 4:1 strip sits in the middle rows of its 8x16 letterbox: latitudes within ±33.75°
    depth = np.full((4, 16), 2.0, np.float32)
    c = cloud_any_aspect(np.zeros((4, 16, 3), np.uint8), depth, np.zeros((4, 16, 3), np.float32))
    assert len(c.points) == 64 and np.allclose(np.linalg.norm(c.points, axis=1), 2.0, atol=1e-5)
    assert np.abs(c.points[:, 1]).max() == pytest.approx(2.0 * np.sin(np.radians(33.75)), 1e-5)


def test_export_refuses_a_model_that_is_not_a_depth_model_before_any_folder(tmp_path, capsys):
    """A `train-pose` run (6-channel input) got "in user code:" and left its --out folder."""
    import keras

    x = keras.Input((32, 64, 6))
    pose = keras.Model(x, keras.layers.Conv2D(1, 1)(x))
    path = tmp_path / "pose.keras"
    pose.save(path)
    out = tmp_path / "exp"
    argv = ["export", "--checkpoint", str(path), "--out", str(out), "--quantize", "none"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        f"workbench: error: {path}: not a depth model of this workbench: input "
        "(None, 32, 64, 6) (expected (B, H, 2H, 3))\n"
    )
    assert not out.exists()


def test_a_folder_of_panoramas_leaves_out_what_infer_refuses(tmp_path):
    """Notebook 06 listed an 8x4 thumbnail (infer refuses it) and raised when it was picked;
    of 4 images left out it named one."""
    import cv2

    from workbench.deploy.panoramas import open_views

    img = cv2.imread(str(RGB))
    cv2.imwrite(str(tmp_path / "pano.png"), img)
    cv2.imwrite(str(tmp_path / "tiny.png"), cv2.resize(img, (8, 4)))
    cv2.imwrite(str(tmp_path / "crop.png"), img[:30, :40])
    cv2.imwrite(str(tmp_path / "small.png"), cv2.resize(img, (40, 20)))
    views = open_views(tmp_path)
    assert [r.view_id for r in views.records] == ["pano"]
    assert sorted(f.split(":")[0] for f in views.failed) == ["crop.png", "small.png", "tiny.png"]
    said = views.summary()
    assert "3 left out (" in said and "too small" in said and " and 1 more)" in said
