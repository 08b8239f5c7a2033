"""The compiled correspondence (native AVX2 kernel and numba kernel) equals the numpy
reference."""

import math
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.data.dataset import index_dataset
from workbench.data.layouts import load_view
from workbench.geometry.correspondence import (
    Correspondence,
    correspond,
    covisibility_matrix,
    overlap,
)
from workbench.geometry.correspondence_fast import (
    correspond_fast,
    covisibility_matrix_fast,
    fast_atan2,
    overlap_fast,
    prepare_target,
)
from workbench.geometry.equirect import lonlat_to_pixel, rays_to_lonlat, resize_range, unit_rays
from workbench.geometry.native import build_library, correspond_library
from workbench.geometry.pose import relative_pose

SAMPLES = Path(__file__).resolve().parents[2] / "data_samples" / "seed"


def _has_avx2() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


@pytest.fixture(params=["native", "numba"])
def kernel(request, monkeypatch):
    """Each test below runs on the native kernel (skipped where it cannot be built) and on the
    numba kernel."""
    if request.param == "numba":
        monkeypatch.setenv("WORKBENCH_NATIVE", "0")
        assert correspond_library() is None
    elif correspond_library() is None:
        pytest.skip("no native kernel on this machine")
    return request.param


def test_the_native_kernel_is_built_and_used_where_it_can_run():
    if platform.machine() != "x86_64" or shutil.which("cc") is None or not _has_avx2():
        pytest.skip("needs x86_64 with AVX2 and a C compiler")
    if os.environ.get("WORKBENCH_NATIVE", "1") == "0":  # the suite run on numba alone
        assert correspond_library() is None
        return
    assert correspond_library() is not None


def test_build_library_is_cached_atomically_and_none_without_a_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_NATIVE_CACHE", str(tmp_path))
    assert build_library("no-such-compiler-here") is None
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    lib = build_library()
    assert lib is not None and lib.parent == tmp_path and lib.suffix == ".so"
    assert [p.name for p in tmp_path.iterdir()] == [lib.name]  # no temporary left behind
    stamp = os.stat(lib).st_mtime_ns
    assert build_library() == lib and os.stat(lib).st_mtime_ns == stamp  # cached, not rebuilt


def test_fast_atan2_matches_math_everywhere():
    rng = np.random.default_rng(0)
    pts = np.concatenate(
        [
            rng.normal(size=(5000, 2)),
            rng.normal(size=(50, 2)) * 1e-9,
            [[0.0, -1.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 0.0]],
        ]
    )
    err = max(abs(fast_atan2(y, x) - math.atan2(y, x)) for y, x in pts)
    assert err < 1e-8


def _position_errors(got, ref, height):
    """Largest differences of B's column (as an arc on the sphere: ``du cos(lat)``, in pixels of
    the equator; the column itself is ill-conditioned near B's poles) and row, in pixels."""
    w = 2 * height
    lat_b = ((ref.uv[..., 1] + 0.5) / height - 0.5) * np.pi
    du = np.abs((got.uv[..., 0] - ref.uv[..., 0] + w / 2) % w - w / 2) * np.cos(lat_b)
    dv = np.abs(got.uv[..., 1] - ref.uv[..., 1])
    return float(du[ref.valid].max()), float(dv[ref.valid].max())


def _assert_masks_agree(got, ref):
    """The four masks equal, but for threshold ties: at most 2 pixels in 100k differ (the
    decisions compare float32 values each implementation rounds its own way)."""
    for name in ("valid", "landed", "visible", "consistent"):
        differ = int((getattr(got, name) != getattr(ref, name)).sum())
        assert differ <= int(2e-5 * ref.valid.size), (name, differ)


@pytest.mark.parametrize("height", [37, 64, 256, 301])
def test_fast_correspondence_equals_the_numpy_reference(height, kernel):
    # 37 and 301 rows: 74 and 602 columns, rows that end in a partial step of 8 pixels (and,
    # at 602, a partial chunk of 256)
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:3]]
    ranges = [resize_range(v.range_m, height) for v in views]
    poses = [v.T_world_from_cam for v in views]
    for a, b in ((0, 1), (1, 2), (2, 0)):
        ref = correspond(ranges[a], poses[a], poses[b], ranges[b])
        got = correspond_fast(ranges[a], poses[a], poses[b], ranges[b])
        _assert_masks_agree(got, ref)
        du, dv = _position_errors(got, ref, height)
        assert du < 1e-4 and dv < 1e-4, (du, dv)
        np.testing.assert_allclose(got.range_in_b[ref.valid], ref.range_in_b[ref.valid], rtol=1e-5)


def test_fast_covisibility_equals_the_reference_and_handles_sparse_depth(kernel):
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:4]]
    ranges = [resize_range(v.range_m, 64) for v in views]
    poses = [v.T_world_from_cam for v in views]
    sparse = [np.where(np.arange(64)[:, None] % 3 == 0, r, 0).astype(np.float32) for r in ranges]
    for rs in (ranges, sparse):
        # the same decisions as the reference but for threshold ties, where the compiled code's
        # rounding (FMA contraction or not: NUMBA_CPU_NAME=generic flips one pixel of the
        # sparse views) may differ: within two pixels of the smallest view's valid ones
        tol = 2.0 / min(int((r > 0).sum()) for r in rs)
        np.testing.assert_allclose(
            covisibility_matrix_fast(rs, poses), covisibility_matrix(rs, poses), atol=tol
        )


def test_fast_correspondence_handles_nan_inf_and_holes_like_the_reference(kernel):
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:2]]
    ra, rb = (resize_range(v.range_m, 64).copy() for v in views)
    ra[5:9, 10:30], ra[20, :] = np.nan, np.inf  # non-finite depth in A
    ra[30:33, 40:60] = -1.0
    rb[40:50, 0:20], rb[10, 100:128] = np.nan, np.inf  # and B's holes, across the seam
    rb[:, 127] = 0.0
    pa, pb = views[0].T_world_from_cam, views[1].T_world_from_cam
    ref = correspond(ra, pa, pb, rb)
    got = correspond_fast(ra, pa, pb, rb)
    assert not ref.valid.all() and ref.valid.any()
    for name in ("valid", "landed", "visible", "consistent"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
    assert np.isnan(got.uv[~ref.valid]).all() and np.isnan(got.range_in_b[~ref.valid]).all()
    assert np.isfinite(got.uv[ref.valid]).all()


def test_overlap_fast_equals_overlap_of_the_masks_and_a_target_is_reusable(kernel):
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:3]]
    ranges = [resize_range(v.range_m, 64) for v in views]
    poses = [v.T_world_from_cam for v in views]
    target = prepare_target(ranges[2])
    for a in (0, 1):
        want = overlap(correspond(ranges[a], poses[a], poses[2], ranges[2]))
        assert overlap_fast(ranges[a], poses[a], poses[2], target) == pytest.approx(want, abs=1e-12)
        got = correspond_fast(ranges[a], poses[a], poses[2], target)
        assert overlap(got) == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="range_b must be"):
        correspond_fast(resize_range(views[0].range_m, 32), poses[0], poses[2], target)


def test_positions_are_as_accurate_as_the_reference_at_1024_columns(kernel):
    """At the benchmark's size, against the float64 projection: the kernel's positions are
    within 1.1e-4 px (on the sphere) and no worse than the float32 numpy reference's own
    (1.3e-4 px here); the two agree within 1.5e-4 px."""
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:3]]
    ra, rb = (resize_range(v.range_m, 512) for v in (views[2], views[0]))
    pa, pb = views[2].T_world_from_cam, views[0].T_world_from_cam
    ref, got = correspond(ra, pa, pb, rb), correspond_fast(ra, pa, pb, rb)
    T = relative_pose(pa, pb)
    q = ra.astype(np.float64)[..., None] * unit_rays(512, 1024) @ T[:3, :3].T + T[:3, 3]
    u, v = lonlat_to_pixel(*rays_to_lonlat(q), 512, 1024)
    truth = Correspondence(np.stack([u, v], -1), ref.range_in_b, ref.valid, ref.valid, ref.valid)
    got_err, ref_err = _position_errors(got, truth, 512), _position_errors(ref, truth, 512)
    assert max(got_err) < 1.1e-4 and got_err[0] <= ref_err[0] + 1e-5, (got_err, ref_err)
    assert max(_position_errors(got, ref, 512)) < 1.5e-4
    _assert_masks_agree(got, ref)


def test_one_thread_and_all_threads_agree(kernel):
    views = [load_view(r, SAMPLES) for r in index_dataset(SAMPLES)[:2]]
    ra, rb = (resize_range(v.range_m, 128) for v in views)
    pa, pb = views[0].T_world_from_cam, views[1].T_world_from_cam
    target = prepare_target(rb)
    one = overlap_fast(ra, pa, pb, target, one_thread=True)
    # the same per-pixel decisions, summed in another order (per-thread rows, vector width):
    # equal to the last bits only on some CPUs (0.7509254769126471 vs 0.750925476912647 was
    # measured on an AVX-512 Xeon), so equal within float64 rounding of a sum of ~16k terms
    assert overlap_fast(ra, pa, pb, target) == pytest.approx(one, rel=1e-12, abs=1e-15)
    assert overlap(correspond_fast(ra, pa, pb, target)) == pytest.approx(one, rel=1e-12, abs=1e-15)
