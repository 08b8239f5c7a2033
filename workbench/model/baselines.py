"""Trivial depth predictors every evaluation reports beside a model, so anyone sees at once
whether the model learned anything (a model that does not beat them has not).

- **constant**: the same range everywhere (the training set's median range when known).
- **room prior**: the range to a level floor ``camera_height`` below the camera, a ceiling
  ``ceiling_above`` above it and walls at ``wall_distance`` around it — the best a model that
  ignores the image could do with typical indoor numbers (1.5 m, 1.2 m, 2.5 m by default).

Both act like :class:`~workbench.model.predictor.Predictor` (``height``, ``predict_batch``), so
:func:`workbench.model.evaluate.evaluate` measures them on the same pixels as the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.geometry.equirect import unit_rays

__all__ = [
    "room_prior",
    "ConstantBaseline",
    "RoomPriorBaseline",
    "make_baselines",
    "model_train_median",
    "baseline_table",
]


def room_prior(
    height: int,
    camera_height: float = 1.5,
    ceiling_above: float = 1.2,
    wall_distance: float = 2.5,
) -> np.ndarray:
    """``(height, 2 height) float32`` range of a box-free room prior: each pixel's ray meets the
    floor, the ceiling or the cylinder of walls, whichever is nearest (metres).

    >>> r = room_prior(4)
    >>> r.shape, round(float(r[1, 0]), 3) == round(float(r[1, 7]), 3)  # constant along a row
    ((4, 8), True)
    """
    y = unit_rays(height, 2 * height)[:, 0, 1].astype(np.float64)  # sin(lat), + is down
    horizontal = np.sqrt(np.maximum(1.0 - y * y, 1e-12))
    wall = wall_distance / horizontal
    with np.errstate(divide="ignore"):
        plane = np.where(
            y > 0, camera_height / np.maximum(y, 1e-12), ceiling_above / np.maximum(-y, 1e-12)
        )
    r = np.minimum(wall, plane).astype(np.float32)
    return np.repeat(r[:, None], 2 * height, axis=1)


@dataclass
class ConstantBaseline:
    """Predicts ``value`` metres everywhere, at ``height`` rows."""

    value: float
    height: int
    name: str = "constant"

    def predict_batch(self, rgb: np.ndarray) -> np.ndarray:
        return np.full(np.shape(rgb)[:3], self.value, np.float32)


@dataclass
class RoomPriorBaseline:
    """Predicts :func:`room_prior` for every image, at ``height`` rows."""

    height: int
    camera_height: float = 1.5
    ceiling_above: float = 1.2
    wall_distance: float = 2.5
    name: str = "room prior"

    def predict_batch(self, rgb: np.ndarray) -> np.ndarray:
        prior = room_prior(self.height, self.camera_height, self.ceiling_above, self.wall_distance)
        return np.broadcast_to(prior, np.shape(rgb)[:3]).copy()


def model_train_median(source: Path) -> float | None:
    """The training set's median range recorded beside a model (``summary.json`` of a run
    folder, or ``model.json``/``summary.json`` beside a model file), when there is one."""
    folder = source if source.is_dir() else source.parent
    for name in ("summary.json", "model.json"):
        try:
            value = json.loads((folder / name).read_text()).get("train_median_m")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return None


def make_baselines(predictor, constant: float = 0.0) -> tuple[dict, str]:
    """The constant and room-prior baselines at the model's height; the constant is
    ``constant`` when given, else the training median recorded beside the model, else 2 m (a
    typical indoor median). Returns the baselines and where the constant came from."""
    value, origin = constant, "--constant"
    if not value:
        recorded = model_train_median(Path(predictor.backend.source))
        value, origin = (recorded, "training set median") if recorded else (2.0, "default 2 m")
    h = predictor.height
    name = f"constant {value:.2f} m"
    return {name: ConstantBaseline(value, h), "room prior": RoomPriorBaseline(h)}, origin


def baseline_table(mean: dict) -> str:
    """Model and baselines side by side, one line each (AbsRel, RMSE, delta1)."""
    rows = [("model", mean)] + list(mean.get("baselines", {}).items())
    lines = [f"{'':<20} {'AbsRel':>8} {'RMSE m':>8} {'delta1':>8}"]
    for name, m in rows:
        lines.append(
            f"{name:<20} {m.get('abs_rel', float('nan')):>8.4f} "
            f"{m.get('rmse', float('nan')):>8.4f} {m.get('delta1', float('nan')):>8.4f}"
        )
    return "\n".join(lines) + f"\n({mean.get('n_views', 0)} views)"
