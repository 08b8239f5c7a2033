"""Dataset-wide jobs on a cluster engine (Dask ``distributed``), or in this process.

:func:`iter_tasks` maps a function over items (scenes, views, chunks) and yields every item's
result or error as it completes, so one broken item never stops a job and the caller can save
progress as it goes; :func:`run_tasks` collects them in item order. Where the work runs:

- ``scheduler`` (``tcp://host:8786``): a running Dask cluster (SLURM or Kubernetes clusters
  come from ``dask-jobqueue`` / ``dask-kubernetes`` and are used the same way);
- otherwise ``workers <= 1``: the plain loop in this process (no engine at all);
- otherwise ``local="threads"``: a thread pool in this process (for work that releases the
  GIL: image decoding, compiled kernels), or ``local="processes"``: a Dask ``LocalCluster`` of
  ``workers`` single-threaded processes started for the job (its dashboard link is printed).
  On a cluster of your own, give each worker as many ``NUMBA_NUM_THREADS`` as it has threads.

The function must be importable (a module-level function or a ``functools.partial`` of one)
and its items picklable, so the same call runs on every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed as threads_completed
from typing import Any

from tqdm.auto import tqdm

from workbench.errors import WorkbenchError, raise_if_interrupted

__all__ = ["iter_tasks", "run_tasks", "engine_name", "local_cluster", "check_scheduler"]


def engine_name(workers: int, scheduler: str = "", local: str = "processes") -> str:
    """Where :func:`iter_tasks` runs for these settings: ``dask scheduler``, ``in process``,
    ``threads`` or ``dask local``."""
    if scheduler:
        return f"dask scheduler {scheduler}"
    if workers <= 1:
        return "in process"
    return "threads" if local == "threads" else "dask local"


def _safe(fn, item):
    try:
        return fn(item)
    except Exception as e:  # noqa: BLE001  (reported per item by the caller)
        raise_if_interrupted(e)  # unless it is Ctrl-C / SIGTERM in disguise
        return e


def _iter_threads(fn, items, workers: int) -> Iterator[tuple[Any, Any]]:
    with ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(_safe, fn, item): i for i, item in enumerate(items)}
        for fut in threads_completed(futures):
            yield futures[fut], fut.result()


# each local worker process runs one task at a time on one core: the compiled kernels
# (numba), OpenMP and OpenCV would otherwise each start a thread per core in every worker
_ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"}


def local_cluster(workers: int):
    """A Dask ``LocalCluster`` of ``workers`` single-threaded processes (dashboard on a free
    port); the caller closes it."""
    from dask.distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=40,
        env=_ONE_THREAD,
    )


def check_scheduler(scheduler: str) -> None:
    """Open and close a TCP connection to a ``tcp://host:port`` scheduler address before any
    work (a refused port answers at once, where Dask retries for 10 s); other address forms
    are left to Dask. Raises :class:`WorkbenchError` naming ``--scheduler``."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
    try:
        port = url.port
        if url.scheme == "tcp" and url.hostname and port:
            socket.create_connection((url.hostname, port), timeout=10).close()
    except ValueError:
        raise WorkbenchError(f"port out of range 0-65535 in {scheduler}", "--scheduler") from None
    except OSError as e:
        raise _unreachable(scheduler, e) from None


def _unreachable(scheduler: str, e: Exception) -> WorkbenchError:
    """The one line for a scheduler that cannot be reached (the probe's or Dask's error)."""
    return WorkbenchError(
        f"cannot reach the Dask scheduler {scheduler} ({type(e).__name__})", "--scheduler"
    )


def _iter_dask(fn, items, workers: int, scheduler: str, desc: str, progress: bool):
    from dask.distributed import Client, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise _unreachable(scheduler, e) from None
    else:
        cluster = local_cluster(workers)
        client = Client(cluster)
    try:
        if progress:
            print(f"{desc}: dask dashboard {client.dashboard_link}")
        futures = client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for fut in as_completed(futures):
            yield index[fut.key], (fut.exception() if fut.status == "error" else fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _iter_indexed(fn, items, workers, scheduler, desc, progress, local):
    """``(index, result)`` pairs in completion order, with a progress bar."""
    if local not in ("threads", "processes"):
        raise ValueError(f"local must be threads or processes, got {local!r}")
    if scheduler:
        check_scheduler(scheduler)
    if scheduler or (workers > 1 and local == "processes"):
        it = _iter_dask(fn, items, workers, scheduler, desc, progress)
    elif workers > 1:
        it = _iter_threads(fn, items, workers)
    else:
        it = ((i, _safe(fn, item)) for i, item in enumerate(items))
    with tqdm(total=len(items), desc=desc, disable=not progress) as bar:
        for pair in it:
            bar.update(1)
            yield pair


def iter_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int = 1,
    scheduler: str = "",
    desc: str = "tasks",
    progress: bool = True,
    local: str = "processes",
) -> Iterator[tuple[Any, Any]]:
    """``(item, fn(item) or the exception it raised)`` for every item, in completion order
    (item order in the plain loop)."""
    items = list(items)
    for i, result in _iter_indexed(fn, items, workers, scheduler, desc, progress, local):
        yield items[i], result


def run_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int = 1,
    scheduler: str = "",
    desc: str = "tasks",
    progress: bool = True,
    local: str = "processes",
) -> list[tuple[Any, Any]]:
    """``[(item, fn(item) or the exception it raised)]`` in the order of ``items``."""
    items = list(items)
    results: list[Any] = [None] * len(items)
    for i, result in _iter_indexed(fn, items, workers, scheduler, desc, progress, local):
        results[i] = result
    return list(zip(items, results, strict=True))
