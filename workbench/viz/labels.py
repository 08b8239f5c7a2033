"""Short labels for scene ids in figures and pickers: a UUID (RealSee3D's, the seed layout's)
shows its first 8 hex digits; any other id (``apartment_01``, ``scene_00012``, a Matterport3D
house id) is shown whole, so different scenes never share a label."""

from __future__ import annotations

import re

__all__ = ["short_id"]

_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def short_id(scene_id: str) -> str:
    """The label of ``scene_id``.

    >>> short_id("3fbc2fd9-1923-4164-b547-14cebcea2527"), short_id("apartment_01")
    ('3fbc2fd9', 'apartment_01')
    """
    s = str(scene_id)
    return s[:8] if _UUID.fullmatch(s) else s
