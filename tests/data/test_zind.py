"""The ``zind`` layout: ZInD tours (panoramas + ``zind_data.json``, no depth).

The fixture is written here in the structure of ZInD's ``data_organization.md`` (never copied
from the dataset: its licence): tours of tiny panoramas whose poses are hand-checked, and the
pixel mapping of ZInD's ``code/transformations.py`` (re-implemented below) to check the yaw
convention."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import open_dataset
from workbench.cli import main
from workbench.data.layouts import detect_layout, find_datasets, index_layout, load_view
from workbench.data.zind import zind_pose, zind_T_world_from_cam
from workbench.errors import WorkbenchError
from workbench.geometry.equirect import rays_to_lonlat
from workbench.geometry.pose import camera_centre, check_rigid, invert, yaw_pitch_roll
from workbench.io import write_image
from workbench.paths import SAMPLES

M_PER_UNIT = 3.0
# (floor, complete room, partial room, pano key, primary, [tx, ty], rotation deg, scale)
PANOS = [
    ("floor_01", "complete_room_01", "partial_room_01", "pano_2", True, [0.0, 0.0], 0.0, 0.5),
    ("floor_01", "complete_room_01", "partial_room_01", "pano_7", False, [2.0, 3.0], 90.0, 0.5),
    ("floor_01", "complete_room_02", "partial_room_02", "pano_10", True, [1.0, -1.0], -135.0, 0.5),
    ("floor_02", "complete_room_03", "partial_room_03", "pano_1", True, [0.5, 0.5], 30.0, 0.4),
]
SQUARE = [[-2.0, -2.0], [2.0, -2.0], [2.0, 2.0], [-2.0, 2.0]]


def _stem(p) -> str:
    return f"{p[0]}_{p[2]}_{p[3]}"


def _tour(root: Path, scales=None, panos=PANOS) -> Path:
    """A ZInD tour: ``zind_data.json`` (ZInD's structure) and 32x64 panoramas in ``panos/``."""
    merger: dict = {}
    rng = np.random.default_rng(len(root.name))
    for floor, cr, pr, key, primary, t, rot, scale in panos:
        pano = {
            "is_primary": primary, "is_inside": True, "is_ceiling_flat": True,
            "camera_height": 1.0, "ceiling_height": 1.7, "floor_number": int(floor[-2:]),
            "label": "room", "image_path": f"panos/{_stem((floor, cr, pr, key))}.jpg",
            "layout_raw": {"vertices": SQUARE, "windows": [], "doors": [], "openings": []},
            "floor_plan_transformation": {"translation": t, "rotation": rot, "scale": scale},
        }  # fmt: skip
        merger.setdefault(floor, {}).setdefault(cr, {}).setdefault(pr, {})[key] = pano
        write_image(root / pano["image_path"], rng.integers(0, 255, (32, 64, 3), np.uint8))
    scales = {"floor_01": M_PER_UNIT, "floor_02": 2.0} if scales is None else scales
    data = {"scale_meters_per_coordinate": scales, "merger": merger, "redraw": {}}
    (root / "zind_data.json").write_text(json.dumps(data))
    return root


def _zind_column_angle(local_xy: np.ndarray) -> np.ndarray:
    """ZInD's azimuth of a local layout point (``TransformationSpherical.cartesian_to_sphere``:
    ``atan2(-x, y)``, 0 at the panorama's centre column, growing to the right)."""
    return np.arctan2(-local_xy[:, 0], local_xy[:, 1])


def _to_global(local_xy: np.ndarray, t, rot_deg: float, scale: float) -> np.ndarray:
    """ZInD's ``Transformation2D.to_global``: ``l @ [[c, s], [-s, c]] * scale + t``."""
    a = math.radians(rot_deg)
    R = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return local_xy @ R * scale + np.asarray(t)


# ----------------------------------------------------------------- detection and records


def test_detects_a_tour_a_folder_of_tours_and_collections(tmp_path):
    one = _tour(tmp_path / "one" / "000")
    assert detect_layout(one) == "zind"
    tours = tmp_path / "tours"
    for name in ("000", "001"):
        _tour(tours / name)
    assert find_datasets(tours) == [(tours, "zind")]  # tours are the scenes of one dataset
    ds = open_dataset(tours)
    assert ds.scenes == ["000", "001"] and len(ds) == 2 * len(PANOS)
    # beside another dataset a folder of tours, or a single tour, is a dataset of its own
    mixed = tmp_path / "mixed"
    shutil.copytree(SAMPLES / "seed", mixed / "seed")
    shutil.copytree(tours, mixed / "tours")
    shutil.copytree(one, mixed / "tour")
    found = {p.name: lay for p, lay in find_datasets(mixed)}
    assert found == {"seed": "seed", "tours": "zind", "tour": "zind"}
    for name, layout in [("seed", "seed"), ("realsee3d", "realsee3d"),
                         ("rgbd-folder", "rgbd-folder"), ("pose-only", "rgbd-folder")]:  # fmt: skip
        assert detect_layout(SAMPLES / name) == layout


def test_records_are_pose_only_views_of_the_tour(tmp_path):
    root = _tour(tmp_path / "tour_a")
    recs = index_layout(root)
    assert [r.view_id for r in recs] == [_stem(p) for p in PANOS]  # floor, then pano number
    r = recs[1]
    assert r.scene_id == "tour_a" and r.layout == "zind" and r.floor == "floor_01"
    assert r.rgb_path == f"panos/{_stem(PANOS[1])}.jpg" and (root / r.rgb_path).is_file()
    assert r.depth_path == "" and not r.has_depth and r.pose_path == "zind_data.json"
    # in a folder of tours the paths are relative to the folder
    recs = index_layout(tmp_path)
    assert recs[0].rgb_path.startswith("tour_a/panos/")
    assert recs[0].pose_path == "tour_a/zind_data.json"


def test_table_row_shows_no_depth_scale_without_depth(tmp_path):
    """Notebook 01's table: a pose-only view has no depth encoding to show (its record keeps the
    default scale only as a placeholder); a view with depth shows its own."""
    tour = index_layout(_tour(tmp_path / "tour_a"))[0].table_row()
    assert list(tour) == ["scene_id", "view_id", "rgb_path", "depth_path", "pose_path",
                          "depth_scale"]  # fmt: skip
    assert tour["depth_scale"] is None and tour["depth_path"] == ""
    sample = open_dataset(SAMPLES / "seed").records[0]
    assert sample.has_depth and sample.table_row()["depth_scale"] == sample.depth_scale > 0
    floats = [
        r
        for r in open_dataset(SAMPLES / "rgbd-folder").records
        if r.depth_path.endswith((".exr", ".npy"))
    ]  # metres: no PNG scale applies
    assert floats and all(r.table_row()["depth_scale"] is None for r in floats)


# ----------------------------------------------------------------- poses


def test_pose_of_a_rotated_and_translated_pano_by_hand(tmp_path):
    # rotation 90°, translation (2, 3) plan units, scale 0.5, 3 m per plan unit: the centre
    # column (local +y) turns to plan -x = world +x, the camera stands at world (-6, ., 9) and
    # 1.0 * 0.5 * 3 = 1.5 m above the floor (y = 0, y down)
    want = np.array(
        [[0.0, 0.0, 1.0, -6.0], [0.0, 1.0, 0.0, -1.5], [-1.0, 0.0, 0.0, 9.0], [0, 0, 0, 1]]
    )
    np.testing.assert_allclose(zind_T_world_from_cam((2, 3), 90, 0.5, 1.0, 3.0), want, atol=1e-12)
    root = _tour(tmp_path / "t")
    ds = open_dataset(root)
    T = ds.load(1).T_world_from_cam
    np.testing.assert_allclose(T, want, atol=1e-12)
    check_rigid(T)
    assert math.isclose(math.degrees(yaw_pitch_roll(T)[0]), 90.0)
    for rec, p in zip(ds.records, PANOS, strict=True):  # yaw is ZInD's rotation, height 1.0·s·m
        T = ds.load(rec).T_world_from_cam
        assert math.isclose(math.degrees(yaw_pitch_roll(T)[0]), p[6], abs_tol=1e-9)
        m = M_PER_UNIT if p[0] == "floor_01" else 2.0
        assert math.isclose(-camera_centre(T)[1], p[7] * m)


def test_pose_reproduces_zind_pixel_columns_of_layout_corners(tmp_path):
    """A layout point given in the pano's local frame, placed on the floor plan by ZInD's
    transformation and seen through our pose, lands on the column ZInD's own mapping gives."""
    rng = np.random.default_rng(0)
    for t, rot, scale in [((2, 3), 90.0, 0.5), ((-1.2, 0.7), -135.0, 0.4), ((0, 0), 359.0, 1)]:
        local = rng.uniform(-3, 3, (50, 2))
        g = _to_global(local, t, rot, scale)
        world = np.column_stack([-g[:, 0] * M_PER_UNIT, np.zeros(50), g[:, 1] * M_PER_UNIT])
        T = zind_T_world_from_cam(t, rot, scale, 1.0, M_PER_UNIT)
        cam = world @ invert(T)[:3, :3].T + invert(T)[:3, 3]
        lon, lat = rays_to_lonlat(cam)
        dlon = np.angle(np.exp(1j * (lon - _zind_column_angle(local))))
        np.testing.assert_allclose(dlon, 0, atol=1e-9)
        assert (lat > 0).all()  # floor points are below the horizon (y down)
        # ZInD's elevation of a floor point: atan(camera_height / horizontal distance)
        d = np.hypot(*local.T)
        np.testing.assert_allclose(lat, np.arctan2(1.0, d), atol=1e-9)


# ----------------------------------------------------------------- loading and errors


def test_views_load_with_no_depth_and_their_pose(tmp_path):
    root = _tour(tmp_path / "t")
    ds = open_dataset(root)
    assert not ds.has_depth and ds.has_poses
    assert "zind" in ds.summary() and "pose-only (no depth)" in ds.summary()
    v = load_view(ds.records[0], root)
    assert v.rgb.shape == (32, 64, 3) and v.range_m.shape == (32, 64)
    assert v.range_m.dtype == np.float32 and not v.range_m.any()
    np.testing.assert_allclose(v.T_world_from_cam, zind_pose(ds.records[0], root))


def test_floor_without_metric_scale_has_no_pose(tmp_path):
    root = _tour(tmp_path / "t", scales={"floor_01": M_PER_UNIT, "floor_02": None})
    ds = open_dataset(root)
    rec = ds.records[-1]
    assert rec.floor == "floor_02" and rec.pose_path == ""
    assert ds.load(rec).T_world_from_cam is None
    report = tmp_path / "r.csv"
    assert main(["validate", str(root), "--report", str(report)]) == 1
    rows = pd.read_csv(report, keep_default_na=False)
    assert rows[["view", "problem"]].values.tolist() == [[rec.view_id, "no pose"]]


def test_malformed_json_is_one_error_naming_it(tmp_path, capsys):
    root = _tour(tmp_path / "t")
    (root / "zind_data.json").write_text('{"merger": {"floor_01": ')
    with pytest.raises(WorkbenchError, match="zind_data.json.*not valid JSON"):
        open_dataset(root)
    for argv in (["validate", str(root), "--report", str(tmp_path / "r.csv")],
                 ["eda", str(root), "--out", str(tmp_path / "e")]):  # fmt: skip
        assert main(argv) == 2  # eda said only "dataset has no views"
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "1 scene unreadable" in err[0], err
        assert "zind_data.json: not valid JSON" in err[0] and "Traceback" not in err[0]
    (root / "zind_data.json").write_text(json.dumps({"merger": {"floor_01": []}}))
    with pytest.raises(WorkbenchError, match="merger/floor_01 is not an object"):
        index_layout(root)
    # in a folder of tours the broken tour is named and the others are read
    good = _tour(tmp_path / "u")
    ds = open_dataset(tmp_path)
    assert ds.scenes == ["u"] and len(ds.errors) == 1
    assert ds.errors[0].path == str(root / "zind_data.json")
    assert good.exists()


def test_bad_transformation_and_missing_pano_are_problems_of_their_view(tmp_path):
    root = _tour(tmp_path / "t")
    data = json.loads((root / "zind_data.json").read_text())
    pano = data["merger"]["floor_01"]["complete_room_02"]["partial_room_02"]["pano_10"]
    pano["floor_plan_transformation"]["scale"] = "big"
    (root / "zind_data.json").write_text(json.dumps(data))
    (root / f"panos/{_stem(PANOS[1])}.jpg").unlink()
    ds = open_dataset(root)
    with pytest.raises(WorkbenchError, match="pano_10: floor_plan_transformation") as e:
        ds.load(2)
    assert e.value.path == str(root / "zind_data.json")
    with pytest.raises(WorkbenchError) as e:
        ds.load(1)
    assert e.value.path == str(root / ds.records[1].rgb_path)
    report = tmp_path / "r.csv"
    assert main(["validate", str(root), "--report", str(report)]) == 1
    rows = pd.read_csv(report, keep_default_na=False)
    got = {(r.view, r.problem, r.file) for r in rows.itertuples()}
    assert got == {
        (_stem(PANOS[1]), "missing file", ds.records[1].rgb_path),
        (_stem(PANOS[2]), "bad pose", "zind_data.json"),
    }


def test_image_path_outside_the_tour_is_refused(tmp_path):
    root = _tour(tmp_path / "t")
    data = json.loads((root / "zind_data.json").read_text())
    data["merger"]["floor_01"]["complete_room_01"]["partial_room_01"]["pano_2"]["image_path"] = (
        "../../secret.jpg"
    )
    (root / "zind_data.json").write_text(json.dumps(data))
    with pytest.raises(WorkbenchError, match="not a path inside the tour"):
        index_layout(root)


# ----------------------------------------------------------------- verbs


def test_validate_and_eda_on_a_tour(tmp_path, capsys):
    root = _tour(tmp_path / "t")
    assert main(["validate", str(root), "--report", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "4 views, 1 scene, 0 problems" in out and "depth: absent" in out
    eda = tmp_path / "eda"
    assert main(["eda", str(root), "--out", str(eda), "--workers", "1"]) == 0
    views = pd.read_parquet(eda / "views.parquet").set_index("view_id")
    assert not views["has_depth"].any() and len(views) == len(PANOS)
    for p in PANOS:  # the table's yaw is ZInD's rotation, wrapped to (-180, 180]
        want = (p[6] + 180) % 360 - 180
        assert math.isclose(views.loc[_stem(p), "yaw_deg"], want, abs_tol=1e-6)
        # the camera's height comes from the pose (ZInD's floor is y = 0): camera_height x
        # the pano's scale x the floor's metres per unit
        m = {"floor_01": M_PER_UNIT, "floor_02": 2.0}[p[0]]
        assert views.loc[_stem(p), "height_m"] == pytest.approx(1.0 * p[7] * m)
        assert views.loc[_stem(p), "height_method"] == "pose"
    motion = pd.read_parquet(eda / "motion.parquet")
    assert motion["path_m"].iloc[0] > 0
    html = (eda / "report.html").read_text()
    assert "No depth: no view has depth" in html and "Camera yaw" in html
    by_floor = pd.read_parquet(eda / "by_floor.parquet").set_index("floor")  # poses' heights
    assert by_floor.loc["floor_02", "views"] == sum(p[0] == "floor_02" for p in PANOS)
    assert "d_median" not in by_floor and by_floor["height_m"].notna().all()
    assert "<h2>Per floor</h2>" in html
