"""The viewer's state in the session (no Qt): ViewSettings, update_view and its event,
run B, the checkpoints of a training, and another run's ImageView."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detview.core.metrics import PerImageMetrics
from detview.session import Session, SessionEvent
from detview.session.view_settings import ViewSettings

from ._data import make_dataset


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Session(make_dataset(tmp_path / "images"))


def test_defaults_and_validation() -> None:
    v = ViewSettings()
    assert v.layout == "side" and v.panes == ("gt", "a") and not v.adjusted
    assert v.pane_sources() == [["gt"], ["a"]]
    assert ViewSettings(layout="overlay").pane_sources() == [["gt", "a"]]
    assert ViewSettings(layout="three").pane_sources() == [["gt"], ["a"], ["b"]]
    with pytest.raises(ValueError):
        ViewSettings(layout="grid")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ViewSettings(panes=("a", "a"))
    with pytest.raises(ValueError):
        ViewSettings(class_colors=((1, "red"),))
    # out-of-range adjustments are clamped, colours normalised
    v = ViewSettings(brightness=3, contrast=100, class_colors=((2, "#A0B0C0"),))
    assert (v.brightness, v.contrast, v.color_of(2), v.color_of(1)) == (1.0, 5.0, "#a0b0c0",
                                                                         None)


@pytest.mark.parametrize("brightness,contrast", [(0, 1), (0.2, 1), (-0.3, 1.5), (0.1, 0.5),
                                                 (0, 4)])
def test_levels_map_pixels_like_the_formula(brightness: float, contrast: float) -> None:
    lo, hi = ViewSettings(brightness=brightness, contrast=contrast).levels()
    x = np.arange(256, dtype=np.float64)
    # what an image viewer does with levels (lo -> black, hi -> white)...
    shown = np.clip((x - lo) / (hi - lo) * 255, 0, 255)
    # ...against the brightness/contrast definition, pixel by pixel
    want = np.clip((x - 128) * contrast + 128 + 255 * brightness, 0, 255)
    np.testing.assert_allclose(shown, want, atol=1e-9)


def test_update_view_sends_a_view_event_and_recomputes_nothing(session: Session) -> None:
    events: list[SessionEvent] = []
    session.subscribe(events.append)
    started: list[str] = []
    session.runner.subscribe(lambda e: started.append(e.task.slot))
    assert session.update_view(layout="overlay", brightness=0.25)
    assert [e.kind for e in events] == ["view"]
    assert session.view_settings.layout == "overlay"
    assert session.view_settings.brightness == 0.25
    assert not session.update_view(layout="overlay")  # no change, no event
    assert len(events) == 1
    with pytest.raises(KeyError):
        session.update_view(run_b="nope")
    with pytest.raises(ValueError):
        session.update_view(panes=("b", "b"))
    assert session.view_settings.layout == "overlay"  # a refused change changes nothing
    # a whole record restored from settings of another dataset: its run B is dropped
    assert session.update_view(ViewSettings(layout="three", run_b="gone"))
    assert session.view_settings == ViewSettings(layout="three")
    assert started == []


def test_run_b_defaults_to_the_first_other_run(session: Session) -> None:
    assert session.run == "model" and session.run_b == "other"
    session.set_run("other")
    assert session.run_b == "model"
    session.update_view(run_b="other")  # chosen: kept even when it equals run A
    assert session.run_b == "other"
    session.update_view(run_b=None)
    session.training.set_pair("other", "model")  # the pair compared image by image
    assert session.run_b == "model"
    session.update_view(run_b="other")
    assert [session.source_run(s) for s in ("gt", "a", "b")] == [None, "other", "other"]


def test_another_runs_view_equals_that_run_made_current(session: Session) -> None:
    for i in range(session.dataset.n_images):
        b = session.image_view(i, run="other")
        session.set_run("other")
        ref = session.image_view(i)
        session.set_run("model")
        for name in ("gt_ids", "gt_state", "gt_partner", "pred_ids", "pred_xyxy", "pred_state",
                     "pred_partner", "pred_iou"):
            np.testing.assert_array_equal(getattr(b, name), getattr(ref, name), err_msg=name)
        assert b.run == "other"
        # and against the engine's own per-image numbers for that run
        m = PerImageMetrics(session.dataset, "other", session.params)
        assert int(np.count_nonzero(b.pred_state == 0)) == int(m.column("tp")[i])
    with pytest.raises(KeyError):
        session.image_view(0, run="nope")


def test_trainings_come_from_run_names_and_files(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "images")
    runs = dict(ds.runs)
    ds.runs.clear()
    ds.runs.update({"yolo@800": runs["model"], "yolo@400": runs["other"],
                    "baseline": runs["model"]})
    s = Session(ds)
    events: list[SessionEvent] = []
    s.subscribe(events.append)
    t = s.training_of("yolo@800")
    assert t is not None and t.steps == (400, 800) and t.runs == ("yolo@400", "yolo@800")
    assert s.training_of("baseline") is None
    s.set_run("baseline")
    assert s.show_checkpoint(400) == "yolo@400" and s.run == "yolo@400"  # the only training
    assert ("training", "checkpoint") in [(e.kind, e.name) for e in events]
    with pytest.raises(KeyError):
        s.show_checkpoint(500)
    with pytest.raises(KeyError):
        s.show_checkpoint(400, "nope")
    # file names: the loader records each run's source
    ds = make_dataset(tmp_path / "images2")
    ds.runs.clear()
    ds.runs.update({"a": runs["model"], "b": runs["other"]})
    ds.meta["sources"] = {"a": "/x/epoch_3/preds.json", "b": "/x/epoch_12/preds.json"}
    t = Session(ds).training_of("b")
    assert t is not None and t.steps == (3, 12) and t.unit == "epoch"


NAMES = ["cat", "dog", "person", "car"]


def test_to_dict_keys_classes_by_name_and_round_trips() -> None:
    v = ViewSettings(layout="three", panes=("a", "b"), run_b="x", hidden_classes=frozenset({1}),
                     class_colors=((0, "#112233"), (7, "#445566")), brightness=-0.2,
                     contrast=1.5, lq_hints=True)
    d = v.to_dict(NAMES)
    json.dumps(d)  # plain data
    assert d["hidden_classes"] == ["dog"]
    assert d["class_colors"] == {"cat": "#112233", "#7": "#445566"}
    assert ViewSettings.from_dict(d, NAMES) == v
    # another dataset: "dog" is class 0 there, "cat" unknown
    other = ViewSettings.from_dict(d, ["dog", "bird"])
    assert other.hidden_classes == {0} and other.color_of(0) is None
    assert other.color_of(7) == "#445566"


_json = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
_keys = st.sampled_from(["layout", "panes", "run_b", "hidden_classes", "class_colors",
                         "brightness", "contrast", "lq_hints"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _json | st.sampled_from(["side", "overlay", "three", "#abcdef"]),
                       max_size=8) | _json)
def test_from_dict_never_raises_on_stored_garbage(d: Any) -> None:
    v = ViewSettings.from_dict(d, NAMES)
    assert isinstance(v, ViewSettings)
    lo, hi = v.levels()
    assert np.isfinite(lo) and np.isfinite(hi) and hi > lo
    assert ViewSettings.from_dict(v.to_dict(NAMES), NAMES) == v


def test_show_runs_opens_a_pair(session: Session) -> None:
    events: list[str] = []
    session.subscribe(lambda e: events.append(e.kind))
    session.show_runs("other", "model")
    assert session.run == "other" and session.run_b == "model"
    assert session.view_settings.panes == ("a", "b")
    assert "settings" in events and "view" in events
    session.show_runs("model", layout="three")
    assert session.run == "model" and session.view_settings.layout == "three"
    with pytest.raises(KeyError):
        session.show_runs("model", "nope")
    assert session.view_settings.layout == "three"
