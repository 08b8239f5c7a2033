"""What the inference notebooks browse: a dataset, or a folder of your own panoramas alone.

:func:`open_views` opens a dataset exactly as :func:`workbench.data.dataset.open_dataset` does;
a folder that holds panoramas but no dataset (no depth, no poses: what ``workbench infer``
reads) becomes a :class:`PanoramaFolder` of the same shape (``records``, ``root``, ``load``,
``has_depth``, ``summary()``), each image a view without depth (every range pixel 0) or pose.
Its images are found as ``infer`` finds them (:func:`workbench.deploy.inputs.collect_inputs`:
sub-folders searched, hidden and temporary files skipped); an image that does not decode, is
not 2:1, smaller than :data:`~workbench.data.validate.MIN_PANORAMA` (``infer`` refuses it) or
is a 16-bit single channel (a depth map?) is left out and named in ``failed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.data.dataset import ViewCollection, open_dataset
from workbench.data.records import ViewRecord
from workbench.data.validate import MIN_PANORAMA
from workbench.deploy.inputs import collect_inputs, dataset_roots
from workbench.errors import WorkbenchError
from workbench.io import check_image, read_rgb

__all__ = ["PanoramaFolder", "open_views"]


@dataclass(frozen=True)
class PanoramaFolder(ViewCollection):
    """Panoramas without depth or poses, one view each: scene = the sub-folder they were found
    in (the folder's name at its top), view = the file name without extension."""

    root: Path
    records: tuple[ViewRecord, ...]
    failed: tuple[str, ...] = ()  # "<file>: <why>" of the images left out

    def summary(self) -> str:
        left = ""
        if self.failed:
            more = f" and {len(self.failed) - 2} more" if len(self.failed) > 2 else ""
            left = f", {len(self.failed)} left out ({'; '.join(self.failed[:2])}{more})"
        return (
            f"{self.name}: {len(self)} panoramas alone (no depth, no poses: predictions "
            f"without ground truth){left}"
        )


def open_views(root: str | os.PathLike, encoding: str = ""):
    """The dataset at ``root`` (:func:`~workbench.data.dataset.open_dataset`, ``encoding`` as
    ``--encoding``), or a :class:`PanoramaFolder` when ``root`` holds panoramas alone.

    Raises:
        WorkbenchError: naming ``root``: missing, no images at all, no image usable (each
            failure named), or a dataset that cannot be opened.
    """
    root = Path(root).expanduser()
    if not root.is_dir() or dataset_roots(root):
        return open_dataset(root, encoding=encoding)
    records, failed = [], []
    for item in collect_inputs([root]).items:
        rel = item.image.relative_to(root)
        try:
            (h, w), dtype = check_image(item.image)
            if w != 2 * h:
                raise WorkbenchError(f"not a 2:1 panorama ({w}x{h})", item.image)
            if h < MIN_PANORAMA[0]:  # infer refuses it (the browser raised when it was picked)
                raise WorkbenchError(f"image is {w}x{h} pixels, too small", item.image)
            if dtype != np.uint8:  # 16-bit: colour is read, a single channel is refused
                read_rgb(item.image)
        except WorkbenchError as e:
            failed.append(f"{rel.as_posix()}: {e.message}")
            continue
        scene = rel.parent.as_posix() if rel.parent != Path(".") else root.name
        records.append(ViewRecord(scene, item.key.name, rel.as_posix(), "", "", "images"))
    if not records:
        raise WorkbenchError(f"no usable panorama ({'; '.join(failed[:3])})", root)
    return PanoramaFolder(root, tuple(records), tuple(failed))
