"""Every case of the bad-input corpus (tests/bad_inputs/corpus.py) through the CLI: one clear
line naming the file and the problem, the documented exit status, never a traceback."""

import re

import pytest

from tests.bad_inputs.corpus import CASES, Ctx
from workbench.cli import main


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx.make(tmp_path_factory.mktemp("corpus"))


def test_corpus_is_big_enough():
    assert len(CASES) >= 25
    verbs = {name.split("_")[0] for name in CASES}
    assert verbs >= {
        "validate",
        "split",
        "train",
        "eval",
        "export",
        "infer",
        "pointcloud",
        "match",
        "eda",
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, ctx, tmp_path, capsys):
    argv, code, needles = CASES[name](tmp_path, ctx)
    got = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert got == code, (got, err[-2000:])
    if code == 2:
        lines = [ln for ln in re.split(r"[\r\n]", err) if ln.startswith("workbench: error:")]
        assert len(lines) == 1, err
        text = lines[0]
    elif code == 1:  # validate: rows of the report it wrote; folder jobs: their summary
        report = tmp_path / "report.csv"
        text = report.read_text() if report.is_file() else out + err
    else:
        text = out + err
    for needle in needles:
        assert needle in text, (needle, text[-1500:])
