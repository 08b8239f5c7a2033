"""Config dataclasses of every command (light: no TensorFlow, no open3d import here).

Each field's help is its documentation; the CLI flags (``workbench <verb> --help``), the notebook
widgets and the ``config.json`` saved next to a run's outputs are all generated from these.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config import option

__all__ = ["DemoConfig", "SynthConfig", "ValidateConfig", "SplitConfig", "parse_size"]


@dataclass(frozen=True)
class DemoConfig:
    """``workbench demo``: the main job end to end on ``data_samples/``."""

    out: str = option("outputs/demo", "output folder")
    data: str = option("data_samples/seed", "dataset root the demo starts from")
    height: int = option(256, "panorama height in pixels for the analytic scene (width is 2x)")


@dataclass(frozen=True)
class SynthConfig:
    """``workbench synth``: procedural indoor scenes in the seed layout (DESIGN §4)."""

    out: str = option("synthetic", "output dataset root")
    scenes: int = option(4, "number of scenes")
    views: int = option(4, "views per scene")
    seed: int = option(0, "random seed; scene i depends only on (seed, i)")
    size: str = option("512x256", "rendered panorama size WxH (pan/high and depth)")
    low_size: str = option("512x256", "pan/low size WxH (capped at --size)")
    preset: str = option("realistic", "scene generator preset", choices=("realistic", "easy"))
    layout: str = option("seed", "layout to write", choices=("seed", "realsee3d", "rgbd-folder"))
    workers: int = option(2, "parallel processes (files do not depend on it)")


@dataclass(frozen=True)
class ValidateConfig:
    """``workbench validate``: dataset health check. Exit 0 clean, 1 problems, 2 unusable."""

    root: str = option(None, "dataset root", positional=True)
    report: str = option("", "write every problem as a CSV row here")
    layout: str = option("", "layout (auto-detected when empty)")
    max_invalid: float = option(0.5, "largest acceptable fraction of invalid depth pixels")
    depth_scale: float = option(1000.0, "PNG depth units per metre (rgbd-folder layout)")
    workers: int = option(2, "threads")


@dataclass(frozen=True)
class SplitConfig:
    """``workbench split``: scene-level train/val CSVs, stable under added scenes."""

    root: str = option(None, "dataset root", positional=True)
    out: str = option("lists", "folder for train.csv, val.csv, split.json")
    val_fraction: float = option(0.1, "fraction of scenes in validation")
    exclude: str = option("", "health report CSV whose views are left out")
    layout: str = option("", "layout (auto-detected when empty)")
    depth_scale: float = option(1000.0, "PNG depth units per metre (rgbd-folder layout)")


def parse_size(text: str) -> tuple[int, int]:
    """``"512x256"`` → ``(width, height)`` with ``width == 2 * height``."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size must look like 512x256, got {text!r}") from None
    if w != 2 * h or h < 2:
        raise ValueError(f"size must be 2:1 (W == 2*H), got {text!r}")
    return w, h
