"""Timing and result-writing helpers shared by the benchmarks."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def figure(
    name: str, value: float, unit: str, goal: float | None = None, better: str = "lower", **extra
) -> dict:
    """One benchmark figure; ``met`` compares ``value`` with ``goal`` (``better`` direction)."""
    met = None
    if goal is not None:
        met = bool(value <= goal) if better == "lower" else bool(value >= goal)
    return {
        "figure": name,
        "value": round(float(value), 4),
        "unit": unit,
        "goal": goal,
        "better": better,
        "met": met,
        **extra,
    }


def machine() -> dict:
    """The machine a result was measured on: the CPU model and the SIMD features that decide
    latency (AVX2, AVX-512F, AVX512_VNNI, AVX_VNNI, AMX; :func:`workbench.machine.cpu_facts`)."""
    from workbench.machine import cpu_facts

    facts = cpu_facts()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": facts["model"],
        "cpu_features": facts["features"],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def write_result(name: str, figures: list[dict], details: dict | None = None) -> Path:
    """Write ``results/<name>.json`` atomically and print the figures."""
    from workbench.io import write_text_atomic
    from workbench.machine import cpu_label

    cpu = cpu_label()  # beside every figure: a latency means little without its CPU
    payload = {
        "benchmark": name,
        "machine": machine(),
        "figures": [{**f, "cpu": cpu} for f in figures],
        "details": details or {},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = write_text_atomic(RESULTS / f"{name}.json", json.dumps(payload, indent=2) + "\n")
    for f in figures:
        goal = (
            ""
            if f["goal"] is None
            else f" (goal {'≤' if f['better'] == 'lower' else '≥'} "
            f"{f['goal']}: {'met' if f['met'] else 'NOT met'})"
        )
        print(f"{name}: {f['figure']} = {f['value']} {f['unit']}{goal}")
    return path
