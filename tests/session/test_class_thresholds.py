"""Per-class score thresholds (issue 12, item 4): an override per class in the view
settings, folded into the session's params; the drawn predictions, the per-image
TP/FP/FN and the error breakdown follow it; stored by class name. Every expectation
comes from a plain-Python oracle over the boxes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detview.core.dataset import Dataset
from detview.core.image_columns import above_threshold
from detview.core.metrics import MetricParams
from detview.core.tables import Boxes, Classes, Images
from detview.session import Session, SessionEvent
from detview.session.view_settings import ViewSettings

from ._data import make_dataset

NAMES = ["cat", "dog", "bird"]


def _random_dataset(seed: int = 3, n_images: int = 12) -> Dataset:
    rng = np.random.default_rng(seed)
    gi, gc, gx, pi, pc, px, ps = [], [], [], [], [], [], []
    for i in range(n_images):
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 150, 2)
            w, h = rng.uniform(10, 60, 2)
            c = int(rng.integers(0, 3))
            gi.append(i)
            gc.append(c)
            gx.append([x, y, x + w, y + h])
            if rng.random() < 0.8:  # a prediction near it, maybe of another class
                d = rng.normal(0, 4, 4)
                pi.append(i)
                pc.append(c if rng.random() < 0.8 else int(rng.integers(0, 3)))
                px.append([x + d[0], y + d[1], x + w + d[2], y + h + d[3]])
                ps.append(float(rng.uniform(0.05, 1.0)))
        for _ in range(int(rng.integers(0, 3))):  # background predictions
            x, y = rng.uniform(0, 150, 2)
            pi.append(i)
            pc.append(int(rng.integers(0, 3)))
            px.append([x, y, x + 20, y + 20])
            ps.append(float(rng.uniform(0.05, 1.0)))
    images = Images(np.arange(n_images), [f"{i}.png" for i in range(n_images)],
                    [200] * n_images, [200] * n_images)
    gt = Boxes.build(n_images, image=gi, cls=gc, xyxy=gx)
    run = Boxes.build(n_images, image=pi, cls=pc, xyxy=px, score=ps,
                      box_id=list(range(1000, 1000 + len(pi))))
    return Dataset(images, Classes.from_names(NAMES), gt, {"model": run})


def _iou(a: list[float], b: list[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _oracle(ds: Dataset, global_thr: float, per_class: dict[int, float],
            iou_thr: float = 0.5) -> dict[str, list[list[int]]]:
    """Per image, per class: kept predictions, TP, FP, FN, by greedy matching in score
    order, each prediction taking the unmatched ground truth of its class with the
    highest IoU >= iou_thr (pycocotools' rule), in plain Python."""
    gt, run = ds.gt, ds.runs["model"]
    n, k = ds.n_images, len(NAMES)
    out = {x: [[0] * k for _ in range(n)] for x in ("kept", "tp", "fp", "fn")}
    for i in range(n):
        g = [(int(gt.cls[r]), gt.xyxy[r].tolist()) for r in range(len(gt.cls))
             if int(gt.image[r]) == i]
        p = [(float(run.score[r]), int(run.cls[r]), run.xyxy[r].tolist())
             for r in range(len(run.cls)) if int(run.image[r]) == i
             and float(run.score[r]) >= per_class.get(int(run.cls[r]), global_thr)]
        p.sort(key=lambda t: -t[0])
        used = [False] * len(g)
        for _s, c, box in p:
            out["kept"][i][c] += 1
            best, best_j = iou_thr, -1
            for j, (gc, gbox) in enumerate(g):
                if gc == c and not used[j]:
                    v = _iou(box, gbox)
                    if v >= best:
                        best, best_j = v, j
            if best_j >= 0:
                used[best_j] = True
                out["tp"][i][c] += 1
            else:
                out["fp"][i][c] += 1
        for j, (gc, _b) in enumerate(g):
            if not used[j]:
                out["fn"][i][gc] += 1
    return out


@pytest.fixture
def session() -> Session:
    return Session(_random_dataset(), params=MetricParams(0.4, 0.5))


def test_a_class_threshold_hides_only_that_classs_low_score_boxes(session: Session) -> None:
    ds, run = session.dataset, session.dataset.runs["model"]
    before = {i: set(session.image_view(i).pred_ids.tolist()) for i in range(ds.n_images)}
    assert session.set_class_threshold(1, 0.75)
    assert session.view_settings.threshold_of(1) == 0.75
    assert session.view_settings.threshold_of(0) is None
    hidden_any = False
    for i in range(ds.n_images):
        want = {int(run.box_id[r]) for r in range(len(run.cls)) if int(run.image[r]) == i
                and float(run.score[r]) >= (0.75 if int(run.cls[r]) == 1 else 0.4)}
        shown = set(session.image_view(i).pred_ids.tolist())
        assert shown == want
        gone = before[i] - shown
        # only dog boxes under 0.75 went, nothing else
        assert all(int(run.cls[run.rows_of([b])[0]]) == 1 for b in gone)
        hidden_any |= bool(gone)
    assert hidden_any  # the data has dogs between 0.4 and 0.75
    # a class threshold lower than the global one shows more of that class
    session.set_class_threshold(2, 0.1)
    for i in range(ds.n_images):
        want = {int(run.box_id[r]) for r in range(len(run.cls)) if int(run.image[r]) == i
                and float(run.score[r]) >= {1: 0.75, 2: 0.1}.get(int(run.cls[r]), 0.4)}
        assert set(session.image_view(i).pred_ids.tolist()) == want


def test_per_image_tp_fp_change_for_that_class_only(session: Session) -> None:
    ds = session.dataset
    events: list[SessionEvent] = []
    session.subscribe(events.append)
    base = _oracle(ds, 0.4, {})
    for col in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(session.column(col), [sum(r) for r in base[col]])
    assert session.set_class_threshold(0, 0.8)
    assert {"view", "settings"} <= {e.kind for e in events}
    assert session.params.class_thresholds == ((0, 0.8),)
    assert session.settings.params.class_thresholds == ((0, 0.8),)
    new = _oracle(ds, 0.4, {0: 0.8})
    for col in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(session.column(col), [sum(r) for r in new[col]])
        for i in range(ds.n_images):  # the other classes' counts did not move
            assert new[col][i][1:] == base[col][i][1:]
    assert any(new["tp"][i][0] != base["tp"][i][0] or new["fp"][i][0] != base["fp"][i][0]
               for i in range(ds.n_images))
    # the global threshold still moves the other classes, not the overridden one
    session.set_params(MetricParams(0.6, 0.5))
    assert session.params.class_thresholds == ((0, 0.8),)  # the toolbar keeps overrides
    for col in ("tp", "fp"):
        np.testing.assert_array_equal(session.column(col),
                                      [sum(r) for r in _oracle(ds, 0.6, {0: 0.8})[col]])
    # clearing the override falls back to the global threshold
    assert session.set_class_threshold(0, None)
    assert session.params.class_thresholds == ()
    for col in ("tp", "fp", "fn"):
        np.testing.assert_array_equal(session.column(col),
                                      [sum(r) for r in _oracle(ds, 0.6, {})[col]])


def test_the_error_breakdown_counts_the_kept_predictions(session: Session) -> None:
    ds = session.dataset
    session.set_class_threshold(2, 0.9)
    ea = session.derived.compute("errors")
    assert ea is not None
    kept = _oracle(ds, 0.4, {2: 0.9})["kept"]
    # every kept prediction is one entry of its predicted-class column
    assert ea.confusion[:, :3].sum(axis=0).tolist() == [
        sum(kept[i][c] for i in range(ds.n_images)) for c in range(3)]
    # the core rule itself, against the plain rule
    run = ds.runs["model"]
    got = above_threshold(run, 0.4, session.params.thresholds(3)).alive.tolist()
    assert got == [float(s) >= {2: 0.9}.get(int(c), 0.4)
                   for s, c in zip(run.score, run.cls, strict=True)]


def test_class_thresholds_persist_by_class_name(tmp_path: Path) -> None:
    v = ViewSettings().with_threshold(1, 0.7).with_threshold(0, 0.25)
    d = v.to_dict(["cat", "dog", "bird"])
    assert d["class_thresholds"] == {"cat": 0.25, "dog": 0.7}
    # another dataset with the classes in another order: the names carry them
    w = ViewSettings.from_dict(d, ["bird", "dog", "horse", "cat"])
    assert dict(w.class_thresholds) == {1: 0.7, 3: 0.25}
    assert w.threshold_of(0) is None and w.threshold_of(2) is None
    # bad stored values are skipped, never an exception
    bad = ViewSettings.from_dict({"class_thresholds": {"cat": "x", "dog": 3.0, "bird": True,
                                                       "zebra": 0.5, "#1": 0.2}},
                                 ["cat", "dog", "bird"])
    assert bad.class_thresholds == ((1, 0.2),)
    assert ViewSettings.from_dict({"class_thresholds": [1, 2]}).class_thresholds == ()
    # one session to the next: restored record, the numbers follow
    s1 = Session(make_dataset(tmp_path / "a"))
    s1.set_class_threshold(3, 0.65)  # "car"
    stored = s1.view_settings.to_dict(s1.dataset.classes.names)
    s2 = Session(make_dataset(tmp_path / "b"))
    assert s2.update_view(ViewSettings.from_dict(stored, s2.dataset.classes.names))
    assert s2.params.class_thresholds == ((3, 0.65),)
    run = s2.dataset.runs["model"]
    # image 2 of the test data: a car at 0.6 (under 0.65: gone) and a cat at 0.7
    shown = set(s2.image_view(2).pred_ids.tolist())
    want = {int(run.box_id[r]) for r in range(len(run.cls)) if int(run.image[r]) == 2
            and float(run.score[r]) >= (0.65 if int(run.cls[r]) == 3 else 0.5)}
    assert shown == want and 104 not in shown and 103 in shown
    # clearing every override
    assert s2.set_class_threshold(-1, None)
    assert s2.view_settings.class_thresholds == () and 104 in set(
        s2.image_view(2).pred_ids.tolist())


def test_params_given_with_class_thresholds_land_in_the_view_settings() -> None:
    s = Session(_random_dataset(), params=MetricParams(0.4, 0.5, ((1, 0.9),)))
    assert s.view_settings.class_thresholds == ((1, 0.9),)
    assert s.params == MetricParams(0.4, 0.5, ((1, 0.9),))
    want = _oracle(s.dataset, 0.4, {1: 0.9})
    np.testing.assert_array_equal(s.column("tp"), [sum(r) for r in want["tp"]])
