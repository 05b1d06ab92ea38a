"""The Graphs view: the real logs in ../shared/realdata and logs the tests write, drawn
as read by independent readers (pandas, tensorboard's EventAccumulator); smoothing,
log scale, epoch axis, hover, tooltips; a click on a point selects the checkpoint."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt

from detview.core.dataset import Dataset
from detview.gui.details import TrainingWindow
from detview.io.trainlogs import explain
from detview.session import Session
from tests.gui.conftest import sized
from tests.gui.runs_data import write_results_csv, write_torchvision_log
from tests.session._data import make_dataset
from tests.session.test_training import tensorboard_smooth


def drawn(view: Any, tag: str, label: str | None = None) -> tuple[Any, np.ndarray, np.ndarray]:
    """(curve, x, y) of the item drawn for ``tag`` (the first log, or ``label``'s)."""
    for items in view._items.values():
        for c, item in items:
            if c.tag == tag and (label is None or c.label == label):
                x, y = item.getData()
                return c, np.asarray(x, float), np.asarray(y, float)
    raise KeyError(tag)


def open_window(qtbot: Any, session: Session) -> TrainingWindow:
    w = TrainingWindow()
    qtbot.addWidget(w)
    w.set_session(session, "test")
    sized(w, 1300, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def session_with_logs(tmp_path: Path, paths: list[Path]) -> Session:
    s = Session(make_dataset(tmp_path / "images"))
    s.training.open_logs(paths)
    return s


# ----------------------------------------------------------------------------- real logs
def test_real_logs_drawn_as_the_files_say(qtbot: Any, tmp_path: Path, realdata: Path) -> None:
    folder = realdata / "coco128_yolov5s_trainlog"
    tv = realdata / "torchvision_log_sample" / "maskrcnn_train_10ep.log"
    s = session_with_logs(tmp_path, [folder / "results.csv", folder, tv])
    w = open_window(qtbot, s)
    g = w.graphs
    g.set_smoothing(0.0)
    g.refresh()
    assert set(g.plots) == {"loss", "lr", "precision", "recall", "speed", "other"}
    # the event file repeats results.csv: hidden until asked, and said so
    assert "repeating another log" in g.info.text()
    labels = s.training.labels
    assert labels[1] in g.hidden_logs
    # results.csv, read by pandas: every drawn point is the file's value at its epoch
    ref = pd.read_csv(folder / "results.csv", skipinitialspace=True)
    ref.columns = [c.strip() for c in ref.columns]
    for tag in ("metrics/mAP_0.5:0.95", "train/box_loss", "x/lr0", "metrics/recall"):
        c, x, y = drawn(g, tag, labels[0])
        assert x.tolist() == ref["epoch"].tolist()  # step axis: the file's 0-based epochs
        np.testing.assert_allclose(y, ref[tag].to_numpy(), rtol=1e-12)
    assert drawn(g, "metrics/mAP_0.5:0.95", labels[0])[2][-1] == pytest.approx(
        float(ref["metrics/mAP_0.5:0.95"].iloc[-1]))
    # the torchvision log: the last printed loss of the last epoch
    last = [ln for ln in tv.read_text().splitlines() if ln.startswith("Epoch: [9]")
            and "loss:" in ln][-1]
    want = float(last.split("loss: ")[1].split()[0])
    assert drawn(g, "loss", labels[2])[2][-1] == pytest.approx(want)
    # the event file, shown, against tensorboard's own reader
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    g.set_log_visible(labels[1], True)
    g.refresh()
    event = next(folder.glob("events.out.tfevents.*"))
    acc = ea_mod.EventAccumulator(str(event), size_guidance={ea_mod.SCALARS: 0})
    acc.Reload()
    for tag in ("metrics/mAP_0.5", "val/obj_loss"):
        ev = acc.Scalars(tag)
        _, x, y = drawn(g, tag, labels[1])
        assert x.tolist() == [e.step for e in ev]
        np.testing.assert_allclose(y, [e.value for e in ev], rtol=1e-6)
    # tooltips explain every metric of the plot
    tip = g.plots["loss"].toolTip()
    for tag in ("train/box_loss", "train/obj_loss", "train/cls_loss", "loss_classifier"):
        assert tag in tip
    assert "Classification loss" in tip and "Lower is better" in tip
    assert explain("x/lr0")[:30] in g.plots["lr"].toolTip()


def test_real_logs_screenshot(qtbot: Any, tmp_path: Path, realdata: Path) -> None:
    """Renders the Graphs view of the YOLOv5 run with its checkpoints marked (the PNG is
    looked at by hand; here: it is written and not blank)."""
    folder = realdata / "coco128_yolov5s_trainlog"
    s = session_with_logs(tmp_path, [folder / "results.csv"])
    w = open_window(qtbot, s)
    qtbot.wait(50)
    pix = w.grab()
    out = tmp_path / "graphs.png"
    assert pix.save(str(out)) and out.stat().st_size > 10_000
    img = pix.toImage()
    colors = {img.pixelColor(x, y).name() for x in range(0, img.width(), 17)
              for y in range(0, img.height(), 17)}
    assert len(colors) > 10


# ----------------------------------------------------------------------------- fixtures
def test_smoothing_log_scale_and_epoch_axis(qtbot: Any, tmp_path: Path) -> None:
    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=15, seed=3)
    tv = write_torchvision_log(tmp_path / "tv" / "train.log", epochs=3, iters=4)
    s = session_with_logs(tmp_path, [csv, tv])
    w = open_window(qtbot, s)
    g = w.graphs
    ref = pd.read_csv(csv, skipinitialspace=True)
    ref.columns = [c.strip() for c in ref.columns]
    for weight in (0.0, 0.35, 0.9):
        g.set_smoothing(weight)
        g.refresh()
        _, x, y = drawn(g, "train/obj_loss")
        want = tensorboard_smooth(ref["train/obj_loss"].tolist(), round(weight, 2))
        np.testing.assert_allclose(y, want, rtol=1e-12)
    # -1 (no ground truth of that size) is not drawn; AP is
    g.set_smoothing(0.0)
    g.refresh()
    assert np.isnan(drawn(g, "bbox/APs")[2]).all()  # nothing drawn: no NaN points either
    assert drawn(g, "bbox/AP")[2].tolist() == pytest.approx([0.1, 0.2, 0.3])
    # epoch axis: the torchvision AP at epochs 1, 2, 3; results.csv at 1..15
    g.x_combo.setCurrentIndex(g.x_combo.findData("epoch"))
    g.refresh()
    assert drawn(g, "bbox/AP")[1].tolist() == [1.0, 2.0, 3.0]
    assert drawn(g, "train/obj_loss")[1].tolist() == (ref["epoch"] + 1).tolist()
    assert g.plots["loss"].getPlotItem().getAxis("bottom").labelText == "epoch"
    # log scale: on, the plots are logarithmic; values <= 0 are left out
    g.log_check.setChecked(True)
    g.refresh()
    assert g.plots["loss"].getPlotItem().ctrl.logYCheck.isChecked()
    raw = pd.to_numeric(ref["x/lr0"]).to_numpy()
    c, _, y = drawn(g, "x/lr0")  # drawn as log10 of the positive values
    assert np.isnan(y[raw <= 0]).all()
    np.testing.assert_allclose(10 ** y[raw > 0], raw[raw > 0], rtol=1e-12)
    # the filter narrows the plots down
    g.filter_edit.setText("lr")
    g.refresh()
    assert set(g.plots) == {"lr"}
    g.filter_edit.setText("")
    # hiding a log removes its curves
    g.set_log_visible(s.training.labels[1], False)
    g.refresh()
    assert "precision" in g.plots and all(c.label == s.training.labels[0] for c in g.curves)


def test_hover_shows_values_at_the_pointer(qtbot: Any, tmp_path: Path) -> None:
    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=10, seed=4)
    s = session_with_logs(tmp_path, [csv])
    w = open_window(qtbot, s)
    g = w.graphs
    g.set_smoothing(0.0)
    g.refresh()
    qtbot.wait(20)
    ref = pd.read_csv(csv, skipinitialspace=True)
    ref.columns = [c.strip() for c in ref.columns]
    text = g.hover_text("precision", 6.2)
    assert "step 6" in text and "epoch 7" in text
    assert f"{ref['metrics/mAP_0.5'].iloc[6]:.4g}" in text
    # a real pointer move over the plot shows it in the plot
    c, _, _ = drawn(g, "metrics/precision")
    pos = g.point_scene_pos("precision", c, 4)
    plot = g.plots["precision"]
    vp = plot.mapFromScene(pos)
    qtbot.mouseMove(plot.viewport(), QPoint(int(vp.x()), int(vp.y())))
    g._on_move("precision", pos)
    line, label = g._hover["precision"]
    assert line.isVisible() and label.isVisible()
    assert f"{ref['metrics/precision'].iloc[4]:.4g}" in label.toPlainText()


# ----------------------------------------------------------------------------- clicks
def checkpoint_session(tmp_path: Path, log: Path) -> Session:
    """Runs yolo@epoch1..3 (checkpoints) and a plain run, and a log of 3 epochs."""
    ds = make_dataset(tmp_path / "images")
    m, o = ds.runs["model"], ds.runs["other"]
    ds2 = Dataset(ds.images, ds.classes, ds.gt, {"plain": o.copy(), "yolo@epoch1": o,
                                                 "yolo@epoch2": m, "yolo@epoch3": m.copy()},
                  meta=ds.meta)
    s = Session(ds2)
    s.training.open_logs([log])
    return s


def click_point(qtbot: Any, g: Any, group: str, tag: str, k: int) -> None:
    c, _, _ = drawn(g, tag)
    plot = g.plots[group]
    p = plot.mapFromScene(g.point_scene_pos(group, c, k))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(round(p.x()),
                                                                             round(p.y())))


def test_clicking_a_point_selects_that_checkpoint(qtbot: Any, tmp_path: Path) -> None:
    log = write_torchvision_log(tmp_path / "yolo" / "train.log", epochs=3, iters=4)
    s = checkpoint_session(tmp_path, log)
    assert s.run == "plain"
    w = open_window(qtbot, s)
    g = w.graphs
    g.set_smoothing(0.0)
    g.refresh()
    qtbot.wait(30)
    chosen: list[str] = []
    messages: list[str] = []
    g.checkpointChosen.connect(chosen.append)
    g.message.connect(messages.append)
    # dashed lines at the three checkpoints (the AP points at epochs 1, 2, 3)
    xs, current = g.checkpoint_x("precision")
    c, x, _ = drawn(g, "bbox/AP")
    assert len(xs) == 3 and current is None
    # the AP point of epoch 2 -> checkpoint yolo@epoch2
    click_point(qtbot, g, "precision", "bbox/AP", 1)
    assert s.run == "yolo@epoch2" and chosen == ["yolo@epoch2"]
    assert g.checkpoint_x("precision")[1] == x[1]  # the solid line moved there
    click_point(qtbot, g, "precision", "bbox/AP", 2)
    assert s.run == "yolo@epoch3"
    # a loss point in the middle of epoch 1: no predictions of that step
    lc, lx, _ = drawn(g, "loss_classifier")
    k = int(np.flatnonzero(~np.isclose(lc.epoch, np.round(lc.epoch)))[0])
    click_point(qtbot, g, "loss", "loss_classifier", k)
    assert s.run == "yolo@epoch3"
    assert messages and "No predictions loaded" in messages[-1]
    assert "epochs 1, 2, 3" in messages[-1]
    # a click far from every point does nothing
    plot = g.plots["precision"]
    n = len(chosen)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    assert len(chosen) == n and s.run == "yolo@epoch3"
    assert not math.isnan(x[0])


def test_click_in_main_window_moves_the_image_view(qtbot: Any, tmp_path: Path,
                                                   dataset: Dataset) -> None:
    from detview.gui.main_window import MainWindow

    log = write_torchvision_log(tmp_path / "yolo" / "train.log", epochs=3, iters=4)
    s = checkpoint_session(tmp_path, log)
    mw = MainWindow()
    mw.quiet = True
    qtbot.addWidget(mw)
    mw.set_session(s, "ck")
    sized(mw, 1500, 950)
    mw.show()
    qtbot.waitExposed(mw)
    tw = mw.show_training_window()
    g = tw.graphs
    g.set_smoothing(0.0)
    g.refresh()
    qtbot.wait(30)
    mw.select_image(2)
    before = mw.viewer.gt_pane.vb.viewRange()
    click_point(qtbot, g, "precision", "bbox/AP", 0)
    assert s.run == "yolo@epoch1"
    assert mw.viewer.view is not None and mw.viewer.view.run == "yolo@epoch1"
    assert mw.current_image == 2
    assert mw.run_combo.currentText() == "yolo@epoch1"
    assert mw.viewer.gt_pane.vb.viewRange() == before  # the image and zoom stay
    assert mw.compare.slider.value() == 0
    # Details: the log's origin and parameters
    tw.tabs.setCurrentIndex(1)
    rows = tw.details.rows()
    assert ("Origin", "format", "torchvision") in rows
    tw.details.filter_edit.setText("format")
    assert [r[1] for r in tw.details.rows()] == ["format"]


def test_open_log_from_the_main_window_and_the_command_line(qtbot: Any, tmp_path: Path,
                                                            window: Any) -> None:
    from detview.gui.app import build_parser, spec_of

    csv = write_results_csv(tmp_path / "exp" / "results.csv", epochs=5)
    assert window.open_logs([csv]) == 1  # File > Open training log…
    tw = window.training_window
    assert tw is not None and tw.isVisible()
    assert "loss" in tw.graphs.plots and "precision" in tw.graphs.plots
    assert window.open_logs([tmp_path / "missing.log"]) == 0
    assert "missing.log" in window.message_label.toolTip()
    args = build_parser().parse_args(["open", "--images", str(tmp_path), "--gt",
                                      str(tmp_path / "gt.json"), "--log", str(csv), "--log",
                                      str(tmp_path / "exp"), "--runs", "--store",
                                      str(tmp_path / "s.sqlite")])
    spec = spec_of(args)
    assert spec is not None and spec.logs == (str(csv), str(tmp_path / "exp"))
    assert args.runs and args.store == tmp_path / "s.sqlite"
