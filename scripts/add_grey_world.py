"""Write a finished run's network with a grey-world input layer in front, as a new run folder.

    python scripts/add_grey_world.py SOURCE_RUN NEW_RUN     (the repository's Python)

The new run has the same weights (``GreyWorld`` has none), ``model_grey_world`` set in its
``config.json``, and the source's ``summary.json`` (its steps, validation and training median;
from an exported folder without one, the training median of its ``model.json``) with
``grey_world_from`` naming the source. No training: recipe stage 10 makes the shipped default
model this way from stage 9 (README, *Accuracy recipe*). A fine-tune with the layer was measured
too and did worse on the real checks (model card).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from workbench.configs import TrainConfig, load_config, save_config, to_dict
from workbench.errors import WorkbenchError
from workbench.io import write_text_atomic
from workbench.model.baselines import model_train_median
from workbench.model.saving import save_keras_atomic
from workbench.model.unet import build_from_config
from workbench.training.supervised import init_weights


def add_grey_world(source: Path, out: Path) -> Path:
    """``out/`` (``model.keras``, ``config.json``, ``summary.json``): ``source``'s finished run
    with :class:`~workbench.model.unet.GreyWorld` in front of the same weights. A source
    without ``summary.json`` (an exported model folder) gives one with the ``train_median_m``
    of its ``model.json``, the constant baseline every evaluation reports."""
    if not source.exists():
        raise WorkbenchError("does not exist", source)
    if not source.is_dir():
        raise WorkbenchError("not a run folder (give the folder that holds model.keras)", source)
    if not (source / "model.keras").exists() or not (source / "config.json").exists():
        raise WorkbenchError("not a finished run folder (model.keras and config.json)", source)
    if out.exists():
        raise WorkbenchError("already exists; pick a new folder", out)
    config = load_config(TrainConfig, source / "config.json")
    if config.model_grey_world:
        raise WorkbenchError("its model already has the grey-world layer", source)
    config = replace(config, model_grey_world=True, logdir=str(out))
    model = build_from_config(config)
    init_weights(model, source)
    saved = source / "summary.json"
    summary = json.loads(saved.read_text()) if saved.exists() else {}
    median = model_train_median(source)  # summary.json's, else an export's model.json's
    if median is not None:
        summary["train_median_m"] = median
    summary.update(grey_world_from=str(source), config=to_dict(config))
    out.mkdir(parents=True)
    save_config(config, out / "config.json")
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    save_keras_atomic(model, out / "model.keras")  # last: a run folder is finished once it is there
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        out = add_grey_world(Path(argv[0]), Path(argv[1]))
    except WorkbenchError as e:
        print(f"add_grey_world: error: {e}", file=sys.stderr)
        return 2
    print(f"add_grey_world: wrote {out} (the weights of {argv[0]}, grey-world input)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
