"""pano-depth workbench: monocular depth on 360-degree equirectangular panoramas.

The library is split by concept (see ``DESIGN.md`` in the shared folder and the README):
``geometry`` (pure numpy), ``data``, ``eda``, ``model`` (TensorFlow), ``viz``; the CLI and the
notebooks only call into it. Importing :mod:`workbench` itself is cheap: no TensorFlow.
"""

__version__ = "0.1.0"
