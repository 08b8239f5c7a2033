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
import time
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.io import write_bytes_atomic, write_text_atomic

__all__ = [
    "load_source_model",
    "resize_model",
    "serving_function",
    "export_savedmodel",
    "export_frozen_pb",
    "export_tflite",
    "representative_data",
    "model_flops",
    "report",
    "run",
]

TFLITE_NAMES = {
    "none": "model_fp32",
    "fp16": "model_fp16",
    "int8": "model_int8",
    "dynamic": "model_dynamic",
}


def load_source_model(path: str | os.PathLike | None, what: str = "export"):
    """The Keras model of a run folder, a ``.keras`` file or ``None`` (default model), and its
    path; ``what`` names the user of the model in the error for any other format."""
    from workbench.infer import DEFAULT_MODEL, KerasBackend, load_backend

    backend = load_backend(path or DEFAULT_MODEL)
    if not isinstance(backend, KerasBackend):
        raise WorkbenchError(f"{what} needs a run folder or a .keras file", backend.source)
    return backend.model, Path(backend.source)


def resize_model(model, height: int):
    """The same weights in a U-Net built for input height ``height`` (fully convolutional)."""
    if int(model.input_shape[1]) == height:
        return model
    import keras

    import workbench.model.unet  # noqa: F401

    cfg = model.get_config()
    cfg["layers"][0]["config"]["batch_shape"] = (None, height, 2 * height, 3)
    try:
        new = keras.Model.from_config(cfg)
    except Exception as e:  # noqa: BLE001
        raise WorkbenchError(f"cannot rebuild the model at height {height} ({e})") from None
    new.set_weights(model.get_weights())
    return new


def serving_function(model, batch: int | None = None):
    """A ``tf.function`` ``rgb -> {"range": ...}`` with a fixed input signature."""
    import tensorflow as tf

    h = int(model.input_shape[1])
    spec = tf.TensorSpec([batch, h, 2 * h, 3], tf.float32, name="rgb")

    @tf.function(input_signature=[spec])
    def serve(rgb):
        return {"range": tf.identity(model(rgb, training=False), name="range")}

    return serve


def _replace_dir(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(final.name + f".old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_savedmodel(model, out_dir: Path) -> Path:
    """SavedModel folder (signature ``serving_default``: ``rgb`` → ``range``), atomically."""
    import tensorflow as tf

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
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = serving_function(model).get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    gd = frozen.graph.as_graph_def()
    write_bytes_atomic(path, gd.SerializeToString())
    return path, frozen.inputs[0].name, frozen.outputs[0].name


def representative_data(csv_path: str | os.PathLike, height: int, n: int = 16):
    """Up to ``n`` views of a split CSV at ``(1, height, 2*height, 3)`` float32 (calibration)."""
    from workbench.data.pipeline import load_sample
    from workbench.data.splits import read_split_csv

    records, root = read_split_csv(csv_path)
    step = max(1, len(records) // n)
    return [load_sample(r, root, height)["rgb"][None] for r in records[::step][:n]]


def export_tflite(
    model, path: Path, quantize: str = "none", rep=None, int8_io: bool = False
) -> Path:
    """Convert to ``.tflite`` (builtin ops only), atomically.

    Args:
        quantize: ``none`` (fp32), ``fp16`` (float16 weights), ``int8`` (full integer; needs
            ``rep``, a list of ``(1, H, 2H, 3)`` float32 inputs) or ``dynamic`` (dynamic range).
        int8_io: with ``int8``, make the input and output int8 too (default float I/O).
    """
    import tensorflow as tf

    if quantize not in TFLITE_NAMES:
        raise WorkbenchError(f"quantize must be one of {sorted(TFLITE_NAMES)}, got {quantize!r}")
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    # frozen first: calibrating int8 on a graph with resource variables fails in the converter
    frozen = convert_variables_to_constants_v2(
        serving_function(model, batch=1).get_concrete_function()
    )
    import absl.logging

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
        conv.representative_dataset = lambda: ([x] for x in rep)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    import warnings

    with warnings.catch_warnings():  # float I/O int8 models: "Statistics for quantized inputs"
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        data = conv.convert()
    write_bytes_atomic(path, data)
    return path


# --------------------------------------------------------------------------- report


def model_flops(model) -> float:
    """Multiply-adds × 2 of one forward pass (convolutions dominate), from the layer shapes."""
    total = 0.0
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            out = layer.output.shape
            k = layer.kernel.shape
            total += 2.0 * out[1] * out[2] * out[3] * k[0] * k[1] * k[2]
    return total


def _latency(fn, x, runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _file_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def report(
    keras_model, files: dict[str, Path], csv_path: str | None, runs: int = 10, views: int = 16
) -> list[dict]:
    """Size, latency (1 and 2 threads), accuracy and deviation from Keras of each export."""
    from workbench.evaluate import evaluate
    from workbench.infer import KerasBackend, Predictor, load_backend

    h = int(keras_model.input_shape[1])
    records, root = [], None
    if csv_path:
        from workbench.data.splits import read_split_csv

        records, root = read_split_csv(csv_path)
        records = records[:: max(1, len(records) // views)][:views]
    keras_pred = Predictor(KerasBackend(keras_model, Path("keras")))
    x1 = (
        representative_data(csv_path, h, 1)[0]
        if csv_path
        else np.random.default_rng(0).random((1, h, 2 * h, 3), np.float32)
    )
    ref = keras_pred.predict_batch(x1)
    ref_preds = {}
    if records:
        _, _, ref_preds = evaluate(keras_pred, records, root)
    rows = []
    entries = {"keras": None, **files}
    for name, path in entries.items():
        row = {"format": name, "file": str(path.name) if path else "(in memory)"}
        row["size_mb"] = round(_file_size(path) / 2**20, 3) if path else None
        for threads in (1, 2):
            if path is None or name in ("savedmodel", "pb"):
                if threads == 1:  # TF runs with its own thread pools (all cores)
                    continue
                pred = keras_pred if path is None else Predictor(load_backend(path))
            else:
                pred = Predictor(load_backend(path, threads=threads))
            row[f"latency_ms_{threads}t"] = round(_latency(pred.predict_batch, x1, runs) * 1e3, 2)
        out = pred.predict_batch(x1)
        diff = np.abs(out - ref)
        row["max_abs_diff_m"] = float(f"{diff.max():.3g}")
        row["mean_abs_diff_m"] = float(f"{diff.mean():.3g}")
        if records:
            mean, _, preds = evaluate(pred, records, root)
            row["abs_rel"] = round(mean["abs_rel"], 4)
            row["delta1"] = round(mean["delta1"], 4)
            rel = [
                np.mean(np.abs(preds[k] - ref_preds[k]) / np.maximum(ref_preds[k], 1e-3))
                for k in preds
            ]
            row["mean_rel_diff"] = float(f"{np.mean(rel):.3g}")
        rows.append(row)
    return rows


def report_markdown(rows: list[dict], meta: dict) -> str:
    cols = [
        "format",
        "size_mb",
        "latency_ms_1t",
        "latency_ms_2t",
        "abs_rel",
        "delta1",
        "max_abs_diff_m",
        "mean_abs_diff_m",
        "mean_rel_diff",
    ]
    cols = [c for c in cols if any(c in r for r in rows)]
    lines = [
        f"# Export report: {meta.get('source', '')}",
        "",
        f"Input {meta['input_size'][0]}x{meta['input_size'][1]} (WxH); latency = median of "
        f"{meta.get('runs')} runs after warm-up, batch 1; accuracy on {meta.get('views')} "
        f"views of `{meta.get('csv')}`; diffs against the Keras model.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in rows:
        lines.append(
            "| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols) + " |"
        )
    ratio = meta.get("int8_over_fp32_latency")
    if ratio is not None:
        lines += ["", f"int8 / fp32 latency (2 threads): **{ratio:.2f}**"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def run(config) -> int:
    from workbench.config import to_dict

    bad = [f for f in config.format if f not in ("savedmodel", "pb", "tflite")]
    if bad:
        raise WorkbenchError(f"unknown format {bad} (savedmodel, pb, tflite)")
    model, source = load_source_model(config.checkpoint or None)
    if config.height:
        if config.height % 16:
            raise WorkbenchError(f"--height must be a multiple of 16, got {config.height}")
        model = resize_model(model, config.height)
    h = int(model.input_shape[1])
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    meta = {
        "input_name": "rgb",
        "input_size": [2 * h, h],
        "input": "RGB float32 (B, H, 2H, 3) in [0, 1]; the model rescales to [-1, 1] itself",
        "output": "range in metres along each pixel's ray, (B, H, 2H, 1) float32",
        "source": str(source),
        "source_sha256": _sha256(source),
        "config_hash": _run_config_hash(source),
        "export_config": to_dict(config),
        "params": int(model.count_params()),
        "flops": model_flops(model),
    }
    if "savedmodel" in config.format:
        files["savedmodel"] = export_savedmodel(model, out / "saved_model")
        print(f"export: {files['savedmodel']}")
    if "pb" in config.format:
        path, inp, outp = export_frozen_pb(model, out / "model.pb")
        files["pb"] = path
        meta["pb_input"], meta["pb_output"] = inp, outp
        print(f"export: {path} ({inp} -> {outp})")
    if "tflite" in config.format:
        rep = None
        for q in config.quantize:
            if q == "int8" and rep is None:
                if not config.csv:
                    raise WorkbenchError("int8 quantization needs --csv (representative data)")
                rep = representative_data(config.csv, h, config.calibration)
            path = export_tflite(
                model, out / f"{TFLITE_NAMES.get(q, q)}.tflite", q, rep, config.int8_io
            )
            files[f"tflite_{q}"] = path
            print(f"export: {path} ({path.stat().st_size / 2**20:.2f} MB)")
    meta["files"] = {k: v.name for k, v in files.items()}
    write_text_atomic(out / "model.json", json.dumps(meta, indent=2) + "\n")
    if config.report:
        rows = report(model, files, config.csv or None, config.runs, config.views)
        lat = {r["format"]: r.get("latency_ms_2t") for r in rows}
        if lat.get("tflite_int8") and lat.get("tflite_none"):
            meta["int8_over_fp32_latency"] = lat["tflite_int8"] / lat["tflite_none"]
        meta.update(runs=config.runs, views=config.views, csv=config.csv)
        write_text_atomic(
            out / "report.json", json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"
        )
        md = report_markdown(rows, meta)
        write_text_atomic(out / "report.md", md)
        print(md)
    return 0


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
        from workbench.config import config_hash, load_config
        from workbench.configs import TrainConfig

        return config_hash(load_config(TrainConfig, cfg))
    except (WorkbenchError, TypeError):
        return ""
