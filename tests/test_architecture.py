"""The package's shape: layers, one-way imports, no cycles, short functions, light entry points.

Layers, lowest first (a module imports only from lower layers or from its own package):

0. ``errors``, ``paths``, ``machine``, then ``io`` and ``engine``, then ``configs`` (the base)
1. ``geometry`` (numpy only)
2. ``data``
3. ``model`` (TensorFlow/Keras), ``viz`` (figures, colour maps, dumps)
4. ``training``, ``deploy``, ``eda`` (tasks; none imports another task package)
5. ``cli``, then ``demo`` (entry points; the demo runs verbs through the CLI), then ``notebook``
   (runs the notebooks headless)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).parents[1] / "workbench"
SAMPLES_RGB = sorted((PKG.parent / "data_samples" / "rgbd-folder" / "rgb").glob("*.png"))[0]

LAYER = {
    "errors": 0, "paths": 0, "machine": 0, "io": 0.1, "configs": 0.2, "engine": 0.1,
    "geometry": 1,
    "data": 2,
    "model": 3, "viz": 3,
    "training": 4, "deploy": 4, "eda": 4,
    "cli": 5, "demo": 5.1, "notebook": 5.2, "__init__": 6,
}  # fmt: skip
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every workbench module ``path`` imports, at any depth (``from a import b`` counts as
    ``a.b`` when that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out |= {n for n in names if n in known}
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(p, set(mods)) - {m} for m, p in mods.items()}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_has_a_layer():
    missing = sorted({_top(m) for m in _graph()} - set(LAYER))
    assert not missing, f"add these to LAYER: {missing}"


def test_imports_only_run_downward():
    bad = []
    for mod, deps in _graph().items():
        for dep in deps:
            a, b = _top(mod), _top(dep)
            if dep == "workbench" or a == b:
                continue
            if LAYER[b] >= LAYER[a]:
                bad.append(f"{mod} -> {dep}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state and (cycle := visit(d)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_cycle_detection_finds_a_planted_cycle(tmp_path, monkeypatch):
    """The cycle test can fail: two modules importing each other are reported."""
    pkg = tmp_path / "workbench"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("from workbench.data import b\n")
    (pkg / "data" / "b.py").write_text("import workbench.data.a\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycles()


def test_no_function_over_80_lines():
    long = []
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PKG.parent)}:{node.lineno} {node.name} ({n})")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys; print('\\n'.join(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return set(r.stdout.split())


def test_help_loads_no_tensorflow():
    mods = _loaded_after(
        "import contextlib, io\nfrom workbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    assert "tensorflow" not in mods and "keras" not in mods


@pytest.mark.parametrize("missing", ["input", "model", "undecodable"])
def test_infer_refuses_a_missing_file_before_loading_tensorflow(tmp_path, missing):
    """A missing input or model, or inputs of which none decodes: exit 2 naming the file,
    before TensorFlow loads and with no output folder made."""
    image = SAMPLES_RGB if missing == "model" else tmp_path / "no_such.jpg"
    if missing == "undecodable":
        image = tmp_path / "bad.jpg"
        image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    model = ["--model", str(tmp_path / "no.tflite")] if missing == "model" else []
    line = {"model": "no.tflite: model not found", "input": "no_such.jpg"}.get(missing, "bad.jpg")
    argv = ["infer", str(image), *model, "--out", str(tmp_path / "out")]
    mods = _loaded_after(
        "import contextlib, io\nfrom workbench.cli import main\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        f"    rc = main({argv!r})\n"
        f"assert rc == 2 and {line!r} in err.getvalue(), err.getvalue()"
    )
    assert "tensorflow" not in mods and "keras" not in mods
    assert not (tmp_path / "out").exists()  # a refused job leaves no output folder


def test_inference_loads_no_training_module():
    mods = _loaded_after("import workbench.deploy.infer, workbench.deploy.export")
    assert "tensorflow" in mods  # the probe itself works: inference needs TF
    assert not [m for m in mods if m.startswith("workbench.training")]


def test_geometry_and_eda_load_no_tensorflow():
    names = [m for m in _modules() if m.startswith(("workbench.geometry", "workbench.eda"))]
    mods = _loaded_after("\n".join(f"import {m}" for m in names))
    assert "tensorflow" not in mods and "keras" not in mods
    assert set(names) <= mods
