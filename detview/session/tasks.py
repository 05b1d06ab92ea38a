"""Long work off the caller's thread: one runner, one slot per kind of work, one
:class:`Cancelled`.

A *slot* is a name such as ``"load"``, ``"export"`` or ``"recompute:coco"``; its *kind*
is the part before the colon. Each slot runs at most one task whose result counts:

* ``load`` and ``recompute`` tasks are superseded: starting one cancels the older task
  of the same slot (its result is dropped), without waiting for it;
* an ``export`` is never cancelled by anything but :meth:`Task.cancel` on itself (the
  user's Cancel); a second export while one runs is refused with :class:`Busy`.

Work runs in a daemon thread as ``fn(progress)``; ``progress(done, total)`` returns False
once the task is cancelled. Results, errors and progress are delivered through ``post``:
the GUI passes a function that queues a callable onto its event loop; headless callers
leave it out and call :meth:`TaskRunner.drain` or :meth:`TaskRunner.wait` on their own
thread. The caller's thread never blocks on a worker unless it calls ``wait``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from detview.io.errors import Cancelled

__all__ = ["Busy", "Cancelled", "Progress", "Task", "TaskEvent", "TaskRunner"]

T = TypeVar("T")
Progress = Callable[[int, int], bool]
Post = Callable[[Callable[[], None]], None]

#: kinds whose newer task supersedes (cancels) the running one of the same slot
SUPERSEDED_KINDS = frozenset({"load", "recompute"})


class Busy(RuntimeError):
    """A task of a slot that is never superseded (an export) is already running."""


@dataclass(eq=False)
class Task(Generic[T]):
    """One piece of work. Read it on the caller's thread; only ``cancel`` is needed
    elsewhere."""

    slot: str
    label: str
    _fn: Callable[[Progress], T] = field(repr=False)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    done: bool = False
    result: T | None = None
    error: BaseException | None = None
    progress: tuple[int, int] = (0, 0)
    superseded: bool = False
    _thread: threading.Thread | None = field(default=None, repr=False)
    _progress_posted: bool = field(default=False, repr=False)

    @property
    def kind(self) -> str:
        return self.slot.split(":", 1)[0]

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the work to stop; it ends with :class:`Cancelled` at its next progress
        call (or is reported cancelled when it returns)."""
        self._cancel.set()

    @property
    def ok(self) -> bool:
        return self.done and self.error is None


@dataclass(frozen=True)
class TaskEvent:
    """``what``: ``"started"``, ``"progress"`` or ``"finished"``."""

    what: Literal["started", "progress", "finished"]
    task: Task[Any]


class TaskRunner:
    """Starts tasks in threads and delivers their outcome through ``post``."""

    def __init__(self, post: Post | None = None) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._post: Post = post if post is not None else self._queue.put
        self._slots: dict[str, Task[Any]] = {}
        self._running: set[Task[Any]] = set()
        self._listeners: list[Callable[[TaskEvent], None]] = []

    # ------------------------------------------------------------------ observe
    def subscribe(self, fn: Callable[[TaskEvent], None]) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[TaskEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, what: Literal["started", "progress", "finished"], task: Task[Any]) -> None:
        ev = TaskEvent(what, task)
        for fn in list(self._listeners):
            fn(ev)

    def current(self, slot: str) -> Task[Any] | None:
        """The task whose result counts in ``slot`` (None when idle)."""
        return self._slots.get(slot)

    def active(self) -> list[Task[Any]]:
        """Tasks whose result counts, oldest first."""
        return list(self._slots.values())

    def busy(self, slot_or_kind: str) -> bool:
        return any(t.slot == slot_or_kind or t.kind == slot_or_kind
                   for t in self._slots.values())

    @property
    def idle(self) -> bool:
        """No thread running at all (superseded ones included)."""
        return not self._running

    # ------------------------------------------------------------------ start
    def start(self, slot: str, fn: Callable[[Progress], T], *, label: str = "",
              on_done: Callable[[T], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None,
              on_progress: Callable[[int, int], None] | None = None,
              returns_complete: bool = False) -> Task[T]:
        """Run ``fn(progress)`` in a thread. ``on_done(result)`` or
        ``on_error(exception)`` (a :class:`Cancelled` when cancelled) is called through
        ``post``; not at all when a newer task superseded this one.

        A result returned after :meth:`Task.cancel` counts as cancelled (work may stop
        early and return what it has), unless ``returns_complete``: then a return is a
        finished job (an export whose files are all written)."""
        old = self._slots.get(slot)
        if old is not None and not old.done:
            if old.kind not in SUPERSEDED_KINDS:
                raise Busy(f"{old.label or old.slot} is still running")
            old.superseded = True
            old.cancel()
        task: Task[T] = Task(slot, label or slot, fn)
        self._slots[slot] = task
        self._running.add(task)

        def progress(done: int, total: int) -> bool:
            task.progress = (int(done), int(total))
            if on_progress is not None or self._listeners:
                if not task._progress_posted:
                    task._progress_posted = True
                    self._post(lambda: self._deliver_progress(task, on_progress))
            return not task._cancel.is_set()

        def body() -> None:
            result: T | None = None
            error: BaseException | None = None
            try:
                result = fn(progress)
            except BaseException as exc:  # noqa: BLE001 - delivered to the caller's thread
                error = exc
            cancelled = task._cancel.is_set() and (error is not None or not returns_complete)
            if cancelled or isinstance(error, (InterruptedError, Cancelled)):
                result, error = None, Cancelled(f"{task.label}: cancelled")
            self._post(lambda: self._finish(task, result, error, on_done, on_error))

        task._thread = threading.Thread(target=body, name=f"detview-{slot}", daemon=True)
        self._emit("started", task)
        task._thread.start()
        return task

    def cancel(self, slot: str) -> bool:
        task = self._slots.get(slot)
        if task is None or task.done:
            return False
        task.cancel()
        return True

    # ------------------------------------------------------------------ deliver
    def _deliver_progress(self, task: Task[Any],
                          on_progress: Callable[[int, int], None] | None) -> None:
        task._progress_posted = False
        if task.done or task.superseded:
            return
        if on_progress is not None:
            on_progress(*task.progress)
        self._emit("progress", task)

    def _finish(self, task: Task[T], result: T | None, error: BaseException | None,
                on_done: Callable[[T], None] | None,
                on_error: Callable[[BaseException], None] | None) -> None:
        task.done = True
        task.result, task.error = result, error
        self._running.discard(task)
        if self._slots.get(task.slot) is task:
            del self._slots[task.slot]
        if not task.superseded:
            if error is None and on_done is not None:
                on_done(result)  # type: ignore[arg-type]
            elif error is not None and on_error is not None:
                on_error(error)
        self._emit("finished", task)

    # ------------------------------------------------------------------ headless
    def drain(self) -> int:
        """Run the outcomes queued by workers on this thread (headless runners);
        returns how many ran."""
        n = 0
        while True:
            try:
                fn = self._queue.get_nowait()
            except queue.Empty:
                return n
            fn()
            n += 1

    def wait(self, task: Task[Any], timeout: float | None = None) -> bool:
        """Headless only: block until ``task`` is finished and delivered."""
        if task._thread is not None:
            task._thread.join(timeout)
        self.drain()
        return task.done

    def wait_all(self, timeout: float | None = None) -> bool:
        """Headless only: until every thread has ended and its outcome is delivered
        (False when ``timeout`` seconds passed first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._running:
            for t in list(self._running):
                rest = None if deadline is None else max(0.0, deadline - time.monotonic())
                if t._thread is not None:
                    t._thread.join(rest)
            self.drain()
            if self._running and deadline is not None and time.monotonic() >= deadline:
                return False
        return True
