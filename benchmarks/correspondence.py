"""Dense two-view correspondence at 512x1024 as a ratio to ``np.copy`` of the flow array
(goal <= 10x), in the same run: the compiled kernel (native AVX2 where it builds, else numba;
:mod:`workbench.geometry.correspondence_fast`), the numba kernel and the numpy reference;
and the covisibility of a 30-view scene at 256x512 (870 ordered pairs; goal <= 2 s).

Also measured: one ``np.arctan2`` over the same pixels (the longitude every match needs) as a
ratio to the copy: the floor of any numpy implementation.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks.common import figure, median_time, write_result


def main(height: int = 512) -> dict:
    from workbench.geometry.analytic import box_room
    from workbench.geometry.correspondence import correspond
    from workbench.geometry.correspondence_fast import correspond_fast, covisibility_matrix_fast
    from workbench.geometry.equirect import yaw_matrix
    from workbench.geometry.native import correspond_library

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
    t_fast = median_time(lambda: correspond_fast(ra, np.eye(4), Tb, rb), repeat=15, warmup=2)
    kernel = "native" if correspond_library() is not None else "numba"
    os.environ["WORKBENCH_NATIVE"] = "0"  # the numba kernel, for comparison
    try:
        t_numba = median_time(lambda: correspond_fast(ra, np.eye(4), Tb, rb), repeat=9, warmup=2)
    finally:
        os.environ.pop("WORKBENCH_NATIVE")
    t_covis = _covisibility_30(box_room, covisibility_matrix_fast, lo, hi)
    t_proj = median_time(lambda: correspond(ra, np.eye(4), Tb), repeat=3)
    x, z = flow[..., 0] + 1.0, flow[..., 1] + 0.5
    t_atan = median_time(lambda: np.arctan2(x, z), repeat=5)
    figures = [
        figure(
            "compiled correspondence (occlusion + round trip) / copy",
            t_fast / t_copy,
            "x",
            goal=10.0,
        ),
        figure("numba kernel correspondence / copy", t_numba / t_copy, "x"),
        figure("numpy reference correspondence / copy", t_full / t_copy, "x"),
        figure("covisibility of a 30-view scene at 256x512 (870 pairs)", t_covis, "s", goal=2.0),
        figure("projection only / copy", t_proj / t_copy, "x"),
        figure("one np.arctan2 over the pixels / copy (numpy floor)", t_atan / t_copy, "x"),
    ]
    write_result(
        "correspondence",
        figures,
        {
            "size": [height, 2 * height],
            "t_full_s": t_full,
            "t_fast_s": t_fast,
            "kernel": kernel,
            "t_numba_s": t_numba,
            "t_covisibility_30_s": t_covis,
            "t_copy_s": t_copy,
            "t_arctan2_s": t_atan,
        },
    )
    return {"figures": figures}


def _covisibility_30(box_room, covis, lo, hi) -> float:
    """Seconds for the covisibility matrix of 30 views of the analytic box room at 256x512."""
    import time

    rng = np.random.default_rng(0)
    poses, ranges = [], []
    for _ in range(30):
        c = rng.uniform([-2.5, -0.5, -3.0], [3.0, 0.5, 2.5])
        T = np.eye(4)
        T[:3, 3] = c
        poses.append(T)
        ranges.append(box_room(256, lo, hi, centre=tuple(c))[0])
    covis(ranges[:2], poses[:2])  # compile
    t = time.perf_counter()
    covis(ranges, poses)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
