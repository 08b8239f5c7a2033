"""No TensorFlow start-up line on stderr from a verb or a notebook cell, on any CPU.

``TF_ENABLE_ONEDNN_OPTS=1`` makes every x86-64 CPU print what Intel CPUs print by default
(absl's ``All log messages before absl::InitializeLog()`` note and ``oneDNN custom operations
are on``), and ``TF_CPP_MIN_LOG_LEVEL`` is removed from the environment (the Makefile and
conftest set it), so the quiet comes from the package itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbench.machine import cpu_facts, cpu_label, filter_startup_log
from workbench.paths import REPO, SAMPLES

STARTUP = ("absl::InitializeLog", "oneDNN", "cpu_feature_guard", "port.cc", "I0000")


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "TF_ENABLE_ONEDNN_OPTS": "1"}


def _start(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_notebook_cell_is_quiet_where_plain_tensorflow_is_not():
    # the control shows the environment makes TensorFlow talk; both run at once
    control = _start("import tensorflow")
    cell = _start(
        "from workbench.model.predictor import load\n"
        "from workbench.paths import DEFAULT_MODEL\n"
        "print(type(load(DEFAULT_MODEL)).__name__)"
    )
    _, noisy = control.communicate(timeout=300)
    out, err = cell.communicate(timeout=300)
    assert any(s in noisy for s in STARTUP), noisy
    assert cell.returncode == 0, err
    assert err == "", err
    assert out.strip()


def test_tensorflow_verb_is_quiet(tmp_path):
    image = next(p for p in sorted(SAMPLES.rglob("panoImage_1600.jpg")))
    run = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "infer", str(image), "--out", str(tmp_path)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert not any(s in run.stderr for s in STARTUP), run.stderr
    assert "infer: 1 image with" in run.stdout


class TestFilterStartupLog:
    NOISE = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1796436967.575664    5368 port.cc:153] oneDNN custom operations are on.\n"
        "I0000 00:00:1796436968.674663    5368 cpu_feature_guard.cc:227] This TensorFlow binary\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild\n"
        "E0000 00:00:1796436968.1    5368 cuda_dnn.cc:8] Unable to register cuDNN factory\n"
    )

    def test_levels(self):
        assert filter_startup_log(self.NOISE, 0) == self.NOISE
        kept = filter_startup_log(self.NOISE, 2)
        assert (
            kept
            == "E0000 00:00:1796436968.1    5368 cuda_dnn.cc:8] Unable to register cuDNN factory\n"
        )
        assert filter_startup_log(self.NOISE, 3) == ""
        assert "absl" not in filter_startup_log(self.NOISE, 1)

    def test_other_lines_are_kept(self):
        text = "x.py:3: UserWarning: mine\n  warnings.warn('mine')\nplain\n"
        assert filter_startup_log(self.NOISE + text, 2).endswith(text)


def test_cpu_facts_from_cpuinfo(tmp_path: Path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
        "flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni avx_vnni amx_tile amx_int8\n"
        "processor\t: 1\nmodel name\t: ignored\n"
    )
    facts = cpu_facts.__wrapped__(str(info))
    assert facts["model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert facts["features"] == ["AVX2", "FMA", "AVX-512F", "AVX512_VNNI", "AVX_VNNI", "AMX"]
    assert cpu_label(facts).startswith("Intel(R) Xeon(R) Platinum 8480+ (")
    missing = cpu_facts.__wrapped__(str(tmp_path / "absent"))
    assert missing["features"] == [] and missing["model"]


def test_benchmark_results_name_the_cpu(tmp_path, monkeypatch):
    import json

    from benchmarks import common

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    path = common.write_result("x", [common.figure("latency int8 2t", 3.5, "ms")])
    payload = json.loads(path.read_text())
    assert payload["figures"][0]["cpu"] == cpu_label()
    assert payload["machine"]["cpu_model"] == cpu_facts()["model"]
    assert payload["machine"]["cpu_features"] == cpu_facts()["features"]
