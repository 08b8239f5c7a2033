"""Configs: one frozen dataclass per command, and the machinery that turns it into CLI flags,
notebook forms and the ``config.json`` saved beside a run.

- :mod:`workbench.configs.base`: :func:`option` (a field with its help and range),
  :func:`add_arguments` / :func:`from_namespace` (argparse), :func:`save_config` /
  :func:`load_config` / :func:`config_hash` (JSON).
- :mod:`workbench.configs.commands`: the dataclasses (``TrainConfig``, ``EvalConfig``, ...).

Light on purpose: no TensorFlow, no open3d, so ``workbench --help`` stays fast.
"""

from workbench.configs import base, commands
from workbench.configs.base import *  # noqa: F403  (re-exported: one import for users)
from workbench.configs.commands import *  # noqa: F403

__all__ = base.__all__ + commands.__all__
