"""Guided and bilinear upsampling of equirect depth (analytic step edges, seam, shapes)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.geometry.upsample import guided_upsample, upsample_bilinear


def _step(h: int, col: int) -> tuple[np.ndarray, np.ndarray]:
    """A 1 m / 3 m depth step at column ``col`` of an ``(h, 2h)`` panorama, and its RGB (dark
    near, bright far) with the edge on the same column."""
    depth = np.where(np.arange(2 * h) < col, 1.0, 3.0)[None].repeat(h, 0).astype(np.float32)
    rgb = np.where(depth[..., None] < 2, 0.2, 0.8).repeat(3, -1).astype(np.float32)
    return depth, rgb


def _box3(a: np.ndarray) -> np.ndarray:
    """3x3 mean, columns wrapping, rows mirrored (cv2's BORDER_REFLECT)."""
    padded = np.pad(a, ((1, 1), (0, 0)), mode="symmetric")
    h = a.shape[0]
    rows = [padded[1 + dv : h + 1 + dv] for dv in (-1, 0, 1)]
    return sum(np.roll(r, s, axis=1) for r in rows for s in (-1, 0, 1)) / 9


class TestGuidedUpsample:
    def test_smoke(self):
        assert guided_upsample(np.ones((8, 16), np.float32), np.zeros((32, 64, 3))).shape == (
            32,
            64,
        )

    @pytest.mark.parametrize(("h", "big"), [(8, 8), (8, 32), (16, 64), (32, 256)])
    def test_shapes(self, h, big):
        rgb = np.random.default_rng(h).integers(0, 255, (big, 2 * big, 3), dtype=np.uint8)
        out = guided_upsample(np.full((h, 2 * h), 2.0, np.float32), rgb)
        assert out.shape == (big, 2 * big) and out.dtype == np.float32
        np.testing.assert_allclose(out, 2.0, rtol=1e-5)  # a constant map stays constant

    def test_edge_sharper_than_bilinear(self):
        big = 128
        gt, rgb = _step(big, 101)  # an edge not on the low-res grid
        low = gt.reshape(16, 8, 32, 8).mean(axis=(1, 3))  # the 8x-coarser "prediction"
        near = slice(93, 109)  # 8 px either side of the edge
        err = {
            k: np.abs(p[:, near] - gt[:, near]).mean()
            for k, p in (("bil", upsample_bilinear(low, big)), ("gui", guided_upsample(low, rgb)))
        }
        assert err["gui"] < 0.5 * err["bil"]
        assert err["gui"] < 0.1  # metres, mean over the band (bilinear: ~0.35)

    def test_constant_guide_is_smooth_upsampling(self):
        rng = np.random.default_rng(0)
        low = np.exp(rng.uniform(0, 1, (8, 16))).astype(np.float32)
        flat = np.full((32, 64, 3), 0.5, np.float32)
        out = guided_upsample(low, flat, radius=1)
        # a == 0 everywhere: exp of the twice box-smoothed log, upsampled (wrapping columns)
        lg = np.log(low)
        expected = np.exp(upsample_bilinear(_box3(_box3(lg)), 32))
        np.testing.assert_allclose(out, expected, rtol=1e-4)

    def test_seam_continuity(self):
        big = 64
        rng = np.random.default_rng(1)
        low = np.exp(rng.uniform(0, 1, (8, 16))).astype(np.float32)
        rgb = rng.uniform(0, 1, (big, 2 * big, 3)).astype(np.float32)
        out = guided_upsample(low, rgb)
        # rolling input and guide by a whole low-res column rolls the output (no seam artefact)
        rolled = guided_upsample(np.roll(low, 3, axis=1), np.roll(rgb, 3 * 8, axis=1))
        np.testing.assert_allclose(rolled, np.roll(out, 3 * 8, axis=1), rtol=1e-4)

    def test_invalid(self):
        with pytest.raises(ValueError, match="range_low must be"):
            guided_upsample(np.ones((8, 20)), np.zeros((16, 32, 3)))
        with pytest.raises(ValueError, match="guide must be"):
            guided_upsample(np.ones((8, 16)), np.zeros((16, 32)))
        with pytest.raises(ValueError, match="positive"):
            guided_upsample(np.zeros((8, 16)), np.zeros((16, 32, 3)))


class TestUpsampleBilinear:
    def test_seam_wraps(self):
        a = np.zeros((2, 4), np.float32)
        a[:, 0] = 4.0  # the first column: its left neighbour across the seam is the last
        out = upsample_bilinear(a, 4)
        assert out[0, 0] == pytest.approx(out[0, 1]) == pytest.approx(3.0)  # 0.25*0 + 0.75*4
        assert out[0, -1] == pytest.approx(1.0)  # wraps onto column 0, not clamped at 0


def test_guided_never_leaves_the_range_the_prediction_spans_nearby():
    """A bright pixel the low-resolution guide never saw (a window highlight beside a dark
    frame) made the linear model extrapolate: 86 m on a real ZInD panorama whose prediction
    peaks at 24.5 m. Clamped, every pixel lies within its neighbourhood's range."""
    rng = np.random.default_rng(3)
    low = np.exp(rng.uniform(0.0, 1.0, (8, 16))).astype(np.float32)
    big = 64
    smooth = np.repeat(np.repeat(np.log(low), 8, 0), 8, 1)
    rgb = np.clip(0.2 + 0.1 * (smooth - smooth.mean())[..., None], 0, 1).repeat(3, -1)
    rgb[10:12, 40:42] = 1.0  # highlights the box means hardly see
    rgb[50, 7] = 0.0
    out = guided_upsample(low, rgb.astype(np.float32))
    assert np.isfinite(out).all() and out.max() <= low.max() * (1 + 1e-5)
    assert out.min() >= low.min() * (1 - 1e-5)
    assert out[10:12, 40:42].max() < 1.5 * upsample_bilinear(low, big)[10:12, 40:42].max()
