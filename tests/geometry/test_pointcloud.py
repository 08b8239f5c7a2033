import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.geometry.analytic import box_room
from workbench.geometry.pointcloud import (
    PointCloud,
    fuse,
    read_ply,
    rgbd_to_pointcloud,
    voxel_downsample,
    write_ply,
)
from workbench.geometry.pose import pose_from_yaw_pitch_roll


def _rgb(h, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, 2 * h, 3), dtype=np.uint8)


class TestRgbdToPointcloud:
    def test_shapes_and_invalid_dropped(self):
        r, _ = box_room(16)
        r[0, :5] = 0
        pc = rgbd_to_pointcloud(_rgb(16), r)
        assert len(pc) == 16 * 32 - 5
        assert pc.points.dtype == np.float32 and pc.colors.dtype == np.uint8

    def test_world_frame_views_agree(self):
        # the same box seen from two camera poses lands in the same world box
        lo, hi = np.array([-2.0, -1.5, -3.0]), np.array([2.5, 1.2, 3.5])
        clouds = []
        for yaw, c in [(0.0, (0, 0, 0)), (1.1, (0.5, 0.2, -0.4))]:
            T = pose_from_yaw_pitch_roll(yaw, 0.0, 0.0, c)
            r, _ = box_room(32, lo, hi, centre=c, R_world_from_cam=T[:3, :3])
            clouds.append(rgbd_to_pointcloud(None, r, T))
        pts = fuse(clouds).points
        on_face = np.min(np.minimum(np.abs(pts - lo), np.abs(pts - hi)), axis=1)
        assert on_face.max() < 1e-4

    def test_stride(self):
        r, _ = box_room(16)
        assert len(rgbd_to_pointcloud(None, r, stride=2)) == 8 * 16

    def test_bad_rgb_shape(self):
        r, _ = box_room(8)
        with pytest.raises(ValueError, match=r"rgb must be \(8, 16, 3\)"):
            rgbd_to_pointcloud(np.zeros((8, 16), np.uint8), r)

    def test_non_rigid_pose(self):
        r, _ = box_room(8)
        with pytest.raises(ValueError, match="T_world_from_cam rotation is not orthonormal"):
            rgbd_to_pointcloud(None, r, np.diag([2.0, 1, 1, 1]))


class TestPly:
    def test_round_trip(self, tmp_path):
        r, n = box_room(16)
        pc = rgbd_to_pointcloud(_rgb(16), r, normals=n)
        write_ply(tmp_path / "a.ply", pc)
        back = read_ply(tmp_path / "a.ply")
        assert np.array_equal(back.points, pc.points)
        assert np.array_equal(back.colors, pc.colors)
        assert np.allclose(back.normals, pc.normals)
        assert [p.name for p in tmp_path.iterdir()] == ["a.ply"]  # no temp file left

    def test_bad_suffix_and_missing(self, tmp_path):
        pc = PointCloud(np.zeros((1, 3), np.float32))
        with pytest.raises(WorkbenchError, match=r"must end in \.ply"):
            write_ply(tmp_path / "a.xyz", pc)
        with pytest.raises(WorkbenchError, match="not found"):
            read_ply(tmp_path / "none.ply")

    def test_garbage_file(self, tmp_path):
        f = tmp_path / "g.ply"
        f.write_bytes(b"garbage" * 10)
        with pytest.raises(WorkbenchError, match="not a PLY file"):
            read_ply(f)


class TestVoxel:
    def test_reduces_and_averages(self):
        pts = np.array([[0.01, 0.01, 0.01], [0.02, 0.02, 0.02], [1.0, 1.0, 1.0]], np.float32)
        cols = np.array([[0, 0, 0], [200, 200, 200], [10, 20, 30]], np.uint8)
        out = voxel_downsample(PointCloud(pts, cols), 0.1)
        assert len(out) == 2
        order = np.argsort(out.points[:, 0])
        assert out.colors[order[0]].tolist() == [100, 100, 100]

    def test_bad_voxel(self):
        with pytest.raises(ValueError, match="voxel_m must be > 0"):
            voxel_downsample(PointCloud(np.zeros((1, 3), np.float32)), 0)

    def test_pointcloud_validates(self):
        with pytest.raises(ValueError, match="colors must be"):
            PointCloud(np.zeros((3, 3), np.float32), np.zeros((2, 3), np.uint8))
