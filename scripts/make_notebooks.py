"""Write notebooks/0*.ipynb from the cell lists below (then execute them with
``make notebooks``). Notebooks stay thin: import, call, display. A cell whose first line is
``# NBVAL_IGNORE_OUTPUT`` has machine-dependent output (timings, figures, float losses)."""

from pathlib import Path

import nbformat

IGN = "# NBVAL_IGNORE_OUTPUT\n"
NB = {}

NB["01_dataset_tour"] = [
    "# 01 · Dataset tour\nThe three layouts the workbench reads, one scene's views and the health "
    "check. Everything here runs on `data_samples/` (made by `workbench synth`).",
    "from collections import Counter\n\nimport pandas as pd\n\n"
    "from workbench.data.layouts import detect_layout, index_dataset, load_view\n"
    "from workbench.data.validate import validate_dataset\n"
    "from workbench.paths import SAMPLES\n"
    "from workbench.viz.browsers import ViewBrowser\n"
    "from workbench.viz.plots import views_figure",
    'for name in ("seed", "realsee3d", "rgbd-folder", "stanford2d3d"):\n'
    "    recs = index_dataset(SAMPLES / name)\n"
    '    print(f"{name:12s} layout={detect_layout(SAMPLES / name):12s} views={len(recs):3d} "\n'
    '          f"scenes={len({r.scene_id for r in recs})}")',
    'records = index_dataset(SAMPLES / "seed")\n'
    'pd.DataFrame([r.as_row() for r in records[:4]])[["scene_id", "view_id", "rgb_path", '
    '"depth_path", "pose_path"]]',
    "## One scene's views",
    IGN + "scene = records[0].scene_id\n"
    'views = [load_view(r, SAMPLES / "seed") for r in records if r.scene_id == scene]\n'
    "views_figure(views)",
    "## Any view in metres\nPick a view: its panorama and range (hover for the range of a pixel "
    "in metres; one colour bar for the row).",
    IGN + 'ViewBrowser(records, SAMPLES / "seed")',
    "## Health check\n`workbench validate` as a function: one row per problem.",
    'for name in ("seed", "realsee3d", "rgbd-folder", "stanford2d3d"):\n'
    "    _, problems = validate_dataset(SAMPLES / name, progress=False)\n"
    '    print(name, dict(Counter(p.problem for p in problems)) or "clean")',
]

NB["02_depth_pose_eda"] = [
    "# 02 · Depth and pose EDA\nDepth distribution by latitude band, camera orientation and "
    "camera motion, from the cached per-view table (`workbench eda` writes the same as HTML).",
    "from workbench.eda.report import compute, figures\n"
    "from workbench.paths import SAMPLES\n"
    "from workbench.eda.explorer import EdaExplorer",
    'tables = compute(SAMPLES / "seed")\n'
    'v = tables["views"]\n'
    'print(len(v), "views,", v.scene_id.nunique(), "scenes")\n'
    'v[["view_id", "height_m", "yaw_deg", "pitch_deg", "roll_deg", "d_median", '
    '"invalid_frac"]].head(8).round(2)',
    'tables["motion"].assign(scene_id=tables["motion"].scene_id.str[:8]).round(2)',
    "## Linked explorer\nThe scene and band controls filter every figure below them: the range "
    "histogram (metres, log scale), the camera maps (one panel per scene, each in its own world "
    "frame: view ids, capture path, heading), the yaw rose (degrees) and pitch/roll.",
    IGN + "explorer = EdaExplorer(tables)\nexplorer",
]

NB["03_point_clouds"] = [
    "# 03 · Point clouds\nSingle-view or fused scene clouds (views placed by their poses) in a "
    "WebGL viewer (k3d): drag to orbit, scroll to zoom, click a point to read its coordinates. "
    "Axes are metres with up pointing up (the world frame's y is down). Cameras are drawn as "
    "frustums labelled with their view ids.",
    "from workbench.data.layouts import index_dataset\n"
    "from workbench.paths import SAMPLES\n"
    "from workbench.viz.widgets import PointCloudExplorer",
    'records = index_dataset(SAMPLES / "seed")\n'
    'print(f"{len(records)} views in {len({r.scene_id for r in records})} scenes")',
    "## Explorer\nEvery control redraws the cloud beside it: views to fuse, colour by RGB, range "
    "(metres from each point's own camera), normal or height above the floor; an exact point "
    "budget (a seeded random sample: near and far parts in proportion to what was observed); a "
    "range cut; a ceiling cut (points above that height disappear, to look into the room from "
    "above); the scene's mesh (`obj/`) as a translucent overlay to check that depth and mesh "
    "agree.",
    IGN + 'explorer = PointCloudExplorer(records, SAMPLES / "seed", budget=200_000)\nexplorer',
    "## Looking in from above\nThe same explorer with the ceiling cut at 2 m, coloured by height.",
    IGN + 'explorer.color.value = "height"\n'
    "explorer.max_height.value = 2.0\n"
    "print(explorer.status.value)",
    "Export for MeshLab/open3d: `workbench pointcloud data_samples/seed --out scene.ply` "
    "(`--html` writes a standalone plotly page).",
]

NB["04_two_view_correspondence"] = [
    "# 04 · Two-view correspondence\nFor every pixel of A, its location in B from A's depth and "
    "both poses, with occlusion (z-test against B's depth) and round-trip consistency. Every "
    "number in this notebook is computed at 128×256.",
    "from workbench.data.layouts import index_dataset, load_view\n"
    "from workbench.geometry.correspondence import correspond, covisibility_matrix, overlap\n"
    "from workbench.geometry.equirect import resize_range\n"
    "from workbench.paths import SAMPLES\n"
    "from workbench.viz.plots import covisibility_figure\n"
    "from workbench.viz.widgets import CorrespondenceExplorer\n\n"
    "H = 128",
    'records = index_dataset(SAMPLES / "seed")\n'
    'a, b = (load_view(r, SAMPLES / "seed") for r in records[:2])\n'
    "c = correspond(resize_range(a.range_m, H), a.T_world_from_cam, b.T_world_from_cam,\n"
    "               resize_range(b.range_m, H))\n"
    'print(f"valid {c.valid.mean():.3f}  visible {c.visible.mean():.3f}  "\n'
    '      f"consistent {c.consistent.mean():.3f}  overlap {overlap(c):.3f}")',
    "## Click a pixel of A\nIts match in B is drawn by state: green circle consistent, orange "
    "× occluded in B, red × not consistent, grey outside B. The third panel colours every pixel "
    "of A by its state (the masks). The sliders pick a pixel too.",
    IGN + 'explorer = CorrespondenceExplorer(records, SAMPLES / "seed", height=H)\nexplorer',
    "## Covisibility of the scene (RealSee3D's `covisibility.txt` form)",
    "scene = [r for r in records if r.scene_id == records[0].scene_id]\n"
    'views = [load_view(r, SAMPLES / "seed") for r in scene]\n'
    "cov = covisibility_matrix([resize_range(v.range_m, H) for v in views],\n"
    "                          [v.T_world_from_cam for v in views])",
    IGN + 'covisibility_figure(cov, [r.view_id for r in scene], f"Covisibility of scene '
    '{scene[0].scene_id[:8]} at {H}×{2 * H}")',
]

NB["05_training"] = [
    "# 05 · Training\nThe form is generated from `TrainConfig` (the same fields as "
    "`workbench train --help` and the run's `config.json`), grouped by what you change "
    "together; hover a field for its help. **Train** runs in the background beside a live loss "
    "plot; every run gets its own folder (`run-001`, `run-002`, ...) and the cells below follow "
    "the form's `logdir`. The defaults here are a tiny run: it shows the machinery, not a model.",
    "from workbench.configs import TrainConfig\n"
    "from workbench.data.layouts import index_dataset\n"
    "from workbench.data.splits import write_split\n"
    "from workbench.paths import OUTPUTS, SAMPLES\n"
    "from workbench.training.supervised import train\n"
    "from workbench.viz.plots import depth_row_figure\n"
    "from workbench.viz.training_panel import DumpsBrowser, TrainPanel, next_run_dir",
    'runs = OUTPUTS / "notebooks" / "05_training"\n'
    'info = write_split(index_dataset(SAMPLES / "seed"), runs / "lists", SAMPLES / "seed", '
    "val_fraction=0.3)\n"
    'print(info["train_views"], "train views,", info["val_views"], "val views")',
    IGN + "panel = TrainPanel(\n"
    '    TrainConfig, train, train_csv=str(runs / "lists/train.csv"),\n'
    '    val_csv=str(runs / "lists/val.csv"), logdir=str(next_run_dir(runs)), height=32,\n'
    "    model_width=8, model_depth=3, batch=4, steps=20, log_every=5, ckpt_every=20,\n"
    "    dump_every=10, val_views=4, progress=False)\n"
    "panel",
    "Run all presses **Train** for you (the next cell); in a live session press it yourself.",
    IGN + "panel.start()\n"
    "summary = panel.wait()\n"
    "run = panel.config.logdir\n"
    "print(panel.status.value)\n"
    'print({k: round(v, 3) for k, v in summary["val"].items()})',
    "## The run's prediction beside the ground truth, in metres\n"
    "A 20-step run at 32×64 only shows that the machinery works: expect a blurry, nearly flat "
    "prediction, no better than the constant baseline `workbench eval` prints beside it.",
    IGN + "from workbench.data.pipeline import load_sample\n"
    "from workbench.model.predictor import load\n\n"
    'recs = index_dataset(SAMPLES / "seed")\n'
    'sample = load_sample(recs[0], SAMPLES / "seed", 32)\n'
    'pred = load(run).predict_batch(sample["rgb"][None])[0]\n'
    'depth_row_figure((sample["rgb"] * 255).astype("uint8"), pred, sample["range"], '
    'title="tiny run: RGB, prediction, ground truth, error")',
    "## Visual dumps\nThe validation view the run dumped every `dump_every` steps: move the "
    "slider to watch it learn.",
    IGN + "DumpsBrowser(run)",
    "TensorBoard: `tensorboard --logdir outputs/notebooks/05_training` (one run per folder). The "
    "accuracy recipe (README) is the full-size version of this run.",
]

NB["06_export_inference"] = [
    "# 06 · Export and inference\nThe shipped default model (`models/default/`) exported to "
    "TFLite fp16 and int8 with the size/latency/accuracy report (`workbench export` also writes "
    "a SavedModel, a frozen `.pb` and fp32 by default), then the formats on the same views, "
    "beside the ground truth, in metres.",
    "from IPython.display import Markdown\n\n"
    "from workbench.configs import ExportConfig\n"
    "from workbench.data.layouts import index_dataset\n"
    "from workbench.data.splits import write_split\n"
    "from workbench.deploy.export import export\n"
    "from workbench.model.predictor import load\n"
    "from workbench.paths import DEFAULT_MODEL, OUTPUTS, SAMPLES\n"
    "from workbench.viz.browsers import PredictionBrowser",
    'out = OUTPUTS / "notebooks" / "06_export"\n'
    'write_split(index_dataset(SAMPLES / "seed"), out / "lists", SAMPLES / "seed", val_fraction=0.3)\n'
    "print(sorted(p.name for p in DEFAULT_MODEL.iterdir()))",
    IGN + "# the CLI writes every format by default; here the two the browser below compares\n"
    'config = ExportConfig(checkpoint=str(DEFAULT_MODEL), out=str(out / "export"),\n'
    '                      format=("tflite",), quantize=("fp16", "int8"),\n'
    '                      csv=str(out / "lists" / "val.csv"), report=True, runs=3, views=4,\n'
    "                      calibration=8)\n"
    "files, report = export(config)\n"
    "Markdown(report)",
    "## Every format on the same views\n`load(path)` takes a run folder, `.keras`, SavedModel, "
    "`.pb` or `.tflite`; any 2:1 image works (resized in, depth resized back). Pick a format and "
    "a view; the row shares one colour range in metres (SavedModel and `.pb` load the same way).",
    IGN + "models = {\n"
    '    "keras (fp32)": load(DEFAULT_MODEL),\n'
    '    "tflite int8": load(out / "export" / "model_int8.tflite"),\n'
    '    "tflite fp16": load(out / "export" / "model_fp16.tflite"),\n'
    "}\n"
    'PredictionBrowser(models, index_dataset(SAMPLES / "rgbd-folder"), SAMPLES / "rgbd-folder")',
    "From the shell, on a folder of your own panoramas: `workbench infer my_panoramas/ --model "
    "models/default/model_int8.tflite --out outputs/infer --ply`.",
]
NB["07_biview_pose"] = [
    "# 07 · Bi-view self-supervision and relative pose\nTiny runs of the two prototypes on the "
    "sample scenes: they show the machinery (losses go down, files are written), not models; "
    "the README has the full-size numbers.",
    "import pandas as pd\n\n"
    "from workbench.configs import BiviewConfig, PoseConfig\n"
    "from workbench.data.layouts import index_dataset\n"
    "from workbench.data.splits import write_split\n"
    "from workbench.paths import OUTPUTS, SAMPLES\n"
    "from workbench.training.biview import train as train_biview\n"
    "from workbench.training.pose import train as train_pose\n"
    "from workbench.viz.browsers import HistoryViewer\n"
    "from workbench.viz.training_panel import next_run_dir",
    'out = OUTPUTS / "notebooks" / "07_biview_pose"\n'
    'info = write_split(index_dataset(SAMPLES / "seed"), out / "lists", SAMPLES / "seed", '
    "val_fraction=0.3)\n"
    'print(info["train_views"], "train views")',
    "## Bi-view: depth from photometric consistency + known poses",
    IGN + 'biview_dir = next_run_dir(out, "biview")\n'
    'bv = train_biview(BiviewConfig(train_csv=str(out / "lists/train.csv"),\n'
    '    val_csv=str(out / "lists/val.csv"), logdir=str(biview_dir), height=32,\n'
    "    model_width=8, model_depth=3, batch=2, steps=30, log_every=5, progress=False))\n"
    'pd.Series({"pairs": bv["pairs"], **bv["val"]}).round(3).to_frame("bi-view run")',
    "The bi-view run's depth on a view, beside the ground truth, in metres (30 steps: expect a "
    "blurry, nearly flat prediction):",
    IGN + "from workbench.data.pipeline import load_sample\n"
    "from workbench.model.predictor import load\n"
    "from workbench.viz.plots import depth_row_figure\n\n"
    'sample = load_sample(index_dataset(SAMPLES / "seed")[0], SAMPLES / "seed", 32)\n'
    'pred = load(biview_dir).predict_batch(sample["rgb"][None])[0]\n'
    'depth_row_figure((sample["rgb"] * 255).astype("uint8"), pred, sample["range"],\n'
    '                 title="bi-view run: RGB, prediction, ground truth, error")',
    "## Relative pose: network vs cross-correlation yaw baseline",
    IGN + 'pose_dir = next_run_dir(out, "pose")\n'
    'pose = train_pose(PoseConfig(train_csv=str(out / "lists/train.csv"),\n'
    '    val_csv=str(out / "lists/val.csv"), logdir=str(pose_dir), height=32, steps=40,\n'
    "    progress=False))\n"
    'pd.DataFrame({k: pose[k] for k in ("network", "baseline_yaw_xcorr", "identity")}).T.round(2)',
    "Numbers from a 40-step run on 20 views say nothing about the method, better or worse than "
    "the baselines: they show that the loop runs and writes its files.",
    "## Loss curves of both runs",
    IGN + 'HistoryViewer({"bi-view": biview_dir, "pose": pose_dir})',
]

NB["08_error_analysis"] = [
    "# 08 · Error analysis\nWhere is a model wrong? Every model below is scored on the same "
    "views at one resolution (128×256, the ground truth's pixels): the worst views first, the "
    "prediction beside the ground truth in metres, AbsRel by distance and by latitude, the "
    "true (grey) and predicted (coloured by |error|) point clouds overlaid, and two models "
    "compared view by view. The trivial baselines are here on purpose: a model that does not "
    "beat them has not learned depth.",
    "import pandas as pd\n\n"
    "from workbench.data.layouts import index_dataset\n"
    "from workbench.model.baselines import ConstantBaseline, RoomPriorBaseline\n"
    "from workbench.model.predictor import load\n"
    "from workbench.paths import SAMPLES\n"
    "from workbench.training.error_panel import ErrorAnalysis",
    'records = index_dataset(SAMPLES / "seed")[::2]  # 12 views of the 6 scenes\n'
    "models = {\n"
    '    "default model": load(),\n'
    '    "room prior": RoomPriorBaseline(128),\n'
    '    "constant 2 m": ConstantBaseline(2.0, 128),\n'
    "}\n"
    'panel = ErrorAnalysis(models, records, SAMPLES / "seed", height=128)\n'
    'print(len(records), "views scored by", len(models), "models")',
    "## The panel\nPick the model, the model to compare with, and a view (worst first); every "
    "figure below follows.",
    IGN + "panel",
    "## Mean over the views\nThe sample scenes are 24 views of the workbench's older "
    "`realistic` preset (saturated boxes with stripe textures), not the furnished `rooms` the "
    "default model was trained on: it is much weaker on them than on rooms (AbsRel 0.109) or on "
    "real panoramas (0.18 on RealSee3D's LiDAR view). Enough to see the machinery and gross "
    "failures, not a benchmark: the model card has the numbers.",
    'pd.DataFrame({name: rows[["abs_rel", "rmse", "delta1"]].mean() '
    "for name, rows in panel.rows.items()}).T.round(3)",
]


def is_markdown(src: str) -> bool:
    """Markdown when it is not Python, or when it is only comments (headings)."""
    try:
        compile(src, "<cell>", "exec")
    except SyntaxError:
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
            cell["id"] = f"{name[:2]}-{i:02d}"
            nb.cells.append(cell)
        nbformat.write(nb, out / f"{name}.ipynb")
        print("wrote", out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
