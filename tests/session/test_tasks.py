"""The task runner: a slot per kind, one Cancelled, exports cancelled only by their own
Cancel, outcomes delivered on the caller's thread."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from detview.io.errors import Cancelled as IoCancelled
from detview.session import Busy, Cancelled, TaskRunner


def _gated(gate: threading.Event, seen: list[str], name: str, result: Any = None) -> Any:
    def work(progress: Any) -> Any:
        for k in range(1000):
            if gate.is_set():
                break
            if not progress(k, 1000):
                seen.append(f"{name} stopped")
                raise IoCancelled("stopped")
            gate.wait(0.002)
        return result if result is not None else name
    return work


def test_one_cancelled_type() -> None:
    assert Cancelled is IoCancelled


def test_recompute_supersedes_its_own_slot_only() -> None:
    r = TaskRunner()
    gate = threading.Event()
    seen: list[str] = []
    done: list[Any] = []
    t1 = r.start("recompute:coco", _gated(gate, seen, "a"), on_done=done.append,
                 on_error=done.append)
    other = r.start("recompute:errors", _gated(gate, seen, "e"), on_done=done.append)
    t2 = r.start("recompute:coco", _gated(gate, seen, "b"), on_done=done.append)
    assert t1.superseded and t1.cancelled and not other.cancelled
    gate.set()
    assert r.wait_all(30)
    assert sorted(done) == ["b", "e"]  # the superseded one reports nothing
    assert isinstance(t1.error, Cancelled) and t2.result == "b"
    assert r.idle and r.active() == []


def test_an_export_is_cancelled_by_nothing_but_its_own_cancel() -> None:
    r = TaskRunner()
    gate = threading.Event()
    seen: list[str] = []
    out: list[Any] = []
    export = r.start("export", _gated(gate, seen, "export"), on_done=out.append,
                     on_error=out.append)
    for slot in ("load", "recompute:metrics", "recompute:coco", "load"):
        r.start(slot, _gated(gate, seen, slot))
    with pytest.raises(Busy):
        r.start("export", _gated(gate, seen, "second"))
    assert not export.cancelled and r.current("export") is export
    gate.set()
    r.wait_all(30)
    assert out == ["export"] and export.ok
    # its own Cancel does stop it, reported as Cancelled
    gate.clear()
    export = r.start("export", _gated(gate, seen, "export2"), on_done=out.append,
                     on_error=out.append)
    assert r.cancel("export")
    r.wait_all(30)
    assert isinstance(out[-1], Cancelled) and "export2 stopped" in seen


def test_outcomes_come_through_post_never_from_the_worker_thread() -> None:
    posted: list[Any] = []
    r = TaskRunner(post=posted.append)
    where: list[str] = []
    progress: list[tuple[int, int]] = []

    def work(p: Any) -> int:
        p(1, 2)
        return 42

    t = r.start("load", work, on_done=lambda v: where.append(threading.current_thread().name),
                on_progress=lambda d, n: progress.append((d, n)))
    t._thread.join(10)  # type: ignore[union-attr]
    assert not t.done and where == []  # nothing ran on the worker
    for fn in list(posted):
        fn()
    assert t.done and t.result == 42 and where == [threading.current_thread().name]
    assert progress == [(1, 2)]


def test_a_result_returned_after_cancel_is_cancelled() -> None:
    r = TaskRunner()
    gate = threading.Event()
    errors: list[Any] = []

    def work(p: Any) -> str:
        gate.wait(10)
        return "partial"  # e.g. an evaluation that stopped early

    t = r.start("recompute:x", work, on_error=errors.append, on_done=errors.append)
    t.cancel()
    gate.set()
    r.wait_all(30)
    assert len(errors) == 1 and isinstance(errors[0], Cancelled) and t.result is None


def test_an_export_that_returned_is_done_even_if_cancel_came_late() -> None:
    r = TaskRunner()
    gate = threading.Event()
    out: list[Any] = []

    def work(p: Any) -> str:
        gate.wait(10)
        return "all files written"

    t = r.start("export", work, on_done=out.append, on_error=out.append,
                returns_complete=True)
    t.cancel()  # too late to stop anything: the writer never asked
    gate.set()
    r.wait_all(30)
    assert out == ["all files written"] and t.ok
