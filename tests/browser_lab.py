"""The browser tests' JupyterLab and Chromium, one of each for both browser modules
(``tests/test_browser.py``, ``tests/test_browser_linked.py``; ``tests/conftest.py`` registers
this module as a plugin and runs those two modules on one xdist worker): the lab serves a copy
of every notebook whose parameters point at a dataset other than the seed samples; each test
gets a fresh browser context and its kernels are stopped after it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).parents[1]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "artifacts" / "browser"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    env = dict(os.environ)
    for var in (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTERLAB_SETTINGS_DIR",
        "JUPYTERLAB_WORKSPACES_DIR",
    ):
        (tmp / var).mkdir()
        env[var] = str(tmp / var)
    # open3d pulls in dash, whose lab extension would ask for a rebuild: keep it disabled
    (tmp / "JUPYTER_CONFIG_DIR" / "labconfig").mkdir()
    (tmp / "JUPYTER_CONFIG_DIR" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@plotly/dash-jupyterlab": True}})
    )
    settings = tmp / "JUPYTERLAB_SETTINGS_DIR" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port, token = _free_port(), os.urandom(12).hex()
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "lab.log", "w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start: " + (tmp / "lab.log").read_text()[-2000:])
        yield base, token
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for both browser modules; each test gets a fresh context (no
    shared state)."""
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
