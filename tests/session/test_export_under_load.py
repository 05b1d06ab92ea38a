"""An export of 20,000 images runs while the user moves the score threshold, switches
the run and edits: it completes, its files equal ``detview apply`` byte for byte, and
the history is clean afterwards."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import detview.io
from detview.cli.main import main as cli_main
from detview.core.metrics import MetricParams
from detview.io.spec import DatasetSpec
from detview.session import load

from ._data import write_coco_dataset

N_IMAGES = 20_000


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_export_survives_threshold_run_and_edits(tmp_path: Path, monkeypatch: Any) -> None:
    p = write_coco_dataset(tmp_path / "ds", N_IMAGES, seed=11)
    spec = DatasetSpec.make(images=p["images"], gt=p["gt"],
                            preds=[("good", p["good"]), ("noisy", p["noisy"])])
    s = load(spec).session()
    assert s.dataset.n_images == N_IMAGES
    out_rec = s.recover(lambda offer: True)
    assert s.journal is not None, out_rec
    gt = s.dataset.gt
    ids = [int(b) for b in gt.box_id[:8]]
    s.delete_boxes(ids[:1])
    s.relabel_boxes([ids[1]], (int(gt.cls[gt.rows_of([ids[1]])[0]]) + 1) % 5)
    s.nudge_boxes([ids[2]], 3, 0)
    s.set_images_deleted([5], True)

    # the real writer, held until the test has done its part
    real = detview.io.write_dataset
    gate, entered = threading.Event(), threading.Event()

    def held_writer(*args: Any, **kw: Any) -> Any:
        entered.set()
        gate.wait(120)
        return real(*args, **kw)

    monkeypatch.setattr(detview.io, "write_dataset", held_writer)
    finished: list[Any] = []
    out = tmp_path / "export"
    task = s.export(out, "coco", on_done=finished.append, on_error=finished.append)
    exported = s.history.index
    assert entered.wait(120), "the export never started writing"

    def still_exporting() -> None:
        assert s.runner.current("export") is task and not task.cancelled and not task.done

    started: list[str] = []
    s.runner.subscribe(lambda ev: started.append(ev.task.slot) if ev.what == "started"
                       else None)
    s.derived.want("coco")
    s.derived.want("errors")
    still_exporting()
    for thr in (0.3, 0.45, 0.6):  # moving the slider: a recompute each time
        s.set_params(MetricParams(thr, 0.5))
        still_exporting()
    assert started.count("recompute:metrics") == 3  # 20,000 images: in a worker
    assert {"recompute:coco", "recompute:errors"} <= set(started)
    s.set_run("noisy")
    still_exporting()
    s.delete_boxes(ids[3:4])
    s.nudge_boxes([ids[4]], 1, 1)
    s.set_reviewed([7], True)
    still_exporting()
    gate.set()
    assert s.runner.wait(task, 300)
    assert task.ok, task.error
    assert [type(x).__name__ for x in finished] == ["ExportResult"]
    # the clean mark is where the export was taken; undoing the later edits gets there
    assert s.history.clean_index == exported and not s.history.is_clean
    for _ in range(3):
        s.undo()
    assert s.history.is_clean
    s.close()  # stops the recomputes still running
    s.runner.wait_all(300)

    other = tmp_path / "apply"
    assert cli_main(["apply", "--corrections", str(out / "corrections.jsonl"), "--out",
                     str(other), "--format", "coco"]) == 0
    a, b = _files(out), _files(other)
    assert sorted(a) == sorted(b) == [".detview-export.json", "annotations.json",
                                      "corrections.jsonl"]
    for name in a:
        assert a[name] == b[name], f"{name} differs"
    assert b'"n_edits": 4' in a["corrections.jsonl"]


@pytest.mark.parametrize("n", [40])
def test_a_second_export_is_refused_while_one_runs(tmp_path: Path, n: int,
                                                   monkeypatch: Any) -> None:
    from detview.session import Busy

    p = write_coco_dataset(tmp_path / "ds", n, seed=2)
    spec = DatasetSpec.make(images=p["images"], gt=p["gt"], preds=[("good", p["good"])])
    s = load(spec).session()
    real = detview.io.write_dataset
    gate = threading.Event()

    def held_writer(*args: Any, **kw: Any) -> Any:
        gate.wait(60)
        return real(*args, **kw)

    monkeypatch.setattr(detview.io, "write_dataset", held_writer)
    task = s.export(tmp_path / "e1", "coco")
    with pytest.raises(Busy):
        s.export(tmp_path / "e2", "coco")
    gate.set()
    assert s.runner.wait(task, 60) and task.ok
    s.close()
