"""Inference latency per exported format and thread count at 256x512, and achieved GFLOP/s as a
ratio to numpy float32 matmul GFLOP/s measured in the same run (goal >= 0.3 for the fastest)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import figure, median_time, write_result
from workbench.machine import cpu_facts


def numpy_gflops(n: int = 1024) -> float:
    a = np.random.default_rng(0).random((n, n), np.float32)
    b = np.random.default_rng(1).random((n, n), np.float32)
    t = median_time(lambda: a @ b, repeat=5)
    return 2 * n**3 / t / 1e9


def main(height: int = 256) -> dict:
    from workbench.configs import TrainConfig
    from workbench.deploy.export import export_tflite
    from workbench.deploy.report import model_flops
    from workbench.model.predictor import load, load_backend
    from workbench.model.saving import resize_model
    from workbench.model.unet import build_from_config
    from workbench.paths import DEFAULT_MODEL

    if (DEFAULT_MODEL / "model.keras").exists():
        model = resize_model(load_backend(DEFAULT_MODEL).model, height)
        source = "models/default"
    else:
        model, source = build_from_config(TrainConfig(height=height, model_width=12)), "untrained"
    flops = model_flops(model)
    x = np.random.default_rng(0).random((1, height, 2 * height, 3), np.float32)
    rep = [
        np.random.default_rng(i).random((1, height, 2 * height, 3), np.float32) for i in range(8)
    ]
    ref = numpy_gflops()
    figures, lat = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for q in ("none", "fp16", "int8"):
            path = export_tflite(model, Path(tmp) / f"{q}.tflite", q, rep)
            for threads in (1, 2):
                p = load(path, threads=threads)
                lat[(q, threads)] = median_time(lambda p=p: p.predict_batch(x), repeat=10, warmup=2)
        kp = load(DEFAULT_MODEL) if source != "untrained" else None
        if kp is not None and kp.height == height:
            lat[("keras", 2)] = median_time(lambda: kp.predict_batch(x), repeat=5, warmup=2)
    for (q, threads), t in sorted(lat.items()):
        figures.append(figure(f"latency {q} {threads}t", t * 1e3, "ms"))
    best = min(lat.values())
    # int8 convolutions gain most from VNNI/AMX dot products; AVX2 alone gains far less
    vnni = {"AVX512_VNNI", "AVX_VNNI", "AMX"} & set(cpu_facts()["features"])
    figures.append(
        figure(
            "int8 / fp32 latency (2t)",
            lat[("int8", 2)] / lat[("none", 2)],
            "x",
            goal=0.35 if vnni else 0.8,
        )
    )
    figures.append(
        figure(
            "fastest GFLOP/s / numpy matmul GFLOP/s",
            flops / best / 1e9 / ref,
            "x",
            goal=0.3,
            better="higher",
        )
    )
    write_result(
        "inference",
        figures,
        {
            "model": source,
            "gflop_per_image": flops / 1e9,
            "numpy_matmul_gflops": ref,
            "measured_at": time.strftime("%Y-%m-%d"),
        },
    )
    return {"figures": figures}


if __name__ == "__main__":
    main()
