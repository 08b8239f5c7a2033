"""Every verb that draws a progress bar takes ``--no-progress`` (a job's log in a file or a
scheduler's output was full of bars from ``synth``, ``validate``, ``eda`` and ``eval``, which
had no way to turn them off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write_sample_lists
from workbench.cli import main
from workbench.paths import SAMPLES


def _argv(verb: str, tmp: Path) -> list[str]:
    if verb == "eval":
        lists = write_sample_lists(tmp / "lists")
        return ["eval", str(lists / "val.csv"), "--out", str(tmp / "eval"), "--limit", "2",
                "--worst", "0"]  # fmt: skip
    return {
        "synth": ["synth", "--out", str(tmp / "syn"), "--scenes", "1", "--views", "1",
                  "--size", "64x32", "--low-size", "64x32"],
        "validate": ["validate", str(SAMPLES / "rgbd-folder"), "--report", str(tmp / "v.csv")],
        "eda": ["eda", str(SAMPLES / "rgbd-folder"), "--out", str(tmp / "eda")],
    }[verb]  # fmt: skip


@pytest.mark.parametrize("verb", ["synth", "validate", "eda", "eval"])
def test_no_progress_silences_the_bar(verb, tmp_path, capsys):
    drawn = tmp_path / "drawn"
    assert main(_argv(verb, drawn)) in (0, 1)
    assert "it/s]" in capsys.readouterr().err  # the bar this flag turns off
    quiet = tmp_path / "quiet"
    assert main([*_argv(verb, quiet), "--no-progress"]) in (0, 1)
    assert "it/s]" not in capsys.readouterr().err
