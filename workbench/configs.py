"""Config dataclasses of every command (light: no TensorFlow, no open3d import here).

Each field's help is its documentation; the CLI flags (``workbench <verb> --help``), the notebook
widgets and the ``config.json`` saved next to a run's outputs are all generated from these.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config import option

__all__ = ["DemoConfig"]


@dataclass(frozen=True)
class DemoConfig:
    """``workbench demo``: the main job end to end on ``data_samples/``."""

    out: str = option("outputs/demo", "output folder")
    height: int = option(256, "panorama height in pixels for the analytic scene (width is 2x)")
