"""The record types of every layout: :class:`ViewRecord` (where a view's files are and how to
decode them; the columns of the split CSVs) and :class:`View` (a loaded view).

They live apart from :mod:`workbench.data.layouts` (which re-exports them) so that readers in
modules of their own (:mod:`workbench.data.zind`) build records without importing the registry
that imports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["ViewRecord", "View", "scene_count"]


@dataclass(frozen=True)
class ViewRecord:
    """One panorama of a dataset: where its files are and how to decode them.

    Paths are relative to the dataset root (``pose_path`` and ``mask_path`` may be ``""``).
    """

    scene_id: str
    view_id: str
    rgb_path: str
    depth_path: str
    pose_path: str
    layout: str
    depth_scale: float = 1000.0
    depth_invalid: int = 0
    mask_path: str = ""
    floor: str = ""
    segment_path: str = ""

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def as_row(self) -> dict:
        return asdict(self)

    # the columns a reader of a dataset looks at first (notebook 01's table)
    TABLE_COLUMNS = ("scene_id", "view_id", "rgb_path", "depth_path", "pose_path", "depth_scale")

    def table_row(self) -> dict:
        """:data:`TABLE_COLUMNS` of this view; ``depth_scale`` (PNG units per metre) is
        ``None`` for a view without depth or with float depth in metres (``.exr``, ``.npy``),
        whose record keeps the default only as a placeholder.

        >>> ViewRecord("s", "v", "s/v.jpg", "", "", "zind").table_row()["depth_scale"] is None
        True
        """
        row = {name: getattr(self, name) for name in self.TABLE_COLUMNS}
        png = self.depth_path.lower().endswith(".png")
        row["depth_scale"] = self.depth_scale if png else None
        return row

    @property
    def has_depth(self) -> bool:
        """False for a view of a pose-only dataset (panoramas and poses, no depth files)."""
        return bool(self.depth_path)


@dataclass(frozen=True)
class View:
    """A loaded panorama: ``rgb (H, W, 3) uint8``, ``range_m (H, W) float32`` metres (0 =
    invalid), ``T_world_from_cam (4, 4)`` or ``None``."""

    record: ViewRecord
    rgb: np.ndarray
    range_m: np.ndarray
    T_world_from_cam: np.ndarray | None


def scene_count(n: int) -> str:
    """A count of scenes as the summaries print it.

    >>> scene_count(1), scene_count(3)
    ('1 scene', '3 scenes')
    """
    return f"{n} scene" if n == 1 else f"{n} scenes"
