"""The one undo history of an editing session.

``done`` holds the applied steps (oldest first), ``undone`` the redo list (the next redo
last). A step is one user gesture: one edit record, who made it and when. Every change
goes through the ``apply`` function the history is given (``Dataset.apply``, atomic): a
refused edit raises :class:`~detview.core.edits.EditRefused` and the history does not
move.

The merge rule: a :class:`~detview.core.edits.MoveBoxes` pushed with the same
``merge_key`` as the step on top, within :attr:`History.merge_window_s` seconds of it,
replaces that step by one move from the first old boxes to the last new ones (one nudge
gesture = one undo step). A step is never merged into the clean (exported) one.

The clean mark says which position was last exported (``None``: never, or no longer
reachable). Listeners get a :class:`HistoryEvent` after each change; the journal is
one of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from detview.core.edits import Edit, EditRefused, MoveBoxes

__all__ = ["History", "HistoryEvent", "RestoreReport", "Step"]

Op = Literal["do", "merge", "undo", "redo", "clean", "reset"]


@dataclass(frozen=True)
class Step:
    """One undo step: the edit record, when (seconds since the epoch) and by whom."""

    edit: Edit
    time: float
    user: str = ""
    merge_key: Hashable | None = None
    #: monotonic clock of the last gesture merged into this step (the merge window)
    mono: float = field(default=0.0, compare=False)

    def meta(self) -> dict[str, Any]:
        """``{"time", "user"}``, as the journal and the corrections log record them."""
        return {"time": self.time, "user": self.user}

    def text(self, class_names: Sequence[str] | None = None) -> str:
        return self.edit.describe(class_names)


@dataclass(frozen=True)
class HistoryEvent:
    """What changed: ``op``, the step concerned (the merged result for ``"merge"``),
    the position after the change and the images the data change touched."""

    op: Op
    step: Step | None
    index: int
    touched: frozenset[int] = frozenset()
    clean_index: int | None = None


@dataclass(frozen=True)
class RestoreReport:
    """How much of a saved history came back. ``refused`` says why the first step that
    no longer applies was refused (the files changed); the steps after it are dropped."""

    wanted: int
    restored: int
    refused: str | None = None

    @property
    def complete(self) -> bool:
        return self.refused is None and self.restored == self.wanted


class History:
    """Done/undone steps over one ``apply`` function."""

    merge_window_s = 1.5

    def __init__(self, apply: Callable[[Edit], frozenset[int]], user: str = "",
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._apply = apply
        self.user = user
        self._clock = clock
        self._mono = monotonic
        self._done: list[Step] = []
        self._undone: list[Step] = []  # the next redo last
        self._clean: int | None = 0
        self._listeners: list[Callable[[HistoryEvent], None]] = []

    # ------------------------------------------------------------------ observe
    def subscribe(self, fn: Callable[[HistoryEvent], None]) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[HistoryEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, op: Op, step: Step | None, touched: frozenset[int] = frozenset()) -> None:
        ev = HistoryEvent(op, step, self.index, touched, self._clean)
        for fn in list(self._listeners):
            fn(ev)

    # ------------------------------------------------------------------ state
    @property
    def index(self) -> int:
        """Steps applied: the position in :attr:`steps`."""
        return len(self._done)

    @property
    def done(self) -> tuple[Step, ...]:
        return tuple(self._done)

    @property
    def undone(self) -> tuple[Step, ...]:
        """The redo list, next redo first."""
        return tuple(reversed(self._undone))

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step, applied ones first; ``steps[:index]`` are applied."""
        return (*self._done, *reversed(self._undone))

    def __len__(self) -> int:
        return len(self._done) + len(self._undone)

    @property
    def clean_index(self) -> int | None:
        return self._clean

    @property
    def is_clean(self) -> bool:
        return self._clean == len(self._done)

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def edits(self) -> list[Edit]:
        """The applied edits, oldest first (what an export writes)."""
        return [s.edit for s in self._done]

    def metas(self) -> list[dict[str, Any]]:
        return [s.meta() for s in self._done]

    # ------------------------------------------------------------------ change
    def push(self, edit: Edit, merge_key: Hashable | None = None, when: float | None = None,
             user: str | None = None) -> Step:
        """Apply ``edit`` and record it (or merge it into the top step). Raises
        :class:`EditRefused` with nothing changed when the data refuses it."""
        touched = self._apply(edit)
        now = self._mono()
        step = Step(edit, self._clock() if when is None else float(when),
                    self.user if user is None else user, merge_key, now)
        if self._undone:
            self._undone.clear()
            if self._clean is not None and self._clean > len(self._done):
                self._clean = None  # the exported state can no longer be reached
        top = self._done[-1] if self._done else None
        if top is not None and self._merges(top, step):
            assert isinstance(top.edit, MoveBoxes) and isinstance(edit, MoveBoxes)
            merged = MoveBoxes(top.edit.box_ids, top.edit.images, top.edit.old_xyxy,
                               edit.new_xyxy)
            self._done[-1] = replace(step, edit=merged)
            self._emit("merge", self._done[-1], touched)
            return self._done[-1]
        self._done.append(step)
        self._emit("do", step, touched)
        return step

    def _merges(self, top: Step, new: Step) -> bool:
        return (new.merge_key is not None and new.merge_key == top.merge_key
                and isinstance(top.edit, MoveBoxes) and isinstance(new.edit, MoveBoxes)
                and new.mono - top.mono <= self.merge_window_s
                and self._clean != len(self._done)
                and top.edit.box_ids == new.edit.box_ids)

    def undo(self) -> Step | None:
        """Undo the top step; None when there is none."""
        if not self._done:
            return None
        step = self._done[-1]
        touched = self._apply(step.edit.inverse())
        self._undone.append(self._done.pop())
        self._emit("undo", step, touched)
        return step

    def redo(self) -> Step | None:
        """Redo the next undone step; None when there is none. Raises
        :class:`EditRefused` (nothing changed) when it no longer applies."""
        if not self._undone:
            return None
        step = self._undone[-1]
        touched = self._apply(step.edit)
        self._done.append(self._undone.pop())
        self._emit("redo", step, touched)
        return step

    def go_to(self, index: int) -> None:
        """Undo or redo until ``index`` steps are applied."""
        index = max(0, min(index, len(self)))
        while self.index > index and self.undo() is not None:
            pass
        while self.index < index and self.redo() is not None:
            pass

    def mark_clean(self, index: int | None = None) -> None:
        """The state after ``index`` steps (default: now) is the exported one."""
        k = self.index if index is None else int(index)
        if not 0 <= k <= len(self):
            raise ValueError(f"clean index {k} outside 0..{len(self)}")
        self._clean = k
        self._emit("clean", None)

    # ------------------------------------------------------------------ restore
    def restore(self, done: Sequence[Step], undone: Sequence[Step],
                clean_index: int | None) -> RestoreReport:
        """Rebuild a saved history (this one must be empty): apply ``done``, then apply
        and undo ``undone`` (``undone[0]`` is the next redo) so every step is known to
        apply. A step that is refused ends the restore: the steps before it are kept.
        One ``"reset"`` event at the end."""
        if len(self):
            raise RuntimeError("restore needs an empty history")
        steps = [*done, *undone]
        refused: str | None = None
        applied: list[Step] = []
        for s in steps:
            try:
                self._apply(s.edit)
            except EditRefused as exc:
                refused = f"edit {len(applied) + 1} ({s.text()}): {exc}"
                break
            applied.append(s)
        self._done = list(applied)
        n_done = min(len(done), len(applied))
        while len(self._done) > n_done:
            step = self._done[-1]
            self._apply(step.edit.inverse())
            self._undone.append(self._done.pop())
        self._clean = clean_index if clean_index is not None and clean_index <= len(
            applied) else None
        self._emit("reset", None)
        return RestoreReport(len(steps), len(applied), refused)
