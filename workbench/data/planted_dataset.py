"""A dataset on disk with planted faults: generated ``rooms`` scenes in the seed layout, each
with one fault of :func:`workbench.data.planted.plant` in one view, and a ``planted.csv`` that
says where each fault is. For trying multi-view consistency checks (``workbench consistency``)
on a dataset where the answer is known.

Every view is rendered (panorama and exact range) by :mod:`workbench.data.synth`; the fault is
then planted into the range and pose that are written: a moved or turned pose, a range scaled
by a factor, or a box of the range painted closer (the panorama keeps the old pixels there:
only the depth changes). Scene ``k`` depends only on ``(seed, k)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.planted import PlantedScene, plant
from workbench.data.synth import PRESETS, build_raycaster, make_scene, render_view
from workbench.geometry.pose import write_pose
from workbench.io import make_folder, write_csv_atomic, write_image, write_text_atomic

__all__ = ["FAULTS", "PLANTED_COLUMNS", "write_planted_dataset"]

FAULTS = (
    ("pose", {"translation_m": 0.05}),
    ("pose", {"rotation_deg": 2.0}),
    ("scale", {"scale": 1.05}),
    ("change", {}),
)
"""The default faults: a pose moved 5 cm, one turned 2°, a depth scale 5 % off, an object
painted 40 % closer in one view (each in its own scene)."""

PLANTED_COLUMNS = ["scene", "view", "fault", "amount", "truth"]


def _render(spec, height: int, seed: int) -> tuple[list, list]:
    """Every view's panorama ``(H, 2H, 3) uint8`` and range ``(H, 2H)`` metres."""
    caster = build_raycaster(spec)
    rng = np.random.default_rng(seed)
    shots = [render_view(spec, caster, T, height, rng, PRESETS["rooms"]) for T in spec.poses]
    return [s[0] for s in shots], [s[1] for s in shots]


def _write_scene(folder: Path, rgbs: list, scene: PlantedScene, note: dict) -> None:
    for i, (rgb, r, T) in enumerate(zip(rgbs, scene.ranges, scene.poses, strict=True)):
        v = f"{i:03d}"
        write_image(folder / "pan/high" / f"{v}.jpg", rgb, quality=95)
        write_image(folder / "pan/low" / f"{v}.jpg", rgb, quality=95)
        write_image(folder / "depth" / f"{v}.png",
                    np.clip(np.rint(r * 1000.0), 0, 65535).astype(np.uint16))  # fmt: skip
        write_pose(folder / "pose" / f"{v}.txt", T)
    meta = {"source": "workbench.data.planted_dataset", "depth_scale": 1000.0, "planted": note}
    write_text_atomic(folder / "others/meta.json", json.dumps(meta, indent=2) + "\n")


def write_planted_dataset(out, faults=FAULTS, views: int = 5, height: int = 128,
                          seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Write one generated scene per fault under ``out`` (seed layout, range in millimetres),
    the fault planted in view ``k % views`` of scene ``k``, and ``out/planted.csv``.

    Args:
        out: the dataset folder (created; scene folders are overwritten).
        faults: ``(fault, amount)`` pairs, ``fault`` one of ``pose``, ``scale``, ``change``
            and ``amount`` the keywords of :func:`workbench.data.planted.plant`.
        views: views per scene (>= 2). height: rows of every panorama (width ``2 * height``).

    Returns:
        The planted faults, one row each: ``scene``, ``view``, ``fault``, ``amount`` (the
        keywords as text) and ``truth`` (what was planted, as text).

    >>> import tempfile
    >>> write_planted_dataset(tempfile.mkdtemp(), [("scale", {"scale": 1.1})], 2, 32).shape
    (1, 5)
    """
    if views < 2 or height < 8:
        raise ValueError(f"views must be >= 2 and height >= 8, got {views} and {height}")
    root = make_folder(out)
    rows = []
    for k, (fault, amount) in enumerate(faults):
        spec = make_scene(np.random.SeedSequence([seed, k]), views, PRESETS["rooms"])
        rgbs, ranges = _render(spec, height, seed + k)
        clean = PlantedScene(ranges, [np.asarray(T, np.float64) for T in spec.poses])
        spoiled = plant(clean, fault, k % views, np.random.default_rng([seed, k]), **amount)
        row = {"scene": spec.scene_id, "view": f"{spoiled.view:03d}", "fault": fault,
               "amount": json.dumps(amount), "truth": json.dumps(spoiled.truth)}  # fmt: skip
        _write_scene(root / spec.scene_id, rgbs, spoiled, row)
        rows.append(row)
    write_csv_atomic(root / "planted.csv", PLANTED_COLUMNS, rows)
    return pd.DataFrame(rows, columns=PLANTED_COLUMNS)
