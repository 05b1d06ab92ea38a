"""In the window: an export goes on while the score threshold moves, the run changes and
boxes are edited (each of those starts its own work); Cancel on the status bar stops
the export only; closing waits for the export instead of cutting it short."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

import detview.io
from detview.cli.main import main as cli_main
from detview.io.spec import DatasetSpec
from detview.session import load
from tests.gui.conftest import sized
from tests.session._data import write_coco_dataset

N_IMAGES = 600  # above the size whose metrics are recomputed on the GUI thread


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _held_writer(monkeypatch: Any) -> tuple[threading.Event, threading.Event]:
    """The real writer, held until ``gate`` is set."""
    real = detview.io.write_dataset
    gate, entered = threading.Event(), threading.Event()

    def held(*args: Any, **kw: Any) -> Any:
        entered.set()
        gate.wait(120)
        return real(*args, **kw)

    monkeypatch.setattr(detview.io, "write_dataset", held)
    return gate, entered


def _window(qtbot: Any, tmp_path: Path) -> Any:
    from detview.gui.main_window import MainWindow

    p = write_coco_dataset(tmp_path / "ds", N_IMAGES, seed=5)
    spec = DatasetSpec.make(images=p["images"], gt=p["gt"],
                            preds=[("good", p["good"]), ("noisy", p["noisy"])])
    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    sized(w, 1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.open_loaded(load(spec))
    qtbot.waitUntil(w.analysis.is_idle, timeout=60000)
    return w


def test_export_survives_slider_run_switch_and_edits(qtbot: Any, tmp_path: Path,
                                                      monkeypatch: Any) -> None:
    w = _window(qtbot, tmp_path)
    s = w.session
    gt = s.dataset.gt
    s.delete_boxes([int(gt.box_id[0])])
    gate, entered = _held_writer(monkeypatch)
    out = tmp_path / "export"
    task = w.start_export(out, "coco")
    assert task is not None
    qtbot.waitUntil(lambda: entered.is_set() or task.done, timeout=30000)
    assert not task.done, (task.error, w.last_error)
    assert w.tasks.shown is task and "export" in w.cancel_button.text().lower()
    started: list[str] = []
    w.runner.subscribe(lambda ev: started.append(ev.task.slot) if ev.what == "started"
                       else None)
    for v in (0.3, 0.45, 0.6):  # the slider moves: the metrics are recomputed in a worker
        w.score_spin.setValue(v)
        qtbot.waitUntil(lambda v=v: s.params.score_threshold == v, timeout=5000)
    assert "recompute:metrics" in started
    w.run_combo.setCurrentText("noisy")
    assert s.run == "noisy"
    w.select_image(3)
    pane = w.viewer.gt_pane
    pane.view.setFocus()
    ids = list(w.viewer.view.gt_ids)
    if ids:
        pane.set_selected([int(ids[0])], emit=True)
        QTest.keyClick(pane.view, Qt.Key.Key_Delete)
    QTest.keyClick(pane.view, Qt.Key.Key_Space)  # reviewed
    assert not task.cancelled and not task.done and w.runner.current("export") is task
    assert w.tasks.shown is task  # the status bar still shows (and cancels) the export
    gate.set()
    qtbot.waitUntil(lambda: task.done, timeout=60000)
    assert task.ok, task.error
    assert w.last_error == ""
    while s.history.index > 1:  # undo what was done during the export
        w.undo()
    assert s.history.is_clean and not w.isWindowModified()
    other = tmp_path / "apply"
    assert cli_main(["apply", "--corrections", str(out / "corrections.jsonl"), "--out",
                     str(other), "--format", "coco"]) == 0
    a, b = _files(out), _files(other)
    assert sorted(a) == sorted(b) and all(a[k] == b[k] for k in a)
    qtbot.waitUntil(lambda: w.runner.idle, timeout=60000)


def test_cancel_stops_the_export_and_closing_waits_for_it(qtbot: Any, tmp_path: Path,
                                                          monkeypatch: Any) -> None:
    w = _window(qtbot, tmp_path)
    s = w.session
    s.delete_boxes([int(s.dataset.gt.box_id[0])])
    gate, entered = _held_writer(monkeypatch)
    task = w.start_export(tmp_path / "e1", "yolo")  # (one file per image: it can stop)
    assert task is not None
    qtbot.waitUntil(entered.is_set, timeout=30000)
    w.cancel_button.click()  # the user's Cancel
    gate.set()
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    assert not task.ok and not s.history.is_clean
    assert "cancelled" in w.message_label.text()
    assert not (tmp_path / "e1" / "corrections.jsonl").exists()
    # closing during an export: the window stays until the export has finished
    gate.clear()
    entered.clear()
    task = w.start_export(tmp_path / "e2", "coco")
    assert task is not None
    qtbot.waitUntil(entered.is_set, timeout=30000)
    w.close()
    assert w.isVisible() and not task.cancelled
    assert "Closing when the export has finished" in w.message_label.text()
    gate.set()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30000)
    assert task.ok and (tmp_path / "e2" / "corrections.jsonl").is_file()


@pytest.mark.parametrize("slot", ["load"])
def test_a_second_load_replaces_the_first_but_not_an_export(qtbot: Any, tmp_path: Path,
                                                           monkeypatch: Any, slot: str) -> None:
    w = _window(qtbot, tmp_path)
    gate, entered = _held_writer(monkeypatch)
    task = w.start_export(tmp_path / "e", "coco")
    assert task is not None
    qtbot.waitUntil(entered.is_set, timeout=30000)
    spec = w.session.spec
    w.open_spec(spec)  # quiet: nothing unsaved to ask about
    w.open_spec(spec)  # the first load is superseded, not waited for
    qtbot.waitUntil(lambda: not w.is_busy(slot), timeout=60000)
    assert not task.cancelled and not task.done
    gate.set()
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    assert task.ok
