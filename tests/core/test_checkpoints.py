"""Checkpoint runs recognised from names and paths, grouped into trainings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detview.core.checkpoints import Training, group_checkpoints, parse_checkpoint


@pytest.mark.parametrize("run, path, training, step, unit", [
    ("preds_step400", "runs/preds_step400.json", "preds", 400, "step"),
    ("preds", "runs/exp/epoch_12/preds.json", "exp/preds", 12, "epoch"),
    ("yolo@400", "/x/whatever.json", "yolo", 400, "step"),
    ("yolo@epoch3", None, "yolo", 3, "epoch"),
    ("yolo@e3", None, "yolo", 3, "epoch"),
    ("frcnn", "/out/model_0004999.json", "out", 4999, "step"),
    ("predictions", "/hf/checkpoint-500/predictions.json", "hf/predictions", 500, "step"),
    ("ep7", "/p/ep7.json", "p", 7, "epoch"),
    ("iter_4000", None, "iter", 4000, "step"),
    ("ckpt-20", "/w/ckpt-20/dets.json", "w/dets", 20, "step"),
])
def test_parse(run, path, training, step, unit):
    c = parse_checkpoint(run, path)
    assert c is not None
    assert (c.training, c.step, c.unit) == (training, step, unit)


@pytest.mark.parametrize("run, path", [
    ("yolov5s", "/p/yolov5s.json"),  # a digit inside a word is not a step
    ("model_3", "/p/model_3.json"),  # neither is model_N without detectron2's zeros
    ("final", "/p/final.json"),
    ("preds_400", "/q/preds_400.json"),  # a bare number alone is not enough
    ("a@b", None),
])
def test_not_checkpoints(run, path):
    assert parse_checkpoint(run, path) is None


def test_grouping_orders_steps_and_keeps_plain_runs():
    runs = [("preds_step800", "r/preds_step800.json"), ("yolov8s", "/p/yolov8s.json"),
            ("preds_step400", "r/preds_step400.json"), ("preds_step1200", "r/preds_step1200.json"),
            ("a", "exp/epoch_2/preds.json"), ("b", "exp/epoch_10/preds.json"),
            ("yolov5s", "/p/yolov5s.json"),
            ("p400", "/q/out_400.json"), ("p100", "/q/out_100.json"),
            ("dup", "r/other/preds_step400.json")]
    trainings, plain = group_checkpoints(runs)
    assert trainings == [
        Training("preds", "step", (400, 800, 1200), ("preds_step400", "preds_step800",
                                                     "preds_step1200")),
        Training("exp/preds", "epoch", (2, 10), ("a", "b")),
        Training("out", "step", (100, 400), ("p100", "p400")),
    ]
    names = {t.name: t for t in trainings}
    # "dup" has a step its training already has: it stays a plain run
    assert sorted(plain) == ["dup", "yolov5s", "yolov8s"]
    t = names["preds"]
    assert t.run_at(800) == "preds_step800" and t.nearest(1000) == "preds_step800"
    assert t.nearest(1001) == "preds_step1200" and t.step_of("preds_step400") == 400
    with pytest.raises(KeyError):
        t.run_at(500)


def test_explicit_single_checkpoint_is_a_training():
    trainings, plain = group_checkpoints([("m@100", None), ("other", None)])
    assert trainings == [Training("m", "step", (100,), ("m@100",))] and plain == ["other"]


@given(st.lists(st.tuples(
    st.text(alphabet="ab_-@0123456789step", min_size=1, max_size=12),
    st.one_of(st.none(), st.text(alphabet="ab_/-.0123456789epochjsn", max_size=20))),
    max_size=12, unique_by=lambda t: t[0]))
def test_every_run_lands_exactly_once(runs):
    trainings, plain = group_checkpoints(runs)
    placed = [r for t in trainings for r in t.runs] + plain
    assert sorted(placed) == sorted(n for n, _ in runs)
    for t in trainings:
        assert list(t.steps) == sorted(set(t.steps)) and len(t.steps) == len(t.runs)
