"""A packed dataset checked as a pack: a healthy pack validates clean; a flipped byte, a missing
shard, a wrong count are named with the shard; an index row leaving the pack is refused naming
its line; training on a damaged pack stops with one line naming the shard and the byte offset;
a re-run with other options repacks."""

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import SAMPLES, write_sample_lists
from workbench.cli import describe, main
from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view
from workbench.data.pack import check_pack, check_shards, pack
from workbench.data.validate import validate_dataset
from workbench.errors import WorkbenchError


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pack") / "seed"
    pack(index_dataset(SAMPLES), SAMPLES, out, shard_mb=0.5, progress=False)
    return out


@pytest.fixture
def packed(healthy, tmp_path) -> Path:
    return Path(shutil.copytree(healthy, tmp_path / "seed"))


def _manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def _rows(root: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO((root / "index.csv").read_text())))


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _problems(root: Path) -> list[tuple[str, str, str, str]]:
    _, problems = validate_dataset(root, progress=False, plausibility=False)
    return [(p.view_id, p.file, p.problem, p.detail) for p in problems]


def test_a_healthy_pack_validates_clean(healthy, capsys):
    assert check_pack(healthy) == []
    assert _problems(healthy) == []
    check_shards(healthy)  # raises nothing
    assert main(["validate", str(healthy), "--report", str(healthy.parent / "r.csv")]) == 0
    assert "24 views, 6 scenes, 0 problems" in capsys.readouterr().out


def test_a_flipped_byte_is_named_with_its_shard_and_record(packed):
    row = _rows(packed)[1]
    _flip(packed / row["shard"], int(row["offset"]) + 100)  # inside the record's data
    got = _problems(packed)
    assert ("", row["shard"], "shard checksum mismatch") in {g[:3] for g in got}
    view = [g for g in got if g[0] == row["view_id"]]
    assert [g[1:3] for g in view] == [(row["shard"], "unreadable record")]
    assert f"record at byte {row['offset']}" in view[0][3]
    assert len(got) == 2  # no other view is blamed
    records = [r for r in check_pack(packed) if r[1] == "unreadable record"]
    assert len(records) == 1 and records[0][0] == row["shard"]


def test_a_missing_shard_and_wrong_counts_are_named(packed):
    shards = _manifest(packed)["shards"]
    (packed / shards[1]["file"]).unlink()
    m = _manifest(packed)
    m["shards"][2]["views"] += 1
    m["views"] += 5
    (packed / "manifest.json").write_text(json.dumps(m))
    got = {(f, p) for f, p, _ in check_pack(packed)}
    assert got == {
        (shards[1]["file"], "missing shard"),
        (shards[2]["file"], "view count mismatch"),
        ("manifest.json", "view count mismatch"),
    }
    assert {g[1:3] for g in _problems(packed)} == got  # the views of the lost shard not repeated
    with pytest.raises(WorkbenchError, match="missing") as e:
        check_shards(packed)
    assert e.value.path.endswith(shards[1]["file"])


def test_a_truncated_shard_is_named_before_training(packed):
    from workbench.data.pipeline import make_dataset

    shard = packed / _manifest(packed)["shards"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(WorkbenchError, match="manifest.json says") as e:
        make_dataset(index_dataset(packed), packed, height=32)
    assert e.value.path.endswith(shard.name)
    assert ("", shard.name, "shard size mismatch") in {g[:3] for g in _problems(packed)}


@pytest.mark.parametrize(
    "shard", ["../seed-elsewhere/shard-00000-of-00005.tfrecord", "/etc/hostname", "link.tfrecord"]
)
def test_an_index_row_leaving_the_pack_is_refused_naming_its_line(packed, shard, capsys):
    outside = packed.parent / "seed-elsewhere"
    shutil.copytree(packed, outside)
    os.symlink(outside / "shard-00000-of-00005.tfrecord", packed / "link.tfrecord")
    text = (packed / "index.csv").read_text().splitlines()
    text[3] = text[3].replace(text[3].split(",")[2], shard)
    (packed / "index.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(WorkbenchError, match="line 4: shard .* points outside the dataset root"):
        index_dataset(packed)
    assert main(["validate", str(packed), "--report", str(packed.parent / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "index.csv: line 4: shard" in err and repr(shard) in err


def test_a_record_that_is_not_a_view_is_named(packed):
    """A record with valid CRCs that is not a packed view (a crafted shard)."""
    from workbench.data.tfrecord import frame_record

    rec = index_dataset(packed)[0]
    shard = packed / rec.rgb_path
    (packed / "odd.tfrecord").write_bytes(frame_record(b"\x0a\x03abc"))
    odd = type(rec)(**{**rec.as_row(), "rgb_path": "odd.tfrecord", "depth_path": "0"})
    with pytest.raises(WorkbenchError, match="record at byte 0 is not a packed view") as e:
        load_view(odd, packed)
    assert e.value.path.endswith("odd.tfrecord") and shard.is_file()


def test_training_on_a_flipped_byte_names_the_shard_and_offset(packed, tmp_path, capsys):
    lists = write_sample_lists(tmp_path / "lists", packed)
    for row in _rows(packed):  # bit rot in every record: whichever is read first fails
        _flip(packed / row["shard"], int(row["offset"]) + 40)
    argv = ["train", "--train-csv", str(lists / "train.csv"), "--val-csv", "",
            "--logdir", str(tmp_path / "run"), "--height", "32", "--model-width", "8",
            "--model-depth", "3", "--batch", "2", "--steps", "2", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("workbench: error: ") and ".tfrecord: " in err, err
    assert "corrupt or truncated record at byte" in err and "PyFunc" not in err, err


def test_describe_maps_an_error_carried_by_tensorflow():
    class OpError(Exception):
        pass

    e = OpError("{{function_node x}} WorkbenchError: /p/s.tfrecord: bad at byte 7\nTraceback..")
    assert describe(e) == "/p/s.tfrecord: bad at byte 7"


def test_repacking_with_other_options_redoes_the_shards(packed):
    before = {p.name: p.read_bytes() for p in packed.glob("shard-*")}
    recs = index_dataset(SAMPLES)
    m = pack(recs, SAMPLES, packed, shard_mb=0.5, progress=False)
    assert {p.name: p.read_bytes() for p in packed.glob("shard-*")} == before  # same: skipped
    assert m["options"]["shard_mb"] == 0.5
    # another decoding of the same views, same shard names: every shard rewritten
    scaled = [type(r)(**{**r.as_row(), "depth_scale": 2000.0}) for r in recs]
    m = pack(scaled, SAMPLES, packed, shard_mb=0.5, progress=False)
    after = {p.name: p.read_bytes() for p in packed.glob("shard-*")}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in before)
    assert check_pack(packed) == []
    v = load_view(index_dataset(packed)[0], packed)
    assert abs(float(v.range_m.max()) * 2 - float(load_view(recs[0], SAMPLES).range_m.max())) < 1e-3


def test_repacking_with_other_shard_sizes_removes_the_earlier_packs_shards(tmp_path):
    """Packing again with --shard-mb 0.1 left the earlier single shard and its sidecar beside
    the new ones: a `shard-*.tfrecord` glob read every view twice. A file the pack did not
    write stays."""
    recs = index_dataset(SAMPLES)
    out = tmp_path / "pk"
    first = pack(recs, SAMPLES, out, shard_mb=150.0, progress=False)
    (out / "notes.txt").write_text("mine")
    second = pack(recs, SAMPLES, out, shard_mb=0.1, progress=False)
    assert len(second["shards"]) > len(first["shards"])
    on_disk = sorted(p.name for p in out.glob("shard-*.tfrecord"))
    assert on_disk == sorted(s["file"] for s in second["shards"])
    assert sorted(p.name for p in out.glob(".shard-*.json")) == [f".{n}.json" for n in on_disk]
    assert (out / "notes.txt").read_text() == "mine" and check_pack(out) == []


def test_pack_writes_only_into_a_new_empty_or_its_own_folder(tmp_path, capsys):
    """It replaced a folder's index.csv, manifest.json and shards (a user's, another dataset's
    root, another verb's output) and left no mark."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.csv").write_text("my index\n")
    src = str(SAMPLES.parent / "realsee3d")
    assert main(["pack", src, "--out", str(mine), "--no-progress"]) == 2
    assert "is not empty (index.csv)" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["index.csv"]
    out = tmp_path / "packed"
    for _ in range(2):  # its own folder: a re-run goes on in it
        assert main(["pack", src, "--out", str(out), "--no-progress"]) == 0
    assert (out / ".workbench-output").read_text().startswith("pack\n")
    assert main(["pack", str(SAMPLES), "--out", str(out), "--no-progress"]) == 2
    assert "holds the `workbench pack` results of" in capsys.readouterr().err
    assert main(["covisibility", src, "--out", str(out), "--no-progress"]) == 2
    assert "holds the output of `workbench pack`" in capsys.readouterr().err


def test_pack_names_a_views_bad_depth_scale_txt(tmp_path, capsys):
    """It named the depth PNG: "depth scale must be > 0, got 0.0" (covisibility named the file)."""
    root = tmp_path / "rs"
    shutil.copytree(SAMPLES.parent / "realsee3d", root)
    files = sorted(root.rglob("depth_scale.txt"))
    files[0].unlink()
    files[1].write_text("nan\n")
    assert main(["pack", str(root), "--out", str(tmp_path / "p"), "--no-progress"]) == 1
    said = capsys.readouterr().out
    assert f"{files[0]}: missing depth_scale.txt" in said
    assert f"{files[1]}: depth scale must be a positive number" in said and "got nan" in said
