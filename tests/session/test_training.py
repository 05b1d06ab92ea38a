"""session.training: logs read into the session, TensorBoard smoothing, curves, details,
checkpoints and the per-image differences of two runs (checked against tables
recomputed from scratch and against plain loops)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detview.core.dataset import Dataset
from detview.core.metrics import MetricParams, PerImageMetrics
from detview.io.spec import DatasetSpec
from detview.session import Session, load
from detview.session.training import (
    curves,
    details,
    duplicate_logs,
    ema,
    logs_beside,
    read_logs,
)
from tests.gui.runs_data import write_results_csv, write_tiny_coco, write_torchvision_log

from ._data import make_dataset


# ----------------------------------------------------------------------------- smoothing
def tensorboard_smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's frontend smoothing, transcribed loop for loop (the referee)."""
    last = 0.0 if values else math.nan
    num_accum = 0
    is_constant = all(v == values[0] for v in values)
    out = []
    for v in values:
        if is_constant or not math.isfinite(v):
            out.append(v)
        else:
            last = last * weight + (1 - weight) * v
            num_accum += 1
            debias = 1.0 if weight == 1 else 1 - weight ** num_accum
            out.append(last / debias)
    return out


def test_ema_by_hand() -> None:
    got = ema([1.0, 2.0, 3.0], 0.5)
    # 0.5/0.5, (0.25+1)/0.75, (0.625+1.5)/0.875
    assert got.tolist() == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    assert ema([4.0, 4.0, 4.0], 0.9).tolist() == [4.0, 4.0, 4.0]
    assert ema([1.0, 5.0], 0.0).tolist() == [1.0, 5.0]
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf)),
                max_size=40),
       st.floats(0.0, 0.99))
def test_ema_matches_tensorboard(values: list[float], weight: float) -> None:
    want = tensorboard_smooth(values, weight)
    got = ema(values, weight).tolist()
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if math.isnan(w):
            assert math.isnan(g)
        else:
            assert g == pytest.approx(w, rel=1e-9, abs=1e-9)


# ----------------------------------------------------------------------------- logs
def test_read_logs_folder_bad_file_and_no_duplicates(tmp_path: Path) -> None:
    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=5)
    bad = tmp_path / "broken" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text('{"iteration": 1, "loss": 0.5}\n{"iteration": oops}\n{"iteration": 3}\n')
    logs, problems = read_logs([tmp_path / "exp", csv, bad, tmp_path / "nothing"])
    assert [lg.path for lg in logs].count(str(csv)) == 1  # the folder and the file: once
    assert any("metrics.json" in p for p in problems)
    assert any("nothing" in p for p in problems)
    assert all("Traceback" not in p for p in problems)


def test_duplicate_logs_found_by_values(tmp_path: Path) -> None:
    a = write_results_csv(tmp_path / "a" / "results.csv", epochs=6, seed=1)
    b = tmp_path / "b" / "results.csv"
    b.parent.mkdir()
    b.write_text(a.read_text())
    c = tmp_path / "c" / "results.csv"
    c.parent.mkdir()
    lines = a.read_text().splitlines()
    cells = lines[3].split(",")
    cells[2] = f"{float(cells[2]) * 1.5:>20.5g}"  # one value changed
    lines[3] = ",".join(cells)
    c.write_text("\n".join(lines) + "\n")
    logs, _ = read_logs([a, b, c])
    assert duplicate_logs(logs) == {1}


def test_duplicate_logs_real_results_csv_and_event_file(realdata: Path) -> None:
    folder = realdata / "coco128_yolov5s_trainlog"
    logs, problems = read_logs([folder / "results.csv", folder])
    assert not problems
    assert [lg.format for lg in logs] == ["ultralytics", "tensorboard"]
    assert duplicate_logs(logs) == {1}


def test_curves_epoch_axis_minus_one_and_log_scale(tmp_path: Path) -> None:
    logs, _ = read_logs([write_torchvision_log(tmp_path / "tv" / "train.log", epochs=3)])
    cs = {(c.split, c.tag): c for c in curves(logs, "epoch")}
    aps = cs[("val", "bbox/APs")]
    assert np.isnan(aps.y).all()  # -1: no ground truth of that size, not a value
    ap = cs[("val", "bbox/AP")]
    assert ap.x.tolist() == [1.0, 2.0, 3.0]
    assert ap.y.tolist() == pytest.approx([0.1, 0.2, 0.3])
    loss = cs[("train", "loss")]
    assert np.all(np.diff(loss.x) > 0) and loss.x[-1] == pytest.approx(3.0)
    by_step = {(c.split, c.tag): c for c in curves(logs, "step", log_y=True)}
    assert by_step[("train", "loss")].x.tolist() == list(range(12))
    assert not by_step[("train", "loss")].x_is_step
    # an event file has no epochs: on an epoch axis it stays on its steps and says so
    csv_logs, _ = read_logs([write_results_csv(tmp_path / "y" / "results.csv", epochs=4)])
    c0 = curves(csv_logs, "epoch")[0]
    assert c0.x.tolist() == [1.0, 2.0, 3.0, 4.0] and not c0.x_is_step


def test_details_sections(tmp_path: Path) -> None:
    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=3)
    (tmp_path / "exp" / "opt.yaml").write_text("data: data/coco128.yaml\nepochs: 3\n"
                                               "hyp:\n  lr0: 0.01\n")
    (tmp_path / "exp" / "hyp.yaml").write_text("lr0: 0.01\nmosaic: 1.0\n")
    logs, _ = read_logs([csv])
    rows = details(logs[0])
    got = {(a, b): c for a, b, c in rows}
    assert got[("Origin", "format")] == "ultralytics"
    assert got[("Origin", "log file")] == str(csv)
    assert got[("Datasets", "opt.yaml: data")] == "data/coco128.yaml"
    assert got[("Parameters — opt.yaml", "epochs")] == "3"
    assert got[("Parameters — opt.yaml", "hyp.lr0")] == "0.01"
    assert got[("Parameters — hyp.yaml", "mosaic")] == "1"


def test_load_reads_spec_logs_and_logs_beside_predictions(tmp_path: Path) -> None:
    d = write_tiny_coco(tmp_path / "ds", names={"a": "run/a.json", "b": "other/b.json"})
    beside = write_results_csv(tmp_path / "ds" / "run" / "results.csv", epochs=3)
    given_log = write_torchvision_log(tmp_path / "logs" / "train.log", epochs=2)
    assert logs_beside([d["preds"]["a"]]) == [beside]  # type: ignore[index]
    spec = DatasetSpec.make(images=d["images"], gt=d["gt"],
                            preds=list(d["preds"].items()),  # type: ignore[attr-defined]
                            logs=[given_log])
    s = load(spec).session()
    assert sorted(lg.path for lg in s.training.logs) == sorted([str(given_log), str(beside)])
    # a folder with many files beside the predictions (an image folder) is not searched
    many = tmp_path / "many"
    many.mkdir()
    for k in range(520):
        (many / f"{k}.txt").write_text("")
    write_results_csv(many / "results.csv", epochs=2)
    assert logs_beside([many / "preds.json"]) == []


def test_spec_json_keeps_journal_key_without_logs(tmp_path: Path) -> None:
    from detview.io.journal import source_key

    a = DatasetSpec.make(images=tmp_path, gt=tmp_path / "gt.json")
    b = DatasetSpec.make(images=tmp_path, gt=tmp_path / "gt.json", logs=[tmp_path / "x.log"])
    assert source_key(a.to_json()) == source_key(b.to_json())  # same journal either way
    assert DatasetSpec.from_json(b.to_json(with_logs=True)).logs == b.logs


# ----------------------------------------------------------------------------- checkpoints
def _checkpoint_session(tmp_path: Path) -> Session:
    ds = make_dataset(tmp_path / "images")
    m, o = ds.runs["model"], ds.runs["other"]
    ds2 = Dataset(ds.images, ds.classes, ds.gt, {"yolo@epoch1": o, "yolo@epoch2": m,
                                                 "yolo@epoch3": m.copy(), "plain": o.copy()},
                  meta=ds.meta)
    return Session(ds2)


def test_checkpoints_grouped_and_selected(tmp_path: Path) -> None:
    s = _checkpoint_session(tmp_path)
    (t,) = s.training.trainings()
    assert (t.name, t.unit, t.steps) == ("yolo", "epoch", (1, 2, 3))
    # an epoch training is matched by the epoch when the log knows it, else by the step
    assert s.training.checkpoint_at(step=7, epoch=2.0) == "yolo@epoch2"
    assert s.training.checkpoint_at(step=3) == "yolo@epoch3"
    assert s.training.checkpoint_at(step=4, epoch=1.5) is None
    assert s.training.checkpoint_at(step=9) is None
    events = []
    s.subscribe(lambda e: events.append((e.kind, e.name)))
    assert s.training.select_checkpoint("yolo@epoch3")
    assert s.run == "yolo@epoch3"
    assert ("training", "checkpoint") in events and ("settings", "") in events
    got = s.training.across(0, "tp")
    assert got is not None
    want = [PerImageMetrics(s.dataset, r, s.params).column("tp")[0] for r in t.runs]
    assert got[1].tolist() == want
    assert s.training.across(0, "tp", run="plain") is None


# ----------------------------------------------------------------------------- differences
def _fresh(s: Session, run: str) -> pd.DataFrame:
    """A run's per-image numbers recomputed from scratch on a copy of the data."""
    from detview.core.analysis import LiveCOCO

    ds = s.dataset.copy()
    t = PerImageMetrics(ds, run, s.params).table()
    coco = LiveCOCO.for_run(ds, run, s.all_predictions, s.params.score_threshold)
    t["ap"], t["ap50"] = coco.ap, coco.ap50
    return t


@pytest.mark.parametrize("all_predictions", [False, True])
def test_diff_columns_equal_fresh_tables_and_follow_edits(tmp_path: Path,
                                                          all_predictions: bool) -> None:
    ds = make_dataset(tmp_path / "images")
    s = Session(ds, params=MetricParams(0.5, 0.5))
    s.set_all_predictions(all_predictions)
    for c in ("d_mean_iou", "d_tp"):
        assert np.isnan(s.column(c)).all()  # nothing compared yet
    assert s.training.set_pair("model", "other")
    s.derived.compute("diff")

    def check() -> None:
        pair = s.training.pair
        assert pair is not None
        a, b = _fresh(s, pair[0]), _fresh(s, pair[1])
        for m in ("mean_iou", "ap", "ap50", "tp", "fp", "fn"):
            want = b[m].to_numpy(np.float64) - a[m].to_numpy(np.float64)
            np.testing.assert_allclose(s.column(f"d_{m}"), want, atol=1e-12, err_msg=m)
        assert np.isnan(s.column("d_label_quality")).all()  # neither run carries it

    check()
    gt = s.dataset.gt
    s.delete_boxes([int(gt.box_id[1])])  # image 0 loses its missed dog
    s.relabel_boxes([int(gt.box_id[3])], 0)  # image 2's car becomes a cat
    check()
    s.undo()
    check()
    s.training.set_pair("other", "model")  # swapped: the signs flip
    s.derived.compute("diff")
    check()
    s.training.set_pair(None, None)
    assert np.isnan(s.column("d_tp")).all()
    with pytest.raises(ValueError):
        s.training.set_pair("model", "model")
    with pytest.raises(KeyError):
        s.training.set_pair("model", "nope")


def test_diff_label_quality_where_both_runs_carry_it(tmp_path: Path) -> None:
    s = Session(make_dataset(tmp_path / "images"))
    lq = {"model": np.array([0.9, 0.5, 0.25]), "other": np.array([0.8, 0.75, 0.25])}
    for run, v in lq.items():
        s.metrics[run].set_columns({"label_quality": v})
    s.training.set_pair("model", "other")
    s.derived.compute("diff")
    np.testing.assert_allclose(s.column("d_label_quality"), lq["other"] - lq["model"])
