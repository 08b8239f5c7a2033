"""pano-depth workbench: monocular depth on 360-degree equirectangular panoramas.

The library is split by concept (see ``DESIGN.md`` in the shared folder and the README):
``geometry`` (pure numpy), ``data``, ``eda``, ``model`` (TensorFlow), ``viz``; the CLI and the
notebooks only call into it. Importing :mod:`workbench` itself is cheap: no TensorFlow.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow's C++ start-up chatter (CPU feature notes, device lists) drowns notebook and CLI
# output; set the variable yourself to see it again.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
