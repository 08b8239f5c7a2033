import dataclasses
import json
import subprocess
import sys
import time

import numpy as np
import pytest

from workbench.cli import main


def test_help_is_fast_and_tf_free():
    # CPU time of the import, not wall time: make test runs two test workers side by side
    code = (
        "import sys, time; t=time.process_time(); from workbench.cli import build_parser; "
        "build_parser().format_help(); "
        "print(time.process_time()-t, 'tensorflow' in sys.modules, 'open3d' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dt, tf, o3d = out.stdout.split()
    assert tf == "False" and o3d == "False"
    assert float(dt) < 1.0


def test_help_subprocess():
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "demo" in out.stdout
    assert time.perf_counter() - t < 5  # generous: process start on a loaded CI box


def test_demo_writes_outputs(tmp_path, capsys, monkeypatch):
    # the demo exports the bundled model when there is one, else its own tiny run: the tiny
    # one here (exporting the bundled model is most of the demo's time; notebook 06's browser
    # test exports it, tests/deploy/test_export_infer.py every format of a tiny run)
    monkeypatch.setattr("workbench.demo.DEFAULT_MODEL", tmp_path / "no-bundled-model")
    assert main(["demo", "--out", str(tmp_path), "--height", "64"]) == 0
    for name in ("box_depth.png", "box_normals.png", "box_points.ply", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["geometry"]["normals_within_5deg"] > 0.9
    assert summary["train"]["steps"] == 20 and summary["export"]["model"] == str(tmp_path / "train")
    assert {r["format"] for r in summary["export"]["report"]} >= {"tflite_int8", "savedmodel"}
    assert len(list((tmp_path / "infer").glob("*_depth.npy"))) == 4


def test_user_error_is_one_line(tmp_path, capsys):
    bad = tmp_path / "file"
    bad.write_text("x")
    code = main(["demo", "--out", str(bad / "sub"), "--height", "64"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("workbench: error:") and "Traceback" not in err
    # a --data that is not a folder was skipped with exit 0 (the default's path was relative
    # to the working folder: outside the repository the demo did almost nothing)
    code = main(["demo", "--out", str(tmp_path / "d"), "--data", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2 and "--data" in err and not (tmp_path / "d").exists()


def test_a_value_like_minus_inf_reaches_its_flags_range_check(tmp_path, capsys):
    """argparse took ``-inf`` (and ``-1e-3``) for a flag: "expected one argument"."""
    for argv, flag in (
        (["infer", str(tmp_path), "--camera-height", "-inf"], "--camera-height"),
        (["train", "--lr", "-1e-3"], "--lr"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"workbench: error: {flag}: must be") and err.count("\n") == 1


def test_an_unknown_flag_points_to_its_verbs_help(capsys):
    """It said 'see workbench -h', whose help lists the verbs, not the flags."""
    for argv, verb in ((["eval", "x.csv", "--bogus"], " eval"), (["--bogus"], "")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        want = f"unrecognized arguments: --bogus (see workbench{verb} -h)\n"
        assert capsys.readouterr().err == f"workbench: error: {want}"


def test_a_scene_or_view_flag_that_names_nothing_is_named_with_the_choices(tmp_path, capsys):
    from pathlib import Path

    seed = Path(__file__).resolve().parents[1] / "data_samples" / "seed"
    scenes = sorted(p.name for p in seed.iterdir() if p.is_dir())
    argv = ["pointcloud", str(seed), "--scene", "nosuch", "--out", str(tmp_path / "c.ply")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--scene 'nosuch' matches no scene (pick one of: {scenes[0]}" in err, err
    argv = ["match", str(seed), "--scene", scenes[0], "--a", "000", "--b", "zzz",
            "--out", str(tmp_path / "m")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--a/--b: scene {scenes[0]} has no view 'zzz'" in err, err
    assert main(["match", str(seed), "--scene", "", "--a", "000", "--b", "001", "--out",
                 str(tmp_path / "m2")]) == 0  # fmt: skip
    # above the depth's own rows the occlusion test fails (overlap 0.81 -> 0.16): refused
    rows = np.load(tmp_path / "m2" / "flow.npy").shape[0]
    argv = ["match", str(seed), "--height", str(2 * rows), "--out", str(tmp_path / "m3")]
    assert main(argv) == 2
    assert f"--height: {2 * rows} is above the views' own {rows} rows" in capsys.readouterr().err
    assert not (tmp_path / "m3").exists()


def test_data_flag_help_names_every_layout_and_encoding():
    from workbench.configs.commands import DataFlags
    from workbench.data.dataset import ENCODINGS
    from workbench.data.layouts import LAYOUTS

    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(DataFlags)}
    layout_help, encoding_help = helps["layout"], helps["encoding"]
    assert all(name in layout_help for name in LAYOUTS), layout_help
    assert all(name in encoding_help for name in ENCODINGS), encoding_help


def test_switch_help_says_whether_it_is_on_by_default(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "two model calls per image) (default: on)" in text  # --flip
    assert "to the GT median (scale-free) (default: off)" in text  # --median-align


def test_an_interrupt_met_inside_c_code_stops_a_folder_job(monkeypatch, tmp_path, capsys):
    """SIGTERM's KeyboardInterrupt raised inside a model call can come out of C code as another
    exception; infer must stop ("interrupted", exit 2), not list the image as failed and go on."""
    import signal

    import workbench.deploy.infer as infer
    from workbench.errors import raise_if_interrupted, request_interrupt
    from workbench.paths import SAMPLES

    raise_if_interrupted(ValueError("no interrupt pending: nothing happens"))
    calls = []

    def predict_each(predictor, ready):
        calls.append(len(ready))
        request_interrupt()  # what the CLI's handler does first, then C code swallowed it:
        raise SystemError("<built-in method> returned a result with an exception set")

    monkeypatch.setattr(infer, "_predict_each", predict_each)
    images = sorted((SAMPLES / "rgbd-folder" / "rgb").glob("*.png"))[:1]
    args = ["infer", str(images[0]), "--out", str(tmp_path / "o"), "--no-progress"]
    assert main(args) == 2 and len(calls) == 1
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is not None  # handlers restored, flag cleared
    raise_if_interrupted(ValueError("cleared after the job"))


def test_match_of_two_good_views_runs_past_a_broken_third(tmp_path, capsys):
    """A truncated depth of a view not asked about stopped `match` (exit 2, no output): it read
    the whole scene for its covisibility.txt first. Now A and B are matched, the scene's
    covisibility is left out with one warning naming the file, exit 1."""
    import shutil
    from pathlib import Path

    seed = tmp_path / "seed"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data_samples" / "seed", seed)
    scene = sorted(p for p in seed.iterdir() if p.is_dir())[0]
    bad = scene / "depth" / "000.png"
    bad.write_bytes(bad.read_bytes()[:100])
    out = tmp_path / "m"
    argv = ["match", str(seed), "--scene", scene.name, "--a", "001", "--b", "002"]
    assert main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "covisibility.txt was not written" in err and str(bad) in err
    assert (out / "match.json").is_file() and not (out / "covisibility.txt").exists()
    assert main([*argv[:-4], "--a", "000", "--b", "001", "--out", str(tmp_path / "m2")]) == 2
    assert str(bad) in capsys.readouterr().err  # A itself broken: refused, naming it
    # a pose in millimetres: refused for A or B (it matched them 1.6 km apart, overlap 0),
    # left out of the scene's covisibility for another view (a row of zeros)
    bad.write_bytes((Path(__file__).resolve().parents[1] / "data_samples" / "seed" / scene.name
                     / "depth" / "000.png").read_bytes())  # fmt: skip
    pose = scene / "pose" / "003.txt"
    T = np.loadtxt(pose)
    T[:3, 3] *= 1000
    np.savetxt(pose, T)
    assert main([*argv[:-4], "--a", "000", "--b", "003", "--out", str(tmp_path / "m3")]) == 2
    assert f"{pose}: camera " in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "m4")]) == 1
    err = capsys.readouterr().err
    assert "covisibility.txt was not written" in err and f"{pose}: camera " in err


def test_a_reader_that_left_the_pipe_costs_no_error_line(tmp_path):
    """`workbench consistency ... | head` printed "workbench: error: Broken pipe" (exit 2) after
    every file was written."""
    import subprocess
    import sys
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data_samples" / "rgbd-folder"
    report = tmp_path / "r.csv"
    argv = [sys.executable, "-m", "workbench.cli", "validate", str(data), "--report", str(report),
            "--no-progress"]  # fmt: skip
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before the first line
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 1 and err == "", err
    assert report.is_file()  # the job was done before its summary met the closed pipe
