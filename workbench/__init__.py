"""pano-depth workbench: monocular depth on 360-degree equirectangular panoramas.

The folders are layers, imports run downward (README, *Architecture*): ``geometry`` (numpy)
← ``data`` ← ``model`` (TensorFlow/Keras) and ``viz`` ← ``training``, ``deploy``, ``eda`` ←
``cli``. Importing :mod:`workbench` itself is cheap: no TensorFlow.
"""

__version__ = "0.1.0"

import os as _os

from workbench.machine import quiet_tensorflow as _quiet_tensorflow

# TensorFlow's C++ start-up chatter (absl's note, oneDNN, CPU feature notes) drowns notebook
# and CLI output on every CPU; set TF_CPP_MIN_LOG_LEVEL=0 yourself to see it again.
_quiet_tensorflow()
# open3d prints a banner and starts a WebRTC visualizer when imported inside Jupyter; the
# notebooks draw with their own widgets, so keep both off unless asked for.
_os.environ.setdefault("OPEN3D_DISABLE_WEB_VISUALIZER", "true")
# OpenCV's own warnings ("PNG input buffer is incomplete") would sit beside the one line that
# names a bad file; errors still come through (set OPENCV_LOG_LEVEL=WARNING to see them)
_os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")


def __getattr__(name):  # ``workbench.open_dataset`` without importing the data layer eagerly
    if name in ("open_dataset", "Dataset"):
        from workbench.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
