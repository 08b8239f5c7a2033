"""Data benchmarks.

- ``synth``: views/s of ``workbench synth`` at 512x256 (realistic preset, files written, both
  cores); goal ≥ 10 views/s.
- ``validate``: index + health-check 10,000 views of ``data_samples``-sized files (the sample
  scenes hard-linked 417 times); goal ≤ 120 s on 2 cores; also as a ratio to reading the same
  files' bytes once.
- ``pipeline``: samples/s of the tf.data pipeline at 256x512 with augmentations (the ratio to the
  training step's consumption is added by the training benchmark).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import figure, write_result

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples" / "seed"


def bench_synth(tmp: Path) -> list[dict]:
    from workbench.data.synth import generate

    generate(tmp / "warm", 2, 1, seed=1, height=256, progress=False)  # imports, process start
    n_scenes, n_views = 12, 4
    t = time.perf_counter()
    generate(tmp / "synth", n_scenes, n_views, seed=2, height=256, progress=False)
    dt = time.perf_counter() - t
    return [figure("synth views/s at 512x256", n_scenes * n_views / dt, "views/s", 10.0, "higher")]


def bench_validate(tmp: Path, target_views: int = 10_000) -> list[dict]:
    from workbench.data.validate import validate_dataset

    scenes = sorted(p for p in SAMPLES.iterdir() if p.is_dir())
    per_copy = sum(len(list((s / "depth").iterdir())) for s in scenes)
    copies = -(-target_views // per_copy)
    root = tmp / "big"
    for c in range(copies):
        for s in scenes:
            shutil.copytree(s, root / f"{c:04d}-{s.name}", copy_function=os.link)
    t = time.perf_counter()
    for f in root.rglob("*"):
        if f.is_file():
            f.read_bytes()
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    records, problems = validate_dataset(root, progress=False)
    dt = time.perf_counter() - t
    return [
        figure(f"validate {len(records)} views", dt, "s", 120.0, "lower"),
        figure(
            "validate / read all bytes",
            dt / t_read,
            "x",
            None,
            "lower",
            views=len(records),
            problems=len(problems),
        ),
    ]


def pipeline_samples_per_s(
    height: int = 256, batch: int = 8, augment=None, n: int = 12, root: Path = SAMPLES
) -> float:
    """Samples/s of the augmented tf.data pipeline over a dataset (after one batch)."""
    from workbench.data.dataset import index_dataset
    from workbench.data.pipeline import Augment, make_dataset

    aug = augment or Augment(yaw_roll=True, flip=True, brightness=0.2, contrast=0.2, gamma=0.2)
    ds = make_dataset(
        index_dataset(root),
        root,
        height=height,
        batch=batch,
        augment=aug,
        shuffle=True,
        repeat=True,
    )
    it = iter(ds)
    next(it)
    t = time.perf_counter()
    for _ in range(n):
        next(it)
    return n * batch / (time.perf_counter() - t)


def bench_pipeline(tmp: Path) -> list[dict]:
    """The same pipeline from the folder tree and from its packed shards (same samples)."""
    from workbench.data.dataset import index_dataset
    from workbench.data.pack import pack

    pack(index_dataset(SAMPLES), SAMPLES, tmp / "shards", shard_mb=150, progress=False)
    folder = pipeline_samples_per_s()
    shards = pipeline_samples_per_s(root=tmp / "shards")
    return [
        figure("pipeline samples/s at 256x512 (folder tree)", folder, "samples/s", None, "higher"),
        figure("pipeline samples/s at 256x512 (shards)", shards, "samples/s", None, "higher"),
        figure("shards / folder samples/s (local disk, page cache)", shards / folder, "x"),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        figures = bench_synth(tmp) + bench_validate(tmp) + bench_pipeline(tmp)
    write_result("data", figures)


if __name__ == "__main__":
    main()
