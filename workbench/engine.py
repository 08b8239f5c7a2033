"""Dataset-wide jobs on a cluster engine (Dask ``distributed``), or in this process.

:func:`run_tasks` maps a function over items (scenes, views) and returns every item's result or
error, so one broken item never stops a job. ``workers <= 1`` without a scheduler runs the plain
loop in this process (no engine at all); otherwise a ``LocalCluster`` of ``workers`` processes
is started for the job (its dashboard link is printed), or ``scheduler`` (``tcp://host:8786``)
connects to a running cluster — SLURM or Kubernetes clusters come from ``dask-jobqueue`` /
``dask-kubernetes`` and are used the same way. The function must be importable (a module-level
function) and its items picklable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

__all__ = ["run_tasks"]


def _plain(fn, items, desc: str, progress: bool) -> list[tuple[Any, Any]]:
    out = []
    for item in tqdm(items, desc=desc, disable=not progress):
        try:
            out.append((item, fn(item)))
        except Exception as e:  # noqa: BLE001  (reported per item by the caller)
            out.append((item, e))
    return out


def run_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int = 1,
    scheduler: str = "",
    desc: str = "tasks",
    progress: bool = True,
) -> list[tuple[Any, Any]]:
    """``[(item, fn(item) or the exception it raised)]`` in the order of ``items``."""
    if not items:
        return []
    if workers <= 1 and not scheduler:
        return _plain(fn, items, desc, progress)
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        )
        client = Client(cluster)
    try:
        if progress:
            print(f"{desc}: dask dashboard {client.dashboard_link}")
        futures = client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        bar = tqdm(total=len(futures), desc=desc, disable=not progress)
        for fut in as_completed(futures):
            i = index[fut.key]
            results[i] = fut.exception() if fut.status == "error" else fut.result()
            bar.update(1)
        bar.close()
        return list(zip(items, results, strict=True))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
