"""Large JSON arrays read in pieces, and cheap file fingerprints.

A COCO results file is a list of millions of ``{"image_id", "category_id", "bbox",
"score"}`` objects. Parsed whole into Python dicts it costs ~250 bytes per record, all
alive at once. :func:`array_pieces` reads it in blocks of :data:`CHUNK` bytes and cuts
each after a record (``}`` ``,`` ``{``); the reader decodes each piece ``[piece]`` with
a typed decoder into columns and drops the records. The cut needs no JSON scanner: a
piece that parses as ``[piece]`` started and ended between records (a cut inside a
string or a nested value leaves an unterminated string or an unbalanced bracket, which
does not parse), so a reader that refuses to go on after a piece that does not parse
never accepts a wrong cut.

(Measured here against this approach: a vectorised numpy parser of the record text was
2-3x slower than msgspec's typed decoder, which builds a small struct per record and
skips unknown keys without making objects of them.)
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHUNK", "Fingerprint", "array_pieces", "fingerprint"]

#: bytes read per block (a piece is at most this plus one record)
CHUNK = 8 << 20

_CUT = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")


# ------------------------------------------------------------------ file pieces
def array_pieces(path: Path, chunk: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """The records of the JSON array in ``path`` as pieces ``b'{...},{...}'``, with
    the offset of each piece's end and the file size (for progress).

    Raises :class:`ValueError` when the file is not one array of objects (then the
    caller reads it the usual way and reports what is wrong). An empty array gives
    nothing. ``chunk``: bytes per read (default :data:`CHUNK`)."""
    chunk = chunk or CHUNK
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(min(chunk, size))
        start = len(head) - len(head.lstrip(b"\xef\xbb\xbf \t\r\n"))
        if head.startswith(b"\xef\xbb\xbf"):
            start = 3 + len(head[3:]) - len(head[3:].lstrip(b" \t\r\n"))
        if head[start:start + 1] != b"[":
            raise ValueError("not a JSON array")
        rest = head[start + 1:].lstrip(b" \t\r\n")
        pos = len(head)
        while True:
            block = f.read(chunk) if pos < size else b""
            pos += len(block)
            data = rest + block if rest else block
            if not block:  # the end: "...}" + "]" + whitespace
                tail = data.rstrip(b" \t\r\n")
                if not tail.endswith(b"]"):
                    raise ValueError("the array does not end")
                tail = tail[:-1].rstrip(b" \t\r\n")
                if tail:
                    if tail[:1] != b"{" or tail[-1:] != b"}":
                        raise ValueError("not an array of objects")
                    yield tail, size, size
                return
            if not data:
                continue
            if data[:1] != b"{":
                raise ValueError("not an array of objects")
            # the last cut in the piece: search the tail first (records are small)
            cut = None
            lo = max(0, len(data) - 65536)
            while cut is None:
                for m in _CUT.finditer(data, lo):
                    cut = m
                if cut is None:
                    if lo == 0:
                        break
                    lo = max(0, lo - 4 * 65536 if lo > 4 * 65536 else 0)
            if cut is None:  # one record longer than the block: read on
                rest = data
                continue
            yield data[:cut.start() + 1], pos - (len(data) - cut.end() + 1), size
            rest = data[cut.end() - 1:]


# ------------------------------------------------------------------ fingerprints
@dataclass(frozen=True)
class Fingerprint:
    """What identifies a file's contents cheaply: size, modification time (ns) and a
    BLAKE2b of sampled blocks (the first and last 1 MiB and 62 blocks of 16 KiB spread
    evenly between): an edit that keeps size and mtime must also hit no sampled byte
    to go unnoticed."""

    size: int
    mtime_ns: int
    digest: str

    def to_json(self) -> list[object]:
        return [self.size, self.mtime_ns, self.digest]

    @staticmethod
    def from_json(v: object) -> Fingerprint | None:
        if (isinstance(v, list) and len(v) == 3 and isinstance(v[0], int)
                and isinstance(v[1], int) and isinstance(v[2], str)):
            return Fingerprint(v[0], v[1], v[2])
        return None


def fingerprint(path: Path) -> Fingerprint:
    """The :class:`Fingerprint` of ``path`` (OSError when it cannot be read)."""
    st = os.stat(path)
    h = hashlib.blake2b(digest_size=16)
    size = st.st_size
    with open(path, "rb") as f:
        if size <= 4 << 20:
            h.update(f.read())
        else:
            h.update(f.read(1 << 20))
            step = (size - (2 << 20)) // 63
            for k in range(1, 63):
                f.seek((1 << 20) + k * step)
                h.update(f.read(16 << 10))
            f.seek(size - (1 << 20))
            h.update(f.read(1 << 20))
    return Fingerprint(size, st.st_mtime_ns, h.hexdigest())
