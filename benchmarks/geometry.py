"""Geometry speed at 1024x2048: range→points and normals, as ratios to ``np.copy`` of an array
of the output's size measured in the same run. Goals: range→points ≤ 3x, normals ≤ 6x."""

from __future__ import annotations

import numpy as np

from benchmarks.common import figure, median_time, write_result
from workbench.geometry.analytic import box_room
from workbench.geometry.equirect import range_to_points
from workbench.geometry.normals import range_to_normals


def main(height: int = 1024) -> dict:
    rng, _ = box_room(height, lo=(-3, -1.5, -4), hi=(4, 1.4, 3.5), centre=(0.3, 0.1, -0.2))
    out_like = np.ones((height, 2 * height, 3), np.float32)
    range_to_points(rng)  # warm the ray cache, as in real use
    t_copy = median_time(lambda: np.copy(out_like), repeat=21)
    t_pts = median_time(lambda: range_to_points(rng), repeat=21)
    t_nrm = median_time(lambda: range_to_normals(rng), repeat=21)
    figures = [
        figure("range_to_points / copy", t_pts / t_copy, "x", goal=3.0),
        figure("normals / copy", t_nrm / t_copy, "x", goal=6.0),
    ]
    details = {
        "size": [height, 2 * height],
        "copy_ms": t_copy * 1e3,
        "range_to_points_ms": t_pts * 1e3,
        "normals_ms": t_nrm * 1e3,
    }
    write_result("geometry", figures, details)
    return details


if __name__ == "__main__":
    main()
