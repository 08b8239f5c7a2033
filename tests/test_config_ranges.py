"""One validation boundary: every numeric field of every config declares its range, and the CLI
refuses a value outside it before any work, naming the flag (exit status 2)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import typing
from pathlib import Path

import pytest

from workbench import configs
from workbench.cli import COMMANDS, main
from workbench.errors import WorkbenchError

POSITIONAL = {"root": ["x"], "csv": ["x.csv"], "paths": ["x.jpg"], "name": ["01"]}


def _numeric_fields(cls):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        elem = typing.get_args(t)[0] if typing.get_origin(t) is tuple else t
        if elem in (int, float) and t is not bool:
            yield f, elem


CASES = [
    (verb, f, elem)
    for verb, (cls_name, _, _) in COMMANDS.items()
    for f, elem in _numeric_fields(getattr(configs, cls_name))
]


def _run(verb: str, flag_values: list[str]) -> tuple[int, str]:
    cls = getattr(configs, COMMANDS[verb][0])
    argv = [verb]
    for f in dataclasses.fields(cls):
        if f.metadata.get("positional") and f.default in (None, dataclasses.MISSING):
            argv += POSITIONAL[f.name]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv + flag_values)
        except SystemExit as e:  # argparse: a value that is not a number
            code = e.code
    return code, err.getvalue()


def test_every_numeric_field_declares_a_range():
    missing = [
        f"{verb} --{f.name}"
        for verb, f, _ in CASES
        if all(f.metadata.get(k) is None for k in ("ge", "gt", "le", "lt"))
    ]
    assert not missing, f"numeric fields without a range: {missing}"
    assert len(CASES) > 60


@pytest.mark.parametrize(("verb", "field", "elem"), CASES, ids=lambda x: getattr(x, "name", x))
def test_negative_zero_and_nan_are_refused_naming_the_flag(verb, field, elem):
    flag = "--" + field.name.replace("_", "-")
    n = 3 if field.name == "rate" else 1
    for text in ("-1", "nan", "0"):
        value = float(text) if elem is float or text == "nan" else int(text)
        if _allowed(field, value):
            continue  # zero is a documented value here (e.g. "0: the model's own")
        code, err = _run(verb, [flag, *[text] * n])
        assert code == 2, (verb, flag, text, err)
        assert flag in err and err.count("\n") == 1 and "Traceback" not in err, err


def _allowed(field, value) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    m = field.metadata
    return all(
        (m.get(k) is None) or op(value, m[k])
        for k, op in (
            ("ge", lambda a, b: a >= b),
            ("gt", lambda a, b: a > b),
            ("le", lambda a, b: a <= b),
            ("lt", lambda a, b: a < b),
        )
    )


def test_ranges_hold_in_notebook_forms_and_config_json_too(tmp_path):
    """The boundary is the dataclass: building a config (as a notebook form does) or loading
    a ``config.json`` with a value out of range fails the same way."""
    with pytest.raises(WorkbenchError, match="--batch: must be >= 1, got 0"):
        configs.TrainConfig(batch=0)
    cfg = configs.TrainConfig()
    path = configs.save_config(cfg, tmp_path / "config.json")
    path.write_text(path.read_text().replace('"steps": 200', '"steps": -5'))
    with pytest.raises(WorkbenchError, match="config.json: field 'steps': must be >= 1, got -5"):
        configs.load_config(configs.TrainConfig, path)


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("height", '"abc"', 'must be a whole number, got "abc"'),
        ("height", "64.5", "must be a whole number, got 64.5"),
        ("height", "null", "must be a whole number, got null"),
        ("model_coords", "1", "must be true or false, got 1"),
        ("lr", '"fast"', 'must be a number, got "fast"'),
        ("rate", "[1, 2]", "must be a list of 3 values, got 2"),
        ("rate", '[1, "x", 2]', 'must be a number, got "x"'),
        ("l1_space", '"cubic"', 'must be one of metric, log, got "cubic"'),
        ("logdir", "7", "must be a string, got 7"),
        ("lr", "NaN", "must be a finite number, got nan"),
    ],
)
def test_a_mistyped_config_json_field_is_named(tmp_path, field, value, problem):
    """Every field of a ``config.json`` is checked for its type as well as its range: one line
    naming the file and the field, never a TypeError from deep inside a verb."""
    path = configs.save_config(configs.TrainConfig(), tmp_path / "config.json")
    d = json.loads(path.read_text())
    d[field] = "@@"
    path.write_text(json.dumps(d).replace('"@@"', value))
    with pytest.raises(WorkbenchError) as e:
        configs.load_config(configs.TrainConfig, path)
    assert e.value.path == str(path) and e.value.message == f"field {field!r}: {problem}"


def test_config_json_whole_floats_and_missing_fields(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"_type": "TrainConfig", "height": 64.0, "lr": 1}')
    cfg = configs.load_config(configs.TrainConfig, path)
    assert cfg.height == 64 and type(cfg.height) is int and type(cfg.lr) is float
    assert cfg.batch == configs.TrainConfig().batch  # missing: the default
    with pytest.raises(WorkbenchError, match="config.json: field 'model_width' is missing"):
        configs.load_config(configs.TrainConfig, path, required=configs.MODEL_FIELDS)


def test_a_run_folder_with_a_bad_config_json_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    configs.save_config(configs.TrainConfig(), run / "config.json")
    text = (run / "config.json").read_text().replace('"height": 128', '"height": "abc"')
    (run / "config.json").write_text(text)
    img = Path(__file__).parents[1] / "data_samples" / "rgbd-folder" / "rgb"
    code = main(["infer", str(img), "--model", str(run), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0] == (
        f"workbench: error: {run / 'config.json'}: field 'height': must be a whole number, "
        'got "abc"'
    )


def test_a_value_inside_the_range_is_accepted():
    assert configs.TrainConfig(val_every=0, batch=1).val_every == 0
    assert configs.EvalConfig(csv="x", height=0).height == 0


def test_every_config_round_trips_through_config_json(tmp_path):
    """The stricter reading accepts everything ``save_config`` writes (unset fields included)."""
    for name in configs.commands.__all__:
        cls = getattr(configs.commands, name)
        if not dataclasses.is_dataclass(cls):
            continue
        unset = [f for f in dataclasses.fields(cls) if f.default is None]
        values = {f.name: ("x",) if "tuple" in str(f.type) else "02" for f in unset}
        for cfg in (cls(), cls(**values)):
            path = configs.save_config(cfg, tmp_path / f"{name}.json")
            assert configs.load_config(cls, path) == cfg, name


def test_train_flags_that_depend_on_each_other_are_named_before_any_work(tmp_path, capsys):
    from workbench.cli import main

    base = ["train", "--train-csv", str(tmp_path / "missing.csv"), "--logdir", str(tmp_path / "r")]
    cases = {
        ("--height", "60"): "--height: 60 must be divisible by 2**--model-depth = 16",
        ("--ssim-k", "4"): "--ssim-k: must be odd, got 4",
        ("--ssim-k", "101", "--height", "64"): "--ssim-k: 101 is wider than half the training",
        ("--model-width", "100000"): "--model-width: must be <= 512",
        ("--cpu-devices", "100000"): "--cpu-devices: must be <= 64",
    }
    for flags, line in cases.items():
        assert main([*base, *flags]) == 2
        err = capsys.readouterr().err
        assert line in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


CROSS_FIELD = [
    (["train", "--rate", "0", "0", "0"], "--rate: at least one weight must be > 0"),
    (["train", "--resume", "--init-from", "runs/a"], "--init-from: cannot be given with --resume"),
    (["train", "--warmup-steps", "5", "--steps", "5"], "--warmup-steps: 5 must be below"),
    (["train", "--logdir", ""], "--logdir: must name a path"),
    (["validate", ""], "root: must name a path"),
    (["covisibility", "x", "--out", " "], "--out: must name a path"),
    (["train-biview", "--height", "18"], "--height: 18 must be divisible by 2**--model-depth"),
    (["train-biview", "--scales", "7"], "--scales: 7 scales pool by 64"),
    (["train-pose", "--min-overlap", "0.9", "--max-overlap", "0.5"], "--min-overlap: 0.9 is above"),
    (["consistency", "x", "--ok-inliers", "0.3", "--bad-inliers", "0.8"], "--bad-inliers: 0.8"),
    (["consistency", "x", "--tolerance", "0", "--tol-abs", "0"], "--tol-abs: --tolerance and"),
    (["match", "x", "--a", "003", "--b", "003"], "--b: must be another view than --a 003"),
    (["pointcloud", "x", "--voxel", "1e-9"], "--voxel: must be 0 (off) or >= 0.001"),
    (["infer", "x.jpg", "--voxel", "1e-9"], "--voxel: must be 0 (off) or >= 0.001"),
    (["export", "--int8-io", "--quantize", "fp16"], "--int8-io: needs int8 among --quantize"),
    (["synth", "--scenes", "99999999999"], "--scenes: must be <= 1000000"),
    # a whole number with no bound of its own: at most an int32 (TensorFlow's TypeError, and
    # numpy's seed error without the flag's name)
    (["train", "--steps", "99999999999999999999"], "--steps: must be <= 2147483647"),
    (["train", "--seed", "4294967296"], "--seed: must be <= 2147483647"),
    (["train", "--init-from", "nowhere.keras"], "nowhere.keras: model not found"),
    (["covisibility", ".", "--out", "."], "--out: . is inside the dataset root ."),
    (["split", "ds", "--out", "ds/lists"], "--out: ds/lists is inside the dataset root ds"),
]


@pytest.mark.parametrize(("argv", "line"), CROSS_FIELD, ids=lambda x: " ".join(x)[:40])
def test_conflicting_flags_are_refused_before_any_work(tmp_path, monkeypatch, capsys, argv, line):
    """Ranges one flag cannot state (found by a new user: zero loss weights trained on
    nothing, inlier thresholds upside down flagged clean data, a 1e-12 voxel failed inside
    open3d): one line naming the flag, exit 2, nothing written."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert line in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
