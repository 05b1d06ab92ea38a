"""A small query language over the per-image table (the query bar, ``eval --where``).

User text is tokenized and parsed by the recursive-descent parser below into a tree of
this module's own node classes, type-checked against the table's columns, and
evaluated as whole-column numpy operations into one boolean mask. Nothing of the text
ever reaches Python's ``eval``, ``DataFrame.query`` or ``pandas.eval``.

Grammar (loosest binding first)::

    query    := [or_expr]                     (empty text: every row)
    or_expr  := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | test
    test     := sum [ (CMP sum)+              (chains: 0.2 < mean_iou <= 0.5)
                    | ["not"] "in" list
                    | ("~" | "!~") STRING ]
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | atom
    atom     := NUMBER | STRING | "true" | "false" | "(" or_expr ")"
              | NAME | NAME "[" CLASS "]" | NAME "." CLASS
    list     := "[" [literal ("," literal)* [","]] "]"
    CMP      := "<" | "<=" | ">" | ">=" | "==" | "=" | "!="

Keywords are case-insensitive; names are exact. Strings take single or double quotes
with ``\\\\``, ``\\"`` and ``\\'`` escapes. ``fp[traffic light]`` takes the text between the
brackets as the class name (quotes allowed); ``fp.person`` is the same for simple names.

Names: every column of the table (``mean_iou``, ``fp``, ``label_quality``, ``err_cls``,
...), ``file`` (= ``file_name``), ``image`` (the image index), ``reviewed``,
``deleted``, and the sets ``class`` (classes of the image's ground-truth boxes),
``pred_class`` (classes of its kept predictions) and ``tag``. A set compares with text:
``class == "person"`` is "has a person box", ``!=`` "has none", ``in [..]`` "has any of",
``~`` "some member contains". Per-class counts: ``gt[c]``, ``pred[c]``, ``tp[c]``,
``fp[c]``, ``fn[c]`` (``n_gt[c]``, ``n_pred[c]`` too), same rules as the table's columns.
``~`` is a case-insensitive substring test; with ``*`` or ``?`` in the pattern it is a
case-insensitive glob over the whole text. A missing value (NaN) fails every comparison
except ``!=``.

Errors are :class:`QueryError` with a character span (``start``-``end``, 0-based, end
exclusive) and, for a misspelt name, a suggestion. :func:`complete` gives completion
candidates for a cursor position. :class:`SavedView` is a named (expression, sort) record.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from .tables import Boxes, Images

if TYPE_CHECKING:  # pragma: no cover
    from .metrics import PerImageMetrics

__all__ = [
    "BUILTIN_VIEWS",
    "COUNT_KINDS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "SYNTAX_HELP",
    "Candidate",
    "ClassCounts",
    "Completion",
    "Query",
    "QueryError",
    "QueryTable",
    "SavedView",
    "ValueExpr",
    "compile_query",
    "compile_value",
    "complete",
    "filter_rows",
    "sort_rows",
    "view_rows",
    "views_from_json",
    "views_to_json",
]

#: Longest accepted expression, in characters.
MAX_LENGTH = 10_000
#: Deepest accepted nesting of parentheses.
MAX_DEPTH = 40

#: Per-class count kinds and what they count (the rules of the per-image columns).
COUNT_KINDS: dict[str, str] = {
    "gt": "ground-truth boxes of the class (crowd regions and deleted boxes not counted)",
    "pred": "predictions of the class kept by the score threshold",
    "tp": "true positives of the class",
    "fp": "false positives of the class",
    "fn": "missed ground-truth boxes of the class",
}
_KIND_ALIASES = {"n_gt": "gt", "n_pred": "pred"}

SYNTAX_HELP = """\
Compare columns: mean_iou < 0.5 and fp >= 2 · label_quality < 0.3 · err_cls > 0
Combine: and, or, not, ( ) · ranges: 0.2 < mean_iou <= 0.5 · arithmetic: fp - tp > 2
Classes: class == "person" (has one) · class != "person" (has none) · class in ["cat", "dog"]
Per-class counts: fp[person] > 3 · fn["traffic light"] >= 1 · gt.car == 0 (also tp, pred)
Tags and flags: tag == "review" · reviewed · not deleted
File names: file ~ "0000" (contains, any case) · file ~ "*_left.jpg" (glob) · file !~ "aug"
Lists: fp in [1, 2, 3] · tag not in ["ok"]"""

_COLUMN_HELP: dict[str, str] = {
    "file_name": "file name relative to the image folder",
    "file": "file name relative to the image folder",
    "image": "image index (0-based, load order)",
    "n_gt": "ground-truth boxes",
    "n_pred": "predictions kept by the score threshold",
    "tp": "true positives",
    "fp": "false positives",
    "fn": "missed ground-truth boxes",
    "mean_iou": "per-image IoU (0..1)",
    "loss": "per-image loss",
    "ap": "COCO AP of the image",
    "ap50": "COCO AP50 of the image",
    "err_cls": "FP: right place, wrong class",
    "err_loc": "FP: right class, poorly placed",
    "err_both": "FP: wrong class and poorly placed",
    "err_dupe": "FP: duplicate of a matched prediction",
    "err_bkg": "FP: on background",
    "err_miss": "missed objects no prediction came close to",
    "label_quality": "label-quality score (low = likely mislabeled)",
    "n_overlooked": "suspected missing labels",
    "n_swap": "suspected wrong classes",
    "n_badloc": "suspected badly placed boxes",
    "reviewed": "marked reviewed",
    "deleted": "deleted sample",
    "class": "classes of the ground-truth boxes (a set)",
    "pred_class": "classes of the kept predictions (a set)",
    "tag": "the image's tags (a set)",
    "confusion": "class confusions, true→predicted",
}


# =========================================================================== errors
class QueryError(ValueError):
    """A bad expression: ``message`` about the text at ``start``:``end``.

    ``kind`` is ``"syntax"``, ``"name"`` (unknown column/class), ``"type"`` or
    ``"limit"``; ``suggestion`` is a likely intended name or ``None``.
    ``str(error)`` reads ``"unknown column 'mea_iou' at 0-7, did you mean mean_iou?"``.
    """

    def __init__(self, message: str, start: int, end: int, *, suggestion: str | None = None,
                 kind: str = "syntax") -> None:
        self.message = message
        self.start = int(start)
        self.end = int(max(end, start))
        self.suggestion = suggestion
        self.kind = kind
        super().__init__(self._text())

    def _text(self) -> str:
        s = f"{self.message} at {self.start}-{self.end}"
        return s + (f", did you mean {self.suggestion}?" if self.suggestion else "")

    def __str__(self) -> str:
        return self._text()

    def pointer(self, text: str, indent: str = "  ") -> str:
        """Two lines: the expression (one line, cut around the error when long) and
        carets under the bad part."""
        flat = text.replace("\n", " ").replace("\r", " ").replace("\t", " ")
        lo = max(0, self.start - 50)
        hi = min(len(flat), max(self.end, self.start + 1) + 50)
        pre = "…" if lo else ""
        post = "…" if hi < len(flat) else ""
        marks = " " * (len(pre) + self.start - lo) + "^" * max(1, min(self.end, hi) - self.start)
        return f"{indent}{pre}{flat[lo:hi]}{post}\n{indent}{marks}"


# =========================================================================== tokens
@dataclass(frozen=True)
class _Tok:
    kind: str  # num str name kw op arith ( ) [ ] , . raw end err
    text: str
    start: int
    end: int
    value: Any = None
    partial: bool = False  # lenient mode: an unfinished string or subscript


_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUM_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CMP_OPS = frozenset({"<", "<=", ">", ">=", "==", "!="})
_TWO_CHAR = {"<=": "<=", ">=": ">=", "==": "==", "!=": "!=", "!~": "!~"}
_ONE_CHAR_OP = {"<": "<", ">": ">", "=": "==", "~": "~"}
_PUNCT = frozenset("()],.")
_ESCAPES = {"\\": "\\", '"': '"', "'": "'"}
_HINTS = {"&": "use 'and' instead of '&'", "|": "use 'or' instead of '|'",
          "!": "use 'not' instead of '!'"}


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _read_string(text: str, i: int, lenient: bool) -> _Tok:
    quote = text[i]
    out: list[str] = []
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if c == quote:
            return _Tok("str", text[i:j + 1], i, j + 1, "".join(out))
        if c == "\\":
            if j + 1 >= n:
                break
            e = text[j + 1]
            if e not in _ESCAPES:
                if lenient:
                    out.append(e)
                    j += 2
                    continue
                raise QueryError(f"unknown escape '\\{e}' in text (only \\\\, \\\" and \\' "
                                 "are allowed)", j, j + 2)
            out.append(_ESCAPES[e])
            j += 2
            continue
        out.append(c)
        j += 1
    if lenient:
        return _Tok("str", text[i:], i, n, "".join(out), partial=True)
    raise QueryError(f"unterminated text: missing closing {quote}", i, n)


def _tokenize(text: str, lenient: bool = False) -> list[_Tok]:
    """Tokens of ``text`` and a final ``end`` token. ``lenient`` (completion) never
    raises: bad characters become ``err`` tokens, unfinished parts ``partial`` ones."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\f\v":
            i += 1
            continue
        prev = toks[-1] if toks else None
        try:
            if c in "\"'":
                t = _read_string(text, i, lenient)
            elif _is_digit(c) or (c == "." and i + 1 < n and _is_digit(text[i + 1])
                                  and not (prev is not None and prev.kind == "name")):
                m = _NUM_RE.match(text, i)
                assert m is not None
                j = m.end()
                if j < n and (text[j].isalnum() or text[j] in "_."):
                    k = j
                    while k < n and (text[k].isalnum() or text[k] in "_."):
                        k += 1
                    raise QueryError(f"bad number '{text[i:k]}'", i, k)
                t = _Tok("num", text[i:j], i, j, float(text[i:j]))
            elif c.isascii() and (c.isalpha() or c == "_"):
                m = _NAME_RE.match(text, i)
                assert m is not None
                word = m.group(0)
                low = word.lower()
                t = (_Tok("kw", word, i, m.end(), low) if low in _KEYWORDS
                     else _Tok("name", word, i, m.end(), word))
            elif c == "[" and prev is not None and prev.kind == "name":
                toks.extend(_subscript(text, i, lenient))
                i = toks[-1].end
                continue
            elif text.startswith(tuple(_TWO_CHAR), i):
                op = _TWO_CHAR[text[i:i + 2]]
                t = _Tok("op", text[i:i + 2], i, i + 2, op)
            elif c in _ONE_CHAR_OP:
                t = _Tok("op", c, i, i + 1, _ONE_CHAR_OP[c])
            elif c in "+-*/":
                t = _Tok("arith", c, i, i + 1, c)
            elif c in _PUNCT or c == "[":
                t = _Tok(c, c, i, i + 1, c)
            elif c in _HINTS:
                j = i + 2 if text.startswith(c * 2, i) and c != "!" else i + 1
                raise QueryError(_HINTS[c], i, j)
            else:
                shown = c if c.isprintable() else f"\\u{ord(c):04x}"
                hint = "; quote names and text" if not c.isascii() or c in "$@`#" else ""
                raise QueryError(f"unexpected character '{shown}'{hint}", i, i + 1)
        except QueryError as exc:
            if not lenient:
                raise
            t = _Tok("err", text[exc.start:exc.end], exc.start, max(exc.end, i + 1))
        toks.append(t)
        i = t.end
    toks.append(_Tok("end", "", n, n))
    return toks


def _subscript(text: str, i: int, lenient: bool) -> list[_Tok]:
    """``[`` after a name: the class between the brackets, raw or quoted."""
    n = len(text)
    out = [_Tok("[", "[", i, i + 1, "[")]
    j = i + 1
    while j < n and text[j] in " \t":
        j += 1
    if j < n and text[j] in "\"'":
        s = _read_string(text, j, lenient)
        out.append(s)
        k = s.end
        while k < n and text[k] in " \t":
            k += 1
        if k < n and text[k] == "]":
            out.append(_Tok("]", "]", k, k + 1, "]"))
        elif not lenient and not s.partial:
            raise QueryError("expected ']' after the class name", k, min(k + 1, n))
        return out
    close = text.find("]", i + 1)
    if close < 0:
        if lenient:
            raw = text[j:]
            out.append(_Tok("raw", raw, j, n, raw.strip(), partial=True))
            return out
        raise QueryError("missing ']' for this '['", i, i + 1)
    raw = text[i + 1:close]
    lead = len(raw) - len(raw.lstrip())
    name = raw.strip()
    out.append(_Tok("raw", name, i + 1 + lead, i + 1 + lead + len(name), name))
    out.append(_Tok("]", "]", close, close + 1, "]"))
    return out


# =========================================================================== tree
@dataclass(frozen=True)
class _Node:
    start: int
    end: int


@dataclass(frozen=True)
class _Lit(_Node):
    value: float | str | bool


@dataclass(frozen=True)
class _Ref(_Node):
    name: str


@dataclass(frozen=True)
class _Count(_Node):
    kind: str  # as typed
    cls: str
    cls_start: int
    cls_end: int


@dataclass(frozen=True)
class _Neg(_Node):
    operand: _Node


@dataclass(frozen=True)
class _Arith(_Node):
    operands: tuple[_Node, ...]
    ops: tuple[str, ...]
    op_spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _Compare(_Node):
    operands: tuple[_Node, ...]
    ops: tuple[str, ...]
    op_spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class _InList(_Node):
    subject: _Node
    items: tuple[_Lit, ...]
    negated: bool


@dataclass(frozen=True)
class _Match(_Node):
    subject: _Node
    pattern: _Node
    negated: bool


@dataclass(frozen=True)
class _Not(_Node):
    operand: _Node


@dataclass(frozen=True)
class _BoolOp(_Node):
    op: str
    operands: tuple[_Node, ...]


def _describe(t: _Tok) -> str:
    if t.kind == "end":
        return "the end of the expression"
    return f"'{t.text}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def at_kw(self, word: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "kw" and t.value == word

    # ------------------------------------------------------------ entry points
    def query(self) -> _Node | None:
        if self.peek().kind == "end":
            return None
        e = self.or_()
        self._expect_end()
        return e

    def value(self) -> _Node:
        if self.peek().kind == "end":
            raise QueryError("expected a value (a column, a number or text)", 0, 0)
        e = self.sum()
        self._expect_end()
        return e

    def _expect_end(self) -> None:
        t = self.peek()
        if t.kind == "end":
            return
        if t.kind == ")":
            raise QueryError("unmatched ')'", t.start, t.end)
        if t.kind in ("name", "num", "str", "(") or (t.kind == "kw" and t.value in
                                                       ("true", "false", "not")):
            raise QueryError(f"expected 'and' or 'or' before {_describe(t)}", t.start, t.end)
        raise QueryError(f"unexpected {_describe(t)}", t.start, t.end)

    # ------------------------------------------------------------ boolean levels
    def or_(self) -> _Node:
        items = [self.and_()]
        while self.at_kw("or"):
            self.take()
            items.append(self.and_())
        if len(items) == 1:
            return items[0]
        return _BoolOp(items[0].start, items[-1].end, "or", tuple(items))

    def and_(self) -> _Node:
        items = [self.not_()]
        while self.at_kw("and"):
            self.take()
            items.append(self.not_())
        if len(items) == 1:
            return items[0]
        return _BoolOp(items[0].start, items[-1].end, "and", tuple(items))

    def not_(self) -> _Node:
        nots: list[_Tok] = []
        while self.at_kw("not"):
            nots.append(self.take())
        e = self.test()
        if len(nots) % 2:
            return _Not(nots[0].start, e.end, e)
        return e

    def test(self) -> _Node:
        left = self.sum()
        t = self.peek()
        if t.kind == "op" and t.value in _CMP_OPS:
            operands, ops, spans = [left], [], []
            while self.peek().kind == "op" and self.peek().value in _CMP_OPS:
                o = self.take()
                ops.append(o.value)
                spans.append((o.start, o.end))
                operands.append(self.sum())
            return _Compare(left.start, operands[-1].end, tuple(operands), tuple(ops),
                            tuple(spans))
        if t.kind == "op" and t.value in ("~", "!~"):
            self.take()
            pat = self.sum()
            return _Match(left.start, pat.end, left, pat, t.value == "!~")
        if self.at_kw("in") or (self.at_kw("not") and self.at_kw("in", 1)):
            negated = self.at_kw("not")
            if negated:
                self.take()
            self.take()
            items, end = self.list_()
            return _InList(left.start, end, left, items, negated)
        if self.at_kw("not"):
            n = self.peek()
            raise QueryError("expected 'in' after 'not' (x not in [...])", n.start, n.end)
        return left

    def list_(self) -> tuple[tuple[_Lit, ...], int]:
        t = self.take()
        if t.kind != "[":
            raise QueryError(f"expected a list like [1, 2] after 'in', got {_describe(t)}",
                             t.start, t.end)
        items: list[_Lit] = []
        while True:
            t = self.peek()
            if t.kind == "]":
                self.take()
                return tuple(items), t.end
            items.append(self._literal())
            t = self.take()
            if t.kind == "]":
                return tuple(items), t.end
            if t.kind != ",":
                if t.kind == "end":
                    raise QueryError("missing ']' to close the list", t.start, t.end)
                raise QueryError(f"expected ',' or ']' in the list, got {_describe(t)}",
                                 t.start, t.end)

    def _literal(self) -> _Lit:
        t = self.take()
        if t.kind == "arith" and t.value == "-" and self.peek().kind == "num":
            n = self.take()
            return _Lit(t.start, n.end, -float(n.value))
        if t.kind == "num":
            return _Lit(t.start, t.end, float(t.value))
        if t.kind == "str":
            return _Lit(t.start, t.end, str(t.value))
        if t.kind == "kw" and t.value in ("true", "false"):
            return _Lit(t.start, t.end, t.value == "true")
        if t.kind == "name":
            raise QueryError(f"list items are numbers or quoted text: \"{t.text}\"",
                             t.start, t.end)
        raise QueryError(f"expected a number or quoted text in the list, got {_describe(t)}",
                         t.start, t.end)

    # ------------------------------------------------------------ arithmetic levels
    def sum(self) -> _Node:
        return self._chain(self.product, ("+", "-"))

    def product(self) -> _Node:
        return self._chain(self.unary, ("*", "/"))

    def _chain(self, sub: Callable[[], _Node], ops: tuple[str, ...]) -> _Node:
        first = sub()
        operands, names, spans = [first], [], []
        while self.peek().kind == "arith" and self.peek().value in ops:
            o = self.take()
            names.append(o.value)
            spans.append((o.start, o.end))
            operands.append(sub())
        if len(operands) == 1:
            return first
        return _Arith(first.start, operands[-1].end, tuple(operands), tuple(names), tuple(spans))

    def unary(self) -> _Node:
        signs: list[_Tok] = []
        while self.peek().kind == "arith" and self.peek().value in ("-", "+"):
            signs.append(self.take())
        e = self.atom()
        neg = sum(1 for s in signs if s.value == "-") % 2 == 1
        if not signs:
            return e
        if isinstance(e, _Lit) and isinstance(e.value, float):
            return _Lit(signs[0].start, e.end, -e.value if neg else e.value)
        return _Neg(signs[0].start, e.end, e) if neg else e

    def atom(self) -> _Node:
        t = self.take()
        if t.kind == "num":
            return _Lit(t.start, t.end, float(t.value))
        if t.kind == "str":
            return _Lit(t.start, t.end, str(t.value))
        if t.kind == "kw" and t.value in ("true", "false"):
            return _Lit(t.start, t.end, t.value == "true")
        if t.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QueryError(f"too deeply nested (more than {MAX_DEPTH} parentheses)",
                                 t.start, t.end, kind="limit")
            e = self.or_()
            close = self.peek()
            if close.kind != ")":
                raise QueryError(f"expected ')' to close the '(' at {t.start}, got "
                                 f"{_describe(close)}", close.start, close.end)
            self.take()
            self.depth -= 1
            return e
        if t.kind == "name":
            return self._name(t)
        if t.kind in ("kw", "op", ",", "]", ")", "."):
            raise QueryError(f"expected a value before '{t.text}'", t.start, t.end)
        if t.kind == "end":
            raise QueryError("expected a value (a column, a number or text)",
                             t.start, t.end)
        if t.kind == "[":
            raise QueryError("a list [...] goes after 'in'", t.start, t.end)
        raise QueryError(f"unexpected {_describe(t)}", t.start, t.end)

    def _name(self, t: _Tok) -> _Node:
        nxt = self.peek()
        if nxt.kind == "[":
            self.take()
            c = self.take()
            if c.kind not in ("raw", "str") or not str(c.value):
                end = self.peek().end if self.peek().kind == "]" else max(c.end, nxt.end)
                raise QueryError(f"expected a class name in {t.text}[...]", nxt.start, end)
            close = self.take()
            if close.kind != "]":  # pragma: no cover - the tokenizer guarantees it
                raise QueryError("missing ']'", close.start, close.end)
            return _Count(t.start, close.end, t.text, str(c.value), c.start, c.end)
        if nxt.kind == ".":
            self.take()
            c = self.take()
            if c.kind in ("name", "num", "kw"):
                return _Count(t.start, c.end, t.text, c.text, c.start, c.end)
            end = c.end if c.kind == "end" else max(c.end, c.start + 1)
            raise QueryError(f"expected a class name after '{t.text}.'", c.start, end)
        if nxt.kind == "(":
            raise QueryError(f"there are no functions: '{t.text}(' is not part of the "
                             "language", nxt.start, nxt.end)
        return _Ref(t.start, t.end, t.text)


def _parse(text: str, value: bool = False) -> _Node | None:
    if not isinstance(text, str):
        raise TypeError("the expression must be a str")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"expression too long ({len(text)} characters; the limit is "
                         f"{MAX_LENGTH})", MAX_LENGTH, len(text), kind="limit")
    p = _Parser(text)
    try:
        return p.value() if value else p.query()
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps well below the limit
        raise QueryError("too deeply nested", 0, len(text), kind="limit") from None


# =========================================================================== counts
_Source = tuple[np.ndarray, np.ndarray]  # (image index, class index) of counted boxes


class ClassCounts:
    """Per image, per class box counts: ``gt``, ``pred``, ``tp``, ``fp``, ``fn``.

    Each kind is given as the (image index, class index) columns of the boxes it counts,
    or a callable returning them (computed on first use). A class's column is built on
    demand and cached, so memory stays O(boxes), not O(images x classes).
    """

    def __init__(self, n_images: int, n_classes: int,
                 sources: Mapping[str, _Source | Callable[[], _Source]]) -> None:
        unknown = set(sources) - set(COUNT_KINDS)
        if unknown:
            raise ValueError(f"unknown count kinds {sorted(unknown)}")
        self.n_images = int(n_images)
        self.n_classes = int(n_classes)
        self._sources: dict[str, Any] = dict(sources)
        self._cols: dict[tuple[str, int], np.ndarray] = {}
        self._any: dict[str, np.ndarray] = {}

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in COUNT_KINDS if k in self._sources)

    def _source(self, kind: str) -> _Source:
        src = self._sources[kind]
        if callable(src):
            src = src()
            self._sources[kind] = src
        img, cls = (np.asarray(a, dtype=np.int64) for a in src)
        return img, cls

    def column(self, kind: str, k: int) -> np.ndarray:
        """int64[n_images]: boxes of class ``k`` counted by ``kind`` in each image."""
        key = (kind, int(k))
        col = self._cols.get(key)
        if col is None:
            img, cls = self._source(kind)
            col = np.bincount(img[cls == k], minlength=self.n_images).astype(np.int64)
            self._cols[key] = col
        return col

    def any(self, kind: str) -> np.ndarray:
        """bool[n_images]: images with at least one box counted by ``kind``."""
        col = self._any.get(kind)
        if col is None:
            img, _ = self._source(kind)
            col = np.bincount(img, minlength=self.n_images) > 0
            self._any[kind] = col
        return col

    def dense(self, kind: str) -> np.ndarray:
        """int64[n_images, n_classes] (for small tables and tests)."""
        img, cls = self._source(kind)
        flat = np.bincount(img * self.n_classes + cls,
                           minlength=self.n_images * self.n_classes)
        return flat.reshape(self.n_images, self.n_classes).astype(np.int64)

    # ------------------------------------------------------------------ builders
    @staticmethod
    def from_boxes(gt: Boxes, n_classes: int, preds: Boxes | None = None, *,
                   score_threshold: float = 0.5,
                   outcomes: tuple[np.ndarray, np.ndarray]
                   | Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
                   ) -> ClassCounts:
        """Counts from the box tables and match outcome arrays.

        ``gt`` counts alive non-crowd boxes; ``pred`` alive predictions with ``score >=
        score_threshold``. ``outcomes`` is ``(pred_outcome, gt_matched)`` (or a callable
        giving it): ``pred_outcome`` int per prediction row, 1 = TP, 0 = FP, -1 = neither
        (crowd match, or not kept); ``gt_matched`` bool per ground-truth row. Without
        it only ``gt`` and ``pred`` are available.
        """
        n = gt.n_images
        counted = gt.alive & ~gt.iscrowd
        sources: dict[str, Any] = {"gt": (gt.image[counted], gt.cls[counted])}
        if preds is not None:
            kept = preds.alive & (preds.score >= score_threshold)
            sources["pred"] = (preds.image[kept], preds.cls[kept])
            if outcomes is not None:
                def matched(kind: str) -> Callable[[], _Source]:
                    def get() -> _Source:
                        oc = outcomes() if callable(outcomes) else outcomes
                        assert oc is not None
                        pred_outcome = np.asarray(oc[0])
                        gt_matched = np.asarray(oc[1], dtype=bool)
                        if kind == "fn":
                            sel = counted & ~gt_matched
                            return gt.image[sel], gt.cls[sel]
                        sel = kept & (pred_outcome == (1 if kind == "tp" else 0))
                        return preds.image[sel], preds.cls[sel]
                    return get

                cache: dict[str, Any] = {}
                if callable(outcomes):
                    raw = outcomes

                    def once() -> tuple[np.ndarray, np.ndarray]:
                        if "v" not in cache:
                            cache["v"] = raw()
                        return cache["v"]

                    outcomes = once
                for kind in ("tp", "fp", "fn"):
                    sources[kind] = matched(kind)
        return ClassCounts(n, n_classes, sources)

    @staticmethod
    def from_metrics(pim: PerImageMetrics) -> ClassCounts:
        """Counts of a :class:`~detview.core.metrics.PerImageMetrics` (its run, score and
        IoU thresholds). ``tp``/``fp``/``fn`` are matched on first use, through the
        public ``image_result``."""
        ds = pim.dataset
        preds = pim.preds

        def outcomes() -> tuple[np.ndarray, np.ndarray]:
            assert preds is not None
            pred_outcome = np.full(len(preds), -1, dtype=np.int8)
            gt_matched = np.zeros(len(ds.gt), dtype=bool)
            for i in range(ds.n_images):
                r = pim.image_result(i)
                pred_outcome[r.pred_rows] = r.match.pred_outcome
                gt_matched[r.gt_rows] = r.match.gt_pred >= 0
            return pred_outcome, gt_matched

        return ClassCounts.from_boxes(ds.gt, len(ds.classes), preds,
                                      score_threshold=pim.params.score_threshold,
                                      outcomes=outcomes if preds is not None else None)


# =========================================================================== table
_NUM, _BOOL, _STR, _SET = "number", "flag", "text", "set"
_SETS = {"class": "gt", "pred_class": "pred", "tag": "tag", "tags": "tag"}
_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class QueryTable:
    """The rows a query runs over: named columns plus what the sets and counts need.

    ``columns``: name -> one value per row (numbers, booleans or text; other columns
    and names that are not identifiers are left out). ``image``: the image index of
    each row (default ``0..n-1``); ``counts`` (per image index), ``tags`` (one set per
    image index) and ``class_names`` feed ``class``, ``pred_class``, ``tag`` and
    ``fp[c]``. ``unavailable``: name -> why it is not here (an error says so instead
    of "unknown column"), e.g. ``{"err_cls": "add --more"}``.
    """

    def __init__(self, columns: Mapping[str, Any], *, image: Any = None,
                 class_names: Sequence[str] = (), counts: ClassCounts | None = None,
                 tags: Sequence[Iterable[str]] | None = None,
                 unavailable: Mapping[str, str] | None = None,
                 help: Mapping[str, str] | None = None) -> None:
        self._cols: dict[str, np.ndarray] = {}
        self._types: dict[str, str] = {}
        n: int | None = None
        for name, values in columns.items():
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise ValueError(f"column {name!r} is not one-dimensional")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(f"column {name!r}: {arr.shape[0]} values, expected {n}")
            if not _NAME_OK.match(str(name)) or str(name).lower() in _KEYWORDS:
                continue
            if arr.dtype.kind == "b":
                typ = _BOOL
            elif arr.dtype.kind in "iuf":
                typ = _NUM
            elif arr.dtype.kind == "U":  # already text (file names): no None, no NaN
                typ = _STR
                arr = arr.astype(object)
            elif arr.dtype.kind in "OST":
                typ = _STR
                arr = np.array(["" if v is None or (isinstance(v, float) and math.isnan(v))
                                else str(v) for v in arr.tolist()], dtype=object)
            else:
                continue
            self._cols[str(name)] = arr
            self._types[str(name)] = typ
        if image is not None:
            img = np.asarray(image, dtype=np.int64)
            if n is not None and img.shape != (n,):
                raise ValueError(f"image: {img.shape[0]} values, expected {n}")
            n = img.shape[0]
        self.n_rows = int(n or 0)
        self.image = np.arange(self.n_rows, dtype=np.int64) if image is None else img
        self.class_names = tuple(str(c) for c in class_names)
        self.counts = counts
        self._tags = None if tags is None else [frozenset(t) for t in tags]
        self.unavailable = dict(unavailable or {})
        self.help = {**_COLUMN_HELP, **dict(help or {})}
        self._lower: dict[str, np.ndarray] = {}
        self._tag_index: dict[str, np.ndarray] | None = None
        self._class_index = {c: k for k, c in enumerate(self.class_names)}

    # ------------------------------------------------------------------ builders
    @staticmethod
    def from_frame(df: pd.DataFrame, *, images: Images | None = None,
                   class_names: Sequence[str] = (), counts: ClassCounts | None = None,
                   unavailable: Mapping[str, str] | None = None) -> QueryTable:
        """From a per-image table whose index is the image index (``PerImageMetrics.
        table()`` and its extra columns); ``images`` adds ``reviewed``, ``deleted``
        (unless a column has it) and the tags."""
        cols: dict[str, Any] = {c: df[c].to_numpy() for c in df.columns if isinstance(c, str)}
        idx = df.index.to_numpy()
        image = idx.astype(np.int64) if idx.dtype.kind in "iu" else np.arange(len(df))
        tags = None
        if images is not None:
            cols.setdefault("reviewed", images.reviewed[image])
            cols.setdefault("deleted", images.deleted[image])
            tags = images.tags
        return QueryTable(cols, image=image, class_names=class_names, counts=counts,
                          tags=tags, unavailable=unavailable)

    # ------------------------------------------------------------------ schema
    def __len__(self) -> int:
        return self.n_rows

    @property
    def columns(self) -> dict[str, str]:
        """Column name -> ``"number"``, ``"flag"`` or ``"text"``."""
        return dict(self._types)

    def names(self) -> dict[str, str]:
        """Every name a query may use -> its type (``"set"`` for class/tag sets)."""
        out = dict(self._types)
        if "file_name" in out:
            out.setdefault("file", _STR)
        out.setdefault("image", _NUM)
        if self.counts is not None:
            out.setdefault("class", _SET)
            if "pred" in self.counts.kinds:
                out.setdefault("pred_class", _SET)
        if self._tags is not None:
            out.setdefault("tag", _SET)
        return out

    def count_kinds(self) -> tuple[str, ...]:
        return () if self.counts is None else self.counts.kinds

    def tags(self) -> list[str]:
        """All tags in use, sorted."""
        return sorted(self._tag_idx())

    # ------------------------------------------------------------------ values
    def column(self, name: str) -> np.ndarray:
        if name == "file" and "file" not in self._cols:
            name = "file_name"
        if name == "image" and "image" not in self._cols:
            return self.image
        return self._cols[name]

    def lower(self, name: str) -> np.ndarray:
        """A text column in lower case, as a numpy unicode array (cached)."""
        col = self._lower.get(name)
        if col is None:
            col = np.array([s.lower() for s in self.column(name).tolist()], dtype=str)
            if col.dtype.kind != "U":  # an empty table
                col = col.astype("U1")
            self._lower[name] = col
        return col

    def _tag_idx(self) -> dict[str, np.ndarray]:
        if self._tag_index is None:
            acc: dict[str, list[int]] = {}
            for i, ts in enumerate(self._tags or ()):
                for t in ts:
                    acc.setdefault(t, []).append(i)
            self._tag_index = {t: np.asarray(v, dtype=np.int64) for t, v in acc.items()}
        return self._tag_index

    def _per_image(self, values: np.ndarray) -> np.ndarray:
        return values[self.image]

    def has_tag(self, tag: str) -> np.ndarray:
        idx = self._tag_idx().get(tag)
        n_img = len(self._tags or ())
        m = np.zeros(max(n_img, int(self.image.max()) + 1 if self.n_rows else 0), dtype=bool)
        if idx is not None:
            m[idx] = True
        return self._per_image(m)

    def any_tag(self) -> np.ndarray:
        n_img = len(self._tags or ())
        m = np.zeros(max(n_img, int(self.image.max()) + 1 if self.n_rows else 0), dtype=bool)
        for idx in self._tag_idx().values():
            m[idx] = True
        return self._per_image(m)

    def count_column(self, kind: str, k: int) -> np.ndarray:
        assert self.counts is not None
        return self._per_image(self.counts.column(kind, k))

    def any_box(self, kind: str) -> np.ndarray:
        assert self.counts is not None
        return self._per_image(self.counts.any(kind))


# =========================================================================== binding
Evaluator = Callable[[QueryTable], Any]


@dataclass(frozen=True)
class _Bound:
    typ: str
    ev: Evaluator
    node: _Node
    const: bool = False
    set_kind: str = ""  # "gt" | "pred" | "tag" for sets


_TYPE_WORD = {_NUM: "a number", _BOOL: "a yes/no flag", _STR: "text", _SET: "a set"}


def _suggest(word: str, options: Iterable[str]) -> str | None:
    opts = list(options)
    low = {o.lower(): o for o in opts}
    if word.lower() in low:
        return low[word.lower()]
    hit = difflib.get_close_matches(word.lower(), list(low), n=1, cutoff=0.6)
    return low[hit[0]] if hit else None


def _as_float(a: Any) -> Any:
    """A scalar as np.float64, an array as float64 (no copy when it is one)."""
    if np.isscalar(a):
        return np.float64(cast(Any, a))
    return np.asarray(a).astype(np.float64, copy=False)


def _ieee_div(a: Any, b: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.divide(_as_float(a), _as_float(b))


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: np.multiply(a, b),
    "/": _ieee_div,
}
_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _glob_regex(pat: str) -> re.Pattern[str]:
    """The glob as a regular expression. ``fnmatch.translate`` builds it so that a run of
    stars cannot backtrack catastrophically; ``[`` is literal here."""
    return re.compile(fnmatch.translate(pat.replace("[", "[[]")), re.DOTALL)


_STRINGS = getattr(np, "strings", None)  # numpy >= 2: vectorised string ufuncs


def _text_matches(values_lower: np.ndarray, pattern: str) -> np.ndarray:
    """``values_lower`` (a numpy unicode array, lower case) containing ``pattern``
    (any case), or matching it as a glob when it has ``*`` or ``?``."""
    pat = pattern.lower()
    if "?" in pat or ("*" in pat and _STRINGS is None):
        s = pd.Series(values_lower.astype(object), dtype=object)
        return s.str.match(_glob_regex(pat)).to_numpy(bool)
    if "*" not in pat:
        return np.char.find(values_lower, pat) >= 0
    # "*" only: the head must start the name, the tail end it, the middle parts follow
    # in order (leftmost match each: linear, no backtracking)
    parts = pat.split("*")
    head, tail, mids = parts[0], parts[-1], parts[1:-1]
    assert _STRINGS is not None
    ok = _STRINGS.startswith(values_lower, head)
    pos = np.full(values_lower.shape, len(head), dtype=np.int64)
    for seg in mids:
        if not seg:
            continue
        at = _STRINGS.find(values_lower, seg, pos)
        ok &= at >= 0
        pos = np.where(at >= 0, at + len(seg), pos)
    ok &= _STRINGS.endswith(values_lower, tail)
    ok &= _STRINGS.str_len(values_lower) - len(tail) >= pos
    return ok


def _members_matching(members: Iterable[str], pattern: str) -> list[str]:
    pat = pattern.lower()
    glob = "*" in pat or "?" in pat
    rx = _glob_regex(pat) if glob else None
    return [m for m in members if (rx.match(m.lower()) is not None if rx else pat in m.lower())]


def _rows(t: QueryTable, value: Any) -> np.ndarray:
    """A boolean mask over the rows from an array or a constant."""
    if isinstance(value, np.ndarray) and value.shape == (t.n_rows,):
        return value.astype(bool, copy=False)
    return np.full(t.n_rows, bool(value), dtype=bool)


class _Binder:
    def __init__(self, table: QueryTable, text: str) -> None:
        self.t = table
        self._text = text
        self.names = table.names()
        self.used: set[str] = set()
        self.classes: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def cls_index(self, name: str, start: int, end: int) -> int:
        idx = self.t._class_index
        if name in idx:
            self.classes.add(name)
            return idx[name]
        folded = [c for c in self.t.class_names if c.lower() == name.lower()]
        if len(folded) == 1:
            self.classes.add(folded[0])
            return idx[folded[0]]
        if not self.t.class_names:
            raise QueryError(f"unknown class '{name}' (this dataset has no class names)",
                             start, end, kind="name")
        raise QueryError(f"unknown class '{name}'", start, end,
                         suggestion=_suggest(name, self.t.class_names), kind="name")

    def boolish(self, b: _Bound, what: str) -> Evaluator:
        if b.typ == _BOOL:
            return b.ev
        if b.typ == _SET:
            return self.set_any(b)
        n = b.node
        shown = f"'{self._src(n)}'"
        hint = ""
        if b.typ == _NUM:
            hint = f": compare it, e.g. {self._src(n)} > 0"
        elif b.typ == _STR:
            hint = f": compare it, e.g. {self._src(n)} ~ \"text\""
        raise QueryError(f"{shown} is {_TYPE_WORD[b.typ]}, not a condition{what}{hint}",
                         n.start, n.end, kind="type")

    def _src(self, n: _Node) -> str:
        s = self._text[n.start:n.end]
        return s if len(s) <= 40 else s[:37] + "..."

    def set_any(self, b: _Bound) -> Evaluator:
        if b.set_kind == "tag":
            return lambda t: t.any_tag()
        kind = b.set_kind
        return lambda t: t.any_box(kind)

    def set_has(self, b: _Bound, member: str, start: int, end: int) -> Evaluator:
        if b.set_kind == "tag":
            return lambda t: t.has_tag(member)
        k = self.cls_index(member, start, end)
        kind = b.set_kind
        return lambda t: t.count_column(kind, k) > 0

    # ------------------------------------------------------------------ nodes
    def bind(self, n: _Node) -> _Bound:
        if isinstance(n, _Lit):
            v = n.value
            typ = _BOOL if isinstance(v, bool) else _NUM if isinstance(v, float) else _STR
            def const(_t: QueryTable, v: Any = v) -> Any:
                return v

            return _Bound(typ, const, n, const=True)
        if isinstance(n, _Ref):
            return self.ref(n)
        if isinstance(n, _Count):
            return self.count(n)
        if isinstance(n, _Neg):
            b = self.bind(n.operand)
            self.need_num(b, "'-'")
            f = b.ev
            # as floats: -0 stays -0.0 (1 / -fp is -inf where fp == 0)
            return _Bound(_NUM, lambda t: -np.asarray(f(t), dtype=np.float64), n)
        if isinstance(n, _Arith):
            return self.arith(n)
        if isinstance(n, _Compare):
            return self.compare(n)
        if isinstance(n, _InList):
            return self.in_list(n)
        if isinstance(n, _Match):
            return self.match(n)
        if isinstance(n, _Not):
            f = self.boolish(self.bind(n.operand), " after 'not'")
            return _Bound(_BOOL, lambda t: ~_rows(t, f(t)), n)
        if isinstance(n, _BoolOp):
            fs = [self.boolish(self.bind(o), f" for '{n.op}'") for o in n.operands]
            if n.op == "and":
                def all_(t: QueryTable) -> np.ndarray:
                    out = _rows(t, fs[0](t)).copy()
                    for f in fs[1:]:
                        out &= _rows(t, f(t))
                    return out
                return _Bound(_BOOL, all_, n)

            def any_(t: QueryTable) -> np.ndarray:
                out = _rows(t, fs[0](t)).copy()
                for f in fs[1:]:
                    out |= _rows(t, f(t))
                return out
            return _Bound(_BOOL, any_, n)
        raise AssertionError(type(n))  # pragma: no cover

    def need_num(self, b: _Bound, what: str) -> None:
        if b.typ != _NUM:
            n = b.node
            raise QueryError(f"{what} needs numbers; '{self._src(n)}' is {_TYPE_WORD[b.typ]}",
                             n.start, n.end, kind="type")

    def ref(self, n: _Ref) -> _Bound:
        name = n.name
        typ = self.names.get(name)
        if typ is None:
            if name in self.t.unavailable:
                raise QueryError(f"column '{name}' is not available "
                                 f"({self.t.unavailable[name]})", n.start, n.end, kind="name")
            kind = _KIND_ALIASES.get(name, name)
            if kind in COUNT_KINDS:
                raise QueryError(f"'{name}' needs a class: {name}[person]", n.start, n.end,
                                 kind="name")
            if name in _SETS or name == "file":
                raise QueryError(f"'{name}' is not available for this table", n.start, n.end,
                                 kind="name")
            options = list(self.names) + list(self.t.unavailable)
            raise QueryError(f"unknown column '{name}'", n.start, n.end,
                             suggestion=_suggest(name, options), kind="name")
        self.used.add("file_name" if name == "file" and "file" not in self.t.columns else name)
        if typ == _SET:
            return _Bound(_SET, lambda t: None, n, set_kind=_SETS[name])
        return _Bound(typ, lambda t: t.column(name), n)

    def count(self, n: _Count) -> _Bound:
        kind = _KIND_ALIASES.get(n.kind, n.kind)
        if kind not in COUNT_KINDS:
            sug = _suggest(kind, list(COUNT_KINDS))
            raise QueryError(f"'{n.kind}' has no per-class values; per-class counts are "
                             f"{', '.join(COUNT_KINDS)}", n.start, n.cls_start - 1,
                             suggestion=sug if sug and sug != kind else None, kind="name")
        if kind not in self.t.count_kinds():
            why = ("needs a prediction run" if kind != "gt" else "is not available here")
            raise QueryError(f"per-class '{n.kind}[...]' {why}", n.start, n.end, kind="name")
        k = self.cls_index(n.cls, n.cls_start, n.cls_end)
        self.used.add(f"{kind}[{self.t.class_names[k]}]")
        return _Bound(_NUM, lambda t: t.count_column(kind, k), n)

    def arith(self, n: _Arith) -> _Bound:
        bs = [self.bind(o) for o in n.operands]
        for k, b in enumerate(bs):
            self.need_num(b, f"'{n.ops[max(k - 1, 0)]}'")
        fs = [b.ev for b in bs]
        ops = [_ARITH[o] for o in n.ops]

        def ev(t: QueryTable) -> Any:
            acc = fs[0](t)
            acc = _as_float(acc)
            with np.errstate(all="ignore"):
                for op, f in zip(ops, fs[1:], strict=True):
                    acc = op(acc, f(t))
            return acc
        return _Bound(_NUM, ev, n, const=all(b.const for b in bs))

    def compare(self, n: _Compare) -> _Bound:
        bs = [self.bind(o) for o in n.operands]
        if len(bs) > 2 and any(b.typ != _NUM for b in bs):
            bad = next(b for b in bs if b.typ != _NUM)
            raise QueryError("chained comparisons work on numbers only", bad.node.start,
                             bad.node.end, kind="type")
        parts: list[Evaluator] = []
        for (a, b), op, span in zip(zip(bs, bs[1:], strict=False), n.ops, n.op_spans,
                                    strict=True):
            parts.append(self.compare_pair(a, b, op, span))
        if len(parts) == 1:
            return _Bound(_BOOL, parts[0], n)

        def chain(t: QueryTable) -> np.ndarray:
            out = _rows(t, parts[0](t)).copy()
            for p in parts[1:]:
                out &= _rows(t, p(t))
            return out
        return _Bound(_BOOL, chain, n)

    def compare_pair(self, a: _Bound, b: _Bound, op: str, span: tuple[int, int]) -> Evaluator:
        if b.typ == _SET and a.typ != _SET:
            a, b = b, a
        if a.typ == _SET:
            if b.typ != _STR or not b.const:
                raise QueryError(f"'{self._src(a.node)}' compares with a quoted name, e.g. "
                                 f"{self._src(a.node)} == \"person\"", b.node.start, b.node.end,
                                 kind="type")
            if op not in ("==", "!="):
                raise QueryError(f"'{op}' does not apply to a set; use ==, !=, ~ or in",
                                 span[0], span[1], kind="type")
            lit = b.node
            assert isinstance(lit, _Lit)
            has = self.set_has(a, str(lit.value), lit.start, lit.end)
            if op == "==":
                return has
            return lambda t: ~_rows(t, has(t))
        if a.typ != b.typ:
            if {a.typ, b.typ} == {_NUM, _STR} and (a.typ == _STR and a.const or
                                                   b.typ == _STR and b.const):
                raise QueryError(f"cannot compare {_TYPE_WORD[a.typ]} with "
                                 f"{_TYPE_WORD[b.typ]}", a.node.start, b.node.end, kind="type")
            raise QueryError(f"cannot compare {_TYPE_WORD[a.typ]} ('{self._src(a.node)}') "
                             f"with {_TYPE_WORD[b.typ]} ('{self._src(b.node)}')",
                             a.node.start, b.node.end, kind="type")
        if a.typ in (_BOOL, _STR) and op not in ("==", "!="):
            alt = "use ==, !=, ~ or in" if a.typ == _STR else "use == or !="
            raise QueryError(f"'{op}' compares numbers; for {_TYPE_WORD[a.typ]} {alt}",
                             span[0], span[1], kind="type")
        fa, fb, cmp = a.ev, b.ev, _CMP[op]

        def ev(t: QueryTable) -> Any:
            with np.errstate(invalid="ignore"):
                return cmp(fa(t), fb(t))
        return ev

    def in_list(self, n: _InList) -> _Bound:
        s = self.bind(n.subject)
        items = n.items
        neg = n.negated
        if s.typ == _SET:
            for it in items:
                if not isinstance(it.value, str):
                    raise QueryError("list items for a set are quoted names", it.start, it.end,
                                     kind="type")
            fs = [self.set_has(s, str(it.value), it.start, it.end) for it in items]

            def ev_set(t: QueryTable) -> np.ndarray:
                out = np.zeros(t.n_rows, dtype=bool)
                for f in fs:
                    out |= _rows(t, f(t))
                return ~out if neg else out
            return _Bound(_BOOL, ev_set, n)
        want = {_NUM: float, _STR: str, _BOOL: bool}[s.typ]
        for it in items:
            ok = isinstance(it.value, want) and not (want is float and isinstance(it.value, bool))
            if not ok:
                raise QueryError(f"'{self._src(n.subject)}' is {_TYPE_WORD[s.typ]}; this list "
                                 f"item is {_TYPE_WORD[_BOOL if isinstance(it.value, bool) else _NUM if isinstance(it.value, float) else _STR]}",  # noqa: E501
                                 it.start, it.end, kind="type")
        values = [it.value for it in items]
        f = s.ev

        def ev(t: QueryTable) -> Any:
            v = f(t)
            hit: Any
            if np.isscalar(v):
                hit = v in values
            elif s.typ == _STR:
                hit = pd.Series(v, dtype=object).isin(values).to_numpy(bool)
            else:
                hit = np.isin(v, np.asarray(values, dtype=v.dtype if s.typ == _BOOL
                                            else np.float64))
            return ~_rows(t, hit) if neg else hit
        return _Bound(_BOOL, ev, n)

    def match(self, n: _Match) -> _Bound:
        s = self.bind(n.subject)
        p = n.pattern
        if not (isinstance(p, _Lit) and isinstance(p.value, str)):
            raise QueryError("'~' needs a quoted pattern, e.g. file ~ \"0000\"", p.start, p.end,
                             kind="type")
        pat = p.value
        neg = n.negated
        if s.typ == _SET:
            if s.set_kind == "tag":
                def ev_tag(t: QueryTable) -> np.ndarray:
                    out = np.zeros(t.n_rows, dtype=bool)
                    for tag in _members_matching(t.tags(), pat):
                        out |= t.has_tag(tag)
                    return ~out if neg else out
                return _Bound(_BOOL, ev_tag, n)
            names = _members_matching(self.t.class_names, pat)
            kind = s.set_kind
            ks = [self.t._class_index[c] for c in names]

            def ev_cls(t: QueryTable) -> np.ndarray:
                out = np.zeros(t.n_rows, dtype=bool)
                for k in ks:
                    out |= t.count_column(kind, k) > 0
                return ~out if neg else out
            return _Bound(_BOOL, ev_cls, n)
        if s.typ != _STR:
            raise QueryError(f"'~' matches text; '{self._src(n.subject)}' is "
                             f"{_TYPE_WORD[s.typ]}", n.subject.start, n.subject.end, kind="type")
        subj = n.subject
        if isinstance(subj, _Ref):
            col = subj.name

            def ev(t: QueryTable) -> np.ndarray:
                hit = _text_matches(t.lower(col), pat)
                return ~hit if neg else hit
            return _Bound(_BOOL, ev, n)
        f = s.ev

        def ev_const(t: QueryTable) -> Any:
            v = str(f(t)).lower()
            hit = bool(_text_matches(np.array([v], dtype=str), pat)[0])
            return (not hit) if neg else hit
        return _Bound(_BOOL, ev_const, n)


# =========================================================================== queries
@dataclass(frozen=True)
class Query:
    """A checked expression. ``mask(table)`` evaluates it on a table with the same
    columns (values may have changed since it was compiled)."""

    text: str
    columns: frozenset[str]  # names used (``fp[person]`` for counts)
    classes: frozenset[str]
    _ev: Evaluator | None = field(repr=False, compare=False)

    @property
    def is_empty(self) -> bool:
        return self._ev is None

    def mask(self, table: QueryTable) -> np.ndarray:
        """bool[len(table)]: the rows that match."""
        if self._ev is None:
            return np.ones(table.n_rows, dtype=bool)
        try:
            out = self._ev(table)
        except KeyError as exc:  # the table lost a column since compile time
            raise QueryError(f"column {exc.args[0]!r} is not in this table", 0, len(self.text),
                             kind="name") from None
        return np.array(_rows(table, out), dtype=bool, copy=True)

    def rows(self, table: QueryTable) -> np.ndarray:
        """int64 row positions that match, ascending."""
        return np.flatnonzero(self.mask(table))


def compile_query(text: str, table: QueryTable) -> Query:
    """Parse and check ``text`` against ``table``; raises :class:`QueryError`.

    Empty (or blank) text matches every row.
    """
    node = _parse(text)
    if node is None:
        return Query(text, frozenset(), frozenset(), None)
    b = _Binder(table, text)
    root = b.bind(node)
    ev = b.boolish(root, "")
    return Query(text, frozenset(b.used), frozenset(b.classes), ev)


def filter_rows(text: str, table: QueryTable) -> np.ndarray:
    """``compile_query(text, table).mask(table)``."""
    return compile_query(text, table).mask(table)


@dataclass(frozen=True)
class ValueExpr:
    """A checked value expression (a sort key): ``fp``, ``fp[person]``, ``fp - tp``."""

    text: str
    type: str  # "number" | "flag" | "text"
    _ev: Evaluator = field(repr=False, compare=False)

    def values(self, table: QueryTable) -> np.ndarray:
        v = self._ev(table)
        if np.isscalar(v) or (isinstance(v, np.ndarray) and v.ndim == 0):
            return np.full(table.n_rows, v)
        return np.asarray(v)


def compile_value(text: str, table: QueryTable) -> ValueExpr:
    """A value expression over ``table`` (no comparisons); raises :class:`QueryError`."""
    node = _parse(text, value=True)
    assert node is not None
    b = _Binder(table, text)
    bound = b.bind(node)
    if bound.typ == _SET:
        raise QueryError(f"'{text.strip()}' is a set; sort by a column", node.start, node.end,
                         kind="type")
    return ValueExpr(text, bound.typ, bound.ev)


def sort_rows(table: QueryTable, rows: np.ndarray | None,
              sort: Sequence[tuple[str, bool]]) -> np.ndarray:
    """``rows`` (default: all) ordered by ``sort`` keys ``(value expression, ascending)``,
    first key first; stable; NaN last either way; text case-insensitively."""
    idx = np.arange(table.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    keys: list[np.ndarray] = []
    for expr, ascending in sort:
        ve = compile_value(expr, table)
        v = ve.values(table)[idx]
        if ve.type == _STR:
            _, inv = np.unique(np.array([s.lower() for s in v.tolist()], dtype=object),
                               return_inverse=True)
            k = inv.astype(np.float64)
            keys.append(np.zeros(idx.shape[0]))
            keys.append(k if ascending else -k)
        else:
            k = v.astype(np.float64)
            nan = np.isnan(k)
            keys.append(nan.astype(np.int8))
            keys.append(np.where(nan, 0.0, k if ascending else -k))
    if not keys:
        return idx
    # np.lexsort sorts by the last key first
    order = np.lexsort(tuple(reversed(keys)))
    return idx[order]


# =========================================================================== views
@dataclass(frozen=True)
class SavedView:
    """A named view of the image list: a query and a sort.

    ``sort``: ``(value expression, ascending)`` pairs, first key first. Serialised as
    ``{"name", "expression", "sort": [{"key", "ascending"}]}``.
    """

    name: str
    expression: str = ""
    sort: tuple[tuple[str, bool], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("a view needs a name")
        if not isinstance(self.expression, str):
            raise ValueError(f"view {self.name!r}: the expression must be text")
        object.__setattr__(self, "sort", tuple((str(k), bool(a)) for k, a in self.sort))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "expression": self.expression,
                "sort": [{"key": k, "ascending": a} for k, a in self.sort]}

    @staticmethod
    def from_json(obj: Any) -> SavedView:
        """From :meth:`to_json` output; raises ValueError naming what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError(f"a saved view must be an object, got {type(obj).__name__}")
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a saved view needs a non-empty 'name'")
        expr = obj.get("expression", "")
        if not isinstance(expr, str):
            raise ValueError(f"view {name!r}: 'expression' must be text")
        if len(expr) > MAX_LENGTH:
            raise ValueError(f"view {name!r}: 'expression' is longer than {MAX_LENGTH} "
                             "characters")
        raw = obj.get("sort", [])
        if not isinstance(raw, list):
            raise ValueError(f"view {name!r}: 'sort' must be a list")
        sort: list[tuple[str, bool]] = []
        for k, item in enumerate(raw):
            if not (isinstance(item, dict) and isinstance(item.get("key"), str)
                    and isinstance(item.get("ascending", True), bool)):
                raise ValueError(f"view {name!r}: sort item {k} must be "
                                 "{\"key\": text, \"ascending\": true|false}")
            sort.append((item["key"], item.get("ascending", True)))
        return SavedView(name, expr, tuple(sort))

    def check(self, table: QueryTable) -> None:
        """Raise :class:`QueryError` when the expression or a sort key does not fit
        ``table``."""
        compile_query(self.expression, table)
        for k, _ in self.sort:
            compile_value(k, table)


def views_to_json(views: Sequence[SavedView]) -> list[dict[str, Any]]:
    return [v.to_json() for v in views]


def views_from_json(obj: Any) -> list[SavedView]:
    """Views from :func:`views_to_json` output (names unique); raises ValueError."""
    if not isinstance(obj, list):
        raise ValueError("saved views must be a list")
    out = [SavedView.from_json(o) for o in obj]
    seen: set[str] = set()
    for v in out:
        if v.name in seen:
            raise ValueError(f"two saved views are named {v.name!r}")
        seen.add(v.name)
    return out


def view_rows(view: SavedView, table: QueryTable) -> np.ndarray:
    """Row positions of ``table`` the view shows, in its order."""
    rows = compile_query(view.expression, table).rows(table)
    return sort_rows(table, rows, view.sort)


#: Views a new session starts with (the GUI offers those whose columns exist).
BUILTIN_VIEWS: tuple[SavedView, ...] = (
    SavedView("Most likely mislabeled", "label_quality >= 0", (("label_quality", True),)),
    SavedView("Worst IoU", "n_gt > 0 or n_pred > 0", (("mean_iou", True),)),
    SavedView("Most false positives", "fp > 0", (("fp", False),)),
    SavedView("Most missed", "fn > 0", (("fn", False),)),
    SavedView("To review", "not reviewed and not deleted", (("mean_iou", True),)),
)


# =========================================================================== completion
@dataclass(frozen=True)
class Candidate:
    """One completion: ``text`` replaces the span of :class:`Completion`.

    ``kind``: ``"column"``, ``"count"``, ``"class"``, ``"tag"``, ``"operator"``,
    ``"keyword"`` or ``"value"``; ``help`` one line for a tooltip.
    """

    text: str
    kind: str
    help: str = ""


@dataclass(frozen=True)
class Completion:
    start: int
    end: int
    candidates: tuple[Candidate, ...]


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


_OPS_NUM = ("<", "<=", ">", ">=", "==", "!=", "in", "not in")
_OPS_TEXT = ("==", "!=", "~", "!~", "in", "not in")
_OPS_FLAG = ("==", "!=", "and", "or")
_OP_HELP = {"<": "less than", "<=": "at most", ">": "more than", ">=": "at least",
            "==": "equals / has", "!=": "differs / has none", "~": "contains (any case; * ?)",
            "!~": "does not contain", "in": "one of a list [a, b]",
            "not in": "none of a list [a, b]", "and": "both", "or": "either",
            "not": "negation", "(": "group"}


def complete(text: str, cursor: int | None, table: QueryTable, limit: int = 200) -> Completion:
    """Completion candidates for the word at ``cursor`` (default: the end of ``text``).

    After nothing, ``(``, ``and``, ``or`` or ``not``: column names, per-class counts
    (``fp[``), ``not`` and ``(``. After a value: operators fitting its type, ``and``,
    ``or``. After ``class ==`` / ``in [``: quoted class names; after ``tag ==``: tags;
    inside ``fp[``: class names. Candidates starting with the typed prefix come first,
    then those containing it.
    """
    cursor = len(text) if cursor is None else max(0, min(int(cursor), len(text)))
    toks = _tokenize(text[:cursor], lenient=True)[:-1]
    start = end = cursor
    prefix = ""
    if toks and toks[-1].end == cursor and toks[-1].kind in ("name", "kw", "str", "raw", "num"):
        cur = toks.pop()
        if not (cur.kind == "str" and not cur.partial):
            start = cur.start
            prefix = str(cur.value) if cur.kind in ("str", "raw") else cur.text
            # replace the rest of the word after the cursor too
            j = cursor
            while cur.kind in ("name", "kw", "num") and j < len(text) and (
                    text[j].isalnum() or text[j] == "_"):
                j += 1
            end = j
            if cur.kind == "raw":
                close = text.find("]", cursor)
                nxt = [p for p in (text.find("[", cursor), text.find("\n", cursor)) if p >= 0]
                if close >= 0 and (not nxt or close < min(nxt)):
                    end = close + 1
        else:
            toks.append(cur)
    cands = _candidates(toks, table, prefix)
    low = prefix.lower()

    def bare(c: Candidate) -> str:
        s = c.text
        return s[1:-1].lower() if len(s) >= 2 and s[0] == '"' else s.lower()

    first = [c for c in cands if bare(c).startswith(low)]
    second = [c for c in cands if low and low in bare(c) and not bare(c).startswith(low)]
    out = (first + second)[:limit]
    return Completion(start, end, tuple(out))


def _subject_before(toks: list[_Tok], k: int) -> str | None:
    """The name of the operand that ends just before position ``k`` (or None)."""
    if k <= 0:
        return None
    t = toks[k - 1]
    if t.kind in ("name", "num", "kw") and k >= 3 and toks[k - 2].kind == "." \
            and toks[k - 3].kind == "name":
        return "#count"
    if t.kind == "name":
        return str(t.value)
    if t.kind == "]" and k >= 4 and toks[k - 4].kind == "name":
        return "#count"
    return None


def _candidates(toks: list[_Tok], table: QueryTable, prefix: str) -> list[Candidate]:
    names = table.names()
    last = toks[-1] if toks else None
    classes = table.class_names

    def class_cands(quoted: bool) -> list[Candidate]:
        return [Candidate(_quote(c) if quoted else c, "class", "class") for c in classes]

    def value_cands(subject: str | None) -> list[Candidate]:
        if subject is None:
            return []
        typ = names.get(subject)
        if typ == _SET and _SETS.get(subject) == "tag":
            return [Candidate(_quote(t), "tag", "tag") for t in table.tags()]
        if typ == _SET:
            return class_cands(True)
        if typ == _BOOL:
            return [Candidate("true", "value"), Candidate("false", "value")]
        return []

    # inside fp[...: class names, raw
    if last is not None and last.kind == "[" and len(toks) >= 2 and toks[-2].kind == "name":
        return [Candidate(c + "]", "class", f"{toks[-2].text} of class {c}") for c in classes]
    if last is not None and last.kind == "." and len(toks) >= 2 and toks[-2].kind == "name":
        return [Candidate(c, "class", "class") for c in classes if _NAME_OK.match(c)]
    # inside an open list after "in": values of the subject
    depth = 0
    for k in range(len(toks) - 1, -1, -1):
        t = toks[k]
        if t.kind == "]":
            depth += 1
        elif t.kind == "[":
            if depth == 0:
                if k >= 1 and toks[k - 1].kind == "kw" and toks[k - 1].value == "in":
                    j = k - 1
                    if j >= 1 and toks[j - 1].kind == "kw" and toks[j - 1].value == "not":
                        j -= 1
                    if last is not None and last.kind in ("[", ","):
                        return value_cands(_subject_before(toks, j))
                    return [Candidate(",", "operator", "next item"),
                            Candidate("]", "operator", "end of the list")]
                break
            depth -= 1
    if last is not None and last.kind == "op":
        k = len(toks) - 1
        subject = _subject_before(toks, k)
        vals = value_cands(subject)
        if vals or (subject is not None and names.get(subject) in (_SET, _BOOL)):
            return vals
        if subject is not None and names.get(subject) == _STR:
            return []
        return _operand_cands(table, names, numeric_only=True)
    if last is None or last.kind in ("(", "arith", ",", "err") or (
            last.kind == "kw" and last.value in ("and", "or", "not")):
        out = _operand_cands(table, names, numeric_only=last is not None and
                             last.kind == "arith")
        if last is None or last.kind != "arith":
            out += [Candidate("not", "keyword", _OP_HELP["not"]),
                    Candidate("(", "operator", _OP_HELP["("])]
        return out
    if last.kind == "kw" and last.value == "in":
        return [Candidate("[", "operator", "start a list")]
    # after a complete operand: operators for its type, then and / or
    subject = _subject_before(toks, len(toks))
    typ = names.get(subject or "", _NUM if subject == "#count" else None)
    if last.kind in ("num",) or (last.kind == "kw" and last.value in ("true", "false")) or \
            last.kind in ("str", ")"):
        ops: tuple[str, ...] = ("and", "or")
        prev_op = len(toks) >= 2 and toks[-2].kind == "op"
        if last.kind == "num" and not prev_op:
            ops = ("<", "<=", ">", ">=", "==", "!=")
        out = [Candidate(o, "keyword" if o.isalpha() else "operator", _OP_HELP.get(o, ""))
               for o in ops]
        if last.kind == ")":
            out += [Candidate(o, "operator", _OP_HELP[o]) for o in _OPS_NUM[:6]]
        if last.kind in ("num", ")"):
            out += [Candidate(o, "operator", "arithmetic") for o in ("+", "-", "*", "/")]
        return out
    if typ == _NUM:
        ops = _OPS_NUM
    elif typ in (_STR, _SET):
        ops = _OPS_TEXT
    elif typ == _BOOL:
        ops = _OPS_FLAG
    else:
        ops = ("and", "or")
    out = [Candidate(o, "keyword" if o[0].isalpha() else "operator", _OP_HELP.get(o, ""))
           for o in ops]
    if typ == _SET or typ == _BOOL:
        out += [Candidate(o, "keyword", _OP_HELP[o]) for o in ("and", "or") if o not in ops]
    return out


def _operand_cands(table: QueryTable, names: dict[str, str], numeric_only: bool = False
                   ) -> list[Candidate]:
    out: list[Candidate] = []
    for name, typ in names.items():
        if numeric_only and typ != _NUM:
            continue
        out.append(Candidate(name, "column", table.help.get(name, typ)))
    for kind in table.count_kinds():
        out.append(Candidate(f"{kind}[", "count", f"per class: {COUNT_KINDS[kind]}"))
    return out
