"""EDA tables against the generator's known poses and depths; caching; the scale path."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.data.dataset import index_dataset
from workbench.eda import stats
from workbench.eda.views import BIN_EDGES, view_stats, view_table

SAMPLES = Path(__file__).parents[2] / "data_samples" / "seed"
RECORDS = index_dataset(SAMPLES)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return view_table(RECORDS, SAMPLES, cache=tmp_path_factory.mktemp("eda") / "c.parquet")


RUG_M = 0.012  # data/rooms.py: a rug is a 12 mm box on the floor


def _meta(scene_id):
    return json.loads((SAMPLES / scene_id / "others" / "meta.json").read_text())["generator"]


def _over_rug(scene_id, view_id) -> bool:
    """Whether the camera stands above a rug's footprint (the ``rug_*`` objects of the scene's
    OBJ; a rug is an axis box turned by its yaw, so its footprint is the hull of its corners)."""
    from scipy.spatial import Delaunay

    rugs, name = {}, None
    for line in (SAMPLES / scene_id / "obj" / "scene.obj").read_text().splitlines():
        if line.startswith("o "):
            name = line.split()[1]
        elif line.startswith("v ") and name and name.startswith("rug"):
            rugs.setdefault(name, []).append([float(x) for x in line.split()[1:4]])
    cam = np.loadtxt(SAMPLES / scene_id / "pose" / f"{view_id}.txt")[[0, 2], 3]
    return any(Delaunay(np.array(v)[:, [0, 2]]).find_simplex(cam) >= 0 for v in rugs.values())


def test_heights_and_yaws_match_the_generator(table):
    for sid, g in table.groupby("scene_id"):
        meta = _meta(sid)
        g = g.sort_values("view_id")
        # height_m is the drop to the surface below the camera: the floor, or the top of a rug
        # when the camera stands over one and the rug fills most of the nadir cap
        views = zip(g["view_id"], g["height_m"], meta["camera_heights_m"], strict=True)
        for view_id, h, true_h in views:
            low = true_h - RUG_M - 0.002 if _over_rug(sid, view_id) else true_h - 0.01
            assert low <= h <= true_h + 0.01, (sid, view_id, h, true_h)
        np.testing.assert_allclose(-g["cy"], meta["camera_heights_m"], atol=1e-3)
        d = (np.deg2rad(g["yaw_deg"]) - np.array(meta["yaws_rad"]) + np.pi) % (2 * np.pi) - np.pi
        np.testing.assert_allclose(d, 0, atol=1e-3)
        assert (g[["pitch_deg", "roll_deg"]].abs() <= meta["max_tilt_deg"] + 1e-6).all().all()


def test_yaw_rose_counts_the_given_yaws(table):
    yaws = np.concatenate([_meta(s)["yaws_rad"] for s in sorted(table["scene_id"].unique())])
    rose = stats.yaw_rose(table, 30.0)
    expected = np.histogram(np.rad2deg(yaws), np.arange(-180, 181, 30))[0]
    np.testing.assert_array_equal(rose["count"], expected)
    assert rose["count"].sum() == len(RECORDS)


def test_depth_statistics_hand_checked():
    r = np.full((16, 32), 2.0, np.float32)
    r[:2] = 0.0  # top rows invalid
    T = np.eye(4)
    s = view_stats((16, 32, 3), r, T)
    assert s["invalid_frac"] == pytest.approx(2 / 16)
    assert s["d_median"] == pytest.approx(2.0) and s["d_max"] == pytest.approx(2.0)
    total = sum(int(np.sum(s[f"hist_{b}"])) for b in ("ceiling", "horizon", "floor"))
    assert total == 14 * 32
    b = np.searchsorted(BIN_EDGES, 2.0, side="right") - 1
    assert s["hist_horizon"][b] == s["hist_horizon"].sum() > 0
    # a camera 1.5 m above an infinite floor: range = 1.5 / sin(lat) below the horizon
    from workbench.geometry.equirect import lonlat_grid

    _, lat = lonlat_grid(64, 128)
    floor = np.where(lat[:, None] > 0.05, 1.5 / np.sin(np.maximum(lat, 0.05))[:, None], 0.0)
    floor = np.broadcast_to(floor, (64, 128)).astype(np.float32)
    assert view_stats((64, 128, 3), floor, T)["height_m"] == pytest.approx(1.5, abs=1e-4)


def test_histogram_is_tidy_and_sums(table):
    h = stats.depth_histogram(table)
    assert set(h.columns) == {"band", "bin_lo", "bin_hi", "count", "fraction"}
    for _, g in h.groupby("band"):
        assert g["fraction"].sum() == pytest.approx(1.0)
    valid = (1 - table["invalid_frac"]) * table["width"] * table["height"]
    assert h["count"].sum() == pytest.approx(valid.sum(), rel=1e-3)


def test_pairs_and_motion_hand_checked():
    t = pd.DataFrame(
        {
            "scene_id": ["a", "a", "a", "b", "b"],
            "view_id": ["0", "1", "2", "0", "1"],
            "cx": [0.0, 3.0, 3.0, 0.0, 1.0],
            "cy": [0.0] * 5,
            "cz": [0.0, 0.0, 4.0, 0.0, 0.0],
            "yaw_deg": [170.0, -170.0, 0, 0, 90],
        }
    )
    p = stats.pair_table(t)
    assert len(p) == 4
    a01 = p[(p.scene_id == "a") & (p.view_a == "0") & (p.view_b == "1")].iloc[0]
    assert a01.baseline_m == pytest.approx(3.0) and a01.rel_yaw_deg == pytest.approx(20.0)
    m = stats.motion_by_scene(t).set_index("scene_id")
    assert m.loc["a", "path_m"] == pytest.approx(7.0)
    assert m.loc["a", "mean_nn_m"] == pytest.approx((3 + 3 + 4) / 3)
    assert m.loc["a", "max_baseline_m"] == pytest.approx(5.0)
    assert m.loc["b", "views"] == 2 and m.loc["b", "posed_views"] == 2
    t.loc[4, "cx"] = np.nan  # b keeps one posed view: nothing to measure, not a path of 0 m
    m = stats.motion_by_scene(t).set_index("scene_id")
    assert m.loc["b", "views"] == 2 and m.loc["b", "posed_views"] == 1
    assert m.loc["b", ["path_m", "max_baseline_m", "extent_x_m"]].isna().all()
    assert m.loc["a", "path_m"] == pytest.approx(7.0)


def test_tilt_outliers_flagged():
    t = pd.DataFrame(
        {
            "scene_id": ["a", "a"],
            "view_id": ["0", "1"],
            "yaw_deg": [0.0, 0.0],
            "pitch_deg": [1.0, 6.0],
            "roll_deg": [1.0, 0.0],
        }
    )
    o = stats.orientation_table(t, 5.0)
    assert o["tilt_outlier"].tolist() == [False, True]
    assert o["tilt_deg"].iloc[1] == pytest.approx(6.0)


def test_cache_recomputes_only_changed_views(tmp_path, monkeypatch):
    import shutil

    import workbench.eda.views as views

    root = tmp_path / "ds"
    sid = RECORDS[0].scene_id
    shutil.copytree(SAMPLES / sid, root / sid)
    recs = index_dataset(root)
    cache = tmp_path / "cache.parquet"
    first = view_table(recs, root, cache=cache)
    calls = []
    real = views._compute
    monkeypatch.setattr(
        views, "_compute", lambda r, rt, c=None: calls.append(r.view_id) or real(r, rt, c)
    )
    again = view_table(recs, root, cache=cache)
    assert calls == []
    pd.testing.assert_frame_equal(
        first.drop(columns=[c for c in first if c.startswith("hist")]),
        again.drop(columns=[c for c in again if c.startswith("hist")]),
    )
    depth = root / recs[1].depth_path
    os.utime(depth, ns=(depth.stat().st_atime_ns, depth.stat().st_mtime_ns + 10**9))
    view_table(recs, root, cache=cache)
    assert calls == [recs[1].view_id]
    cache.write_bytes(b"corrupt")  # a broken cache is rebuilt, never trusted
    assert len(view_table(recs, root, cache=cache)) == len(recs)


def test_eda_cli_writes_report(tmp_path):
    from workbench.cli import main

    assert main(["eda", str(SAMPLES), "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    assert "Range distribution" in html and "Camera yaw" in html and "https://" not in html[:2000]
    assert "(range in metres)" in html and "ground truth" not in html  # the example view row
    assert pd.read_parquet(tmp_path / "views.parquet").shape[0] == len(RECORDS)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["views"] == len(RECORDS) and s["scenes"] == 6


def _random_view_table(seed: int = 0) -> pd.DataFrame:
    """Scenes of 1-9 views in shuffled order with NaN poses and depths here and there."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 10, 60)
    scenes = np.repeat([f"s{k:03d}" for k in range(len(sizes))], sizes)
    views = np.concatenate([rng.permutation(k) for k in sizes]).astype(str)
    n = len(scenes)
    t = pd.DataFrame(
        {
            "scene_id": scenes,
            "view_id": views,
            **{c: rng.normal(0, 3, n) for c in ("cx", "cy", "cz", "yaw_deg")},
            **{c: rng.uniform(0.5, 9, n) for c in ("d_median", "d_p05", "d_p95", "d_max")},
            "invalid_frac": rng.uniform(0, 0.3, n),
            "height_m": rng.uniform(1, 2, n),
        }
    )
    t.loc[rng.choice(n, 5, replace=False), ["cx", "cy", "cz"]] = np.nan
    t.loc[rng.choice(n, 5, replace=False), "d_median"] = np.nan
    t.loc[rng.choice(n, 3, replace=False), "d_p05"] = np.nan
    return t.sample(frac=1.0, random_state=1).reset_index(drop=True)


def test_scene_statistics_equal_plain_pandas_and_numpy_on_a_random_table():
    t = _random_view_table()
    ordered = t.sort_values(["scene_id", "view_id"])
    g = ordered.groupby("scene_id", sort=True)

    def nan_if_any(fn):
        return lambda s: np.nan if s.isna().any() else fn(s.to_numpy())

    want = pd.DataFrame(
        {
            "views": g.size(),
            "d_median": g["d_median"].agg(nan_if_any(np.median)),
            "d_p05": g["d_p05"].agg(nan_if_any(np.min)),
            "d_p95": g["d_p95"].agg(nan_if_any(np.max)),
            "d_max": g["d_max"].agg(nan_if_any(np.max)),
            "invalid_frac": g["invalid_frac"].mean(),
            "height_m": g["height_m"].agg(nan_if_any(np.median)),
        }
    )
    got = stats.depth_by_scene(t).set_index("scene_id")
    pd.testing.assert_frame_equal(got, want, check_names=False, check_dtype=False)

    def motion(p):  # over the posed views: a view without a pose is skipped
        p = p[np.isfinite(p).all(axis=1)]
        if len(p) < 2:  # one view: no motion to measure
            return dict.fromkeys(("path_m", "mean_nn_m", "max_baseline_m", "extent_x_m"), np.nan)
        d = np.linalg.norm(p[:, None] - p[None], axis=-1)
        nn = (d + np.where(np.eye(len(p), dtype=bool), np.inf, 0)).min(1).mean()
        return {
            "path_m": np.linalg.norm(np.diff(p, axis=0), axis=1).sum(),
            "mean_nn_m": nn,
            "max_baseline_m": d.max(),
            "extent_x_m": np.ptp(p[:, 0]),
            "extent_z_m": np.ptp(p[:, 2]),
        }

    got = stats.motion_by_scene(t).set_index("scene_id")
    for sid, part in g:
        for key, value in motion(part[["cx", "cy", "cz"]].to_numpy()).items():
            assert got.loc[sid, key] == pytest.approx(value, nan_ok=True), (sid, key)
    pairs = stats.pair_table(t)
    assert len(pairs) == sum(k * (k - 1) // 2 for k in g.size())
    assert (pairs.view_a.astype(str) < pairs.view_b.astype(str)).all()
    row = pairs.iloc[len(pairs) // 2]
    a = ordered[(ordered.scene_id == row.scene_id) & (ordered.view_id == row.view_a)].iloc[0]
    b = ordered[(ordered.scene_id == row.scene_id) & (ordered.view_id == row.view_b)].iloc[0]
    base = np.linalg.norm(a[["cx", "cy", "cz"]].to_numpy(float) - b[["cx", "cy", "cz"]])
    assert row.baseline_m == pytest.approx(base, nan_ok=True)
    assert row.rel_yaw_deg == pytest.approx((b.yaw_deg - a.yaw_deg + 180) % 360 - 180)


def test_view_cache_is_saved_by_chunk_and_time(tmp_path, monkeypatch):
    from workbench.eda import views

    root = Path(__file__).resolve().parents[2] / "data_samples" / "seed"
    records = index_dataset(root)[:6]
    writes = []
    real = views._write_cache
    monkeypatch.setattr(views, "_write_cache", lambda df, p: (writes.append(len(df)), real(df, p)))
    monkeypatch.setattr(views, "SAVE_EVERY_S", 0.0)
    view_table(records, root, cache=tmp_path / "a.parquet", workers=1, chunk=2)
    assert writes == [2, 4, 6]  # a run killed after any of them resumes from there
    writes.clear()
    monkeypatch.setattr(views, "SAVE_EVERY_S", 1e9)
    view_table(records, root, cache=tmp_path / "b.parquet", workers=1, chunk=2)
    assert writes == [6]  # a whole-table write per chunk would dominate at 300k views
