"""Deployment: SavedModel / frozen ``.pb`` / TFLite export, the export report, and inference on
the user's own panoramas. Models are read through :mod:`workbench.model.predictor`; nothing here
imports :mod:`workbench.training`."""
