import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from workbench.errors import WorkbenchError
from workbench.geometry import pose as P

angles = st.floats(-3.0, 3.0, allow_nan=False)


def random_pose(seed):
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    T[:3, 3] = rng.normal(size=3)
    return T


class TestPose:
    @given(seed=st.integers(0, 10_000))
    def test_inverse_compose_identity(self, seed):
        T = random_pose(seed)
        assert np.allclose(P.compose(T, P.invert(T)), np.eye(4), atol=1e-12)
        assert np.allclose(P.invert(P.invert(T)), T, atol=1e-12)

    @given(a=st.integers(0, 1000), b=st.integers(0, 1000))
    def test_relative_pose(self, a, b):
        Ta, Tb = random_pose(a), random_pose(b)
        T_ba = P.relative_pose(Ta, Tb)
        p_a = np.array([0.3, -0.2, 1.5])
        # the same world point via A and via B
        assert np.allclose(
            P.transform_points(Tb, P.transform_points(T_ba, p_a)), P.transform_points(Ta, p_a)
        )

    @given(yaw=angles, pitch=st.floats(-1.4, 1.4), roll=angles)
    def test_yaw_pitch_roll_round_trip(self, yaw, pitch, roll):
        T = P.pose_from_yaw_pitch_roll(yaw, pitch, roll, (1, 2, 3))
        assert np.allclose(P.yaw_pitch_roll(T), [yaw, pitch, roll], atol=1e-9)
        f = T[:3, 2]
        assert math.isclose(math.atan2(f[0], f[2]), yaw, abs_tol=1e-9)

    def test_pitch_up_is_positive(self):
        T = P.pose_from_yaw_pitch_roll(0.0, 0.2)
        assert T[1, 2] < 0  # forward axis has a -y (up) component

    def test_batch(self):
        Ts = np.stack([random_pose(i) for i in range(5)])
        ypr = P.yaw_pitch_roll(Ts)
        assert ypr.shape == (5, 3)
        assert np.allclose(ypr[2], P.yaw_pitch_roll(Ts[2]))
        assert P.camera_centre(Ts).shape == (5, 3)

    def test_read_write_round_trip(self, tmp_path):
        T = random_pose(3)
        P.write_pose(tmp_path / "p.txt", T)
        assert np.array_equal(P.read_pose(tmp_path / "p.txt"), T)

    def test_reads_3x4(self, tmp_path):
        (tmp_path / "p.txt").write_text("1 0 0 1\n0 1 0 2\n0 0 1 3\n")
        assert P.camera_centre(P.read_pose(tmp_path / "p.txt")).tolist() == [1, 2, 3]

    @pytest.mark.parametrize(
        "text, match",
        [
            ("1 0 0\n0 1 0\n0 0 1\n", "4 rows of 4 numbers"),
            ("a b c d\n" * 4, "not numeric"),
            ("2 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "not orthonormal"),
            ("-1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "det"),
            ("1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 1 1\n", "last row"),
            ("1 0 0 nan\n0 1 0 0\n0 0 1 0\n0 0 0 1\n", "non-finite"),
        ],
    )
    def test_bad_pose_files(self, tmp_path, text, match):
        f = tmp_path / "bad.txt"
        f.write_text(text)
        with pytest.raises(WorkbenchError, match=match) as e:
            P.read_pose(f)
        assert str(f) in str(e.value)

    def test_missing_file(self, tmp_path):
        with pytest.raises(WorkbenchError, match="not found"):
            P.read_pose(tmp_path / "nope.txt")

    def test_write_rejects_non_rigid(self, tmp_path):
        with pytest.raises(ValueError, match="not orthonormal"):
            P.write_pose(tmp_path / "p.txt", np.diag([1, 2, 1, 1.0]))
        assert not (tmp_path / "p.txt").exists()
