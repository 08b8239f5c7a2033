import os

import numpy as np
import pytest

from workbench.errors import WorkbenchError
from workbench.io import atomic_path, read_image, read_rgb, write_image, write_text_atomic


def test_atomic_keeps_old_file_on_error(tmp_path):
    f = tmp_path / "a.txt"
    write_text_atomic(f, "old")
    with pytest.raises(RuntimeError), atomic_path(f) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert f.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_image_round_trip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (8, 16, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", img)
    assert np.array_equal(read_rgb(tmp_path / "a.png"), img)
    d = np.random.default_rng(0).integers(0, 65535, (8, 16), dtype=np.uint16)
    write_image(tmp_path / "d.png", d)
    assert np.array_equal(read_image(tmp_path / "d.png"), d)


def test_bad_images(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(WorkbenchError, match="empty file"):
        read_rgb(tmp_path / "empty.jpg")
    img = np.zeros((32, 64, 3), np.uint8)
    write_image(tmp_path / "t.jpg", img)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(WorkbenchError, match="truncated|unreadable") as e:
        read_rgb(tmp_path / "t.jpg")
    assert "t.jpg" in str(e.value)
    with pytest.raises(WorkbenchError, match="not found"):
        read_rgb(tmp_path / "missing.png")


def test_a_truncated_png_is_refused_before_libpng_prints(tmp_path, capfd):
    """libpng wrote "libpng error: PNG input buffer is incomplete" on stderr besides the
    workbench's one line."""
    rng = np.random.default_rng(0)
    write_image(tmp_path / "d.png", rng.integers(0, 65535, (64, 128), dtype=np.uint16))
    data = (tmp_path / "d.png").read_bytes()
    (tmp_path / "d.png").write_bytes(data[: len(data) // 2])
    capfd.readouterr()
    with pytest.raises(WorkbenchError, match=r"d.png: truncated PNG \(no IEND chunk\)"):
        read_image(tmp_path / "d.png")
    assert "libpng" not in capfd.readouterr().err
    (tmp_path / "d.png").write_bytes(data + b"trailing bytes")  # after IEND: accepted
    assert read_image(tmp_path / "d.png").shape == (64, 128)


def test_check_image_sizes_and_dtypes_without_a_full_jpeg_decode(tmp_path):
    from workbench.io import check_image

    rng = np.random.default_rng(0)
    write_image(tmp_path / "a.jpg", rng.integers(0, 256, (37, 75, 3), dtype=np.uint8))
    write_image(tmp_path / "d.png", rng.integers(0, 65535, (8, 16), dtype=np.uint16))
    assert check_image(tmp_path / "a.jpg") == ((37, 75), np.uint8)  # the header's size
    assert check_image(tmp_path / "d.png") == ((8, 16), np.uint16)
    data = (tmp_path / "a.jpg").read_bytes()
    for name, bad in (("cut.jpg", data[: len(data) // 2]), ("empty.jpg", b""), ("x.jpg", b"x" * 9)):
        (tmp_path / name).write_bytes(bad)
        with pytest.raises(WorkbenchError) as e:
            check_image(tmp_path / name)
        assert name in str(e.value)
    with pytest.raises(WorkbenchError, match="not found"):
        check_image(tmp_path / "missing.jpg")


def test_sixteen_bit_colour_is_read_as_8_bit_and_sixteen_bit_grey_is_refused(tmp_path):
    rgb16 = np.zeros((4, 8, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 65535, 257 * 128, 200  # R, G, B
    write_image(tmp_path / "c16.png", rgb16)
    got = read_rgb(tmp_path / "c16.png")
    assert got.dtype == np.uint8 and got[0, 0].tolist() == [255, 128, 1]  # 200/257 rounds to 1
    write_image(tmp_path / "g16.png", np.full((4, 8), 1500, np.uint16))
    with pytest.raises(WorkbenchError, match=r"16-bit single-channel image \(a depth map\?\)") as e:
        read_rgb(tmp_path / "g16.png")
    assert "g16.png" in str(e.value)


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_work(tmp_path):
    from workbench.io import check_output_folder

    (tmp_path / "a file").write_text("x")
    with pytest.raises(WorkbenchError, match="a parent is a file"):
        check_output_folder(tmp_path / "a file" / "sub" / "out")
    with pytest.raises(WorkbenchError, match="cannot write"):
        check_output_folder("/proc/workbench-no-such/out")
    # a folder that can be made is not made (nor is the probe left behind)
    assert check_output_folder(tmp_path / "new" / "out") == tmp_path / "new" / "out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a file"]
