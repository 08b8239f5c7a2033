"""One dataset description for every verb: each named encoding decodes to the same metres in
every verb's reader, the sample formats agree, RealSee3D files follow its spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import ENCODINGS, describe_dataset, index_dataset, index_spec
from workbench.data.layouts import load_view, scene_covisibility
from workbench.errors import WorkbenchError
from workbench.io import write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"

# encoding -> (PNG units per metre, the value written where depth is missing)
PNG = {
    "millimetres": (1000, 0),
    "matterport3d": (4000, 0),
    "stanford2d3d": (512, 65535),
    "structured3d": (1000, 0),
}


def _rgbd(tmp: Path, encoding: str, truth: np.ndarray) -> Path:
    """A one-view rgbd folder whose PNG encodes ``truth`` (metres, 0 = missing)."""
    scale, missing = PNG[encoding]
    png = np.clip(np.rint(truth * scale), 0, 65534).astype(np.uint16)
    png[truth <= 0] = missing
    root = tmp / encoding
    write_image(root / "rgb" / "v.png", np.full((*truth.shape, 3), 128, np.uint8))
    write_image(root / "depth" / "v.png", png)
    (root / "dataset.json").write_text(json.dumps({"encoding": encoding}))
    return root


@pytest.mark.parametrize("encoding", sorted(PNG))
def test_every_verb_reads_the_same_metres(encoding, tmp_path):
    truth = np.linspace(0.5, 9.0, 32 * 64, dtype=np.float32).reshape(32, 64)
    truth[:3] = 0  # missing depth (Stanford2D3D writes it as 65535)
    root = _rgbd(tmp_path, encoding, truth)
    tol = 0.6 / PNG[encoding][0]
    expect = np.where(truth > 0, truth, 0)

    def assert_metres(r):
        np.testing.assert_allclose(r, expect, atol=tol)

    spec = describe_dataset(root)
    assert spec.encoding == encoding and "encoding" in spec.detected
    (rec,) = index_spec(spec)
    assert_metres(load_view(rec, root).range_m)  # validate, eda, pointcloud, match read this
    # split -> CSV -> train / eval / train-biview / train-pose read the same decoding
    from workbench.data.pipeline import load_sample
    from workbench.data.splits import read_split_csv, write_split

    write_split([rec], tmp_path / "lists", root, val_fraction=1.0, spec=spec)
    (back,), root2 = read_split_csv(tmp_path / "lists" / "val.csv")
    assert_metres(load_sample(back, root2, 32)["range"])
    saved = json.loads((tmp_path / "lists" / "split.json").read_text())["dataset"]
    assert saved["encoding"] == encoding and saved["depth_scale"] == PNG[encoding][0]
    # eda's per-view table
    from workbench.eda.views import view_table

    d_median = view_table([rec], root)["d_median"].iloc[0]
    assert d_median == pytest.approx(np.median(truth[truth > 0]), abs=0.05)
    # a flag overrides the file: the same folder read as millimetres is a different scale
    other = describe_dataset(
        root, encoding="matterport3d" if encoding != "matterport3d" else "millimetres"
    )
    r = load_view(index_spec(other)[0], root).range_m
    assert not np.allclose(r[truth > 0], truth[truth > 0], atol=0.05)


def test_rgbd_sample_formats_agree():
    """data_samples/rgbd-folder: PNG (Matterport3D, via dataset.json), EXR and NPY views of one
    scene give the same range statistics (the PNGs are not 4x too far)."""
    root = SAMPLES / "rgbd-folder"
    recs = index_spec(describe_dataset(root))
    exts = {Path(r.depth_path).suffix for r in recs}
    assert exts == {".png", ".exr", ".npy"}
    medians = {r.view_id: float(np.median(load_view(r, root).range_m)) for r in recs}
    assert max(medians.values()) / min(medians.values()) < 1.6, medians
    # the same scene through the seed sample it was converted from agrees too
    seed_scene = sorted((SAMPLES / "seed").iterdir())[0]
    assert recs[0].scene_id == "rgbd-folder" and seed_scene.is_dir()


def test_realsee3d_sample_follows_its_spec():
    root = SAMPLES / "realsee3d"
    spec = describe_dataset(root)
    assert spec.layout == "realsee3d" and spec.mask == "pano_mask==255"
    recs = index_spec(spec)
    scene = root / recs[0].scene_id
    order = (scene / "viewpoints.txt").read_text().split()
    assert [r.view_id for r in recs] == order  # viewpoints.txt order, not sorted ids
    v = load_view(recs[0], root)
    density = float((v.range_m > 0).mean())
    assert 0.2 < density < 0.35  # LiDAR-like
    assert not (v.range_m[: v.range_m.shape[0] // 6] > 0).any()  # zenith blind spot
    assert recs[0].floor == "0" and recs[0].segment_path.endswith("segment.png")
    # the shipped covisibility: N rows of N floats, no header, viewpoints.txt order
    lines = (scene / "covisibility.txt").read_text().splitlines()
    assert len(lines) == len(order) and all(len(ln.split()) == len(order) for ln in lines)
    shipped = np.loadtxt(scene / "covisibility.txt")
    np.testing.assert_allclose(scene_covisibility(root, recs), shipped)
    rev = scene_covisibility(root, recs[::-1])  # indexed like the records it is given
    np.testing.assert_allclose(rev, shipped[::-1, ::-1])


def test_match_writes_covisibility_in_viewpoints_order(tmp_path):
    from workbench.cli import main

    root = SAMPLES / "realsee3d"
    order = next(p for p in root.iterdir() if (p / "viewpoints.txt").is_file())
    ids = (order / "viewpoints.txt").read_text().split()
    assert main(["match", str(root), "--a", ids[0], "--b", ids[1], "--out", str(tmp_path)]) == 0
    ours = np.loadtxt(tmp_path / "covisibility.txt")
    assert ours.shape == (3, 3)
    assert (tmp_path / "viewpoints.txt").read_text().split() == ids
    assert not (tmp_path / "covisibility.txt").read_text().startswith("#")


def test_missing_or_bad_depth_scale_is_a_named_problem(tmp_path):
    """One view's bad scale file is named when that view is read; its scene is kept."""
    from workbench.data.layouts import load_view

    root = tmp_path / "rs"
    shutil.copytree(SAMPLES / "realsee3d", root)
    vp = sorted(root.glob("*/viewpoints/*"))[0]
    for text, msg in (("", "one number"), ("0\n", "positive"), ("abc\n", "one number")):
        (vp / "depth_scale.txt").write_text(text)
        recs = {r.view_id: r for r in index_dataset(root)}
        assert len(recs) == 3 and recs[vp.name].depth_scale == 0.0
        with pytest.raises(WorkbenchError, match=msg) as e:
            load_view(recs[vp.name], root)
        assert e.value.path.endswith("depth_scale.txt")
        other = next(r for v, r in recs.items() if v != vp.name)
        assert load_view(other, root).range_m.max() > 0  # the scene's other views still read
    (vp / "depth_scale.txt").unlink()
    with pytest.raises(WorkbenchError, match="missing depth_scale.txt"):
        load_view(next(r for r in index_dataset(root) if r.view_id == vp.name), root)
    from workbench.data.validate import validate_dataset

    records, problems = validate_dataset(root, progress=False)
    assert len(records) == 3
    named = [p for p in problems if "depth_scale.txt" in p.file + p.detail]
    assert named and {p.view_id for p in named} == {vp.name}


def test_listed_viewpoint_without_folder_is_named(tmp_path):
    from workbench.data.layouts import load_view

    root = tmp_path / "rs"
    shutil.copytree(SAMPLES / "realsee3d", root)
    scene = next(root.glob("*/viewpoints.txt")).parent
    shutil.rmtree(scene / "viewpoints" / "001")
    recs = {r.view_id: r for r in index_dataset(root)}
    assert sorted(recs) == ["000", "001", "002"]  # listed in viewpoints.txt: kept, named on read
    with pytest.raises(WorkbenchError, match="viewpoints.txt has no folder"):
        load_view(recs["001"], root)


def test_mask_rule_is_255(tmp_path):
    root = tmp_path / "rs"
    shutil.copytree(SAMPLES / "realsee3d", root)
    rec = index_spec(describe_dataset(root))[0]
    mask = np.full((256, 512), 255, np.uint8)
    mask[:, :256] = 128  # neither 0 nor 255: not valid by the spec
    write_image(root / rec.mask_path, mask)
    r = load_view(rec, root).range_m
    assert not (r[:, :256] > 0).any() and (r[:, 256:] > 0).any()


def test_unknown_encoding_names_the_flag():
    with pytest.raises(WorkbenchError, match="--encoding.*unknown encoding"):
        describe_dataset(SAMPLES / "seed", encoding="kinect")
    assert set(PNG) < set(ENCODINGS)


def test_validate_covers_every_sample_view(capsys):
    from workbench.cli import main

    n = sum(len(index_spec(describe_dataset(p))) for p in SAMPLES.iterdir() if p.is_dir())
    assert main(["validate", str(SAMPLES)]) == 0
    assert f"validate: {n} views" in capsys.readouterr().out


def test_validate_mesh_finds_depth_that_disagrees_with_obj(tmp_path):
    from workbench.cli import main

    src = sorted((SAMPLES / "seed").iterdir())[0]
    root = tmp_path / "ds"
    shutil.copytree(src, root / src.name)
    assert main(["validate", str(root), "--mesh"]) == 0  # the synthetic depth is the mesh's
    png = root / src.name / "depth" / "001.png"
    from workbench.io import read_image

    write_image(png, (read_image(png).astype(np.float64) * 1.3).clip(0, 65535).astype(np.uint16))
    assert main(["validate", str(root), "--mesh", "--report", str(tmp_path / "r.csv")]) == 1
    report = (tmp_path / "r.csv").read_text()
    assert "depth disagrees with mesh" in report and "depth/001.png" in report
    assert main(["validate", str(root), "--report", str(tmp_path / "r2.csv")]) == 0  # opt-in


def test_pointcloud_html_overlays_the_mesh(tmp_path):
    from workbench.cli import main

    args = [
        "pointcloud",
        str(SAMPLES / "seed"),
        "--out",
        str(tmp_path / "s.ply"),
        "--html",
        str(tmp_path / "s.html"),
        "--mesh",
        "--stride",
        "4",
    ]
    assert main(args) == 0
    assert '"type":"mesh3d"' in (tmp_path / "s.html").read_text().replace(" ", "")


def test_eda_reads_floors_and_segment_classes(tmp_path):
    from workbench.cli import main

    assert main(["eda", str(SAMPLES / "realsee3d"), "--out", str(tmp_path)]) == 0
    import pandas as pd

    cls = pd.read_csv(tmp_path / "class_depth.csv").set_index("surface")
    assert set(cls.index) == {"floor", "wall", "ceiling"} and (cls["views"] == 3).all()
    assert cls.loc["ceiling", "median"] > cls.loc["floor", "median"] * 0.5
    floors = pd.read_csv(tmp_path / "by_floor.csv")
    assert floors["views"].sum() == 3 and floors["invalid_frac"].iloc[0] > 0.6  # LiDAR


def test_colorize_segment_blends_over_the_photo():
    from workbench.viz.colorize import colorize_segment

    seg = np.array([[0, 1, 2]], np.uint8)
    rgb = np.full((1, 3, 3), 100, np.uint8)
    out = colorize_segment(seg, rgb, 0.5)
    assert (out[0, 0] == 100).all() and not (out[0, 1] == out[0, 2]).all()


def test_seed_depth_scale_flag_alone_overrides_meta_json():
    """Regression: a seed scene's meta.json scale was overridden only when --encoding was given;
    --depth-scale alone was ignored (every view decoded at meta.json's 1000/m)."""
    from tests.helpers import SAMPLES
    from workbench.data.dataset import describe_dataset, index_spec
    from workbench.data.layouts import load_view

    own = index_spec(describe_dataset(SAMPLES))
    flagged = index_spec(describe_dataset(SAMPLES, depth_scale=4000.0))
    assert {r.depth_scale for r in own} == {1000.0} and {r.depth_scale for r in flagged} == {4000.0}
    a, b = load_view(own[0], SAMPLES).range_m, load_view(flagged[0], SAMPLES).range_m
    assert np.allclose(b, a / 4.0)
    enc = index_spec(describe_dataset(SAMPLES, encoding="matterport3d"))
    assert {r.depth_scale for r in enc} == {4000.0}


def test_readable_views_leave_an_unreadable_view_out_and_name_it(tmp_path, capsys):
    """What notebook 01 shows of a scene with a truncated panorama: the other views, and one
    line naming the broken file (the folder-wide verbs carry on the same way)."""
    from workbench import open_dataset
    from workbench.data.dataset import depth_or_sample, readable_views

    root = tmp_path / "seed"
    shutil.copytree(SAMPLES / "seed", root)
    ds = open_dataset(root)
    views = ds.scene(ds.scenes[0])
    bad = root / views[1].rgb_path
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    left_out: list = []
    got = readable_views(ds, views, left_out)
    assert len(got) == len(views) - 1 and len(left_out) == 1
    assert np.array_equal(got[0].range_m, ds.load(views[0]).range_m)
    assert str(bad) in str(left_out[0]) and f"view left out: {bad}" in capsys.readouterr().out
    assert depth_or_sample(ds, "training") is ds  # has depth: no fallback, nothing said
    assert capsys.readouterr().out == ""
