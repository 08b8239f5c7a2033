"""``workbench eda`` on users' own folders: RealSee3D's class tables as shipped, camera heights
of real LiDAR captures, caches left by failed runs, pose-only datasets, and the same median
range in the Python API and the CLI's table for every named encoding.

Fixtures come from ``workbench synth`` (every real encoding, 64x32 or 128x64) and files the
tests write; the class tables mimic the structure of RealSee3D's
``metadata/class_mapping_{real,synthetic}.json`` (written here, never copied: its licence)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from workbench.cli import main
from workbench.data.convert import CLASSES
from workbench.data.dataset import ENCODINGS, open_dataset
from workbench.errors import WorkbenchError
from workbench.geometry.pose import yaw_pitch_roll
from workbench.io import read_image, save_npy, write_image

# RealSee3D's ids as its metadata files give them (real: flat names; synthetic: taxonomy paths),
# with decoys whose names contain a surface word but are not that surface
REAL = {
    1: "ceiling", 2: "floor", 3: "wall", 7: "background_wall", 21: "outdoor_ground",
    68: "floor_to_ceiling_window", 82: "wall_cabinet_shelf_niche", 104: "table",
    109: "floor_air_conditioner",
}  # fmt: skip
SYNTHETIC = {
    2: "furniture/sofa/sofa_bed", 3: "furniture/sofa/siamesed_sofa", 76: "basic/ground/floor",
    81: "basic/top_wall/ceiling", 87: "basic/window/floor_to_ceiling_window",
    93: "basic/wall/wall_paint", 121: "kitchen_bathroom/bathroom/bathroom_wall_cabinet",
    133: "lighting/dome_light/ceiling_lamp", 137: "lighting/floor_lamp/standard_lamp",
    195: "floor", 196: "wall", 197: "ceiling",
}  # fmt: skip
# the fixture's segment ids (workbench.data.convert.CLASSES) -> each subset's official id
TO_OFFICIAL = {
    "real": {0: 0, 1: 2, 2: 3, 3: 1, 4: 109},  # object -> floor_air_conditioner (a decoy)
    "synthetic": {0: 0, 1: 76, 2: 93, 3: 81, 4: 137},  # object -> floor lamp (a decoy)
}


def _official_table(path: Path, subset: str) -> Path:
    """A class table in the structure RealSee3D ships (``metadata/README.md``'s schema)."""
    names = REAL if subset == "real" else SYNTHETIC
    classes = []
    for i, name in sorted(names.items()):
        c = {"id": i, "name": name, "name_zh": f"类{i}", "color": [i, 255 - i, (7 * i) % 256]}
        if subset == "synthetic":
            levels = (name.split("/") + [None, None])[:3]
            c["taxonomy"] = dict(zip(("level1", "level2", "level3"), levels, strict=True))
        classes.append(c)
    doc = {
        "subset": subset,
        "description": f"class mapping for the {subset} subset (test fixture)",
        "label_source": "model_prediction" if subset == "real" else "rendered_ground_truth",
        "num_classes": len(classes),
        "ignore_id": 0,
        "hierarchical": subset == "synthetic",
        "classes": classes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _synth(out: Path, layout: str, encoding: str = "", size: str = "64x32", seed: int = 1,
           views: int = 2) -> Path:  # fmt: skip
    args = ["synth", "--out", str(out), "--scenes", "1", "--views", str(views), "--seed",
            str(seed), "--size", size, "--low-size", size, "--preset", "easy", "--layout", layout,
            "--workers", "1"]  # fmt: skip
    assert main(args + (["--encoding", encoding] if encoding else [])) == 0
    return out


def _eda(root: Path, out: Path, *flags: str) -> int:
    return main(["eda", str(root), "--out", str(out), "--workers", "1", *flags])


def _views(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "views.parquet").set_index(["scene_id", "view_id"])


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """Generated once per module: RealSee3D real and synthetic, an rgbd folder with poses."""
    base = tmp_path_factory.mktemp("own")
    return {
        "real": _synth(base / "real", "realsee3d", "real", "128x64", seed=3),
        "synthetic": _synth(base / "synthetic", "realsee3d", "synthetic", seed=4),
        "rgbd": _synth(base / "rgbd", "rgbd-folder", "matterport3d", views=3, seed=5),
        "seed": _synth(base / "seed", "seed", seed=6),
    }


# 1. RealSee3D class tables as shipped, the right one per view -----------------------------


def test_official_class_tables_are_read_as_shipped(tmp_path):
    from workbench.eda.views import read_class_table, surface_ids

    real = _official_table(tmp_path / "metadata" / "class_mapping_real.json", "real")
    synthetic = _official_table(tmp_path / "a" / "class_mapping_synthetic.json", "synthetic")
    names, kind = read_class_table(real, with_kind=True)
    assert kind == "real" and names == REAL
    assert surface_ids(names) == {"floor": (2,), "wall": (3, 7), "ceiling": (1,)}
    names, kind = read_class_table(synthetic, with_kind=True)
    assert kind == "synthetic" and names == SYNTHETIC
    assert surface_ids(names) == {"floor": (76, 195), "wall": (93, 196), "ceiling": (81, 197)}
    # the plain form still reads; a table without ids is refused naming the file
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({str(k): v for k, v in CLASSES.items()}))
    assert read_class_table(plain, with_kind=True) == (CLASSES, "")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"subset": "real", "classes": [{"name": "floor"}]}))
    with pytest.raises(WorkbenchError, match="not a class table") as e:
        read_class_table(bad)
    assert e.value.path == str(bad)


def test_cli_refuses_a_bad_class_table_in_one_line(tmp_path, fixtures, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert _eda(fixtures["real"], tmp_path / "out", "--classes", str(bad)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"workbench: error: {bad}: not a class table")
    assert not any("Traceback" in line for line in err)
    ids = tmp_path / "ids.json"  # a list of ids where names belong: no surface would be found
    ids.write_text("[1, 2, 3]")
    assert _eda(fixtures["real"], tmp_path / "out", "--classes", str(ids)) == 2
    assert "class names must be words, got '1'" in capsys.readouterr().err
    assert _eda(fixtures["real"], tmp_path / "out", "--consistency", str(tmp_path)) == 2
    assert not (tmp_path / "out").exists()  # refused before the output folder is made


def _official_segments(scene: Path, subset: str) -> None:
    """Rewrite every ``segment.png`` of ``scene`` from the fixture's ids to ``subset``'s."""
    lut = np.zeros(256, np.uint8)
    for ours, theirs in TO_OFFICIAL[subset].items():
        lut[ours] = theirs
    for seg in scene.glob("viewpoints/*/segment.png"):
        write_image(seg, lut[read_image(seg, cv2.IMREAD_GRAYSCALE)])


def _both_subsets(tmp_path: Path, fixtures) -> Path:
    """One RealSee3D root holding a real and a synthetic scene with official ids and tables."""
    root = tmp_path / "realsee"
    for subset in ("real", "synthetic"):
        for scene in fixtures[subset].iterdir():
            if scene.name != "metadata":
                shutil.copytree(scene, root / scene.name)
                _official_segments(root / scene.name, subset)
        _official_table(root / "metadata" / f"class_mapping_{subset}.json", subset)
    return root


def _surface_medians(root: Path, rec, ours: np.ndarray) -> dict:
    """The median range of each surface from the fixture's own surface ids."""
    r = open_dataset(root).load(rec).range_m
    out = {}
    for sid, name in ((1, "floor"), (2, "wall"), (3, "ceiling")):
        m = (ours == sid) & (r > 0)
        out[f"d_{name}_class"] = float(np.median(r[m])) if m.any() else np.nan
    return out


def test_each_view_takes_the_table_of_its_capture(tmp_path, fixtures):
    saved = {}  # the fixture's surface ids, before the rewrite, by scene
    for subset in ("real", "synthetic"):
        for seg in fixtures[subset].glob("*/viewpoints/*/segment.png"):
            saved[(seg.parents[2].name, seg.parent.name)] = read_image(seg, 0)
    root = _both_subsets(tmp_path, fixtures)
    assert _eda(root, tmp_path / "out") == 0
    views = _views(tmp_path / "out")
    ds = open_dataset(root)
    kinds = set()
    for rec in ds:
        row = views.loc[(rec.scene_id, rec.view_id)]
        kinds.add("real" if rec.mask_path else "synthetic")
        for col, want in _surface_medians(root, rec, saved[(rec.scene_id, rec.view_id)]).items():
            assert row[col] == pytest.approx(want, rel=1e-6), (rec.scene_id, col)
        assert row["height_method"] == "floor pixels"
        T = ds.load(rec).T_world_from_cam
        assert row["height_m"] == pytest.approx(-T[1, 3], abs=0.03)  # floor at world y = 0
    assert kinds == {"real", "synthetic"}
    used = pd.read_csv(tmp_path / "out" / "class_tables.csv").set_index("capture")
    assert used.loc["real", "floor_ids"] == "2" and used.loc["synthetic", "floor_ids"] == "76,195"
    assert used["views"].to_dict() == {"real": 2, "synthetic": 2}


def test_a_table_of_one_capture_kind_is_not_applied_to_the_other(tmp_path, fixtures):
    root = _both_subsets(tmp_path, fixtures)
    (root / "metadata" / "class_mapping_synthetic.json").unlink()
    assert _eda(root, tmp_path / "out") == 0
    views = _views(tmp_path / "out").reset_index()
    real = views["scene_id"].isin([p.name for p in fixtures["real"].iterdir()])
    assert views.loc[real, "d_floor_class"].notna().all()
    assert views.loc[~real, "d_floor_class"].isna().all()  # no sofa beds taken for floors
    assert (views.loc[~real, "height_method"] == "nadir cap").all()  # dense synthetic depth
    html = (tmp_path / "out" / "report.html").read_text()
    assert "2 synthetic views have segment.png but no class table" in html


# 2. camera height on real captures ---------------------------------------------------------


def test_view_stats_height_methods_hand_checked():
    from workbench.eda.views import view_stats
    from workbench.geometry.equirect import lonlat_grid

    _, lat = lonlat_grid(64, 128)
    lat = np.broadcast_to(lat.reshape(-1, 1), (64, 128))
    floor = np.where(lat > 0.05, 1.5 / np.sin(np.maximum(lat, 0.05)), 0.0).astype(np.float32)
    lidar = np.where(lat < np.deg2rad(68.0), floor, 0.0).astype(np.float32)  # masked from 68°
    s = view_stats((64, 128, 3), lidar, np.eye(4))
    assert (s["height_m"], s["height_method"]) == (
        pytest.approx(1.5, abs=1e-4),
        "lowest valid band",
    )
    marked = lidar * 0.0 + np.float32(9.0)  # a wall everywhere but the labelled floor
    mask = lat > np.deg2rad(40)
    marked[mask] = lidar[mask]
    s = view_stats((64, 128, 3), marked, np.eye(4), floor_mask=mask)
    assert (s["height_m"], s["height_method"]) == (pytest.approx(1.5, abs=1e-4), "floor pixels")
    s = view_stats((64, 128, 3), np.zeros((64, 128), np.float32), None)
    assert np.isnan(s["height_m"]) and s["height_method"] == "none"


def test_real_lidar_views_get_a_height_and_the_report_says_how(tmp_path, fixtures):
    root = tmp_path / "real"
    shutil.copytree(fixtures["real"], root)
    shutil.rmtree(root / "metadata")  # no class table: heights from the depth alone
    assert _eda(root, tmp_path / "out") == 0
    views = _views(tmp_path / "out")
    ds = open_dataset(root)
    for rec in ds:
        row = views.loc[(rec.scene_id, rec.view_id)]
        assert row["height_method"] == "lowest valid band"  # the nadir cap is masked
        assert row["height_m"] == pytest.approx(-ds.load(rec).T_world_from_cam[1, 3], abs=0.05)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Camera height (how it was found)" in html and "lowest valid band" in html
    assert "Camera heights: 2 from lowest valid band." in html
    assert pd.read_csv(tmp_path / "out" / "views.csv")["height_method"].notna().all()


# 3. caches left by failed or older runs ----------------------------------------------------


def test_a_failed_run_leaves_no_cache_that_breaks_the_next(tmp_path, fixtures, capsys):
    root = tmp_path / "rs"
    shutil.copytree(fixtures["synthetic"], root)
    depths = sorted(root.glob("*/viewpoints/*/depth_image.png"))
    good = {p: p.read_bytes() for p in depths}
    for p in depths:
        p.write_bytes(b"not a png")
    out = tmp_path / "out"
    assert _eda(root, out) == 2  # no readable view
    assert not (out / "views_cache.parquet").exists()  # an empty table is never a cache
    for p, data in good.items():
        p.write_bytes(data)
    capsys.readouterr()
    assert _eda(root, out) == 0
    assert "KeyError" not in capsys.readouterr().err
    assert len(pd.read_parquet(out / "views_cache.parquet")) == len(depths)


def _old_cache(path: Path, fixtures) -> None:
    """A cache of an older version: no ``height_method`` column."""
    from workbench.eda.views import view_table

    ds = open_dataset(fixtures["synthetic"])
    view_table(list(ds), ds.root, cache=path, workers=1)
    pd.read_parquet(path).drop(columns="height_method").to_parquet(path)


BAD_CACHES = {
    "empty table": lambda p, _: pd.DataFrame().to_parquet(p),
    "empty file": lambda p, _: p.write_bytes(b""),
    "corrupt": lambda p, _: p.write_bytes(b"PAR1 garbage"),
    "foreign": lambda p, _: pd.DataFrame({"key": ["x"], "a": [1]}).to_parquet(p),
    "older version": _old_cache,
}


@pytest.mark.parametrize("kind", sorted(BAD_CACHES))
def test_empty_foreign_or_corrupt_cache_is_treated_as_absent(kind, tmp_path, fixtures, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".workbench-output").write_text("eda\n")  # eda's own folder, its cache spoilt
    cache = out / "views_cache.parquet"
    BAD_CACHES[kind](cache, fixtures)
    capsys.readouterr()
    assert _eda(fixtures["synthetic"], out) == 0
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "cache" in line]) == 1, err
    table = pd.read_parquet(cache)
    assert len(table) == 2 and table["height_method"].notna().all()


def test_read_cache_and_write_cache_directly(tmp_path):
    from workbench.eda import views

    path = tmp_path / "c.parquet"
    views._write_cache(pd.DataFrame(), path)
    assert not path.exists()
    pd.DataFrame({"key": []}).to_parquet(path)
    assert views.read_cache(path, quiet=True) is None


# 4. pose-only datasets ---------------------------------------------------------------------


def test_pose_only_dataset_gets_orientation_and_motion(tmp_path, fixtures):
    root = tmp_path / "po"
    shutil.copytree(fixtures["rgbd"], root)
    shutil.rmtree(root / "depth")
    out = tmp_path / "out"
    assert _eda(root, out) == 0
    views = pd.read_parquet(out / "views.parquet")
    assert not views["has_depth"].any() and views["invalid_frac"].isna().all()  # no depth file
    for _, row in views.iterrows():  # yaw/pitch/roll from the pose files
        T = np.loadtxt(root / "pose" / f"{row['view_id']}.txt")
        want = np.rad2deg(yaw_pitch_roll(T))
        np.testing.assert_allclose(
            row[["yaw_deg", "pitch_deg", "roll_deg"]].to_numpy(float), want, atol=1e-9
        )
    orient, motion = (pd.read_parquet(out / f"{n}.parquet") for n in ("orientation", "motion"))
    assert len(orient) == 3 and orient["yaw_deg"].notna().all()
    assert motion["path_m"].iloc[0] > 0 and len(pd.read_parquet(out / "pairs.parquet")) == 3
    for name in ("depth_hist", "depth_by_scene", "by_floor", "class_depth"):
        assert pd.read_parquet(out / f"{name}.parquet").empty, name
    html = (out / "report.html").read_text()
    assert "No depth: no view has depth" in html and "no depth file" in html
    assert "Camera positions" in html and "Camera yaw" in html and "Range distribution" not in html
    per_scene = html.split("<h2>Per scene</h2>")[1].split("<h2>")[0]
    assert "path_m" in per_scene and "NaN" not in per_scene  # no range columns of NaN
    assert "<h2>Per floor</h2>" not in html  # a depth table: none without depth
    s = json.loads((out / "summary.json").read_text())
    assert s["views_with_depth"] == 0 and s["median_range_m"] is None and s["views"] == 3
    summary = html.split("<h2>Summary</h2>")[1].split("<h2>")[0]
    assert "None" not in summary and "–" in summary  # median range: a dash, not Python's None
    pairs = pd.read_parquet(out / "pairs.parquet")
    nn = [pairs.loc[(pairs.view_a == v) | (pairs.view_b == v), "baseline_m"].min()
          for v in views["view_id"]]  # fmt: skip
    assert s["median_nn_baseline_m"] == pytest.approx(float(np.median(nn)), abs=1e-3)
    assert s["median_nn_baseline_m"] <= s["median_baseline_m"]


def test_cameras_in_millimetres_get_one_warning_naming_a_pose_file(tmp_path, fixtures, capsys):
    root = tmp_path / "mm"
    shutil.copytree(fixtures["rgbd"], root)
    poses = sorted((root / "pose").glob("*.txt"))
    T = np.loadtxt(poses[1])
    T[:3, 3] = [2500.0, -1435.0, 800.0]  # millimetres
    np.savetxt(poses[1], T)
    capsys.readouterr()
    assert _eda(root, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert err.count("workbench: warning") == 1, err
    assert f"{poses[1]}: 1 camera(s) farther than 200 m from the origin" in err
    assert "millimetres?" in err
    capsys.readouterr()
    assert _eda(fixtures["rgbd"], tmp_path / "clean") == 0
    assert "farther than" not in capsys.readouterr().err


# 5. the same median range in the Python API and the CLI, every named encoding ---------------


def _from_seed(seed_root: Path, out: Path, encoding: str) -> Path:
    """An rgbd folder of the seed fixture's views in ``encoding`` (structured3d: millimetre
    PNG; pano3d: EXR metres, inf missing; metres: NPY metres, NaN missing)."""
    ds = open_dataset(seed_root)
    for k, rec in enumerate(ds):
        v = ds.load(rec)
        name = f"{rec.scene_id[:8]}_{rec.view_id}"
        write_image(out / "rgb" / f"{name}.png", v.rgb)
        r = v.range_m.copy()
        r[: 2 + k] = 0  # some missing depth, different per view
        if encoding == "structured3d":
            write_image(out / "depth" / f"{name}.png", np.rint(r * 1000).astype(np.uint16))
        elif encoding == "pano3d":
            write_image(out / "depth" / f"{name}.exr", np.where(r > 0, r, np.inf))
        else:
            save_npy(out / "depth" / f"{name}.npy", np.where(r > 0, r, np.nan).astype("f4"))
    (out / "dataset.json").write_text(json.dumps({"encoding": encoding}))
    return out


def _encoding_root(encoding: str, fixtures, tmp_path: Path) -> Path:
    if encoding == "millimetres":
        return fixtures["seed"]
    if encoding == "realsee3d":
        return fixtures["real"]
    if encoding == "matterport3d":
        return fixtures["rgbd"]  # views as PNG, EXR and NPY
    if encoding == "stanford2d3d":
        return _synth(tmp_path / "s2d3d", "rgbd-folder", "stanford2d3d", views=3, seed=7)
    return _from_seed(fixtures["seed"], tmp_path / encoding, encoding)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_median_range_is_the_same_in_the_api_and_the_cli(encoding, tmp_path, fixtures):
    root = _encoding_root(encoding, fixtures, tmp_path)
    ds = open_dataset(root)
    assert ds.spec.encoding == encoding
    assert _eda(root, tmp_path / "out") == 0
    parquet, csv = (
        _views(tmp_path / "out"),
        pd.read_csv(tmp_path / "out" / "views.csv", dtype={"scene_id": str, "view_id": str}),
    )
    csv = csv.set_index(["scene_id", "view_id"])
    assert len(parquet) == len(ds) >= 2
    for rec in ds:
        r = ds.load(rec).range_m
        api = float(np.median(r[np.isfinite(r) & (r > 0)]))
        assert 0.3 < api < 30.0  # metres, not millimetres or a quarter of them
        assert parquet.loc[(rec.scene_id, rec.view_id), "d_median"] == pytest.approx(api, rel=1e-6)
        assert csv.loc[(rec.scene_id, rec.view_id), "d_median"] == pytest.approx(api, rel=1e-4)


def test_a_new_encoding_recomputes_cached_views(tmp_path):
    """The cache is keyed on how depth is decoded: following the scale warning's advice in the
    same --out folder must change the numbers (it once kept the millimetre ones)."""
    root = tmp_path / "mp"
    shutil.copytree(Path(__file__).resolve().parents[2] / "data_samples/rgbd-folder", root)
    (root / "dataset.json").unlink()
    out = tmp_path / "eda"
    assert main(["eda", str(root), "--out", str(out), "--workers", "1"]) == 0
    before = pd.read_csv(out / "views.csv").set_index("view_id")
    assert main(["eda", str(root), "--out", str(out), "--workers", "1",
                 "--encoding", "matterport3d"]) == 0  # fmt: skip
    after = pd.read_csv(out / "views.csv").set_index("view_id")
    png = [v for v in before.index if (root / "depth" / f"{v}.png").is_file()]
    assert png
    ratio = after.loc[png, "d_median"] / before.loc[png, "d_median"]
    np.testing.assert_allclose(ratio, 0.25, rtol=1e-3)
