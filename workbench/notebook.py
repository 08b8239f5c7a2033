"""``workbench notebook NAME --data ROOT --out DIR``: run one of the workbench's notebooks
headless on any dataset, into an executed notebook and an HTML page of its outputs.

Every notebook starts with a cell tagged ``parameters`` (papermill's convention) that sets
``DATA``, ``OUT`` and ``ENCODING``. The runner inserts a cell tagged ``injected-parameters``
after it with the values given (as papermill does, so ``papermill NB.ipynb out.ipynb -p DATA
ROOT`` works too), executes the notebook with nbclient in ``--out`` (each cell within
``--timeout`` seconds) and writes ``<out>/<name>.ipynb`` and ``<out>/<name>.html`` atomically,
also when a cell fails (then the failing cell is named, on stderr and at the top of the page,
and the exit status is 1). The shipped notebooks are stored executed on their samples: every
output is cleared before the run, so a page shows only what ran on the dataset given.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from workbench.errors import WorkbenchError, raise_if_interrupted
from workbench.io import (
    check_output_owner,
    check_outside,
    claim_output_folder,
    write_text_atomic,
)
from workbench.paths import REPO, output_folder

__all__ = [
    "NOTEBOOKS",
    "find_notebook",
    "inject_parameters",
    "clear_outputs",
    "run_notebook",
    "run",
]

NOTEBOOKS = REPO / "notebooks"
# figures as self-contained HTML as well as plotly JSON, so the HTML page shows them
KERNEL_ENV = {"PLOTLY_RENDERER": "notebook", "TF_CPP_MIN_LOG_LEVEL": "3"}


def find_notebook(name: str) -> Path:
    """The notebook ``name`` names: ``02``, ``02_depth_pose_eda`` or a path to a ``.ipynb``.

    Raises:
        WorkbenchError: naming ``NAME`` and listing the notebooks when none matches.
    """
    if name.endswith(".ipynb"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise WorkbenchError("notebook not found", path)
        return path
    found = sorted(NOTEBOOKS.glob(f"{name}*.ipynb")) if name else []
    if len(found) != 1:
        known = ", ".join(p.stem for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
        raise WorkbenchError(f"no notebook {name!r} (expected one of {known})", "name")
    return found[0]


def inject_parameters(nb, params: dict) -> None:
    """Insert a cell setting ``params`` after the cell tagged ``parameters`` (papermill's
    convention; at the top when there is none), replacing an earlier injected cell."""
    import nbformat

    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    at = next(
        (i + 1 for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), 0
    )
    src = "# Parameters set by `workbench notebook`\n" + "".join(
        f"{k} = {v!r}\n" for k, v in params.items()
    )
    cell = nbformat.v4.new_code_cell(src.rstrip("\n"))
    cell.metadata["tags"] = ["injected-parameters"]
    cell["id"] = "injected-parameters"
    nb.cells.insert(at, cell)


def clear_outputs(nb) -> None:
    """Drop every code cell's outputs and execution count (and the stored widget state): a
    notebook is shipped executed on its sample, and a run that stops at a failing cell must not
    show the sample's results below it as if they were the dataset's."""
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nb.metadata.pop("widgets", None)


def _failed_cell(nb) -> str:
    """``In [N] failed: Error: message`` for the first cell with an error output (``N`` its
    execution count, as the HTML page numbers it)."""
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                n, what = c.get("execution_count"), f"{o.get('ename')}: {o.get('evalue')}"
                return f"In [{n}] failed: {what}"
    return "a cell failed"


def _stopped_banner(nb, failed: str) -> None:
    """A markdown cell at the top of a run that stopped: which cell failed and that the cells
    below it did not run (they are left empty)."""
    import nbformat

    cell = nbformat.v4.new_markdown_cell(
        f"**This run stopped**: {failed}. The cells below it did not run and are empty."
    )
    cell["id"] = "workbench-stopped"
    nb.cells.insert(0, cell)


def run_notebook(path: Path, out: Path, params: dict, timeout: int = 600) -> tuple[Path, bool]:
    """Execute ``path`` with ``params`` injected, in ``out``; write ``<stem>.ipynb`` and
    ``<stem>.html`` there. Returns ``(html path, whether every cell ran)``."""
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    clear_outputs(nb)
    inject_parameters(nb, params)
    ok = True
    with tempfile.TemporaryDirectory(prefix="workbench-kernel-") as sockets:
        # local sockets (no TCP port open), removed with the folder; the kernel's own start-up
        # and shutdown chatter is not the notebook's output (cell errors come back as outputs)
        km = KernelManager(kernel_name="python3", transport="ipc", ip=f"{sockets}/k")
        client = NotebookClient(
            nb, km=km, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": str(out)}},
        )  # fmt: skip
        try:
            client.execute(env={**os.environ, **KERNEL_ENV}, stderr=subprocess.DEVNULL)
        except (CellExecutionError, CellTimeoutError, DeadKernelError):
            ok = False
        except Exception as e:  # Ctrl-C or SIGTERM: nbclient's own handler stops the kernel,
            # and the cell under way fails with an AssertionError (kc is None)
            if getattr(client, "_async_cleanup_kernel_future", None) is not None:
                raise KeyboardInterrupt from e
            raise_if_interrupted(e)
            raise
        finally:  # nbclient leaves a kernel manager it was given running: stop the kernel
            if km.has_kernel:
                km.shutdown_kernel(now=True)
    stem = path.stem
    failed = "" if ok else _failed_cell(nb)
    if failed:
        _stopped_banner(nb, failed)
    write_text_atomic(out / f"{stem}.ipynb", nbformat.writes(nb))
    html, _ = HTMLExporter().from_notebook_node(nb)
    write_text_atomic(out / f"{stem}.html", html)
    if failed:
        print(f"notebook {stem}: {failed}", file=sys.stderr)
    return out / f"{stem}.html", ok


def run(config) -> int:
    """The ``notebook`` verb: exit 0 when every cell ran, 1 when one failed, 2 on bad input."""
    from workbench.data.dataset import ENCODINGS

    path = find_notebook(config.name)
    if config.encoding and config.encoding not in ENCODINGS:
        known = ", ".join(ENCODINGS)
        raise WorkbenchError(f"unknown encoding {config.encoding!r} (one of {known})", "--encoding")
    data = ""
    if config.data:
        data = str(Path(config.data).expanduser().resolve())
        if not Path(data).is_dir():
            raise WorkbenchError(f"dataset root is not a folder: {data}", "--data")
        if "open_dataset(data_folder" in path.read_text(encoding="utf-8"):
            from workbench.data.dataset import describe_dataset

            # a folder it cannot open: one line now, not a traceback in the page
            describe_dataset(data, encoding=config.encoding)
    given = os.path.abspath(os.path.expanduser(config.out)) if config.out else ""
    if given:  # the default folder (~/workbench-outputs/<name>) is the workbench's own
        check_outside(given, "--out", data, "the dataset root")
        check_output_owner(given, "notebook", source=data)  # another dataset's: refused
    try:
        out = output_folder(given, path.stem)
    except OSError as e:
        raise WorkbenchError(
            f"cannot create the output folder {config.out} ({e.strerror})", "--out"
        ) from None
    if given:
        claim_output_folder(out, "notebook", source=data)
    params = {"DATA": data, "OUT": str(out), "ENCODING": config.encoding}
    html, ok = run_notebook(path, out, params, config.timeout)
    on = data or os.environ.get("WORKBENCH_DATA", "") or "its bundled sample"
    print(f"notebook {path.stem} on {on}: {html}")
    return 0 if ok else 1
