"""Large JSON arrays of flat records read into numpy columns, in chunks.

A COCO results file is a list of millions of ``{"image_id", "category_id", "bbox",
"score"}`` objects. Parsing it into Python dicts costs ~1.5 us and ~250 bytes per
record, all alive at once. Here the file is read in blocks of :data:`CHUNK` bytes, each
cut after a record (``}`` ``,`` ``{``), and each piece is turned into columns by
:func:`parse_records`, a vectorised parser of records that all have the same keys in
the same order (what every writer produces):

* the piece's text outside the numbers must be the record template repeated, byte for
  byte (whitespace outside strings removed; keys only, no string values, no escapes);
* each number must be a JSON number; integer fields must be integers of at most 18
  digits; a float with at most 2**53 as its digits and at most 22 decimals is
  ``digits / 10**decimals``, one correctly rounded IEEE division and therefore the
  same double ``float(text)`` gives (Clinger's fast path); other numbers (exponents,
  17 significant digits) go through ``float`` one by one.

A piece the vectorised parser does not take is decoded by a typed decoder (msgspec);
anything that fails there too makes the caller read the whole file the old way, with
its exact messages. The cut itself needs no JSON scanner: a piece that parses as
``[piece]`` started and ended between records (a cut inside a string or a nested value
leaves an unterminated string or an unbalanced bracket, which does not parse).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CHUNK", "Field", "Fingerprint", "array_pieces", "fingerprint", "parse_records"]

#: bytes read per block (a piece is at most this plus one record)
CHUNK = 8 << 20

_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 13, 32]] = True
_NUM = np.zeros(256, dtype=bool)
_NUM[list(b"0123456789.-+eE")] = True
_POW10 = np.array([10.0 ** k for k in range(23)])  # exact: every 10**k, k <= 22, is a double
_JSON_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_CUT = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")
_KEYS = re.compile(rb'"([^"\\]*)":')


@dataclass(frozen=True)
class Field:
    """One key of a record: ``kind`` is ``"int"`` (int64), ``"float"`` or
    ``"float4"`` (a list of four numbers, e.g. a bbox)."""

    key: str
    kind: str

    @property
    def n_numbers(self) -> int:
        return 4 if self.kind == "float4" else 1


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


# ------------------------------------------------------------------ records
def _template(fields: Sequence[Field], order: Sequence[int]) -> list[bytes]:
    """Separators around the numbers of one record, keys in ``order``: the text before
    the first number, between numbers, and after the last."""
    seps: list[bytes] = []
    cur = b"{"
    for j, k in enumerate(order):
        f = fields[k]
        cur += (b"," if j else b"") + b'"' + f.key.encode() + b'":'
        if f.kind == "float4":
            cur += b"["
            seps.append(cur)
            seps.extend([b","] * 3)
            cur = b"]"
        else:
            seps.append(cur)
            cur = b""
    seps.append(cur + b"}")
    return seps


def _key_order(first: bytes, fields: Sequence[Field]) -> list[int] | None:
    keys = [m.decode("utf-8", "replace") for m in _KEYS.findall(first)]
    names = [f.key for f in fields]
    if sorted(keys) != sorted(names) or len(set(keys)) != len(keys):
        return None
    return [names.index(k) for k in keys]


def parse_records(piece: bytes, fields: Sequence[Field]) -> dict[str, np.ndarray] | None:
    """Columns of ``piece`` (``{...},{...}``: records with exactly ``fields``), or
    None when it is not that regular (another decoder takes it)."""
    if b"\\" in piece or not piece:
        return None
    a = np.frombuffer(piece, dtype=np.uint8)
    quotes = np.flatnonzero(a == 34)
    if quotes.shape[0] % 2:
        return None
    marks = np.zeros(a.shape[0] + 1, dtype=np.int8)
    marks[quotes[0::2]] = 1
    marks[quotes[1::2] + 1] = -1
    instr = np.cumsum(marks[:-1], dtype=np.int8).view(bool)
    ws = _WS[a]
    if ws.any():
        if (ws & instr).any():
            return None
        keep = ~ws
        a, instr = a[keep], instr[keep]
    head = a[:4096].tobytes()
    first_end = head.find(b"}")
    if first_end < 0:
        head = a.tobytes()
        first_end = head.find(b"}")
    order = _key_order(head[:first_end + 1], fields)
    if order is None:
        return None
    seps = _template(fields, order)
    per = sum(f.n_numbers for f in fields)
    num = _NUM[a] & ~instr
    edges = np.diff(num.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    ntok = starts.shape[0]
    if ntok == 0 or ntok % per:
        return None
    m = ntok // per
    # the text around the numbers: the template, records joined by "},{"
    after = [*seps[1:-1], seps[-1] + b"," + seps[0]]
    if bytes(a[:starts[0]]) != seps[0] or bytes(a[ends[-1]:]) != seps[-1]:
        return None
    gaps = starts[1:] - ends[:-1]
    want = np.array([len(x) for x in after], dtype=np.int64)
    if not np.array_equal(gaps, np.resize(want, ntok - 1)):
        return None
    for j, sep in enumerate(after):
        pos = ends[j::per]
        if j == per - 1:
            pos = pos[:-1]  # the last record ends the piece
        if pos.shape[0] and not (a[pos[:, None] + np.arange(len(sep))]
                                 == np.frombuffer(sep, dtype=np.uint8)).all():
            return None
    # the numbers
    width = ends - starts
    w = int(width.max())
    if w > 32:
        return None
    col = np.arange(w)
    valid = col < width[:, None]
    ch = np.where(valid, a[np.minimum(starts[:, None] + col, a.shape[0] - 1)], 0)
    neg = ch[:, 0] == 45
    dig = (ch >= 48) & (ch <= 57)
    dot = ch == 46
    other = valid & ~dig & ~dot
    other[:, 0] &= ~neg
    ndot = dot.sum(axis=1)
    ndig = dig.sum(axis=1)
    simple = ~other.any(axis=1) & (ndot <= 1)
    rows = np.arange(ntok)
    fd = np.minimum(neg.astype(np.int64), w - 1)  # first digit's column
    dp = np.where(ndot == 1, np.argmax(dot, axis=1), width)
    lead0 = (ch[rows, fd] == 48) & (fd + 1 < dp)  # "01", "-012.5"
    bad = simple & ((ndig == 0) | ~dig[rows, fd] | lead0 | (dp == width - 1))
    if bad.any():
        return None
    mant = np.zeros(ntok, dtype=np.int64)
    for c in range(w):
        d = dig[:, c]
        np.copyto(mant, mant * 10 + (ch[:, c].astype(np.int64) - 48), where=d)
    frac = np.where(ndot == 1, width - 1 - dp, 0)
    kinds = np.concatenate([np.full(fields[k].n_numbers, fields[k].kind == "int")
                            for k in order])
    is_int = np.broadcast_to(kinds, (m, per)).reshape(-1)
    if not (simple[is_int] & (ndot[is_int] == 0) & (ndig[is_int] <= 18)).all():
        return None
    fast = simple & (ndig <= 18) & (mant <= (1 << 53)) & (frac <= 22)
    values = mant.astype(np.float64) / _POW10[np.minimum(frac, 22)]
    np.negative(values, out=values, where=neg)
    slow = np.flatnonzero(~fast & ~is_int)
    for r in slow.tolist():
        text = bytes(ch[r, :width[r]])
        if _JSON_NUMBER.fullmatch(text) is None:
            return None
        try:
            values[r] = float(text)
        except (ValueError, OverflowError):
            return None
        if not np.isfinite(values[r]):  # 1e400: the JSON parsers refuse it
            return None
    ints = np.where(neg, -mant, mant)
    out: dict[str, np.ndarray] = {}
    t = 0
    vals2, ints2 = values.reshape(m, per), ints.reshape(m, per)
    for k in order:
        f = fields[k]
        if f.kind == "int":
            out[f.key] = ints2[:, t].copy()
        elif f.kind == "float":
            out[f.key] = vals2[:, t].copy()
        else:
            out[f.key] = vals2[:, t:t + 4].copy()
        t += f.n_numbers
    return out


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
