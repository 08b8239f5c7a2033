"""Atomic file writes and checked image reads.

Every file the workbench writes goes through :func:`atomic_path` or :func:`write_bytes_atomic`:
the content is written to a temporary file in the destination folder, flushed, and renamed over
the destination, so a reader (or a crash) only ever sees the complete old or the complete new file.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")  # must precede the first cv2 import

import cv2
import numpy as np  # noqa: E402

from workbench.errors import WorkbenchError  # noqa: E402
from workbench.paths import DEFAULT_MODEL  # noqa: E402

__all__ = [
    "TMP_SUFFIX",
    "is_temporary",
    "temporary_name",
    "temporary_owner",
    "is_stale_temporary",
    "sweep_temporaries",
    "make_temporary_folder",
    "make_folder",
    "check_output_file",
    "check_output_folder",
    "check_model_path",
    "check_replaceable",
    "check_outside",
    "check_not_model_folder",
    "check_output_owner",
    "claim_output_folder",
    "unclaim_output_folder",
    "output_source",
    "atomic_path",
    "write_bytes_atomic",
    "write_text_atomic",
    "write_image",
    "read_image",
    "check_image",
    "read_rgb",
    "save_npy",
    "load_npy",
    "image_size",
    "MAX_IMAGE_PIXELS",
    "write_csv_atomic",
    "read_csv_text",
]


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


TMP_SUFFIX = ".tmp"
TMP_TAG = "workbench"
_OWN_TMP = re.compile(
    rf"^\..+\.{TMP_TAG}-(?P<host>[0-9a-f]{{6}})-(?P<pid>\d+)-[0-9a-f]+{re.escape(TMP_SUFFIX)}$"
)


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a temporary file of :func:`atomic_path` (or any hidden file): readers
    skip such names, so a crash's leftovers are never taken for data."""
    name = Path(path).name
    return name.startswith(".") or name.endswith(TMP_SUFFIX)


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temporary_name(name: str) -> str:
    """The name of a temporary file or folder this process writes for ``name``:
    ``.<name>.workbench-<host>-<pid>-<random>.tmp``, hidden and ending in ``.tmp`` (readers skip
    it, :func:`is_temporary`) and carrying its writer (a hash of the host name and the process
    id), so :func:`sweep_temporaries` can tell a dead run's leftover from a live run's file and
    from a user's own ``.tmp`` files, which it never touches."""
    tag = f"{TMP_TAG}-{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
    return f".{name[:160]}.{tag}{TMP_SUFFIX}"


def temporary_owner(path: str | os.PathLike) -> tuple[str, int] | None:
    """``(host tag, process id)`` of a temporary named by :func:`temporary_name`; ``None`` for
    any other name."""
    m = _OWN_TMP.match(Path(path).name)
    return (m["host"], int(m["pid"])) if m else None


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from ``/proc``; ``None`` when
    unknown."""
    try:
        proc = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(proc.rsplit(")", 1)[1].split()[19])
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _owner_alive(pid: int, written: float) -> bool:
    """Whether process ``pid`` lives and is the one that last wrote at time ``written`` (a
    process id reused by a later process does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # no permission: a live process of another user
        return True
    start = _process_start(pid)
    return start is None or start <= written + 2.0  # start times are known to about a second


def is_stale_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a leftover of a dead run: a temporary named by
    :func:`temporary_name` on this host whose writing process has ended. A user's file, a
    symbolic link, a live run's temporary (this process's included) and one written on another
    host (its process cannot be checked from here) are never stale."""
    path = Path(path)
    owner = temporary_owner(path)
    if owner is None or owner[0] != _host_tag() or owner[1] == os.getpid():
        return False
    if not 0 < owner[1] < 2**31:  # no process of ours has such an id
        return False
    try:
        st = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return False
    return not _owner_alive(owner[1], st.st_mtime)


def sweep_temporaries(folder: str | os.PathLike, recursive: bool = True) -> int:
    """Remove the leftovers of killed runs under ``folder`` (:func:`is_stale_temporary`:
    temporary files and folders of this project's naming whose process has ended); every
    other file, a user's hidden ``*.tmp`` and a live run's temporary included, stays. Symbolic
    links are not followed. Returns how many were removed."""
    n = 0
    for top, dirs, files in os.walk(folder):
        for name in [*files, *dirs]:
            p = Path(top) / name
            if not is_stale_temporary(p):
                continue
            with contextlib.suppress(OSError):
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                n += 1
        dirs[:] = [d for d in dirs if recursive and (Path(top) / d).is_dir()]
    return n


def _create_temporary(path: Path) -> Path:
    """Create an empty temporary file beside ``path`` (:func:`temporary_name`), usual
    permissions; an OS error names ``path``."""
    return _claim_temporary(path, lambda t: os.close(os.open(t, _EXCL_FLAGS, 0o666)))


_EXCL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL


def _claim_temporary(path: Path, create) -> Path:
    """A fresh :func:`temporary_name` beside ``path`` made by ``create(tmp)`` (which raises
    ``FileExistsError`` when the name is taken); an OS error names ``path``."""
    for _ in range(100):
        tmp = path.parent / temporary_name(path.name)
        try:
            create(tmp)
            return tmp
        except FileExistsError:
            continue
        except OSError as e:
            raise _write_error(e, path) from None
    raise WorkbenchError("cannot write (no free temporary name)", path)


def make_temporary_folder(path: str | os.PathLike) -> Path:
    """Create a staging folder beside ``path`` named by :func:`temporary_name` (so a killed
    run's one is removed by the next :func:`sweep_temporaries` there); an OS error names
    ``path``."""
    path = Path(path)
    make_folder(path.parent)
    return _claim_temporary(path, Path.mkdir)


def _write_error(e: OSError, path: Path) -> WorkbenchError:
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "read-only file system",
        errno.EISDIR: "is a folder",
        errno.ENOTDIR: "a parent is a file, not a folder",
        errno.EEXIST: "a file is in the way of a folder",
        errno.EDQUOT: "disk quota exceeded",
    }.get(e.errno, e.strerror or type(e).__name__)
    return WorkbenchError(f"cannot write ({reason})", path)


def make_folder(path: str | os.PathLike) -> Path:
    """``mkdir -p`` with an error naming ``path`` (a file in the way, no permission, ...)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise WorkbenchError("exists and is not a folder", path) from None
    except OSError as e:
        raise _write_error(e, path) from None
    return path


def check_output_folder(path: str | os.PathLike) -> Path:
    """Before any work: nothing but a folder is at ``path`` (:func:`make_folder` makes it once
    the job is sure to write, so a refused job leaves no empty folder behind).

    Raises:
        WorkbenchError: naming ``path``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WorkbenchError("exists and is not a folder", path)
    if not path.exists():
        _check_makeable(path)
    return path


def _check_makeable(path: Path) -> None:
    """The missing folder ``path`` can be made: its nearest existing parent is a folder in
    which a (temporary, at once removed) folder can be made; else the reason, naming
    ``path``."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise WorkbenchError("cannot write (a parent is a file, not a folder)", path)
    probe = parent / temporary_name(path.name)
    try:
        probe.mkdir()
    except OSError as e:
        raise _write_error(e, path) from None
    probe.rmdir()


def check_outside(path: str | os.PathLike, flag: str, folder, what: str) -> None:
    """Before any work: ``path`` is neither ``folder`` nor inside it (``what`` names the folder,
    e.g. "the dataset root": outputs there would be read as its files, or replace them).

    >>> check_outside("/data/out", "--out", "/work/ds", "the dataset root")

    Raises:
        WorkbenchError: ``--flag: PATH is inside WHAT FOLDER (...)``.
    """
    if not folder or not str(path):
        return
    p, f = Path(path).resolve(), Path(folder).resolve()
    if p == f or p.is_relative_to(f):
        raise WorkbenchError(
            f"{path} is inside {what} {folder} (its files would be read as data there, or "
            "replace them): choose a path outside it",
            flag,
        )


def check_not_model_folder(out: str | os.PathLike, model: Path) -> None:
    """Before any work: ``--out`` is not the folder of ``model`` (a run folder, or the folder
    of a model file), nor inside a run folder: a job's ``metrics.json`` or ``model.json`` would
    replace the model's own, or mix with the run's.

    Raises:
        WorkbenchError: naming ``--out``.
    """
    folder = (model if model.is_dir() else model.parent).resolve()
    if Path(out).resolve() == folder:
        raise WorkbenchError(f"is the model's own folder ({folder}): name another", "--out")
    run = (folder / "checkpoints").is_dir() or (folder / "config.json").is_file()
    if run and folder in Path(out).resolve().parents:  # a run folder's own files (or its model's)
        raise WorkbenchError(
            f"{out} is inside the model's run folder ({folder}): name another", "--out"
        )


OUTPUT_OWNER = ".workbench-output"  # in a verb's output folder: the verb that claimed it


# what an empty folder may hold: a desktop's or Jupyter's own litter (a user's hidden files,
# ``.git`` or ``.env``, make a folder theirs: ``--out ~`` is refused)
_LITTER = (".DS_Store", ".ipynb_checkpoints", "Thumbs.db", "desktop.ini")


def _ignorable(name: str) -> bool:
    """A file an empty output folder may hold: litter (:data:`_LITTER`), this project's
    temporaries (a killed run's) and records (``.workbench-*``: the marks, the demo's list of
    the files it wrote)."""
    own = name.startswith(".workbench-") or temporary_owner(name) is not None
    return name in _LITTER or own


def _read_mark(path: str | os.PathLike) -> tuple[str, str]:
    """``(verb, source)`` of a folder's :data:`OUTPUT_OWNER` mark (``""`` where absent)."""
    marker = Path(path) / OUTPUT_OWNER
    try:
        lines = marker.read_text(encoding="utf-8").splitlines() if marker.is_file() else []
    except (OSError, UnicodeDecodeError):
        lines = []
    lines = [line.strip() for line in lines] + ["", ""]
    return lines[0], lines[1]


def output_source(path: str | os.PathLike) -> str:
    """The dataset root a verb recorded when it claimed the folder ``path``
    (:func:`claim_output_folder`); ``""`` for a folder without one."""
    return _read_mark(path)[1]


def check_output_owner(
    path: str | os.PathLike, verb: str, flag: str = "--out", empty: bool = True, source: str = ""
) -> None:
    """Before any work: a folder another verb claimed (:func:`claim_output_folder`) is
    refused, naming ``flag``: verbs share file names (``summary.json``, ``views.csv``,
    ``failed.csv``), so one would replace the other's; so is one the same verb claimed for
    another ``source`` (a dataset root: two datasets' scenes would mix in one folder). A folder
    no verb claimed must be empty (but for :func:`_ignorable` names): its files, hidden ones
    included, are the user's, and a run replaces only what it wrote (``empty=False``: the
    caller checks that none of them is a file it writes instead).

    Raises:
        WorkbenchError: naming ``flag`` and the verb whose output the folder holds, or the
            first files of a folder no verb claimed.
    """
    owner, recorded = _read_mark(path)
    if owner and owner != verb:
        raise WorkbenchError(
            f"{path} holds the output of `workbench {owner}` (files of the same names would be "
            "replaced): name another folder",
            flag,
        )
    if owner and source and recorded and recorded != source:
        raise WorkbenchError(
            f"{path} holds the `workbench {verb}` results of {recorded} (they would mix with "
            "this dataset's): name another folder",
            flag,
        )
    if empty and not owner and Path(path).is_dir():
        names = sorted(p.name for p in Path(path).iterdir() if not _ignorable(p.name))
        if names:
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            raise WorkbenchError(
                f"{path} is not empty ({', '.join(names[:3])}{more}) and no `workbench` run "
                "marked it as its output: its files could be replaced; name a new or empty folder",
                flag,
            )


def claim_output_folder(
    path: str | os.PathLike, verb: str, flag: str = "--out", source: str = "", empty: bool = True
) -> Path:
    """:func:`check_output_owner` (``empty``, ``source`` as there), then make the folder and
    mark it as ``verb``'s (for ``source``, e.g. the dataset root, when given)."""
    check_output_owner(path, verb, flag, empty=empty, source=source)
    folder = make_folder(path)
    if _read_mark(folder) != (verb, source):
        write_text_atomic(folder / OUTPUT_OWNER, f"{verb}\n{source}\n" if source else f"{verb}\n")
    return folder


def unclaim_output_folder(path: str | os.PathLike) -> None:
    """Undo :func:`claim_output_folder` for a folder this run made and a job that then failed
    before writing anything: its mark removed, the folder too when nothing else is in it."""
    (Path(path) / OUTPUT_OWNER).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        Path(path).rmdir()  # only when empty


def check_replaceable(path: str | os.PathLike, flag: str, what: str, looks_ours) -> Path:
    """Before any work: a file already at ``path`` is replaced only when it looks like what the
    job writes (``looks_ours(first 4 KiB)``); any other file is the user's and is refused,
    naming ``flag`` (a run overwrites only its own kind of file).

    >>> check_replaceable("/no/such/file.csv", "--report", "a health report", bool).name
    'file.csv'

    Raises:
        WorkbenchError: ``--flag: PATH exists and is not WHAT (...)``.
    """
    path = Path(path)
    if path.is_file():
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError as e:
            raise WorkbenchError(f"cannot read ({e.strerror})", path) from None
        if head and not looks_ours(head):
            raise WorkbenchError(
                f"{path} exists and is not {what} (name a new file, or move it away)", flag
            )
    return path


def check_model_path(path: str | os.PathLike | None) -> Path:
    """The model file or folder ``path`` names (the shipped default model when empty), checked
    to exist before any work; no TensorFlow needed. What kind of model it is, the loaders say.

    Raises:
        WorkbenchError: naming ``path`` (or the default model's folder when it is missing).
    """
    if path is None or str(path) == "":
        if not (DEFAULT_MODEL / "model.keras").exists():
            raise WorkbenchError("no model given and the default model is missing", DEFAULT_MODEL)
        return DEFAULT_MODEL
    if not Path(path).exists():
        raise WorkbenchError("model not found", path)
    return Path(path)


def check_output_file(path: str | os.PathLike, suffix: str = "") -> Path:
    """Before any work: ``path`` can be written as a file (its folder made, it is not a
    folder, it ends with ``suffix`` when given).

    Raises:
        WorkbenchError: naming ``path``.
    """
    path = Path(path)
    if suffix and path.suffix.lower() != suffix:
        raise WorkbenchError(f"must end in {suffix}", path)
    if path.is_dir():
        raise WorkbenchError("cannot write (is a folder)", path)
    try:
        make_folder(path.parent)
    except WorkbenchError as e:
        raise WorkbenchError(f"cannot write ({e.path}: {e.message})", path) from None
    probe = _create_temporary(path)  # a real probe: permissions, read-only or virtual file systems
    with contextlib.suppress(OSError):
        probe.unlink()
    return path


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what native libraries (LiteRT, the TFLite converter) print on file descriptor 2
    for the duration ("INFO: Created TensorFlow Lite XNNPACK delegate", MLIR dumps): noise in
    notebook outputs and logs. Python's own ``sys.stderr`` objects in a notebook are not fd 2
    and are left alone; the descriptor is restored on exit, exceptions included."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    The temporary name is :func:`temporary_name`'s: hidden and ending in ``.tmp``, so no reader
    takes it for data (:func:`is_temporary`) whatever crash leaves it behind, and carrying the
    writing process, so the next run's :func:`sweep_temporaries` removes it once that process
    has ended. Writers that pick
    a format from the file name must be told the format. On error the temporary file is removed,
    ``path`` is left untouched, and an OS error names ``path`` (never the temporary name).
    """
    path = Path(path)
    if path.is_dir():
        raise WorkbenchError("cannot write (is a folder)", path)
    make_folder(path.parent)
    tmp = _create_temporary(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        raise _write_error(e, path) from None
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


def read_csv_text(path: str | os.PathLike) -> str:
    """A CSV file's text for :mod:`csv`: UTF-8 with or without a byte-order mark, line ends
    normalised (CRLF and CR read like LF).

    Raises:
        WorkbenchError: naming ``path`` when it is missing or not UTF-8 text.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError("file not found", path) from None
    except OSError as e:
        raise WorkbenchError(f"cannot read ({e.strerror or type(e).__name__})", path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WorkbenchError("CSV is not UTF-8 text", path) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


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


MAX_IMAGE_PIXELS = 2**28  # 268 Mpx (a 23000 x 11500 panorama); checked before decoding
SOF_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)


def _jpeg_segments(buf: bytes):
    """Yield ``(marker, offset, segment length)`` of a JPEG's header up to its first SOS."""
    i, n = 2, len(buf)
    while i + 4 <= n:
        if buf[i] != 0xFF:
            return
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        length = int.from_bytes(buf[i + 2 : i + 4], "big")
        yield marker, i, length
        if marker == 0xDA:
            return
        i += 2 + length


def _jpeg_complete(buf: bytes) -> bool:
    """An end-of-image marker after the first scan (bytes after it, e.g. phone trailers, are
    fine; EXIF thumbnails before the scan do not count)."""
    for marker, i, length in _jpeg_segments(buf):
        if marker == 0xDA:
            return buf.find(b"\xff\xd9", i + 2 + length) != -1
    return False


def image_size(buf: bytes) -> tuple[str, int, int] | None:
    """``(kind, width, height)`` from a PNG or JPEG header without decoding; ``None`` for other
    formats (OpenCV decides)."""
    if buf[:8] == b"\x89PNG\r\n\x1a\n" and len(buf) >= 24:
        return "png", int.from_bytes(buf[16:20], "big"), int.from_bytes(buf[20:24], "big")
    if buf[:2] == b"\xff\xd8":
        for marker, i, _ in _jpeg_segments(buf):
            if marker in SOF_MARKERS:
                h = int.from_bytes(buf[i + 5 : i + 7], "big")
                return "jpeg", int.from_bytes(buf[i + 7 : i + 9], "big"), h
        return "jpeg", 0, 0
    return None


def read_image(path: str | os.PathLike, flags: int | None = None) -> np.ndarray:
    """Read an image file unchanged (bit depth kept), decoded by its content (not its
    extension), with a clear error naming ``path`` when it cannot be read.

    The pixel count is checked from the header first (:data:`MAX_IMAGE_PIXELS`); a JPEG must
    have its end-of-image marker (bytes after it are accepted), a PNG its ``IEND`` chunk (a
    truncated PNG is refused before libpng prints its own line).

    Returns ``(H, W)`` or ``(H, W, C)`` as stored (colour channels in BGR order, OpenCV's).
    """
    path = Path(path)
    return decode_image(_file_bytes(path), path, flags)


def _file_bytes(path: Path) -> np.ndarray:
    """A file's bytes as ``uint8``; a missing or unreadable file is an error naming it."""
    if not path.is_file():
        raise WorkbenchError("file not found", path)
    try:
        return np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise WorkbenchError(f"cannot read ({e.strerror or type(e).__name__})", path) from None


def decode_image(data, path: str | os.PathLike, flags: int | None = None) -> np.ndarray:
    """:func:`read_image` of an image file's bytes (``path`` names it in errors)."""
    data = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data
    if data.size == 0:
        raise WorkbenchError("empty file (0 bytes)", path)
    info = image_size(data[:65536].tobytes())
    if info and info[1] * info[2] > MAX_IMAGE_PIXELS:
        raise WorkbenchError(
            f"image is {info[1]}x{info[2]} pixels, over the budget of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} Mpx",
            path,
        )
    if info and info[0] == "png" and data[-4096:].tobytes().rfind(b"IEND") < 0:
        # refused before libpng sees it: it prints its own error line on stderr
        raise WorkbenchError("truncated PNG (no IEND chunk)", path)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED if flags is None else flags)
    except cv2.error as e:
        msg = str(e).strip().splitlines()[-1][:160]
        raise WorkbenchError(f"cannot decode image ({msg})", path) from None
    if img is None:
        raise WorkbenchError("unreadable or truncated image (could not decode)", path)
    if info and info[0] == "jpeg" and not _jpeg_complete(data.tobytes()):
        raise WorkbenchError("truncated JPEG (no end-of-image marker)", path)
    return img


def check_image(path: str | os.PathLike) -> tuple[tuple[int, int], np.dtype]:
    """``((H, W), dtype)`` of an image file once it is known to decode (the errors of
    :func:`read_image`). A JPEG is decoded at 1/8 scale: libjpeg still decodes every
    coefficient of the scan (a truncated or broken stream fails as in a full decode), only the
    inverse DCT and colour conversion shrink (4x faster at 256x512); its size is the header's.
    """
    path = Path(path)
    data = _file_bytes(path)
    info = image_size(data[:65536].tobytes()) if data.size else None
    if info and info[0] == "jpeg" and info[1] > 0 and info[2] > 0:
        decode_image(data, path, cv2.IMREAD_REDUCED_COLOR_8)
        return (info[2], info[1]), np.dtype(np.uint8)
    img = decode_image(data, path)
    return img.shape[:2], img.dtype


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """A numeric ``.npy`` array, never unpickled; its header is checked against the file size
    before anything is allocated (a header claiming 300 GB in a small file is refused).

    Raises:
        WorkbenchError: naming ``path``: not an ``.npy`` file (e.g. an ``.npz``), object dtype,
            truncated data.
    """
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError("file not found", path)
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError) as e:
        raise WorkbenchError(f"not an .npy array file ({str(e)[:120]})", path) from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise WorkbenchError(f"array must be numeric, got dtype {dtype}", path)
    need = int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
    have = path.stat().st_size - offset
    if have < need:
        raise WorkbenchError(
            f"truncated .npy: its header claims {shape} {dtype} ({need} bytes), "
            f"the file holds {have}",
            path,
        )
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, MemoryError) as e:
        raise WorkbenchError(f"unreadable .npy ({type(e).__name__})", path) from None


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a colour image as ``(H, W, 3) uint8`` RGB (grey is expanded, alpha dropped, 16-bit
    colour scaled to 8 bits)."""
    return rgb_from_image(read_image(path, cv2.IMREAD_UNCHANGED), path)


def rgb_from_image(img: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """A decoded image (OpenCV's BGR, grey or BGRA; 8-bit, or 16-bit colour) as
    ``(H, W, 3) uint8`` RGB. A 16-bit image of one channel is refused: more likely a depth map
    than a photograph."""
    if img.dtype == np.uint16 and img.ndim == 3:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if img.dtype != np.uint8:
        what = "a 16-bit single-channel image (a depth map?)" if img.dtype == np.uint16 else ""
        raise WorkbenchError(
            f"RGB image must be 8-bit or 16-bit colour, got {what or img.dtype}", path
        )
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return np.ascontiguousarray(img[..., ::-1])
