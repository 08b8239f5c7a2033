"""The AVX2 correspondence kernels (``correspondence_avx2.c``), compiled on first use.

The C source ships with the package; the shared library is built once per source, compiler
and machine with the system C compiler (``cc``; OpenMP for the row threads) into a cache
folder (``$WORKBENCH_NATIVE_CACHE``, else ``~/.cache/pano-depth-workbench``), atomically: a
library is written under a temporary name and renamed. Where there is no compiler, the CPU
lacks AVX2/FMA, or ``WORKBENCH_NATIVE=0``, :func:`correspond_library` is ``None`` and callers
use the numba kernel (same results within float rounding; the tests compare both with the numpy
reference).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["correspond_library", "native_enabled", "build_library"]

SOURCE = Path(__file__).with_name("correspondence_avx2.c")
FLAGS = ("-O3", "-shared", "-fPIC", "-fopenmp", "-fno-math-errno")
_P, _I, _F = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
# wb_correspond's arguments: see the C file's header for layouts
ARGTYPES = [_P, _I, _I, _P, _P, _I, _P, _P, _P, _I, _P, _F, _F, _P, _P, _P, _P, _P, _P, _P, _I]


def native_enabled() -> bool:
    """Whether the native kernel may be used (``WORKBENCH_NATIVE`` is not ``0``)."""
    return os.environ.get("WORKBENCH_NATIVE", "1") != "0"


def _cache_dir() -> Path:
    root = os.environ.get("WORKBENCH_NATIVE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "pano-depth-workbench"


def build_library(compiler: str = "cc") -> Path | None:
    """The compiled library's path, built now unless cached; ``None`` without the compiler,
    when compiling fails or the cache folder cannot be written."""
    cc = shutil.which(compiler)
    if cc is None:
        return None
    key = hashlib.sha1()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), cc.encode()):
        key.update(part)
    key.update(platform.machine().encode())
    lib = _cache_dir() / f"correspondence_avx2-{key.hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    try:
        lib.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".building-", suffix=".so.partial", dir=lib.parent)
    except OSError:
        return None
    os.close(fd)
    try:
        cmd = [cc, *FLAGS, "-o", tmp, str(SOURCE)]
        if subprocess.run(cmd, capture_output=True, timeout=300).returncode != 0:
            return None
        os.replace(tmp, lib)  # atomic: a reader sees no library or a whole one
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


@functools.lru_cache(maxsize=1)
def _load():
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    path = build_library()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))  # CDLL releases the GIL during calls
    except OSError:
        return None
    if not lib.wb_has_avx2():
        return None
    lib.wb_correspond.argtypes = ARGTYPES
    lib.wb_correspond.restype = None
    lib.wb_pad.argtypes = [_P, _P, _I, _I, _P, _P, _I]
    lib.wb_pad.restype = ctypes.c_longlong
    return lib


def correspond_library():
    """The loaded library (``wb_correspond``), or ``None`` where the numba kernel is used."""
    return _load() if native_enabled() else None


def main() -> int:
    """``python -m workbench.geometry.native``: build the library now (set-up runs this) and
    say which correspondence kernel this machine uses."""
    lib = _load()
    if lib is None:
        print("native correspondence kernel: not available here (numba kernel used)")
    else:
        print(f"native correspondence kernel: {lib._name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
