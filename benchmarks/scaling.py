"""Dataset-wide jobs on 1 and 2 local Dask workers (the scaling of :mod:`workbench.engine`), and a
written estimate of wall time for 300k views on N machines from the measured per-view time.

Jobs, on a dataset of synthetic scenes generated here (``--scenes`` × 6 views, 256×512 depth):
``covisibility`` at 128×256 (every ordered pair of views per scene), ``pack`` (TFRecord
shards), ``eda`` (the per-view table: every depth map read, and the report) and
``consistency`` (at its default 128 rows). Each is timed
in-process (``workers=1``, no engine), on 2 threads (``--workers 2``, the local engine of every
job: decoding, encoding and the kernels release the GIL) and, for covisibility and pack, on a
running ``LocalCluster`` of 2 processes reached with ``--scheduler`` (warmed by one run; its
start-up is reported apart).

The estimate takes the 1-worker time per view on this 2-core machine (the compiled kernels
already use both cores) and divides it by the number of such 2-core units (embarrassingly
parallel per scene; the measured 2-worker speed-up says how well that holds here; conservative
for jobs that use one core per worker). It adds nothing for storage bandwidth: a lower bound
for a cluster reading over a network.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import figure, write_result

VIEWS_300K = 300_000


_ARGS = {
    "covisibility": ["--height", "128", "--no-progress"],
    "pack": ["--shard-mb", "2", "--no-progress"],  # several shards to share out
    "eda": [],
    "consistency": ["--no-progress"],
}


def _run_job(cli, job: str, root: Path, out: Path, *engine: str) -> float:
    """Seconds of one ``workbench`` job; its output removed afterwards."""
    args = [job, str(root), "--out", str(out), *engine, *_ARGS[job]]
    t = time.perf_counter()
    code = cli(args)
    dt = time.perf_counter() - t
    if code != 0:
        raise SystemExit(f"scaling: {' '.join(args)} exited {code}")
    shutil.rmtree(out, ignore_errors=True)
    return dt


def _warm_cluster(cli, job: str, root: Path, tmp: Path, address: str) -> float:
    """Seconds on a warm 2-process Dask cluster reached by ``--scheduler`` (a first run imports
    and loads the kernels on the workers)."""
    _run_job(cli, job, root, tmp / f"{job}-warm", "--scheduler", address)
    return _run_job(cli, job, root, tmp / f"{job}-2", "--scheduler", address)


def main(scenes: int = 24, views: int = 6) -> dict:
    from workbench.cli import main as cli
    from workbench.data.synth import generate
    from workbench.engine import local_cluster

    figures, details = [], {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        root = tmp / "data"
        generate(root, scenes, views, seed=77, height=256, low_height=256, preset="rooms",
                 progress=False, workers=1)  # fmt: skip
        n_views = scenes * views
        t = time.perf_counter()
        cluster = local_cluster(2)
        details["local_cluster_start_s"] = time.perf_counter() - t
        for job in ("covisibility", "pack", "eda", "consistency"):
            one = _run_job(cli, job, root, tmp / f"{job}-1", "--workers", "1")
            two = _run_job(cli, job, root, tmp / f"{job}-2t", "--workers", "2")
            per_view = one / n_views
            figures += [
                figure(f"{job} of {n_views} views, 1 worker", one, "s"),
                figure(f"{job} of {n_views} views, 2 threads", two, "s"),
                figure(f"{job} speed-up, 2 threads / 1 worker", one / two, "x", None, "higher"),
            ]
            if job in ("covisibility", "pack"):
                warm = _warm_cluster(cli, job, root, tmp, cluster.scheduler_address)
                figures += [
                    figure(f"{job} of {n_views} views, warm 2-process Dask cluster", warm, "s"),
                    figure(f"{job} speed-up, warm cluster / 1 worker", one / warm, "x"),
                ]
            for machines, cores in ((1, 2), (1, 16), (8, 16), (32, 16)):
                hours = per_view * VIEWS_300K / (machines * cores / 2) / 3600
                details[f"{job}_300k_views_{machines}x{cores}cores_hours"] = round(hours, 3)
            details[f"{job}_s_per_view_1_worker"] = per_view
        cluster.close()
    write_result("scaling", figures, details)
    return details


if __name__ == "__main__":
    main()
