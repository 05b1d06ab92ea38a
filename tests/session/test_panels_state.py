"""The panels' state in the session layer, without Qt: match records kept current after
edits, the health check as a derived value, the query table, saved views, object sets
and batch edits as one undo step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detview.core.drilldown import match_records, threshold_curve
from detview.core.metrics import MetricParams
from detview.core.query import ClassCounts, QueryTable, SavedView, compile_query
from detview.session import Session
from detview.session.derived import add_panel_producers
from detview.session.objects import (
    SOURCES,
    accept_many,
    accept_objects,
    apply_hints,
    available,
    delete_many,
    object_set,
    relabel_many,
    review_many,
)
from detview.session.views import SavedViews, query_table

from ._data import make_dataset
from .test_derived import edit_a_lot, synthetic_session


def _session(tmp_path: Path) -> Session:
    s = Session(make_dataset(tmp_path / "images"), image_root=tmp_path / "images")
    add_panel_producers(s.derived)
    return s


def test_match_records_follow_edits_and_ignore_the_score_threshold() -> None:
    s = synthetic_session(4)
    add_panel_producers(s.derived)
    s.derived.compute("matches")
    busy: list[str] = []
    s.subscribe(lambda e: busy.append(e.name) if e.kind == "busy" else None)
    s.set_params(MetricParams(0.2, s.params.iou_threshold))  # no recomputation
    assert s.derived.is_current("matches") and busy == []
    edit_a_lot(s)
    got = s.derived.get("matches").records
    ds = s.dataset
    want = match_records(ds.gt, ds.runs["a"], len(ds.classes), None, 0.5)
    for a, b in ((got, want),):
        oa, ob = np.lexsort((a.box_id, a.image)), np.lexsort((b.box_id, b.image))
        for n in ("image", "box_id", "outcome", "iou", "gt_box_id"):
            assert np.array_equal(getattr(a, n)[oa], getattr(b, n)[ob]), n
    assert threshold_curve(got).f1.tolist() == threshold_curve(want).f1.tolist()
    s.set_params(MetricParams(0.2, 0.7))  # the IoU threshold is part of the key
    assert not s.derived.is_current("matches")
    s.derived.compute("matches")
    assert s.derived.get("matches").records.iou_threshold == 0.7


def test_health_check_is_a_derived_value_run_when_asked(tmp_path: Path) -> None:
    s = _session(tmp_path)
    assert "health" not in s.derived.wanted
    (tmp_path / "images" / "b.png").write_bytes(
        (tmp_path / "images" / "b.png").read_bytes()[:200])  # truncated
    task = s.derived.request("health", sync=False)
    assert task is not None and task.label == "Checking the dataset"
    s.runner.wait_all(60)
    rep = s.derived.get("health")
    kinds = {(f.kind, f.image) for f in rep.findings}
    assert ("truncated", 1) in kinds or ("unreadable", 1) in kinds
    assert s.derived.is_current("health")
    s.delete_boxes([0])
    assert not s.derived.is_current("health")  # out of date, still shown
    assert s.derived.get("health") is rep


def test_query_table_answers_like_the_fixture_says(tmp_path: Path) -> None:
    s = _session(tmp_path)
    t = query_table(s)

    def rows(expr: str) -> list[int]:
        return compile_query(expr, t).rows(t).tolist()

    assert rows('fp[cat] >= 1') == [2]  # image 2: a cat predicted over a car
    assert rows('fp[dog] >= 1') == [0]
    assert rows("fn > 0") == [0, 2]
    assert rows('class == "person"') == [1]
    assert rows("mean_iou >= 0.99") == [1]
    assert rows('file_name == "b.png"') == [1] and rows('file_name ~ "png"') == [0, 1, 2]
    assert query_table(s) is t  # kept while nothing changed (a query typed key by key)
    s.set_tags([1], ["review"])
    s.set_reviewed([2], True)
    assert query_table(s) is not t  # an edit: built again
    t = query_table(s)
    assert rows('tag == "review"') == [1] and rows("reviewed") == [2]
    with pytest.raises(ValueError, match="not computed yet"):
        compile_query("err_loc > 0", t)  # the error breakdown has not run
    s.derived.compute("errors")
    s.derived.compute("matches")
    t = query_table(s)
    assert rows("err_cls > 0") == [2]


def test_per_class_counts_from_the_records_equal_matching_per_image() -> None:
    s = synthetic_session(7)
    add_panel_producers(s.derived)
    s.set_params(MetricParams(0.4, 0.5))
    s.derived.compute("matches")
    edit_a_lot(s)
    t = query_table(s)
    ref = ClassCounts.from_metrics(s.current)  # the image-by-image path
    for kind in ("gt", "pred", "tp", "fp", "fn"):
        got = t.counts.dense(kind)  # type: ignore[union-attr]
        assert np.array_equal(got, ref.dense(kind)), kind


def test_saved_views_round_trip_and_bad_input_changes_nothing() -> None:
    views = SavedViews()
    seen: list[int] = []
    views.subscribe(lambda: seen.append(1))
    n = len(views.names())
    views.save(SavedView("Crowded misses", "fn >= 3 and n_gt > 10", (("fn", False),)))
    views.save(SavedView("Crowded misses", "fn >= 4"))  # same name: replaced in place
    assert len(views.names()) == n + 1 and views.get("Crowded misses").expression == "fn >= 4"
    again = SavedViews([])
    again.load(views.to_json())
    assert again.views == views.views
    with pytest.raises(ValueError, match="two saved views"):
        again.load(views.to_json() + views.to_json()[-1:])
    assert again.views == views.views
    assert views.remove("Crowded misses") and not views.remove("Crowded misses")
    assert len(seen) == 3
    table = QueryTable({"fp": np.zeros(2), "fn": np.zeros(2)})
    fits = dict((v.name, why) for v, why in SavedViews().applicable(table))
    assert fits["Most false positives"] == ""
    assert "mean_iou" in fits["Worst IoU"] or "n_gt" in fits["Worst IoU"]


def test_object_sets_of_the_fixture(tmp_path: Path) -> None:
    s = _session(tmp_path)
    assert object_set(s, "fn") is None  # the records are not computed yet
    s.derived.compute("matches")
    s.derived.compute("errors")
    fn = object_set(s, "fn")
    assert sorted(fn.box_id.tolist()) == [1, 3] and not fn.is_pred.any()
    fp = object_set(s, "fp")
    assert sorted(fp.box_id.tolist()) == [101, 103] and fp.is_pred.all()
    assert sorted(object_set(s, "gt", cls=3).box_id.tolist()) == [3, 4]
    cls_err = object_set(s, "err:Cls")
    assert cls_err.box_id.tolist() == [103]  # the cat over the car
    assert 0.5 < float(cls_err.iou[0]) <= 1.0
    keys = [src.key for src in available(s)]
    assert "lq:swap" not in keys or "label_quality" in s.derived.names
    assert set(keys) <= set(SOURCES)


def test_batch_edits_are_one_undo_step_each(tmp_path: Path) -> None:
    s = _session(tmp_path)
    gt = s.dataset.gt
    before = gt.cls.copy(), gt.alive.copy()
    assert delete_many(s, [0, 2, 3])  # three boxes in three images
    assert len(s.history) == 1 and not gt.alive[gt.rows_of([0, 2, 3])].any()
    assert "Delete 3 boxes" in s.step_text(s.history.done[-1])
    s.undo()
    assert np.array_equal(gt.alive, before[1])
    assert relabel_many(s, [0, 4], 1)
    assert gt.cls[gt.rows_of([0, 4])].tolist() == [1, 1]
    assert apply_hints(s, [0, 4, 2], [0, -1, 3])  # back to cat; 4 kept; person -> car
    assert gt.cls[gt.rows_of([0, 4, 2])].tolist() == [0, 1, 3]
    assert len(s.history) == 2
    new = accept_many(s, [101, 103])  # two images
    assert len(new) == 2 and len(s.history) == 3
    assert sorted(s.dataset.gt.image[s.dataset.gt.rows_of(list(new))].tolist()) == [0, 2]
    assert review_many(s, [0, 2, 2])
    assert s.dataset.images.reviewed.tolist() == [True, False, True]
    for _ in range(4):
        s.undo()
    assert np.array_equal(s.dataset.gt.cls[:len(before[0])], before[0])
    assert len(s.dataset.gt) == len(before[0]) and not s.dataset.images.reviewed.any()
    assert not delete_many(s, []) and not relabel_many(s, [2], 2)  # nothing to do
    # the grid's Accept on a mixed selection: one step for all three kinds
    n = len(s.history.done)
    assert accept_objects(s, [101], [0], [1], [1])
    assert len(s.history.done) == n + 1
    assert s.dataset.gt.cls[s.dataset.gt.rows_of([0])][0] == 1
    assert s.dataset.images.reviewed[1] and len(s.dataset.gt) == len(before[0]) + 1
    s.undo()
    assert s.dataset.gt.cls[s.dataset.gt.rows_of([0])][0] == 0
    assert not s.dataset.images.reviewed.any() and len(s.dataset.gt) == len(before[0])


def test_suspected_swaps_come_from_the_label_quality_scores() -> None:
    """A car annotated where a confident prediction sees a cat: "Suspected swaps" lists
    it with its likely class, and Accept (apply the hint) relabels it in one step."""
    from detview.core.dataset import Dataset
    from detview.core.tables import Boxes, Classes, Images

    n = 6
    box = [[20, 20, 120, 100]]
    gt = Boxes.build(n, list(range(n)), [1] * n, box * n)  # cars everywhere
    # the last image's prediction is a cat; a far low-score car in image 0 gives the
    # smallest similarity of the set (a swap scores no lower than that)
    preds = Boxes.build(n, list(range(n)) + [0], [1] * (n - 1) + [0, 1],
                        box * n + [[150, 110, 190, 140]], score=[0.99] * n + [0.3],
                        box_id=np.arange(n + 1) + 100)
    ds = Dataset(Images(np.arange(n), [f"{i}.jpg" for i in range(n)], [200] * n, [150] * n),
                 Classes.from_names(["cat", "car"]), gt, {"m": preds})
    s = Session(ds)
    add_panel_producers(s.derived)
    assert object_set(s, "lq:swap") is None  # not computed yet
    s.derived.compute("label_quality")
    lq = s.label_quality()
    assert lq is not None and bool(lq.swap_issue[n - 1])
    swaps = object_set(s, "lq:swap")
    assert swaps.box_id.tolist() == [n - 1] and swaps.hint.tolist() == [0]
    assert swaps.quality[0] == lq.swap[n - 1]
    assert "lq:swap" in [src.key for src in available(s)]
    assert apply_hints(s, swaps.box_id.tolist(), swaps.hint.tolist())
    assert ds.gt.cls[ds.gt.rows_of([n - 1])][0] == 0 and len(s.history) == 1
    assert object_set(s, "lq:swap").box_id.tolist() == []  # fixed: no longer suspected
