"""Depth-scale mistakes a user can make, scene by scene: the plausibility guard judges each
scene (a badly scaled scene is not hidden by good ones) and ``--depth-scale`` overrides
RealSee3D's per-view ``depth_scale.txt``."""

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.configs.commands import DataFlags
from workbench.data.dataset import describe_dataset, index_dataset, index_spec, open_dataset
from workbench.data.layouts import ViewRecord, load_view
from workbench.data.plausibility import (
    SAMPLE_VIEWS,
    SCENE_VIEWS,
    check_plausibility,
    sample_records,
    warn_if_implausible,
)
from workbench.data.splits import read_split_csv
from workbench.data.validate import validate_dataset
from workbench.errors import WorkbenchError

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples"
WARNING = "workbench: warning:"
PROBLEM = "implausible depth scale"


def _realsee(tmp_path: Path, scales: dict[str, str]) -> Path:
    """A RealSee3D dataset of the sample scene copied once per ``scales`` key, each view's
    ``depth_scale.txt`` rewritten to its value (``""``: removed); the sample's is 4000."""
    src = next(p for p in (SAMPLES / "realsee3d").iterdir() if (p / "viewpoints").is_dir())
    root = tmp_path / "rs"
    for scene, scale in scales.items():
        shutil.copytree(src, root / scene)
        for f in (root / scene / "viewpoints").glob("*/depth_scale.txt"):
            f.write_text(f"{scale}\n") if scale else f.unlink()
    return root


def _rows(report: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(report.read_text())))


# ----------------------------------------------------------------- 1. per-scene plausibility


def test_one_badly_scaled_realsee_scene_is_named_by_validate(tmp_path, capsys):
    # "bad": depth_scale.txt 8x too large (32000, not 4000): its camera 8x too low
    root = _realsee(tmp_path, {"bad": "32000", "good": "4000"})
    report = tmp_path / "r.csv"
    assert main(["validate", str(root), "--report", str(report)]) == 1
    rows = _rows(report)
    assert [(r["scene"], r["view"], r["problem"]) for r in rows] == [("bad", "", PROBLEM)]
    detail = rows[0]["detail"]
    assert "median camera height 0.12 m at 32000 units per metre" in detail, detail
    # the good scene's scale is the suggestion (the sample's camera is at 0.93 m)
    assert "depth_scale.txt would give 0.93 m at 4000 units per metre" in detail, detail
    assert "--encoding" not in detail  # does not apply to RealSee3D
    assert PROBLEM in capsys.readouterr().out

    judged = check_plausibility(spec := describe_dataset(root), index_spec(spec))
    assert not judged.plausible and not judged.whole_dataset
    assert [s.scene_id for s in judged.implausible_scenes] == ["bad"]
    heights = {s.scene_id: s.camera_height_m for s in judged.scenes}
    assert heights["good"] == pytest.approx(8 * heights["bad"], rel=1e-3)
    assert 0.5 < judged.camera_height_m  # the pooled median alone hid it


def test_other_verbs_warn_one_line_naming_the_scenes(tmp_path, capfd):
    root = _realsee(tmp_path, {"a": "32000", "b": "4000", "c": "40000"})
    out = str(tmp_path / "split")
    assert main(["split", str(root), "--out", out, "--unit", "view"]) == 0
    warnings = [ln for ln in capfd.readouterr().err.splitlines() if WARNING in ln]
    assert len(warnings) == 1, warnings
    line = warnings[0]
    assert "2 of 3 scenes have an implausible depth scale: a (camera 0.12 m)" in line, line
    assert "c (camera 0.09 m)" in line and "b (" not in line
    assert "4000 units per metre" in line and "workbench validate lists each scene" in line
    result = warn_if_implausible(describe_dataset(root), file=io.StringIO())
    assert [p[0] for p in result.problems()] == ["a", "c"]


def test_every_scene_wrong_is_one_dataset_problem_naming_the_flag(tmp_path):
    root = _realsee(tmp_path, {"a": "32000", "b": "32000"})
    _, problems = validate_dataset(root, progress=False)
    bad = [p for p in problems if p.problem == PROBLEM]
    assert len(bad) == 1 and bad[0].scene_id == "", bad
    assert "0.93 m at 4000 units per metre" in bad[0].detail
    assert "pass --depth-scale 4000" in bad[0].detail  # overrides every view's file
    # passing it makes the dataset plausible
    _, problems = validate_dataset(
        root, progress=False, spec=describe_dataset(root, depth_scale=4000)
    )
    assert problems == []


@pytest.mark.parametrize("given", [1, 10])
def test_a_wrong_depth_scale_flag_is_answered_with_the_right_one(given):
    """Millimetre PNGs read at --depth-scale 1 lost their floor beyond 1,000 "m" in the guard's
    sample (camera 786 m, as if 0.79 m in millimetres) and it advised --encoding stanford2d3d,
    which --depth-scale overrides anyway."""
    root = SAMPLES / "seed"
    spec = describe_dataset(root, depth_scale=given)
    p = check_plausibility(spec, index_spec(spec))
    assert p.whole_dataset and "plausible at --depth-scale 1000 (millimetres" in p.message
    truth = check_plausibility(describe_dataset(root), index_spec(describe_dataset(root)))
    assert p.camera_height_m / 1000 * given == pytest.approx(truth.camera_height_m, rel=0.02)
    assert "--encoding" not in p.message


def test_a_seed_scene_with_a_wrong_meta_json_is_named(tmp_path):
    root = tmp_path / "seed"
    shutil.copytree(SAMPLES / "seed", root)
    scenes = sorted(p for p in root.iterdir() if p.is_dir())
    meta = scenes[2] / "others" / "meta.json"
    d = json.loads(meta.read_text())
    meta.write_text(json.dumps({**d, "depth_scale": 8000.0}))
    _, problems = validate_dataset(root, progress=False)
    bad = [p for p in problems if p.problem == PROBLEM]
    assert [p.scene_id for p in bad] == [scenes[2].name], bad
    assert "at 8000 units per metre" in bad[0].detail
    assert "plausible as millimetres (1000 units per metre:" in bad[0].detail
    assert "others/meta.json" in bad[0].detail


def test_sample_is_bounded_and_spread_per_scene():
    def recs(n_scenes, n_views):
        return [
            ViewRecord(f"s{i:03d}", f"{v:02d}", "a", "d", "", "seed")
            for i in range(n_scenes)
            for v in range(n_views)
        ]

    few = sample_records(recs(3, 20), SAMPLE_VIEWS, SCENE_VIEWS)
    assert len(few) == 3 * SCENE_VIEWS
    assert [r.view_id for r in few[:SCENE_VIEWS]] == ["00", "06", "13", "19"]
    many = sample_records(recs(500, 10), SAMPLE_VIEWS, SCENE_VIEWS)
    assert len(many) == SAMPLE_VIEWS == len({r.scene_id for r in many})
    assert many[0].scene_id == "s000" and many[-1].scene_id == "s499"
    mid = sample_records(recs(20, 10), SAMPLE_VIEWS, SCENE_VIEWS)
    assert len(mid) == 60 and len({r.scene_id for r in mid}) == 20  # 3 each, within 64


# ----------------------------------------------------------------- 2. --depth-scale on RealSee3D


def test_depth_scale_overrides_every_realsee_view(tmp_path):
    root = _realsee(tmp_path, {"s": "4000"})
    default = open_dataset(root)
    assert default.spec.depth_scale == 0 and "depth_scale" in default.spec.detected
    assert {r.depth_scale for r in default} == {4000.0}  # each view's file, unchanged
    ds = open_dataset(root, depth_scale=2000)
    assert ds.spec.depth_scale == 2000 and "depth_scale" not in ds.spec.detected
    assert {r.depth_scale for r in ds} == {2000.0}
    assert "2000/m" in ds.summary()
    a, b = default.load(0).range_m, ds.load(0).range_m
    np.testing.assert_allclose(b, 2 * a, rtol=1e-6)
    assert {r.depth_scale for r in index_dataset(root, depth_scale=2000)} == {2000.0}
    with pytest.raises(WorkbenchError) as e:
        open_dataset(root, depth_scale=-1)
    assert e.value.path == "--depth-scale" and "positive" in e.value.message


def test_missing_depth_scale_txt_is_fine_with_the_flag(tmp_path, capsys):
    root = _realsee(tmp_path, {"s": ""})
    report = tmp_path / "r.csv"
    assert main(["validate", str(root), "--report", str(report)]) == 1
    rows = _rows(report)
    assert rows and {r["problem"] for r in rows} == {"missing file"}
    assert all("or pass --depth-scale N" in r["detail"] for r in rows)
    rec = index_spec(describe_dataset(root))[0]
    with pytest.raises(WorkbenchError, match="or pass --depth-scale N"):
        load_view(rec, root)
    capsys.readouterr()
    assert main(["validate", str(root), "--depth-scale", "4000", "--report", str(report)]) == 0
    assert _rows(report) == []
    ds = open_dataset(root, depth_scale=4000)
    assert (ds.load(0).range_m > 0).any()


def test_split_records_the_override(tmp_path):
    root = _realsee(tmp_path, {"s": "", "t": ""})
    out = tmp_path / "lists"
    argv = ["split", str(root), "--out", str(out), "--unit", "view", "--val-fraction", "0.5"]
    argv += ["--depth-scale", "4000"]
    assert main(argv) == 0
    spec = json.loads((out / "split.json").read_text())["dataset"]
    assert spec["depth_scale"] == 4000 and "depth_scale" not in spec["detected"]
    records, csv_root = read_split_csv(out / "train.csv")
    assert records and {r.depth_scale for r in records} == {4000.0}
    assert (load_view(records[0], csv_root).range_m > 0).any()  # no depth_scale.txt needed


def test_depth_scale_help_names_realsee():
    from dataclasses import fields

    (f,) = [f for f in fields(DataFlags) if f.name == "depth_scale"]
    assert "RealSee3D" in f.metadata["help"] and "depth_scale.txt" in f.metadata["help"]


def test_a_per_view_encoding_without_per_view_files_names_its_source(tmp_path, capsys):
    """The realsee3d encoding in an rgbd-folder's dataset.json blamed --depth-scale, a flag
    the user never passed ("must be a positive number, got 0.0")."""
    root = tmp_path / "own"
    shutil.copytree(SAMPLES / "rgbd-folder", root)
    (root / "dataset.json").write_text('{"encoding": "realsee3d"}')
    report = ["--report", str(tmp_path / "r.csv")]
    assert main(["validate", str(root), *report]) == 2
    err = capsys.readouterr().err
    assert f"{root / 'dataset.json'}: encoding 'realsee3d' reads each view's depth_scale.txt" in err
    assert "--depth-scale:" not in err
    assert main(["validate", str(root), "--encoding", "realsee3d", *report]) == 2
    assert "--encoding: encoding 'realsee3d'" in capsys.readouterr().err
    (root / "dataset.json").write_text('{"depth_scale": -3}')
    assert main(["validate", str(root), *report]) == 2
    assert f"{root / 'dataset.json'}: depth_scale must be a positive" in capsys.readouterr().err
    assert main(["validate", str(root), "--depth-scale", "-1", *report]) == 2
    assert "--depth-scale" in capsys.readouterr().err


def test_validate_lists_the_datasets_own_problem_first(tmp_path, capsys):
    """The --depth-scale advice was the 43rd of 43 problems: only in the report CSV."""
    report = tmp_path / "r.csv"
    argv = ["validate", str(SAMPLES / "seed"), "--depth-scale", "1", "--report", str(report)]
    assert main([*argv, "--no-progress"]) == 1
    lines = capsys.readouterr().out.splitlines()
    first = lines[lines.index(next(x for x in lines if x.startswith("  problems ("))) + 1]
    assert (
        first.startswith("    dataset: implausible depth scale:") and "--depth-scale 1000" in first
    )
