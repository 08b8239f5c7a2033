"""Helpers shared by the training, evaluation, export and bad-input tests: split lists of
``data_samples/seed`` and a tiny training configuration (seconds on two cores)."""

from pathlib import Path

from workbench.configs import TrainConfig

SAMPLES = Path(__file__).parents[1] / "data_samples" / "seed"


def write_sample_lists(out: Path, root: Path = SAMPLES) -> Path:
    """``out/{train,val}.csv`` of ``root`` (30% of its scenes for validation); returns ``out``."""
    from workbench.data.dataset import index_dataset
    from workbench.data.splits import write_split

    write_split(index_dataset(root), out, root, val_fraction=0.3)
    return out


def tiny_train_config(lists: Path, logdir: Path, **kw) -> TrainConfig:
    """A 6-step run at 32×64 of an 8-wide, 3-level U-Net on ``lists``; ``kw`` overrides fields."""
    base = dict(
        train_csv=str(lists / "train.csv"),
        val_csv=str(lists / "val.csv"),
        logdir=str(logdir),
        height=32,
        model_width=8,
        model_depth=3,
        batch=4,
        steps=6,
        log_every=2,
        ckpt_every=2,
        progress=False,
        val_views=4,
    )
    base.update(kw)
    return TrainConfig(**base)


def tiny_pose_config(lists: Path, logdir: Path, **kw):
    """A 10-step pose run at 32×64 on ``lists``; ``kw`` overrides fields."""
    from workbench.configs import PoseConfig

    base = dict(
        train_csv=str(lists / "train.csv"),
        val_csv=str(lists / "val.csv"),
        logdir=str(logdir),
        height=32,
        steps=10,
        batch=4,
        log_every=5,
        progress=False,
    )
    base.update(kw)
    return PoseConfig(**base)


def assert_depth_equals_mesh(root: Path, height: int) -> None:
    """Each view's depth PNG (mm) under ``root`` is the range of its scene's own ``obj/`` mesh
    ray cast from its pose (1 cm), and every ray hits something (a closed world)."""
    from workbench.data.dataset import index_dataset
    from workbench.data.layouts import load_view
    from workbench.geometry.mesh import mesh_agreement, read_obj, render_range

    for rec in index_dataset(root):
        view = load_view(rec, root)
        v, t = read_obj(root / rec.scene_id / "obj/scene.obj")
        rendered = render_range(v, t, view.T_world_from_cam, height)
        assert mesh_agreement(view.range_m, rendered, tol=0.01) > 0.995, rec.scene_id
        assert (view.range_m > 0).mean() > 0.99, rec.scene_id
