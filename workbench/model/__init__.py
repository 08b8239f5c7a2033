"""Depth model (U-Net with circular padding), losses and metrics (TensorFlow/Keras 3)."""
