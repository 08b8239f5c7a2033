"""Where the repository's own files are (samples, default model, outputs), for notebooks and
the demo; nothing here depends on the current directory."""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPO", "SAMPLES", "DEFAULT_MODEL", "OUTPUTS"]

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"
DEFAULT_MODEL = REPO / "models" / "default"
OUTPUTS = REPO / "outputs"
