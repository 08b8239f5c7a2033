"""Training: loss goes down, SIGKILL + resume is exact, distributed strategies train, configs."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SAMPLES, tiny_train_config, write_sample_lists
from workbench.configs import TrainConfig
from workbench.errors import WorkbenchError

WORKBENCH = [sys.executable, "-m", "workbench.cli"]


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    return write_sample_lists(tmp_path_factory.mktemp("lists"))


tiny = tiny_train_config


@pytest.fixture(scope="module")
def trained(lists, tmp_path_factory):
    """One 40-step run for the module: ``(summary, run folder)``."""
    from workbench.training.supervised import train

    run = tmp_path_factory.mktemp("trained") / "run"
    return train(tiny(lists, run, steps=40, log_every=5, ckpt_every=20, dump_every=20)), run


def cli(*args, env=None, **kw):
    e = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [*WORKBENCH, *map(str, args)], capture_output=True, text=True, env=e, timeout=300, **kw
    )


def cli_flags(config: TrainConfig) -> list[str]:
    from workbench.configs import to_dict

    flags = []
    for k, v in to_dict(config).items():
        if k == "_type":
            continue
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            flags.append(flag if v else "--no-" + k.replace("_", "-"))
        elif isinstance(v, list):
            flags += [flag, *map(str, v)]
        else:
            flags += [flag, str(v)]
    return flags


def read_ckpt(folder: Path, step: int) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(folder / "checkpoints" / f"ckpt-{step}"))
    names = [n for n in reader.get_variable_to_shape_map() if "model/" in n or "optimizer/" in n]
    return {n: reader.get_tensor(n) for n in names}


def test_loss_decreases_and_outputs(trained):
    s, run = trained
    hist = (run / "history.csv").read_text().splitlines()
    totals = [float(r.split(",")[1]) for r in hist[1:]]
    assert len(totals) == 8
    assert totals[-1] < 0.8 * totals[0], totals
    assert s["steps"] == 40 and s["val"]["n_views"] == 4 and np.isfinite(s["val"]["abs_rel"])
    dumps = {p.name for p in (run / "dumps").iterdir()}
    for step in ("0000020", "0000040"):
        for kind in ("rgb.png", "depth_pred.png", "norm_pred.png", "depth_err.png", "pc.ply"):
            assert f"{step}_{kind}" in dumps
    assert list((run / "tb" / "train").glob("events.out.tfevents.*"))
    assert (run / "model.keras").stat().st_size > 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["_type"] == "TrainConfig" and saved["steps"] == 40
    # the constant baseline of every later evaluation: the training views' median range
    assert 0.5 < s["train_median_m"] < 10
    from workbench.model.baselines import model_train_median

    assert model_train_median(run) == s["train_median_m"] and s["finished"] is True


def test_sigterm_stops_at_a_step_with_a_checkpoint_and_says_how_to_resume(lists, tmp_path, capsys):
    """SIGTERM (or Ctrl-C): the run ends after the step under way with a checkpoint of that
    step, one line names it and --resume (exit 2), no final validation or model.keras."""
    run = tmp_path / "run"
    config = tiny(lists, run, steps=100_000, ckpt_every=2, log_every=1, val_csv="")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.Popen([*WORKBENCH, "train", *cli_flags(config)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    state = run / "checkpoints" / "checkpoint"
    t0 = time.time()
    while not state.exists() and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.01)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2, err
    line = [ln for ln in err.splitlines() if "interrupted at step" in ln]
    assert len(line) == 1 and "of 100000, checkpoint saved" in line[0] and "--resume" in line[0]
    step = int(line[0].split("interrupted at step ")[1].split()[0])
    assert step >= 2 and f'ckpt-{step}"' in state.read_text()  # the latest is that step's
    assert not (run / "model.keras").exists()
    from workbench.model.saving import load_run_model  # eval/export/infer load it, and say so

    load_run_model(run)
    assert f"no model.keras (an unfinished run): its latest checkpoint, step {step} of 100000" in (
        capsys.readouterr().err
    )
    from workbench.model.baselines import model_train_median  # its constant baseline is known

    early = json.loads((run / "summary.json").read_text())
    assert early["finished"] is False and model_train_median(run) == early["train_median_m"] > 0
    from workbench.training.supervised import train

    assert train(replace(config, steps=step + 1, resume=True))["steps"] == step + 1
    assert f"train: resuming {run} at step {step} of {step + 1}" in capsys.readouterr().out


def test_sigkill_then_resume_matches_uninterrupted(lists, tmp_path):
    """Kill a run right after a checkpoint; resuming gives the uninterrupted run's weights."""
    from workbench.training.supervised import train

    # the uninterrupted reference in this process (deterministic ops: the same weights as a
    # CLI run); validation left out of all three runs (it does not touch the weights)
    ref = tiny(lists, tmp_path / "ref", steps=8, lr_schedule="constant", val_csv="")
    assert train(ref)["steps"] == 8
    # the victim would run for long; it is killed as soon as a checkpoint appears
    victim = replace(ref, logdir=str(tmp_path / "victim"), steps=100_000)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    p = subprocess.Popen(
        [*WORKBENCH, "train", *cli_flags(victim)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = tmp_path / "victim" / "checkpoints" / "checkpoint"
    t0 = time.time()
    while not state.exists() and time.time() - t0 < 120 and p.poll() is None:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert state.exists()
    # resumed in this process (the CLI's own path is the same `train`; one TensorFlow start less)
    train(replace(victim, steps=8, resume=True))
    summary = json.loads((tmp_path / "victim" / "summary.json").read_text())
    assert 2 <= summary["resumed_from"] < 8 and summary["steps"] == 8
    a, b = read_ckpt(tmp_path / "ref", 8), read_ckpt(tmp_path / "victim", 8)
    assert a.keys() == b.keys() and len(a) > 20
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    steps = [
        int(x.split(",")[0])
        for x in (tmp_path / "victim" / "history.csv").read_text().splitlines()[1:]
    ]
    assert steps == [2, 4, 6, 8]
    # resumed once finished: nothing done (it validated again, appending the step's rows twice)
    before = {p.name: p.read_bytes() for p in (tmp_path / "victim").glob("*.*")}
    assert train(replace(victim, steps=8, resume=True))["steps"] == 8
    assert {p.name: p.read_bytes() for p in (tmp_path / "victim").glob("*.*")} == before
    # --steps before the checkpoint's step: refused (it "finished" at step 8 of 4)
    with pytest.raises(WorkbenchError, match="--steps: 4 ends before step 8, where the run"):
        train(replace(victim, steps=4, resume=True))
    assert json.loads((tmp_path / "victim" / "config.json").read_text())["steps"] == 8


def test_mirrored_strategy_on_two_logical_cpus(lists, tmp_path):
    cfg = tiny(lists, tmp_path / "m", steps=3, strategy="mirrored", cpu_devices=2)
    r = cli("train", *cli_flags(cfg))
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert s["replicas"] == 2 and s["strategy"] == "MirroredStrategy"
    assert np.isfinite(s["final"]["total"])


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_two_local_workers(lists, tmp_path):
    cfg = tiny(lists, tmp_path / "mw", steps=3, strategy="multiworker")
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "3"}
        procs.append(
            subprocess.Popen(
                [*WORKBENCH, "train", *cli_flags(cfg)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    s = json.loads((tmp_path / "mw" / "summary.json").read_text())
    assert s["replicas"] == 2
    assert s["strategy"] in ("MultiWorkerMirroredStrategy", "CollectiveAllReduceStrategy")
    assert s["task"] == "worker0"


def test_resume_guards(lists, tmp_path, capsys):
    from workbench.training.loop import check_resume

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint").write_text("x")
    cfg = tiny(lists, run)
    with pytest.raises(WorkbenchError, match="already has checkpoints"):
        check_resume(cfg, run)
    from workbench.configs import save_config

    save_config(cfg, run / "config.json")
    check_resume(replace(cfg, resume=True), run)
    assert "found no checkpoint" not in capsys.readouterr().err
    check_resume(replace(cfg, resume=True), tmp_path / "typo")  # nothing to resume: a new run
    assert "typo: --resume found no checkpoint: a new run starts at step 0" in (
        capsys.readouterr().err
    )
    with pytest.raises(WorkbenchError, match="different model config.*model_width=8 vs 16"):
        check_resume(replace(cfg, resume=True, model_width=16), run)
    # another --steps stretches the learning-rate schedule: said, not refused; so are other
    # settings that change the rest of the run (they went through without a word)
    check_resume(replace(cfg, resume=True, steps=cfg.steps * 2, seed=5, batch=cfg.batch * 2), run)
    err = capsys.readouterr().err
    assert f"--seed 5 (was {cfg.seed}), --batch {cfg.batch * 2} (was {cfg.batch}), --steps" in err
    assert err.count("\n") == 1
    # one the checkpoint's optimizer state cannot follow is refused, naming the flag (it failed
    # in the restore, blaming the model)
    other = "constant" if cfg.lr_schedule != "constant" else "cosine"
    with pytest.raises(WorkbenchError, match=f"--lr-schedule: {other} where the run in"):
        check_resume(replace(cfg, resume=True, lr_schedule=other), run)


@pytest.mark.parametrize("resume", [False, True])
def test_a_model_put_in_the_run_folder_is_never_trained_over(lists, tmp_path, resume):
    """A folder holding a model.keras and no checkpoint (``scripts/add_grey_world.py`` makes
    one): train refuses it in one line, before any work, and leaves the model as it was."""
    run = tmp_path / "j"
    run.mkdir()
    (run / "model.keras").write_bytes(b"a model someone put here")
    config = replace(tiny(lists, run, steps=2), resume=resume)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    r = subprocess.run([*WORKBENCH, "train", *cli_flags(config)], env=env, capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    line = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(line) == 1 and f"{run}: holds a model.keras but no checkpoint" in line[0]
    assert (run / "model.keras").read_bytes() == b"a model someone put here"
    assert sorted(p.name for p in run.iterdir()) == ["model.keras"]


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"height": 30}, "divisible"),
        ({"ssim_k": 4}, "odd"),
        ({"rate": (1.0, -1.0, 0.0)}, "rate"),
        ({"steps": 0}, "steps"),
    ],
)
def test_bad_config_is_a_clear_error(lists, tmp_path, kw, msg):
    from workbench.training.supervised import train

    with pytest.raises(WorkbenchError, match=msg):
        train(tiny(lists, tmp_path / "x", **kw))


def test_init_from_copies_weights_across_heights_and_refuses_other_networks(lists, tmp_path):
    """Progressive resizing: a model trained at H initialises one at 2H with the same weights."""
    from workbench.model.saving import resize_model, save_keras_atomic
    from workbench.model.unet import build_from_config
    from workbench.training.supervised import init_weights

    small = tiny(lists, tmp_path / "a", model_coords=True, model_context=True)
    src = build_from_config(small)
    rng = np.random.default_rng(0)
    src.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in src.get_weights()])
    save_keras_atomic(src, tmp_path / "src.keras")

    big = build_from_config(replace(small, height=64))
    init_weights(big, tmp_path / "src.keras")
    for a, b in zip(big.get_weights(), src.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = rng.random((1, 32, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(src(x).numpy(), resize_model(big, 32)(x).numpy(), atol=1e-5)

    other = build_from_config(replace(small, model_width=4))
    with pytest.raises(
        WorkbenchError, match=r"src\.keras: weights do not fit.*\(3, 3, 5, 4\) vs \(3, 3, 5, 8\)"
    ):
        init_weights(other, tmp_path / "src.keras")
    with pytest.raises(WorkbenchError, match="run folder or an existing .keras"):
        init_weights(other, tmp_path / "missing.keras")
    # refused by the weights: no run folder left behind (it kept a marked, empty one)
    from workbench.training.supervised import train

    run = tmp_path / "refused"
    with pytest.raises(WorkbenchError, match="weights do not fit"):
        train(replace(small, model_width=4, logdir=str(run), init_from=str(tmp_path / "src.keras")))
    assert not run.exists()


def test_train_init_from_starts_at_the_source_weights(lists, trained, tmp_path):
    """``train(init_from=...)`` at another height begins from the source run's weights."""
    from workbench.model.saving import load_run_model
    from workbench.training.supervised import train

    small = trained[1]  # trained at height 32
    s = train(
        tiny(
            lists,
            tmp_path / "big",
            height=64,
            steps=1,
            lr=1e-9,
            val_csv="",
            init_from=str(small),
        )
    )
    assert s["steps"] == 1
    src, got = load_run_model(small), load_run_model(tmp_path / "big")
    # trainable weights moved by lr = 1e-9 only (batch-norm statistics move with any step)
    for a, b in zip(src.trainable_weights, got.trainable_weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert json.loads((tmp_path / "big" / "config.json").read_text())["init_from"] == str(small)


def test_a_cache_larger_than_memory_is_bounded_and_said(lists, tmp_path, monkeypatch, capsys):
    """``--cache`` on more views than half the available memory holds keeps that many and
    says so in one line; training goes on (the others are decoded each time)."""
    import workbench.training.supervised as supervised

    monkeypatch.setattr(supervised, "cache_capacity", lambda height: 3)
    s = supervised.train(tiny(lists, tmp_path / "c", steps=2, cache=True))
    assert np.isfinite(s["val"]["abs_rel"])
    err = capsys.readouterr().err
    assert "--cache keeps 3 of the" in err and "decoded each time" in err


def test_train_on_a_split_without_depth_is_refused_before_any_work(tmp_path, capsys):
    """A pose-only dataset's split trained 2 steps on nothing (losses 0) and wrote a model."""
    from workbench.cli import main

    samples = Path(__file__).resolve().parents[2] / "data_samples"
    argv = ["split", str(samples / "pose-only"), "--out", str(tmp_path / "l"), "--unit", "view"]
    assert main([*argv, "--val-fraction", "0.5"]) == 0
    capsys.readouterr()
    train_csv = str(tmp_path / "l" / "train.csv")
    run = tmp_path / "run"
    args = ["train", "--train-csv", train_csv, "--val-csv", str(tmp_path / "l" / "val.csv")]
    assert main([*args, "--logdir", str(run), "--steps", "2", "--height", "32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and train_csv in err[0] and "none of its views has depth" in err[0]
    assert not run.exists()
    for verb in ("train-biview", "train-pose"):  # they said "no view pairs with overlap"
        assert main([verb, *args[1:], "--logdir", str(run), "--steps", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "none of its views has depth" in err[0], (verb, err)
        assert not run.exists()
    # depth without poses: the pair trainers said "no two views share a scene" after mining,
    # and left their run folder
    depth_only = tmp_path / "depth-only"
    shutil.copytree(samples / "rgbd-folder", depth_only)
    shutil.rmtree(depth_only / "pose")
    lists = tmp_path / "l2"
    assert main(["split", str(depth_only), "--out", str(lists), "--unit", "view"]) == 0
    capsys.readouterr()
    for verb in ("train-biview", "train-pose"):
        argv = [verb, "--train-csv", str(lists / "train.csv"), "--val-csv", ""]
        assert main([*argv, "--logdir", str(run), "--steps", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "none of its views has a pose" in err[0], (verb, err)
        assert not run.exists()


def test_a_logdir_inside_the_dataset_root_is_refused_before_any_work(tmp_path, capsys):
    """It trained inside the root; validate then read the run folder as an empty scene."""
    import shutil

    from workbench.cli import main

    root = tmp_path / "ds"
    shutil.copytree(SAMPLES, root)
    lists = write_sample_lists(tmp_path / "lists", root)
    cfg = tiny(lists, root / "newrun")
    assert main(["train", *cli_flags(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"workbench: error: --logdir: {root / 'newrun'} is inside the dataset")
    assert not (root / "newrun").exists()


def test_a_checkpoint_cut_short_is_named(lists, trained, tmp_path):
    """It said "IndexError: Read less bytes than requested" without the file."""
    import shutil

    from workbench.training.supervised import train

    run = tmp_path / "run"
    shutil.copytree(trained[1], run)
    data = sorted((run / "checkpoints").glob("ckpt-40.data-*"))[0]
    data.write_bytes(data.read_bytes()[:100])
    cfg = tiny(lists, run, steps=41, log_every=5, ckpt_every=20, dump_every=20, resume=True)
    with pytest.raises(WorkbenchError, match="ckpt-40: checkpoint cannot be read: its files are"):
        train(cfg)


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path):
    """A validation view that cannot be read stopped the run before step 1 with a good line,
    but left config.json, summary.json ("finished": false) and tb/ behind."""
    import csv
    import shutil

    from workbench.training.supervised import train

    root = tmp_path / "ds"
    shutil.copytree(SAMPLES, root)
    lists = write_sample_lists(tmp_path / "lists", root)
    with open(lists / "val.csv", newline="") as f:
        first = next(csv.DictReader(f))
    rgb = root / first["rgb_path"]
    rgb.write_bytes(rgb.read_bytes()[:200])
    run = tmp_path / "run"
    with pytest.raises(WorkbenchError, match="unreadable or truncated"):
        train(tiny(lists, run))
    assert not run.exists()
    # a validation depth map gone: it trained, then failed, leaving checkpoints and no model
    shutil.copy(SAMPLES / first["rgb_path"], rgb)
    (root / first["depth_path"]).unlink()
    with pytest.raises(WorkbenchError, match="file not found"):
        train(tiny(lists, run))
    assert not run.exists()
