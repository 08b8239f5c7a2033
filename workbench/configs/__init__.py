"""Configs: one frozen dataclass per command, and the machinery that turns it into CLI flags,
notebook forms and the ``config.json`` saved beside a run.

- :mod:`workbench.configs.base`: :func:`option` (a field with its help and range),
  :func:`add_arguments` / :func:`from_namespace` (argparse), :func:`save_config` /
  :func:`load_config` / :func:`config_hash` (JSON).
- :mod:`workbench.configs.commands`: the dataclasses (``TrainConfig``, ``EvalConfig``, ...).

Light on purpose: no TensorFlow, no open3d, so ``workbench --help`` stays fast.
"""

from workbench.configs.base import (
    add_arguments,
    config_hash,
    field_help,
    from_namespace,
    load_config,
    option,
    save_config,
    to_dict,
)
from workbench.configs.commands import (
    MODEL_FIELDS,
    BiviewConfig,
    DataFlags,
    DemoConfig,
    EdaConfig,
    EvalConfig,
    ExportConfig,
    InferConfig,
    MatchConfig,
    PointCloudConfig,
    PoseConfig,
    SplitConfig,
    SynthConfig,
    TrainConfig,
    ValidateConfig,
    parse_size,
)

__all__ = [
    "option",
    "add_arguments",
    "from_namespace",
    "to_dict",
    "save_config",
    "load_config",
    "config_hash",
    "field_help",
    "DataFlags",
    "DemoConfig",
    "SynthConfig",
    "ValidateConfig",
    "SplitConfig",
    "TrainConfig",
    "EvalConfig",
    "InferConfig",
    "ExportConfig",
    "EdaConfig",
    "PointCloudConfig",
    "MatchConfig",
    "BiviewConfig",
    "PoseConfig",
    "MODEL_FIELDS",
    "parse_size",
]
