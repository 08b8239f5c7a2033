"""Write notebooks/0*.ipynb from the cell lists below (then execute them with
``make notebooks``). Notebooks stay thin: import, call, display. A cell whose first line is
``# NBVAL_IGNORE_OUTPUT`` has machine-dependent output (timings, figures, float losses)."""

from pathlib import Path

import nbformat

IGN = "# NBVAL_IGNORE_OUTPUT\n"
NB = {}


def params() -> str:
    """The parameters cell (tagged ``parameters``: papermill's and ``workbench notebook``'s)."""
    return (
        "# Parameters: your dataset and where this notebook writes. Empty means $WORKBENCH_DATA /\n"
        "# $WORKBENCH_OUT, else the bundled sample and ~/workbench-outputs/<notebook>.\n"
        "# `workbench notebook NN --data ROOT --out DIR` sets them and runs the notebook headless.\n"
        'DATA = ""  # e.g. "/data/realsee3d" or "~/my_panoramas" (any layout the workbench reads)\n'
        'OUT = ""\n'
        'ENCODING = ""  # e.g. "matterport3d" for a folder without dataset.json'
    )


def opener(name: str, sample: str = "seed", extra: str = "", opens: str = "open_dataset") -> str:
    """Imports, then the dataset opened as every verb opens it (``opens``: ``open_views`` also
    takes a folder of panoramas alone), and the output folder."""
    return (
        "from workbench import open_dataset\n"
        + ("from workbench.deploy.panoramas import open_views\n" if opens == "open_views" else "")
        + (
            "from workbench.data.plausibility import warn_if_implausible\n"
            if opens == "open_dataset"
            else ""
        )
        + "from workbench.paths import data_folder, output_folder\n"
        + extra
        + f'\nds = {opens}(data_folder(DATA, "{sample}"), encoding=ENCODING)\n'
        f'out = output_folder(OUT, "{name}")\n'
        + (
            "warn_if_implausible(ds)  # one line when the depth scale looks wrong, as the CLI says\n"
            if opens == "open_dataset"
            else ""
        )
        + "print(ds.summary())"
    )


TRY_YOURS = (
    "**Your data**: set `DATA` in the next cell to your dataset's folder (seed, RealSee3D, "
    "`rgb/` + `depth/` folders in any named encoding, packed shards, or `rgb/` + `pose/` without "
    "depth), or run `workbench notebook {nn} --data ROOT --out DIR` for an executed copy and an "
    "HTML page. Depth is read exactly as `workbench validate` and `eda` read it (`dataset.json`, "
    "`--encoding`)."
)

NB["01_dataset_tour"] = [
    "# 01 · Dataset tour\nOne dataset's views, each in metres, and its health check. "
    + TRY_YOURS.format(nn="01"),
    params(),
    opener(
        "01_dataset_tour",
        extra="import ipywidgets as W\nimport pandas as pd\n\n"
        "from workbench.data.dataset import readable_views\n"
        "from workbench.data.validate import validate_dataset\n"
        "from workbench.viz.browsers import ViewBrowser\n"
        "from workbench.viz.dataset_picker import DatasetPicker\n"
        "from workbench.viz.plots import views_figure\n",
    ),
    "pd.DataFrame([r.table_row() for r in ds.records[:4]])  # depth_scale: units per metre",
    "## One scene's views\nThe first scene (up to six views): panorama and range in metres. A "
    "dataset without depth shows its panoramas alone.",
    IGN
    + "views_figure(readable_views(ds, ds.scene(ds.scenes[0])[:6]))  # unreadable: named, left out",
    "## Any view in metres\nPick a view: its panorama and range side by side, both at the "
    "panorama's 2:1 aspect (hover for the range of a pixel in metres, with its colour bar "
    "beside it; a zoom or pan in one panel moves the other). "
    "The picker above it opens another folder (a "
    "bundled sample or a path of yours, with an encoding when it has no `dataset.json`) into "
    "the same browser.",
    IGN + "picker, browser = DatasetPicker(ds), ViewBrowser(ds)\n"
    "picker.on_open(browser.set_dataset)\n"
    "W.VBox([picker, browser])",
    "## Health check\n`workbench validate` as a function: one row per problem (the first 20).",
    "_, problems = validate_dataset(ds.root, spec=ds.spec, progress=False)\n"
    'print(len(ds), "views,", len(problems), "problems")\n'
    'pd.DataFrame([p.__dict__ for p in problems[:20]], columns=["scene_id", "view_id", '
    '"file", "problem", "detail"])',
]

NB["02_depth_pose_eda"] = [
    "# 02 · Depth and pose EDA\nDepth distribution by latitude band, camera orientation and "
    "camera motion, from the cached per-view table (`workbench eda` writes the same as HTML). "
    + TRY_YOURS.format(nn="02"),
    params(),
    opener(
        "02_depth_pose_eda",
        extra="from workbench.eda.explorer import EdaExplorer\n"
        "from workbench.eda.report import compute\n",
    ),
    "failed = []  # views that cannot be read: left out and listed, as `workbench eda` does\n"
    'tables = compute(ds.root, options=ds.spec, cache=out / "views_cache.parquet", errors=failed)\n'
    'v = tables["views"]\n'
    'print(len(v), "views,", v.scene_id.nunique(), "scenes,", len(failed), "left out")\n'
    "for f in failed:\n"
    '    print("left out:", f["error"])\n'
    'v[["view_id", "height_m", "yaw_deg", "pitch_deg", "roll_deg", "d_median", '
    '"invalid_frac"]].head(8).round(2)',
    'tables["motion"].round(2)',
    "## Linked explorer\nThe scene and band controls filter every figure below them: the range "
    "histogram (metres, log scale), the camera maps (one square panel per selected scene, three "
    "a row, each in its own world frame: view ids, capture path, heading), the yaw rose "
    "(degrees) and pitch/roll. Lasso or box-select cameras in the maps: the histogram, the yaw "
    "rose and pitch/roll then show those views only (double-click a map to clear).",
    IGN + "explorer = EdaExplorer(tables)\nexplorer",
]

NB["03_point_clouds"] = [
    "# 03 · Point clouds\nSingle-view or fused scene clouds (views placed by their poses) in a "
    "WebGL viewer (k3d): drag to orbit, scroll to zoom; turn *measure* on and click two points "
    "to measure the distance between them. Axes are metres with up pointing up (the world frame's y is down). Cameras "
    "are drawn as frustums labelled with their view ids. A dataset without depth (panoramas and "
    "poses) is shown with the default model's **predicted** depth placed by its known poses. "
    + TRY_YOURS.format(nn="03"),
    params(),
    opener(
        "03_point_clouds",
        extra="from workbench.model.predicted import PredictedDepth\n"
        "from workbench.model.predictor import load\n"
        "from workbench.viz.cloud_explorer import PointCloudExplorer\n",
    ),
    "model = load()  # the default model: predicted depth, and its error against the measured\n"
    "source = ds if ds.has_depth else PredictedDepth(ds, model)  # measured, else predicted\n"
    'print("depth:", "measured" if ds.has_depth else "predicted by the default model")',
    "## Explorer\nEvery control redraws the cloud beside it: views to fuse, measured or "
    "predicted depth (with measured depth), colour by RGB, range (metres from each point's own "
    "camera), normal, height above the floor or the prediction's error, with a colour legend in "
    "metres (2nd–98th percentile of the points shown, so far points seen through windows do not "
    "set it; saturated and missing depth is never drawn); an exact point "
    "budget (a seeded random sample: near and far parts in proportion to what was observed); a "
    "range cut; a ceiling cut (points above that height disappear, to look into the room from "
    "above); the scene's mesh (`obj/`, seed layout) as a translucent overlay to check that depth "
    "and mesh agree. The viewer opens standing at the first view's camera; *look from* moves to "
    "another view's camera or an overview from above, *reset camera* returns there, and k3d's "
    "menu (top right) has the snapshot, clipping planes and more. Two clicked points give both "
    "coordinates and the distance between them in metres; a new selection clears them.",
    IGN + "explorer = PointCloudExplorer(source, budget=200_000, predictor=model)\nexplorer",
    "## Looking in from above\nThe same explorer with the ceiling cut at 2 m, coloured by height.",
    IGN + 'explorer.color.value = "height"\n'
    "explorer.max_height.value = 2.0\n"
    'explorer.look.value = ""  # the overview from above\n'
    "print(explorer.status_text())",
    "Export for MeshLab/open3d: `workbench pointcloud ROOT --out scene.ply` (`--html` writes a "
    "standalone plotly page); for a dataset without depth, `workbench infer ROOT --ply`.",
]

NB["04_two_view_correspondence"] = [
    "# 04 · Two-view correspondence\nFor every pixel of A, its location in B from A's depth and "
    "both poses, with occlusion (z-test against B's depth) and round-trip consistency. Every "
    "number in this notebook is computed at 128×256. Without measured depth the default model's "
    "prediction stands in. " + TRY_YOURS.format(nn="04"),
    params(),
    opener(
        "04_two_view_correspondence",
        extra="from workbench.data.dataset import readable_views\n"
        "from workbench.geometry.correspondence import correspond, covisibility_matrix, "
        "overlap\n"
        "from workbench.geometry.equirect import resize_range\n"
        "from workbench.model.predicted import PredictedDepth\n"
        "from workbench.model.predictor import load\n"
        "from workbench.viz.labels import short_id\n"
        "from workbench.viz.plots import covisibility_figure\n"
        "from workbench.viz.widgets import CorrespondenceExplorer\n\nH = 128\n",
    ),
    "source = ds if ds.has_depth else PredictedDepth(ds, load())\n"
    'depth = "measured" if ds.has_depth else "predicted by the default model (no measured depth)"\n'
    "scene = max(ds.scenes, key=lambda s: len(ds.scene(s)))  # the scene with most views\n"
    "records = ds.scene(scene)\n"
    "views = readable_views(source, records[:12])  # one that cannot be read: named, left out\n"
    'shown = f"{len(views)} of its {len(records)} views"\n'
    'print(f"scene {short_id(scene)}, {shown}; depth: {depth}")\n'
    "if len(views) < 2:  # a view matched with itself would read as a perfect pair\n"
    '    print("one view only: no pair to match (the explorer below shows it alone)")\n'
    "else:\n"
    "    a, b = views[0], views[1]\n"
    "    c = correspond(resize_range(a.range_m, H), a.T_world_from_cam, b.T_world_from_cam,\n"
    "                   resize_range(b.range_m, H))\n"
    '    print(f"{a.record.view_id} -> {b.record.view_id}: valid {c.valid.mean():.3f}  "\n'
    '          f"visible {c.visible.mean():.3f}  consistent {c.consistent.mean():.3f}  "\n'
    '          f"overlap {overlap(c):.3f}")',
    "## Click a pixel of A\nIts match in B is drawn by state: green circle consistent, orange "
    "× occluded in B, red × not consistent, grey outside B. The third panel colours every pixel "
    "of A by its state (the masks). The sliders pick a pixel too.",
    IGN + "explorer = CorrespondenceExplorer(source, height=H)\nexplorer",
    "## Covisibility of the scene (RealSee3D's `covisibility.txt` form)",
    "cov = covisibility_matrix([resize_range(v.range_m, H) for v in views],\n"
    "                          [v.T_world_from_cam for v in views])",
    IGN + 'covisibility_figure(cov, [v.record.view_id for v in views], f"Covisibility of scene '
    "{short_id(scene)} ({shown}, {depth.split(' (')[0]} depth) at {H}×{2 * H}\")",
]

NB["05_training"] = [
    "# 05 · Training\nThe form is generated from `TrainConfig` (the same fields as "
    "`workbench train --help` and the run's `config.json`), grouped by what you change "
    "together, each field's help beside it. **Train** runs in the background beside a live "
    "loss plot and **Stop** ends the run after the current step with a checkpoint (continue it "
    "with `resume`); every press trains into a fresh folder (`run-001`, `run-002`, ...) under "
    "`OUT`, written back into `logdir`, and the cells below follow the run started last. The defaults here are a tiny run: it shows the machinery, "
    "not a model. Supervised training needs depth: on a dataset without it the bundled samples "
    "are used instead (said below). " + TRY_YOURS.format(nn="05"),
    params(),
    opener(
        "05_training",
        extra="from workbench.configs import TrainConfig\n"
        "from workbench.data.splits import split_dataset\n"
        "from workbench.data.dataset import depth_or_sample\n"
        "from workbench.training.supervised import train\n"
        "from workbench.viz.plots import depth_row_figure\n"
        "from workbench.viz.training_panel import DumpsBrowser, TrainPanel, next_run_dir\n",
    ),
    'train_ds = depth_or_sample(ds, "training")  # says so when it is the bundled sample\n'
    'info = split_dataset(train_ds, out / "lists", val_fraction=0.3)\n'
    'print(f"training on {train_ds.name}:", info["train_views"], "train views,", '
    'info["val_views"], "val views (split by", info["unit"] + ")")',
    IGN + "panel = TrainPanel(\n"
    '    TrainConfig, train, train_csv=str(out / "lists/train.csv"),\n'
    '    val_csv=str(out / "lists/val.csv"), logdir=str(next_run_dir(out)), height=32,\n'
    "    model_width=8, model_depth=3, batch=4, steps=20, log_every=5, ckpt_every=20,\n"
    "    dump_every=10, val_views=4, progress=False)\n"
    "panel",
    "Run all presses **Train** for you (the next cell); in a live session press it yourself.",
    IGN + "panel.start()\n"
    "summary = panel.result()  # what stopped the run, if it did, is raised here\n"
    "run = panel.config.logdir\n"
    "print(panel.status_text())\n"
    'print({k: round(v, 3) for k, v in summary["val"].items()})',
    "## The run's prediction beside the ground truth, in metres\n"
    "A 20-step run at 32×64 only shows that the machinery works: expect a blurry, nearly flat "
    "prediction, no better than the constant baseline `workbench eval` prints beside it.",
    IGN + "from workbench.data.pipeline import load_sample\n"
    "from workbench.model.predictor import load\n\n"
    "sample = load_sample(train_ds.records[0], train_ds.root, 32)\n"
    'pred = load(run).predict_batch(sample["rgb"][None])[0]\n'
    'depth_row_figure((sample["rgb"] * 255).astype("uint8"), pred, sample["range"], '
    'title="tiny run: RGB, prediction, ground truth, error")',
    "## Visual dumps\nThe validation view the run dumped every `dump_every` steps: move the "
    "slider to watch it learn.",
    IGN + "DumpsBrowser(run)",
    "TensorBoard: `tensorboard --logdir OUT` (one run per folder). The accuracy recipe (README) "
    "is the full-size version of this run.",
]

NB["06_export_inference"] = [
    "# 06 · Export and inference\nThe shipped default model (`models/default/`) exported to "
    "TFLite fp16 and int8 with the size/latency/accuracy report (`workbench export` also writes "
    "a SavedModel, a frozen `.pb` and fp32 by default), then the formats on your views, "
    "beside the ground truth, in metres (a dataset without depth: int8 is calibrated and the "
    "report scored on the bundled samples, said below, and the ground-truth panels are empty). "
    + TRY_YOURS.format(nn="06")
    + " Here `DATA` may also be a folder of your own panoramas alone (no depth, no poses, found "
    "as `workbench infer` finds them): each is a view with its predictions and no ground truth.",
    params(),
    opener(
        "06_export_inference",
        extra="from IPython.display import Markdown\n\n"
        "from workbench.configs import ExportConfig\n"
        "from workbench.data.dataset import depth_or_sample\n"
        "from workbench.data.splits import split_dataset\n"
        "from workbench.deploy.export import export\n"
        "from workbench.model.predictor import load\n"
        "from workbench.paths import DEFAULT_MODEL\n"
        "from workbench.viz.browsers import PredictionBrowser\n",
        opens="open_views",
    ),
    "# int8 calibration and the report's accuracy rows need views with ground truth\n"
    'scored = depth_or_sample(ds, "the report\'s calibration and accuracy")\n'
    'split_dataset(scored, out / "lists", val_fraction=0.3)\n'
    'csv = str(out / "lists" / "val.csv")\n'
    'print(f"calibrated and scored on {scored.name};", sorted(p.name for p in DEFAULT_MODEL.iterdir()))',
    IGN + "# the CLI writes every format by default; here the two the browser below compares\n"
    'config = ExportConfig(checkpoint=str(DEFAULT_MODEL), out=str(out / "export"),\n'
    '                      format=("tflite",), quantize=("fp16", "int8"),\n'
    "                      csv=csv, report=True, runs=3, views=4, calibration=8)\n"
    "files, report = export(config)\n"
    "Markdown(report)",
    "## Every format on the same views\n`load(path)` takes a run folder, `.keras`, SavedModel, "
    "`.pb` or `.tflite`; any 2:1 image works (resized in, depth resized back). Pick a format and "
    "a view; the row shares one colour range in metres (SavedModel and `.pb` load the same way). "
    "*camera height (m)* (0: off) rescales each shown prediction so that its fitted floor lies "
    "that far below the camera, as `infer --camera-height` does: the line under the pickers "
    "gives the factor and the floor's share of the view, or why the prediction is shown as "
    "predicted (no floor visible), and the AbsRel is that of the prediction shown.",
    IGN + "models = {\n"
    '    "keras (fp32)": load(DEFAULT_MODEL),\n'
    '    "tflite int8": load(out / "export" / "model_int8.tflite"),\n'
    '    "tflite fp16": load(out / "export" / "model_fp16.tflite"),\n'
    "}\n"
    "PredictionBrowser(models, ds)",
    "From the shell, on your own panoramas or a whole dataset: `workbench infer ROOT --model "
    "models/default/model_int8.tflite --out DIR --ply`.",
]
NB["07_biview_pose"] = [
    "# 07 · Bi-view self-supervision and relative pose\nTiny runs of the two prototypes: they "
    "show the machinery (losses go down, files are written), not models; the README has the "
    "full-size numbers. Both need posed views; their validation needs depth, so a dataset "
    "without depth or poses uses the bundled samples instead (said below). "
    + TRY_YOURS.format(nn="07"),
    params(),
    opener(
        "07_biview_pose",
        extra="import pandas as pd\n\n"
        "from workbench.configs import BiviewConfig, PoseConfig\n"
        "from workbench.data.splits import split_dataset\n"
        "from workbench.data.dataset import depth_or_sample\n"
        "from workbench.training.biview import train as train_biview\n"
        "from workbench.training.pose import train as train_pose\n"
        "from workbench.viz.browsers import HistoryViewer\n"
        "from workbench.viz.training_panel import next_run_dir\n",
    ),
    'train_ds = depth_or_sample(ds, "training", poses=True)\n'
    'info = split_dataset(train_ds, out / "lists", val_fraction=0.3, pairs=True)\n'
    'print(f"training on {train_ds.name}:", info["train_views"], "train views;",\n'
    '      "validated on", info.get("validation", "held-out scenes"))',
    "## Bi-view: depth from photometric consistency + known poses",
    IGN + 'biview_dir = next_run_dir(out, "biview")\n'
    'bv = train_biview(BiviewConfig(train_csv=str(out / "lists/train.csv"),\n'
    '    val_csv=str(out / "lists/val.csv"), logdir=str(biview_dir), height=32,\n'
    "    model_width=8, model_depth=3, batch=2, steps=20, log_every=5, progress=False))\n"
    'pd.Series({"pairs": int(bv["pairs"]), **{k: round(v, 3) for k, v in bv["val"].items()}},\n'
    '          dtype=object).to_frame("bi-view run")',
    "The bi-view run's depth on a view, beside the ground truth, in metres (20 steps: expect a "
    "blurry, nearly flat prediction):",
    IGN + "from workbench.data.pipeline import load_sample\n"
    "from workbench.model.predictor import load\n"
    "from workbench.viz.plots import depth_row_figure\n\n"
    "sample = load_sample(train_ds.records[0], train_ds.root, 32)\n"
    'pred = load(biview_dir).predict_batch(sample["rgb"][None])[0]\n'
    'depth_row_figure((sample["rgb"] * 255).astype("uint8"), pred, sample["range"],\n'
    '                 title="bi-view run: RGB, prediction, ground truth, error")',
    "## Relative pose: network vs cross-correlation yaw baseline",
    IGN + 'pose_dir = next_run_dir(out, "pose")\n'
    'pose = train_pose(PoseConfig(train_csv=str(out / "lists/train.csv"),\n'
    '    val_csv=str(out / "lists/val.csv"), logdir=str(pose_dir), height=32, steps=20,\n'
    "    progress=False))\n"
    'pd.DataFrame({k: pose[k] for k in ("network", "baseline_yaw_xcorr", "identity")}).T.round(2)',
    "Numbers from a 20-step run on a handful of views say nothing about the method, better or "
    "worse than the baselines: they show that the loop runs and writes its files.",
    "## Loss curves of both runs",
    IGN + 'HistoryViewer({"bi-view": biview_dir, "pose": pose_dir})',
]

NB["08_error_analysis"] = [
    "# 08 · Error analysis\nWhere is a model wrong? Every model below is scored on the same "
    "views at one resolution (128×256, the ground truth's pixels): the worst views first, the "
    "prediction beside the ground truth in metres, AbsRel by distance and by latitude (hover a "
    "point for the geometric mean of predicted / true there: above 1, predicted too far), the "
    "true (grey) and predicted (coloured by |error|) point clouds overlaid, and two models "
    "compared view by view. The trivial baselines are here on purpose: a model that does not "
    "beat them has not learned depth. Errors need ground truth: a dataset without depth uses "
    "the bundled samples instead (said below). " + TRY_YOURS.format(nn="08"),
    params(),
    opener(
        "08_error_analysis",
        extra="import pandas as pd\n\n"
        "from workbench.model.baselines import ConstantBaseline, RoomPriorBaseline\n"
        "from workbench.model.predictor import load\n"
        "from workbench.data.dataset import depth_or_sample\n"
        "from workbench.training.error_panel import ErrorAnalysis\n",
    ),
    'scored = depth_or_sample(ds, "scoring")\n'
    "records = scored.records[:: max(1, len(scored) // 12)][:12]  # up to 12 views, spread\n"
    "models = {\n"
    '    "default model": load(),\n'
    '    "room prior": RoomPriorBaseline(128),\n'
    '    "constant 2 m": ConstantBaseline(2.0, 128),\n'
    "}\n"
    "panel = ErrorAnalysis(models, records, scored.root, height=128)\n"
    'print(len(panel.records), "views of", scored.name, "scored by", len(models), "models")\n'
    "for f in panel.failed:  # a view that cannot be read: left out, as workbench eval does\n"
    "    print(f\"  left out: {f['scene_id']}/{f['view_id']}: {f['error']}\")",
    "## The panel\nPick the model and the model to compare with; click a view in the table "
    "(worst first) or a point in the scatter to open it: every figure follows. The breakdowns "
    "show this view (solid) beside all views (dashed).",
    IGN + "panel",
    "## Mean over the views\nOn the bundled seed samples (furnished rooms of the `rooms` "
    "preset, the kind of scene the default model was trained on, with the `diverse` ones) it "
    "does well; on your own views read the table as it comes. A handful of views shows the "
    "machinery, not a benchmark: the model card has its numbers on held-out scene families "
    "and on real panoramas, where it is weaker.",
    'pd.DataFrame({name: rows[["abs_rel", "rmse", "delta1"]].mean() '
    "for name, rows in panel.rows.items()}).T.round(3)",
]

NB["09_multiview_consistency"] = [
    "# 09 · Multi-view consistency\nDo two views' depths agree where they see the same "
    "surface? `workbench consistency` moves each view's depth into its most covisible partners "
    "by the poses and measures the range residual; a view whose partners all disagree with it "
    "is flagged as a bad pose (with the rigid correction), a wrong depth scale (the ratio) or a "
    "changed scene (where). Every number here is computed at 128×256. " + TRY_YOURS.format(nn="09"),
    params(),
    opener(
        "09_multiview_consistency",
        extra="from functools import partial\n\n"
        "from workbench.configs import ConsistencyConfig\n"
        "from workbench.data.planted_dataset import write_planted_dataset\n"
        "from workbench.eda.consistency import load_consistency, pair_residual\n"
        "from workbench.eda.consistency import run as check\n"
        "from workbench.paths import SAMPLES\n"
        "from workbench.viz.consistency_view import PairBrowser\n"
        "from workbench.viz.labels import short_id\n",
    ),
    "## The check on this dataset\nThe same as `workbench consistency DATA --out "
    "OUT/consistency`: `pairs.csv`, `views.csv` (worst first) and `summary.json` (a re-run "
    "skips finished scenes). It compares depths placed by their poses: a dataset without "
    "either has nothing to compare.",
    IGN + "comparable = ds.has_depth and ds.has_poses\n"
    "if comparable:\n"
    '    check(ConsistencyConfig(root=str(ds.root), out=str(out / "consistency"), '
    "encoding=ENCODING,\n"
    "                            progress=False))\n"
    "else:\n"
    "    print(f\"{ds.name}: {'no depth' if not ds.has_depth else 'no poses'}, nothing to compare\")",
    "## Planted faults\nThe bundled samples are clean (the check above flags none of their "
    "views), so on them, and on a dataset with nothing to compare, the next cell writes a "
    "**generated** dataset with planted faults to `OUT/planted` (`rooms` scenes of 5 views, "
    "one fault in one view of each: a pose moved 5 cm, a pose turned 2°, a depth scale 5 % "
    "off, an object painted 40 % closer in the depth only, the panorama unchanged) and the rest "
    "of the notebook checks and browses that one. On your own dataset the rest shows yours.",
    "own = comparable and not ds.root.resolve().is_relative_to(SAMPLES.resolve())\n"
    'planted = None if own else write_planted_dataset(out / "planted", seed=1)\n'
    'shown = ds if own else open_dataset(out / "planted")\n'
    'found = out / ("consistency" if own else "planted-consistency")\n'
    'print("browsing", shown.name, "with planted faults" if planted is not None else "")\n'
    "planted",
    IGN + "code = check(ConsistencyConfig(root=str(shown.root), out=str(found), progress=False))",
    "## Views, worst first\n`views.csv`: flagged views first, then by the share of their pairs "
    "that disagree with them; `t_cm`/`rot_deg` is the correction of the view's own pose, "
    "`scale` its ranges over its partners'.",
    "pairs, views = load_consistency(found)\n"
    'views.assign(scene=views.scene.map(short_id))[["scene", "view", "flagged", '
    '"diagnosis", "bad_pairs", "pairs", "inliers", "scale", "t_cm", "rot_deg", '
    '"change_fraction"]].head(10).round(2)',
    "## Open a flagged pair\nPick a pair (flagged first; when none is, the five that agree "
    "least): both panoramas at 2:1 side by side with the pixels that disagree beyond the "
    "tolerance (2 cm + 1 % of the range) coloured by their residual in metres (blue: this "
    "view's surface in front of what the other sees), then both clouds overlaid (B orange, A "
    "blue; drag to orbit) with A **as posed** or after the **estimated rigid correction** "
    "(the toggle). A pose fault closes up when corrected; a scale fault or a change does not, "
    "as it should not.",
    IGN + "browser = PairBrowser(shown, pairs, partial(pair_residual, shown))\nbrowser",
]


def is_markdown(src: str) -> bool:
    """Markdown when it is not Python, or when it is only comments (headings). A cell marked
    for nbval (``# NBVAL...``) is code: one that does not compile is an error here, not a
    heading (an f-string reusing its quotes, valid from Python 3.12 only, became markdown)."""
    try:
        compile(src, "<cell>", "exec")
    except SyntaxError:
        if src.startswith("# NBVAL"):
            raise
        return True
    lines = [ln for ln in src.splitlines() if ln.strip()]
    return all(ln.startswith("#") for ln in lines) and not src.startswith("# NBVAL")


def main():
    out = Path(__file__).resolve().parents[1] / "notebooks"
    out.mkdir(exist_ok=True)
    for name, cells in NB.items():
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.metadata["language_info"] = {"name": "python"}
        for i, src in enumerate(cells):
            cell = (
                nbformat.v4.new_markdown_cell(src)
                if is_markdown(src)
                else nbformat.v4.new_code_cell(src)
            )
            if src.startswith("# Parameters"):
                cell.metadata["tags"] = ["parameters"]
            cell["id"] = f"{name[:2]}-{i:02d}"
            nb.cells.append(cell)
        nbformat.write(nb, out / f"{name}.ipynb")
        print("wrote", out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
