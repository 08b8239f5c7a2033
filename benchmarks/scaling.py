"""Dataset-wide jobs on 1 and 2 local Dask workers (the scaling of :mod:`workbench.engine`), and a
written estimate of wall time for 300k views on N machines from the measured per-view time.

Jobs, on a dataset of synthetic scenes generated here (``--scenes`` × 6 views, 256×512 depth):
``covisibility`` at 128×256 (every ordered pair of views per scene) and ``pack`` (TFRecord
shards). Each is timed in-process (``workers=1``, no engine) and on a ``LocalCluster`` of 2
workers (cluster start-up included, as a user sees it). The estimate assumes per-view time
scales linearly with cores and machines (embarrassingly parallel per scene) and adds nothing
for storage bandwidth: a lower bound for a cluster reading over a network.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import figure, write_result

VIEWS_300K = 300_000


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(scenes: int = 12, views: int = 6) -> dict:
    from workbench.cli import main as cli
    from workbench.data.synth import generate

    figures, details = [], {}
    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "data"
        generate(root, scenes, views, seed=77, height=256, low_height=256, preset="rooms",
                 progress=False, workers=2)  # fmt: skip
        n_views = scenes * views
        for job in ("covisibility", "pack"):
            times = {}
            for workers in (1, 2):
                out = Path(d) / f"{job}-{workers}"
                extra = ["--height", "128"] if job == "covisibility" else []
                args = [job, str(root), "--out", str(out), "--workers", str(workers)]
                args += ["--no-progress", *extra]
                times[workers] = _timed(lambda args=args: cli(args))
                shutil.rmtree(out, ignore_errors=True)
            per_view = times[1] / n_views
            figures += [
                figure(f"{job} of {n_views} views, 1 worker", times[1], "s"),
                figure(f"{job} of {n_views} views, 2 local Dask workers", times[2], "s"),
                figure(f"{job} speed-up, 2 workers / 1", times[1] / times[2], "x", None, "higher"),
            ]
            for machines, cores in ((1, 2), (1, 16), (8, 16), (32, 16)):
                hours = per_view * VIEWS_300K / (machines * cores / 2) / 3600
                details[f"{job}_300k_views_{machines}x{cores}cores_hours"] = round(hours, 2)
            details[f"{job}_s_per_view_1_worker"] = per_view
    write_result("scaling", figures, details)
    return details


if __name__ == "__main__":
    main()
