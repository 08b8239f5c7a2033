"""Where a widget's views come from: an opened dataset (:func:`workbench.open_dataset`, or any
object with ``records``, ``root`` and ``load(record) -> View``, e.g. one whose depth is a model's
prediction) or, as before, a list of records and their root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workbench.data.layouts import View, ViewRecord, load_view

__all__ = ["view_source"]


def view_source(data, root=None) -> tuple[list[ViewRecord], Path, Callable[[ViewRecord], View]]:
    """``(records, root, load)`` of ``data``: a dataset-like object (``records``, ``root``,
    ``load``) or a sequence of :class:`ViewRecord` with their ``root``.

    Raises:
        TypeError: records without a root.
    """
    if hasattr(data, "records") and hasattr(data, "load"):
        return list(data.records), Path(data.root), data.load
    if root is None:
        raise TypeError("pass an opened dataset, or records and the root they are relative to")
    root = Path(root)
    return list(data), root, lambda rec: load_view(rec, root)
