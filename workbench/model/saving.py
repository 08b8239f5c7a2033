"""Saving and loading Keras models of this workbench: ``.keras`` files and run folders.

- :func:`save_keras_atomic`: ``model.save`` through a temporary name, members deflate-packed.
- :func:`load_keras_model`: a ``.keras`` file with every workbench layer registered.
- :func:`load_run_model`: a run folder (``model.keras``, else its latest checkpoint).
- :func:`load_source_model`: a run folder, a ``.keras`` file or the default model.
- :func:`resize_model`: the same weights at another input height (the U-Net is fully
  convolutional; its latitude channels follow the input height).
- :func:`restore_checked`: a ``tf.train.Checkpoint`` restore whose failure names the file.

Every other format (SavedModel, frozen ``.pb``, ``.tflite``) is read by
:mod:`workbench.model.predictor`, which uses this module for the Keras ones.
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import keras
import tensorflow as tf

import workbench.model.pose_layers  # noqa: F401  (registers the pose layers for loading)
from workbench.configs import MODEL_FIELDS, TrainConfig, load_config
from workbench.errors import WorkbenchError
from workbench.io import atomic_path, check_model_path
from workbench.model.unet import build_from_config, export_friendly

__all__ = [
    "save_keras_atomic",
    "load_keras_model",
    "load_run_model",
    "load_source_model",
    "resize_model",
    "restore_checked",
    "is_run_folder",
]


def save_keras_atomic(model: keras.Model, path: Path) -> Path:
    """``model.save`` to a temporary name, then rename over ``path``.

    Keras stores the archive's members uncompressed; they are re-packed with deflate (about 10 %
    smaller for float32 weights, read back by ``keras.saving.load_model`` unchanged)."""
    with atomic_path(path) as tmp:
        keras_tmp = Path(str(tmp) + ".keras")  # Keras insists on the suffix
        try:
            model.save(keras_tmp)
            with (
                zipfile.ZipFile(keras_tmp) as src,
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as dst,
            ):
                for info in src.infolist():
                    dst.writestr(info.filename, src.read(info), zipfile.ZIP_DEFLATED)
        finally:
            keras_tmp.unlink(missing_ok=True)
    return path


def load_keras_model(path: str | os.PathLike) -> keras.Model:
    """A ``.keras`` file of this workbench (custom layers registered), uncompiled; a U-Net saved
    with the earlier graph comes back in the current one (:func:`unet.export_friendly`: same
    weights, same outputs).

    Raises:
        WorkbenchError: naming ``path`` when Keras cannot read it.
    """
    if Path(path).is_file() and not zipfile.is_zipfile(path):  # Keras says "File not found"
        raise WorkbenchError("not a Keras model file (a .keras file is a zip archive)", path)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001  (keras raises many types on corrupt files)
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise WorkbenchError(f"cannot load Keras model ({first})", path) from None
    return export_friendly(model)


def restore_checked(ckpt: tf.train.Checkpoint, path: str, what: str, strict: bool = False) -> None:
    """Restore ``ckpt`` from ``path``; ``strict``: every object of ``ckpt`` must be matched
    (else extra checkpoint values are ignored).

    Raises:
        WorkbenchError: naming ``path`` and ``what`` it does not fit, with TF's first line.
    """
    try:
        status = ckpt.restore(path)
        if strict:
            status.assert_existing_objects_matched()
        else:
            status.expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise WorkbenchError(
            f"checkpoint does not fit {what} ({str(e).splitlines()[0][:200]})", path
        ) from None
    except (IndexError, OSError, EOFError) as e:  # a data file cut short ("Read less bytes")
        raise WorkbenchError(
            f"checkpoint cannot be read: its files are cut short or corrupt ({e})", path
        ) from None


def is_run_folder(path: Path) -> bool:
    """A ``workbench train`` run folder: ``model.keras`` or ``checkpoints/`` inside."""
    return path.is_dir() and ((path / "model.keras").exists() or (path / "checkpoints").is_dir())


def load_run_model(run_dir: str | os.PathLike) -> keras.Model:
    """The model of a run folder: ``model.keras`` when present, else the latest checkpoint (an
    unfinished run: one warning line names its step)."""
    run_dir = Path(run_dir)
    if (run_dir / "model.keras").exists():
        return load_keras_model(run_dir / "model.keras")
    # model_grey_world came later: runs saved before it lack it (and had none)
    required = tuple(f for f in MODEL_FIELDS if f != "model_grey_world")
    config = load_config(TrainConfig, run_dir / "config.json", required=required)
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if not latest:
        raise WorkbenchError("run folder has neither model.keras nor a checkpoint", run_dir)
    model = build_from_config(config)
    restore_checked(tf.train.Checkpoint(model=model), latest, "the model of config.json")
    step = Path(latest).name.rsplit("-", 1)[-1]
    print(
        f"workbench: warning: {run_dir}: no model.keras (an unfinished run): its latest "
        f"checkpoint, step {step} of {config.steps}",
        file=sys.stderr,
    )
    return model


def load_source_model(
    path: str | os.PathLike | None, what: str = "export"
) -> tuple[keras.Model, Path]:
    """The Keras model of a run folder, a ``.keras`` file or ``None`` (the default model), and
    its path; ``what`` names the user of the model in the error for any other input."""
    path = check_model_path(path)
    if is_run_folder(path):
        return load_run_model(path), path
    if path.is_file() and path.suffix.lower() == ".keras":
        return load_keras_model(path), path
    raise WorkbenchError(f"{what} needs a run folder or a .keras file", path)


def resize_model(model: keras.Model, height: int) -> keras.Model:
    """The same weights in a model built for input ``(B, height, 2 height, 3)``."""
    if int(model.input_shape[1]) == height:
        return model
    cfg = model.get_config()
    cfg["layers"][0]["config"]["batch_shape"] = (None, height, 2 * height, 3)
    try:
        new = keras.Model.from_config(cfg)
    except Exception as e:  # noqa: BLE001
        raise WorkbenchError(f"cannot rebuild the model at height {height} ({e})") from None
    new.set_weights(model.get_weights())
    return new
