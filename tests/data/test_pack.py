"""``workbench pack``: TFRecord shards that decode exactly like their source, readable by
TensorFlow, resumable, carrying on past a broken view, the same on the engine and in-process."""

import json
import shutil

import numpy as np
import pytest

from tests.helpers import SAMPLES
from workbench.cli import main
from workbench.data.dataset import describe_dataset, index_dataset, index_spec
from workbench.data.layouts import detect_layout, load_view
from workbench.data.pack import pack
from workbench.data.tfrecord import decode_example, iter_records

DATASETS = ("seed", "realsee3d", "rgbd-folder", "stanford2d3d")


def _pack(tmp_path, name, **kw):
    out = tmp_path / name
    assert main(["pack", str(SAMPLES.parent / name), "--out", str(out), "--shard-mb", "0.5",
                 "--no-progress", *kw.get("args", [])]) == 0  # fmt: skip
    return out


@pytest.mark.parametrize("name", DATASETS)
def test_every_view_decodes_exactly_as_from_its_source(tmp_path, name):
    """RGB bytes, range (masks, 65535 sentinels, 4000/m PNG, EXR, NPY) and pose are equal."""
    out = _pack(tmp_path, name)
    assert detect_layout(out) == "shards"
    src = index_spec(describe_dataset(SAMPLES.parent / name))  # as every verb reads it
    packed = index_spec(describe_dataset(out))
    assert [(r.scene_id, r.view_id) for r in packed] == [(r.scene_id, r.view_id) for r in src]
    for a, b in zip(src, packed, strict=True):
        va, vb = load_view(a, SAMPLES.parent / name), load_view(b, out)
        assert np.array_equal(va.rgb, vb.rgb)
        assert np.array_equal(va.range_m, vb.range_m) and va.range_m.dtype == vb.range_m.dtype
        assert (va.T_world_from_cam is None) == (vb.T_world_from_cam is None)
        if va.T_world_from_cam is not None:
            assert np.array_equal(va.T_world_from_cam, vb.T_world_from_cam)
        assert a.floor == b.floor


def test_fields_round_trip_and_tensorflow_reads_the_shards(tmp_path):
    import tensorflow as tf

    out = _pack(tmp_path, "seed")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["views"] == 24 and len(manifest["shards"]) >= 2
    rec = index_dataset(SAMPLES)[0]
    shard = out / manifest["shards"][0]["file"]
    first = decode_example(next(iter_records(shard))[1])
    assert first["rgb"] == (SAMPLES / rec.rgb_path).read_bytes()  # byte-exact
    assert first["depth"] == (SAMPLES / rec.depth_path).read_bytes()
    assert first["scene_id"].decode() == rec.scene_id and first["depth_kind"] == b"png16"
    ds = tf.data.TFRecordDataset([str(out / s["file"]) for s in manifest["shards"]])
    spec = {"rgb": tf.io.FixedLenFeature([], tf.string),
            "pose": tf.io.FixedLenFeature([], tf.string),
            "depth_shape": tf.io.FixedLenFeature([2], tf.int64)}  # fmt: skip
    n = 0
    for raw in ds:
        ex = tf.io.parse_single_example(raw, spec)
        n += 1
    assert n == 24 and tuple(ex["depth_shape"].numpy()) == (256, 512)
    import hashlib

    for s in manifest["shards"]:
        assert hashlib.sha256((out / s["file"]).read_bytes()).hexdigest() == s["sha256"]


def test_rerun_skips_finished_shards_and_rewrites_a_lost_one(tmp_path):
    out = _pack(tmp_path, "seed")
    shards = sorted(out.glob("shard-*.tfrecord"))
    before = {p.name: p.read_bytes() for p in shards}
    shards[1].unlink()  # a killed job: this shard never got its rename
    recs = index_dataset(SAMPLES)
    m = pack(recs, SAMPLES, out, shard_mb=0.5, progress=False)
    assert {p.name: p.read_bytes() for p in sorted(out.glob("shard-*.tfrecord"))} == before
    assert m["views"] == 24 and not m["errors"]
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_broken_view_is_reported_and_the_rest_packed(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(SAMPLES, data)
    rec = index_dataset(data)[5]
    (data / rec.depth_path).write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["pack", str(data), "--out", str(out), "--no-progress"]) == 1
    assert f"left out: {rec.scene_id}/{rec.view_id}" in capsys.readouterr().out
    assert len(index_dataset(out)) == 23


def test_engine_and_plain_paths_write_the_same_shards(tmp_path):
    a = _pack(tmp_path, "seed")
    b = tmp_path / "b"
    assert main(["pack", str(SAMPLES), "--out", str(b), "--shard-mb", "0.5", "--workers", "2",
                 "--no-progress"]) in (0,)  # fmt: skip
    for p in sorted(a.glob("shard-*")):
        assert (b / p.name).read_bytes() == p.read_bytes()
    assert (a / "index.csv").read_text() == (b / "index.csv").read_text()


def test_bad_flags_and_same_folder_refused(tmp_path, capsys):
    assert main(["pack", str(SAMPLES), "--out", str(tmp_path), "--shard-mb", "0"]) == 2
    assert main(["pack", str(SAMPLES), "--out", str(SAMPLES)]) == 2
    err = capsys.readouterr().err
    assert "--out: " in err and "is inside the dataset root" in err


def test_packing_shards_again_is_refused_before_any_work(tmp_path, capsys):
    """A new user re-packed shards: it failed on every view and left an empty shard."""
    shards = tmp_path / "shards"
    assert main(["pack", str(SAMPLES), "--out", str(shards), "--no-progress"]) == 0
    again = tmp_path / "again"
    assert main(["pack", str(shards), "--out", str(again)]) == 2
    assert "is already packed" in capsys.readouterr().err and not again.exists()
