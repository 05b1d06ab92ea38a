"""Crash recovery for real: a child process edits the demo in the real MainWindow, is
killed with SIGKILL mid-session, and a new window restores every edit and the undo
history from the journal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from tests.gui.conftest import REPO, copy_demo

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]

EDITS = ["delete_box", "relabel", "nudge", "nudge", "nudge", "accept", "delete_image", "undo"]

# The child: the real window, the journal on, every edit by a key press to the focused
# widget (the same QAction -> EditingMixin -> Session path as a user's), one line per
# edit, then the state it reached in a JSON file, then it waits to be killed.
CHILD = r'''
import json, sys, time
import numpy as np
from pathlib import Path
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

app = QApplication([])
from detview.core.metrics import MetricParams
from detview.gui.main_window import MainWindow
from detview.io.spec import DatasetSpec
from detview.session import PRED_FP, load

spec = DatasetSpec.from_json(json.loads(sys.argv[1]))
state_file = Path(sys.argv[2])
w = MainWindow()
w.quiet = True
w.resize(1400, 900)
w.show()
w.activateWindow()
w.open_loaded(load(spec, MetricParams()))
assert w.session.journal is not None, "journal not attached"
s = w.session
ds = s.dataset

def pump():
    for _ in range(3):
        app.processEvents()

def key(widget, k, mods=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(widget, k, mods)
    pump()

def say(what):
    print("EDIT", what, len(s.history), s.history.index, flush=True)

# an image with at least 3 GT boxes and a false positive
pick = -1
for i in range(ds.n_images):
    v = s.image_view(i)
    if len(v.gt_ids) >= 3 and np.count_nonzero(v.pred_state == PRED_FP):
        pick = i
        break
assert pick >= 0
w.select_image(pick)
pump()
gt, pred = w.viewer.gt_pane, w.viewer.pred_pane
v = w.viewer.view
ids = [int(b) for b in v.gt_ids]
gt.view.setFocus()
gt.set_selected([ids[0]], emit=True)
key(gt.view, Qt.Key.Key_Delete)
say("delete_box")
gt.set_selected([ids[1]], emit=True)
w.pick_class = lambda title, current: (current + 5) % len(ds.classes)
key(gt.view, Qt.Key.Key_C)
say("relabel")
gt.set_selected([ids[2]], emit=True)
for k, mods in ((Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier),
                (Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier),
                (Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier)):
    key(gt.view, k, mods)
    say("nudge")
fp = int(v.pred_ids[np.flatnonzero(v.pred_state == PRED_FP)[0]])
pred.set_selected([fp], emit=True)
pred.view.setFocus()
key(pred.view, Qt.Key.Key_A)
say("accept")
key(gt.view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
say("delete_image")
key(gt.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
say("undo")
st = s.history
state = {
    "image": pick,
    "box_id": ds.gt.box_id.tolist(), "alive": ds.gt.alive.tolist(),
    "cls": ds.gt.cls.tolist(), "xyxy": ds.gt.xyxy.tolist(),
    "deleted": ds.images.deleted.tolist(),
    "count": len(st), "index": st.index, "clean": st.is_clean,
    "texts": [w.history_view.model().index(k + 1, 0).data() for k in range(len(st))],
    "edits": [x.edit.to_json() for x in st.steps],
    "meta": [x.meta() for x in st.steps],
}
state_file.write_text(json.dumps(state))
print("READY", flush=True)
time.sleep(600)
'''


def _spec_json(spec: Any) -> str:
    return json.dumps(spec.to_json())


def _run_child_until_ready(spec: Any, state_file: Path, env: dict[str, str]) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, _spec_json(spec), str(state_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(REPO), env=env)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("READY"):
                break
        ready.set()  # READY, or the child died

    t = threading.Thread(target=read, daemon=True)
    t.start()
    ok = ready.wait(120)
    try:
        if not ok or not lines or lines[-1] != "READY":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"child never got ready; lines {lines}; stderr:\n{err[-3000:]}")
        assert proc.poll() is None, "the child must still be running when it is killed"
        os.kill(proc.pid, signal.SIGKILL)  # no close, no atexit, no flush: a crash
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    return lines


def test_sigkill_mid_session_restores_edits_and_history(qtbot: Any, tmp_path: Path,
                                                        monkeypatch: Any) -> None:
    from detview.core.metrics import MetricParams
    from detview.gui.main_window import MainWindow
    from detview.io.journal import Journal
    from detview.session import load

    spec = copy_demo(tmp_path / "demo")
    state_file = tmp_path / "child_state.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_DATA_HOME=str(tmp_path / "xdg"),
               PYTHONPATH=str(REPO))
    lines = _run_child_until_ready(spec, state_file, env)
    assert [ln.split()[1] for ln in lines if ln.startswith("EDIT")] == EDITS
    # the three nudges merged into one undo step, live
    counts = [tuple(int(x) for x in ln.split()[2:]) for ln in lines if ln.startswith("EDIT")]
    assert counts[2:5] == [(3, 3)] * 3
    exp = json.loads(state_file.read_text())
    assert exp["count"] == 5 and exp["index"] == 4 and not exp["clean"]
    journals = list((tmp_path / "demo" / ".detview").glob("journal-*.sqlite"))
    assert len(journals) == 1, "the journal lives beside the dataset"

    # a new session on the same files: the restore offer is answered Yes
    asked: list[str] = []

    def answer(parent: Any, title: str, text: str, *args: Any) -> Any:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(answer))
    w = MainWindow()
    qtbot.addWidget(w)
    w.open_loaded(load(spec, MetricParams()))
    assert len(asked) == 1 and "4 edit(s)" in asked[0] and "1 undone" in asked[0]
    s = w.session
    ds = s.dataset
    st = s.history

    def check_data(e: dict[str, Any]) -> None:
        assert ds.gt.box_id.tolist() == e["box_id"]
        assert ds.gt.alive.tolist() == e["alive"]
        assert ds.gt.cls.tolist() == e["cls"]
        np.testing.assert_array_equal(ds.gt.xyxy, np.array(e["xyxy"]))  # exactly
        assert ds.images.deleted.tolist() == e["deleted"]

    check_data(exp)
    assert (len(st), st.index, st.is_clean) == (exp["count"], exp["index"], False)
    texts = [w.history_view.model().index(k + 1, 0).data() for k in range(len(st))]
    assert texts == exp["texts"]
    assert [x.edit.to_json() for x in st.steps] == exp["edits"]
    assert [x.meta() for x in st.steps] == exp["meta"]
    assert w.isWindowModified()
    # the metrics follow the restored data
    i = exp["image"]
    fresh = type(s.current)(ds, s.run, s.params)
    for c in ("n_gt", "tp", "fp", "fn", "mean_iou"):
        assert s.current.column(c)[i] == fresh.column(c)[i]

    # the history works: redo the undone image deletion, then undo back through
    w.redo()
    assert ds.images.deleted[i]
    w.undo()
    assert not ds.images.deleted[i]
    check_data(exp)
    n_gt = int(np.count_nonzero(ds.gt.alive))
    w.undo()  # the accepted prediction
    assert int(np.count_nonzero(ds.gt.alive)) == n_gt - 1
    w.undo()  # the three nudges: one step
    rows = ds.gt.rows_of([exp["edits"][2]["box_ids"][0]])
    np.testing.assert_array_equal(ds.gt.xyxy[rows][0], exp["edits"][2]["old_xyxy"][0])
    assert st.index == 2
    # ... and the journal follows the restored session
    j = Journal(journals[0])
    try:
        state = j.state()
        assert len(state.done) == 2 and len(state.undone) == 3
    finally:
        j.close()
    w.undo()
    w.undo()
    assert st.index == 0 and ds.gt.alive.all() and not ds.images.deleted.any()
    st.mark_clean()  # nothing to ask on close
    w.close()


def _open(qtbot: Any, spec: Any) -> Any:
    from detview.core.metrics import MetricParams
    from detview.gui.main_window import MainWindow
    from detview.session import load

    w = MainWindow()
    w.quiet = True  # the restore offer is accepted
    qtbot.addWidget(w)
    w.open_loaded(load(spec, MetricParams()))
    return w


def test_an_exported_session_is_not_restored_into_the_next_one(qtbot: Any,
                                                                 tmp_path: Path) -> None:
    """Export, close, open the original files again, edit, crash: only the new edit
    comes back (the exported edits are not replayed onto the original files)."""
    spec = copy_demo(tmp_path / "demo")
    w1 = _open(qtbot, spec)
    s1 = w1.session
    first = [int(b) for b in s1.dataset.gt.box_id[:3]]
    s1.delete_boxes(first[:1])
    s1.delete_boxes(first[1:2])
    task = w1.start_export(tmp_path / "out", "yolo")
    assert task is not None
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    assert s1.history.is_clean
    w1.close()  # nothing unsaved: no question, a normal close

    w2 = _open(qtbot, spec)  # the original files again: a fresh history
    s2 = w2.session
    assert len(s2.history) == 0 and s2.dataset.gt.alive.all()
    s2.delete_boxes(first[2:3])
    # crash: w2 never closes; a third session opens the same files
    w3 = _open(qtbot, spec)
    s3 = w3.session
    assert len(s3.history) == 1
    alive = s3.dataset.gt.alive[s3.dataset.gt.rows_of(first)].tolist()
    assert alive == [True, True, False]
    for w in (w2, w3):
        w.session.history.mark_clean()


def test_a_journal_that_cannot_be_written_never_loses_the_edit(qtbot: Any,
                                                               tmp_path: Path) -> None:
    w = _open(qtbot, copy_demo(tmp_path / "demo"))
    s = w.session
    s.journal._db.close()  # as if the disk went away
    b = int(s.dataset.gt.box_id[0])
    assert s.delete_boxes([b])
    assert not s.dataset.gt.alive[0] and len(s.history) == 1
    assert s.journal is None and "crash recovery is off" in w.message_label.toolTip()
    w.undo()
    assert s.dataset.gt.alive[0]
    s.history.mark_clean()
