"""`open_views`: a dataset as `open_dataset` opens it, or a folder of panoramas alone."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import Dataset
from workbench.deploy.panoramas import PanoramaFolder, open_views
from workbench.errors import WorkbenchError
from workbench.io import read_rgb, write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


def test_a_dataset_opens_as_a_dataset():
    ds = open_views(SAMPLES / "realsee3d")
    assert isinstance(ds, Dataset) and ds.has_depth


def test_a_folder_of_panoramas_is_one_view_per_image_without_depth_or_pose(tmp_path):
    srcs = sorted((SAMPLES / "seed").glob("*/pan/low/*.jpg"))[:2]
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(srcs[0], tmp_path / "a" / "top.jpg")
    shutil.copy(srcs[1], tmp_path / "a" / "b" / "deep.JPG")
    write_image(tmp_path / "a" / "wide.png", np.zeros((10, 30, 3), np.uint8))
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    write_image(tmp_path / "a" / "grey16.png", np.full((16, 32), 900, np.uint16))
    (tmp_path / "a" / ".hidden.jpg").write_bytes(srcs[0].read_bytes())
    views = open_views(tmp_path / "a")
    assert isinstance(views, PanoramaFolder) and not views.has_depth and not views.has_poses
    assert [(r.scene_id, r.view_id, r.rgb_path) for r in views] == [
        ("b", "deep", "b/deep.JPG"),
        ("a", "top", "top.jpg"),
    ]
    assert sorted(f.split(":")[0] for f in views.failed) == ["broken.jpg", "grey16.png", "wide.png"]
    v = views.load(1)
    assert np.array_equal(v.rgb, read_rgb(srcs[0])) and v.T_world_from_cam is None
    assert v.range_m.shape == v.rgb.shape[:2] and not v.range_m.any()  # no depth: all invalid
    assert views.summary().startswith("a: 2 panoramas alone") and "3 left out" in views.summary()


def test_no_usable_panorama_is_one_error_naming_the_folder(tmp_path):
    write_image(tmp_path / "wide.png", np.zeros((10, 30, 3), np.uint8))
    with pytest.raises(WorkbenchError, match="no usable panorama") as e:
        open_views(tmp_path)
    assert str(tmp_path) in str(e.value) and "wide.png" in str(e.value)
    with pytest.raises(WorkbenchError, match="no such|not found|does not exist|not a folder"):
        open_views(tmp_path / "missing")
