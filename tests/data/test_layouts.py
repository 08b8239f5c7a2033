from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import index_dataset
from workbench.data.layouts import detect_layout, load_view, read_depth
from workbench.errors import WorkbenchError
from workbench.geometry.pose import check_rigid
from workbench.io import save_npy, write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"


@pytest.mark.parametrize(
    "layout, scenes, views, scale",
    [("seed", 6, 24, 1000.0), ("realsee3d", 1, 3, 1000.0), ("rgbd-folder", 1, 4, 4000.0)],
)
def test_every_reader_on_samples(layout, scenes, views, scale):
    root = SAMPLES / layout
    assert detect_layout(root) == layout
    recs = index_dataset(root, depth_scale=scale)
    assert len(recs) == views and len({r.scene_id for r in recs}) == scenes
    for rec in recs:
        v = load_view(rec, root)
        h, w = v.rgb.shape[:2]
        assert v.rgb.dtype == np.uint8 and w == 2 * h
        assert v.range_m.shape == (h, w) and v.range_m.dtype == np.float32
        valid = v.range_m > 0
        # RealSee3D's sample is sparse like its real LiDAR scans (19-21 % valid: scan lines,
        # dropout, blind spots, and windows seeing past 16.38 m, which 4000 per metre cannot hold)
        assert valid.mean() > (0.17 if layout == "realsee3d" else 0.3)
        assert 0.1 < v.range_m[valid].max() < 100
        check_rigid(v.T_world_from_cam)


def test_layouts_agree_on_the_same_view():
    # the rgbd-folder sample is scene seed=8 converted: PNG/EXR/NPY all decode to the same metres
    root = SAMPLES / "rgbd-folder"
    recs = index_dataset(root, depth_scale=4000)
    exts = [Path(r.depth_path).suffix for r in recs]
    assert exts == [".png", ".exr", ".npy", ".png"]
    for r in recs:
        d = load_view(r, root).range_m
        assert np.isfinite(d).all() and (d >= 0).all()


def test_realsee_order_and_mask():
    root = SAMPLES / "realsee3d"
    recs = index_dataset(root)
    assert [r.view_id for r in recs] == ["002", "001", "000"]  # viewpoints.txt order
    v = load_view(recs[0], root)
    h = v.range_m.shape[0]
    assert (v.range_m[int(h * 0.95) :] == 0).all()  # masked blind spot
    sparse = (v.range_m[: int(h * 0.9)] == 0).mean()
    assert 0.6 < sparse < 0.8  # LiDAR scan lines: zeros are missing, not near


def test_seed_prefers_low_resolution(tmp_path):
    recs = index_dataset(SAMPLES / "seed")
    assert all("/pan/low/" in r.rgb_path for r in recs)
    recs_high = index_dataset(SAMPLES / "seed", resolution="high")
    assert all("/pan/high/" in r.rgb_path for r in recs_high)


def test_depth_resized_to_rgb(tmp_path):
    root = tmp_path / "ds"
    (root / "rgb").mkdir(parents=True)
    write_image(root / "rgb/a.png", np.zeros((32, 64, 3), np.uint8))
    d = np.zeros((8, 16), np.uint16)
    d[:, :8] = 2000
    write_image(root / "depth/a.png", d)
    v = load_view(index_dataset(root)[0], root)
    assert v.range_m.shape == (32, 64)
    assert set(np.unique(v.range_m).tolist()) == {0.0, 2.0}  # nearest: no blended edge


class TestReadDepth:
    def test_png_scales_and_sentinels(self, tmp_path):
        d = np.array([[0, 512, 1024, 65535]], np.uint16)
        write_image(tmp_path / "d.png", d)
        r = read_depth(tmp_path / "d.png", scale=512, invalid_value=65535)
        assert r.tolist() == [[0.0, 1.0, 2.0, 0.0]]

    def test_exr_sentinels(self, tmp_path):
        d = np.array([[1.5, 1e10, np.nan, -1.0]], np.float32)
        write_image(tmp_path / "d.exr", d)
        assert read_depth(tmp_path / "d.exr").tolist() == [[1.5, 0.0, 0.0, 0.0]]

    def test_npy_never_unpickles(self, tmp_path):
        np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        with pytest.raises(WorkbenchError, match="obj.npy"):
            read_depth(tmp_path / "obj.npy")
        save_npy(tmp_path / "ok.npy", np.full((2, 4), 3.0, np.float32))
        assert read_depth(tmp_path / "ok.npy").max() == 3.0

    def test_8bit_png(self, tmp_path):
        write_image(tmp_path / "d.png", np.zeros((4, 8), np.uint8))
        with pytest.raises(WorkbenchError, match="16-bit"):
            read_depth(tmp_path / "d.png")

    def test_unknown_format(self, tmp_path):
        (tmp_path / "d.tif").write_bytes(b"x")
        with pytest.raises(WorkbenchError, match="unknown depth format"):
            read_depth(tmp_path / "d.tif")


def test_unknown_layout_lists_what_was_looked_for(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(WorkbenchError, match="seed: .*realsee3d: .*rgbd-folder: "):
        detect_layout(tmp_path)
    with pytest.raises(WorkbenchError, match="not a folder"):
        detect_layout(tmp_path / "nope")


def test_a_folder_of_panoramas_alone_points_to_infer(tmp_path):
    import shutil

    from workbench.cli import main
    from workbench.errors import WorkbenchError

    shutil.copy(next(Path(__file__).resolve().parents[2].glob("data_samples/seed/*/pan/low/000.jpg")),
                tmp_path / "a.jpg")  # fmt: skip
    with pytest.raises(WorkbenchError, match="workbench infer") as e:
        detect_layout(tmp_path)
    assert "rgb/" in str(e.value) and "pose/" in str(e.value)
    assert main(["validate", str(tmp_path)]) == 2


def test_synth_writes_an_rgbd_folder_of_several_scenes_one_sub_folder_each(tmp_path):
    from workbench.cli import main
    from workbench.data.dataset import open_dataset

    out = tmp_path / "mp"
    argv = ["synth", "--out", str(out), "--scenes", "3", "--views", "2", "--size", "64x32",
            "--low-size", "64x32", "--preset", "easy", "--layout", "rgbd-folder"]  # fmt: skip
    assert main(argv) == 0
    ds = open_dataset(out)
    assert len(ds.scenes) == 3 and all(len(ds.scene(s)) == 2 for s in ds.scenes)
    assert sorted(d.name for d in out.iterdir() if d.is_dir()) == sorted(ds.scenes)
    assert ds.spec.encoding == "matterport3d"  # the one dataset.json at the top


def test_depth_to_png_round_trips_and_never_saturates():
    """A range past what the code holds was written as 65534 (16.38 m at 4000 per metre): the
    RealSee3D-like samples held blocks of windows read back as real depth 16.38 m away."""
    from workbench.data.layouts import depth_from_png, depth_to_png

    r = np.array([[0.0, 0.25, 1.5, 16.38, 16.384, 40.0, np.nan, -1.0]], np.float32)
    code = depth_to_png(r, 4000.0)
    assert code.dtype == np.uint16
    assert code.tolist() == [[0, 1000, 6000, 65520, 0, 0, 0, 0]]
    back = depth_from_png(code, 4000.0, 0, "x.png")
    assert np.allclose(back[0, 1:4], r[0, 1:4], atol=1.25e-4)  # half a code
    assert (back[0, [0, 4, 5, 6, 7]] == 0).all()
    stanford = depth_to_png(np.array([[0.0, 2.0, 200.0]]), 512.0, invalid_value=65535)
    assert stanford.tolist() == [[65535, 1024, 65535]]
    assert depth_from_png(stanford, 512.0, 65535, "x.png").tolist() == [[0.0, 2.0, 0.0]]


@pytest.mark.parametrize("pattern", ["realsee3d*/*/viewpoints/*/depth_image.png",
                                     "rgbd-folder/depth/*.png", "seed/*/depth/*.png"])  # fmt: skip
def test_no_sample_depth_holds_a_saturated_code(pattern):
    from workbench.io import read_image

    files = sorted(SAMPLES.glob(pattern))
    assert files
    for f in files:
        d = read_image(f)
        assert not ((d == 65534) | (d == 65535)).any(), f
