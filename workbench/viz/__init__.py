"""Visualisation: colour maps (numpy/OpenCV), plotly figures and ipywidgets builders."""
