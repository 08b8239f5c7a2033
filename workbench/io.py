"""Atomic file writes and checked image reads.

Every file the workbench writes goes through :func:`atomic_path` or :func:`write_bytes_atomic`:
the content is written to a temporary file in the destination folder, flushed, and renamed over
the destination, so a reader (or a crash) only ever sees the complete old or the complete new file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must precede the first cv2 import

import cv2
import numpy as np  # noqa: E402

from workbench.errors import WorkbenchError  # noqa: E402

__all__ = [
    "atomic_path",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_image",
    "read_image",
    "read_rgb",
    "save_npy",
    "write_csv_atomic",
]


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The temporary file keeps ``path``'s extension (or ``suffix``) so writers that pick a format
    from the name (open3d, OpenCV) still work. On error the temporary file is removed and
    ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes[-1:])
    )
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(path: str | os.PathLike, fields, rows) -> Path:
    """Write ``rows`` (dicts) under the header ``fields`` as CSV, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Save ``array`` as ``.npy`` atomically (never pickled)."""

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return write_bytes_atomic(path, buf.getvalue())


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Encode and write an image atomically.

    Args:
        path: destination; the extension picks the format (``.png``, ``.jpg``, ``.exr``).
        image: ``(H, W, 3) uint8`` RGB, ``(H, W) uint8/uint16`` grey, or ``(H, W) float32`` (EXR).
        quality: JPEG quality.
    """

    path = Path(path)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = np.ascontiguousarray(image[..., ::-1])  # RGB -> BGR for OpenCV
    params = (
        [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    )
    ok, buf = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise WorkbenchError(f"could not encode a {image.dtype} {image.shape} image", path)
    return write_bytes_atomic(path, buf.tobytes())


def read_image(path: str | os.PathLike, flags: int | None = None) -> np.ndarray:
    """Read an image file unchanged (bit depth kept), with a clear error when it cannot be read.

    Returns ``(H, W)`` or ``(H, W, C)`` as stored (colour channels in BGR order, OpenCV's).
    """

    path = Path(path)
    if not path.is_file():
        raise WorkbenchError("file not found", path)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise WorkbenchError("empty file (0 bytes)", path)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED if flags is None else flags)
    if img is None:
        raise WorkbenchError("unreadable or truncated image (could not decode)", path)
    if path.suffix.lower() in (".jpg", ".jpeg") and not _jpeg_complete(data):
        raise WorkbenchError("truncated JPEG (no end-of-image marker)", path)
    return img


def _jpeg_complete(data: np.ndarray) -> bool:
    tail = data[-16:].tobytes().rstrip(b"\x00")
    return tail.endswith(b"\xff\xd9")


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a colour image as ``(H, W, 3) uint8`` RGB (grey is expanded, alpha dropped)."""

    img = read_image(path, cv2.IMREAD_UNCHANGED)
    if img.dtype != np.uint8:
        raise WorkbenchError(f"RGB image must be 8-bit, got {img.dtype}", path)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1])
