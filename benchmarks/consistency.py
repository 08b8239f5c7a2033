"""Multi-view consistency (:mod:`workbench.eda.consistency`): time and detection rates.

- **Time**: one 30-view ``rooms`` scene ray cast at 256×512 with three faults planted (a pose
  5 cm off, a depth scale 5 % off, a changed region), shrunk to the default 128 rows and
  checked as the verb checks a scene (pairs chosen, measured, fitted, diagnosed; files not
  read: decoding is the other jobs' figure). Goal ≤ 3 s. Baseline in the same run: the
  covisibility matrix of the same 30 views at 256×512 (870 ordered pairs, the compiled
  kernel of ``workbench covisibility``). The 300k-view estimate divides the time per view
  by the number of 2-core units, as ``benchmarks/scaling.py`` does for the other jobs.
- **Detection**: ``--scenes`` generated 5-view scenes at 128×256, each fault (pose 5 cm, pose
  2°, scale 5 %, change) planted in one view of each: found = the view flagged with the
  right diagnosis; clean = the other views of the same scenes, flagged or not (and how many
  are called ``weak``); the fitted sizes against the planted truth. A pose 50 cm off (beyond
  what the rigid fit reaches) is planted too: it must never come out ``ok`` (``weak``,
  ``mismatch`` or ``pose``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import figure, median_time, write_result

VIEWS_300K = 300_000
FAULTS = {
    "pose_5cm": ("pose", {"translation_m": 0.05}),
    "pose_2deg": ("pose", {"rotation_deg": 2.0}),
    "scale_5pct": ("scale", {"scale": 1.05}),
    "change": ("change", {}),
}


def _timed_scene(seed: int = 7, views: int = 30, height: int = 256):
    from workbench.data.planted import clean_scene, plant

    rng = np.random.default_rng(seed)
    p = plant(clean_scene(seed, views, height), "pose", 0, rng, translation_m=0.05)
    p = plant(p, "scale", 1, rng, scale=1.05)
    return plant(p, "change", 2, rng)


def timing() -> tuple[list, dict]:
    from workbench.eda.consistency import scene_consistency
    from workbench.geometry.correspondence_fast import covisibility_matrix_fast
    from workbench.geometry.depth_residual import shrink_range

    p = _timed_scene()
    ids = [f"{i:03d}" for i in range(len(p.ranges))]

    def check():
        small = [shrink_range(r, 128) for r in p.ranges]
        return scene_consistency("bench", ids, small, p.poses)

    t = median_time(check, repeat=3)
    t_cov = median_time(lambda: covisibility_matrix_fast(p.ranges, p.poses), repeat=3)
    pairs, views = check()
    flagged = views[views["flagged"]]
    per_view = t / len(ids)
    details = {
        "t_scene_s": t,
        "t_covisibility_256_s": t_cov,
        "pairs": len(pairs),
        "flagged": {r["view"]: r["diagnosis"] for _, r in flagged.iterrows()},
        "s_per_view_1_worker": per_view,
    }
    for machines, cores in ((1, 2), (1, 16), (8, 16), (32, 16)):
        hours = per_view * VIEWS_300K / (machines * cores / 2) / 3600
        details[f"consistency_300k_views_{machines}x{cores}cores_hours"] = round(hours, 3)
    figures = [
        figure("consistency of a 30-view scene (256x512 in, 128 rows)", t, "s", goal=3.0),
        figure("consistency / covisibility of the same scene at 256x512", t / t_cov, "x"),
    ]
    return figures, details


def detection(scenes: int = 12) -> tuple[list, dict]:
    from workbench.data.planted import clean_scene, plant
    from workbench.eda.consistency import scene_consistency

    found = {k: 0 for k in FAULTS}
    errors: dict[str, list] = {"t_cm": [], "rot_deg": [], "scale": []}
    clean_views = clean_flagged = clean_weak = large_not_ok = 0
    for s in range(scenes):
        base = clean_scene(1000 + s, 5, 128)
        for name, (fault, amount) in FAULTS.items():
            rng = np.random.default_rng([s, len(name)])
            p = plant(base, fault, s % 5, rng, **amount)
            ids = [f"{i:03d}" for i in range(5)]
            _, views = scene_consistency("s", ids, p.ranges, p.poses)
            v = views.set_index("view")
            me = v.loc[f"{p.view:03d}"]
            hit = bool(me["flagged"]) and me["diagnosis"] == fault
            found[name] += hit
            others = v.drop(f"{p.view:03d}")
            clean_views += len(others)
            clean_flagged += int(others["flagged"].sum())
            clean_weak += int((others["diagnosis"] == "weak").sum())
            if hit and fault == "pose":
                errors["t_cm"].append(abs(me["t_cm"] - 100 * p.truth["translation_m"]))
                errors["rot_deg"].append(abs(me["rot_deg"] - p.truth["rotation_deg"]))
            if hit and fault == "scale":
                errors["scale"].append(abs(me["scale"] - p.truth["scale"]))
        p = plant(base, "pose", s % 5, np.random.default_rng([s, 50]), translation_m=0.5)
        ids = [f"{i:03d}" for i in range(5)]
        views = scene_consistency("s", ids, p.ranges, p.poses)[1].set_index("view")
        large_not_ok += views.loc[f"{p.view:03d}", "diagnosis"] != "ok"
    total = scenes * len(FAULTS)
    rate = sum(found.values()) / total
    false_rate = clean_flagged / max(clean_views, 1)
    figures = [
        figure(f"planted faults found ({total} in {scenes} scenes)", 100 * rate, "%", 95.0,
               "higher"),
        figure(f"clean views flagged ({clean_views})", 100 * false_rate, "%", 2.0),
    ]  # fmt: skip
    details = {
        "scenes": scenes,
        "found_per_fault": {k: f"{v}/{scenes}" for k, v in found.items()},
        "clean_views": clean_views,
        "clean_flagged": clean_flagged,
        "clean_weak": clean_weak,
        "pose_50cm_not_ok": f"{large_not_ok}/{scenes}",
        **{f"max_abs_error_{k}": (max(v) if v else None) for k, v in errors.items()},
        **{
            f"median_abs_error_{k}": (float(np.median(v)) if v else None) for k, v in errors.items()
        },
    }
    return figures, details


def main(scenes: int = 12) -> dict:
    t = time.perf_counter()
    f1, d1 = timing()
    f2, d2 = detection(scenes)
    details = {**d1, **d2, "benchmark_s": time.perf_counter() - t}
    write_result("consistency", f1 + f2, details)
    return details


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=12, help="generated scenes for the rates")
    main(ap.parse_args().scenes)
