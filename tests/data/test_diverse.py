"""The ``diverse`` synth presets: determinism, depth equal to the mesh, every family drawn,
held-out families never in a training preset, near objects where they are said to be,
cameras inside the room and under its (sloped) ceiling."""

import filecmp

import numpy as np
import pytest
from scipy.spatial import ConvexHull

from tests.helpers import assert_depth_equals_mesh
from workbench.data.diverse import (
    CEILINGS,
    COMPACT,
    HELD_OUT,
    HELD_OUT_VALUES,
    PALETTES,
    PLACEMENTS,
    SHAPES,
    TRAINING,
)
from workbench.data.synth import PRESETS, generate, make_scene
from workbench.geometry.mesh import render_range


def _specs(n, preset="diverse", seed=0, views=3):
    p = PRESETS[preset]
    return [make_scene(c.spawn(2)[0], views, p) for c in np.random.SeedSequence(seed).spawn(n)]


def test_byte_identical_and_worker_independent(tmp_path):
    for name, workers in (("a", 1), ("b", 2)):
        generate(tmp_path / name, 3, 2, seed=4, height=32, preset="diverse", progress=False,
                 workers=workers)  # fmt: skip
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.left_only and not cmp.right_only and len(cmp.common_dirs) == 3
    for f in (tmp_path / "a").rglob("*"):
        if f.is_file():
            assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()


@pytest.mark.parametrize("preset", ["diverse", "diverse-heldout", "compact"])
def test_depth_equals_the_written_mesh(tmp_path, preset):
    """Each view's depth PNG (mm) is the range of its own obj/ mesh ray cast from its pose."""
    from workbench.cli import main

    args = ["synth", "--out", str(tmp_path), "--scenes", "2", "--views", "2", "--seed", "8",
            "--size", "128x64", "--preset", preset, "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    assert_depth_equals_mesh(tmp_path, 64)


def test_held_out_families_never_appear_in_a_training_preset():
    for name, preset in PRESETS.items():
        if preset.families is None or name == "diverse-heldout":
            continue
        for field, held in HELD_OUT_VALUES.items():
            assert not set(getattr(preset.families, field)) & set(held), (name, field)
    drawn = {"shape": set(), "palette": set(), "placements": set()}
    for spec in _specs(40, seed=1):
        drawn["shape"].add(spec.params["shape"])
        drawn["palette"].add(spec.params["palette"])
        drawn["placements"] |= set(spec.params["placements"])
    assert not drawn["shape"] & set(HELD_OUT_VALUES["shapes"])
    assert not drawn["palette"] & set(HELD_OUT_VALUES["palettes"])
    assert not drawn["placements"] & set(HELD_OUT_VALUES["placements"])
    for spec in _specs(6, "diverse-heldout", seed=2):
        assert spec.params["shape"] in HELD_OUT.shapes
        assert spec.params["palette"] in HELD_OUT.palettes
        assert set(spec.params["placements"]) <= {"corner", "centre"}  # centre: the fallback


def test_every_family_value_is_drawn_over_a_few_seeds():
    seen = {"shape": set(), "ceiling": set(), "palette": set(), "placements": set()}
    names = set()
    for preset, n in (("diverse", 40), ("diverse-heldout", 12), ("compact", 3)):
        for spec in _specs(n, preset, seed=3):
            for key in ("shape", "ceiling", "palette"):
                seen[key].add(spec.params[key])
            seen["placements"] |= set(spec.params["placements"])
            names |= {n.split("_")[0] for n, _, _ in spec.meshes}
    assert seen["shape"] == set(SHAPES) and seen["ceiling"] == set(CEILINGS)
    assert seen["palette"] == set(PALETTES) and seen["placements"] == set(PLACEMENTS)
    assert {"near", "stairs", "clutter", "sunpatch", "atticslope"} <= names
    assert set(TRAINING.shapes) | set(HELD_OUT.shapes) | set(COMPACT.shapes) == set(SHAPES)


def _footprint_distance(xz, verts) -> float:
    """Distance (m) from the point ``xz`` to the convex footprint of ``verts (N, 3)``."""
    pts = verts[:, [0, 2]].astype(np.float64)
    hull = pts[ConvexHull(pts).vertices]
    best = np.inf
    for a, b in zip(hull, np.roll(hull, -1, 0), strict=True):
        t = np.clip(np.dot(xz - a, b - a) / np.dot(b - a, b - a), 0, 1)
        best = min(best, float(np.linalg.norm(xz - (a + t * (b - a)))))
    return best


def test_near_objects_stand_0p1_to_0p5_m_from_their_camera_and_contain_none():
    checked = 0
    for spec in _specs(25, seed=4):
        near = {n: v for n, v, _ in spec.meshes if n.startswith("near_")}
        centres = np.array([T[:3, 3] for T in spec.poses])
        for name, v in near.items():
            k = int(name.split("_")[1])
            assert spec.params["placements"][k] == "near"
            d = _footprint_distance(centres[k, [0, 2]], v)
            assert 0.1 - 1e-4 <= d <= 0.5 + 1e-4, (name, d)  # hand-checked: the gap drawn
            for c in centres:
                assert _footprint_distance(c[[0, 2]], v) > 0.05  # no camera inside
            checked += 1
    assert checked >= 10


def test_cameras_inside_the_room_and_under_its_ceiling():
    """Every camera sees the floor straight below it at its height (not the back of an attic
    slope or a piece of furniture) and stands at the rig's height range."""
    lo, hi = PRESETS["diverse"].camera_height_m
    attic = 0
    specs = _specs(20, seed=5, views=2) + _specs(6, "diverse-heldout", seed=5, views=2)
    for spec in specs + _specs(6, "compact", seed=5, views=2):
        v, t = _scene_mesh(spec)
        attic += spec.params["ceiling"] == "attic"
        for T in spec.poses:
            h = -T[1, 3]
            assert 0.5 <= h <= hi + 1e-6
            nadir = render_range(v, t, T, 32)[-1]  # the row 2.8 degrees from straight down
            assert np.median(nadir) >= h - 0.03, (spec.params, h, np.median(nadir))
    assert attic >= 1
    assert lo > 0.5


def _scene_mesh(spec):
    verts, tris, n = [], [], 0
    for _, v, t in spec.meshes:
        verts.append(v)
        tris.append(t.astype(np.int64) + n)
        n += len(v)
    return np.concatenate(verts), np.concatenate(tris)


def test_compact_rooms_have_their_walls_within_reach():
    """``compact`` draws only ``small`` box rooms (sides 1.0-2.4 m): along the horizon most of
    what a camera sees is within the room's diagonal (3.4 m; open doors and windows see
    further); ``diverse`` keeps its own families (its files are unchanged by the new shape)."""
    specs = _specs(8, "compact", seed=6, views=2)
    for spec in specs:
        assert spec.params["shape"] == "small" and spec.params["ceiling"] == "flat"
        v, t = _scene_mesh(spec)
        for T in spec.poses:
            horizon = render_range(v, t, T, 32)[16]
            assert np.median(horizon) <= 2.4 * np.sqrt(2) + 0.05, spec.params
    assert PRESETS["diverse"].families == TRAINING  # diverse itself renders as before


def test_scene_ids_are_known_before_rendering():
    """``scene_id_of`` gives the id ``make_scene`` draws, without spawning from the seed (so
    the scenes rendered after it are unchanged)."""
    from workbench.data.synth import scene_id_of

    for child in np.random.SeedSequence(11).spawn(3):
        sid = scene_id_of(child)
        assert sid == make_scene(child.spawn(2)[0], 1, PRESETS["compact"]).scene_id
    a = np.random.SeedSequence(11).spawn(1)[0]
    scene_id_of(a)
    assert a.spawn(2)[0].generate_state(4).tolist() == (
        np.random.SeedSequence(11).spawn(1)[0].spawn(2)[0].generate_state(4).tolist()
    )


def test_another_preset_never_writes_over_a_scene_of_the_same_seed(tmp_path):
    """Scene ids depend on the seed alone: a second preset with the same seed and --out is
    refused before any work, naming the scene and --seed; the earlier files stay as they were."""
    from workbench.errors import WorkbenchError

    generate(tmp_path, 2, 1, seed=3, height=32, preset="compact", progress=False, workers=1)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(WorkbenchError, match=r"--preset compact scene .* --seed 3 would write"):
        generate(tmp_path, 2, 1, seed=3, height=32, preset="diverse", progress=False, workers=1)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    generate(tmp_path, 3, 1, seed=3, height=32, preset="compact", progress=False, workers=1)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 3  # same preset: resumed
