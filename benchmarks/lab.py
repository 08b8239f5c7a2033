"""JupyterLab for the browser benchmarks: started on a free port with its own settings folders
(no news prompt, no rebuild prompt, every cell laid out), and a notebook opened and run in a
Playwright page."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["open_and_run_all", "running_lab"]

_DIRS = (
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_RUNTIME_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTERLAB_SETTINGS_DIR",
    "JUPYTERLAB_WORKSPACES_DIR",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_env(tmp: Path) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for var in _DIRS:
        (tmp / var).mkdir(exist_ok=True)
        env[var] = str(tmp / var)
    labconfig = tmp / "JUPYTER_CONFIG_DIR" / "labconfig"
    labconfig.mkdir(exist_ok=True)  # open3d's dash extension would ask for a rebuild
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@plotly/dash-jupyterlab": True}})
    )
    settings = tmp / "JUPYTERLAB_SETTINGS_DIR" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # every cell attached and laid out (the default, content-visibility, skips drawing cells
    # out of view: a figure below the fold may not be drawn until scrolled to, so a check or
    # a timing would depend on the scroll position)
    tracker = tmp / "JUPYTERLAB_SETTINGS_DIR" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    return env


@contextlib.contextmanager
def running_lab(root: Path, tmp: Path):
    """Yield ``(base_url, token)`` of a JupyterLab serving ``root``; stopped on exit."""
    port, token = _free_port(), os.urandom(12).hex()
    log = open(tmp / "lab.log", "w")  # noqa: SIM115  (closed below, after the lab)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=_lab_env(tmp), stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start: " + (tmp / "lab.log").read_text()[-2000:])
        yield base, token
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def open_and_run_all(page, base: str, token: str, name: str, timeout_ms: int = 300_000) -> None:
    """Open ``name.ipynb``, wait for an idle kernel, run all cells and wait (up to
    ``timeout_ms``) until each has run."""
    # open3d pulls in dash, whose lab extension may suggest a rebuild at any moment of start-up
    # (its page config disables it; should the prompt show anyway): decline it before any action
    page.add_locator_handler(
        page.get_by_text("Build Recommended"),
        lambda _: page.get_by_role("button", name="Cancel").click(),
    )
    page.goto(f"{base}/lab/tree/{name}.ipynb?token={token}&reset")
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=90_000)
    idle = page.get_by_text("Python 3 (ipykernel) | Idle")
    for _ in range(180):
        if idle.count():
            break
        with contextlib.suppress(Exception):  # the status bar follows the focused notebook
            page.locator(".jp-NotebookPanel .jp-Cell").first.click(timeout=3000)
        page.wait_for_timeout(500)
    idle.wait_for(timeout=30_000)
    page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    page.wait_for_function(
        """() => {
            const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent));
        }""",
        timeout=timeout_ms,
    )
