import json
import os
import stat

import pytest

from detview.core.edits import AddBoxes, DeleteBoxes, DeleteImages, MoveBoxes, RelabelBoxes
from detview.io.corrections import read_corrections, write_corrections
from detview.io.errors import InputError
from detview.io.journal import Journal, journal_path_for, replay_ops
from tests.core.test_tables_and_edits import make_dataset


def test_replay_ops_rebuilds_undo_and_redo_lists():
    a, b, c = (DeleteBoxes((i,), (0,)) for i in range(3))
    st = replay_ops([("do", a), ("do", b), ("do", c), ("undo", None), ("undo", None)])
    assert st.done == (a,) and st.undone == (b, c)
    st = replay_ops([("do", a), ("clean", None), ("do", b), ("undo", None), ("do", c)])
    assert st.done == (a, c) and st.undone == () and st.clean_index == 1
    st = replay_ops([("do", a), ("do", b), ("clean", None), ("undo", None), ("undo", None),
                     ("do", c)])
    assert st.clean_index is None  # the exported state is gone from the history


def test_journal_persists_each_op_and_survives_reopen(tmp_path):
    path = tmp_path / "j.sqlite"
    j = Journal(path, spec={"gt": "x.json"})
    e1 = DeleteBoxes((11,), (0,))
    e2 = MoveBoxes((12,), (0,), ((30.0, 30.0, 40.0, 40.0),), ((31.0, 30.0, 40.0, 40.0),))
    j.append("do", e1)
    j.append("do", e2)
    j.append("undo")
    # no close(): a killed process never closes its connection
    j2 = Journal(path)
    st = j2.state()
    assert st.done == (e1,) and st.undone == (e2,)
    assert j2.spec() == {"gt": "x.json"}
    assert j2.has_edits()
    j2.append("clean")
    assert not j2.has_edits()
    old = j2.archive()
    assert old is not None and old.exists() and not path.exists()


def test_journal_location_falls_back_when_dataset_folder_is_read_only(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    p = journal_path_for({"gt": "a"}, ro)
    assert str(p).startswith(str(tmp_path / "data"))


def test_journal_location_beside_dataset(tmp_path):
    p = journal_path_for({"gt": "a"}, tmp_path)
    assert p.parent == tmp_path / ".detview"
    assert p != journal_path_for({"gt": "b"}, tmp_path)


def test_corrections_log_records_before_and_after_and_replays(tmp_path):
    ds = make_dataset()
    new_id = ds.new_box_ids(1)[0]
    edits = [
        DeleteBoxes((11,), (0,)),
        RelabelBoxes((10,), (2,), (0,), (1,)),
        MoveBoxes((12,), (0,), ((30.0, 30.0, 40.0, 40.0),), ((32.0, 30.0, 40.0, 40.0),)),
        AddBoxes((new_id,), (1,), (1,), ((1.0, 2.0, 3.0, 4.0),), ("pred:run:7",)),
        DeleteImages((2,)),
    ]
    log = tmp_path / "corrections.jsonl"
    summary = write_corrections(log, ds, edits, source={"gt": "gt.json"},
                                meta=[{"time": 1.0, "user": "ana"}] * len(edits))
    assert summary["boxes_deleted"] == 1 and summary["boxes_added"] == 1
    assert summary["boxes_relabeled"] == 1 and summary["boxes_moved"] == 1
    assert summary["images_deleted"] == 1
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert lines[0]["source"] == {"gt": "gt.json"}
    first = lines[1]
    assert first["changes"] == [{"image": "a.jpg", "image_index": 0, "box_id": 11,
                                 "before": {"class": "dog", "xyxy": [5.0, 5.0, 20.0, 20.0]},
                                 "after": None}]
    assert first["user"] == "ana"
    assert lines[2]["changes"][0]["after"]["class"] == "dog"
    assert lines[4]["changes"][0]["before"] is None
    assert ds.gt.alive.all()  # the original is not changed
    header, replay = read_corrections(log)
    assert replay == edits and header["n_edits"] == 5


def test_read_corrections_errors_name_the_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"detview_corrections": 1}\n{"edit": {"kind": "delete_boxes"}}\n')
    with pytest.raises(InputError, match="line 2"):
        read_corrections(p)
    p.write_text('{"detview_corrections": 1}\n{not json\n')
    with pytest.raises(InputError, match="line 2, column 2"):
        read_corrections(p)
    p.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_corrections(p)


def test_journal_location_falls_back_when_dataset_folder_is_unusable(tmp_path, monkeypatch):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    p = journal_path_for({"gt": "a"}, not_a_folder)
    assert p.parent == tmp_path / "data" / "detview" / "journals"
