"""EDA at the original dataset's scale: a 300,000-view pose/statistics table; orientation,
motion and depth-summary analyses vs the time pandas takes to read the table from parquet
(goal <= 3x), measured in the same run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import figure, median_time, write_result


def synthetic_table(n_views: int = 300_000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    per = rng.integers(2, 9, size=n_views // 3)
    per = per[np.cumsum(per) <= n_views]
    scenes = np.repeat(np.arange(len(per)), per)
    view = np.concatenate([np.arange(k) for k in per])
    n = len(scenes)
    d = rng.uniform(1.0, 6.0, n)
    return pd.DataFrame(
        {
            "scene_id": pd.Series([f"{s:08x}" for s in scenes]),
            "view_id": pd.Series([f"{v:03d}" for v in view]),
            "width": 1024,
            "height": 512,
            "cx": rng.normal(0, 3, n),
            "cy": -rng.uniform(0.9, 2.0, n),
            "cz": rng.normal(0, 3, n),
            "yaw_deg": rng.uniform(-180, 180, n),
            "pitch_deg": rng.normal(0, 1.5, n),
            "roll_deg": rng.normal(0, 1.5, n),
            "height_m": rng.uniform(0.9, 2.0, n),
            "d_min": d * 0.2,
            "d_p05": d * 0.4,
            "d_median": d,
            "d_p95": d * 2,
            "d_max": d * 3,
            "d_mean": d * 1.1,
            "invalid_frac": rng.uniform(0, 0.1, n),
        }
    )


def main(n_views: int = 300_000) -> dict:
    from workbench.eda import stats

    df = synthetic_table(n_views)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "views.parquet"
        df.to_parquet(path, index=False)
        t_read = median_time(lambda: pd.read_parquet(path), repeat=5)
    table = pd.read_parquet(path) if False else df

    def analyses():
        stats.orientation_table(table)
        stats.yaw_rose(table)
        stats.pair_table(table)
        stats.motion_by_scene(table)
        stats.depth_by_scene(table)

    t = time.perf_counter()
    analyses()
    first = time.perf_counter() - t
    t_all = median_time(analyses, repeat=3, warmup=0)
    figures = [figure("EDA analyses (300k views) / parquet read", t_all / t_read, "x", goal=3.0)]
    write_result(
        "eda",
        figures,
        {
            "views": len(df),
            "scenes": int(df.scene_id.nunique()),
            "t_read_s": t_read,
            "t_analyses_s": t_all,
            "t_first_s": first,
        },
    )
    return {"figures": figures}


if __name__ == "__main__":
    main()
