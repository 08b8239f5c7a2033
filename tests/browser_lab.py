"""The browser tests' JupyterLab (one for both browser modules, ``tests/test_browser.py`` and
``tests/test_browser_linked.py``) and Chromium (one per module); ``tests/conftest.py`` registers
this module as a plugin and runs those two modules on one xdist worker. The lab serves a copy
of every notebook whose parameters point at a dataset other than the seed samples; each test
gets a fresh browser context and its kernels are stopped after it."""

import json
import urllib.request
from pathlib import Path

import nbformat
import pytest

from benchmarks.lab import running_lab

REPO = Path(__file__).parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "artifacts" / "browser"


NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# each notebook runs on a dataset other than the seed samples (tests/test_notebook_runner.py
# runs them headless on every kind)
BROWSER_DATA = {
    "01": "realsee3d", "02": "realsee3d-synthetic", "03": "pose-only", "04": "stanford2d3d",
    "05": "realsee3d", "06": "shards", "07": "rgbd-folder", "08": "realsee3d-synthetic",
    "09": "rgbd-folder",
}  # fmt: skip


def _browser_datasets(tmp: Path) -> dict[str, Path]:
    from workbench.cli import main

    shards = tmp / "shards"
    samples = REPO / "data_samples"
    args = ["pack", str(samples / "stanford2d3d"), "--out", str(shards), "--workers", "1"]
    assert main(args) == 0
    return {k: shards if v == "shards" else samples / v for k, v in BROWSER_DATA.items()}


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """One JupyterLab for both browser modules (every notebook, outputs cleared; they run on
    one xdist worker, ``tests/conftest.py``); a kernel per test."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    data = _browser_datasets(tmp)
    for name in NOTEBOOKS:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", 4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            if "parameters" in cell.metadata.get("tags", []):  # the user's own data, by parameters
                cell.source = cell.source.replace('DATA = ""', f"DATA = {str(data[name[:2]])!r}")
                cell.source = cell.source.replace('OUT = ""', f"OUT = {str(tmp / name)!r}")
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, root / f"{name}.ipynb")
    with running_lab(root, tmp) as (base, token):  # the browser benchmarks' lab too
        yield base, token


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium per browser module (its GPU process, software WebGL, starts fresh
    after the 3D viewer's million points); each test gets a fresh context (no shared state)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # WebGL (the k3d viewer) on the CPU: SwiftShader must be allowed explicitly
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--enable-unsafe-swiftshader", "--use-angle=swiftshader"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(lab, chromium):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
        _shut_down_kernels(*lab)


def _shut_down_kernels(base: str, token: str) -> None:
    """Each test's notebook kernel stopped after it (the lab serves the whole module: kernels
    left running hold memory and CPU through the later tests)."""
    for kind in ("sessions", "kernels"):  # a session's deletion stops its kernel
        with urllib.request.urlopen(f"{base}/api/{kind}?token={token}", timeout=10) as r:
            items = json.load(r)
        for item in items:
            url = f"{base}/api/{kind}/{item['id']}?token={token}"
            try:
                urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30)
            except OSError:
                pass  # already gone
