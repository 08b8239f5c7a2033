"""TFRecord files and ``tf.train.Example`` messages without TensorFlow (numpy + numba).

The packed-dataset reader (:mod:`workbench.data.layouts`, layout ``shards``) must stay free of
TensorFlow like every numpy verb, and reads one record at a known byte offset (random access
for the exact-resume sample order); TensorFlow's own ``TFRecordDataset`` and
``parse_single_example`` read the same files (tested).

Framing (TensorFlow's ``record_writer``): ``uint64 length``, ``uint32 masked CRC32C of the
length``, ``data``, ``uint32 masked CRC32C of data``, little-endian. An ``Example`` is
``Features{map<string, Feature>}``; a ``Feature`` holds a ``BytesList`` (1), a ``FloatList``
(2, packed float32) or an ``Int64List`` (3, packed varints).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numba
import numpy as np

from workbench.errors import WorkbenchError

__all__ = [
    "crc32c",
    "decode_example",
    "encode_example",
    "frame_record",
    "read_record_at",
    "iter_records",
]


def _crc_table() -> np.ndarray:
    table = np.zeros(256, np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[i] = c
    return table


_TABLE = _crc_table()


@numba.njit(cache=True, nogil=True)
def _crc32c(data, table):
    crc = np.uint32(0xFFFFFFFF)
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``.

    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    return int(_crc32c(np.frombuffer(data, np.uint8), _TABLE))


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, ``data``, its masked CRC."""
    head = struct.pack("<Q", len(data))
    return (
        head
        + struct.pack("<I", _masked(crc32c(head)))
        + data
        + struct.pack("<I", _masked(crc32c(data)))
    )


def read_record_at(path: str | Path, offset: int) -> bytes:
    """The data of the record starting at byte ``offset`` of ``path``, CRCs checked.

    Raises:
        WorkbenchError: naming the file when it is short or a CRC does not match.
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            head = f.read(12)
            if len(head) < 12:
                raise WorkbenchError(f"no record at byte {offset} (file too short)", path)
            (n,) = struct.unpack("<Q", head[:8])
            if struct.unpack("<I", head[8:])[0] != _masked(crc32c(head[:8])):
                raise WorkbenchError(f"corrupt record header at byte {offset}", path)
            body = f.read(n + 4)
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise WorkbenchError(f"cannot read the record at byte {offset} ({why})", path) from None
    if len(body) < n + 4 or struct.unpack("<I", body[n:])[0] != _masked(crc32c(body[:n])):
        raise WorkbenchError(f"corrupt or truncated record at byte {offset}", path)
    return body[:n]


def iter_records(path: str | Path):
    """``(offset, data)`` of every record of a TFRecord file, in order."""
    size, offset = Path(path).stat().st_size, 0
    while offset < size:
        data = read_record_at(path, offset)
        yield offset, data
        offset += len(data) + 16


# --------------------------------------------------------------------------- protobuf


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature(value) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return _field(1, _field(1, bytes(value)))
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return _field(2, _field(1, arr.astype("<f4").tobytes()))
    if arr.dtype.kind in "iub":
        packed = b"".join(_varint(int(x) & 0xFFFFFFFFFFFFFFFF) for x in arr.ravel())
        return _field(3, _field(1, packed))
    raise TypeError(f"feature values are bytes, floats or ints, got {arr.dtype}")


def encode_example(features: dict) -> bytes:
    """A serialized ``tf.train.Example``: ``bytes`` values become a one-element BytesList,
    float sequences a FloatList (float32), int sequences an Int64List; keys sorted."""
    entries = b"".join(
        _field(1, _field(1, key.encode()) + _field(2, _feature(features[key])))
        for key in sorted(features)
    )
    return _field(1, entries)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes):
    """``(number, payload)`` of every length-delimited field of a message."""
    i = 0
    while i < len(buf):
        tag, i = _read_varint(buf, i)
        if tag & 7 != 2:
            raise ValueError(f"unexpected wire type {tag & 7}")
        n, i = _read_varint(buf, i)
        yield tag >> 3, buf[i : i + n]
        i += n


def _decode_feature(buf: bytes):
    for kind, inner in _fields(buf):
        values = [payload for _, payload in _fields(inner)]
        if kind == 1:
            return values[0] if len(values) == 1 else values
        packed = b"".join(values)
        if kind == 2:
            return np.frombuffer(packed, "<f4").copy()
        out, i = [], 0
        while i < len(packed):
            v, i = _read_varint(packed, i)
            out.append(v - (1 << 64) if v >= 1 << 63 else v)
        return np.array(out, np.int64)
    return b""


def decode_example(data: bytes) -> dict:
    """Features of a serialized ``tf.train.Example`` (see :func:`encode_example`).

    >>> decode_example(encode_example({"a": b"xy", "n": [3, -1], "f": [0.5]}))["n"].tolist()
    [3, -1]
    """
    out = {}
    for _, features in _fields(data):
        for _, entry in _fields(features):
            parts = dict(_fields(entry))
            out[parts[1].decode()] = _decode_feature(parts.get(2, b""))
    return out
