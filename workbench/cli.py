"""The ``workbench`` command line. ``--help`` imports neither TensorFlow nor open3d.

Every verb has a config dataclass in :mod:`workbench.configs` and a ``run(config) -> int`` function
imported only when the verb runs. User errors print one line,
``workbench: error: <file>: <what is wrong> (<what was expected>)``, and exit with status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from workbench import configs
from workbench.configs import add_arguments, from_namespace

# verb -> (config class name, "module:function", one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("DemoConfig", "workbench.demo:run", "run the end-to-end demo into outputs/demo"),
    "synth": ("SynthConfig", "workbench.data.synth:run", "generate procedural indoor scenes"),
    "validate": ("ValidateConfig", "workbench.data.validate:run", "dataset health check"),
    "split": ("SplitConfig", "workbench.data.splits:run", "scene-level train/val CSVs"),
    "eda": ("EdaConfig", "workbench.eda.report:run", "depth/orientation/motion EDA report"),
    "pointcloud": ("PointCloudConfig", "workbench.viz.plots3d:run", "fused scene point cloud"),
    "match": ("MatchConfig", "workbench.eda.match:run", "two-view dense correspondence"),
    "train": ("TrainConfig", "workbench.training.supervised:run", "train the depth model"),
    "train-biview": (
        "BiviewConfig",
        "workbench.training.biview:run",
        "self-supervised two-view depth",
    ),
    "train-pose": (
        "PoseConfig",
        "workbench.training.pose:run",
        "relative-pose network vs a baseline",
    ),
    "eval": (
        "EvalConfig",
        "workbench.training.evaluate:run",
        "depth metrics of a model on a split CSV",
    ),
    "export": (
        "ExportConfig",
        "workbench.deploy.export:run",
        "SavedModel, .pb and .tflite exports",
    ),
    "infer": ("InferConfig", "workbench.deploy.infer:run", "depth for your own panoramas"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="pano-depth workbench: monocular depth on 360° equirectangular panoramas.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (cls_name, _, help_) in COMMANDS.items():
        cls = getattr(configs, cls_name)
        p = sub.add_parser(verb, help=help_, description=(cls.__doc__ or help_).strip())
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks on errors",
        )
        add_arguments(p, cls)
    return parser


def _close_progress_bars() -> None:
    """Close open tqdm bars so the error starts on its own line."""
    tqdm_mod = sys.modules.get("tqdm")
    if tqdm_mod is not None:
        for bar in list(getattr(tqdm_mod.tqdm, "_instances", ())):
            bar.close()


def _error(msg: str) -> int:
    _close_progress_bars()
    print(f"workbench: error: {msg}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported
    parser = build_parser()
    ns = parser.parse_args(argv)
    if not ns.verb:
        parser.print_help()
        return 0
    cls_name, target, _ = COMMANDS[ns.verb]
    debug = getattr(ns, "debug", False)
    try:
        config = from_namespace(getattr(configs, cls_name), ns)
        module, func = target.split(":")
        return int(getattr(importlib.import_module(module), func)(config) or 0)
    except KeyboardInterrupt:
        return _error("interrupted")
    except (
        ValueError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    ) as e:
        if debug:
            raise
        from workbench.errors import WorkbenchError

        if isinstance(e, WorkbenchError) or isinstance(e, ValueError):
            return _error(str(e))
        name = getattr(e, "filename", None)
        return _error(f"{name}: {e.strerror}" if name else str(e))


if __name__ == "__main__":
    sys.exit(main())
