"""The image list's filter and sort in numpy (issue 13, item 4) give what the plain
Python loop they replace gave: every filter word a substring of the file name, a status
word or a tag; sorted by value with NaN last, ties by most errors, deleted images after
the others. ``set_mask`` (the query bar's) is ANDed with the text."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images
from detview.session import Session

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N = 60
WORDS = ["cat", "Dog", "a", "0", "1.png", "sub/", "deleted", "alive", "rev", "unrev", "✓",
         "#hard", "hard", "#bl", "blurry", "x", "IMG", "img_00", "class:cat", "class:do"]


def _oracle_text(ds: Dataset, i: int) -> str:
    im = ds.images
    words = [im.file_names[i].lower(), "deleted" if im.deleted[i] else "alive",
             "reviewed ✓" if im.reviewed[i] else "unreviewed"]
    words += [f"#{t.lower()} {t.lower()}" for t in im.tags[i]]
    return " ".join(words)


def _oracle_mask(ds: Dataset, text: str) -> list[bool]:
    out = []
    for i in range(ds.n_images):
        ok = True
        for w in text.lower().split():
            if w.startswith("class:"):
                want = w[6:]
                names = [n.lower().replace(" ", "_") for n in ds.classes.names]
                ks = [k for k, n in enumerate(names) if n == want] or [
                    k for k, n in enumerate(names) if want and want in n]
                rows = range(ds.gt.offsets[i], ds.gt.offsets[i + 1])
                ok &= any(ds.gt.alive[r] and int(ds.gt.cls[r]) in ks for r in rows)
            else:
                ok &= w in _oracle_text(ds, i)
        out.append(bool(ok))
    return out


@pytest.fixture(scope="module")
def listed(qapp: Any, tmp_path_factory: Any) -> Any:
    from detview.gui.main_window import MainWindow

    rng = np.random.default_rng(5)
    names = [f"{'sub/' if k % 4 == 0 else ''}{'IMG' if k % 3 else 'img'}_{k:03d}"
             f"{'.png' if k % 2 else '.jpg'}" for k in range(N)]
    images = Images(np.arange(N), names, [64] * N, [48] * N)
    images.deleted[rng.random(N) < 0.2] = True
    images.reviewed[rng.random(N) < 0.4] = True
    tags = ["hard", "blurry", "Hard_case"]
    images.tags = [frozenset(t for t in tags if rng.random() < 0.25) for _ in range(N)]
    n_gt = 90
    gt = Boxes.build(N, rng.integers(0, N, n_gt), rng.integers(0, 3, n_gt),
                     np.tile([[5, 5, 30, 30]], (n_gt, 1)) + rng.integers(0, 20, (n_gt, 1)))
    pred = Boxes.build(N, rng.integers(0, N, 120), rng.integers(0, 3, 120),
                       np.tile([[4, 4, 31, 31]], (120, 1)) + rng.integers(0, 20, (120, 1)),
                       score=rng.random(120), box_id=np.arange(1000, 1120))
    ds = Dataset(images, Classes.from_names(["cat", "dog", "hot dog"]), gt, {"m": pred})
    w = MainWindow()
    w.quiet = True
    w.set_session(Session(ds, image_root=Path(tmp_path_factory.mktemp("imgs"))), "filter")
    yield w
    w.session.history.mark_clean()
    w.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS), max_size=3))
def test_filter_matches_the_python_loop(listed: Any, words: list[str]) -> None:
    text = " ".join(words)
    got = listed.model.text_mask(text).tolist()
    assert got == _oracle_mask(listed.session.dataset, text), text


def _oracle_order(m: Any, key: str, desc: bool, visible: list[int]) -> list[int]:
    s = m.session
    vals = m.column_values(key)
    err = (s.column("fp") + s.column("fn")).astype(float)

    def k(i: int) -> tuple[Any, ...]:
        v = float(vals[i])
        nan = math.isnan(v)
        return (nan, 0.0 if nan else (-v if desc else v), -err[i], i)

    ranked = sorted(visible, key=k)
    deleted = s.dataset.images.deleted
    if any(deleted[i] for i in ranked) and not all(deleted[i] for i in ranked):
        ranked = [i for i in ranked if not deleted[i]] + [i for i in ranked if deleted[i]]
    return ranked


@pytest.mark.parametrize("key", ["mean_iou", "fp", "fn", "n_gt", "tp"])
@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("text", ["", "img", "deleted", "#hard"])
def test_sort_matches_a_python_sort(listed: Any, key: str, desc: bool, text: str) -> None:
    m = listed.model
    listed.filter_edit.setText(text)
    listed.sort_by(key, Qt.SortOrder.DescendingOrder if desc else Qt.SortOrder.AscendingOrder)
    visible = [i for i, ok in enumerate(_oracle_mask(m.session.dataset, text)) if ok]
    assert m.order.tolist() == _oracle_order(m, key, desc, visible)
    listed.filter_edit.clear()


def test_file_name_sort_and_set_mask(listed: Any) -> None:
    m = listed.model
    names = m.session.dataset.images.file_names
    listed.sort_by("file_name", Qt.SortOrder.AscendingOrder)
    alive = [i for i in sorted(range(N), key=lambda i: names[i])
             if not m.session.dataset.images.deleted[i]]
    assert m.order.tolist()[:len(alive)] == alive
    mask = np.zeros(N, bool)
    mask[[3, 5, 7, 11]] = True
    m.set_mask(mask)  # the query bar's (or a plot's) mask, ANDed with the text
    assert listed.images.count.text().startswith(f"4 of {N} images shown")
    m.set_filter("png")
    want = [i for i in (3, 5, 7, 11) if names[i].endswith(".png")]
    assert sorted(m.order.tolist()) == want
    assert listed.images.count.text().startswith(f"{len(want)} of {N} images shown")
    rank = np.zeros(N)
    rank[[7, 3]] = [2.0, 1.0]
    m.set_mask(mask, rank)  # a drill-down: most first, until a header sort
    assert m.order.tolist() == [7, 3, 5, 11]
    m.set_mask(None)
    m.set_filter("")
    assert m.rowCount() == N
    with pytest.raises(ValueError, match="shape"):
        m.set_mask(np.ones(3, bool))


def test_a_tag_edit_reaches_the_filter(listed: Any) -> None:
    s = listed.session
    s.set_tags([0], ["fresh"])
    listed.filter_edit.setText("#fresh")
    assert listed.model.order.tolist() == [0]
    s.undo()
    listed.filter_edit.setText("")
    listed.filter_edit.setText("#fresh")
    assert listed.model.rowCount() == 0
    listed.filter_edit.clear()


@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
       back=st.integers(0, 3))
def test_typing_letter_by_letter_matches_the_python_loop(listed: Any, words: list[str],
                                                         back: int) -> None:
    """The filter box narrows down from the previous mask while the last word grows;
    what it shows after each keystroke (and after deleting a few) is the loop's."""
    m = listed.model
    text = " ".join(words)
    typed = [text[:k] for k in range(1, len(text) + 1)]
    typed += [text[:len(text) - k] for k in range(1, back + 1)]
    ds = m.session.dataset
    for t in typed:
        m.set_filter(t)
        want = [i for i, ok in enumerate(_oracle_mask(ds, t)) if ok]
        assert sorted(m.order.tolist()) == want, repr(t)
    m.set_filter("")
