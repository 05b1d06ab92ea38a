"""Issue 9: the corrections log replayed by ``detview apply`` is checked record by
record (shape, then against the dataset) before anything is applied or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detview.cli.main import main
from detview.core.edits import DeleteBoxes, edit_from_json
from detview.io import load_dataset
from detview.io.corrections import read_corrections_lines, validate_edits, write_corrections

from .fuzzing import ADVERSARIAL, check_clean, coco_obj
from .helpers import make_images


@pytest.fixture
def setup(tmp_path):
    make_images(tmp_path / "images", {"a.jpg": (64, 48), "b.jpg": (32, 32)})
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_obj()))
    return tmp_path, gt


def _log(path: Path, *edits: dict) -> Path:
    lines = [json.dumps({"detview_corrections": 1, "source": {}, "n_edits": len(edits)})]
    lines += [json.dumps({"seq": k + 1, "edit": e}) for k, e in enumerate(edits)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _apply(tmp: Path, gt: Path, log: Path, capsys) -> tuple[int, str]:
    out = tmp / "out"
    rc = main(["apply", "--corrections", str(log), "--gt", str(gt), "--images",
               str(tmp / "images"), "--out", str(out)])
    err = capsys.readouterr().err
    if rc != 0:
        assert not out.exists(), "a refused log must write nothing"
    return rc, err


GOOD = {"kind": "delete_boxes", "box_ids": [1], "images": [0]}


@pytest.mark.parametrize("bad,words", [
    ({"kind": "delete_images", "images": [-1]}, "non-negative"),  # deleted the last image
    ({"kind": "add_boxes", "box_ids": [50], "images": [0], "cls": [0],
      "xyxy": [[float("nan"), 1, 2, 3]]}, "finite"),  # exported "bbox": [null, ...]
    ({"kind": "add_boxes", "box_ids": [50], "images": [0], "cls": [0],
      "xyxy": [[5, 1, 2, 3]]}, "not ordered"),
    ({"kind": "add_boxes", "box_ids": [50], "images": [0], "cls": [9],
      "xyxy": [[1, 1, 2, 3]]}, "class index 9 out of range"),
    ({"kind": "add_boxes", "box_ids": [2], "images": [0], "cls": [0],
      "xyxy": [[1, 1, 2, 3]]}, "exists already"),
    ({"kind": "delete_images", "images": [99]}, "out of range"),
    ({"kind": "delete_boxes", "box_ids": [424242], "images": [0]}, "does not exist"),
    ({"kind": "delete_boxes", "box_ids": [1], "images": [1]}, "is on image 0"),
    ({"kind": "relabel_boxes", "box_ids": [1], "images": [0], "old_cls": [0],
      "new_cls": [7]}, "out of range"),
    ({"kind": "move_boxes", "box_ids": [1], "images": [0], "old_xyxy": [[0, 0, 1, 1]],
      "new_xyxy": [[0, 0, 2, 2]]}, "not where the record moves them from"),
    ({"kind": "set_reviewed", "images": [0], "old": [False], "new": ["yes"]}, "true or false"),
    ({"kind": "composite", "label": "x", "edits": [GOOD, {"kind": "delete_images",
                                                          "images": [5]}]}, "part 2"),
    ({"kind": "teleport"}, "unknown edit kind"),
    ({"kind": "delete_boxes", "box_ids": [True], "images": [0]}, "integer box id"),
    ({"kind": "delete_boxes", "box_ids": [2**64], "images": [0]}, "integer box id"),
])
def test_every_record_is_checked_before_anything_is_applied(setup, capsys, bad, words):
    tmp, gt = setup
    log = _log(tmp / "c.jsonl", GOOD, bad)  # the good first record is not applied either
    rc, err = _apply(tmp, gt, log, capsys)
    assert rc == 2 and f"{log}: line 3" in err and words in err, err
    assert "Traceback" not in err


def test_a_valid_log_applies(setup, capsys):
    tmp, gt = setup
    log = _log(tmp / "c.jsonl", GOOD, {"kind": "add_boxes", "box_ids": [50], "images": [1],
                                       "cls": [1], "xyxy": [[1, 1, 5, 6]],
                                       "sources": ["drawn"]})
    rc, err = _apply(tmp, gt, log, capsys)
    assert rc == 0, err
    obj = json.loads((tmp / "out" / "annotations.json").read_text())
    assert sorted(a["id"] for a in obj["annotations"]) == [2, 50]


def test_a_truncated_log_is_refused(setup, capsys):
    tmp, gt = setup
    log = _log(tmp / "c.jsonl", GOOD)
    text = log.read_text().replace('"n_edits": 1', '"n_edits": 3')
    log.write_text(text)
    rc, err = _apply(tmp, gt, log, capsys)
    assert rc == 2 and "incomplete" in err


def test_log_written_by_detview_round_trips(setup):
    tmp, gt = setup
    ds = load_dataset(tmp / "images", gt).dataset
    write_corrections(tmp / "w.jsonl", ds, [DeleteBoxes((1,), (0,))], {"gt": str(gt)})
    header, edits, meta, wheres = read_corrections_lines(tmp / "w.jsonl")
    assert edits == [DeleteBoxes((1,), (0,))] and wheres == ["line 2"]
    validate_edits(ds, edits, tmp / "w.jsonl", wheres)


values = st.sampled_from([-1, 0, 1, 2, 5, 2**63, 2**64, 1.5, float("nan"), float("inf"),
                          True, None, "x", [], [1, 2, 3, 4], [[1, 2, 3, 4]], [[4, 3, 2, 1]],
                          [[1, 1, 2, 2], [0, 0]], *ADVERSARIAL[:6]])
lists = st.lists(values, max_size=3) | values
edit_records = st.recursive(
    st.fixed_dictionaries({"kind": st.sampled_from(
        ["delete_boxes", "restore_boxes", "relabel_boxes", "move_boxes", "add_boxes",
         "remove_boxes", "delete_images", "restore_images", "set_reviewed", "set_tags", "zzz"])},
        optional={"box_ids": lists, "images": lists, "cls": lists, "old_cls": lists,
                  "new_cls": lists, "xyxy": lists, "old_xyxy": lists, "new_xyxy": lists,
                  "old": lists, "new": lists, "sources": lists}),
    lambda c: st.fixed_dictionaries({"kind": st.just("composite"), "label": values,
                                     "edits": st.lists(c, max_size=3)}), max_leaves=6)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(records=st.lists(edit_records, min_size=1, max_size=3))
def test_property_any_log_is_applied_or_refused_cleanly(setup, records):
    """Reproducer: ``detview apply`` raised 54 different raw exceptions on fuzzed logs."""
    tmp, gt = setup
    ds = load_dataset(tmp / "images", gt).dataset
    log = tmp / "fuzz.jsonl"
    lines = [json.dumps({"detview_corrections": 1, "source": {}})]
    lines += [json.dumps({"edit": r}) for r in records]
    log.write_text("\n".join(lines) + "\n")

    def replay() -> None:
        _, edits, _, wheres = read_corrections_lines(log)
        validate_edits(ds, edits, log, wheres)
        copy = ds.copy()
        for e in edits:  # what validated must apply
            copy.apply(e)

    check_clean(replay, log, "corrections")


def test_edit_from_json_refuses_bad_shapes():
    with pytest.raises(ValueError, match="lacks field"):
        edit_from_json({"kind": "move_boxes", "box_ids": [1], "images": [0]})
    with pytest.raises(ValueError, match="different lengths"):
        edit_from_json({"kind": "relabel_boxes", "box_ids": [1, 2], "images": [0, 0],
                        "old_cls": [0], "new_cls": [1, 1]})
    deep: dict = {"kind": "delete_images", "images": [0]}
    for _ in range(100):
        deep = {"kind": "composite", "label": "x", "edits": [deep]}
    with pytest.raises(ValueError, match="nested"):
        edit_from_json(deep)
