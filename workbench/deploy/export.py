"""Model export for deployment: SavedModel and frozen ``.pb`` (C++), ``.tflite`` (phones).

``workbench export --checkpoint RUN_OR_KERAS --format ... --quantize ... --out DIR`` writes, per
request, into ``DIR``:

- ``saved_model/``: a SavedModel whose ``serving_default`` signature takes ``rgb``
  ``(B, H, 2H, 3) float32`` in [0, 1] and returns ``range`` ``(B, H, 2H, 1) float32`` metres;
- ``model.pb``: a frozen GraphDef (variables folded into constants, batch dimension free), input
  tensor ``rgb:0``; its output tensor name is in ``model.json``;
- ``model_fp32.tflite``, ``model_fp16.tflite`` (float16 weights), ``model_int8.tflite`` (full
  integer with a representative dataset from a split CSV; float input/output unless
  ``--int8-io``), and ``model_dynamic.tflite`` only when asked (dynamic-range quantization is
  several times slower than fp32 on x86, so it is never a default).

``model.json`` beside them records the input size and normalisation, output units, the source
model, its config hash and every file written. All writes are atomic (temporary name + rename).
``--report`` adds ``report.md`` / ``report.json``: size, LiteRT/TF latency (median over runs after
warm-up, 1 and 2 threads), AbsRel/δ1 on a validation CSV and the difference to the Keras model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import absl.logging
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from workbench.configs import TrainConfig, config_hash, load_config, to_dict
from workbench.data.splits import read_split_csv
from workbench.deploy.report import (
    file_size,
    model_flops,
    report,
    report_markdown,
    representative_data,
)
from workbench.errors import WorkbenchError
from workbench.io import (
    check_model_path,
    check_not_model_folder,
    check_output_owner,
    claim_output_folder,
    make_folder,
    make_temporary_folder,
    quiet_native_stderr,
    sweep_temporaries,
    temporary_name,
    write_bytes_atomic,
    write_text_atomic,
)
from workbench.model.baselines import make_baselines, model_train_median
from workbench.model.predictor import (
    KerasBackend,
    Predictor,
    check_depth_model,
    other_height_note,
)
from workbench.model.saving import load_source_model, resize_model
from workbench.model.unet import GreyWorld

__all__ = [
    "serving_function",
    "export_savedmodel",
    "export_frozen_pb",
    "export_tflite",
    "run",
]

TFLITE_NAMES = {
    "none": "model_fp32",
    "fp16": "model_fp16",
    "int8": "model_int8",
    "dynamic": "model_dynamic",
}


def serving_function(model, batch: int | None = None):
    """A ``tf.function`` ``rgb -> {"range": ...}`` with a fixed input signature."""
    h = int(model.input_shape[1])
    spec = tf.TensorSpec([batch, h, 2 * h, 3], tf.float32, name="rgb")

    @tf.function(input_signature=[spec])
    def serve(rgb):
        return {"range": tf.identity(model(rgb, training=False), name="range")}

    return serve


def _replace_dir(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.parent / temporary_name(final.name)  # swept if a kill leaves it
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_savedmodel(model, out_dir: Path) -> Path:
    """SavedModel folder (signature ``serving_default``: ``rgb`` → ``range``), atomically."""
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tf.get_logger().setLevel("ERROR")  # "Assets written to ..." for every save
    module = tf.Module()
    module.model = model
    module.serve = serving_function(model)
    tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
    _replace_dir(tmp, out_dir)
    return out_dir


def export_frozen_pb(model, path: Path) -> tuple[Path, str, str]:
    """Frozen GraphDef (constants only); returns ``(path, input tensor, output tensor)``."""
    concrete = serving_function(model).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    gd = frozen.graph.as_graph_def()
    write_bytes_atomic(path, gd.SerializeToString())
    return path, frozen.inputs[0].name, frozen.outputs[0].name


# Colour casts every int8 calibration view is also seen under when the model balances colour
# itself (GreyWorld): int8 ranges come from the calibration data, and near-neutral views alone
# gave its per-channel gains a range of 0-1.09, so a warm photo's blue gain (1.3-1.7) saturated.
# With these the gains' range spans the layer's own limits (1/2 to 2).
CALIBRATION_CASTS = ((1.6, 1.0, 0.55), (0.55, 1.0, 1.6), (1.4, 0.5, 1.4), (0.7, 1.5, 0.7))


def calibration_inputs(model, rep: list) -> list:
    """``rep`` (``(1, H, 2H, 3)`` float32 views in [0, 1]), and for a model with a
    :class:`~workbench.model.unet.GreyWorld` layer each view under :data:`CALIBRATION_CASTS`
    too (clipped to [0, 1])."""
    if not any(isinstance(layer, GreyWorld) for layer in model.layers):
        return list(rep)
    casts = [np.float32(c) for c in CALIBRATION_CASTS]
    return list(rep) + [np.clip(x * c, 0.0, 1.0).astype(np.float32) for x in rep for c in casts]


def export_tflite(
    model, path: Path, quantize: str = "none", rep=None, int8_io: bool = False
) -> Path:
    """Convert to ``.tflite`` (builtin ops only), atomically.

    Args:
        quantize: ``none`` (fp32), ``fp16`` (float16 weights), ``int8`` (full integer; needs
            ``rep``, a list of ``(1, H, 2H, 3)`` float32 inputs, and calibrates on them plus,
            for a grey-world model, their colour casts: :func:`calibration_inputs`) or
            ``dynamic`` (dynamic range).
        int8_io: with ``int8``, make the input and output int8 too (default float I/O).
    """
    if quantize not in TFLITE_NAMES:
        raise WorkbenchError(f"quantize must be one of {sorted(TFLITE_NAMES)}, got {quantize!r}")
    # frozen first: calibrating int8 on a graph with resource variables fails in the converter
    frozen = convert_variables_to_constants_v2(
        serving_function(model, batch=1).get_concrete_function()
    )
    absl.logging.set_verbosity(absl.logging.ERROR)  # the converter's deprecation chatter
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if not rep:
            raise WorkbenchError("int8 quantization needs a representative dataset (--csv)")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        calibration = calibration_inputs(model, rep)
        conv.representative_dataset = lambda: ([x] for x in calibration)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    with warnings.catch_warnings():  # float I/O int8 models: "Statistics for quantized inputs"
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        data = conv.convert()
    write_bytes_atomic(path, data)
    return path


# --------------------------------------------------------------------------- CLI


FORMATS = ("savedmodel", "pb", "tflite")


def check_options(config) -> None:
    """Every option of ``workbench export`` checked before the first write.

    Raises:
        WorkbenchError: naming the flag (or ``--out`` when it is a file).
    """
    check_not_model_folder(config.out, check_model_path(config.checkpoint or None))
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise WorkbenchError("exists and is not a folder", out)
    check_output_owner(out, "export")  # another verb's folder, or a folder of the user's
    if config.height % 16:
        raise WorkbenchError(f"must be 0 or a multiple of 16, got {config.height}", "--height")
    bad = [f for f in config.format if f not in FORMATS]
    if bad:
        raise WorkbenchError(
            f"unknown format {bad[0]!r} (expected {', '.join(FORMATS)})", "--format"
        )
    bad = [q for q in config.quantize if q not in TFLITE_NAMES]
    if bad:
        raise WorkbenchError(
            f"unknown variant {bad[0]!r} (expected {', '.join(TFLITE_NAMES)})", "--quantize"
        )
    if "tflite" in config.format and "int8" in config.quantize and not config.csv:
        raise WorkbenchError(
            "int8 needs representative data: pass --csv SPLIT.csv, or --quantize none fp16",
            "--quantize",
        )


def _check_same_model(out: Path, meta: dict) -> dict[str, str]:
    """An export folder holds one model at one input size: exporting another model, or the
    same at another ``--height``, would leave the first export's other formats beside the new
    files, all described by the new ``model.json``.

    Returns:
        The earlier export's files that are still there (``{format: name}``) when it is of
        this model at this size: a re-export of fewer formats keeps and lists them.

    Raises:
        WorkbenchError: naming ``--out`` and the export it holds.
    """
    try:
        before = json.loads((out / "model.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(before, dict):
        return {}
    if before.get("source_sha256") not in (None, meta["source_sha256"]):
        what = f"another model ({before.get('source', '?')})"
    elif before.get("input_size") not in (None, meta["input_size"]):
        w, h = before["input_size"]
        what = (
            f"this model at {w}x{h} (this export: {meta['input_size'][0]}x{meta['input_size'][1]})"
        )
    else:
        files = before.get("files") if isinstance(before.get("files"), dict) else {}
        return {k: v for k, v in files.items() if isinstance(v, str) and (out / v).exists()}
    raise WorkbenchError(f"{out} holds the export of {what}: name another folder", "--out")


def _export_formats(model, config, stage: Path, meta: dict) -> dict[str, Path]:
    """Write every requested format into ``stage``; returns ``{format: path}``."""
    files: dict[str, Path] = {}
    if "savedmodel" in config.format:
        files["savedmodel"] = export_savedmodel(model, stage / "saved_model")
    if "pb" in config.format:
        files["pb"], meta["pb_input"], meta["pb_output"] = export_frozen_pb(
            model, stage / "model.pb"
        )
    if "tflite" in config.format:
        h = int(model.input_shape[1])
        rep = (
            representative_data(config.csv, h, config.calibration)
            if "int8" in config.quantize
            else None
        )
        if rep is not None:  # how many there were, not how many were asked for
            meta["int8_calibration_views"] = len(rep)
        for q in config.quantize:
            path = stage / f"{TFLITE_NAMES[q]}.tflite"
            files[f"tflite_{q}"] = export_tflite(model, path, q, rep, config.int8_io)
    meta["files"] = {k: v.name for k, v in files.items()}
    return files


def _write_report(model, config, files: dict, meta: dict, stage: Path) -> str:
    baselines, _ = make_baselines(Predictor(KerasBackend(model, Path(meta["source"]))))
    rows = report(model, files, config.csv or None, config.runs, config.views, baselines)
    lat = {r["format"]: r.get("latency_ms_2t") for r in rows}
    if lat.get("tflite_int8") and lat.get("tflite_none"):
        meta["int8_over_fp32_latency"] = lat["tflite_int8"] / lat["tflite_none"]
    scored = rows[0].get("views", 0)  # the Keras row: every format scores the same views
    meta.update(runs=config.runs, views=scored, views_requested=config.views, csv=config.csv)
    write_text_atomic(
        stage / "report.json", json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
    )
    md = report_markdown(rows, meta)
    write_text_atomic(stage / "report.md", md)
    return md


def _publish(stage: Path, out: Path) -> list[Path]:
    """Move everything from ``stage`` into ``out`` (each entry replaced by a rename)."""
    make_folder(out)
    moved = []
    for entry in sorted(stage.iterdir()):
        target = out / entry.name
        if entry.is_dir():
            _replace_dir(entry, target)
        else:
            os.replace(entry, target)
        moved.append(target)
    return moved


def run(config) -> int:
    """``workbench export``: :func:`export`, then the files and the report printed."""
    files, md = export(config)
    for path in files:
        print(f"export: {path} ({file_size(path) / 2**20:.2f} MB)")
    if md:
        print(md)
    return 0


def export(config) -> tuple[list[Path], str]:
    """Every format is written into a hidden staging folder inside ``config.out`` and moved
    out of it only when all of them (and the report) succeeded; a killed export's staging
    folder is removed by the next export into the same folder (:func:`sweep_temporaries`:
    only this project's temporaries whose process has ended). Errors name ``config.out``,
    never the staging folder.

    Returns:
        The published files and the report's Markdown ("" without ``config.report``).
    """
    check_options(config)
    model, source = load_source_model(config.checkpoint or None)
    check_depth_model(model, source)  # a pose or two-view run: refused before any folder
    if config.csv:
        read_split_csv(config.csv)  # a bad CSV is refused before any conversion
    out = make_folder(Path(config.out)).resolve()  # only once the inputs are good
    trained = int(model.input_shape[1])
    if config.height:
        model = resize_model(model, config.height)
    h = int(model.input_shape[1])
    if h != trained:
        print(other_height_note(f"--height {h}", trained), file=sys.stderr)
    meta = {
        "input_name": "rgb",
        "input_size": [2 * h, h],
        "input": "RGB float32 (B, H, 2H, 3) in [0, 1]; the model rescales to [-1, 1] itself",
        "output": "range in metres along each pixel's ray, (B, H, 2H, 1) float32",
        "source": str(source),
        "source_sha256": _sha256(source),
        "config_hash": _run_config_hash(source),
        "export_config": to_dict(config),
        "trained_height": trained,
        "params": int(model.count_params()),
        "flops": model_flops(model),
    }
    median = model_train_median(Path(source))
    if median:
        meta["train_median_m"] = median
    earlier = _check_same_model(out, meta)
    claim_output_folder(out, "export")
    sweep_temporaries(out, recursive=False)  # staging folders of killed exports, only those
    try:
        stage = make_temporary_folder(out / "export")
    except WorkbenchError as e:  # named after the staging folder's final name: --out instead
        raise WorkbenchError(e.message, out) from None
    try:
        with quiet_native_stderr():  # the converter's MLIR and LiteRT chatter on fd 2
            files = _export_formats(model, config, stage, meta)
        meta["files"] = {**earlier, **meta["files"]}  # the same model's other formats stay
        write_text_atomic(stage / "model.json", json.dumps(meta, indent=2) + "\n")
        md = _write_report(model, config, files, meta, stage) if config.report else ""
        published = list(_publish(stage, out))
    except (WorkbenchError, OSError, tf.errors.OpError) as e:
        raise _naming_out(e, stage, out) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return published, md


def _naming_out(e: Exception, stage: Path, out: Path) -> Exception:
    """An error about the hidden staging folder (its path, or its name in the message) as one
    naming the user's ``--out`` folder (the entry it would have become there); other errors
    unchanged."""
    path = getattr(e, "path", None) or getattr(e, "filename", None)
    text = str(getattr(e, "message", None) or getattr(e, "strerror", None) or e).strip()
    text = (text.splitlines() or [type(e).__name__])[0]
    try:
        first = Path(path).relative_to(stage).parts[0] if path else None
    except ValueError:  # about another file (a CSV, the model): as it was
        return e
    if first is None and str(stage) not in text:
        return e
    target = out / first if first and not first.startswith(".") else out
    text = text.replace(str(stage), str(out))
    if isinstance(e, WorkbenchError):
        return WorkbenchError(text, target)
    return WorkbenchError(f"cannot write ({text[:200]})", target)


def _sha256(path: Path) -> str:
    f = path / "model.keras" if path.is_dir() else path
    if not f.is_file():
        return ""
    return hashlib.sha256(f.read_bytes()).hexdigest()[:16]


def _run_config_hash(path: Path) -> str:
    cfg = (path if path.is_dir() else path.parent) / "config.json"
    if not cfg.is_file():
        return ""
    try:
        return config_hash(load_config(TrainConfig, cfg))
    except (WorkbenchError, TypeError):
        return ""
