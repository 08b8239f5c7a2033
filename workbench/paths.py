"""Where the repository's own files are (samples, default model, outputs), and where a notebook
reads and writes: the user's dataset (``DATA``) and output folder (``OUT``), never inside the
repository or the installed package unless asked. Nothing here depends on the current
directory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "REPO",
    "SAMPLES",
    "DEFAULT_MODEL",
    "OUTPUTS",
    "USER_OUTPUTS",
    "data_folder",
    "output_folder",
    "confine",
]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"
DEFAULT_MODEL = REPO / "models" / "default"
OUTPUTS = REPO / "outputs"  # the demo's outputs (make demo), ignored by git
USER_OUTPUTS = Path.home() / "workbench-outputs"


def data_folder(value: str | os.PathLike = "", sample: str = "seed") -> Path:
    """The dataset a notebook opens: ``value`` when given, else ``$WORKBENCH_DATA``, else the
    bundled sample ``data_samples/<sample>``. ``~`` is expanded.

    >>> data_folder("/data/mine", "seed")
    PosixPath('/data/mine')
    """
    value = str(value or os.environ.get("WORKBENCH_DATA", "") or "")
    return Path(value).expanduser() if value else SAMPLES / sample


def output_folder(value: str | os.PathLike = "", name: str = "notebook") -> Path:
    """Where a notebook writes, created: ``value`` when given, else ``$WORKBENCH_OUT``, else
    ``~/workbench-outputs/<name>`` (outside the repository and the installed package).

    Raises:
        OSError: when the folder cannot be created.
    """
    value = str(value or os.environ.get("WORKBENCH_OUT", "") or "")
    out = Path(value).expanduser() if value else USER_OUTPUTS / name
    out.mkdir(parents=True, exist_ok=True)
    return out


def confine(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """The path ``rel`` of an index names under ``root``, resolved (symbolic links followed),
    checked to stay inside ``root`` (resolved): every index the project reads (split CSVs, a
    pack's ``index.csv``, RealSee3D's ``viewpoints.txt``) goes through it.

    Raises:
        ValueError: saying why not, starting with ``rel``: an absolute path, a path that climbs
            out with ``..``, a symbolic link leading outside, a symbolic-link loop.

    >>> confine("/data", "a/../b.jpg").as_posix()
    '/data/b.jpg'
    """
    root = Path(root).resolve()
    if Path(rel).is_absolute():
        raise ValueError(f"{str(rel)!r} points outside the dataset root (an absolute path)")
    try:
        full = (root / rel).resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a loop, 3.13 OSError
        raise ValueError(f"{str(rel)!r} is a symbolic-link loop") from None
    if not full.is_relative_to(root):
        lexical = Path(os.path.normpath(root / rel))
        how = "climbs out with .." if not lexical.is_relative_to(root) else "a symbolic link"
        raise ValueError(f"{str(rel)!r} points outside the dataset root ({how})")
    return full
