"""Export (SavedModel, frozen .pb, TFLite fp32/fp16/int8) parity and the inference CLI."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import tiny_train_config, write_sample_lists
from workbench.errors import WorkbenchError
from workbench.io import write_image
from workbench.viz.colorbar import bar_height

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "data_samples" / "seed"
RGB_FOLDER = ROOT / "data_samples" / "rgbd-folder" / "rgb"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from workbench.configs import ExportConfig
    from workbench.deploy.export import run as export_run
    from workbench.training.supervised import train

    tmp = tmp_path_factory.mktemp("export")
    lists = write_sample_lists(tmp / "lists")
    cfg = tiny_train_config(lists, tmp / "run", steps=20, log_every=10, ckpt_every=20, val_views=2)
    train(cfg)
    ecfg = ExportConfig(
        checkpoint=str(tmp / "run"),
        out=str(tmp / "export"),
        csv=str(tmp / "lists" / "val.csv"),
        report=True,
        runs=3,
        views=4,
        calibration=8,
    )
    assert export_run(ecfg) == 0
    return tmp


def test_export_files_and_model_json(exported):
    out = exported / "export"
    meta = json.loads((out / "model.json").read_text())
    assert meta["input_size"] == [64, 32] and meta["input_name"] == "rgb"
    assert "metres" in meta["output"] and meta["source_sha256"]
    assert meta["int8_calibration_views"] == 4  # the 4 views the CSV holds, not the 8 asked for
    assert set(meta["files"]) == {"savedmodel", "pb", "tflite_none", "tflite_fp16", "tflite_int8"}
    for name in meta["files"].values():
        assert (out / name).exists()
    assert not list(out.glob("*.tmp*")) and not list(out.glob(".*tmp*"))


def test_report_thresholds(exported):
    rep = json.loads((exported / "export" / "report.json").read_text())
    rows = {r["format"]: r for r in rep["rows"]}
    assert rows["tflite_none"]["max_abs_diff_m"] < 1e-4
    assert rows["pb"]["max_abs_diff_m"] < 1e-4 and rows["savedmodel"]["max_abs_diff_m"] < 1e-4
    assert rows["tflite_fp16"]["mean_rel_diff"] < 5e-3
    assert rows["tflite_int8"]["mean_rel_diff"] < 0.03
    assert abs(rows["tflite_int8"]["abs_rel"] - rows["tflite_none"]["abs_rel"]) < 0.02
    sizes = [rows[k]["size_mb"] for k in ("tflite_none", "tflite_fp16", "tflite_int8")]
    assert sizes[0] > sizes[1] > sizes[2]
    md = (exported / "export" / "report.md").read_text()
    assert "| tflite_int8 |" in md and "int8 / fp32 latency" in md
    # every latency names the CPU it was measured on (model, cores, SIMD features)
    from workbench.machine import cpu_label

    timed = [r for r in rep["rows"] if "latency_ms_2t" in r]
    assert timed and all(r["cpu"] == cpu_label() for r in timed)
    assert f"Latency measured on: {cpu_label()}." in md


def test_frozen_pb_loads_in_a_fresh_process_without_model_code(exported):
    out = exported / "export"
    meta = json.loads((out / "model.json").read_text())
    x = np.random.default_rng(0).random((2, 32, 64, 3), np.float32)
    np.save(exported / "x.npy", x)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(open({str(out / "model.pb")!r}, "rb").read())
        g = tf.Graph()
        with g.as_default():
            tf.compat.v1.import_graph_def(gd, name="")
        x = np.load({str(exported / "x.npy")!r})
        with tf.compat.v1.Session(graph=g) as s:
            y = s.run({meta["pb_output"]!r}, {{{meta["pb_input"]!r}: x}})
        np.save({str(exported / "y.npy")!r}, y)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "workbench" not in script
    from workbench.model.predictor import load

    ref = load(exported / "run").predict_batch(x)
    np.testing.assert_allclose(np.load(exported / "y.npy")[..., 0], ref, atol=1e-4)


def test_every_format_predicts_the_same_depth(exported):
    from workbench.model.predictor import load

    x = np.random.default_rng(1).random((1, 32, 64, 3), np.float32)
    ref = load(exported / "run").predict_batch(x)
    out = exported / "export"
    for path, tol in [
        (out / "saved_model", 1e-4),
        (out / "model.pb", 1e-4),
        (out / "model_fp32.tflite", 1e-4),
        (out / "run_keras", None),
    ]:
        if tol is None:
            continue
        p = load(path)
        assert p.height == 32
        np.testing.assert_allclose(p.predict_batch(x), ref, atol=tol, err_msg=str(path))


def test_int8_io_variant(exported, tmp_path):
    from workbench.deploy.export import export_tflite
    from workbench.deploy.report import representative_data
    from workbench.model.predictor import load
    from workbench.model.saving import load_source_model

    model, _ = load_source_model(exported / "run")
    rep = representative_data(exported / "lists" / "val.csv", 32, 4)
    path = export_tflite(model, tmp_path / "m.tflite", "int8", rep, int8_io=True)
    p = load(path)
    assert p.backend.inp["dtype"] == np.int8
    ref = load(exported / "run").predict_batch(rep[0])
    got = p.predict_batch(rep[0])
    assert np.mean(np.abs(got - ref) / ref) < 0.05


def test_infer_cli_outputs(exported, tmp_path):
    import cv2

    model = exported / "export" / "model_fp32.tflite"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "infer",
            str(RGB_FOLDER),
            "--model",
            str(model),
            "--out",
            str(tmp_path),
            "--ply",
            "--batch",
            "3",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    stems = sorted(p.stem for p in RGB_FOLDER.iterdir())
    assert len(stems) == 4
    for stem in stems:
        npy = np.load(tmp_path / f"{stem}_depth.npy")
        png = cv2.imread(str(tmp_path / f"{stem}_depth.png"), cv2.IMREAD_UNCHANGED)
        rgb = cv2.imread(str(next(RGB_FOLDER.glob(stem + ".*"))))
        assert png.dtype == np.uint16 and png.shape == npy.shape == rgb.shape[:2]
        np.testing.assert_allclose(png / 1000.0, npy, atol=6e-4)
        for suffix in ("_depth_color.png", "_normals.png", ".ply"):
            assert (tmp_path / f"{stem}{suffix}").stat().st_size > 0
        colour = cv2.imread(str(tmp_path / f"{stem}_depth_color.png"))
        h, w = npy.shape
        assert colour.shape == (h + bar_height(w), w, 3)  # the map, its colour bar below
    info = json.loads((tmp_path / "infer.json").read_text())
    assert info["format"] == "tflite" and len(info["images"]) == 4


def test_non_2to1_image_is_refused_or_padded(exported, tmp_path, capsys):
    from workbench.cli import main
    from workbench.deploy.infer import write_outputs  # noqa: F401
    from workbench.io import write_image
    from workbench.model.predictor import load

    img = (np.random.default_rng(0).random((40, 100, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "crop.png", img)
    # the CLI in this process (its process entry is run by test_infer_cli_outputs)
    args = ["infer", str(tmp_path / "crop.png"), "--model", str(exported / "run")]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "crop.png" in err and "not an equirect 2:1" in err and "Traceback" not in err
    p = load(exported / "run", pad=True)
    for shape in [(40, 100, 3), (50, 70, 3), (33, 64, 3)]:
        d = p.predict(np.zeros(shape, np.uint8))
        assert d.shape == shape[:2] and np.all(d > 0)


def test_corrupt_and_unknown_models_are_clear_errors(tmp_path):
    from workbench.model.predictor import load

    (tmp_path / "bad.tflite").write_bytes(b"not a flatbuffer" * 10)
    (tmp_path / "bad.pb").write_bytes(b"\xff\x00garbage")
    (tmp_path / "bad.keras").write_bytes(b"zip? no")
    (tmp_path / "empty").mkdir()
    for name in ("bad.tflite", "bad.pb", "bad.keras", "empty", "missing.tflite", "x.onnx"):
        with pytest.raises(WorkbenchError) as e:
            load(tmp_path / name)
        assert name in str(e.value)


@pytest.mark.parametrize("h, w", [(30, 100), (500, 1001), (500, 999), (40, 60), (41, 81)])
def test_letterbox_round_trip(h, w):
    from workbench.model.predictor import Predictor, letterbox

    img = np.arange(h * w * 3, dtype=np.float32).reshape(h, w, 3)
    out, pads = letterbox(img)
    assert out.shape[1] == 2 * out.shape[0]
    back = Predictor.restore(out[..., 0], (out.shape[:2], pads))
    np.testing.assert_array_equal(back, img[..., 0])  # odd widths included (1001 gave 1002)


def test_a_rerun_skips_finished_images_and_redoes_changed_ones(tmp_path, capsys):
    import os
    import shutil

    from workbench.cli import main

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for src in sorted(SAMPLES.glob("*/pan/high/*.jpg"))[:3]:
        shutil.copy(src, imgs / f"{src.parent.parent.parent.name}_{src.name}")
    model = ROOT / "models" / "default" / "model_int8.tflite"
    out = tmp_path / "out"
    base = ["infer", str(imgs), "--model", str(model), "--out", str(out), "--no-progress"]

    def infer(*extra):
        capsys.readouterr()
        assert main([*base, *extra]) == 0
        return capsys.readouterr().out

    def stamps():
        return {p.name: p.stat().st_mtime_ns for p in out.glob("*_depth.npy")}

    assert "infer: 3 images with" in infer()
    first = stamps()
    assert len(first) == 3 and json.loads((out / "infer.json").read_text())["complete"]
    assert "infer: 0 images (3 finished before, skipped)" in infer()
    assert stamps() == first  # nothing rewritten
    # a changed image, a killed run (infer.json lists one image), other options, --redo
    changed = sorted(imgs.iterdir())[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert "infer: 1 image (2 finished before, skipped)" in infer()
    info = json.loads((out / "infer.json").read_text())
    assert len(info["images"]) == 3
    done, rest = info["images"][:1], info["images"][1:]  # the others begun, none listed
    info["images"], info["complete"], info["pending"] = done, False, [r["output"] for r in rest]
    (out / "infer.json").write_text(json.dumps(info))
    assert "infer: 2 images (1 finished before, skipped)" in infer()
    (out / sorted(first)[0]).unlink()  # an output gone: that image again
    assert "infer: 1 image (2 finished before, skipped)" in infer()
    assert "infer: 3 images with" in infer("--pad")
    assert "infer: 3 images with" in infer("--pad", "--redo")
    assert len(json.loads((out / "infer.json").read_text())["images"]) == 3


def test_infer_json_keeps_earlier_images_of_the_same_options_and_an_all_failed_job_no_trace(
    tmp_path, capsys
):
    import shutil

    from workbench.cli import main

    srcs = sorted(SAMPLES.glob("*/pan/high/*.jpg"))[:2]
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    shutil.copy(srcs[0], a)
    shutil.copy(srcs[1], b)
    model = ROOT / "models" / "default" / "model_int8.tflite"
    out = tmp_path / "out"

    def infer(*args):
        capsys.readouterr()
        code = main(["infer", *map(str, args), "--model", str(model), "--out", str(out),
                     "--no-progress"])  # fmt: skip
        return code, capsys.readouterr()

    def listed():
        return sorted(r["output"] for r in json.loads((out / "infer.json").read_text())["images"])

    assert infer(a)[0] == 0 and infer(b)[0] == 0
    assert listed() == ["a", "b"]  # one folder of results, both listed
    assert infer(a, "--redo")[0] == 0 and listed() == ["a", "b"]  # --redo redoes a, lists b
    other = tmp_path / "other"  # another image under the same output name
    other.mkdir()
    shutil.copy(srcs[1], other / "a.jpg")
    code, cap = infer(other / "a.jpg")  # it replaced a.jpg's outputs and listing: refused
    assert code == 2 and f"are {a}'s (an earlier run)" in cap.err
    rows = json.loads((out / "infer.json").read_text())["images"]
    assert [r["image"] for r in rows if r["output"] == "a"] == [str(a)]
    code, cap = infer(a, "--upsample", "bilinear")
    assert code == 0 and listed() == ["a"]
    assert "the earlier run's listing (other upsample) is replaced" in cap.err
    assert "its 1 other image(s) stay" in cap.err and (out / "b_depth.npy").is_file()
    # every image fails after the model loads (not 2:1): the folder is left as it was found
    wide = tmp_path / "wide.png"
    write_image(wide, np.full((90, 120, 3), 128, np.uint8))
    before = (out / "infer.json").read_text()
    code, cap = infer(wide)
    assert code == 2 and "not an equirect 2:1 panorama" in cap.err
    assert (out / "infer.json").read_text() == before
    fresh = tmp_path / "fresh"
    assert main(["infer", str(wide), "--model", str(model), "--out", str(fresh)]) == 2
    assert not fresh.exists()
    empty = tmp_path / "empty"  # found empty: left empty (it kept the run's mark)
    empty.mkdir()
    assert main(["infer", str(wide), "--model", str(model), "--out", str(empty)]) == 2
    assert empty.is_dir() and not list(empty.iterdir())


def test_a_terminated_infer_saves_what_it_finished_and_leaves_no_temporary(tmp_path):
    """SIGTERM mid-job: exit 2 "interrupted", infer.json lists the finished images (not
    complete), no half-written file is left, and the re-run does only the rest."""
    import os
    import shutil
    import signal
    import time

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    srcs = sorted(SAMPLES.glob("*/pan/high/*.jpg"))
    for k in range(16):
        shutil.copy(srcs[k % len(srcs)], imgs / f"p{k:02d}.jpg")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "workbench.cli", "infer", str(imgs), "--out", str(out),
           "--batch", "1", "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()

    def listed() -> int:  # infer.json is written before the first image (its pending outputs)
        try:
            return len(json.loads((out / "infer.json").read_text())["images"])
        except (OSError, ValueError):
            return 0

    while not listed() and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.005)
    p.send_signal(signal.SIGTERM)
    said, err = p.communicate(timeout=120)
    info = json.loads((out / "infer.json").read_text())
    done = len(info["images"])
    assert p.returncode == 2 and f"{out}: interrupted: {done} image(s) finished" in err, (
        said,  # a failed image is listed on stdout
        err,
        info.get("failed"),
    )
    assert "the same command goes on from there" in err
    assert not info["complete"] and 1 <= done < 16
    hidden = [q.name for q in out.rglob("*") if q.name.startswith(".")]
    assert hidden == [".workbench-output"]  # its folder's mark; no temporary left
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    n = 16 - done
    assert f"infer: {n} image{'' if n == 1 else 's'} ({done} finished before, skipped)" in (
        rerun.stdout
    )
    assert len(list(out.glob("*_depth.npy"))) == 16


def test_every_exported_format_passes_the_model_safety_checks(exported):
    """The allow-lists of workbench.model.graph_safety accept every file `export` writes."""
    import tensorflow as tf

    from workbench.model import graph_safety

    out = exported / "export"
    assert graph_safety.check_saved_model(out / "saved_model") > 20
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString((out / "model.pb").read_bytes())
    assert graph_safety.check_graph_def(gd, out / "model.pb") > 20
    for name in ("model_fp32", "model_fp16", "model_int8"):
        assert graph_safety.read_tflite_checked(out / f"{name}.tflite")


@pytest.mark.parametrize("views, said", [(1, True), (7, True), (8, False), (None, False)])
def test_report_says_when_its_accuracy_is_a_few_views(views, said):
    """Notebook 06 on a 4-view dataset scored one view and read like a figure for the model."""
    from workbench.deploy.report import report_markdown

    rows = [{"format": "keras", "size_mb": 8.1, "abs_rel": 0.07, "delta1": 0.96}]
    meta = {"input_size": (256, 128), "runs": 3, "views": views, "csv": "val.csv"}
    md = report_markdown(rows, meta)
    assert ("view scored:" in md or "views scored:" in md) == said
    assert "no mirror averaging: `eval` and `infer` average" in md  # eval read 0.096, it 0.105
    if views == 1:
        assert "Only 1 view scored: the accuracy columns describe that view, not a" in md


def test_an_export_at_another_height_is_said_at_export_and_at_load(tmp_path, capsys):
    """`export --height 256` of the default model (trained at 128 rows) wrote a model whose
    depth was 4-5x too near without a word; its report's own Keras row read AbsRel 0.74."""
    from workbench.cli import main
    from workbench.model.predictor import load_backend

    out = tmp_path / "e"
    argv = ["export", "--format", "tflite", "--quantize", "none", "--height", "32", "--out"]
    assert main([*argv, str(out)]) == 0
    err = capsys.readouterr().err
    assert "--height 32: the model was trained at 128 rows; its metric scale" in err
    assert json.loads((out / "model.json").read_text())["trained_height"] == 128
    backend = load_backend(out / "model_fp32.tflite")
    assert backend.height == 32
    assert "takes 32 rows: the model was trained at 128 rows" in capsys.readouterr().err
    load_backend(None)  # the default model at its own height: nothing to say
    assert "trained at" not in capsys.readouterr().err
