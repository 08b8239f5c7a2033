"""Dataset EDA as tidy pandas DataFrames: per-view table (pose, height, depth statistics),
depth distribution by latitude band, camera orientation and camera motion."""
