"""``workbench consistency``: depth residuals between views, the rigid and scale fits, and the
diagnosis of faults planted in generated scenes (a pose moved 5 cm or turned 2°, a depth scale
5 % off, an object that appears in one view), with the clean views of the same scenes not
flagged; the verb's files, resume and broken scenes.

Tolerances: the fits are compared with the planted truth within 1 cm, 0.3° and 0.01 in scale
(measured errors on these scenes: under 0.5 cm, 0.05°, 0.002); numeric agreement of the compiled
sampler with the numpy reference within 1e-5 m (float32 on any instruction set).
"""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.cli import main
from workbench.data.dataset import open_dataset
from workbench.data.planted import clean_scene, plant
from workbench.eda.consistency import load_consistency, pair_residual, scene_consistency
from workbench.geometry.analytic import box_room
from workbench.geometry.depth_residual import (
    _sample_measured_numpy,
    match_ranges,
    residual_stats,
    sample_measured,
    shrink_range,
    violation_blob,
)
from workbench.geometry.equirect import range_to_points, resize_range
from workbench.geometry.icp import fit_correction, rotation_deg
from workbench.geometry.normals import range_to_normals
from workbench.geometry.pose import invert, relative_pose
from workbench.io import read_image, write_image

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"
LO, HI = (-3.0, -1.4, -2.5), (2.5, 1.3, 3.5)


def _pose(R=None, t=(0.0, 0.0, 0.0)) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.eye(3) if R is None else R
    T[:3, 3] = t
    return T


def _turn(deg: float, axis=(0.0, 1.0, 0.0)) -> np.ndarray:
    a = np.asarray(axis) / np.linalg.norm(axis)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    t = np.radians(deg)
    return np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K


def _box_pair(height=64):
    """Exact ranges of the box room from two centres (B 1.2 m away, turned 30°)."""
    Tb = _pose(_turn(30.0), (0.9, 0.2, 0.8))
    ra, _ = box_room(height, LO, HI)
    rb, _ = box_room(height, LO, HI, centre=Tb[:3, 3], R_world_from_cam=Tb[:3, :3])
    return ra, np.eye(4), rb, Tb


# --------------------------------------------------------------------------- geometry


class TestSampleMeasured:
    def test_matches_the_numpy_reference(self):
        rng = np.random.default_rng(0)
        r = rng.uniform(1, 5, (32, 64)).astype(np.float32)
        r[rng.random((32, 64)) < 0.4] = 0  # sparse
        r[3, 5] = np.nan
        r[5:10, 5:20], r[5:10, 20:30] = 2.0, 2.05  # a smooth step and its neighbours
        u, v = rng.uniform(-0.5, 63.5, 4000), rng.uniform(-0.5, 31.5, 4000)
        u[:3] = np.nan
        got, ok = sample_measured(r, u, v)
        want, ok_ref = _sample_measured_numpy(r, u, v)
        assert np.array_equal(ok, ok_ref) and ok.any() and not ok.all()
        np.testing.assert_allclose(got, want, atol=1e-5)

    def test_simple(self):
        r = np.full((8, 16), 2.0, np.float32)
        val, ok = sample_measured(r, np.array([7.5]), np.array([3.25]))
        assert ok[0] and val[0] == pytest.approx(2.0)
        r[:, 9:] = 4.0  # a depth edge between columns 8 and 9: no sample across it
        _, ok = sample_measured(r, np.array([8.5, 7.5, 9.5]), np.array([3.5, 3.5, 3.5]))
        assert ok.tolist() == [False, True, True]
        r[2, 7] = 0  # sparse: the nearest measured pixel
        val, ok = sample_measured(r, np.array([7.2]), np.array([2.9]))
        assert ok[0] and val[0] == pytest.approx(2.0)

    def test_invalid(self):
        with pytest.raises(ValueError, match="range_b"):
            sample_measured(np.ones((8, 10), np.float32), np.zeros(1), np.zeros(1))


def test_shrinking_keeps_surfaces_where_nearest_moves_them():
    exact, _ = box_room(64, LO, HI)
    big, _ = box_room(256, LO, HI)
    err = np.abs(shrink_range(big, 64) - exact) / exact
    err_nearest = np.abs(resize_range(big, 64) - exact) / exact
    # nearest decimation picks a pixel 1.5 source pixels off every target centre
    assert np.median(err) < 2e-3 < np.median(err_nearest)


def test_exact_views_agree():
    ra, Ta, rb, Tb = _box_pair()
    m = match_ranges(ra, Ta, Tb, rb)
    s = residual_stats(m.residual, m.r_b, 0.02, 0.01)
    assert s["n"] > 0.5 * ra.size
    # bilinear range between pixel centres 2.8° apart: millimetres off on the walls
    assert s["median_abs_m"] < 5e-3 and s["inliers"] > 0.99 and s["violations"] < 0.01


@pytest.mark.parametrize("fault", ["translation", "rotation", "scale_a", "scale_b"])
def test_fits_recover_a_planted_correction(fault):
    ra, Ta, rb, Tb = _box_pair(height=96)
    D = np.eye(4)
    if fault == "translation":
        D[:3, 3] = (0.04, -0.02, 0.03)
    elif fault == "rotation":
        D[:3, :3] = _turn(2.0, (0.3, 1.0, -0.2))
    wrong = Ta @ D  # A's pose off by D: the fit should find C = D⁻¹
    s = {"scale_a": 1.05, "scale_b": 1.0}.get(fault, 1.0)
    rb = rb / np.float32(1.05) if fault == "scale_b" else rb
    pts = range_to_points(ra * np.float32(s)).reshape(-1, 3)[::7]
    model = fault if fault.startswith("scale") else "rigid"
    fit = fit_correction(pts, relative_pose(wrong, Tb), rb, range_to_normals(rb), model)
    assert fit.inliers_after > 0.95 > fit.inliers_before
    if model == "rigid":
        err = invert(D) @ invert(fit.C)
        assert np.linalg.norm(err[:3, 3]) < 0.005 and rotation_deg(err) < 0.1
    else:
        assert fit.ratio == pytest.approx(1.05, abs=0.002)


def test_violation_blob_finds_a_painted_region():
    ra, Ta, rb, Tb = _box_pair()
    rb = rb.copy()
    rb[40:50, 30:50] *= 0.6  # B sees something where A sees the floor
    blob = violation_blob(match_ranges(rb, Tb, Ta, ra), 0.02, 0.01)
    v0, u0, v1, u1 = blob["bbox"]
    assert 40 <= v0 <= v1 <= 49 and 30 <= u0 <= u1 <= 49 and blob["pixels"] > 0.5 * 200
    assert blob["rest_inliers"] > 0.99


# --------------------------------------------------------------------------- planted faults

FAULTS = {
    "pose 5 cm": ("pose", {"translation_m": 0.05}, 200),
    "pose 2 deg": ("pose", {"rotation_deg": 2.0}, 201),
    "scale 5 %": ("scale", {"scale": 1.05}, 202),
    "change": ("change", {}, 203),
}


def _sparse(r: np.ndarray, rng) -> np.ndarray:
    """LiDAR-like: every third row plus a few random pixels (about 40 % valid)."""
    keep = np.zeros(r.shape, bool)
    keep[::3] = True
    keep |= rng.random(r.shape) < 0.1
    return np.where(keep, r, 0.0).astype(np.float32)


@pytest.fixture(scope="module")
def planted():
    """Each fault planted in one view of its own 5-view scene at 128 x 256, and the tables."""
    out = {}
    for name, (fault, amount, seed) in FAULTS.items():
        p = plant(clean_scene(seed, 5), fault, seed % 5, np.random.default_rng(seed), **amount)
        ids = [f"{i:03d}" for i in range(5)]
        out[name] = (p, *scene_consistency("s", ids, p.ranges, p.poses))
    return out


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_planted_fault_is_flagged_with_its_diagnosis(planted, name):
    p, pairs, views = planted[name]
    v = views.set_index("view")
    culprit = v.loc[f"{p.view:03d}"]
    assert culprit["flagged"] and culprit["diagnosis"] == p.fault, views.to_string()
    assert views.iloc[0]["view"] == f"{p.view:03d}"  # ranked first
    assert not v.drop(f"{p.view:03d}")["flagged"].any(), views.to_string()
    if "translation_m" in p.truth:
        assert culprit["t_cm"] == pytest.approx(100 * p.truth["translation_m"], abs=1.0)
        assert culprit["rot_deg"] == pytest.approx(p.truth["rotation_deg"], abs=0.3)
    if p.fault == "scale":
        assert culprit["scale"] == pytest.approx(p.truth["scale"], abs=0.01)
    if p.fault == "change":
        v0, u0, v1, u1 = (int(x) for x in culprit["change_bbox"].split())
        t0, s0, t1, s1 = p.truth["bbox"]
        assert t0 - 1 <= v0 <= v1 <= t1 + 1 and s0 - 1 <= u0 <= u1 <= s1 + 1
        assert culprit["change_fraction"] > 0.003 and culprit["change_lat_deg"] > 0  # below


def test_sparse_lidar_depth_finds_the_scale_fault():
    p = plant(clean_scene(202, 5), "scale", 2, np.random.default_rng(0), scale=1.05)
    rng = np.random.default_rng(1)
    ranges = [_sparse(r, rng) for r in p.ranges]
    _, views = scene_consistency("s", [str(i) for i in range(5)], ranges, p.poses)
    v = views.set_index("view")
    assert v.loc["2", "flagged"] and v.loc["2", "diagnosis"] == "scale", views.to_string()
    assert v.loc["2", "scale"] == pytest.approx(1.05, abs=0.01)
    assert not v.drop("2")["flagged"].any(), views.to_string()


# --------------------------------------------------------------------------- the verb


def _seed_scenes(tmp_path: Path, n: int, break_second: bool) -> tuple[Path, list[str]]:
    root = tmp_path / "ds"
    scenes = sorted(p for p in (SAMPLES / "seed").iterdir() if p.is_dir())[:n]
    for s in scenes:
        shutil.copytree(s, root / s.name)
    if break_second:
        png = root / scenes[1].name / "depth" / "002.png"
        png.write_bytes(png.read_bytes()[:200])
    return root, [s.name for s in scenes]


def test_the_verb_writes_tables_resumes_and_leaves_out_a_broken_view(tmp_path, capsys):
    root, scenes = _seed_scenes(tmp_path, 2, break_second=True)
    out = tmp_path / "out"
    args = ["consistency", str(root), "--out", str(out), "--height", "64", "--no-progress"]
    assert main(args) == 1
    assert '"failed": 0, "views_left_out": 1' in capsys.readouterr().out
    pairs, views = load_consistency(out)
    assert set(views["scene"]) == set(scenes)
    assert set(views[views["scene"] == scenes[1]]["view"]) == {"000", "001", "003"}
    assert (
        len(pairs) >= 3
        and pairs["diagnosis"].isin(["ok", "weak", "scale", "pose", "change", "mismatch"]).all()
    )
    failed = (out / "failed.csv").read_text()
    assert f"{scenes[1]},view 002 left out:" in failed and "002.png" in failed
    assert "002.png" in (out / scenes[1] / "left_out.csv").read_text()
    first = {p.name: p.read_bytes() for p in (out / scenes[0]).iterdir()}
    capsys.readouterr()
    assert main(args) == 1  # resumes: the finished scene is skipped, the same files
    assert '"computed": 1, "skipped": 1' in capsys.readouterr().out  # the other tried again
    assert {p.name: p.read_bytes() for p in (out / scenes[0]).iterdir()} == first
    shutil.copy(SAMPLES / "seed" / scenes[1] / "depth" / "002.png", root / scenes[1] / "depth")
    assert main(args) == 0  # mended: read, and its record of the view left out removed
    assert not (out / scenes[1] / "left_out.csv").exists()
    assert "002" in set(load_consistency(out)[1]["view"])


def test_threads_and_the_plain_loop_write_the_same_tables_and_eda_shows_them(tmp_path):
    root, _ = _seed_scenes(tmp_path, 1, break_second=False)
    base = ["consistency", str(root), "--height", "64", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    for name in ("pairs.csv", "views.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    eda = ["eda", str(root), "--out", str(tmp_path / "eda"), "--consistency", str(tmp_path / "a")]
    assert main(eda) == 0
    html = (tmp_path / "eda" / "report.html").read_text()
    assert "Multi-view consistency (" in html and "flagged views, worst first" in html
    assert main([*eda[:4], "--consistency", str(tmp_path)]) == 2  # no views.csv there


def test_eda_refuses_another_datasets_consistency_results(tmp_path, capsys):
    """eda on a ZInD tour reported a RealSee3D copy's flagged views as its own."""
    root, _ = _seed_scenes(tmp_path, 1, break_second=False)
    cons = tmp_path / "cons"
    assert main(["consistency", str(root), "--out", str(cons), "--height", "64",
                 "--no-progress"]) == 0  # fmt: skip
    out = tmp_path / "eda"
    assert main(["eda", str(SAMPLES / "pose-only"), "--out", str(out), "--consistency",
                 str(cons)]) == 2  # fmt: skip
    assert "--consistency: " in capsys.readouterr().err and not out.exists()
    views = (cons / "views.csv").read_text().splitlines()  # one view the dataset lacks
    (cons / "views.csv").write_text("\n".join([*views, views[-1].replace(",", "x,", 1)]) + "\n")
    assert main(["eda", str(root), "--out", str(out), "--consistency", str(cons)]) == 0
    assert f"1 of {len(views)} views in {cons} are not in this dataset" in capsys.readouterr().err


def test_pair_residual_recomputes_one_pair():
    ds = open_dataset(SAMPLES / "seed")
    scene = ds.scenes[0]
    pr = pair_residual(ds, scene, "000", "001", height=64)
    assert pr.residual_a.shape == pr.residual_b.shape == (64, 128)
    assert np.isfinite(pr.residual_a).mean() > 0.2
    assert np.nanmedian(np.abs(pr.residual_a)) < 0.02  # a clean sample scene
    assert pr.C.shape == (4, 4) and np.allclose(pr.C[:3, :3] @ pr.C[:3, :3].T, np.eye(3))
    assert np.allclose(pr.T_a_corrected, pr.T_a @ pr.C)
    clouds = pr.clouds(stride=2)
    assert set(clouds) == {"a", "a_corrected", "b"} and clouds["a"].shape[1] == 3
    # the correction of a clean pair (at 64 rows) moves A's cloud by a few millimetres
    moved = np.linalg.norm(clouds["a_corrected"] - clouds["a"], axis=1)
    assert 0 < np.median(moved) < 0.02
    with pytest.raises(Exception, match="no view '999'"):
        pair_residual(ds, scene, "000", "999")


def test_load_consistency_names_a_folder_without_tables(tmp_path):
    with pytest.raises(Exception, match="views.csv"):
        load_consistency(tmp_path)


def test_a_view_without_any_pair_is_unchecked_not_ok():
    """A view none of whose partners is covisible at --min-overlap was reported `ok` with 0
    pairs (a 10 % depth scale fault went unseen that way)."""
    import pandas as pd

    from workbench.eda.consistency_views import aggregate_views

    pair = {"view_a": "0", "view_b": "1", "diagnosis": "ok", "score": 0.01, "median_abs_m": 0.01,
            "inliers": 0.9, "scale": 1.0, "t_cm": 0.0, "t_cm_b": 0.0, "rot_deg": 0.0,
            "change_view": "", "change_fraction": 0.0, "change_bbox": "",
            "change_lon_deg": 0.0, "change_lat_deg": 0.0}  # fmt: skip
    v = aggregate_views("s", ["0", "1", "2"], pd.DataFrame([pair])).set_index("view")
    assert v.loc["0", "diagnosis"] == "ok" and v.loc["1", "diagnosis"] == "ok"
    assert v.loc["2", "diagnosis"] == "unchecked" and not v.loc["2", "flagged"]
    assert v.loc["2", "pairs"] == 0
    assert v.loc[["2"], ["scale", "t_cm", "rot_deg", "change_fraction"]].isna().all(axis=None)
    assert v.loc["0", "scale"] == 1.0 and v.loc["0", "t_cm"] == 0.0  # checked, nothing to fix


def test_a_dataset_without_depth_is_refused_before_any_folder(tmp_path, capsys):
    """It wrote empty tables for a pose-only tour (covisibility, match and pointcloud refused)."""
    out = tmp_path / "out"
    assert main(["consistency", str(SAMPLES / "pose-only"), "--out", str(out)]) == 2
    assert "dataset has no depth" in capsys.readouterr().err and not out.exists()
    depth_only = tmp_path / "depth-only"
    shutil.copytree(SAMPLES / "rgbd-folder", depth_only)
    shutil.rmtree(depth_only / "pose")
    for verb in ("consistency", "covisibility"):
        assert main([verb, str(depth_only), "--out", str(out), "--no-progress"]) == 2
        assert "dataset has no poses" in capsys.readouterr().err and not out.exists()


def test_a_rerun_with_other_settings_or_changed_depth_recomputes(tmp_path, capsys):
    """A scene counted as done whenever its tables existed: another --tolerance, or a depth
    map rewritten at half its range, reported the old tables ("ok") without a word."""
    root, scenes = _seed_scenes(tmp_path, 1, break_second=False)
    out = tmp_path / "out"
    args = ["consistency", str(root), "--out", str(out), "--height", "64", "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0 and '"computed": 0, "skipped": 1' in capsys.readouterr().out
    assert main([*args, "--tolerance", "0.05"]) == 0
    assert '"computed": 1, "skipped": 0' in capsys.readouterr().out
    png = root / scenes[0] / "depth" / "001.png"
    half = (read_image(png) // 2).astype(np.uint16)
    write_image(png, half)
    assert main(args) == 0
    assert '"computed": 1, "skipped": 0' in capsys.readouterr().out
    _, views = load_consistency(out)
    assert views.set_index("view").loc["001", "diagnosis"] != "ok"


def test_a_flagged_view_with_one_partner_is_said_to_be_ambiguous(capsys):
    """Two views of a scene, one of them off: both are flagged, and nothing can say which."""
    from workbench.eda import consistency as C
    from workbench.eda.consistency_views import VIEW_COLUMNS

    row = dict.fromkeys(VIEW_COLUMNS, 0.0) | {"scene": "s", "flagged": True, "bad_pairs": 1}
    views = pd.DataFrame(
        [
            row | {"view": "a", "diagnosis": "scale", "scale": 1.09, "pairs": 1},
            row | {"view": "b", "diagnosis": "scale", "scale": 0.91, "pairs": 3},
        ]
    )
    C._print({"unchecked_views": 0}, views, [], Path("out"))
    out = capsys.readouterr().out.splitlines()
    assert "one partner: the fault may be either view's" in out[1]
    assert "one partner" not in out[2]


@pytest.mark.parametrize("inliers, name", [(0.95, "ok"), (0.7, "weak"), (0.4, "mismatch")])
def test_a_pair_between_the_inlier_thresholds_is_weak_not_ok(inliers, name):
    """Between --bad-inliers and --ok-inliers, with no fit that gains, a pair was called `ok`
    (a RealSee3D view moved 50 cm passed at 57 % inliers, its rigid fit stopped at 13 cm)."""
    from workbench.eda.consistency_pairs import Thresholds, _name
    from workbench.geometry.icp import Fit

    C = np.eye(4)
    C[0, 3] = 0.13  # a rigid fit that moves 13 cm but gains nothing
    rigid = Fit(C, 1.0, inliers, inliers + 0.01, 1000)
    scale = Fit(np.eye(4), 1.0, inliers, inliers, 1000)
    blob = {"image_fraction": 0.0, "rest_inliers": inliers}
    assert _name({"inliers": inliers}, blob, rigid, scale, Thresholds()) == name


def test_a_pose_moved_tens_of_centimetres_is_never_ok(tmp_path):
    """Moved 30-80 cm, the RealSee3D sample's view is found as `pose`, or said `weak` or
    `mismatch` where the fits cannot reach it: never `ok`. As shipped, the pair is `ok`."""
    root = tmp_path / "rs"
    shutil.copytree(SAMPLES / "realsee3d", root)
    pose = next(root.glob("*/viewpoints/001/extrinsics.txt"))
    T0 = np.loadtxt(pose)
    for shift in (0.0, 0.3, 0.5, 0.8):
        T = T0.copy()
        T[0, 3] += shift  # metres
        np.savetxt(pose, T)
        out = tmp_path / f"out{shift}"
        assert main(["consistency", str(root), "--out", str(out), "--no-progress"]) == 0
        pairs = load_consistency(out)[0]
        assert len(pairs) == 1
        assert (pairs["diagnosis"].iloc[0] == "ok") == (shift == 0.0), shift


def test_weak_views_are_counted_and_said(capsys):
    from workbench.eda import consistency as C
    from workbench.eda.consistency_views import VIEW_COLUMNS

    row = dict.fromkeys(VIEW_COLUMNS, 0.0) | {"scene": "s", "flagged": False, "bad_pairs": 0}
    views = pd.DataFrame([row | {"view": v, "diagnosis": "weak", "pairs": 1} for v in "ab"])
    C._print({"unchecked_views": 0, "weak_views": 2}, views, [], Path("out"))
    said = capsys.readouterr().out
    assert "2 view(s) weak: their pairs agree on only part of the overlap" in said


def test_a_view_with_an_ok_pair_is_not_weak():
    from workbench.eda.consistency_views import aggregate_views

    pair = {"view_a": "0", "view_b": "1", "diagnosis": "weak", "score": 0.3, "median_abs_m": 0.1,
            "inliers": 0.7, "scale": 1.0, "t_cm": 0.0, "t_cm_b": 0.0, "rot_deg": 0.0,
            "change_view": "", "change_fraction": 0.0, "change_bbox": "",
            "change_lon_deg": 0.0, "change_lat_deg": 0.0}  # fmt: skip
    pairs = pd.DataFrame([pair, pair | {"view_b": "2", "diagnosis": "ok", "inliers": 0.95}])
    v = aggregate_views("s", ["0", "1", "2"], pairs).set_index("view")
    assert v.loc["0", "diagnosis"] == "ok"  # one partner vouches for it
    assert v.loc["1", "diagnosis"] == "weak" and not v.loc["1", "flagged"]
    assert v.loc["2", "diagnosis"] == "ok"


@pytest.mark.parametrize("fault, amount", [("pose", {"rotation_deg": 30.0}),
                                           ("scale", {"scale": 2.0})])  # fmt: skip
def test_a_fault_beyond_the_fits_is_a_mismatch_without_a_made_up_size(fault, amount):
    """A view turned 30° was flagged `pose` with a fitted 3-10° (the rigid fit stopped in a
    local minimum, 63-80 % agreeing after it): a correction is named only when it restores
    the pair; else the view is a mismatch, its correction figures NaN."""
    p = plant(clean_scene(204, 5), fault, 3, np.random.default_rng(4), **amount)
    ids = [f"{i:03d}" for i in range(5)]
    pairs, views = scene_consistency("s", ids, p.ranges, p.poses)
    v = views.set_index("view")
    culprit = v.loc["003"]
    assert culprit["flagged"] and culprit["diagnosis"] == "mismatch", views.to_string()
    assert np.isnan(culprit[["scale", "t_cm", "rot_deg"]].astype(float)).all()
    assert not v.drop("003")["flagged"].any(), views.to_string()
    mine = pairs[(pairs["view_a"] == "003") | (pairs["view_b"] == "003")]
    assert (mine["diagnosis"] != "ok").all()


@pytest.mark.parametrize("pooled, name", [(0.7, "mismatch"), (0.99, "ok")])
def test_a_gaining_fit_that_does_not_restore_the_pair_names_no_pose(pooled, name):
    """The rigid fit gains 20 points but leaves 75 % agreeing: no `pose` (its size would be
    made up). Where the pair's own measure disagrees it is a mismatch; where it agrees (a
    coarse, grazing overlap the fit samples badly: two views of the bundled seed sample were
    flagged so at 128 rows) nothing is named."""
    from workbench.eda.consistency_pairs import Thresholds, _name
    from workbench.geometry.icp import Fit

    C = np.eye(4)
    C[0, 3] = 0.1
    rigid = Fit(C, 1.0, 0.55, 0.75, 1000)
    blob = {"image_fraction": 0.0, "rest_inliers": pooled}
    assert _name({"inliers": pooled}, blob, rigid, None, Thresholds()) == name


def test_pose_pairs_fitting_different_corrections_make_a_mismatch():
    from workbench.eda.consistency_views import aggregate_views

    base = {"view_a": "0", "diagnosis": "pose", "score": 0.2, "median_abs_m": 0.1,
            "inliers": 0.8, "scale": 1.0, "rot_deg": 0.1, "change_view": "",
            "change_fraction": 0.0, "change_bbox": "", "change_lon_deg": 0.0,
            "change_lat_deg": 0.0}  # fmt: skip
    pairs = pd.DataFrame([base | {"view_b": "1", "t_cm": 40.0, "t_cm_b": 41.0},
                          base | {"view_b": "2", "t_cm": 64.0, "t_cm_b": 63.0}])  # fmt: skip
    v = aggregate_views("s", ["0", "1", "2"], pairs).set_index("view")
    assert v.loc["0", "flagged"] and v.loc["0", "diagnosis"] == "mismatch"
    assert np.isnan(v.loc["0", "t_cm"]) and np.isnan(v.loc["0", "rot_deg"])
    same = pairs.assign(t_cm=[50.0, 50.4])
    v = aggregate_views("s", ["0", "1", "2"], same).set_index("view")
    assert v.loc["0", "diagnosis"] == "pose" and v.loc["0", "t_cm"] == pytest.approx(50.2)


@pytest.mark.parametrize("tolerance", ["0.01", "0.05"])
def test_the_bundled_seed_sample_flags_no_view(tmp_path, tolerance):
    """At the default 128 rows two clean views were flagged `pose` (7.8 and 8.7 cm); a pair at
    99.3 % inliers was `pose` 10.9 cm (its fit gained on its own subset of points), and at
    --tolerance 0.05 pairs at 100 % were `pose` and a clean view a `mismatch`: a looser
    tolerance flagged more. A correction must raise the whole pair's inliers."""
    out = tmp_path / "out"
    argv = ["consistency", str(SAMPLES / "seed"), "--out", str(out), "--tolerance", tolerance]
    assert main([*argv, "--no-progress"]) == 0
    pairs, views = load_consistency(out)
    assert len(views) == 24 and not views["flagged"].any(), views.to_string()
    assert not (pairs["diagnosis"] == "pose").any(), pairs.to_string()


def test_eda_says_when_consistency_results_come_from_another_root(tmp_path, capsys):
    """Results of a dataset's copy whose poses were then edited were taken as this one's
    without a word (the ids match); a folder without views.csv did not name the flag."""
    root, _ = _seed_scenes(tmp_path, 1, break_second=False)
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    cons = tmp_path / "cons"
    assert main(["consistency", str(copy), "--out", str(cons), "--height", "64",
                 "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["eda", str(root), "--out", str(tmp_path / "eda"), "--consistency",
                 str(cons), "--no-progress"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"--consistency: {cons} was computed on {copy.resolve()}, not on" in err
    assert main(["eda", str(copy), "--out", str(tmp_path / "eda2"), "--consistency",
                 str(cons), "--no-progress"]) == 0  # fmt: skip
    assert "was computed on" not in capsys.readouterr().err
    assert main(["eda", str(root), "--out", str(tmp_path / "eda3"), "--consistency",
                 str(tmp_path / "none")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--consistency: " in err and "holds no views.csv" in err


def test_change_min_zero_calls_no_empty_region_a_change():
    """--change-min 0 named every pair `change` with an empty region (bbox -1, position NaN)."""
    from workbench.eda.consistency_pairs import Thresholds

    p = clean_scene(205, 4)
    ids = [f"{i:03d}" for i in range(4)]
    pairs, views = scene_consistency("s", ids, p.ranges, p.poses, Thresholds(change_min=0.0))
    changed = pairs[pairs["diagnosis"] == "change"]
    assert len(changed) < len(pairs)  # the pairs without a region are not changes
    assert (changed["change_fraction"] > 0).all() and "-1" not in " ".join(changed["change_bbox"])


def test_results_of_older_diagnosis_rules_are_recomputed(tmp_path, capsys):
    """Notebook 09 reused a scene's tables written before a rule changed (two clean views
    still flagged): the rules' version is part of what a re-run compares."""
    import json

    root, scenes = _seed_scenes(tmp_path, 1, break_second=False)
    out = tmp_path / "out"
    args = ["consistency", str(root), "--out", str(out), "--height", "64", "--no-progress"]
    assert main(args) == 0
    options = out / scenes[0] / "options.json"
    recorded = json.loads(options.read_text())
    options.write_text(json.dumps({**recorded, "rules": recorded["rules"] - 1}))
    capsys.readouterr()
    assert main(args) == 0
    assert '"computed": 1, "skipped": 0' in capsys.readouterr().out
    assert main(args) == 0
    assert '"computed": 0, "skipped": 1' in capsys.readouterr().out


def test_a_pose_a_metre_off_is_found_at_its_size():
    """The fit stopped after 12 steps at 60 cm for a view moved 1 m (and called it `pose`
    60 cm); it takes up to 40 and reaches it."""
    p = plant(clean_scene(206, 5), "pose", 2, np.random.default_rng(6), translation_m=1.0)
    ids = [f"{i:03d}" for i in range(5)]
    views = scene_consistency("s", ids, p.ranges, p.poses)[1].set_index("view")
    culprit = views.loc["002"]
    assert culprit["flagged"] and culprit["diagnosis"] == "pose", views.to_string()
    assert culprit["t_cm"] == pytest.approx(100.0, abs=1.0)
    assert not views.drop("002")["flagged"].any()


def _pose_pair(a, b, t, t_b=None, diagnosis="pose") -> dict:
    return {"view_a": a, "view_b": b, "diagnosis": diagnosis, "score": 0.2,
            "median_abs_m": 0.1, "inliers": 0.8, "scale": 1.0, "t_cm": t,
            "t_cm_b": t if t_b is None else t_b, "rot_deg": 0.1, "change_view": "",
            "change_fraction": 0.0, "change_bbox": "", "change_lon_deg": 0.0,
            "change_lat_deg": 0.0}  # fmt: skip


def test_two_faulty_views_of_a_scene_keep_their_sizes():
    """A view moved 15 cm beside another turned 3°: their shared pair fits both errors at
    once, which made both views `mismatch`; two thirds agreeing name the pose."""
    from workbench.eda.consistency_views import aggregate_views

    pairs = [_pose_pair("1", v, 15.0) for v in "0235"] + [_pose_pair("1", "4", 24.0)]
    v = aggregate_views("s", list("012345"), pd.DataFrame(pairs)).set_index("view")
    assert v.loc["1", "diagnosis"] == "pose" and v.loc["1", "t_cm"] == pytest.approx(15.0)


def test_an_unflagged_view_carries_no_faults_figures():
    """views.csv gave an `ok` view the 152 cm, 30° correction of its one pair with a faulty
    view (a minority of its pairs)."""
    from workbench.eda.consistency_views import aggregate_views

    ok = _pose_pair("0", "1", 0.0, diagnosis="ok")
    pairs = [_pose_pair("0", "9", 152.0), ok, ok | {"view_b": "2"}]
    v = aggregate_views("s", ["0", "1", "2", "9"], pd.DataFrame(pairs)).set_index("view")
    assert v.loc["0", "diagnosis"] == "ok" and not v.loc["0", "flagged"]
    assert v.loc["0", "t_cm"] == 0.0 and v.loc["0", "rot_deg"] == 0.0 and v.loc["0", "scale"] == 1.0
    weak = [_pose_pair("0", "1", 0.0, diagnosis="weak"), _pose_pair("0", "2", 30.0)]
    v = aggregate_views("s", ["0", "1", "2"], pd.DataFrame(weak)).set_index("view")
    assert v.loc["0", "diagnosis"] == "weak" and np.isnan(v.loc["0", "t_cm"])


def test_the_eda_report_lists_weak_views():
    """The report counted a weak view and listed none."""
    from workbench.eda.consistency_views import VIEW_COLUMNS
    from workbench.eda.report import _consistency_tables

    row = dict.fromkeys(VIEW_COLUMNS, 0.0) | {"scene": "s", "flagged": False, "pairs": 2}
    views = pd.DataFrame([row | {"view": "a", "diagnosis": "weak", "inliers": 0.7},
                          row | {"view": "b", "diagnosis": "ok", "inliers": 0.97}])  # fmt: skip
    tables = _consistency_tables(views)
    weak = next(t for k, t in tables.items() if "weak views" in k)
    assert weak["view"].tolist() == ["a"] and weak["inliers"].tolist() == [0.7]
    assert not any("weak views" in k for k in _consistency_tables(views.iloc[1:]))
