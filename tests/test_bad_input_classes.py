"""The bad-input classes (tests/bad_inputs/classes.py) through the CLI: one line naming the user's
file or flag and exit 2 for unusable input; folder jobs carry on (exit 1); valid files are
accepted whatever their extension says; never a traceback, never a temporary file's name."""

import re

import pytest

from tests.bad_inputs.classes import CLASSES
from tests.bad_inputs.corpus import Ctx
from workbench.cli import main


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx.make(tmp_path_factory.mktemp("classes"))


def test_every_class_reaches_several_verbs():
    by_class: dict[str, set] = {}
    for cls, verb in CLASSES:
        by_class.setdefault(cls, set()).add(verb)
    assert len(by_class) >= 7
    assert by_class["out_is_a_file"] >= {"infer", "eval", "export", "split", "eda", "synth"}


@pytest.mark.parametrize("key", sorted(CLASSES), ids=lambda k: f"{k[0]}-{k[1]}")
def test_bad_input_class(key, ctx, tmp_path, capsys):
    argv, code, needles = CLASSES[key](tmp_path, ctx)
    got = main([*argv, "--no-progress"] if argv[0] in ("infer", "train") else argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert not re.search(r"\.[\w.-]+\.tmp\b", out + err), "a temporary name reached the user"
    assert got == code, (got, out[-1500:], err[-1500:])
    if code == 2:
        lines = [ln for ln in re.split(r"[\r\n]", err) if ln.startswith("workbench: error:")]
        assert len(lines) == 1, err
        text = lines[0]
    else:
        report = tmp_path / "report.csv"
        text = out + err + (report.read_text() if report.is_file() else "")
    for needle in needles:
        assert needle in text, (needle, text[-1500:])
