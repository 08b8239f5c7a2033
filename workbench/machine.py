"""The machine the workbench runs on: its CPU (model and the SIMD features that decide int8 and
fp32 speed), and a quiet TensorFlow start-up on every CPU.

TensorFlow writes start-up lines from C++ while it is imported (``All log messages before
absl::InitializeLog() ...``, ``oneDNN custom operations are on ...``, ``cpu_feature_guard``
notes); some come from absl logging, which ignores ``TF_CPP_MIN_LOG_LEVEL``. The package
installs :func:`quiet_tensorflow` when it is imported, so the first ``import tensorflow`` (or
``import keras``) anywhere after ``import workbench`` filters those lines by
``TF_CPP_MIN_LOG_LEVEL`` (default 2: errors only; set it to 0 to see them all). Numerics are
untouched: oneDNN stays as TensorFlow chose (``TF_ENABLE_ONEDNN_OPTS`` is left alone).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import platform
import re
import sys
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path

__all__ = ["CPU_FEATURES", "cpu_facts", "cpu_label", "quiet_tensorflow", "filter_startup_log"]

# /proc/cpuinfo flag -> the name the reports use; the features that change int8/fp32 kernels
CPU_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512F",
    "avx512_vnni": "AVX512_VNNI",
    "avx_vnni": "AVX_VNNI",
    "amx_int8": "AMX",
}
# glog/absl record prefix: level letter, MMDD, time, thread id, file:line]
_RECORD = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
_ABSL_NOTE = "WARNING: All log messages before absl::InitializeLog() is called"
_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}


@cache
def cpu_facts(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """The CPU's model name, logical cores and the SIMD features of :data:`CPU_FEATURES` it has.

    >>> sorted(cpu_facts())
    ['cores', 'features', 'model']
    """
    model, flags = "", set()
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the model only, features unknown
        pass
    return {
        "model": model or platform.processor() or platform.machine() or "unknown",
        "cores": os.cpu_count() or 1,
        "features": [name for flag, name in CPU_FEATURES.items() if flag in flags],
    }


def cpu_label(facts: dict | None = None) -> str:
    """One line for reports: ``AMD EPYC (2 cores; AVX2 FMA)``."""
    facts = facts or cpu_facts()
    feats = " ".join(facts["features"]) or "no AVX2"
    return f"{facts['model']} ({facts['cores']} cores; {feats})"


def filter_startup_log(text: str, min_level: int) -> str:
    """``text`` without the glog/absl records below ``min_level`` (0 info, 1 warning, 2 error,
    3 fatal; continuation lines go with their record) and, from level 1, without absl's note that
    logging is not initialised. Every other line is kept as it was.

    >>> filter_startup_log("I0000 00:00:1.5  7 port.cc:153] oneDNN on\\n  more\\nkept\\n", 2)
    'kept\\n'
    """
    out, keep = [], True
    for line in text.splitlines(keepends=True):
        record = _RECORD.match(line)
        if record:
            keep = _LEVELS[record.group(1)] >= min_level
        elif line.startswith(_ABSL_NOTE):
            keep = min_level < 1
        elif not line.startswith((" ", "\t", "To enable the following")):
            keep = True  # a line of its own, not a continuation of a record
        if keep:
            out.append(line)
    return "".join(out)


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    except ValueError:
        return 2


@contextmanager
def _stderr_filtered():
    """File descriptor 2 (where C++ writes) captured, then written back filtered."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = filter_startup_log(tmp.read().decode(errors="replace"), _min_level())
            if text:
                os.write(2, text.encode())


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with stderr filtered, then steps aside."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        with _stderr_filtered():
            self.loader.exec_module(module)


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietFinder)]
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up lines on every CPU, before TensorFlow is imported.

    Sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the variable is set, and filters what C++ writes to
    stderr while ``tensorflow`` is first imported by that level (absl's lines included, which
    the variable alone does not reach). Call it before anything imports TensorFlow; importing
    :mod:`workbench` calls it. Does nothing once TensorFlow is imported; never imports it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())
