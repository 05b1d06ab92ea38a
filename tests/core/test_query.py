"""The query language: every operator, precedence, errors with positions, injection
attempts, limits, completion, saved views, and a plain-Python oracle over random
expressions (hypothesis)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from detview.core.query import (
    BUILTIN_VIEWS,
    MAX_DEPTH,
    MAX_LENGTH,
    ClassCounts,
    QueryError,
    QueryTable,
    SavedView,
    compile_query,
    compile_value,
    complete,
    sort_rows,
    view_rows,
    views_from_json,
    views_to_json,
)
from detview.core.tables import Boxes, Images

CLASSES = ("person", "car", "traffic light")


# --------------------------------------------------------------------------- a fixed table
def make_table(rows: list[dict], with_preds: bool = True) -> QueryTable:
    """A QueryTable from plain row dicts: numbers, flags, a file name, tags and per-class
    gt/fp counts (``{"person": 2}``); boxes are built so ClassCounts counts them."""
    n = len(rows)
    df = pd.DataFrame({
        "file_name": [r["file"] for r in rows],
        "a": np.array([r["a"] for r in rows], dtype=np.int64),
        "b": np.array([r["b"] for r in rows], dtype=np.float64),
        "c": np.array([r["c"] for r in rows], dtype=np.float64),
        "flag": np.array([r["flag"] for r in rows], dtype=bool),
    })
    images = Images(np.arange(n), [r["file"] for r in rows], np.full(n, 100), np.full(n, 100),
                    tags=[frozenset(r["tags"]) for r in rows],
                    reviewed=np.array([r.get("reviewed", False) for r in rows]))
    gi, gc, pi, pc, po = [], [], [], [], []
    for i, r in enumerate(rows):
        for name, k in r["gt"].items():
            gi += [i] * k
            gc += [CLASSES.index(name)] * k
        for name, k in r["fp"].items():
            pi += [i] * k
            pc += [CLASSES.index(name)] * k
            po += [0] * k
    gt = Boxes.build(n, gi, gc, np.tile([0, 0, 5, 5.0], (len(gi), 1)))
    preds = Boxes.build(n, pi, pc, np.tile([0, 0, 5, 5.0], (len(pi), 1)), score=np.ones(len(pi)))
    # Boxes.build sorts rows by image stably; the outcome of every prediction is FP here
    out = (np.zeros(len(preds), dtype=np.int8), np.zeros(len(gt), dtype=bool))
    counts = ClassCounts.from_boxes(gt, len(CLASSES), preds if with_preds else None,
                                    outcomes=out if with_preds else None)
    return QueryTable.from_frame(df, images=images, class_names=CLASSES, counts=counts)


ROWS = [
    dict(file="img_0001.jpg", a=0, b=0.1, c=1.0, flag=True, tags={"review"},
         gt={"person": 2}, fp={"person": 4}, reviewed=True),
    dict(file="img_0002.jpg", a=1, b=0.5, c=2.0, flag=False, tags=set(),
         gt={"car": 1}, fp={}),
    dict(file="IMG_0003.png", a=2, b=float("nan"), c=-1.0, flag=True, tags={"ok", "review"},
         gt={}, fp={"traffic light": 1}),
    dict(file="other/x_left.jpg", a=3, b=0.9, c=0.0, flag=False, tags={"x y"},
         gt={"traffic light": 3, "person": 1}, fp={"car": 2}),
    dict(file="dir/0000.jpg", a=5, b=0.3, c=3.5, flag=False, tags=set(),
         gt={"car": 2}, fp={"person": 1}, reviewed=True),
]


@pytest.fixture
def table() -> QueryTable:
    return make_table(ROWS)


def rows_of(expr: str, table: QueryTable) -> list[int]:
    return np.flatnonzero(compile_query(expr, table).mask(table)).tolist()


# --------------------------------------------------------------------------- operators
@pytest.mark.parametrize("expr,expected", [
    ("a < 2", [0, 1]),
    ("a <= 2", [0, 1, 2]),
    ("a > 2", [3, 4]),
    ("a >= 2", [2, 3, 4]),
    ("a == 3", [3]),
    ("a = 3", [3]),
    ("a != 3", [0, 1, 2, 4]),
    ("b < 0.5", [0, 4]),           # NaN fails every comparison...
    ("b != 0.5", [0, 2, 3, 4]),    # ...except !=
    ("not b < 0.5", [1, 2, 3]),
    ("a in [1, 5, 7]", [1, 4]),
    ("a not in [1, 5]", [0, 2, 3]),
    ("c in [-1, 3.5]", [2, 4]),
    ("a in []", []),
    ("a not in []", [0, 1, 2, 3, 4]),
    ("flag", [0, 2]),
    ("not flag", [1, 3, 4]),
    ("flag == true", [0, 2]),
    ("flag != true", [1, 3, 4]),
    ("flag in [false]", [1, 3, 4]),
    ("reviewed", [0, 4]),
    ("not deleted", [0, 1, 2, 3, 4]),
    ("deleted", []),
    ("true", [0, 1, 2, 3, 4]),
    ("false or a == 0", [0]),
    ("a + c >= 3", [1, 3, 4]),
    ("a - c < 0", [0, 1]),
    ("a * c >= 2", [1, 4]),
    ("c / a > 1", [0, 1]),        # 1/0 = inf
    ("-c > 0", [2]),
    ("- -c > 3", [4]),
    ("0.2 < b <= 0.5", [1, 4]),
    ("0 <= a < 2 < 3", [0, 1]),
    ("a == a", [0, 1, 2, 3, 4]),
    ("b == b", [0, 1, 3, 4]),     # NaN != NaN
    ('file == "img_0002.jpg"', [1]),
    ('file != "img_0002.jpg"', [0, 2, 3, 4]),
    ('file_name in ["img_0002.jpg", "dir/0000.jpg"]', [1, 4]),
    ('file not in ["img_0002.jpg"]', [0, 2, 3, 4]),
    ('file ~ "0000"', [4]),
    ('file ~ "img"', [0, 1, 2]),        # any case
    ('file !~ "img"', [3, 4]),
    ('file ~ "*.jpg"', [0, 1, 3, 4]),   # glob: the whole name
    ('file ~ "img_000?.*"', [0, 1, 2]),
    ('file ~ "*left*"', [3]),
    ('file ~ "[x"', []),                  # '[' is literal
    ('class == "person"', [0, 3]),
    ('class != "person"', [1, 2, 4]),
    ('"person" == class', [0, 3]),
    ('class in ["car", "traffic light"]', [1, 3, 4]),
    ('class not in ["car", "traffic light"]', [0, 2]),
    ('class ~ "light"', [3]),
    ('class ~ "*r"', [1, 4]),
    ("class", [0, 1, 3, 4]),
    ('pred_class == "car"', [3]),
    ('tag == "review"', [0, 2]),
    ('tag != "review"', [1, 3, 4]),
    ('tag in ["ok", "x y"]', [2, 3]),
    ('tag not in ["review"]', [1, 3, 4]),
    ('tag ~ "REV"', [0, 2]),
    ('tag == "nonexistent"', []),
    ("tag", [0, 2, 3]),
    ("fp[person] > 3", [0]),
    ("fp.person >= 1", [0, 4]),
    ('fp["traffic light"] == 1', [2]),
    ("fp[traffic light] == 1", [2]),
    ("fp[ Person ] > 0", [0, 4]),           # class names: exact, else unique any-case
    ("gt[car] + gt[person] >= 2", [0, 4]),
    ("n_gt[car] == 2", [4]),
    ("pred[car] == 2", [3]),
    ("fn[person] == 2", [0]),
    ("tp[person] > 0", []),
    ("image >= 3", [3, 4]),
    ("image == a", [0, 1, 2, 3]),
])
def test_every_operator(table: QueryTable, expr: str, expected: list[int]) -> None:
    assert rows_of(expr, table) == expected


@pytest.mark.parametrize("expr,same_as", [
    ("a == 0 or a == 1 and flag", "a == 0 or (a == 1 and flag)"),
    ("a == 1 and flag or a == 0", "(a == 1 and flag) or a == 0"),
    ("not flag and a > 1", "(not flag) and a > 1"),
    ("not a > 1 or flag", "(not (a > 1)) or flag"),
    ("not not flag", "flag"),
    ("NOT flag AND a > 1 OR a == 0", "((not flag) and a > 1) or a == 0"),
    ("a + c * 2 > 5", "a + (c * 2) > 5"),
    ("a - c - 1 > 0", "(a - c) - 1 > 0"),
    ("c / a / 2 > 0.3", "(c / a) / 2 > 0.3"),
    ("-a + 3 > 1", "(-a) + 3 > 1"),
    ("((((a > 1))))", "a > 1"),
])
def test_precedence(table: QueryTable, expr: str, same_as: str) -> None:
    assert rows_of(expr, table) == rows_of(same_as, table)
    # and the grouping matters: dropping parentheses changes these
    assert rows_of("(a == 1 or a == 3) and flag", table) != rows_of(
        "a == 1 or a == 3 and flag", table)
    assert rows_of("a - (c - 1) >= 0", table) != rows_of("a - c - 1 >= 0", table)


def test_empty_expression_matches_all(table: QueryTable) -> None:
    for text in ("", "   ", "\n\t"):
        q = compile_query(text, table)
        assert q.is_empty and q.mask(table).all()


def test_query_reports_what_it_uses(table: QueryTable) -> None:
    q = compile_query('a > 1 and fp[Person] > 0 and class == "car" and file ~ "x"', table)
    assert q.columns == {"a", "fp[person]", "class", "file_name"}
    assert q.classes == {"person", "car"}


def test_mask_follows_changed_values() -> None:
    t = QueryTable({"x": np.array([1.0, 2.0, 3.0])})
    q = compile_query("x > 1.5", t)
    assert q.mask(t).tolist() == [False, True, True]
    t2 = QueryTable({"x": np.array([5.0, 0.0, 0.0])})
    assert q.mask(t2).tolist() == [True, False, False]
    with pytest.raises(QueryError, match="not in this table"):
        q.mask(QueryTable({"y": np.zeros(3)}))


def test_subset_table_maps_rows_to_images() -> None:
    """A table over some images only: sets and counts follow its ``image`` column."""
    full = make_table(ROWS)
    df = pd.DataFrame({"a": [5, 0]}, index=[4, 0])
    images = Images(np.arange(5), [r["file"] for r in ROWS], np.full(5, 9), np.full(5, 9),
                    tags=[frozenset(r["tags"]) for r in ROWS])
    sub = QueryTable.from_frame(df, images=images, class_names=CLASSES, counts=full.counts)
    assert rows_of("fp[person] >= 1", sub) == [0, 1]
    assert rows_of('tag == "review"', sub) == [1]
    assert rows_of('class == "car"', sub) == [0]
    assert rows_of("image == 4", sub) == [0]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("expr,message,span,suggestion", [
    ("mea_iou < 0.5", "unknown column 'mea_iou' at 0-7, did you mean mean_iou?", (0, 7),
     "mean_iou"),
    ("Mean_IoU < 0.5", "unknown column 'Mean_IoU'", (0, 8), "mean_iou"),
    ("mean_iou < 0.5 and fpp > 2", "unknown column 'fpp'", (19, 22), "fp"),
    ('class == "persn"', "unknown class 'persn'", (9, 16), "person"),
    ("fp[persn] > 1", "unknown class 'persn'", (3, 8), "person"),
    ("fp.carr > 1", "unknown class 'carr'", (3, 7), "car"),
    ("mean_iou[person] > 1", "'mean_iou' has no per-class values", (0, 8), None),
    ("fpx[person] > 1", "'fpx' has no per-class values", (0, 3), "fp"),
    ("gt > 1", "'gt' needs a class: gt[person]", (0, 2), None),
    ("err_cls > 0", "column 'err_cls' is not available (add --more)", (0, 7), None),
    ("mean_iou", "'mean_iou' is a number, not a condition", (0, 8), None),
    ("file", "'file' is text, not a condition", (0, 4), None),
    ("mean_iou < 0.5 and fp", "'fp' is a number, not a condition", (19, 21), None),
    ("not fp", "'fp' is a number, not a condition", (4, 6), None),
    ("mean_iou <", "expected a value", (10, 10), None),
    ("mean_iou < 0.5 and", "expected a value", (18, 18), None),
    ("and fp > 1", "expected a value before 'and'", (0, 3), None),
    ("(fp > 1", "expected ')' to close the '(' at 0", (7, 7), None),
    ("fp > 1)", "unmatched ')'", (6, 7), None),
    ("mean_iou < 0.5 fp > 2", "expected 'and' or 'or' before 'fp'", (15, 17), None),
    ("fp >> 2", "expected a value", (4, 5), None),
    ('file == "abc', 'unterminated text: missing closing "', (8, 12), None),
    ("file == 'a\\qb'", "unknown escape '\\q'", (10, 12), None),
    ("fp > 2 && fp < 5", "use 'and' instead of '&'", (7, 9), None),
    ("fp > 2 || fp < 5", "use 'or' instead of '|'", (7, 9), None),
    ("!reviewed", "use 'not' instead of '!'", (0, 1), None),
    ("fp > 3abc", "bad number '3abc'", (5, 9), None),
    ("fp > 1.2.3", "bad number", (5, 10), None),
    ("fp $ 2", "unexpected character '$'", (3, 4), None),
    ("fp ≥ 2", "unexpected character '≥'", (3, 4), None),
    ("fp[person > 2", "missing ']' for this '['", (2, 3), None),
    ("fp[] > 2", "expected a class name in fp[...]", (2, 4), None),
    ("fp in 3", "expected a list like [1, 2] after 'in'", (6, 7), None),
    ("fp in [1, 2", "missing ']' to close the list", (11, 11), None),
    ("fp in [1 2]", "expected ',' or ']' in the list", (9, 10), None),
    ("class in [person]", "list items are numbers or quoted text", (10, 16), None),
    ("fp in [\"a\"]", "'fp' is a number; this list item is text", (7, 10), None),
    ("fp not 3", "expected 'in' after 'not'", (3, 6), None),
    ("file < \"a\"", "'<' compares numbers; for text use ==, !=, ~ or in", (5, 6), None),
    ("reviewed > true", "'>' compares numbers; for a yes/no flag use == or !=", (9, 10), None),
    ("fp == \"3\"", "cannot compare a number with text", (0, 9), None),
    ("file == fp", "cannot compare text ('file') with a number ('fp')", (0, 10), None),
    ("class == 3", "'class' compares with a quoted name", (9, 10), None),
    ("class < \"person\"", "'<' does not apply to a set", (6, 7), None),
    ("fp ~ \"3\"", "'~' matches text; 'fp' is a number", (0, 2), None),
    ("file ~ fp", "'~' needs a quoted pattern", (7, 9), None),
    ("file + 1 > 2", "'+' needs numbers; 'file' is text", (0, 4), None),
    ("-file > 2", "'-' needs numbers", (1, 5), None),
    ("1 < fp < \"x\"", "chained comparisons work on numbers only", (9, 12), None),
    ("[1, 2]", "a list [...] goes after 'in'", (0, 1), None),
    ("fp(2)", "there are no functions", (2, 3), None),
])
def test_bad_expressions(table: QueryTable, expr: str, message: str, span: tuple[int, int],
                         suggestion: str | None) -> None:
    t = QueryTable.from_frame(pd.DataFrame({"file_name": ["a"] * 5, "mean_iou": np.zeros(5),
                                            "fp": np.zeros(5, int), "fn": np.zeros(5, int),
                                            "reviewed": np.zeros(5, bool)}),
                              class_names=CLASSES, counts=table.counts,
                              unavailable={"err_cls": "add --more"})
    with pytest.raises(QueryError) as ei:
        compile_query(expr, t)
    err = ei.value
    assert message in str(err)
    assert (err.start, err.end) == span, str(err)
    assert err.suggestion == suggestion
    assert str(err).count(f" at {span[0]}-{span[1]}") == 1
    # the pointer draws carets under the span
    caret = err.pointer(expr, indent="").splitlines()[1]
    assert caret.index("^") == span[0]


def test_error_message_reads_like_the_gui_wants(table: QueryTable) -> None:
    t = QueryTable({"mean_iou": np.zeros(3)})
    with pytest.raises(QueryError) as ei:
        compile_query("mea_iou < 0.5", t)
    assert str(ei.value) == "unknown column 'mea_iou' at 0-7, did you mean mean_iou?"
    assert ei.value.kind == "name"
    assert ei.value.pointer("mea_iou < 0.5") == "  mea_iou < 0.5\n  ^^^^^^^"


def test_counts_need_a_run() -> None:
    t = make_table(ROWS, with_preds=False)
    with pytest.raises(QueryError, match="per-class 'fp\\[...\\]' needs a prediction run"):
        compile_query("fp[person] > 1", t)
    with pytest.raises(QueryError, match="'pred_class' is not available"):
        compile_query('pred_class == "car"', t)
    assert rows_of("gt[person] > 0", t) == [0, 3]
    bare = QueryTable({"x": np.zeros(2)})
    with pytest.raises(QueryError, match="per-class 'gt"):
        compile_query("gt[person] > 0", bare)
    with pytest.raises(QueryError, match="'class' is not available"):
        compile_query('class == "person"', bare)


# --------------------------------------------------------------------------- injection
INJECTIONS = [
    "__import__('os').system('touch {canary}')",
    "__import__(\"os\").system(\"touch {canary}\")",
    "fp > 0 and __import__('os').system('touch {canary}')",
    "().__class__.__bases__[0].__subclasses__()",
    "fp.__class__",
    "fp.__class__.__init__.__globals__",
    "mean_iou.__class__ == 1",
    "__builtins__",
    "__dict__ > 0",
    "globals()",
    "open('{canary}', 'w')",
    "exec('import os')",
    "eval('1')",
    "lambda: 1",
    "lambda x: x",
    "(lambda: __import__('os'))()",
    "f'{{__import__(\"os\").system(\"touch {canary}\")}}'",
    "f\"{{fp}}\" == 1",
    "[x for x in ().__class__.__mro__]",
    "fp; import os",
    "fp > 0 # comment",
    "fp > 0 \\\n or 1",
    "'\\x5f\\x5fimport\\x5f\\x5f'",
    "'\\u0041' == file",
    "'\\N{{LATIN SMALL LETTER A}}' == file",
    "file == '\\\\' + 'a'",
    "`ls`",
    "$(touch {canary})",
    "@fp",
    "fp[__import__('os').system('touch {canary}')] > 0",
    "fp['); import os; ('] > 0",
    "{{}}",
    "fp if 1 else 2",
    "fp := 1",
    "fp ** 2 > 1",
    "fp // 2 > 1",
    "fp % 2 == 0",
    "fp @ fp",
    "fp << 1",
    "getattr(fp, 'x')",
    "file.format()",
    "file.__len__()",
    "\x00",
    "fp > 0\x00 or 1",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_attempts_are_clean_errors(tmp_path: Path, template: str) -> None:
    canary = tmp_path / "pwned"
    t = QueryTable.from_frame(pd.DataFrame({"file_name": ["a", "b"], "fp": [0, 3],
                                            "mean_iou": [0.1, 0.9]}), class_names=CLASSES,
                              counts=ClassCounts(2, 3, {"gt": (np.zeros(0), np.zeros(0)),
                                                        "fp": (np.zeros(0), np.zeros(0))}))
    expr = template.format(canary=canary)
    try:
        q = compile_query(expr, t)
    except QueryError as exc:
        assert 0 <= exc.start <= exc.end <= len(expr)
        assert exc.message
    else:  # only a harmless reading of the text may compile, and it only filters rows
        m = q.mask(t)
        assert m.dtype == bool and m.shape == (2,)
    assert not canary.exists()
    assert not os.path.exists("pwned")


def test_dunder_and_attribute_names_are_only_unknown_names() -> None:
    t = QueryTable({"fp": np.zeros(2)}, class_names=["__class__"],
                   counts=ClassCounts(2, 1, {"fp": (np.array([1]), np.array([0]))}))
    # a class really named __class__ is just data
    assert rows_of("fp.__class__ > 0", t) == [1]
    assert rows_of("fp[__class__] > 0", t) == [1]
    with pytest.raises(QueryError, match="unknown column '__import__'"):
        compile_query("__import__ > 0", t)


# --------------------------------------------------------------------------- limits
@pytest.mark.timeout(30)
def test_deep_nesting_is_a_clean_error_not_a_crash() -> None:
    t = QueryTable({"fp": np.arange(4.0)})
    ok = "(" * MAX_DEPTH + "fp > 1" + ")" * MAX_DEPTH
    assert rows_of(ok, t) == [2, 3]
    for depth in (MAX_DEPTH + 1, 1000, 4990):
        text = "(" * depth + "fp > 1" + ")" * depth
        with pytest.raises(QueryError, match="too deeply nested") as ei:
            compile_query(text, t)
        assert ei.value.kind == "limit"
    with pytest.raises(QueryError):
        compile_query("(" * 9000, t)
    with pytest.raises(QueryError):
        compile_query("fp[" * 3000, t)
    with pytest.raises(QueryError):
        compile_query("fp in [" * 3000, t)


@pytest.mark.timeout(30)
def test_long_flat_inputs_evaluate() -> None:
    t = QueryTable({"fp": np.arange(4.0)})
    many_or = " or ".join(["fp == 3"] * 800)
    assert len(many_or) < MAX_LENGTH and rows_of(many_or, t) == [3]
    nots = "not " * 2000 + "fp > 1"
    assert rows_of(nots, t) == [2, 3]
    negs = "-" * 3001 + "fp < -1"
    assert rows_of(negs, t) == [2, 3]
    sums = "fp" + " + 1" * 2000 + " > 2002"
    assert rows_of(sums, t) == [3]
    chain = " < ".join(["fp"] * 1500)
    assert rows_of(chain, t) == []
    big_list = "fp in [" + ", ".join(str(i) for i in range(1500)) + "]"
    assert rows_of(big_list, t) == [0, 1, 2, 3]
    assert rows_of("fp < 1e999 and fp > -1e999", t) == [0, 1, 2, 3]
    assert rows_of("fp < " + "9" * 5000, t) == [0, 1, 2, 3]


def test_too_long_input() -> None:
    t = QueryTable({"fp": np.arange(4.0)})
    text = "fp > 1 " + " " * MAX_LENGTH
    with pytest.raises(QueryError, match="expression too long") as ei:
        compile_query(text, t)
    assert ei.value.kind == "limit" and ei.value.start == MAX_LENGTH
    with pytest.raises(QueryError):
        compile_query('"' * (MAX_LENGTH + 5), t)


def test_evil_glob_patterns_stay_fast() -> None:
    names = ["a" * 200 + "c"] * 50
    t = QueryTable({"file_name": names})
    m = compile_query('file ~ "' + "*a" * 30 + '*b"', t).mask(t)
    assert not m.any()


# --------------------------------------------------------------------------- completion
def texts(c) -> list[str]:
    return [x.text for x in c.candidates]


def test_complete_names_at_the_start(table: QueryTable) -> None:
    c = complete("", 0, table)
    got = texts(c)
    for name in ("a", "b", "file_name", "file", "flag", "reviewed", "deleted", "class",
                 "pred_class", "tag", "image", "not", "(", "fp[", "gt[", "fn["):
        assert name in got, name
    c = complete("fl", None, table)
    assert (c.start, c.end) == (0, 2) and texts(c)[0] == "flag"
    c = complete("a > 1 and fi", None, table)
    assert (c.start, c.end) == (10, 12)
    assert texts(c)[:2] == ["file_name", "file"]
    c = complete("a > 1 and (", None, table)
    assert "flag" in texts(c)


def test_complete_cursor_inside_a_word(table: QueryTable) -> None:
    c = complete("fla > 1", 2, table)
    assert (c.start, c.end) == (0, 3) and texts(c) == ["flag", "file_name", "file"][:1] + [
        t for t in texts(c)[1:]]
    assert texts(c)[0] == "flag"


def test_complete_operators_by_type(table: QueryTable) -> None:
    num = texts(complete("a ", None, table))
    assert num[:6] == ["<", "<=", ">", ">=", "==", "!="] and "in" in num and "~" not in num
    txt = texts(complete("file ", None, table))
    assert "~" in txt and "!~" in txt and "<" not in txt
    st_ = texts(complete("class ", None, table))
    assert "==" in st_ and "~" in st_ and "<" not in st_
    flag = texts(complete("flag ", None, table))
    assert "and" in flag and "<" not in flag
    cnt = texts(complete("fp[person] ", None, table))
    assert "<" in cnt
    after = texts(complete("a > 1 ", None, table))
    assert after[:2] == ["and", "or"] and "<" not in after
    c = complete("a > 1 an", None, table)
    assert texts(c) == ["and"] and (c.start, c.end) == (6, 8)
    c = complete("a > 1 O", None, table)
    assert texts(c) == ["or"]


def test_complete_classes_and_tags(table: QueryTable) -> None:
    c = complete("class == ", None, table)
    assert texts(c) == ['"person"', '"car"', '"traffic light"']
    c = complete('class == "tr', None, table)
    assert texts(c) == ['"traffic light"'] and c.start == 9
    c = complete('class in ["car", ', None, table)
    assert '"person"' in texts(c)
    c = complete("tag == ", None, table)
    assert texts(c) == ['"ok"', '"review"', '"x y"']
    c = complete("fp[", None, table)
    assert texts(c) == ["person]", "car]", "traffic light]"]
    c = complete("fp[tra", None, table)
    assert texts(c) == ["traffic light]"] and (c.start, c.end) == (3, 6)
    c = complete("fp[tra] > 1", 6, table)
    assert (c.start, c.end) == (3, 7)
    c = complete("fp[light", None, table)
    assert texts(c) == ["traffic light]"]  # contains, after the prefix matches
    c = complete("fp.", None, table)
    assert texts(c) == ["person", "car"]  # simple names only after a dot
    c = complete("reviewed == ", None, table)
    assert texts(c) == ["true", "false"]


def test_complete_never_raises_on_garbage(table: QueryTable) -> None:
    for text in ["$$$", '"', "fp[", "((((", "a > 'x", "\\", "class in [", "fp in [1,",
                 "not", "a ~", "]]]", "fp.", "tag ~ \"r"]:
        for cur in range(len(text) + 1):
            complete(text, cur, table)


# --------------------------------------------------------------------------- views
def test_saved_views_round_trip_and_validate(table: QueryTable) -> None:
    views = [SavedView("worst", "b < 0.5", (("b", True),)),
             SavedView("busy", 'class == "car"', (("fp[person]", False), ("file", True)))]
    data = views_to_json(views)
    assert views_from_json(data) == views
    for bad, msg in [
        ({"expression": "x"}, "needs a non-empty 'name'"),
        ({"name": "v", "expression": 3}, "'expression' must be text"),
        ({"name": "v", "sort": "b"}, "'sort' must be a list"),
        ({"name": "v", "sort": [{"key": 1}]}, "sort item 0"),
        ("view", "must be an object"),
    ]:
        with pytest.raises(ValueError, match=msg):
            views_from_json([bad])
    with pytest.raises(ValueError, match="two saved views are named 'a'"):
        views_from_json([{"name": "a"}, {"name": "a"}])
    views[1].check(table)
    with pytest.raises(QueryError):
        SavedView("x", "nope > 1").check(table)
    with pytest.raises(QueryError):
        SavedView("x", "", (("nope", True),)).check(table)


def test_view_rows_sort_nan_last_and_stable(table: QueryTable) -> None:
    v = SavedView("v", "a >= 0", (("b", True),))
    assert view_rows(v, table).tolist() == [0, 4, 1, 3, 2]
    v = SavedView("v", "", (("b", False),))
    assert view_rows(v, table).tolist() == [3, 1, 4, 0, 2]
    v = SavedView("v", "", (("flag", False), ("a", False)))
    assert view_rows(v, table).tolist() == [2, 0, 4, 3, 1]
    v = SavedView("v", "", (("file", True),))  # text: case-insensitive
    assert view_rows(v, table).tolist() == [4, 0, 1, 2, 3]
    v = SavedView("v", "", (("fp[person] - a", False),))
    assert view_rows(v, table).tolist() == [0, 1, 2, 3, 4]
    v = SavedView("v", "", (("fp[person] - a", True),))
    assert view_rows(v, table).tolist() == [4, 3, 2, 1, 0]
    assert sort_rows(table, np.array([3, 1]), ()).tolist() == [3, 1]
    assert compile_value("fp[person] * 2", table).values(table).tolist() == [8, 0, 0, 0, 2]
    with pytest.raises(QueryError, match="is a set"):
        compile_value("class", table)


def test_builtin_views_parse() -> None:
    t = QueryTable({"label_quality": np.zeros(2), "mean_iou": np.zeros(2),
                    "n_gt": np.zeros(2), "n_pred": np.zeros(2), "fp": np.zeros(2),
                    "fn": np.zeros(2), "reviewed": np.zeros(2, bool),
                    "deleted": np.zeros(2, bool)})
    for v in BUILTIN_VIEWS:
        v.check(t)
        assert SavedView.from_json(v.to_json()) == v


# --------------------------------------------------------------------------- counts
def test_class_counts_against_a_loop() -> None:
    rng = np.random.default_rng(3)
    n, k, nb, npred = 40, 5, 300, 400
    gt = Boxes.build(n, rng.integers(0, n, nb), rng.integers(0, k, nb), np.zeros((nb, 4)),
                     iscrowd=rng.random(nb) < 0.1)
    gt.alive[rng.random(nb) < 0.1] = False
    preds = Boxes.build(n, rng.integers(0, n, npred), rng.integers(0, k, npred),
                        np.zeros((npred, 4)), score=rng.random(npred))
    outcome = rng.integers(-1, 2, npred).astype(np.int8)
    matched = rng.random(nb) < 0.5
    cc = ClassCounts.from_boxes(gt, k, preds, score_threshold=0.3, outcomes=lambda: (outcome,
                                                                                     matched))
    want = {kind: np.zeros((n, k), int) for kind in ("gt", "pred", "tp", "fp", "fn")}
    for r in range(nb):
        if gt.alive[r] and not gt.iscrowd[r]:
            want["gt"][gt.image[r], gt.cls[r]] += 1
            if not matched[r]:
                want["fn"][gt.image[r], gt.cls[r]] += 1
    for r in range(npred):
        if preds.score[r] >= 0.3:
            want["pred"][preds.image[r], preds.cls[r]] += 1
            if outcome[r] == 1:
                want["tp"][preds.image[r], preds.cls[r]] += 1
            elif outcome[r] == 0:
                want["fp"][preds.image[r], preds.cls[r]] += 1
    for kind, w in want.items():
        assert (cc.dense(kind) == w).all(), kind
        for c in range(k):
            assert (cc.column(kind, c) == w[:, c]).all()
        assert (cc.any(kind) == (w.sum(axis=1) > 0)).all()


def test_class_counts_from_metrics_match_pycocotools() -> None:
    """Per image and class TP/FP/FN at IoU 0.5 on the demo (real YOLOv5s predictions,
    score >= 0.25) equal pycocotools' evaluateImg matches; and they add up to the
    per-image columns."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from detview.core.metrics import MetricParams, PerImageMetrics
    from detview.io import load_dataset
    from tests.conftest import RESOURCES

    demo = RESOURCES / "demo"
    res = load_dataset(demo / "images", demo / "labels",
                       [("yolo", next((demo / "predictions").iterdir()))],
                       class_names=demo / "data.yaml")
    ds = res.dataset
    thr = 0.25
    pim = PerImageMetrics(ds, "yolo", MetricParams(thr, 0.5))
    cc = ClassCounts.from_metrics(pim)
    k = len(ds.classes)
    # per-image columns are the sums over classes
    for kind, col in (("gt", "n_gt"), ("pred", "n_pred"), ("tp", "tp"), ("fp", "fp"),
                      ("fn", "fn")):
        assert (cc.dense(kind).sum(axis=1) == pim.column(col)).all(), kind
    # pycocotools, fed only the predictions >= thr
    gt, run = ds.gt, ds.runs["yolo"]
    images = [{"id": i, "width": int(ds.images.widths[i]), "height": int(ds.images.heights[i])}
              for i in range(ds.n_images)]
    anns = [{"id": r + 1, "image_id": int(gt.image[r]), "category_id": int(gt.cls[r]),
             "bbox": [*gt.xyxy[r, :2].tolist(), *(gt.xyxy[r, 2:] - gt.xyxy[r, :2]).tolist()],
             "area": float(np.prod(gt.xyxy[r, 2:] - gt.xyxy[r, :2])),
             "iscrowd": int(gt.iscrowd[r])} for r in range(len(gt))]
    coco = COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": c} for c in range(k)]}
    coco.createIndex()
    keep = np.flatnonzero(run.score >= thr)
    dets = coco.loadRes([{"image_id": int(run.image[r]), "category_id": int(run.cls[r]),
                          "bbox": [*run.xyxy[r, :2].tolist(),
                                   *(run.xyxy[r, 2:] - run.xyxy[r, :2]).tolist()],
                          "score": float(run.score[r])} for r in keep])
    ev = COCOeval(coco, dets, "bbox")
    ev.params.iouThrs = np.array([0.5])
    ev.params.areaRng = [[0, 1e10]]
    ev.params.areaRngLbl = ["all"]
    ev.params.maxDets = [1000]
    ev.evaluate()
    want = {kind: np.zeros((ds.n_images, k), int) for kind in ("tp", "fp", "fn")}
    for e in ev.evalImgs:
        if e is None:
            continue
        i, c = e["image_id"], e["category_id"]
        dm, di = e["dtMatches"][0], e["dtIgnore"][0].astype(bool)
        want["tp"][i, c] = int(((dm > 0) & ~di).sum())
        want["fp"][i, c] = int(((dm == 0) & ~di).sum())
        gi = e["gtIgnore"].astype(bool)
        want["fn"][i, c] = int(((e["gtMatches"][0] == 0) & ~gi).sum())
    assert want["tp"].sum() > 50 and want["fp"].sum() > 10 and want["fn"].sum() > 10
    for kind, w in want.items():
        assert (cc.dense(kind) == w).all(), kind


# --------------------------------------------------------------------------- oracle
# Random expression trees rendered to text; the engine parses the text, the oracle
# walks the tree over plain Python rows. Precedence lives only in the renderer below.
LEVEL = {"or": 1, "and": 2, "not": 3, "cmp": 4, "in": 4, "match": 4, "set": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}
NUM_COLS = ("a", "b", "c")
NAME_FORMS = {"person": ["fp[person]", "fp.person", "fp[ person ]", 'fp["person"]'],
              "car": ["fp[car]", "fp.car", "fp['car']"],
              "traffic light": ["fp[traffic light]", 'fp["traffic light"]']}
PATTERN_ALPHABET = "ab_0.*?[ \"\\"

rows_st = st.lists(st.fixed_dictionaries({
    "file": st.text("abAB_0.x", min_size=0, max_size=6),
    "a": st.integers(-3, 5),
    "b": st.one_of(st.floats(-2, 2, allow_nan=False), st.just(float("nan"))),
    "c": st.sampled_from([0.0, -0.0, 1.0, 0.5, -2.0, float("inf")]),
    "flag": st.booleans(),
    "tags": st.sets(st.sampled_from(["review", "ok", "x y"])),
    "gt": st.dictionaries(st.sampled_from(CLASSES), st.integers(0, 2)),
    "fp": st.dictionaries(st.sampled_from(CLASSES), st.integers(0, 3)),
}), min_size=1, max_size=12)


def num_expr() -> st.SearchStrategy:
    leaf = st.one_of(
        st.tuples(st.just("col"), st.sampled_from(NUM_COLS)),
        st.tuples(st.just("lit"), st.one_of(st.integers(-3, 6).map(float),
                                            st.sampled_from([0.5, 1e-3, 2.25, 0.0]))),
        st.tuples(st.just("fp"), st.sampled_from(CLASSES)),
    )
    return st.recursive(leaf, lambda sub: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), sub, sub),
        st.tuples(st.just("neg"), sub),
    ), max_leaves=6)


def bool_expr() -> st.SearchStrategy:
    n = num_expr()
    leaf = st.one_of(
        st.tuples(st.just("cmp"), st.lists(n, min_size=2, max_size=3),
                  st.lists(st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "="]),
                           min_size=2, max_size=2)),
        st.tuples(st.just("in"), st.sampled_from(NUM_COLS),
                  st.lists(st.integers(-2, 5).map(float), max_size=4), st.booleans()),
        st.tuples(st.just("match"), st.text(PATTERN_ALPHABET, max_size=4), st.booleans()),
        st.tuples(st.just("set"), st.sampled_from(["class", "tag"]),
                  st.sampled_from(["==", "!=", "in", "not in", "~", "!~"]),
                  st.lists(st.sampled_from([*CLASSES, "review", "ok", "x y", "light", "e"]),
                           min_size=1, max_size=2)),
        st.tuples(st.just("flag")),
    )
    return st.recursive(leaf, lambda sub: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(sub, min_size=2, max_size=3)),
        st.tuples(st.just("not"), sub),
    ), max_leaves=10)


def q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(node, draw_style) -> tuple[str, int]:
    """(text, level). ``draw_style`` picks spellings (keyword case, count form, extra
    parentheses) so the parser sees many surface forms of one tree."""
    kind = node[0]

    def wrap(child, min_level: int) -> str:
        text, lvl = render(child, draw_style)
        if lvl < min_level or draw_style("paren"):
            return f"({text})"
        return text

    def kw(word: str) -> str:
        return word.upper() if draw_style("upper") else word

    if kind == "col":
        return node[1], 9
    if kind == "lit":
        v = node[1]
        if v < 0:  # a negative literal is a unary minus on a number
            return f"-{-v!r}", LEVEL["neg"]
        return repr(v), 9
    if kind == "fp":
        forms = NAME_FORMS[node[1]]
        return forms[draw_style("form") % len(forms)], 9
    if kind in ("+", "-", "*", "/"):
        lvl = LEVEL[kind]
        return f"{wrap(node[1], lvl)} {kind} {wrap(node[2], lvl + 1)}", lvl
    if kind == "neg":
        return f"-{wrap(node[1], LEVEL['neg'])}", LEVEL["neg"]
    if kind == "cmp":
        operands, ops = node[1], node[2]
        parts = [wrap(operands[0], 5)]
        for op, o in zip(ops, operands[1:], strict=False):
            parts += [op, wrap(o, 5)]
        return " ".join(parts), 4
    if kind == "in":
        items = ", ".join(repr(v) for v in node[2])
        return f"{node[1]} {kw('not in') if node[3] else kw('in')} [{items}]", 4
    if kind == "match":
        return f"file {'!~' if node[2] else '~'} {q(node[1])}", 4
    if kind == "set":
        subject, op, names = node[1], node[2], node[3]
        if op in ("in", "not in"):
            return f"{subject} {kw(op)} [{', '.join(q(x) for x in names)}]", 4
        return f"{subject} {op} {q(names[0])}", 4
    if kind == "flag":
        return "flag", 9
    if kind in ("and", "or"):
        lvl = LEVEL[kind]
        return f" {kw(kind)} ".join(wrap(c, lvl) for c in node[1]), lvl
    if kind == "not":
        return f"{kw('not')} {wrap(node[1], LEVEL['not'])}", LEVEL["not"]
    raise AssertionError(kind)


def ieee_div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def glob(name: str, pat: str) -> bool:
    """Plain recursive glob: * any run, ? one character, everything else literal."""
    if not pat:
        return not name
    if pat[0] == "*":
        return any(glob(name[i:], pat[1:]) for i in range(len(name) + 1))
    return bool(name) and (pat[0] == "?" or pat[0] == name[0]) and glob(name[1:], pat[1:])


def oracle(node, row) -> object:
    kind = node[0]
    if kind == "col":
        return float(row[node[1]])
    if kind == "lit":
        return node[1]
    if kind == "fp":
        return float(row["fp"].get(node[1], 0))
    if kind in ("+", "-", "*"):
        a, b = oracle(node[1], row), oracle(node[2], row)
        return a + b if kind == "+" else a - b if kind == "-" else a * b
    if kind == "/":
        return ieee_div(oracle(node[1], row), oracle(node[2], row))
    if kind == "neg":
        return -oracle(node[1], row)
    if kind == "cmp":
        vals = [oracle(o, row) for o in node[1]]
        ok = True
        for x, op, y in zip(vals, node[2], vals[1:], strict=False):
            ok = ok and {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y,
                         "=": x == y, "!=": x != y}[op]
        return ok
    if kind == "in":
        hit = any(float(row[node[1]]) == v for v in node[2])
        return not hit if node[3] else hit
    if kind == "match":
        name, pat = row["file"].lower(), node[1].lower()
        hit = glob(name, pat) if ("*" in pat or "?" in pat) else pat in name
        return not hit if node[2] else hit
    if kind == "set":
        subject, op, names = node[1], node[2], node[3]
        members = ({c for c, k in row["gt"].items() if k > 0} if subject == "class"
                   else set(row["tags"]))
        if op in ("==", "!="):
            return (names[0] in members) == (op == "==")
        if op in ("in", "not in"):
            return any(x in members for x in names) == (op == "in")
        pat = names[0].lower()
        hit = any(pat in m.lower() for m in members)
        return hit == (op == "~")
    if kind == "flag":
        return row["flag"]
    if kind == "and":
        return all(oracle(c, row) for c in node[1])
    if kind == "or":
        return any(oracle(c, row) for c in node[1])
    if kind == "not":
        return not oracle(node[1], row)
    raise AssertionError(kind)


def valid_tree(node) -> bool:
    """Class names in ``class`` comparisons must exist (else a QueryError, tested
    elsewhere)."""
    kind = node[0]
    if kind == "set" and node[1] == "class" and node[2] in ("==", "!=", "in", "not in"):
        return all(x in CLASSES for x in node[3])
    if kind in ("and", "or"):
        return all(valid_tree(c) for c in node[1])
    if kind == "not":
        return valid_tree(node[1])
    return True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_st, tree=bool_expr(), style=st.randoms(use_true_random=False))
def test_random_expressions_match_a_plain_python_oracle(rows, tree, style) -> None:
    for r in rows:
        r["file"] = r["file"] or "_"
    if not valid_tree(tree):
        return
    table = make_table(rows)

    def draw_style(what: str) -> int:
        if what == "paren":
            return style.random() < 0.1
        if what == "upper":
            return style.random() < 0.2
        return style.randrange(4)

    text, _ = render(tree, draw_style)
    got = compile_query(text, table).mask(table).tolist()
    want = [bool(oracle(tree, r)) for r in rows]
    assert got == want, text


@settings(max_examples=150, deadline=None)
@given(text=st.lists(st.sampled_from(list("ab fp[]().,<>=!~\"'\\-+*/0123456789 ") +
                                     ["and", "or", "not", "in", "mean_iou", "class", "tag",
                                      "person", "true", " "]), max_size=30).map("".join))
@example(text="a.")  # the error span once ran past the end of the text
@example(text="fp[")
def test_any_text_gives_a_mask_or_a_query_error(text: str) -> None:
    t = make_table(ROWS[:2])
    t2 = QueryTable.from_frame(pd.DataFrame({"mean_iou": [0.1, 0.7], "fp": [0, 2],
                                             "file_name": ["x", "y"]}),
                               class_names=CLASSES, counts=t.counts)
    try:
        m = compile_query(text, t2).mask(t2)
    except QueryError as exc:
        assert 0 <= exc.start <= exc.end <= len(text)
    else:
        assert m.dtype == bool and m.shape == (2,)
    complete(text, len(text) // 2, t2)
    complete(text, None, t2)


def big_num_expr() -> st.SearchStrategy:
    leaf = st.one_of(
        st.tuples(st.just("col"), st.sampled_from(NUM_COLS)),
        st.tuples(st.just("lit"), st.integers(-3, 6).map(float)),
        st.tuples(st.just("fp"), st.sampled_from(CLASSES)),
    )
    return st.recursive(leaf, lambda sub: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), sub, sub),
        st.tuples(st.just("neg"), sub),
    ), max_leaves=10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_st, tree=big_num_expr(), style=st.randoms(use_true_random=False))
def test_random_arithmetic_matches_a_plain_python_oracle(rows, tree, style) -> None:
    """Values, not only masks: operator precedence and associativity of + - * / and
    unary minus, IEEE division by zero."""
    for r in rows:
        r["file"] = r["file"] or "_"
    table = make_table(rows)
    text, _ = render(tree, lambda what: style.random() < 0.1 if what == "paren"
                     else style.randrange(4))
    got = compile_value(text, table).values(table).astype(float).tolist()
    want = [float(oracle(tree, r)) for r in rows]
    for g, w in zip(got, want, strict=True):
        assert g == w or (math.isnan(g) and math.isnan(w)), (text, got, want)
