"""What the default model's metric scale leans on: its camera-height error on generated rooms
whose ceiling and camera heights are held in narrow bands.

The camera height is read off the floor (:func:`~workbench.geometry.camera_height.fit_floor`)
of the prediction and of the exact range of the same render; the figure per band is the
median of predicted over true, minus one (signed: above 0 the model sees the rig too high).
Rooms are the ``rooms`` preset's (furnished, its camera effects), rendered at the model's
128×256 from seeds no training stage used; only the two heights are narrowed. A model that
read the camera height off the image would score alike in every band; one that leans on a
prior of the rooms it saw is biased where ceilings are lower or higher than its training
rooms' (2.4–3.2 m) middle. Baseline in the same run: the room prior (a floor 1.5 m below the
camera), whose error is known in closed form per band.

    python -m benchmarks.scale_cues [--model models/default] [--scenes 12]

Writes ``benchmarks/results/scale_cues.json``.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from benchmarks.common import figure, write_result

CEILINGS_M = ((2.35, 2.5), (2.7, 2.8), (3.0, 3.2))
CAMERAS_M = ((1.4, 1.45), (1.6, 1.65))
PRIOR_M = 1.5  # the room prior's camera height (workbench.model.baselines)


def band_bias(predictor, ceiling, camera, scenes: int, seed: int = 70_000) -> dict:
    """Median signed camera-height error (predicted / true - 1) over the views of ``scenes``
    ``rooms`` scenes of 2 views whose ceiling and camera heights are drawn from the bands."""
    from workbench.data import synth
    from workbench.geometry.camera_height import fit_floor

    preset = dataclasses.replace(
        synth.PRESETS["rooms"], room_height_m=ceiling, camera_height_m=camera
    )
    ratios, truths = [], []
    for s in range(scenes):
        spec = synth.make_scene(seed + s, 2, preset)
        caster = synth.build_raycaster(spec)
        for T in spec.poses:
            h = predictor.height
            rgb, rng_m = synth.render_view(spec, caster, T, h, np.random.default_rng(s), preset)
            pred = predictor.predict_batch((rgb.astype(np.float32) / 255.0)[None])[0]
            true, seen = fit_floor(rng_m, T[:3, :3]), fit_floor(pred, T[:3, :3])
            if true.ok and seen.ok:
                ratios.append(seen.height_m / true.height_m - 1.0)
                truths.append(true.height_m)
    prior = float(np.median([PRIOR_M / t - 1.0 for t in truths])) if truths else float("nan")
    return {
        "ceiling_m": list(ceiling),
        "camera_m": list(camera),
        "views": len(ratios),
        "model_signed": round(float(np.median(ratios)), 4) if ratios else None,
        "room_prior_signed": round(prior, 4),
    }


def main(model: str | None = None, scenes: int = 12) -> dict:
    from workbench.model.predictor import load

    predictor = load(model or None, flip=True)  # as infer / eval by default
    rows = [band_bias(predictor, c, k, scenes) for c in CEILINGS_M for k in CAMERAS_M]

    def mean(key, ceiling):
        vals = [r[key] for r in rows if r["ceiling_m"] == list(ceiling) and r[key] is not None]
        return float(np.mean(vals))

    low, high = mean("model_signed", CEILINGS_M[0]), mean("model_signed", CEILINGS_M[-1])
    figures = [
        figure("camera height error, ceilings 2.35-2.5 m (signed)", 100 * low, "%", None),
        figure("camera height error, ceilings 3.0-3.2 m (signed)", 100 * high, "%", None),
        figure("low over high ceilings: the lean on ceiling height", 100 * (low - high), "points",
               None),
    ]  # fmt: skip
    details = {"scenes_per_band": scenes, "bands": rows, "source": str(predictor.backend.source)}
    return write_result("scale_cues", figures, details)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="")
    ap.add_argument("--scenes", type=int, default=12)
    a = ap.parse_args()
    main(a.model, a.scenes)
