"""Checkpoints in the image view: three checkpoints of one training opened together, the
slider switching the predictions shown (image, zoom and selection kept), and the image
list's Δ columns checked against the two runs' ``detview eval`` tables (plain pandas)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QRectF, Qt

from detview.cli.main import main as cli
from detview.io.spec import DatasetSpec
from detview.session import load
from tests.gui.conftest import sized
from tests.gui.runs_data import write_checkpoints, write_tiny_coco


def open_main(qtbot: Any, spec: DatasetSpec) -> Any:
    from detview.gui.main_window import MainWindow

    w = MainWindow()
    w.quiet = True
    w.use_journal = False
    qtbot.addWidget(w)
    sized(w, 1600, 1000)
    w.show()
    qtbot.waitExposed(w)
    w.open_loaded(load(spec))
    return w


def eval_table(tmp: Path, args: list[str], run: str, path: Path) -> pd.DataFrame:
    out = tmp / f"eval_{run.replace('@', '_')}.csv"
    assert cli(["eval", *args, "--pred", f"{run}={path}", "--more", "--out", str(out)]) == 0
    return pd.read_csv(out)


def check_checkpoints(qtbot: Any, tmp_path: Path, spec: DatasetSpec, eval_args: list[str],
                      steps: tuple[int, ...]) -> None:
    w = open_main(qtbot, spec)
    s = w.session
    (t,) = s.training.trainings()
    assert t.steps == steps and t.unit == "epoch"
    assert w.compare.isVisible()
    runs = list(t.runs)
    # the plot follows the image shown from the start
    assert w.compare.image == w.current_image >= 0 and w.compare.values() is not None
    # ---- the slider: the predictions change, the image, zoom and selection stay
    w.select_image(3)
    gt_ids = w.viewer.gt_pane.ids.tolist()
    if gt_ids:
        w.viewer.gt_pane.set_selected(gt_ids[:1], emit=True)
    w.viewer.gt_pane.show_rect(QRectF(10, 10, 60, 40))
    zoom = w.viewer.gt_pane.vb.viewRange()
    strip = w.compare
    assert s.run == runs[0] and strip.slider.value() == 0
    for k in (1, 2, 0):
        strip.slider.setFocus()
        key = Qt.Key.Key_Right if k > strip.slider.value() else Qt.Key.Key_Home
        while strip.slider.value() != k:
            qtbot.keyClick(strip.slider, key)
        run = runs[k]
        assert s.run == run and w.run_combo.currentText() == run
        v = w.viewer.view
        assert v is not None and v.run == run and v.index == 3 and w.current_image == 3
        preds = s.dataset.runs[run]
        sl = preds.image_slice(3)
        keep = preds.alive[sl] & (preds.score[sl] >= s.params.score_threshold)
        assert sorted(w.viewer.pred_pane.ids.tolist()) == sorted(preds.box_id[sl][keep].tolist())
        assert w.viewer.gt_pane.vb.viewRange() == zoom
        assert w.viewer.gt_pane.selected == gt_ids[:1]
        assert f"{t.unit} {t.steps[k]}" in strip.step_label.text()
    # the shortcut moves it too
    w.actions_by_name["next_checkpoint"].trigger()
    assert s.run == runs[1]
    # the plot: the image's mean IoU at each checkpoint
    got = strip.values()
    assert got is not None
    want = [s.metrics[r].column("mean_iou")[3] for r in runs]
    np.testing.assert_allclose(got[1], want)
    # ---- compare A (the first checkpoint) with B (the last), AP from every prediction
    # as detview eval computes it
    s.set_all_predictions(True)
    strip.a_combo.setCurrentIndex(strip.a_combo.findData(runs[0]))
    strip.b_combo.setCurrentIndex(strip.b_combo.findData(runs[2]))
    assert s.training.pair == (runs[0], runs[2])
    qtbot.waitUntil(lambda: s.derived.is_current("diff"), timeout=60000)
    model = w.images.model
    keys = [c.key for c in model.columns]
    for key in ("d_mean_iou", "d_ap", "d_tp", "d_fp", "d_fn"):
        assert not w.images.table.isColumnHidden(keys.index(key)), key
    assert w.images.table.isColumnHidden(keys.index("d_label_quality"))
    paths = dict(spec.preds)
    ta = eval_table(tmp_path, eval_args, runs[0], Path(paths[runs[0]]))
    tb = eval_table(tmp_path, eval_args, runs[2], Path(paths[runs[2]]))
    m = ta.merge(tb, on="file_name", suffixes=("_a", "_b"), validate="one_to_one")
    files = s.dataset.images.file_names
    row_of = {f: i for i, f in enumerate(files)}
    assert len(m) == len(files)
    for metric in ("mean_iou", "ap", "tp", "fp", "fn"):
        want = (m[f"{metric}_b"] - m[f"{metric}_a"]).to_numpy(np.float64)
        got = np.array([model.value(f"d_{metric}", row_of[f]) for f in m["file_name"]])
        np.testing.assert_allclose(got, want, atol=2e-3 if metric in ("mean_iou", "ap")
                                   else 0, err_msg=metric)  # the CSV keeps 6 digits
        # and the text shown
        r = model.row_of(row_of[m["file_name"].iloc[0]])
        text = model.data(model.index(r, keys.index(f"d_{metric}")))
        assert text == ("0" if want[0] == 0 else format(want[0], "+.0f" if metric in
                                                         ("tp", "fp", "fn") else "+.3f")) \
            or abs(float(text) - want[0]) < 2e-3
    # ---- sorted by ΔIoU (header click): the images that got most worse first
    w.images.header_clicked(keys.index("d_mean_iou"))
    shown = [model.value("d_mean_iou", model.image_at(r)) for r in range(model.rowCount())]
    want_sorted = np.sort((m["mean_iou_b"] - m["mean_iou_a"]).to_numpy())
    np.testing.assert_allclose(shown, want_sorted, atol=2e-3)
    # ΔFP sorts the most new false positives first
    w.images.header_clicked(keys.index("d_fp"))
    shown = [model.value("d_fp", model.image_at(r)) for r in range(model.rowCount())]
    assert shown == sorted((m["fp_b"] - m["fp_a"]).tolist(), reverse=True)
    # ---- swapping A and B flips the signs; "(none)" hides the columns
    before = model.value("d_tp", 3)
    strip.swap()
    qtbot.waitUntil(lambda: s.derived.is_current("diff"), timeout=60000)
    assert model.value("d_tp", 3) == -before
    strip.b_combo.setCurrentIndex(0)
    assert s.training.pair is None
    assert w.images.table.isColumnHidden(keys.index("d_tp"))


def test_three_coco128_checkpoints(qtbot: Any, tmp_path: Path, realdata: Path) -> None:
    ck = write_checkpoints(realdata / "coco128_yolov5s_predictions" /
                           "yolov5s_predictions.json", tmp_path / "ck")
    args = ["--images", str(realdata / "coco128/images/train2017"), "--gt",
            str(realdata / "coco128/labels/train2017"), "--gt-format", "yolo", "--names",
            str(realdata / "coco128/data.yaml")]
    spec = DatasetSpec.make(images=realdata / "coco128/images/train2017",
                            gt=realdata / "coco128/labels/train2017", gt_format="yolo",
                            class_names=realdata / "coco128/data.yaml",
                            preds=[(p.stem, p) for p in ck])
    check_checkpoints(qtbot, tmp_path, spec, args, (30, 60, 100))


def test_three_checkpoints_of_a_written_dataset(qtbot: Any, tmp_path: Path) -> None:
    names = {f"x@epoch{k}": f"ck/x_epoch{k}.json" for k in (1, 2, 3)}
    d = write_tiny_coco(tmp_path / "ds", runs=tuple(names), names=names)
    args = ["--images", str(d["images"]), "--gt", str(d["gt"])]
    spec = DatasetSpec.make(images=d["images"], gt=d["gt"],
                            preds=list(d["preds"].items()))  # type: ignore[attr-defined]
    check_checkpoints(qtbot, tmp_path, spec, args, (1, 2, 3))


@pytest.mark.parametrize("n_runs", [1])
def test_one_run_hides_the_compare_strip(qtbot: Any, tmp_path: Path, n_runs: int) -> None:
    d = write_tiny_coco(tmp_path / "ds", runs=("only",))
    spec = DatasetSpec.make(images=d["images"], gt=d["gt"],
                            preds=list(d["preds"].items()))  # type: ignore[attr-defined]
    w = open_main(qtbot, spec)
    assert len(w.session.run_names) == n_runs
    assert not w.compare.isVisible()
    assert "d_tp" not in [c.key for c in w.images.model.columns]
