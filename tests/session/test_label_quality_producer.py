"""Label quality as a derived value of the session: one producer, kept current after
each edit by re-scoring the touched images; checked against a fresh computation of the
edited dataset after every step (the incremental path against the whole one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detview.session import Session
from detview.session.label_quality import LQ_COLUMNS

from ._lq_data import BAD, BAD_PRED_XY, SWAP, lq_dataset

FIELDS = ("swap", "badloc", "overlooked", "swap_class", "badloc_pred_box_id",
          "swap_issue", "badloc_issue", "overlooked_issue", *LQ_COLUMNS)


def _same_as_fresh(s: Session) -> None:
    from detview.core.label_quality import dataset_label_quality

    live = s.label_quality()
    assert live is not None
    fresh = dataset_label_quality(s.dataset, s.run or "")
    for name in FIELDS:
        np.testing.assert_allclose(np.asarray(getattr(live, name), float),
                                   np.asarray(getattr(fresh, name), float),
                                   rtol=0, atol=1e-12, err_msg=name)
    for name in LQ_COLUMNS:
        np.testing.assert_array_equal(s.column(name), np.asarray(getattr(fresh, name), float))


@pytest.fixture
def session(tmp_path: Path) -> Session:
    ds = lq_dataset(tmp_path / "img")
    ds.runs["noisy"] = ds.runs["model"].copy()
    ds.runs["noisy"].score[:] = np.linspace(0.3, 1.0, len(ds.runs["noisy"]))
    return Session(ds)


def test_scores_follow_every_edit_like_a_fresh_computation(session: Session) -> None:
    s = session
    assert s.label_quality() is None  # not wanted yet: nothing computed
    s.derived.want("label_quality")  # small: computed at once
    _same_as_fresh(s)
    gt = s.dataset.gt
    ids = [int(b) for b in gt.box_id[:12]]
    steps = [
        lambda: s.delete_boxes([ids[5]]),
        lambda: s.nudge_boxes([ids[6]], 7, 0),
        lambda: s.relabel_boxes([ids[7]], 1 - int(gt.cls[gt.rows_of([ids[7]])[0]])),
        lambda: s.add_boxes(3, [0], np.array([[10.0, 10, 60, 60]]), ["drawn"]),
        lambda: s.set_images_deleted([4], True),
        lambda: s.apply_lq_suggestions([SWAP, BAD]),
        s.undo, s.undo, s.redo,
    ]
    for step in steps:
        step()
        _same_as_fresh(s)


def test_suggestions_apply_as_one_undo_step(session: Session) -> None:
    s = session
    assert not s.apply_lq_suggestions([SWAP])  # not computed: nothing to apply
    s.derived.compute("label_quality")
    gt = s.dataset.gt
    n = len(s.history)
    assert s.apply_lq_suggestions([SWAP, BAD, 5])  # box 5 has no suggestion: left alone
    assert len(s.history) == n + 1
    assert int(gt.cls[gt.rows_of([SWAP])[0]]) == 1
    np.testing.assert_allclose(gt.xyxy[gt.rows_of([BAD])[0]], BAD_PRED_XY)
    s.undo()
    assert int(gt.cls[gt.rows_of([SWAP])[0]]) == 0
    # R's target for a badly placed box is its label-quality snap target
    s.update_view(lq_hints=True)
    v = s.image_view(0)
    assert s.replacement_for(v, BAD) == int(v.gt_snap[v.gt_ids == BAD][0]) == 1001


def test_scores_are_per_run_and_computed_off_the_thread_on_request(session: Session) -> None:
    s = session
    task = s.derived.request("label_quality", sync=False)
    assert task is not None
    s.runner.wait_all(60)
    _same_as_fresh(s)
    first = s.derived.get("label_quality")
    s.set_run("noisy")
    assert s.label_quality() is None  # another run: not this one's scores
    s.derived.compute("label_quality")
    _same_as_fresh(s)
    s.delete_boxes([int(s.dataset.gt.box_id[3])])  # while "model" is parked
    s.set_run("model")
    s.derived.request("label_quality")
    assert s.derived.get("label_quality") is first  # came back, caught up
    _same_as_fresh(s)
    # a run's view of another run carries no hints (they are run A's)
    v = s.image_view(0, run="noisy")
    assert not v.has_lq and len(s.image_view(0).gt_likely) == len(s.image_view(0).gt_ids)


def test_the_producer_gives_the_engine_columns(session: Session) -> None:
    from detview.core import label_quality as engine

    assert "label_quality" in session.derived.names
    assert engine.LQ_COLUMNS == LQ_COLUMNS
    assert set(LQ_COLUMNS) <= set(session.derived.column_names())
