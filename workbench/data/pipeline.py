"""tf.data input pipeline from a split CSV: decode, resize, validity mask, panorama-correct
augmentations, batching, prefetch.

Decoding goes through the workbench readers (:func:`workbench.data.layouts.load_view`) inside
``tf.numpy_function``, so every depth encoding, mask and sentinel is handled exactly as
everywhere else, and depth is resized without blending invalid pixels. Augmentations are numpy
functions of ``(sample, seed)`` (:func:`augment_sample`), applied with a per-sample seed derived
from ``(seed, sample counter)``: a seeded pipeline gives the same batches on every run.

Augmentations that are correct on panoramas:

- **yaw roll** by ``k`` columns: the same camera turned by ``Δ = -k·2π/W``; the pose becomes
  ``T_world_from_cam @ [yaw_matrix(Δ), 0; 0, 1]`` so reprojected points stay in place;
- **left-right flip**: ``u → W-1-u`` mirrors ``x``; the pose gets ``diag(-1, 1, 1, 1)`` (a
  reflection: ``flipped`` is set so pose-consuming code can tell);
- colour jitter (brightness, contrast, saturation) and gamma, on RGB only.

Element structure (batched, channels last): ``rgb (B, H, W, 3) float32`` in [0, 1],
``range (B, H, W, 1) float32`` metres (0 invalid), ``mask (B, H, W, 1) float32`` (1 valid),
``pose (B, 4, 4) float32`` (identity when the dataset has none), ``flipped (B,) bool``.

A packed dataset's shards are checked when the pipeline is made (present, of the size its
``manifest.json`` records: :func:`workbench.data.pack.check_shards`); a record that fails its
CRCs while training raises a :class:`~workbench.errors.WorkbenchError` naming the shard and the
byte offset (TensorFlow carries its text; the command line prints that line).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from workbench.data.layouts import ViewRecord, load_view
from workbench.data.pack import check_shards
from workbench.geometry.equirect import resize_range, resize_rgb, yaw_matrix

__all__ = [
    "Augment",
    "load_sample",
    "augment_sample",
    "make_dataset",
    "sample_seed",
    "epoch_order",
]


@dataclass(frozen=True)
class Augment:
    """Augmentation switches and strengths (all off by default)."""

    yaw_roll: bool = False
    flip: bool = False
    brightness: float = 0.0  # multiplicative, factor in [1 - b, 1 + b]
    contrast: float = 0.0
    saturation: float = 0.0
    gamma: float = 0.0  # exponent in [1 - g, 1 + g]

    @property
    def active(self) -> bool:
        return any(
            (self.yaw_roll, self.flip, self.brightness, self.contrast, self.saturation, self.gamma)
        )


def load_sample(rec: ViewRecord, root, height: int, range_height: int = 0) -> dict:
    """Load one view at training size ``(height, 2*height)`` as float arrays (see module doc).

    ``range_height``: the range at another size ``(range_height, 2*range_height)`` from the same
    read (0: ``height``), e.g. to score a model's input size against finer ground truth.
    """
    v = load_view(rec, root)
    rh = range_height or height
    rgb = resize_rgb(v.rgb, height) if v.rgb.shape[0] != height else v.rgb
    rng_m = resize_range(v.range_m, rh) if v.range_m.shape[0] != rh else v.range_m
    T = np.eye(4) if v.T_world_from_cam is None else v.T_world_from_cam
    return {
        "rgb": rgb.astype(np.float32) / 255.0,
        "range": rng_m.astype(np.float32),
        "pose": T.astype(np.float64),
        "flipped": False,
    }


def sample_seed(seed: int, counter: int) -> int:
    """Per-sample augmentation seed from the pipeline seed and the sample counter."""
    h = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def augment_sample(sample: dict, aug: Augment, seed: int) -> dict:
    """Apply ``aug`` to one sample with a deterministic generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    rgb, r, T = sample["rgb"], sample["range"], sample["pose"]
    flipped = bool(sample["flipped"])
    w = rgb.shape[1]
    if aug.yaw_roll:
        k = int(rng.integers(w))
        rgb, r = np.roll(rgb, k, axis=1), np.roll(r, k, axis=1)
        R = np.eye(4)
        R[:3, :3] = yaw_matrix(-k * 2 * np.pi / w)
        T = T @ R
    if aug.flip and rng.random() < 0.5:
        rgb, r = rgb[:, ::-1], r[:, ::-1]
        T = T @ np.diag([-1.0, 1.0, 1.0, 1.0])
        flipped = not flipped
    if aug.brightness:
        rgb = rgb * rng.uniform(1 - aug.brightness, 1 + aug.brightness)
    if aug.contrast:
        m = rgb.mean()
        rgb = (rgb - m) * rng.uniform(1 - aug.contrast, 1 + aug.contrast) + m
    if aug.saturation:
        grey = rgb.mean(axis=2, keepdims=True)
        rgb = (rgb - grey) * rng.uniform(1 - aug.saturation, 1 + aug.saturation) + grey
    if aug.gamma:
        rgb = np.clip(rgb, 0, 1) ** rng.uniform(1 - aug.gamma, 1 + aug.gamma)
    rgb = np.clip(rgb, 0, 1).astype(np.float32)
    return {
        "rgb": np.ascontiguousarray(rgb),
        "range": np.ascontiguousarray(r, np.float32),
        "pose": T,
        "flipped": flipped,
    }


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """Record order of one epoch: a permutation seeded by ``(seed, epoch)``, or ``arange``."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def available_memory_bytes() -> int:
    """Memory the system can give now without swapping (Linux ``MemAvailable``; elsewhere the
    free pages), bytes."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def cache_capacity(height: int, fraction: float = 0.5) -> int:
    """How many decoded samples at ``height`` (``(height, 2 height, 3)`` float32 RGB, range and
    pose: 0.5 MB at 128) ``fraction`` of the memory available now holds."""
    per_sample = height * 2 * height * 4 * 4 + 4096
    return int(available_memory_bytes() * fraction // per_sample)


class _SampleSource:
    """Stream sample ``counter`` → ``(rgb, range, pose float32, flipped)``, decoded (and the
    first ``cache`` of them kept un-augmented) then augmented with ``sample_seed(seed,
    counter)``."""

    def __init__(
        self, records, root: Path, height: int, aug: Augment, shuffle: bool, seed: int, cache: int
    ):
        self.records, self.root, self.height, self.aug = records, root, height, aug
        self.shuffle, self.seed, self.cache = shuffle, seed, cache
        self.store: dict[int, tuple] = {}
        self.orders: dict[int, np.ndarray] = {}

    def index(self, counter: int) -> int:
        n = len(self.records)
        epoch = counter // n
        if epoch not in self.orders:
            if len(self.orders) > 4:
                self.orders.clear()
            self.orders[epoch] = epoch_order(n, self.seed, epoch, self.shuffle)
        return int(self.orders[epoch][counter % n])

    def __call__(self, counter):
        i = self.index(int(counter))
        if i in self.store:
            rgb, r, pose = self.store[i]
        else:
            s = load_sample(self.records[i], self.root, self.height)
            rgb, r, pose = s["rgb"], s["range"], s["pose"]
            if len(self.store) < self.cache:
                self.store[i] = (rgb, r, pose)
        flipped = False
        if self.aug.active:
            s = {"rgb": rgb, "range": r, "pose": pose, "flipped": False}
            s = augment_sample(s, self.aug, sample_seed(self.seed, int(counter)))
            rgb, r, pose, flipped = s["rgb"], s["range"], s["pose"], s["flipped"]
        return rgb, r, pose.astype(np.float32), np.bool_(flipped)


def make_dataset(
    records: list[ViewRecord],
    root: str | Path,
    height: int = 256,
    batch: int = 4,
    augment: Augment | None = None,
    shuffle: bool = False,
    seed: int = 0,
    repeat: bool = False,
    cache: bool | int = False,
    drop_remainder: bool = False,
    deterministic: bool = True,
    start: int = 0,
):
    """A ``tf.data.Dataset`` of batches from ``records`` (see the module doc for the structure).

    Sample ``c`` of the stream (counting from 0 over all epochs) is record
    ``epoch_order(n, seed, c // n, shuffle)[c % n]`` augmented with seed ``sample_seed(seed, c)``,
    so the stream is a pure function of ``(records, seed)``: ``start=k`` resumes it exactly at
    sample ``k`` without decoding what came before (training resume uses ``step * batch``).

    Args:
        records, root: from :func:`workbench.data.splits.read_split_csv`.
        height: training height (width ``2 * height``).
        augment: augmentations (none when ``None``).
        shuffle: shuffle records each epoch (seeded).
        seed: pipeline seed (shuffle order and augmentation draws).
        repeat: repeat forever (for step-based training); otherwise one epoch from ``start``.
        cache: keep decoded (un-augmented) samples in memory after their first use: ``True``
            as many as half the memory available now holds (:func:`cache_capacity`; the
            others are decoded each time), an int that many, ``False`` none.
        deterministic: keep element order with parallel decoding.
        start: index of the first sample of the stream.
    """

    if not records:
        raise ValueError("make_dataset needs at least one record")
    if height < 2:
        raise ValueError(f"height must be >= 2, got {height}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    shards = {r.rgb_path for r in records if r.layout == "shards"}
    if shards:  # a pack: a missing or truncated shard is named now, not mid-training
        check_shards(root, shards)
    keep = cache_capacity(height) if cache is True else int(cache)
    source = _SampleSource(records, Path(root), height, augment or Augment(), shuffle, seed, keep)
    w = 2 * height

    def tf_load(counter):
        rgb, r, pose, flipped = tf.numpy_function(
            source, [counter], [tf.float32, tf.float32, tf.float32, tf.bool]
        )
        rgb.set_shape((height, w, 3))
        r.set_shape((height, w))
        pose.set_shape((4, 4))
        flipped.set_shape(())
        r = r[..., None]
        mask = tf.cast(tf.math.is_finite(r) & (r > 0), tf.float32)
        r = tf.where(mask > 0, r, 0.0)
        return {"rgb": rgb, "range": r, "mask": mask, "pose": pose, "flipped": flipped}

    n = len(records)
    stop = np.iinfo(np.int64).max if repeat else max(start, n)
    ds = tf.data.Dataset.range(start, stop)
    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
