"""`export` leaves nothing behind and names the user's folder: a killed export's staging folder
is removed by the next export into the same place (only that one: a live run's, a user's hidden
folder stay), and a write that fails while staging names ``--out``, never the staging folder."""

import errno
import subprocess
from pathlib import Path

import pytest

from workbench.configs import ExportConfig, TrainConfig
from workbench.errors import WorkbenchError
from workbench.io import temporary_name, temporary_owner


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    from workbench.model.saving import save_keras_atomic
    from workbench.model.unet import build_from_config

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    return save_keras_atomic(
        build_from_config(TrainConfig(height=32, model_width=4, model_depth=2)), path
    )


def _export(model: Path, out: Path):
    from workbench.deploy.export import export

    return export(ExportConfig(checkpoint=str(model), format=("pb",), out=str(out)))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _named_for(pid: int) -> str:
    """A staging folder name of this project's naming, owned by process ``pid``."""
    name = temporary_name("export")
    return name.replace(f"-{temporary_owner(name)[1]}-", f"-{pid}-")


def test_a_killed_exports_staging_folder_is_removed_and_nothing_else(tiny_keras, tmp_path):
    out = tmp_path / "out"
    stale, live_other, live_self = _named_for(_dead_pid()), _named_for(1), temporary_name("export")
    user = [".export.tmp", ".cache", ".export.workbench-notours.tmp"]
    for name in [stale, live_other, live_self, *user]:
        (out / name).mkdir(parents=True)
        (out / name / "model.pb").write_bytes(b"partial")
    (out / ".workbench-output").write_text("export\n")  # an earlier export's folder
    files, _ = _export(tiny_keras, out)
    assert [f.name for f in files] == ["model.json", "model.pb"]
    assert not (out / stale).exists()
    for name in [live_other, live_self, *user]:
        assert (out / name / "model.pb").read_bytes() == b"partial", name
    left = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert left == sorted([live_other, live_self, *user, ".workbench-output"])  # staging gone
    fresh = tmp_path / "fresh"  # a new folder holding only the staging folders of dead exports
    (fresh / _named_for(_dead_pid())).mkdir(parents=True)
    _export(tiny_keras, fresh)
    names = sorted(p.name for p in fresh.iterdir())
    assert names == [".workbench-output", "model.json", "model.pb"]


def test_a_full_disk_while_staging_names_out(tiny_keras, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = Path.write_bytes

    def full(self, data):
        if ".export.workbench-" in str(self):  # inside the staging folder
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(WorkbenchError) as e:
        _export(tiny_keras, out)
    assert e.value.path == str(out.resolve() / "model.pb")
    assert e.value.message == "cannot write (no space left on the device)"
    assert [p.name for p in out.iterdir()] == [".workbench-output"]  # nothing published


def test_a_read_only_out_names_out(tiny_keras, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real = Path.mkdir

    def read_only(self, *a, **kw):
        if self.parent == out:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(WorkbenchError) as e:
        _export(tiny_keras, out)
    assert e.value.path == str(out.resolve()) and "read-only file system" in e.value.message


def test_export_of_a_missing_model_names_it_first_and_leaves_no_folder(tmp_path, capsys):
    """`export --checkpoint nonexist` said int8 needed representative data, and with
    `--format pb` left an empty --out behind."""
    from workbench.cli import main

    out = tmp_path / "exp"
    assert main(["export", "--checkpoint", str(tmp_path / "nonexist"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "model not found" in err and "nonexist" in err and err.count("\n") == 1
    argv = ["export", "--checkpoint", str(tmp_path / "nonexist"), "--format", "pb"]
    assert main([*argv, "--out", str(out)]) == 2
    assert "model not found" in capsys.readouterr().err and not out.exists()


def test_an_export_folder_holds_one_model(tiny_keras, tmp_path):
    """Exporting another model into an export folder replaced some of its files and left the
    first model's other formats beside them, named as the new one."""
    from workbench.model.saving import save_keras_atomic
    from workbench.model.unet import build_from_config

    out = tmp_path / "out"
    _export(tiny_keras, out)
    assert (out / ".workbench-output").read_text() == "export\n"
    _export(tiny_keras, out)  # the same model again: refreshed in place
    pb = (out / "model.pb").read_bytes()
    other = save_keras_atomic(
        build_from_config(TrainConfig(height=32, model_width=4, model_depth=2)),
        tmp_path / "other.keras",
    )
    with pytest.raises(WorkbenchError, match=r"--out: .* holds the export of another model"):
        _export(other, out)
    from workbench.deploy.export import export

    with pytest.raises(WorkbenchError, match=r"holds the export of this model at 64x32 \(this"):
        export(ExportConfig(checkpoint=str(tiny_keras), format=("pb",), out=str(out), height=64))
    assert (out / "model.pb").read_bytes() == pb
    from workbench.model.predictor import load_backend

    with pytest.raises(WorkbenchError, match=r"export folder: pass one of its models \(model.pb\)"):
        load_backend(out)  # --model EXPORT_FOLDER said only what it is not
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "model.json").write_text('{"mine": 1}')
    with pytest.raises(WorkbenchError, match=r"--out: .*mine is not empty \(model.json\)"):
        _export(tiny_keras, mine)


def test_a_reexport_of_fewer_formats_keeps_listing_the_others(tiny_keras, tmp_path):
    """Re-exporting fp16 alone into a full export folder listed only fp16 in model.json while
    the .pb and fp32 files of the same model stayed beside it, described by nothing."""
    import json

    from workbench.deploy.export import export

    out = tmp_path / "e"
    full = ExportConfig(checkpoint=str(tiny_keras), format=("pb", "tflite"), quantize=("none",),
                        out=str(out))  # fmt: skip
    export(full)
    first = json.loads((out / "model.json").read_text())["files"]
    assert set(first) == {"pb", "tflite_none"}
    export(ExportConfig(checkpoint=str(tiny_keras), format=("tflite",), quantize=("fp16",),
                        out=str(out)))  # fmt: skip
    files = json.loads((out / "model.json").read_text())["files"]
    assert files == {**first, "tflite_fp16": files["tflite_fp16"]}
    assert all((out / name).exists() for name in files.values())
