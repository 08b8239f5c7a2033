"""Dense two-view correspondence at 512x1024 as a ratio to ``np.copy`` of the flow array
(goal <= 10x), in the same run.

Also measured: one ``np.arctan2`` over the same pixels (the longitude every match needs) as a
ratio to the copy. It is a floor for any numpy implementation, and on this machine it alone is
far above 10x, so the goal cannot be met by numpy code; it would take a fused kernel (C, numba or
XLA) with a polynomial arctangent.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import figure, median_time, write_result


def main(height: int = 512) -> dict:
    from workbench.geometry.analytic import box_room
    from workbench.geometry.correspondence import correspond
    from workbench.geometry.equirect import yaw_matrix

    lo, hi = (-3.0, -1.5, -4.0), (3.5, 1.3, 3.0)
    ra, _ = box_room(height, lo, hi, centre=(0, 0, 0))
    t = np.array([0.7, 0.1, -0.5])
    R = yaw_matrix(0.4)
    rb, _ = box_room(height, lo, hi, centre=t, R_world_from_cam=R)
    Tb = np.eye(4)
    Tb[:3, :3], Tb[:3, 3] = R, t
    flow = np.zeros((height, 2 * height, 2), np.float32)
    t_copy = median_time(lambda: np.copy(flow), repeat=15)
    t_full = median_time(lambda: correspond(ra, np.eye(4), Tb, rb), repeat=3)
    t_proj = median_time(lambda: correspond(ra, np.eye(4), Tb), repeat=3)
    x, z = flow[..., 0] + 1.0, flow[..., 1] + 0.5
    t_atan = median_time(lambda: np.arctan2(x, z), repeat=5)
    figures = [
        figure("correspondence (occlusion + round trip) / copy", t_full / t_copy, "x", goal=10.0),
        figure("projection only / copy", t_proj / t_copy, "x"),
        figure("one np.arctan2 over the pixels / copy (numpy floor)", t_atan / t_copy, "x"),
    ]
    write_result(
        "correspondence",
        figures,
        {
            "size": [height, 2 * height],
            "t_full_s": t_full,
            "t_copy_s": t_copy,
            "t_arctan2_s": t_atan,
        },
    )
    return {"figures": figures}


if __name__ == "__main__":
    main()
