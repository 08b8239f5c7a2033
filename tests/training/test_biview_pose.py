"""Bi-view warping and losses, relative-pose network and baseline."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view
from workbench.errors import WorkbenchError
from workbench.geometry.equirect import yaw_matrix

SAMPLES = Path(__file__).parents[2] / "data_samples" / "seed"
RECS = index_dataset(SAMPLES)


def _T(R=None, t=(0, 0, 0)):
    T = np.eye(4, dtype=np.float32)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = t
    return T


def test_warp_identity_and_yaw():
    import tensorflow as tf

    from workbench.model.biview_losses import warp_tf

    rng = np.random.default_rng(0)
    img = rng.random((1, 16, 32, 3)).astype(np.float32)
    r = np.full((1, 16, 32, 1), 2.0, np.float32)
    out, rs, _ = warp_tf(tf.constant(img), tf.constant(r), tf.constant(_T()[None]))
    np.testing.assert_allclose(out.numpy(), img, atol=1e-4)
    np.testing.assert_allclose(rs.numpy(), r, rtol=1e-5)
    k = 5  # source = target camera turned so its columns are rolled by k
    src = np.roll(img, k, axis=2)
    T_src_from_tgt = _T(yaw_matrix(-k * 2 * np.pi / 32).T)
    out, _, _ = warp_tf(tf.constant(src), tf.constant(r), tf.constant(T_src_from_tgt[None]))
    np.testing.assert_allclose(out.numpy(), img, atol=1e-4)


def test_warp_matches_numpy_correspondence():
    import tensorflow as tf

    from workbench.geometry.correspondence import correspond
    from workbench.model.biview_losses import warp_tf

    va, vb = load_view(RECS[0], SAMPLES), load_view(RECS[1], SAMPLES)
    c = correspond(va.range_m, va.T_world_from_cam, vb.T_world_from_cam)
    from workbench.geometry.pose import relative_pose

    T = relative_pose(va.T_world_from_cam, vb.T_world_from_cam).astype(np.float32)
    img = vb.rgb[None].astype(np.float32)
    _, rs, (u, v) = warp_tf(
        tf.constant(img), tf.constant(va.range_m[None, ..., None]), tf.constant(T[None])
    )
    ok = c.valid
    du = (u.numpy()[0] - c.uv[..., 0] + 256) % 512 - 256
    assert np.percentile(np.abs(du[ok]), 99) < 0.05
    assert np.percentile(np.abs(v.numpy()[0] - c.uv[..., 1])[ok], 99) < 0.05


@pytest.mark.parametrize("occlusion,scales", [("none", 1), ("none", 3), ("predicted", 1)])
def test_photometric_loss_pins_metric_scale(occlusion, scales):
    """With the true range the warp explains B best; a scaled range (wrong metric scale) does
    worse: the pose's translation is what gives self-supervision its scale."""
    import tensorflow as tf

    from workbench.data.pipeline import load_sample
    from workbench.geometry.pose import relative_pose
    from workbench.model.biview_losses import biview_losses

    a, b = load_sample(RECS[0], SAMPLES, 64), load_sample(RECS[1], SAMPLES, 64)
    T = relative_pose(a["pose"], b["pose"]).astype(np.float32)[None]
    ra, rb = a["range"][None, ..., None], b["range"][None, ..., None]
    ra, rb = np.where(ra > 0, ra, 3.0), np.where(rb > 0, rb, 3.0)

    def photo(scale):
        t = biview_losses(
            tf.constant(a["rgb"][None]),
            tf.constant(b["rgb"][None]),
            tf.constant(ra * scale),
            tf.constant(rb * scale),
            tf.constant(T),
            occlusion=occlusion,
            scales=scales,
        )
        return float(t["photo"])

    best = photo(1.0)
    assert best < photo(0.6) and best < photo(1.6)


def test_train_biview_tiny(tmp_path):
    from workbench.configs import BiviewConfig
    from workbench.data.splits import write_split
    from workbench.training.biview import train

    write_split(RECS, tmp_path / "lists", SAMPLES, val_fraction=0.3)
    cfg = BiviewConfig(
        train_csv=str(tmp_path / "lists/train.csv"),
        val_csv=str(tmp_path / "lists/val.csv"),
        logdir=str(tmp_path / "bv"),
        height=32,
        model_width=8,
        model_depth=3,
        batch=2,
        steps=12,
        log_every=4,
        ckpt_every=6,
        progress=False,
        val_views=4,
    )
    s = train(cfg)
    assert s["steps"] == 12 and s["pairs"] > 10 and s["val"]["n_views"] == 4
    hist = (tmp_path / "bv" / "history.csv").read_text().splitlines()
    assert len(hist) == 4 and hist[0].startswith("step,total,photo")
    assert (tmp_path / "bv" / "model.keras").exists()
    assert list((tmp_path / "bv" / "dumps").glob("*_pc.ply"))
    # --resume compared fields a bi-view config does not have (AttributeError: model_stem)
    s = train(dataclasses.replace(cfg, steps=14, resume=True))
    assert s["steps"] == 14


def test_rotation_6d_and_errors():
    import tensorflow as tf

    from workbench.model.posenet import pose_errors, rotation_from_6d

    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    R = rotation_from_6d(tf.constant(x)).numpy()
    np.testing.assert_allclose(
        R @ np.transpose(R, (0, 2, 1)), np.repeat(np.eye(3)[None], 5, 0), atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-5)
    T = np.repeat(np.eye(4)[None], 2, 0)
    T[:, :3, 3] = [2.0, 0, 0]
    e = pose_errors(
        np.stack([np.eye(3), yaw_matrix(np.deg2rad(30))]), np.array([[1.0, 0, 0], [0, 0, 3.0]]), T
    )
    np.testing.assert_allclose(e["rot_deg"], [0, 30], atol=1e-6)
    np.testing.assert_allclose(e["trans_dir_deg"], [0, 90], atol=1e-6)
    np.testing.assert_allclose(e["scale_err"], [0.5, 0.5])
    T[1, :3, 3] = 0  # taken from one spot: no direction or scale to compare, not 10⁷
    e = pose_errors(np.stack([np.eye(3)] * 2), np.array([[1.0, 0, 0], [0, 0, 3.0]]), T)
    assert np.isnan(e["trans_dir_deg"][1]) and np.isnan(e["scale_err"][1])
    assert e["trans_dir_deg"][0] == 0 and e["rot_deg"][1] == 0


@pytest.mark.parametrize("k", [0, 7, -40, 100])
def test_baseline_yaw_recovers_a_pure_rotation(k):
    from workbench.model.posenet import baseline_yaw

    rgb = load_view(RECS[0], SAMPLES).rgb.astype(np.float32)
    w = rgb.shape[1]
    est = baseline_yaw(rgb, np.roll(rgb, k, axis=1))
    want = -k * 2 * np.pi / w
    assert abs((est - want + np.pi) % (2 * np.pi) - np.pi) < 1e-9


@pytest.mark.parametrize("k", [0, 8, -20, 64])
def test_posenet_correlation_recovers_a_pure_rotation(k):
    """B = A rolled by ``k`` columns (a multiple of the 4-column feature stride): the siamese
    features match exactly at that shift, so even untrained weights give the yaw, and the
    rotation of ``T_B_from_A`` is ``yaw_matrix(2 pi k / W)`` (the convention of the
    ``random_yaw`` augmentation and of :func:`baseline_yaw`). Only the rotation is checked: the
    untrained position head says nothing yet."""
    import tensorflow as tf

    from workbench.data.pipeline import load_sample
    from workbench.model.posenet import build_posenet, rotation_from_6d

    model = build_posenet(32, width=8, levels=2)
    model.get_layer("yaw_correlation").log_temp.assign(np.log(1e4))
    rgb = load_sample(RECS[0], SAMPLES, 32)["rgb"]
    x = np.concatenate([rgb, np.roll(rgb, k, axis=1)], -1)[None].astype(np.float32)
    R = rotation_from_6d(tf.constant(model(x, training=False).numpy()[:, :6])).numpy()[0]
    np.testing.assert_allclose(R, yaw_matrix(2 * np.pi * k / 64), atol=1e-3)


def test_yaw_cross_entropy_prefers_the_true_bin():
    """True yaw 2 pi * 2.25 / 8: the target puts 3/4 on bin 2 and 1/4 on bin 3, so a
    distribution peaked there scores lower than one peaked on the opposite heading."""
    import tensorflow as tf

    from workbench.model.posenet import pose_losses, yaw_of

    psi = 2 * np.pi * 2.25 / 8
    T = np.eye(4, dtype=np.float32)
    T[:3, :3] = yaw_matrix(psi)
    T = tf.constant(T[None])
    assert float(yaw_of(T[:, :3, :3])[0]) == pytest.approx(psi, abs=1e-6)
    pose = np.concatenate([T[0, :3, 0], T[0, :3, 1], np.zeros(3)])

    def ce(p):
        pred = tf.constant(np.concatenate([pose, p])[None].astype(np.float32))
        return float(pose_losses(pred, T)["yaw_ce"])

    good = np.full(8, 0.01)
    good[2], good[3] = 0.72, 0.23
    bad = np.roll(good, 4)
    target = np.zeros(8)
    target[2], target[3] = 0.75, 0.25
    assert ce(good) == pytest.approx(-(target * np.log(good + 1e-8)).sum(), rel=1e-5)
    assert ce(good) < ce(bad)


def test_posenet_reloads_from_keras_file_in_a_fresh_process(tmp_path):
    """Only ``import workbench.model.pose_layers`` is needed to reload a saved pose model."""
    import subprocess
    import sys

    from workbench.model.posenet import build_posenet

    model = build_posenet(32, width=4)
    x = np.random.default_rng(0).random((2, 32, 64, 6)).astype(np.float32)
    model.save(tmp_path / "p.keras")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, keras, workbench.model.pose_layers\n"
        "m = keras.saving.load_model(sys.argv[1] + '/p.keras')\n"
        "np.save(sys.argv[1] + '/y.npy', np.asarray(m(np.load(sys.argv[1] + '/x.npy'))))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model(x).numpy(), atol=1e-6)


def test_train_pose_tiny(tmp_path):
    from tests.helpers import tiny_pose_config
    from workbench.data.splits import write_split
    from workbench.training.pose import train

    write_split(RECS, tmp_path / "lists", SAMPLES, val_fraction=0.3)
    cfg = tiny_pose_config(tmp_path / "lists", tmp_path / "p")
    s = train(cfg)
    for key in ("network", "baseline_yaw_xcorr", "identity"):
        assert set(s[key]) == {"median_rot_deg", "median_trans_dir_deg", "median_scale_err"}
    assert s["val_pairs"] > 0


def test_warp_gradients_are_finite_in_degenerate_geometry():
    """Points straight above the source camera or at its centre must not poison training."""
    import tensorflow as tf

    from workbench.model.biview_losses import biview_losses

    rng = np.random.default_rng(0)
    img = tf.constant(rng.random((1, 8, 16, 3)).astype(np.float32))
    r = tf.Variable(np.full((1, 8, 16, 1), 1.0, np.float32))
    # B's centre sits exactly on one of A's points (that point projects from zero distance)
    from workbench.geometry.equirect import unit_rays

    T = _T(t=-unit_rays(8, 16)[4, 8])[None]
    with tf.GradientTape() as tape:
        loss = biview_losses(img, img, r, r, tf.constant(T))["total"]
    g = tape.gradient(loss, r)
    assert np.isfinite(float(loss)) and np.isfinite(g.numpy()).all()


@pytest.mark.parametrize("which", ["pose", "biview"])
def test_a_stopped_two_view_run_keeps_a_checkpoint_of_its_step_and_resumes(tmp_path, which):
    """SIGTERM (or Ctrl-C) lost every step since the last --ckpt-every with a bare
    "interrupted"; `train` kept its step. Now both trainers stop there too (the CLI's
    `stop_on_interrupt` sets ``stop``) and the same command with --resume goes on."""
    import importlib

    from tests.helpers import tiny_pose_config
    from workbench.configs import BiviewConfig
    from workbench.data.splits import write_split
    from workbench.training.loop import interrupted_error

    write_split(RECS, tmp_path / "lists", SAMPLES, val_fraction=0.3)
    run = tmp_path / "run"
    if which == "pose":
        cfg = dataclasses.replace(tiny_pose_config(tmp_path / "lists", run), steps=50)
    else:
        cfg = BiviewConfig(train_csv=str(tmp_path / "lists/train.csv"), val_csv="", logdir=str(run),
                           height=32, model_width=4, model_depth=2, batch=2, steps=50,
                           progress=False)  # fmt: skip
    cfg = dataclasses.replace(cfg, ckpt_every=1000)
    train = importlib.import_module(f"workbench.training.{which}").train
    calls = iter(range(1000))
    stopped = train(cfg, stop=lambda: next(calls) >= 3)
    assert stopped == {"steps": 4, "stopped": True} and not (run / "model.keras").exists()
    assert 'model_checkpoint_path: "ckpt-4"' in (run / "checkpoints" / "checkpoint").read_text()
    assert str(interrupted_error(4, cfg)) == (
        f"{run}: interrupted at step 4 of 50, checkpoint saved: the same command with --resume "
        "continues it"
    )
    done = train(dataclasses.replace(cfg, resume=True, steps=6))
    assert done["steps"] == 6 and done["resumed_from"] == 4 and (run / "model.keras").exists()
    # resumed once finished: nothing redone (the model and summary were written again); a
    # --steps below the checkpoint's step is refused (config.json recorded it)
    before = {p.name: p.read_bytes() for p in run.glob("*.*")}
    assert train(dataclasses.replace(cfg, resume=True, steps=6)) == done
    assert {p.name: p.read_bytes() for p in run.glob("*.*")} == before
    with pytest.raises(WorkbenchError, match="--steps: 3 ends before step 6"):
        train(dataclasses.replace(cfg, resume=True, steps=3))
    assert {p.name: p.read_bytes() for p in run.glob("*.*")} == before
