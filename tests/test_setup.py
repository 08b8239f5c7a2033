"""The set-up chooses TensorFlow for the CPU or for GPUs (make setup GPU=1), at one version."""

import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _extras(gpu: str) -> str:
    env = {**os.environ, "GPU": gpu}
    r = subprocess.run(
        ["bash", "scripts/setup.sh", "--print-extras"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return r.stdout.strip()


def test_gpu_setup_installs_tensorflow_with_cuda_at_the_cpu_version():
    assert _extras("0") == ".[dev,cpu]" and _extras("1") == ".[dev,gpu]"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    cpu, gpu = project["optional-dependencies"]["cpu"], project["optional-dependencies"]["gpu"]
    assert cpu == ["tensorflow-cpu>=2.21,<2.22"] and gpu == ["tensorflow[and-cuda]>=2.21,<2.22"]
    assert not [d for d in project["dependencies"] if d.startswith("tensorflow-cpu")]
    assert "GPU=$(GPU)" in (ROOT / "Makefile").read_text()


def test_lab_does_not_ask_for_a_rebuild():
    """make lab opens a clean lab: no source extension waiting for a build (dash's)."""
    import sys

    jupyter = Path(sys.executable).parent / "jupyter"
    r = subprocess.run(
        [str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120
    )
    text = r.stdout + r.stderr
    assert "jupyterlab-plotly" in text and "Build recommended" not in text, text[-800:]


def test_the_venv_holds_compiled_bytecode():
    """The set-up compiles bytecode at install time (uv does not unless asked): where
    PYTHONDONTWRITEBYTECODE is set, a venv without it recompiles TensorFlow's sources in every
    process that imports it."""
    import importlib.util

    for name in ("tensorflow", "keras", "open3d"):
        origin = importlib.util.find_spec(name).origin
        assert Path(importlib.util.cache_from_source(origin)).is_file(), name
