"""The ``rooms`` synth preset: determinism, depth equal to the mesh, every object class, cameras
where a capture rig stands."""

import filecmp
from collections import Counter

import numpy as np
import pytest

from tests.helpers import assert_depth_equals_mesh
from workbench.data.rooms import OBJECT_CLASSES, PATTERNS, object_class
from workbench.data.synth import PRESETS, generate, make_scene

ROOMS = PRESETS["rooms"]


def _specs(n, seed=0):
    return [make_scene(c.spawn(2)[0], 3, ROOMS) for c in np.random.SeedSequence(seed).spawn(n)]


def test_byte_identical_and_worker_independent(tmp_path):
    for name, workers in (("a", 1), ("b", 2)):
        generate(tmp_path / name, 2, 2, seed=4, height=32, preset="rooms", progress=False,
                 workers=workers)  # fmt: skip
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.left_only and not cmp.right_only
    for sub in cmp.common_dirs:
        for f in (tmp_path / "a" / sub).rglob("*"):
            if f.is_file():
                g = tmp_path / "b" / f.relative_to(tmp_path / "a")
                assert f.read_bytes() == g.read_bytes(), f


def test_depth_equals_the_written_mesh(tmp_path):
    """Each view's depth PNG (mm) is the range of its own obj/ mesh ray cast from its pose."""
    generate(tmp_path, 2, 2, seed=8, height=64, preset="rooms", progress=False, workers=1)
    assert_depth_equals_mesh(tmp_path, 64)


def test_every_object_class_appears_over_a_few_seeds():
    seen = Counter()
    for spec in _specs(30):
        seen.update({object_class(name) for name, _, _ in spec.meshes} - {None})
    missing = set(OBJECT_CLASSES.values()) - set(seen)
    assert not missing, f"never placed in 30 scenes: {sorted(missing)}"


def test_room_patterns_and_emitters_are_used():
    pats, emitters = set(), 0
    for spec in _specs(10, seed=1):
        pats |= {PATTERNS[int(p)] for p in spec.materials["pattern"]}
        emitters += int((spec.materials["emit"] > 0).sum())
    assert {"wood", "plaster", "painting", "sky", "screen"} <= pats
    assert emitters >= 10  # sky, lamps, far facades
    assert PATTERNS[:6] == ("plain", "checker", "stripes", "noise", "marble", "view")


def test_cameras_at_rig_height_inside_and_clear_of_furniture():
    lo, hi = ROOMS.camera_height_m
    for spec in _specs(20, seed=2):
        floor = {n: v for n, v, _ in spec.meshes}["floor"]
        x0, z0 = floor[:, [0, 2]].min(0)
        x1, z1 = floor[:, [0, 2]].max(0)
        for T in spec.poses:
            c = T[:3, 3]
            assert lo - 1e-6 <= -c[1] <= hi + 1e-6
            assert x0 < c[0] < x1 and z0 < c[2] < z1
            for name, v, _ in spec.meshes:
                cls = object_class(name)
                if cls not in ("sofa", "bed", "shelf", "cabinet", "plant", "dining table"):
                    continue
                lo_b, hi_b = v.min(0), v.max(0)
                inside = (lo_b[[0, 2]] < c[[0, 2]]).all() and (c[[0, 2]] < hi_b[[0, 2]]).all()
                assert not (inside and lo_b[1] <= c[1] <= hi_b[1]), f"camera inside {name}"


def test_rendered_views_look_like_rooms():
    """Not saturated toys: low-saturation walls, mid-grey brightness, bright windows."""
    from workbench.data.synth import build_raycaster, render_view

    spec = _specs(1, seed=3)[0]
    rgb, rng_m = render_view(spec, build_raycaster(spec), spec.poses[0], 64,
                             np.random.default_rng(0), ROOMS)  # fmt: skip
    assert rgb.shape == (64, 128, 3) and rng_m.shape == (64, 128)
    f = rgb.astype(np.float32) / 255
    sat = (f.max(-1) - f.min(-1)) / np.maximum(f.max(-1), 1e-3)
    assert np.median(sat) < 0.35
    assert 0.25 < np.median(f) < 0.85


@pytest.mark.parametrize("bad", ["wood", "nope"])
def test_unknown_preset_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="preset"):
        generate(tmp_path, 1, 1, preset=bad, progress=False)
