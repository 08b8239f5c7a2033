"""``workbench covisibility ROOT --out DIR``: the covisibility matrix of every scene of a dataset,
on the engine (:mod:`workbench.engine`): ``--workers 1`` in this process (the kernel uses
every core), ``--workers N`` N threads (the kernel releases the GIL), ``--scheduler`` a Dask
cluster.

Per scene, in ``DIR/<scene>/``: ``covisibility.txt`` (RealSee3D's form: N rows of N floats, no
header, rows in the scene's view order, the compiled kernel of
:mod:`workbench.geometry.correspondence_fast` at ``--height``), ``viewpoints.txt`` (that
order) and, last, ``options.json`` (what shaped them: ``--height``, ``--tol``, the views and
their decoding), each written atomically. A re-run skips scenes whose ``options.json`` records
the same options (a killed job resumes where it stopped) and redoes the others (another
``--height`` recomputes every scene). Only depth and poses are read: a view whose depth or
pose cannot be read is left out of its scene's matrix (``viewpoints.txt`` lists the views it
has; ``options.json`` records the others, so a re-run tries them again), a scene none of whose
views can be read is left out; both are listed in ``DIR/failed.csv`` and the summary, and the
rest goes on (exit 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workbench.data.dataset import describe_dataset, index_spec, require_depth, require_poses
from workbench.data.layouts import ViewRecord
from workbench.eda.scene_ranges import (
    check_dataset_height,
    check_scene_height,
    finished_with,
    left_out_rows,
    load_scene_ranges,
    scene_fingerprint,
    stale_scenes_note,
    start_scene,
)
from workbench.engine import run_tasks
from workbench.errors import WorkbenchError
from workbench.geometry.correspondence import write_covisibility
from workbench.geometry.correspondence_fast import covisibility_matrix_fast
from workbench.geometry.equirect import resize_range
from workbench.geometry.native import correspond_library
from workbench.io import claim_output_folder, write_csv_atomic, write_text_atomic

__all__ = ["SceneJob", "write_scene_covisibility", "run"]


@dataclass(frozen=True)
class SceneJob:
    """One scene's covisibility: its records (in view order), where to read and write."""

    root: str
    out: str
    records: tuple[ViewRecord, ...]
    height: int
    tol: float

    @property
    def scene_id(self) -> str:
        return self.records[0].scene_id

    def options(self) -> dict:
        """What shapes the scene's files (``options.json``): a re-run with others redoes it."""
        return {
            "height": self.height,
            "tol": self.tol,
            "views": [r.view_id for r in self.records],
            # every record's files (sizes, times), depth scale, sentinel and mask
            "decoding": scene_fingerprint(self.records, self.root),
        }


def write_scene_covisibility(job: SceneJob) -> dict:
    """Compute and write one scene's files (module doc); skipped when they were written with
    the same options."""
    folder = Path(job.out) / job.scene_id
    options = job.options()
    if finished_with(folder, ("covisibility.txt", "viewpoints.txt"), options):
        return {"scene": job.scene_id, "views": len(job.records), "skipped": True}
    scene = load_scene_ranges(job.records, job.root)
    check_scene_height(job.height, scene.ranges)
    ranges = [resize_range(r, job.height) for r in scene.ranges]
    cov = covisibility_matrix_fast(ranges, list(scene.poses), job.tol)
    ids = [r.view_id for r in scene.records]
    if scene.left_out:  # recorded, so that a re-run does not take the scene as done
        options["left_out"] = [v for v, _ in scene.left_out]
    start_scene(folder)  # options.json is written last, once the matrix is
    write_covisibility(folder / "covisibility.txt", cov)
    write_text_atomic(folder / "viewpoints.txt", "\n".join(ids) + "\n")
    write_text_atomic(folder / "options.json", json.dumps(options, indent=2) + "\n")
    return {"scene": job.scene_id, "views": len(ids), "skipped": False,
            "left_out": list(scene.left_out)}  # fmt: skip


def run(config) -> int:
    """CLI entry (see the module doc)."""
    spec = describe_dataset(config.root, config)
    errors: list = []
    records = index_spec(spec, errors=errors)
    require_depth(records, config.root, "covisibility needs measured depth")
    require_poses(records, config.root, "covisibility places views by their poses")
    check_dataset_height(records, spec.root, config.height)
    out = claim_output_folder(config.out, "covisibility", source=spec.root)
    scenes: dict[str, list] = {}
    for r in records:
        scenes.setdefault(r.scene_id, []).append(r)
    jobs = [
        SceneJob(spec.root, str(out), tuple(rs), config.height, config.tol)
        for rs in scenes.values()
    ]
    results = run_tasks(
        write_scene_covisibility,
        jobs,
        config.workers,
        config.scheduler,
        desc="covisibility",
        progress=config.progress,
        local="threads",
    )
    failed = [{"scene": Path(e.path or "").name, "error": str(e)} for e in errors]
    left: list[dict] = []  # views left out of scenes that were processed
    done = []
    for job, res in results:
        if isinstance(res, Exception):
            failed.append({"scene": job.scene_id, "error": str(res).splitlines()[0][:300]})
        else:
            done.append(res)
            left += left_out_rows(res["scene"], res.get("left_out", ()))
    write_csv_atomic(out / "failed.csv", ("scene", "error"), failed + left)
    computed = sum(not d["skipped"] for d in done)
    summary = {
        "scenes": len(done),
        "computed": computed,
        "skipped": len(done) - computed,
        "failed": len(failed),
        "views_left_out": len(left),
        "height": config.height,
        "tol": config.tol,
        "kernel": "native" if correspond_library() is not None else "numba",
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"covisibility: {json.dumps(summary)} -> {out}")
    note = stale_scenes_note("covisibility", out, [*scenes, *(f["scene"] for f in failed)])
    if note:
        print(note)
    for f in failed + left:
        print(f"  failed: {f['scene']}: {f['error']}")
    if failed and not done:
        raise WorkbenchError(f"no scene could be processed ({failed[0]['error']})", config.root)
    return 1 if failed or left else 0
