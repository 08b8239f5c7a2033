"""Model files are data: a ``.pb``, SavedModel or ``.tflite`` holding an op that acts (writes a
file, calls Python, a custom TFLite kernel) is refused by every verb that loads models, with one
line naming the op and the file, before any of it runs; the project's own models pass."""

import re
from pathlib import Path

import flatbuffers
import pytest
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from tests.helpers import write_sample_lists
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.model import graph_safety
from workbench.paths import DEFAULT_MODEL

ROOT = Path(__file__).parents[2]
IMAGE = ROOT / "data_samples" / "rgbd-folder" / "rgb"
SPEC = tf.TensorSpec([None, 16, 32, 3], tf.float32, name="rgb")


def _writing_fn(target: Path):
    """``rgb -> range`` whose output depends on writing ``target``."""

    @tf.function(input_signature=[SPEC])
    def serve(rgb):
        w = tf.io.write_file(str(target), "written by the model")
        with tf.control_dependencies([w]):
            return {"range": tf.identity(rgb[..., :1] + 1.0, name="range")}

    return serve


def _with_custom_op(name: bytes) -> bytes:
    """A converted ``rgb + 1`` whose only operator is re-labelled a custom op ``name``."""
    from ai_edge_litert import schema_py_generated as schema

    @tf.function(input_signature=[tf.TensorSpec([1, 16, 32, 3], tf.float32)])
    def plus_one(rgb):
        return rgb[..., :1] + 1.0

    conv = tf.lite.TFLiteConverter.from_concrete_functions([plus_one.get_concrete_function()])
    model = schema.ModelT.InitFromPackedBuf(conv.convert(), 0)
    for code in model.operatorCodes:
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode = name
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _frozen(fn) -> bytes:
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    return frozen.graph.as_graph_def().SerializeToString()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    target = tmp / "pwned.txt"
    (tmp / "write.pb").write_bytes(_frozen(_writing_fn(target)))
    (tmp / "model.json").write_text('{"pb_input": "rgb:0", "pb_output": "range:0"}')
    module = tf.Module()
    module.v = tf.Variable(1.0)
    module.serve = _writing_fn(target)
    tf.saved_model.save(module, str(tmp / "write_sm"), signatures={"serving_default": module.serve})

    @tf.function(input_signature=[SPEC])
    def pyfunc(rgb):
        y = tf.numpy_function(lambda a: a * 2.0, [rgb], tf.float32)
        return {"range": tf.reshape(y, tf.shape(rgb))[..., :1]}

    (tmp / "pyfunc.pb").write_bytes(_frozen(pyfunc))

    (tmp / "custom.tflite").write_bytes(_with_custom_op(b"WriteFile"))
    assert not target.exists()
    lists = write_sample_lists(tmp / "lists")
    return tmp, target, lists


def _cli_refuses(argv, needles, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("workbench: error:")]
    assert code == 2 and len(lines) == 1, err[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("name", ["write.pb", "write_sm"])
@pytest.mark.parametrize("verb", ["infer", "eval", "export"])
def test_a_model_that_writes_a_file_is_refused_and_writes_nothing(
    planted, name, verb, tmp_path, capsys
):
    tmp, target, lists = planted
    model = str(tmp / name)
    out = str(tmp_path / "out")
    argv = {
        "infer": ["infer", str(IMAGE), "--model", model, "--out", out, "--no-progress"],
        "eval": ["eval", str(lists / "val.csv"), "--model", model, "--out", out],
        "export": ["export", "--checkpoint", model, "--format", "pb", "--out", out],
    }[verb]
    needles = [name] + (["'WriteFile'"] if verb != "export" else [])
    _cli_refuses(argv, needles, capsys)
    assert not target.exists()


def test_python_and_custom_ops_are_refused(planted):
    tmp, _, _ = planted
    with pytest.raises(WorkbenchError, match=r"pyfunc\.pb: .*op 'PyFunc'"):
        graph_safety.check_graph_def(_parse(tmp / "pyfunc.pb"), tmp / "pyfunc.pb")
    with pytest.raises(WorkbenchError, match=r"custom\.tflite: .*custom op 'WriteFile'"):
        graph_safety.read_tflite_checked(tmp / "custom.tflite")
    from workbench.model.predictor import load

    for name in ("pyfunc.pb", "custom.tflite"):
        with pytest.raises(WorkbenchError, match=re.escape(name)):
            load(tmp / name)


def _parse(path: Path):
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(path.read_bytes())
    return gd


def test_checkpoint_ops_only_in_the_saver_functions(planted):
    """A SavedModel's own save/restore functions may hold SaveV2/RestoreV2; the same op anywhere
    else is refused, and so is a serving graph that calls the save function."""
    tmp, _, _ = planted
    from tensorflow.python.saved_model import loader_impl

    sm = loader_impl.parse_saved_model(str(tmp / "write_sm"))
    gd = sm.meta_graphs[0].graph_def
    saver = sm.meta_graphs[0].saver_def
    roots = [saver.restore_op_name, saver.save_tensor_name.split(":")[0]]
    lib = {f.signature.name: f for f in gd.library.function}
    serve = next(f for n, f in lib.items() if n.startswith("__inference_serve"))
    for node in serve.node_def:  # the planted op disarmed: the rest must pass
        if node.op == "WriteFile":
            node.op = "NoOp"
    assert graph_safety.check_graph_def(gd, "sm", roots) > 10
    with pytest.raises(WorkbenchError, match="function '__inference__traced_(save|restore)"):
        graph_safety.check_graph_def(gd, "sm", saver_roots=())
    save_fn = next(n for n in lib if "traced_save" in n)
    call = serve.node_def.add(name="sneaky", op="StatefulPartitionedCall")
    call.attr["f"].func.name = save_fn
    with pytest.raises(WorkbenchError, match="function '__inference__traced_(save|restore)"):
        graph_safety.check_graph_def(gd, "sm", roots)


def test_the_shipped_tflite_passes():
    """The exported formats of a trained model: tests/deploy/test_export_infer.py."""
    assert graph_safety.read_tflite_checked(DEFAULT_MODEL / "model_int8.tflite")


def test_keras_files_stay_in_safe_mode(tmp_path):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Lambda(lambda x: x * 2)(inp))
    model.save(tmp_path / "lambda.keras")
    from workbench.model.predictor import load

    with pytest.raises(WorkbenchError, match=r"lambda\.keras"):
        load(tmp_path / "lambda.keras")


def test_a_truncated_tflite_says_it_is_cut_short(tmp_path):
    """A .tflite copied half-way said only "not a valid .tflite model (error)"."""
    data = (DEFAULT_MODEL / "model_int8.tflite").read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 4])
    with pytest.raises(
        WorkbenchError,
        match=r"cut\.tflite: not a valid .tflite model: its .* bytes are cut short or corrupt",
    ):
        graph_safety.read_tflite_checked(cut)
