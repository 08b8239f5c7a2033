"""Depth prediction from any model format, behind one API: ``load(path).predict(rgb)``.

Formats (auto-detected from ``path``):

- a **run folder** of ``workbench train`` (``model.keras``, else its latest checkpoint);
- a ``.keras`` file;
- a **SavedModel** folder (``saved_model.pb``; signature ``serving_default``, input ``rgb``);
- a frozen GraphDef ``.pb`` (tensor names from the ``model.json`` beside it);
- a ``.tflite`` file (float or int8 input/output; LiteRT interpreter).

``None`` means the shipped default model (``models/default/``). Every backend maps a batch
``(B, H, 2H, 3) float32`` RGB in [0, 1] at the model's size to ``(B, H, 2H) float32`` range in
metres; :class:`Predictor` adds resizing (any 2:1 image in, depth at the input size out) and
optional letterboxing of non-2:1 images (``pad=True``: rows are added above and below when the
image is wider than 2:1, columns on the right when it is narrower; the padding is cropped off the
output).

Every ``.pb``, SavedModel and ``.tflite`` passes :mod:`workbench.model.graph_safety` before any of
its graphs is loaded: a model holding a file, network, process or Python op is refused.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from workbench.errors import WorkbenchError
from workbench.io import check_model_path, quiet_native_stderr
from workbench.model.graph_safety import check_graph_def, check_saved_model, read_tflite_checked
from workbench.model.saving import is_run_folder, load_keras_model, load_run_model

__all__ = [
    "KerasBackend",
    "SavedModelBackend",
    "FrozenGraphBackend",
    "TFLiteBackend",
    "Predictor",
    "load",
    "load_backend",
    "letterbox",
    "flip_average",
    "read_model_json",
    "predict_range",
]


def predict_range(model, rgb: np.ndarray, batch: int = 8) -> np.ndarray:
    """Keras ``model`` on ``(B, H, W, 3)`` float RGB in [0, 1] → ``(B, H, W)`` float32 metres."""
    out = []
    for i in range(0, len(rgb), batch):
        y = model(np.asarray(rgb[i : i + batch], np.float32), training=False)
        out.append(np.asarray(y, np.float32)[..., 0])
    return np.concatenate(out, axis=0)


MIN_IMAGE = (32, 64)  # (H, W): the smallest image predicted (validate's smallest panorama)


def other_height_note(what: str, trained: int) -> str:
    """The warning for a model run at another height than it was trained at: its metric scale
    comes from its receptive field, so its depth is off by a factor there (the default model,
    trained at 128 rows, run at 256 puts the camera 0.8 m above the floor instead of 1.6 m)."""
    return (
        f"workbench: warning: {what}: the model was trained at {trained} rows; its metric scale "
        f"comes from that size, so its depth is off by a factor at another (export at "
        f"{trained}, or without --height, for metric depth)"
    )


def read_model_json(path: Path) -> dict:
    """``model.json`` beside (or inside) a model, ``{}`` when there is none."""
    for cand in (path / "model.json", path.parent / "model.json"):
        if cand.is_file():
            try:
                return json.loads(cand.read_text())
            except json.JSONDecodeError as e:
                raise WorkbenchError(f"model.json is not valid JSON ({e})", cand) from None
    return {}


# --------------------------------------------------------------------------- backends


def check_depth_model(model, source) -> int:
    """A Keras model's height when it maps ``(B, H, 2H, 3)`` RGB to ``(B, H, 2H, 1)`` depth
    (a pose or two-view network is not one).

    Raises:
        WorkbenchError: naming ``source`` and the shape that differs.
    """
    ins, outs = model.input_shape, model.output_shape
    depth_in = isinstance(ins, tuple) and len(ins) == 4 and ins[3] == 3 and ins[1]
    if not (depth_in and ins[2] == 2 * ins[1]):
        raise WorkbenchError(
            f"not a depth model of this workbench: input {ins} (expected (B, H, 2H, 3))", source
        )
    if not (isinstance(outs, tuple) and len(outs) == 4 and outs[1:] == (*ins[1:3], 1)):
        raise WorkbenchError(
            f"not a depth model of this workbench: output {outs} (expected (B, H, 2H, 1))",
            source,
        )
    return int(ins[1])


class KerasBackend:
    """A Keras model (from a ``.keras`` file or a run folder)."""

    kind = "keras"

    def __init__(self, model, source: Path):
        self.height = check_depth_model(model, source)
        self.model, self.source = model, source
        self._fn = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if self._fn is None:
            self._fn = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        return np.asarray(self._fn(rgb), np.float32)[..., 0]


class SavedModelBackend:
    """A SavedModel folder written by ``workbench export --format savedmodel``."""

    kind = "savedmodel"

    def __init__(self, folder: Path):
        check_saved_model(folder)  # before TensorFlow runs anything of it
        try:
            self.obj = tf.saved_model.load(str(folder))
            self.fn = self.obj.signatures["serving_default"]
        except (OSError, ValueError, KeyError, tf.errors.OpError) as e:
            raise WorkbenchError(f"cannot load SavedModel ({str(e)[:200]})", folder) from None
        spec = self.fn.structured_input_signature[1]
        self.input_name = next(iter(spec))
        self.height = int(spec[self.input_name].shape[1])
        self.output_name = next(iter(self.fn.structured_outputs))
        self.source = folder

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = self.fn(**{self.input_name: rgb})[self.output_name]
        return np.asarray(out, np.float32)[..., 0]


class FrozenGraphBackend:
    """A frozen GraphDef ``.pb`` (variables folded into constants), run with ``tf.compat.v1``."""

    kind = "pb"

    def __init__(self, path: Path):
        meta = read_model_json(path)
        self.input_tensor = meta.get("pb_input", "rgb:0")
        self.output_tensor = meta.get("pb_output", "Identity:0")
        gd = tf.compat.v1.GraphDef()
        try:
            gd.ParseFromString(path.read_bytes())
        except Exception as e:  # noqa: BLE001  (protobuf raises DecodeError and others)
            raise WorkbenchError(f"not a GraphDef ({e})", path) from None
        check_graph_def(gd, path)  # before the graph is imported
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(gd, name="")
        try:
            self.x = self.graph.get_tensor_by_name(self.input_tensor)
            self.y = self.graph.get_tensor_by_name(self.output_tensor)
        except (KeyError, ValueError) as e:
            raise WorkbenchError(f"graph lacks its input/output tensor ({e})", path) from None
        self.height = int(self.x.shape[1])
        self.sess = tf.compat.v1.Session(graph=self.graph)
        self.source = path

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        out = [self.sess.run(self.y, {self.x: rgb[i : i + 1]}) for i in range(len(rgb))]
        return np.concatenate(out, axis=0).astype(np.float32)[..., 0]


class TFLiteBackend:
    """A ``.tflite`` file in the LiteRT interpreter (float or int8 input/output)."""

    kind = "tflite"

    def __init__(self, path: Path, threads: int = 2):
        data = read_tflite_checked(path)  # builtin ops only; the checked bytes are the ones run
        try:
            with quiet_native_stderr():
                self.interp = Interpreter(model_content=data, num_threads=threads)
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise WorkbenchError(f"not a valid .tflite model ({str(e)[:200]})", path) from None
        self._content = data  # the interpreter reads from this buffer
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        self.height = int(self.inp["shape"][1])
        self.source = path

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        res = []
        for x in rgb:
            x = x[None]
            if self.inp["dtype"] != np.float32:
                scale, zero = self.inp["quantization"]
                info = np.iinfo(self.inp["dtype"])
                x = np.clip(np.round(x / scale + zero), info.min, info.max)
            self.interp.set_tensor(self.inp["index"], x.astype(self.inp["dtype"]))
            self.interp.invoke()
            y = self.interp.get_tensor(self.out["index"])
            if self.out["dtype"] != np.float32:
                scale, zero = self.out["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            res.append(y.astype(np.float32))
        return np.concatenate(res, axis=0)[..., 0]


def load_backend(path: str | os.PathLike | None = None, threads: int = 2, warn: bool = True):
    """The backend for ``path`` (see the module doc); ``None`` is the default model. An export
    made at another height than its model was trained at (``model.json``'s
    ``trained_height``) is said in one warning (:func:`other_height_note`); ``warn=False``
    for the export's own report, which loads its staged files (``export`` said it once)."""
    backend = _load_backend(path, threads)
    if not warn:
        return backend
    try:
        trained = read_model_json(Path(backend.source)).get("trained_height")
    except (WorkbenchError, AttributeError):  # not this project's model.json: nothing to say
        trained = None
    if isinstance(trained, int) and trained != backend.height:
        print(other_height_note(f"{backend.source} takes {backend.height} rows", trained),
              file=sys.stderr)  # fmt: skip
    return backend


def _load_backend(path: str | os.PathLike | None, threads: int):
    path = check_model_path(path)
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return SavedModelBackend(path)
        if is_run_folder(path):
            return KerasBackend(load_run_model(path), path)
        exported = sorted(p.name for p in path.iterdir() if p.name == "saved_model"
                          or p.suffix in (".tflite", ".pb"))  # fmt: skip
        hint = f"; an export folder: pass one of its models ({', '.join(exported)})"
        raise WorkbenchError(
            "folder is neither a run folder (model.keras or checkpoints/) nor a SavedModel"
            + (hint if exported else ""),
            path,
        )
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return TFLiteBackend(path, threads)
    if suffix == ".pb":
        return FrozenGraphBackend(path)
    if suffix == ".keras":
        return KerasBackend(load_keras_model(path), path)
    raise WorkbenchError("unknown model format (expected a folder, .keras, .pb or .tflite)", path)


# --------------------------------------------------------------------------- predictor


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Pad ``(H, W, 3)`` to 2:1 with black; returns the image and ``(top, bottom, left, right)``."""
    h, w = rgb.shape[:2]
    top = bottom = left = right = 0
    if w > 2 * h:
        extra = (w + 1) // 2 - h
        top, bottom = extra // 2, extra - extra // 2
    elif w < 2 * h:
        right = 2 * h - w
    out = np.pad(rgb, ((top, bottom), (left, right), (0, 0)))
    if out.shape[1] != 2 * out.shape[0]:  # odd width: one more column
        more = 2 * out.shape[0] - out.shape[1]
        out = np.pad(out, ((0, 0), (0, more), (0, 0)))
        right += more
    return out, (top, bottom, left, right)


def flip_average(backend, rgb: np.ndarray) -> np.ndarray:
    """Depth of ``rgb (B, H, 2H, 3)`` averaged with that of its mirror image: ``(B, H, 2H)``
    metres, the geometric mean of ``backend(rgb)`` and the mirrored ``backend(rgb[:, :, ::-1])``.

    Reversing the columns of an equirect panorama gives the panorama of the mirrored world from
    the same camera (longitude ``λ`` → ``-λ``, exactly, at pixel centres), so both predictions
    describe the same pixels; the mean in log space halves the model's left/right bias. Two
    model calls per image (on 40 ``rooms`` views: AbsRel 0.1205 → 0.117).
    """
    b = len(rgb)
    y = np.asarray(backend(np.concatenate([rgb, rgb[:, :, ::-1]])), np.float32)
    logs = np.log(np.maximum(y[:b], 1e-6)) + np.log(np.maximum(y[b:, :, ::-1], 1e-6))
    return np.exp(0.5 * logs).astype(np.float32)


@dataclass
class Predictor:
    """Resizing front-end over a backend (``predict`` any 2:1 image, get depth at its size);
    ``flip``: average each prediction with its mirror image's (:func:`flip_average`)."""

    backend: object
    pad: bool = False
    flip: bool = False

    @property
    def height(self) -> int:
        return self.backend.height

    def predict_batch(self, rgb: np.ndarray) -> np.ndarray:
        """``(B, H, 2H, 3)`` float32 in [0, 1] at the model size → ``(B, H, 2H)`` metres."""
        rgb = np.asarray(rgb, np.float32)
        h = self.height
        if rgb.ndim != 4 or rgb.shape[1:] != (h, 2 * h, 3):
            raise ValueError(f"batch must be (B, {h}, {2 * h}, 3), got {rgb.shape}")
        return flip_average(self.backend, rgb) if self.flip else self.backend(rgb)

    def prepare(self, rgb: np.ndarray, name: str = "image") -> tuple[np.ndarray, tuple]:
        """Image ``(H, W, 3)`` uint8 or float [0, 1] → model-size float input and undo info."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise WorkbenchError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}", name)
        if rgb.dtype == np.uint8:
            rgb = rgb.astype(np.float32) / 255.0
        rgb = rgb.astype(np.float32)
        h0, w0 = rgb.shape[:2]
        if h0 < MIN_IMAGE[0] or w0 < MIN_IMAGE[1]:  # a 40x20 thumbnail read rooms 2.6x nearer
            least = f"{MIN_IMAGE[1]}x{MIN_IMAGE[0]}"
            raise WorkbenchError(f"image is {w0}x{h0} pixels, too small (at least {least})", name)
        pads = (0, 0, 0, 0)
        if w0 != 2 * h0:
            if not self.pad:
                raise WorkbenchError(
                    f"image is {w0}x{h0}, not an equirect 2:1 panorama (use --pad to letterbox)",
                    name,
                )
            rgb, pads = letterbox(rgb)
        h = self.height
        interp = cv2.INTER_AREA if rgb.shape[0] > h else cv2.INTER_LINEAR
        x = cv2.resize(rgb, (2 * h, h), interpolation=interp) if rgb.shape[0] != h else rgb
        return x, (rgb.shape[:2], pads)

    @staticmethod
    def restore(pred: np.ndarray, info: tuple) -> np.ndarray:
        """Model-size depth → depth at the original image size (padding cropped)."""
        (hp, wp), (top, bottom, left, right) = info
        if pred.shape != (hp, wp):
            pred = cv2.resize(pred, (wp, hp), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(pred[top : hp - bottom, left : wp - right])

    def predict(self, rgb: np.ndarray, name: str = "image") -> np.ndarray:
        """Depth ``(H, W) float32`` metres of one image ``(H, W, 3)`` (uint8 or float [0, 1])."""
        x, info = self.prepare(rgb, name)
        return self.restore(self.predict_batch(x[None])[0], info)


def load(
    path: str | os.PathLike | None = None, threads: int = 2, pad: bool = False, flip: bool = False
) -> Predictor:
    """A :class:`Predictor` for ``path`` (run folder, .keras, SavedModel, .pb, .tflite, None)."""
    return Predictor(load_backend(path, threads), pad=pad, flip=flip)
