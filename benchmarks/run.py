"""``make bench``: run every benchmark and print one table (figure, value, goal, met).

Writes ``benchmarks/results/summary.json``. Benchmarks never fail the test suite; a benchmark
that crashes is reported in the table and the others still run.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback

from benchmarks.common import RESULTS, machine

BENCHMARKS = [
    "geometry",
    "data",
    "correspondence",
    "eda",
    "training",
    "inference",
    "viewer",
    "scaling",
    "consistency",
    "upsampling",
    "scale_cues",
]


def main(names: list[str] | None = None) -> int:
    """Run ``names`` (default: all). ``summary.json`` always holds every benchmark: those not
    run this time keep the figures of their latest ``results/<name>.json``."""
    rows = []
    run = names or BENCHMARKS
    for name in run:
        print(f"== benchmark {name}", flush=True)
        try:
            importlib.import_module(f"benchmarks.{name}").main()
            rows += [
                {"benchmark": name, **f}
                for f in json.loads((RESULTS / f"{name}.json").read_text())["figures"]
            ]
        except Exception:  # noqa: BLE001 - a broken benchmark is reported, not fatal
            traceback.print_exc()
            rows.append(
                {
                    "benchmark": name,
                    "figure": "FAILED",
                    "value": None,
                    "unit": "",
                    "goal": None,
                    "met": False,
                }
            )
    from workbench.io import write_text_atomic

    for name in BENCHMARKS:
        path = RESULTS / f"{name}.json"
        if name not in run and path.exists():
            rows += [{"benchmark": name, **f} for f in json.loads(path.read_text())["figures"]]
    rows.sort(
        key=lambda r: BENCHMARKS.index(r["benchmark"]) if r["benchmark"] in BENCHMARKS else 99
    )

    write_text_atomic(
        RESULTS / "summary.json", json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n"
    )
    print()
    print("| benchmark | figure | value | goal | met |\n|---|---|---|---|---|")
    for r in rows:
        goal = (
            "" if r["goal"] is None else f"{'≤' if r.get('better') == 'lower' else '≥'} {r['goal']}"
        )
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        print(f"| {r['benchmark']} | {r['figure']} | {r['value']} {r['unit']} | {goal} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or None))
