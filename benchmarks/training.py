"""Training speed at the default size (256x512, the shipped U-Net) and the input pipeline's
throughput relative to what training consumes (goal >= 3x), measured in the same run."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import figure, write_result


def main(height: int = 256, batch: int = 4, steps: int = 6) -> dict:
    import keras
    import tensorflow as tf

    from workbench.configs import TrainConfig
    from workbench.data.pipeline import Augment
    from workbench.model.losses import total_loss
    from workbench.model.unet import build_from_config
    from workbench.training.loop import make_optimizer

    cfg = TrainConfig(height=height, model_width=12, model_depth=4, batch=batch, steps=100)
    model = build_from_config(cfg)
    opt = make_optimizer(cfg)
    x = tf.random.stateless_uniform((batch, height, 2 * height, 3), (1, 2))
    y = tf.random.stateless_uniform((batch, height, 2 * height, 1), (3, 4), 1.0, 5.0)
    m = tf.ones_like(y)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = total_loss(y, model(x, training=True), m, cfg.rate, cfg.ssim_k)["total"]
        g = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(g, model.trainable_variables, strict=True))
        return loss

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step().numpy()
    t_step = (time.perf_counter() - t) / steps
    train_sps = batch / t_step

    from benchmarks.data import pipeline_samples_per_s

    aug = Augment(yaw_roll=True, flip=True, brightness=0.2, contrast=0.2, saturation=0.2, gamma=0.2)
    pipe_sps = pipeline_samples_per_s(height, batch, aug)
    figures = [
        figure("train step time (256x512, batch 4)", t_step, "s"),
        figure("train samples/s", train_sps, "samples/s", better="higher"),
        figure(
            "pipeline / training throughput", pipe_sps / train_sps, "x", goal=3.0, better="higher"
        ),
    ]
    details = {
        "params": int(model.count_params()),
        "pipeline_samples_per_s": pipe_sps,
        "keras": keras.__version__,
    }
    write_result("training", figures, details)
    return {"figures": figures}


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
