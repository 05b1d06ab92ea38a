"""Crash recovery and the restore policy, headless: a journal is an append-only sink of
the history; a new session offers, replays or archives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detview.core.edits import DeleteBoxes, RelabelBoxes
from detview.io.journal import Journal
from detview.io.spec import DatasetSpec
from detview.session import RestoreOffer, Session, load

from ._data import write_coco_dataset

REPO = Path(__file__).resolve().parents[2]


def _spec(root: Path, n: int = 30) -> DatasetSpec:
    p = write_coco_dataset(root, n, seed=3)
    return DatasetSpec.make(images=p["images"], gt=p["gt"], preds=[("good", p["good"])])


def _open(spec: DatasetSpec, answer: bool = True) -> tuple[Session, Any, list[RestoreOffer]]:
    asked: list[RestoreOffer] = []

    def ask(offer: RestoreOffer) -> bool:
        asked.append(offer)
        return answer

    s = load(spec).session()
    return s, s.recover(ask), asked


def _boxes(s: Session, n: int = 6) -> list[int]:
    gt = s.dataset.gt
    return [int(b) for b in gt.box_id[:n]]


def _data(s: Session) -> dict[str, Any]:
    ds = s.dataset
    return {"box_id": ds.gt.box_id.tolist(), "alive": ds.gt.alive.tolist(),
            "cls": ds.gt.cls.tolist(), "xyxy": ds.gt.xyxy.tolist(),
            "area": [None if np.isnan(a) else a for a in ds.gt.area.tolist()],
            "deleted": ds.images.deleted.tolist(), "reviewed": ds.images.reviewed.tolist()}


def _history(s: Session) -> dict[str, Any]:
    h = s.history
    return {"edits": [st.edit.to_json() for st in h.steps], "meta": [st.meta() for st in h.steps],
            "index": h.index, "clean": h.clean_index}


CHILD = r"""
import json, sys, time
from pathlib import Path
from detview.io.spec import DatasetSpec
from detview.session import load

spec = DatasetSpec.from_json(json.loads(sys.argv[1]))
s = load(spec).session()
out = s.recover(lambda offer: True)
assert s.journal is not None, out
gt = s.dataset.gt
ids = [int(b) for b in gt.box_id[:6]]
s.delete_boxes([ids[0]])
s.relabel_boxes([ids[1]], (int(gt.cls[gt.rows_of([ids[1]])[0]]) + 1) % len(s.dataset.classes))
for _ in range(3):
    s.nudge_boxes([ids[2]], 2, 0)          # one step
s.set_reviewed([0], True)
s.history.mark_clean()                      # as if exported here
s.move_boxes([ids[3]], gt.xyxy[gt.rows_of([ids[3]])] + 5)
s.set_images_deleted([1], True)
s.undo()                                    # the deletion goes to the redo list
st = s.history
ds = s.dataset
state = {
    "data": {"box_id": ds.gt.box_id.tolist(), "alive": ds.gt.alive.tolist(),
             "cls": ds.gt.cls.tolist(), "xyxy": ds.gt.xyxy.tolist(),
             "area": [None if a != a else a for a in ds.gt.area.tolist()],
             "deleted": ds.images.deleted.tolist(), "reviewed": ds.images.reviewed.tolist()},
    "history": {"edits": [x.edit.to_json() for x in st.steps],
                "meta": [x.meta() for x in st.steps], "index": st.index,
                "clean": st.clean_index},
}
Path(sys.argv[2]).write_text(json.dumps(state))
print("READY", flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_restore_gives_back_data_and_history(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    state_file = tmp_path / "state.json"
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path / "xdg"))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec.to_json()),
                             str(state_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(REPO), env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "READY":
            proc.kill()
            pytest.fail(f"child failed: {line}{proc.communicate(timeout=30)[1][-3000:]}")
        os.kill(proc.pid, signal.SIGKILL)  # no close, no flush: a crash
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    want = json.loads(state_file.read_text())
    s, out, asked = _open(spec)
    assert len(asked) == 1
    offer = asked[0]
    assert (offer.n_done, offer.n_undone, offer.n_unexported) == (5, 1, 1)
    assert "1 edit(s) not exported (after 4 exported) and 1 undone" in offer.question()
    assert out.report is not None and out.report.complete and out.archived is None
    assert _data(s) == want["data"]
    assert _history(s) == want["history"]
    assert want["history"]["clean"] == 4 and len(want["history"]["edits"]) == 6
    # the restored history works and the journal follows it
    s.redo()
    assert s.dataset.images.deleted[1]
    s.go_to(0)
    assert s.dataset.gt.alive.all() and not s.dataset.images.deleted.any()
    st = Journal(out.path).state()
    assert (len(st.done), len(st.undone), st.clean_index) == (0, 6, 4)
    s.close()


def test_restore_offer_declined_archives_the_journal(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s1, out1, asked = _open(spec)
    assert not asked and out1.path is not None and out1.path.parent == tmp_path / "ds" / ".detview"
    s1.delete_boxes(_boxes(s1, 1))
    s2, out2, asked = _open(spec, answer=False)  # s1 crashed; the user says No
    assert len(asked) == 1 and out2.report is None and out2.archived is not None
    assert out2.archived.exists() and out2.archived.suffix == ".old"
    assert len(s2.history) == 0 and s2.dataset.gt.alive.all()
    s3, out3, asked = _open(spec)
    assert not asked  # nothing left to offer
    for s in (s1, s2, s3):
        s.close()


def test_an_exported_history_is_not_offered_again(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s1, _, _ = _open(spec)
    s1.delete_boxes(_boxes(s1, 1))
    task = s1.export(tmp_path / "out", "coco")
    assert s1.runner.wait(task, 60) and task.ok, task.error
    assert s1.history.is_clean
    s1.close()
    s2, out, asked = _open(spec)
    assert not asked and out.archived is not None  # exported edits: set aside, not replayed
    assert s2.dataset.gt.alive.all() and len(s2.history) == 0
    s2.close()


def test_files_changed_since_the_journal_restore_what_still_applies(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s1, _, _ = _open(spec)
    a, b, c = _boxes(s1, 3)
    gt = s1.dataset.gt
    cls_b = int(gt.cls[gt.rows_of([b])[0]])
    s1.delete_boxes([a])
    s1.relabel_boxes([b], (cls_b + 1) % 5)
    s1.delete_boxes([c])
    # crash; then someone edits the ground-truth file: box b gets another class
    gt_path = Path(str(spec.gt))
    coco = json.loads(gt_path.read_text())
    cat_ids = sorted(x["id"] for x in coco["categories"])
    ann = next(x for x in coco["annotations"] if x["id"] == b)
    ann["category_id"] = cat_ids[(cls_b + 2) % 5]
    gt_path.write_text(json.dumps(coco))
    s2, out, asked = _open(spec)
    assert len(asked) == 1
    r = out.report
    assert r is not None and not r.complete and (r.wanted, r.restored) == (3, 1)
    assert r.refused is not None and "old classes do not match" in r.refused
    assert "were they changed?" in out.message() and out.archived is not None
    assert out.archived.exists()  # the journal as it was, kept aside
    gt2 = s2.dataset.gt
    assert not gt2.alive[gt2.rows_of([a])[0]] and gt2.alive[gt2.rows_of([b, c])].all()
    assert [st.edit.kind for st in s2.history.steps] == ["delete_boxes"]
    # the journal now describes exactly the restored history
    st = Journal(out.path).state()
    assert [e.kind for e in st.done] == ["delete_boxes"] and not st.undone
    assert st.done[0] == DeleteBoxes((a,), (int(gt2.image[gt2.rows_of([a])[0]]),))
    # a later crash restores that history, no more
    s2.set_reviewed([0], True)
    s3, out3, asked = _open(spec)
    assert out3.report is not None and out3.report.complete
    assert [x.edit.kind for x in s3.history.steps] == ["delete_boxes", "set_reviewed"]
    for s in (s1, s2, s3):
        s.close()


def test_an_unreadable_journal_is_set_aside(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s1, out1, _ = _open(spec)
    s1.delete_boxes(_boxes(s1, 1))
    assert out1.path is not None
    s1.journal._db.execute(  # type: ignore[union-attr]
        "INSERT INTO ops (op, edit, time, user) VALUES ('do', '{\"kind\": \"nope\"}', 0, '')")
    s2, out2, asked = _open(spec)
    assert not asked and out2.error is not None and "unreadable" in out2.error
    assert out2.archived is not None and out2.archived.exists()
    assert s2.journal is not None and len(s2.history) == 0
    s2.delete_boxes(_boxes(s2, 1))  # recording goes on in a fresh journal
    assert len(Journal(out2.path).state().done) == 1  # type: ignore[arg-type]
    for s in (s1, s2):
        s.close()


def test_a_journal_that_cannot_be_written_never_loses_the_edit(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s, _, _ = _open(spec)
    msgs: list[str] = []
    s.subscribe(lambda e: msgs.append(e.text) if e.kind == "message" else None)
    assert s.journal is not None
    s.journal._db.close()  # as if the disk went away
    b = _boxes(s, 1)
    assert s.delete_boxes(b)
    assert not s.dataset.gt.alive[s.dataset.gt.rows_of(b)[0]] and len(s.history) == 1
    assert s.journal is None and "crash recovery is off" in msgs[0]
    s.undo()
    assert s.dataset.gt.alive.all()
    s.close()


def test_relabel_journal_rows_round_trip_meta(tmp_path: Path) -> None:
    """Who and when of each step survive the journal (the corrections log needs them)."""
    spec = _spec(tmp_path / "ds")
    s1, _, _ = _open(spec)
    b = _boxes(s1, 1)[0]
    gt = s1.dataset.gt
    r = gt.rows_of([b])[0]
    s1.push(RelabelBoxes((b,), (int(gt.image[r]),), (int(gt.cls[r]),), ((int(gt.cls[r]) + 1) % 5,)),
            when=1234.5, user="bob")
    s2, out, _ = _open(spec)
    assert [st.meta() for st in s2.history.steps] == [{"time": 1234.5, "user": "bob"}]
    for s in (s1, s2):
        s.close()
