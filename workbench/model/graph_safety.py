"""Model files are data: the checks that run before any graph of a model file is executed.

A frozen ``.pb``, a SavedModel or a ``.tflite`` file carries a program: TensorFlow graphs can
read and write files (``WriteFile``, ``ReadFile``, ``MatchingFiles``, ``SaveV2``), print to a
file (``PrintV2``), call back into Python (``PyFunc``) and more. A depth model needs none of
that, so every op of every graph that can run is checked against :data:`ALLOWED_OPS` (the ops of
an inference graph: the ones this workbench's exports contain plus common layers) and anything
else is refused, naming the op and the file, before TensorFlow loads it.

- :func:`check_graph_def`: a frozen GraphDef (its nodes and every function of its library).
- :func:`check_saved_model`: a SavedModel folder (every meta graph's nodes and functions); the
  checkpoint ops (:data:`CHECKPOINT_OPS`) are accepted only in the graph's own save and restore
  functions (those of its ``saver_def``) and only when nothing else calls them.
- :func:`check_tflite`: a ``.tflite`` flatbuffer; custom operators (Flex ops included) are
  refused, builtins have no file, network or process access.

``.keras`` files are loaded in Keras's safe mode (no ``Lambda`` or other deserialised code).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ai_edge_litert import schema_py_generated as tfl_schema
from tensorflow.core.framework import graph_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model import loader_impl

from workbench.errors import WorkbenchError

__all__ = [
    "ALLOWED_OPS",
    "CHECKPOINT_OPS",
    "check_graph_def",
    "check_saved_model",
    "check_tflite",
    "read_tflite_checked",
]

ALLOWED_OPS = frozenset(
    # graph plumbing and variables (in memory only)
    "Const Identity IdentityN Placeholder PlaceholderWithDefault NoOp StopGradient "
    "PartitionedCall StatefulPartitionedCall If StatelessIf While StatelessWhile "
    "ReadVariableOp VarHandleOp AssignVariableOp VarIsInitializedOp "
    # layers
    "Conv2D Conv2DBackpropInput DepthwiseConv2dNative BiasAdd MatMul BatchMatMulV2 Einsum "
    "MaxPool AvgPool FusedBatchNorm FusedBatchNormV3 "
    "Relu Relu6 Elu Selu LeakyRelu Sigmoid Tanh Softplus Softsign Softmax Erf "
    # arithmetic
    "Add AddV2 AddN Sub Mul RealDiv Div DivNoNan FloorDiv FloorMod Maximum Minimum "
    "SquaredDifference Exp Log Log1p Sqrt Rsqrt Square Abs Neg Reciprocal Pow Sign "
    "Floor Ceil Round ClipByValue Sin Cos Tan Asin Acos Atan Atan2 "
    "Select SelectV2 Less LessEqual Greater GreaterEqual Equal NotEqual "
    "LogicalAnd LogicalOr LogicalNot Cast "
    # shapes and layout
    "Pad PadV2 MirrorPad ConcatV2 Pack Unpack Split SplitV StridedSlice Slice Reshape "
    "Squeeze ExpandDims Tile Transpose Shape ShapeN Size Rank Fill Range ZerosLike OnesLike "
    "BroadcastTo BroadcastArgs GatherV2 DepthToSpace SpaceToDepth "
    "ResizeNearestNeighbor ResizeBilinear "
    # reductions
    "Mean Sum Max Min Prod ArgMax ArgMin Cumsum".split()
)
"""Ops an inference graph may hold anywhere."""

CHECKPOINT_OPS = frozenset(
    "SaveV2 RestoreV2 MergeV2Checkpoints ShardedFilename StringJoin StaticRegexFullMatch "
    "DisableCopyOnRead".split()
)
"""Ops accepted only inside a SavedModel's own variable save/restore functions."""


def _refuse(op: str, where: str, path) -> WorkbenchError:
    return WorkbenchError(
        f"model holds op {op!r} in {where}, which an inference graph does not need "
        "(file, network, process or Python ops are refused: a model must be data)",
        path,
    )


def _called(node) -> Iterable[str]:
    """Names of the functions a NodeDef calls through its attributes (``f``, branches...)."""
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        if value.HasField("list"):
            yield from (f.name for f in value.list.func)


def _node_edges(node, functions: set[str]) -> list[tuple[str, str]]:
    """What running ``node`` runs too: its inputs and the functions it calls (by attribute or
    as its op)."""
    edges = [("node", i.lstrip("^").split(":")[0]) for i in node.input]
    edges += [("fn", f) for f in _called(node) if f in functions]
    if node.op in functions:
        edges.append(("fn", node.op))
    return edges


def _graph(gd: graph_pb2.GraphDef) -> tuple[dict, dict]:
    """``(items, edges)``: every main-graph node and library function as ``(kind, name)`` with
    its ops; what each one runs."""
    functions = {f.signature.name for f in gd.library.function}
    items, edges = {}, {}
    for node in gd.node:
        items[("node", node.name)] = [node]
        edges[("node", node.name)] = _node_edges(node, functions)
    for fn in gd.library.function:
        key = ("fn", fn.signature.name)
        items[key] = list(fn.node_def)
        edges[key] = [e for n in fn.node_def for e in _node_edges(n, functions) if e[0] == "fn"]
    return items, edges


def _closure(roots: Iterable, edges: dict) -> set:
    seen, todo = set(), list(roots)
    while todo:
        key = todo.pop()
        if key in seen or key not in edges:
            continue
        seen.add(key)
        todo.extend(edges[key])
    return seen


def _check_items(items: dict, relaxed: set, functions: set[str], path, what: str) -> int:
    """Refuse the first op outside the allow-list; returns how many ops were checked."""
    n = 0
    for key, nodes in items.items():
        allowed = ALLOWED_OPS | CHECKPOINT_OPS if key in relaxed else ALLOWED_OPS
        for node in nodes:
            n += 1
            if node.op not in allowed and node.op not in functions:
                where = f"{what} node {node.name!r}"
                if key[0] == "fn":
                    where = f"{what} function {key[1]!r} (node {node.name!r})"
                raise _refuse(node.op, where, path)
    return n


def check_graph_def(gd: graph_pb2.GraphDef, path, saver_roots: Iterable[str] = ()) -> int:
    """Every op of ``gd`` (its nodes and every function of its library) is in
    :data:`ALLOWED_OPS`; the graph's checkpoint nodes ``saver_roots`` (and what only they run)
    may also hold :data:`CHECKPOINT_OPS`.

    Args:
        gd: a parsed GraphDef (not yet imported or run).
        path: the model file, named in the error.
        saver_roots: main-graph node names of the graph's own variable save/restore.

    Returns:
        How many ops were checked.

    Raises:
        WorkbenchError: naming ``path`` and the first op that is not allowed.
    """
    items, edges = _graph(gd)
    saver = _closure([("node", r) for r in saver_roots], edges)
    strict = _closure([k for k in items if k not in saver], edges)
    functions = {f.signature.name for f in gd.library.function}
    return _check_items(items, saver - strict, functions, path, "graph")


def check_saved_model(folder: str | os.PathLike) -> int:
    """Every meta graph of the SavedModel in ``folder`` passes :func:`check_graph_def`, its
    ``saver_def`` nodes allowed their checkpoint ops. The file is parsed the way TensorFlow
    parses it (``saved_model.pb`` or ``.pbtxt``), nothing of it is run.

    Returns:
        How many ops were checked.

    Raises:
        WorkbenchError: naming ``folder`` (unreadable) or the op that is not allowed.
    """
    try:
        sm: saved_model_pb2.SavedModel = loader_impl.parse_saved_model(str(folder))
    except (OSError, ValueError) as e:
        raise WorkbenchError(f"cannot read SavedModel ({str(e)[:200]})", folder) from None
    n = 0
    for mg in sm.meta_graphs:
        saver = mg.saver_def
        roots = [
            name.split(":")[0] for name in (saver.restore_op_name, saver.save_tensor_name) if name
        ]
        n += check_graph_def(mg.graph_def, Path(folder), roots)
    return n


def read_tflite_checked(path: str | os.PathLike) -> bytes:
    """The bytes of a ``.tflite`` file after :func:`check_tflite` (load these, not the path,
    so the checked content is the one that runs)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise WorkbenchError(f"cannot read ({e.strerror})", path) from None
    check_tflite(data, path)
    return data


def check_tflite(data: bytes, path) -> int:
    """A ``.tflite`` flatbuffer ``data`` holds no custom operator (``CUSTOM`` builtin code or a
    custom code: TensorFlow "Flex" ops included).

    Returns:
        How many operator codes were checked.

    Raises:
        WorkbenchError: naming ``path`` and the custom op, or that it is not a TFLite model.
    """
    if len(data) < 8 or not tfl_schema.Model.ModelBufferHasIdentifier(data, 0):
        raise WorkbenchError("not a valid .tflite model (no TFL3 identifier)", path)
    try:
        model = tfl_schema.Model.GetRootAs(data, 0)
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
        found = [(c.CustomCode(), max(c.BuiltinCode(), c.DeprecatedBuiltinCode())) for c in codes]
    except Exception:  # noqa: BLE001  (a corrupt flatbuffer raises struct/index errors)
        raise WorkbenchError(
            f"not a valid .tflite model: its {len(data):,} bytes are cut short or corrupt "
            "(copy or export it again)",
            path,
        ) from None
    for custom, builtin in found:
        if custom or builtin == tfl_schema.BuiltinOperator.CUSTOM:
            name = custom.decode("utf-8", "replace") if custom else "CUSTOM"
            raise WorkbenchError(
                f"model holds custom op {name!r} (only TFLite builtin ops are accepted: "
                "a model must be data)",
                path,
            )
    return len(found)
