"""Short labels for scene ids in figures and pickers: a UUID (RealSee3D's, the seed layout's)
shows its first 8 hex digits; any other id (``apartment_01``, ``scene_00012``, a Matterport3D
house id) is shown whole, so different scenes never share a label."""

from __future__ import annotations

import re

__all__ = ["short_id", "wrap_label", "plain_text"]

_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def short_id(scene_id: str) -> str:
    """The label of ``scene_id``.

    >>> short_id("3fbc2fd9-1923-4164-b547-14cebcea2527"), short_id("apartment_01")
    ('3fbc2fd9', 'apartment_01')
    """
    s = str(scene_id)
    return s[:8] if _UUID.fullmatch(s) else s


def wrap_label(label: str, width: int = 16) -> str:
    """``label`` broken into lines of at most ``width`` characters (where it can be: after a
    ``_``, ``-`` or ``.``), joined by ``<br>`` for a plotly title; a long view id (ZInD's
    ``floor_01_partial_room_05_pano_14``) then no longer runs into its neighbour's. The text
    is kept whole: removing the ``<br>`` gives ``label`` back.

    >>> wrap_label("floor_01_partial_room_05_pano_14")
    'floor_01_<br>partial_room_05_<br>pano_14'
    >>> wrap_label("view_003"), wrap_label("a" * 20, 8)
    ('view_003', 'aaaaaaaaaaaaaaaaaaaa')
    """
    lines, line = [], ""
    for part in re.findall(r"[^_.-]*[_.-]|[^_.-]+$", str(label)):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    return "<br>".join(lines + [line])


def plain_text(html: str) -> str:
    """A widget's HTML line as plain text: ``<br>`` a new line, other tags dropped.

    >>> plain_text("12 points shown<br><b>warning</b>: a pose")
    '12 points shown\\nwarning: a pose'
    """
    return re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", "\n", html))
