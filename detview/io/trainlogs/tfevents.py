"""TensorBoard event files (``events.out.tfevents.*``): the scalars.

Why a reader of our own rather than ``tensorboard``'s ``EventAccumulator``: the format is
small and frozen (TFRecord framing around ``tensorflow.Event`` protobuf messages), the
``tensorboard`` package brings ~35 MB of dependencies (grpcio, protobuf, werkzeug,
markdown) into the app and its bundle for the sake of ~150 lines, its pure-Python reader
checks every byte's CRC (about 1 s for a 3 MB YOLOv5 file that this reader reads in a few
ms), and a corrupt record there is a logged warning rather than a message naming the
record. The test suite reads the same files with ``EventAccumulator`` (a test
dependency) and compares every value.

Framing: ``uint64 length, uint32 masked-crc32c(length), data, uint32 masked-crc32c(data)``,
little-endian. The length checksum of every record is checked (a wrong one means a
corrupt file or not an event file); the data checksum is checked for the records whose
values are read (scalars); image and histogram records are skipped unread. A record cut
short at the end of the file (a training still writing) is a warning.

Scalars are read from ``Summary.Value.simple_value`` (TF1, PyTorch ``add_scalar``) and
from one-element tensors whose tag carries the ``scalars`` plugin (TF2
``tf.summary.scalar``, which sends the metadata once per tag) or ``DATA_CLASS_SCALAR``.
``step`` is ``Event.step``, ``wall_time`` ``Event.wall_time``; the epoch is unknown (NaN).
Split: ``val`` for tags under ``val``/``eval``/``test``/``metrics/``/
``DetectionBoxes_`` and for files in a folder named ``eval*``, ``val*``,
``validation`` or ``test`` (TF Object Detection API's ``model_dir/eval/``), else
``train``.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any

from detview.io.errors import InputError, Problem

from ._model import Parsed, ScalarRows
from ._util import warn

__all__ = ["NAME", "masked_crc32c", "parse", "sniff"]

NAME = "tensorboard"
DESCRIPTION = "TensorBoard event file (events.out.tfevents.*): scalars"


# ------------------------------------------------------------------ crc32c
def _table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        out.append(c)
    return out


_CRC_TABLE = _table()


def crc32c(data: bytes | memoryview) -> int:
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in bytes(data):
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | memoryview) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ------------------------------------------------------------------ protobuf
class _ProtoError(ValueError):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    n = len(buf)
    while True:
        if pos >= n:
            raise _ProtoError("varint runs past the end")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _ProtoError("varint longer than 10 bytes")


def _fields(buf: memoryview) -> Any:
    """``(field number, wire type, value)``: int for varint/fixed, memoryview for
    length-delimited."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        fno, wt = key >> 3, key & 7
        v: int | memoryview
        if fno == 0:
            raise _ProtoError("field number 0")
        if wt == 0:
            v, pos = _varint(buf, pos)
        elif wt == 1:
            if pos + 8 > n:
                raise _ProtoError("fixed64 runs past the end")
            v = buf[pos:pos + 8]
            pos += 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > n:
                raise _ProtoError("length-delimited field runs past the end")
            v = buf[pos:pos + ln]
            pos += ln
        elif wt == 5:
            if pos + 4 > n:
                raise _ProtoError("fixed32 runs past the end")
            v = buf[pos:pos + 4]
            pos += 4
        else:
            raise _ProtoError(f"unsupported wire type {wt}")
        yield fno, wt, v


def _int64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64, _DT_HALF = 1, 2, 3, 9, 19
_FMT = {_DT_FLOAT: "<f", _DT_DOUBLE: "<d", _DT_INT32: "<i", _DT_INT64: "<q", _DT_HALF: "<e"}


def _tensor_scalar(buf: memoryview) -> float | None:
    """The value of a one-element numeric TensorProto, else None."""
    dtype = 0
    dims: list[int] = []
    content = None
    values: list[float] = []
    for fno, wt, v in _fields(buf):
        if fno == 1 and wt == 0:
            dtype = v
        elif fno == 2 and wt == 2:
            for f2, w2, d in _fields(v):
                if f2 == 2 and w2 == 2:
                    size = 1
                    for f3, w3, s in _fields(d):
                        if f3 == 1 and w3 == 0:
                            size = _int64(s)
                    dims.append(size)
        elif fno == 4 and wt == 2:
            content = bytes(v)
        elif fno == 5:  # float_val
            if wt == 2:
                values.extend(x[0] for x in struct.iter_unpack("<f", _whole(v, 4)))
            elif wt == 5:
                values.append(struct.unpack("<f", v)[0])
        elif fno == 6:  # double_val
            if wt == 2:
                values.extend(x[0] for x in struct.iter_unpack("<d", _whole(v, 8)))
            elif wt == 1:
                values.append(struct.unpack("<d", v)[0])
        elif fno in (7, 10, 13):  # int_val, int64_val, half_val (bits)
            raw: list[int] = []
            if wt == 2:
                pos = 0
                while pos < len(v):
                    x, pos = _varint(v, pos)
                    raw.append(x)
            elif wt == 0:
                raw.append(v)
            if fno == 13:
                values.extend(struct.unpack("<e", struct.pack("<H", x & 0xFFFF))[0] for x in raw)
            else:
                values.extend(float(_int64(x)) for x in raw)
    if any(d != 1 for d in dims):
        return None
    if content is not None:
        fmt = _FMT.get(dtype)
        if fmt is None or len(content) != struct.calcsize(fmt):
            return None
        return float(struct.unpack(fmt, content)[0])
    if dtype not in _FMT or len(values) != 1:
        return None
    return float(values[0])


def _whole(v: memoryview, size: int) -> memoryview:
    if len(v) % size:
        raise _ProtoError("packed values of a wrong length")
    return v


def _metadata(buf: memoryview) -> tuple[str, int]:
    plugin, data_class = "", 0
    for fno, wt, v in _fields(buf):
        if fno == 1 and wt == 2:
            for f2, w2, x in _fields(v):
                if f2 == 1 and w2 == 2:
                    plugin = bytes(x).decode("utf-8", "replace")
        elif fno == 4 and wt == 0:
            data_class = v
    return plugin, data_class


# ------------------------------------------------------------------ split
_VAL_TAG = re.compile(r"^(val|valid|validation|eval|evaluation|test)(/|_|$)|^metrics/|"
                      r"^DetectionBoxes_|^DetectionMasks_", re.IGNORECASE)
_VAL_DIR = re.compile(r"^(eval.*|val|valid|validation|test)$", re.IGNORECASE)


def _folder_split(source: str) -> str | None:
    parts = re.split(r"[\\/]", source)
    if len(parts) >= 2 and _VAL_DIR.match(parts[-2]):
        return "val"
    return None


def split_of(tag: str, folder_split: str | None) -> str:
    if folder_split:
        return folder_split
    return "val" if _VAL_TAG.search(tag) else "train"


# ------------------------------------------------------------------ reader
def sniff(name: str, head: bytes) -> int:
    if len(head) >= 12:
        hdr = head[:8]
        if struct.unpack("<I", head[8:12])[0] == masked_crc32c(hdr):
            return 95
    return 20 if "tfevents" in name else 0


def parse(data: bytes, source: str) -> Parsed:
    buf = memoryview(data)
    n = len(buf)
    rows = ScalarRows()
    problems: list[Problem] = []
    folder = _folder_split(source)
    scalar_tags: set[str] = set()
    pos = k = 0
    while pos < n:
        where = f"record {k} (byte {pos})"
        if n - pos < 12:
            warn(problems, source, where, "cut short at the end of the file (still being "
                                          "written?); the rest skipped")
            break
        (length,) = struct.unpack_from("<Q", buf, pos)
        (len_crc,) = struct.unpack_from("<I", buf, pos + 8)
        if masked_crc32c(buf[pos:pos + 8]) != len_crc:
            msg = ("not a TensorBoard event file (no TFRecord header)" if k == 0 else
                   "length checksum mismatch: the file is corrupt")
            raise InputError(source, where, msg)
        end = pos + 12 + length + 4
        if end > n:
            warn(problems, source, where, "cut short at the end of the file (still being "
                                          "written?); the rest skipped")
            break
        payload = buf[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack_from("<I", buf, end - 4)
        try:
            got = _event_scalars(payload, scalar_tags)
        except _ProtoError as exc:
            if masked_crc32c(payload) != data_crc:
                raise InputError(source, where, "data checksum mismatch: the file is "
                                                "corrupt") from None
            raise InputError(source, where, f"not a TensorBoard event: {exc}") from None
        if got is not None and got[2]:
            if masked_crc32c(payload) != data_crc:
                raise InputError(source, where, "data checksum mismatch: the file is corrupt")
            wall, step, values = got
            for tag, v in values:
                rows.add(split_of(tag, folder), step, float("nan"), tag,
                         v if math.isfinite(v) else float("nan"), wall)
        pos = end
        k += 1
    if k == 0 and n:
        raise InputError(source, "record 0 (byte 0)", "not a TensorBoard event file "
                                                      "(shorter than one record)")
    if n == 0:
        raise InputError(source, "", "empty file: not a TensorBoard event file")
    return Parsed(rows, {}, problems)


def _event_scalars(buf: memoryview, scalar_tags: set[str]
                   ) -> tuple[float, int, list[tuple[str, float]]] | None:
    wall, step = float("nan"), 0
    summary = None
    for fno, wt, v in _fields(buf):
        if fno == 1 and wt == 1:
            wall = struct.unpack("<d", v)[0]
        elif fno == 2 and wt == 0:
            step = _int64(v)
        elif fno == 5 and wt == 2:
            summary = v
    if summary is None:
        return None
    out: list[tuple[str, float]] = []
    for fno, wt, val in _fields(summary):
        if fno != 1 or wt != 2:
            continue
        tag = ""
        simple = None
        tensor = None
        meta = None
        for f2, w2, x in _fields(val):
            if f2 == 1 and w2 == 2:
                tag = bytes(x).decode("utf-8", "replace")
            elif f2 == 2 and w2 == 5:
                simple = struct.unpack("<f", x)[0]
            elif f2 == 8 and w2 == 2:
                tensor = x
            elif f2 == 9 and w2 == 2:
                meta = x
        if meta is not None:
            plugin, data_class = _metadata(meta)
            if plugin == "scalars" or data_class == 1:
                scalar_tags.add(tag)
        if simple is not None:
            out.append((tag, float(simple)))
        elif tensor is not None and tag in scalar_tags:
            s = _tensor_scalar(tensor)
            if s is not None:
                out.append((tag, s))
    if not math.isfinite(wall):
        wall = float("nan")
    return wall, step, out
