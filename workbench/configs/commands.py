"""Config dataclasses of every command (light: no TensorFlow, no open3d import here).

Each field's help is its documentation; the CLI flags (``workbench <verb> --help``), the notebook
widgets and the ``config.json`` saved next to a run's outputs are all generated from these.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.configs.base import Config, option
from workbench.errors import WorkbenchError
from workbench.io import check_outside

CAMERA_HEIGHT_HELP = (
    "rescale each prediction so that its fitted floor lies this far below the camera, metres "
    "(the rig's camera height, 0.3-3.0; 0: off)"
)


def _check_out_outside_root(config) -> None:
    """``--out`` of a dataset verb is neither the dataset root nor inside it: its files would
    be read as the dataset's (a scene folder more) or replace them (``covisibility --out ROOT``
    writes each scene's ``covisibility.txt``, which RealSee3D ships)."""
    check_outside(config.out, "--out", config.root, "the dataset root")


def _check_voxel(value: float) -> None:
    """``--voxel`` is 0 (every point kept) or at least a millimetre (open3d's grid overflows
    below)."""
    if value and value < 1e-3:
        raise WorkbenchError(f"must be 0 (off) or >= 0.001 metres, got {value}", "--voxel")


def _check_camera_height(value: float) -> None:
    """``--camera-height`` is 0 (off) or a rig height in [0.3, 3.0] metres; checked before the
    field's own range, so that -1 gets this line too (not "must be >= 0")."""
    if isinstance(value, int | float) and value and not 0.3 <= value <= 3.0:
        raise WorkbenchError(
            f"must be 0 (off) or between 0.3 and 3.0 metres, got {value}", "--camera-height"
        )


def _refuse_if(checks) -> None:
    """Raise the first ``(bad, flag, message)`` whose ``bad`` holds, naming its flag: the
    ranges one flag alone cannot state, checked where the config is made (CLI, notebook form,
    ``config.json``)."""
    for bad, flag, message in checks:
        if bad:
            raise WorkbenchError(message, flag)


def _training_checks(c) -> list:
    """What every trainer refuses: a warm-up as long as the run, an overlap range upside down
    (the pair trainers)."""
    warmup = getattr(c, "warmup_steps", 0)
    lo, hi = getattr(c, "min_overlap", 0.0), getattr(c, "max_overlap", 1.0)
    return [
        (0 < c.steps <= warmup, "--warmup-steps",
         f"{warmup} must be below --steps {c.steps}"),
        (lo > hi, "--min-overlap", f"{lo} is above --max-overlap {hi}"),
    ]  # fmt: skip


SCHEDULER_HELP = (
    "address of a running Dask scheduler (tcp://host:8786): the job's tasks run on that cluster"
)
SCHEDULER_ADDRESS = (
    r"(tcp|tls|ucx|inproc|ws|wss)://\S+",
    "a Dask scheduler address like tcp://host:8786",
)

__all__ = [
    "DataFlags",
    "DemoConfig",
    "SynthConfig",
    "ValidateConfig",
    "SplitConfig",
    "TrainConfig",
    "EvalConfig",
    "InferConfig",
    "ExportConfig",
    "EdaConfig",
    "PointCloudConfig",
    "MatchConfig",
    "BiviewConfig",
    "CovisibilityConfig",
    "ConsistencyConfig",
    "PackConfig",
    "PoseConfig",
    "NotebookConfig",
    "MODEL_FIELDS",
    "parse_size",
]


@dataclass(frozen=True)
class DataFlags(Config):
    """How to read a dataset (:mod:`workbench.data.dataset`): detected from the files, each
    field overrides what was detected."""

    layout: str = option(
        "", "layout: seed, realsee3d, rgbd-folder, zind or shards (auto-detected when empty)"
    )
    encoding: str = option(
        "",
        "depth encoding: millimetres, matterport3d, stanford2d3d, structured3d, pano3d, "
        "realsee3d, metres (default: dataset.json in the root, else the layout's own)",
    )
    depth_scale: float = option(
        0.0,
        "PNG depth units per metre, overriding the encoding's and every RealSee3D view's "
        "depth_scale.txt (0: the encoding's, RealSee3D's per view)",
        ge=0,
        le=1e6,
    )
    depth_invalid: int = option(
        -1, "PNG value marking missing depth besides 0 (-1: the encoding's)", ge=-1, le=65535
    )
    resolution: str = option(
        "low", "panoramas: low (pan/low, training size) or high (pan/high)", choices=("low", "high")
    )


@dataclass(frozen=True)
class DemoConfig(Config):
    """``workbench demo``: the main job end to end on ``data_samples/``."""

    out: str = option("outputs/demo", "output folder")
    data: str = option(
        "", "dataset root the demo starts from (default: the bundled data_samples/seed)"
    )
    height: int = option(
        256, "panorama height in pixels for the analytic scene (width is 2x)", ge=8, le=8192
    )


@dataclass(frozen=True)
class SynthConfig(Config):
    """``workbench synth``: procedural indoor scenes, in the seed layout or, with ``--layout``,
    as RealSee3D or an ``rgbd-folder`` (several scenes: one sub-folder each) would ship them
    (README, *Data*)."""

    out: str = option("synthetic", "output dataset root")
    scenes: int = option(4, "number of scenes", ge=1, le=1_000_000)
    views: int = option(4, "views per scene", ge=1, le=1000)
    seed: int = option(0, "random seed; scene i depends only on (seed, i)", ge=0)
    size: str = option("512x256", "rendered panorama size WxH (pan/high and depth)")
    low_size: str = option("512x256", "pan/low size WxH (capped at --size)")
    preset: str = option(
        "realistic",
        "scene generator preset (rooms: furnished rooms with real-world materials and lamps; "
        "diverse: rooms of many shapes, placements and palettes; diverse-heldout: only the "
        "families diverse holds out of training; compact: small rooms, 1.0-2.4 m sides: "
        "closets, bathrooms, pantries; homes: diverse with closed doors, painted or wood, and "
        "empty unfurnished rooms)",
        choices=("realistic", "easy", "rooms", "diverse", "diverse-heldout", "compact", "homes"),
    )
    layout: str = option("seed", "layout to write", choices=("seed", "realsee3d", "rgbd-folder"))
    encoding: str = option(
        "",
        "the written layout's real encoding: realsee3d real (sparse LiDAR scans, the default) "
        "or synthetic (dense); rgbd-folder matterport3d (the default) or stanford2d3d",
        choices=("", "real", "synthetic", "matterport3d", "stanford2d3d"),
    )
    workers: int = option(2, "threads (files do not depend on it)", ge=1, le=512)
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    progress: bool = option(True, "progress bar")


@dataclass(frozen=True)
class ValidateConfig(DataFlags):
    """``workbench validate``: dataset health check. Exit 0 clean, 1 problems, 2 unusable."""

    root: str = option(None, "dataset root", positional=True)
    report: str = option(
        "", "write every problem as a CSV row here (default: validate-<dataset>.csv, printed)"
    )
    mesh: bool = option(False, "also check depth against the scene mesh (seed layout obj/)")
    max_invalid: float = option(
        0.5, "largest acceptable fraction of invalid depth pixels", ge=0, le=1
    )
    workers: int = option(2, "threads", ge=1, le=512)
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    progress: bool = option(True, "progress bar")


@dataclass(frozen=True)
class SplitConfig(DataFlags):
    """``workbench split``: scene-level train/val CSVs, stable under added scenes."""

    root: str = option(None, "dataset root", positional=True)
    out: str = option("lists", "folder for train.csv, val.csv, split.json")
    val_fraction: float = option(0.1, "fraction of scenes in validation", ge=0, le=1)
    exclude: str = option("", "health report CSV whose views are left out")
    unit: str = option(
        "scene",
        "split by scene (stable as scenes are added) or by view (one-scene datasets)",
        choices=("scene", "view"),
    )

    def __post_init__(self):
        super().__post_init__()
        _check_out_outside_root(self)


@dataclass(frozen=True)
class TrainConfig(Config):
    """``workbench train``: supervised equirect depth training (loss, metrics: README *Training*).

    The run folder ``logdir`` receives ``config.json``, ``checkpoints/``, TensorBoard logs in
    ``tb/``, visual dumps in ``dumps/``, ``history.csv``, ``val_metrics.csv``, ``model.keras`` and
    ``summary.json``.
    """

    train_csv: str = option("lists/train.csv", "training split CSV (root from split.json)")
    val_csv: str = option("lists/val.csv", "validation split CSV ('' for none)")
    logdir: str = option("runs/train", "run folder")
    rate: tuple[float, float, float] = option(
        (1.0, 0.5, 1.0), "loss weights of L1, normal and SSIM terms", ge=0
    )
    ssim_k: int = option(7, "SSIM window size (odd)", ge=1)
    height: int = option(
        128, "training height H (width 2H); divisible by 2**model_depth", ge=2, le=8192
    )
    model_width: int = option(
        16, "channels of the U-Net's first level (doubling per level)", ge=1, le=512
    )
    model_depth: int = option(4, "U-Net down-sampling levels", ge=1, le=8)
    model_coords: bool = option(False, "append latitude channels to the U-Net's input")
    model_context: bool = option(False, "global-context branch at the U-Net's bottleneck")
    model_stem: bool = option(
        False, "stride-2 stem: U-Net levels at H/2 and a light full-resolution head (~4x faster)"
    )
    model_grey_world: bool = option(
        False, "grey-world white balance of the input inside the model (removes a colour cast)"
    )
    l1_space: str = option(
        "metric", "L1 term on range in metres or on log range", choices=("metric", "log")
    )
    batch: int = option(8, "global batch size (split across replicas)", ge=1, le=4096)
    steps: int = option(200, "total optimizer steps", ge=1)
    lr: float = option(2e-3, "peak learning rate (Adam)", gt=0, le=1)
    lr_schedule: str = option(
        "cosine", "learning-rate schedule", choices=("cosine", "constant", "step")
    )
    warmup_steps: int = option(0, "linear warm-up steps", ge=0)
    weight_decay: float = option(0.0, "AdamW weight decay (0: plain Adam)", ge=0)
    augment: bool = option(True, "yaw roll, flip and colour jitter on training samples")
    cache: bool = option(
        True, "keep decoded samples in memory (as many as half the available memory holds)"
    )
    seed: int = option(0, "seed of weights, shuffling and augmentation", ge=0)
    deterministic: bool = option(True, "deterministic TF ops (bit-exact reruns; slower on GPU)")
    strategy: str = option(
        "auto",
        "tf.distribute strategy (auto: multiworker when TF_CONFIG is set, mirrored on >1 GPU)",
        choices=("auto", "default", "mirrored", "multiworker"),
    )
    cpu_devices: int = option(
        0, "split the CPU into N logical devices (to try mirrored on CPU)", ge=0, le=64
    )
    mixed_precision: bool = option(False, "mixed_float16 compute (GPUs only)")
    log_every: int = option(10, "steps between TensorBoard/history scalars", ge=1)
    val_every: int = option(0, "steps between validations (0: at the end only)", ge=0)
    val_views: int = option(64, "validation views used (0: all)", ge=0)
    dump_every: int = option(0, "steps between visual dumps (0: at the end only)", ge=0)
    ckpt_every: int = option(100, "steps between checkpoints", ge=1)
    keep_ckpts: int = option(3, "checkpoints kept", ge=1)
    resume: bool = option(False, "continue from the latest checkpoint in logdir")
    init_from: str = option(
        "",
        "warm start: weights of this run folder or .keras file (same network, any height), "
        "fresh optimizer at step 0; e.g. train at a small height, then continue at a larger one",
    )
    progress: bool = option(True, "progress bar")

    def __post_init__(self):
        super().__post_init__()
        _refuse_if([
            (not any(self.rate), "--rate", f"at least one weight must be > 0, got {self.rate}"),
            (self.resume and bool(self.init_from), "--init-from",
             "cannot be given with --resume (resume continues the run's own weights)"),
            *_training_checks(self),
        ])  # fmt: skip


# fields that define the network: a checkpoint only loads into a model with the same values
MODEL_FIELDS = (
    "height",
    "model_width",
    "model_depth",
    "model_coords",
    "model_context",
    "model_stem",
    "model_grey_world",
)


@dataclass(frozen=True)
class EvalConfig(Config):
    """``workbench eval``: metrics of a model (run folder, .keras, SavedModel, .pb or .tflite)."""

    csv: str = option(None, "split CSV to evaluate on", positional=True)
    model: str = option(
        "",
        "model: run folder, .keras, SavedModel folder, .pb or .tflite (default: the shipped model)",
    )
    out: str = option("outputs/eval", "folder for metrics.json, per_view.csv and dumps/")
    worst: int = option(4, "visual dumps of the N worst views (by AbsRel)", ge=0)
    batch: int = option(4, "inference batch size", ge=1, le=4096)
    median_align: bool = option(False, "scale-align predictions to the GT median (scale-free)")
    average: str = option(
        "views",
        "views: mean of per-view metrics (UniFuse, HoHoNet); pixels: all valid pixels pooled "
        "(DAC, Argus)",
        choices=("views", "pixels"),
    )
    limit: int = option(0, "evaluate the first N views only (0: all)", ge=0)
    progress: bool = option(True, "progress bar")
    constant: float = option(
        0.0,
        "range of the constant baseline, metres (0: the training median recorded beside the "
        "model, else 2 m)",
        ge=0,
        le=1000,
    )
    height: int = option(
        0,
        "compare at this height, an even number: ground truth loaded at it, predictions resized "
        "to it (0: the model's own); fixes the resolution when models of different sizes are "
        "compared",
        ge=0,
        le=8192,
    )
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    flip: bool = option(
        True,
        "average each prediction with that of the mirrored panorama (exact for equirect "
        "images; two model calls per image)",
    )
    camera_height: float = option(
        0.0,
        CAMERA_HEIGHT_HELP + "; metrics.json adds the rescaled (metric) and median-aligned "
        "(scale-free) metrics",
        ge=0,
        le=3.0,
    )

    def __post_init__(self):
        _check_camera_height(self.camera_height)
        super().__post_init__()


@dataclass(frozen=True)
class InferConfig(Config):
    """``workbench infer``: depth, normals and point clouds for your own panoramas."""

    paths: tuple[str, ...] = option(
        None,
        "image files, folders (searched recursively) or dataset roots (their panoramas only, "
        "outputs under <scene>/<view>)",
        positional=True,
    )
    model: str = option(
        "", "run folder, .keras, SavedModel folder, .pb or .tflite (default: the shipped model)"
    )
    out: str = option("outputs/infer", "output folder")
    batch: int = option(4, "images per model call", ge=1, le=4096)
    ply: bool = option(
        False,
        "also write a coloured point cloud per image and, for a dataset with poses, one fused "
        "cloud of predicted depth per scene (<scene>/fused_predicted.ply, world frame)",
    )
    voxel: float = option(
        0.02, "voxel size in metres of the fused clouds (0: keep every point, else >= 0.001)",
        ge=0, le=10,
    )  # fmt: skip
    resolution: str = option(
        "low",
        "seed datasets: infer pan/low (training size) or pan/high panoramas",
        choices=("low", "high"),
    )
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    pad: bool = option(False, "letterbox non-2:1 images to 2:1 instead of refusing them")
    threads: int = option(2, "LiteRT threads (.tflite models)", ge=1, le=512)
    progress: bool = option(True, "progress bar")
    redo: bool = option(
        False, "recompute images an earlier run finished with this model and these options"
    )
    upsample: str = option(
        "guided",
        "full-resolution depth: guided (edges follow the RGB, fast guided filter) or bilinear",
        choices=("guided", "bilinear"),
    )
    camera_height: float = option(0.0, CAMERA_HEIGHT_HELP, ge=0, le=3.0)
    flip: bool = option(
        True,
        "average each prediction with that of the mirrored panorama (exact for equirect "
        "images; two model calls per image)",
    )

    def __post_init__(self):
        _check_camera_height(self.camera_height)
        super().__post_init__()
        _check_voxel(self.voxel)


@dataclass(frozen=True)
class ExportConfig(Config):
    """``workbench export``: SavedModel / frozen .pb / .tflite (fp32, fp16, int8) + report."""

    checkpoint: str = option("", "run folder or .keras file (default: the shipped model)")
    format: tuple[str, ...] = option(
        ("savedmodel", "pb", "tflite"), "formats: savedmodel, pb, tflite"
    )
    quantize: tuple[str, ...] = option(
        ("none", "fp16", "int8"), "tflite variants: none (fp32), fp16, int8, dynamic"
    )
    out: str = option("outputs/export", "output folder")
    csv: str = option("", "split CSV: int8 calibration data and report accuracy")
    height: int = option(
        0, "export input height H (0: the model's own, else a multiple of 16)", ge=0, le=8192
    )
    int8_io: bool = option(False, "int8 model input/output (default float I/O)")
    calibration: int = option(16, "views used to calibrate int8", ge=1)
    report: bool = option(False, "write report.md/json: size, latency, accuracy, Keras diff")
    runs: int = option(10, "timed runs per latency figure", ge=1)
    views: int = option(16, "validation views for the report's accuracy", ge=1)

    def __post_init__(self):
        super().__post_init__()
        _refuse_if([
            (self.int8_io and "int8" not in self.quantize, "--int8-io",
             f"needs int8 among --quantize, got {' '.join(self.quantize)}"),
        ])  # fmt: skip


@dataclass(frozen=True)
class EdaConfig(DataFlags):
    """``workbench eda``: depth, orientation and motion statistics with an HTML report."""

    root: str = option(None, "dataset root", positional=True)
    out: str = option("outputs/eda", "output folder (tables, report.html)")
    cache: str = option("", "per-view cache parquet (default: <out>/views_cache.parquet)")
    workers: int = option(2, "threads computing per-view statistics", ge=1, le=512)
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    tilt_limit: float = option(5.0, "tilt (degrees) above which a view is an outlier", ge=0, le=90)
    progress: bool = option(True, "progress bar")
    classes: str = option(
        "",
        "segment.png class table JSON, or a folder holding RealSee3D's class_mapping_real.json "
        "and class_mapping_synthetic.json (default: the root's metadata/)",
    )
    consistency: str = option(
        "", "a `workbench consistency` output folder: its views.csv becomes the report's "
        "Multi-view consistency section",
    )  # fmt: skip

    def __post_init__(self):
        super().__post_init__()
        _check_out_outside_root(self)


@dataclass(frozen=True)
class PointCloudConfig(DataFlags):
    """``workbench pointcloud``: fused, coloured point cloud of a scene as PLY."""

    root: str = option(None, "dataset root", positional=True)
    scene: str = option("", "scene id or unique prefix (default: the first scene)")
    views: tuple[str, ...] = option(
        (), "view ids to fuse (default: all of the scene's first floor; others are named)"
    )
    out: str = option("outputs/scene.ply", "output .ply")
    voxel: float = option(
        0.02, "voxel size in metres (0: keep every point, else >= 0.001)", ge=0, le=10
    )
    stride: int = option(1, "keep every N-th pixel row and column", ge=1)
    html: str = option("", "also write an interactive plotly HTML here")
    budget: int = option(60000, "points in the HTML view", ge=1)
    mesh: bool = option(False, "overlay the scene mesh (seed layout obj/) in the HTML view")

    def __post_init__(self):
        super().__post_init__()
        _check_voxel(self.voxel)


@dataclass(frozen=True)
class MatchConfig(DataFlags):
    """``workbench match``: dense correspondence of two views from depth + pose."""

    root: str = option(None, "dataset root", positional=True)
    scene: str = option("", "scene id or unique prefix (default: the first scene)")
    a: str = option("000", "view id of panorama A")
    b: str = option("001", "view id of panorama B")
    out: str = option("outputs/match", "output folder")
    height: int = option(0, "work at this height (0: the depth's own)", ge=0, le=8192)
    tol: float = option(0.05, "relative range tolerance of the occlusion test", gt=0, le=10)
    matches: int = option(80, "matches drawn and written to matches.csv", ge=0)

    def __post_init__(self):
        super().__post_init__()
        _check_out_outside_root(self)
        _refuse_if([(self.a == self.b, "--b", f"must be another view than --a {self.a}")])


@dataclass(frozen=True)
class CovisibilityConfig(DataFlags):
    """``workbench covisibility``: every scene's covisibility matrix, on a cluster engine."""

    root: str = option(None, "dataset root", positional=True)
    out: str = option("outputs/covisibility", "output folder (one sub-folder per scene)")
    height: int = option(
        128, "work at this height (width 2H; at most the views' own rows)", ge=8, le=8192
    )
    tol: float = option(0.05, "relative range tolerance of the occlusion test", gt=0, le=10)
    workers: int = option(1, "threads (1: a plain loop in this process)", ge=1, le=512)
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    progress: bool = option(True, "progress bar")

    def __post_init__(self):
        super().__post_init__()
        _check_out_outside_root(self)


@dataclass(frozen=True)
class ConsistencyConfig(DataFlags):
    """``workbench consistency``: do covisible views' depths agree? Every pair and view
    diagnosed (ok, scale, pose, change, mismatch, weak; a view without a partner unchecked),
    on a cluster engine."""

    root: str = option(None, "dataset root", positional=True)
    out: str = option("outputs/consistency", "output folder (pairs.csv, views.csv, summary)")
    height: int = option(
        128, "work at this height (width 2H; below 128 silhouettes blur into faults; at most "
        "the views' own rows)",
        ge=32, le=4096,
    )  # fmt: skip
    min_overlap: float = option(0.3, "least covisibility of a pair", ge=0, le=1)
    partners: int = option(6, "pairs per view: its most covisible views", ge=1, le=1000)
    tolerance: float = option(0.01, "inlier tolerance, fraction of the range", ge=0, le=1)
    tol_abs: float = option(0.02, "inlier tolerance, metres (added to --tolerance)", ge=0, le=10)
    gate: float = option(0.25, "occlusion test's relative tolerance", gt=0, le=10)
    ok_inliers: float = option(0.9, "inlier fraction of a consistent pair", ge=0, le=1)
    bad_inliers: float = option(
        0.5, "below this inlier fraction an unexplained pair is a mismatch", ge=0, le=1
    )
    scale_min: float = option(0.01, "least |scale - 1| reported as a scale fault", ge=0, le=1)
    pose_cm: float = option(1.0, "least pose correction reported (cm, or --pose-deg)", ge=0)
    pose_deg: float = option(0.3, "least pose correction reported (degrees)", ge=0, le=180)
    change_min: float = option(
        0.002, "least changed region reported (fraction of the image)", ge=0, le=1
    )
    workers: int = option(1, "threads (1: a plain loop in this process)", ge=1, le=512)
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    progress: bool = option(True, "progress bar")

    def __post_init__(self):
        super().__post_init__()
        _check_out_outside_root(self)
        _refuse_if([
            (self.bad_inliers > self.ok_inliers, "--bad-inliers",
             f"{self.bad_inliers} is above --ok-inliers {self.ok_inliers}"),
            (self.tolerance + self.tol_abs <= 0, "--tol-abs",
             "--tolerance and --tol-abs are both 0: no pixel could agree"),
        ])  # fmt: skip


@dataclass(frozen=True)
class PackConfig(DataFlags):
    """``workbench pack``: a dataset as TFRecord shards (+ index.csv, manifest.json) that every
    verb reads like a folder, written on a cluster engine."""

    root: str = option(None, "dataset root", positional=True)
    out: str = option("outputs/shards", "output folder of the shards")
    shard_mb: float = option(150.0, "target shard size in MiB", gt=0, le=65536)
    workers: int = option(1, "threads (1: a plain loop in this process)", ge=1, le=512)
    scheduler: str = option("", SCHEDULER_HELP, pattern=SCHEDULER_ADDRESS)
    progress: bool = option(True, "progress bar")

    def __post_init__(self):
        super().__post_init__()
        _check_out_outside_root(self)


@dataclass(frozen=True)
class BiviewConfig(Config):
    """``workbench train-biview``: self-supervised depth from view pairs with known poses."""

    train_csv: str = option("lists/train.csv", "training split CSV (pairs are drawn from it)")
    val_csv: str = option("lists/val.csv", "validation split CSV for depth metrics ('' none)")
    logdir: str = option("runs/biview", "run folder")
    height: int = option(64, "training height H (width 2H)", ge=2, le=8192)
    model_width: int = option(12, "U-Net first-level channels", ge=1, le=512)
    model_depth: int = option(4, "U-Net down-sampling levels", ge=1, le=8)
    model_coords: bool = option(False, "append latitude channels to the U-Net's input")
    model_context: bool = option(False, "global-context branch at the U-Net's bottleneck")
    batch: int = option(4, "pairs per step", ge=1, le=4096)
    steps: int = option(200, "optimizer steps", ge=1)
    lr: float = option(1e-3, "peak learning rate", gt=0, le=1)
    lr_schedule: str = option("cosine", "schedule", choices=("cosine", "constant", "step"))
    warmup_steps: int = option(0, "linear warm-up steps", ge=0)
    smooth_weight: float = option(1e-3, "edge-aware smoothness weight", ge=0)
    supervised_weight: float = option(0.0, "weight of an optional supervised L1 term", ge=0)
    occlusion: str = option(
        "none",
        "photometric mask: none, or a z-test against the source's predicted range",
        choices=("none", "predicted"),
    )
    scales: int = option(3, "scales of the photometric loss (pooled by 1, 2, 4, ...)", ge=1, le=8)
    min_overlap: float = option(0.3, "smallest consistent overlap of a training pair", ge=0, le=1)
    max_overlap: float = option(0.98, "largest overlap (excludes near-duplicates)", ge=0, le=1)
    seed: int = option(0, "seed", ge=0)
    log_every: int = option(10, "steps between history rows", ge=1)
    ckpt_every: int = option(100, "steps between checkpoints", ge=1)
    keep_ckpts: int = option(3, "checkpoints kept", ge=1)
    val_views: int = option(32, "validation views (0: all)", ge=0)
    resume: bool = option(False, "continue from the latest checkpoint")
    progress: bool = option(True, "progress bar")

    def __post_init__(self):
        super().__post_init__()
        div, pooled = 2**self.model_depth, 2 ** (self.scales - 1)
        _refuse_if([
            (self.height % div != 0, "--height",
             f"{self.height} must be divisible by 2**--model-depth = {div}"),
            (self.height < 2 * pooled, "--scales",
             f"{self.scales} scales pool by {pooled}: --height {self.height} is below "
             f"{2 * pooled}"),
            *_training_checks(self),
        ])  # fmt: skip


@dataclass(frozen=True)
class PoseConfig(Config):
    """``workbench train-pose``: relative pose (rotation + translation) of two panoramas."""

    train_csv: str = option("lists/train.csv", "training split CSV (pairs are drawn from it)")
    val_csv: str = option("lists/val.csv", "validation split CSV ('' none)")
    logdir: str = option("runs/pose", "run folder")
    height: int = option(64, "input height H (width 2H)", ge=4, le=1024)
    width: int = option(16, "channels of the first encoder level", ge=1, le=512)
    batch: int = option(8, "pairs per step", ge=1, le=4096)
    steps: int = option(300, "optimizer steps", ge=1)
    lr: float = option(1e-3, "learning rate", gt=0, le=1)
    translation_weight: float = option(1.0, "weight of the translation L1 (metres)", ge=0)
    yaw_ce_weight: float = option(0.5, "weight of the yaw-classification cross-entropy", ge=0)
    min_overlap: float = option(0.2, "smallest overlap of a pair", ge=0, le=1)
    max_overlap: float = option(1.0, "largest overlap of a pair", ge=0, le=1)
    random_yaw: bool = option(True, "roll B by a random yaw (pose updated) for rotation variety")
    seed: int = option(0, "seed", ge=0)
    log_every: int = option(10, "steps between history rows", ge=1)
    ckpt_every: int = option(100, "steps between checkpoints", ge=1)
    keep_ckpts: int = option(3, "checkpoints kept", ge=1)
    resume: bool = option(False, "continue from the latest checkpoint")
    progress: bool = option(True, "progress bar")

    def __post_init__(self):
        super().__post_init__()
        _refuse_if(_training_checks(self))


def parse_size(text: str, flag: str = "--size") -> tuple[int, int]:
    """``"512x256"`` → ``(width, height)`` with ``width == 2 * height`` and ``2 <= height <=
    8192``; errors name ``flag``."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise WorkbenchError(f"must look like 512x256, got {text!r}", flag) from None
    if w != 2 * h or not 2 <= h <= 8192:
        raise WorkbenchError(f"must be 2:1 (W == 2*H) with 2 <= H <= 8192, got {text!r}", flag)
    return w, h


NOTEBOOK_NAME = (
    r"[0-9]{2}(_[A-Za-z0-9_]+)?|.+\.ipynb",
    "a notebook number like 02, its name, or a .ipynb",
)


@dataclass(frozen=True)
class NotebookConfig(Config):
    """``workbench notebook``: run a notebook headless on a dataset into an executed notebook
    and an HTML report (its parameters cell set to ``--data``, ``--out`` and ``--encoding``)."""

    name: str = option(
        None,
        "notebook: 01..09, its name (02_depth_pose_eda) or a .ipynb",
        positional=True,
        pattern=NOTEBOOK_NAME,
    )
    data: str = option("", "dataset root (default: the notebook's bundled sample)")
    out: str = option(
        "",
        "output folder for <name>.ipynb, <name>.html and what the notebook writes "
        "(default: ~/workbench-outputs/<name>)",
    )
    encoding: str = option("", "depth encoding, as for every verb (default: detected)")
    timeout: int = option(600, "seconds one cell may run", ge=10, le=86400)
