"""The export report: size, latency (1 and 2 threads), accuracy and deviation from the Keras
model of every exported format (``workbench export --report``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from workbench.data.pipeline import load_sample
from workbench.data.splits import read_split_csv
from workbench.machine import cpu_label
from workbench.model.evaluate import evaluate
from workbench.model.predictor import KerasBackend, Predictor, load_backend

__all__ = ["file_size", "model_flops", "representative_data", "report", "report_markdown"]


def representative_data(csv_path: str | os.PathLike, height: int, n: int = 16):
    """Up to ``n`` views of a split CSV at ``(1, height, 2*height, 3)`` float32 (calibration)."""
    records, root = read_split_csv(csv_path)
    step = max(1, len(records) // n)
    return [load_sample(r, root, height)["rgb"][None] for r in records[::step][:n]]


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


def file_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def report(
    keras_model,
    files: dict[str, Path],
    csv_path: str | None,
    runs: int = 10,
    views: int = 16,
    baselines: dict | None = None,
) -> list[dict]:
    """Size, latency (1 and 2 threads), accuracy and deviation from Keras of each export, and
    the accuracy of ``baselines`` (:mod:`workbench.model.baselines`) on the same views.

    Accuracy is measured on up to ``views`` views of ``csv_path`` (evenly spaced); each row
    with accuracy says in ``views`` how many it scored (fewer when the CSV has fewer, or some
    have no valid depth)."""
    h = int(keras_model.input_shape[1])
    records, root = [], None
    if csv_path:
        records, root = read_split_csv(csv_path)
        records = records[:: max(1, len(records) // views)][:views]
    keras_pred = Predictor(KerasBackend(keras_model, Path("keras")))
    x1 = (
        representative_data(csv_path, h, 1)[0]
        if csv_path
        else np.random.default_rng(0).random((1, h, 2 * h, 3), np.float32)
    )
    ref = keras_pred.predict_batch(x1)
    ref_preds, base = {}, {}
    if records:
        kmean, _, ref_preds = evaluate(keras_pred, records, root, baselines=baselines)
        base = kmean.get("baselines", {})
    rows = []
    entries = {"keras": None, **files}
    for name, path in entries.items():
        row = {"format": name, "file": str(path.name) if path else "(in memory)"}
        row["size_mb"] = round(file_size(path) / 2**20, 3) if path else None
        for threads in (1, 2):
            if path is None or name in ("savedmodel", "pb"):
                if threads == 1:  # TF runs with its own thread pools (all cores)
                    continue
                pred = keras_pred if path is None else Predictor(load_backend(path, warn=False))
            else:
                pred = Predictor(load_backend(path, threads=threads, warn=False))
            row[f"latency_ms_{threads}t"] = round(_latency(pred.predict_batch, x1, runs) * 1e3, 2)
            row["cpu"] = cpu_label()  # int8 speed depends on VNNI/AMX: the CPU beside it
        out = pred.predict_batch(x1)
        diff = np.abs(out - ref)
        row["max_abs_diff_m"] = float(f"{diff.max():.3g}")
        row["mean_abs_diff_m"] = float(f"{diff.mean():.3g}")
        if records:
            mean, _, preds = evaluate(pred, records, root)
            row["views"] = int(mean["n_views"])  # the views scored: those with valid depth
            if row["views"]:
                row["abs_rel"] = round(mean["abs_rel"], 4)
                row["delta1"] = round(mean["delta1"], 4)
            rel = [
                np.mean(np.abs(preds[k] - ref_preds[k]) / np.maximum(ref_preds[k], 1e-3))
                for k in preds
            ]
            row["mean_rel_diff"] = float(f"{np.mean(rel):.3g}")
        rows.append(row)
    for name, m in base.items():
        rows.append(
            {
                "format": f"baseline: {name}",
                "file": "",
                "abs_rel": round(m["abs_rel"], 4),
                "delta1": round(m["delta1"], 4),
            }
        )
    return rows


FEW_VIEWS = 8  # fewer scored views: the report says its accuracy is no dataset figure


def report_markdown(rows: list[dict], meta: dict) -> str:
    """``report.md``: the table of :func:`report`'s rows; ``meta["views"]`` is the number of
    views the accuracy was measured on."""
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
    accuracy = (
        f"accuracy on {meta.get('views')} views of `{meta.get('csv')}`, of each format's own "
        "prediction (no mirror averaging: `eval` and `infer` average each panorama's with its "
        "mirror's by default and read a little better; `eval --no-flip` matches this)"
        if meta.get("csv")
        else "no accuracy (no --csv)"
    )
    lines = [
        f"# Export report: {meta.get('source', '')}",
        "",
        f"Input {meta['input_size'][0]}x{meta['input_size'][1]} (WxH); latency = median of "
        f"{meta.get('runs')} runs after warm-up, batch 1; {accuracy}; diffs against the Keras "
        "model.",
        "",
        f"Latency measured on: {next((r['cpu'] for r in rows if r.get('cpu')), cpu_label())}.",
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
    scored = meta.get("views")
    if meta.get("csv") and isinstance(scored, int) and scored < FEW_VIEWS:
        which = "that view" if scored == 1 else "those views"
        lines += ["", f"Only {scored} view{'s' if scored != 1 else ''} scored: the accuracy "
                  f"columns describe {which}, not a dataset (a CSV with more views with "
                  f"depth, and `--views`, give a figure; {FEW_VIEWS} or more)."]  # fmt: skip
    return "\n".join(lines) + "\n"
