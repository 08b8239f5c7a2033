"""The ``workbench`` command line. ``--help`` imports neither TensorFlow nor open3d.

Every verb has a config dataclass in :mod:`workbench.configs` and a ``run(config) -> int`` function
imported only when the verb runs. This is the error boundary: anything raised below it (user
errors, OpenCV, numpy, Keras, TensorFlow, OS errors such as a full disk) prints one line,
``workbench: error: <file or --flag>: <what is wrong> (<what was expected>)``, and exits with
status 2; ``--debug`` shows the traceback instead. SIGTERM is handled as Ctrl-C ("interrupted",
exit 2): half-written temporaries are removed, and ``infer`` saves what it finished.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from workbench import configs
from workbench.configs import add_arguments, from_namespace
from workbench.errors import clear_interrupt, request_interrupt
from workbench.machine import quiet_tensorflow

# verb -> (config class name, "module:function", one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("DemoConfig", "workbench.demo:run", "run the end-to-end demo into outputs/demo"),
    "synth": ("SynthConfig", "workbench.data.synth:run", "generate procedural indoor scenes"),
    "validate": ("ValidateConfig", "workbench.data.validate:run", "dataset health check"),
    "split": ("SplitConfig", "workbench.data.splits:run", "scene-level train/val CSVs"),
    "eda": ("EdaConfig", "workbench.eda.report:run", "depth/orientation/motion EDA report"),
    "pointcloud": ("PointCloudConfig", "workbench.viz.plots3d:run", "fused scene point cloud"),
    "match": ("MatchConfig", "workbench.eda.match:run", "two-view dense correspondence"),
    "covisibility": (
        "CovisibilityConfig",
        "workbench.eda.covisibility:run",
        "every scene's covisibility matrix (Dask engine)",
    ),
    "consistency": (
        "ConsistencyConfig",
        "workbench.eda.consistency:run",
        "do covisible views' depths agree? bad poses, scales, changes (Dask engine)",
    ),
    "pack": (
        "PackConfig",
        "workbench.data.pack:run",
        "a dataset as TFRecord shards every verb reads (Dask engine)",
    ),
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
    "notebook": (
        "NotebookConfig",
        "workbench.notebook:run",
        "run a notebook headless on a dataset: executed .ipynb + HTML",
    ),
}


class _Parser(argparse.ArgumentParser):
    """argparse with the workbench's one-line errors (``workbench: error: --flag: ...``)."""

    def error(self, message: str):
        if message.startswith("argument "):
            message = message[len("argument ") :]
        verb = "" if self.prog == "workbench" else " " + self.prog.split()[-1]
        self.exit(2, f"workbench: error: {message} (see workbench{verb} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workbench",
        description="pano-depth workbench: monocular depth on 360° equirectangular panoramas.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    parser.verbs = {}  # the verbs' parsers: an unknown flag after a verb is that verb's error
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
        parser.verbs[verb] = p
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


def describe(e: BaseException) -> str:
    """One line for any exception raised below the CLI: the user's file or flag when known."""
    if isinstance(e, ValueError):  # WorkbenchError included: "<file or --flag>: <problem>"
        text = str(e).strip().splitlines()
        return text[0] if text else type(e).__name__
    if isinstance(e, OSError):
        name = getattr(e, "filename", None)
        reason = e.strerror or str(e) or type(e).__name__
        return f"{name}: {reason}" if name else reason
    if isinstance(e, MemoryError):
        return "out of memory (an input is larger than this machine can hold)"
    carried = str(e).split("WorkbenchError: ", 1)  # raised in a tf.data py_function: TF's text
    if len(carried) == 2 and carried[1].strip():
        return carried[1].strip().splitlines()[0]
    first = (str(e).strip().splitlines() or [""])[-1][:200]
    return f"{type(e).__name__}: {first} (rerun with --debug for the traceback)"


def join_signed_values(argv: list[str]) -> list[str]:
    """``--flag -inf`` as ``--flag=-inf``: argparse takes a value that starts with ``-`` but is
    not a plain negative number (``-inf``, ``-nan``, ``-1e-3``) for a flag, and the flag's own
    range check would never see it.

    >>> join_signed_values(["infer", "x", "--camera-height", "-inf", "--out", "-o"])
    ['infer', 'x', '--camera-height=-inf', '--out', '-o']
    """
    out: list[str] = []
    for tok in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _signed_number(tok):
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


def _signed_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return tok.startswith("-")


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()  # before any verb imports TensorFlow
    parser = build_parser()
    ns, extra = parser.parse_known_args(join_signed_values(sys.argv[1:] if argv is None else argv))
    if extra:
        (parser.verbs.get(ns.verb) or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not ns.verb:
        parser.print_help()
        return 0
    cls_name, target, _ = COMMANDS[ns.verb]
    debug = getattr(ns, "debug", False)
    previous = _terminate_as_interrupt()
    try:
        config = from_namespace(getattr(configs, cls_name), ns)
        if getattr(config, "scheduler", ""):
            from workbench.engine import check_scheduler

            check_scheduler(config.scheduler)  # before the verb makes its output folder
        module, func = target.split(":")
        return int(getattr(importlib.import_module(module), func)(config) or 0)
    except KeyboardInterrupt:
        return _error("interrupted")
    except BrokenPipeError:  # `workbench ... | head`: the reader left; the job's files stand
        _quiet_stdout()
        return 1
    except Exception as e:  # noqa: BLE001  (the error boundary: one line, exit 2)
        if debug:
            raise
        return _error(describe(e))
    finally:
        clear_interrupt()
        for sig, handler in (previous or {}).items():
            signal.signal(sig, handler)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: Python's flush at exit would raise on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real descriptor (a notebook, a test's capture)
        pass


def _interrupt(signum, frame) -> None:
    request_interrupt()  # per-file error handlers re-raise what C code made of it
    raise KeyboardInterrupt


def _terminate_as_interrupt():
    """SIGTERM (``kill``, a scheduler's time limit) is handled as Ctrl-C: temporaries are
    removed and ``infer`` saves what it finished; both mark the interrupt
    (:func:`~workbench.errors.request_interrupt`). Returns the previous handlers by signal
    (``None`` off the main thread, where signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}


if __name__ == "__main__":
    sys.exit(main())
