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
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def write_result(name: str, figures: list[dict], details: dict | None = None) -> Path:
    """Write ``results/<name>.json`` atomically and print the figures."""
    from workbench.io import write_text_atomic

    payload = {
        "benchmark": name,
        "machine": machine(),
        "figures": figures,
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
