"""One editing session on one opened dataset, without Qt.

A :class:`Session` owns the dataset, its :class:`~detview.session.history.History`
(the journal is a sink of it), its :class:`~detview.session.derived.Derived` numbers
and the settings they depend on (run, thresholds, COCO mode), and starts its long work
on a :class:`~detview.session.tasks.TaskRunner`. Every change to the data is an edit
record pushed through :meth:`Session.push` (the builders below make them from a
gesture). Whoever shows the session subscribes to its :class:`SessionEvent` stream; the
GUI turns them into Qt signals.

Everything here runs on one thread (the GUI's); workers only see snapshots.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from detview.core.analysis import ErrorAnalysis
from detview.core.checkpoints import Training
from detview.core.dataset import Dataset
from detview.core.edits import (
    BOX_ATTRIBUTES,
    AddBoxes,
    Composite,
    DeleteBoxes,
    DeleteImages,
    Edit,
    EditRefused,
    MergeClasses,
    MoveBoxes,
    RelabelBoxes,
    RenameClass,
    RestoreImages,
    SetBoxAttribute,
    SetReviewed,
    SetTags,
)
from detview.core.matching import FP, IGNORED, TP, best_overlap
from detview.core.metrics import MetricParams, PerImageMetrics, run_totals
from detview.io.journal import Journal
from detview.io.spec import DatasetSpec

from .derived import COCOProducer, Derived, ErrorsProducer, MetricsProducer, RunMetrics
from .history import History, HistoryEvent, Step
from .label_quality import LabelQualityProducer, LiveLabelQuality
from .tasks import Task, TaskRunner
from .training import AcrossProducer, DiffProducer, TrainingState
from .view import GT_CROWD, GT_MATCHED, GT_MISSED, PRED_FP, PRED_IGNORED, PRED_TP, ImageView
from .view_settings import ViewSettings

if TYPE_CHECKING:
    from detview.core.label_quality import LabelQuality  # type: ignore[import-not-found,unused-ignore]

__all__ = ["EventKind", "Session", "SessionEvent", "Settings"]

EventKind = Literal["images", "history", "settings", "derived", "stale", "busy", "message",
                    "training", "view"]
XYXY = tuple[float, float, float, float]


class _Keep(Enum):
    KEEP = 0  # update_settings: leave the run as it is


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name on this system
        return ""


@dataclass(frozen=True)
class Settings:
    """What the derived numbers depend on besides the data."""

    run: str | None = None
    params: MetricParams = MetricParams()
    #: COCO numbers from every prediction (as training frameworks print them) rather
    #: than from those at or above the score threshold
    all_predictions: bool = False


@dataclass(frozen=True)
class SessionEvent:
    """``images``: an edit (or undo/redo) touched ``images``; ``history``: the steps,
    the position or the clean mark changed; ``settings``: run, thresholds or mode
    changed (everything shown may differ); ``derived``: the value ``name`` arrived or
    was dropped; ``stale``: an edit made ``name`` out of date (request it again when
    the edits pause); ``busy``: ``name`` started recomputing; ``message``: ``text`` for
    the user (an edit refused, a journal that cannot be written, a failed task);
    ``training``: ``session.training``'s logs, compared pair or checkpoint changed
    (``name``: ``logs``, ``pair``, ``checkpoint``); ``view``: the :class:`ViewSettings`
    changed (layout, panes, run B, class colours or visibility, brightness/contrast:
    nothing computed depends on them; a per-class score threshold is followed by a
    ``settings`` event)."""

    kind: EventKind
    images: frozenset[int] = frozenset()
    name: str = ""
    text: str = ""


class Session:
    """The opened dataset, its history, journal, derived numbers and tasks."""

    def __init__(self, dataset: Dataset, *, spec: DatasetSpec | None = None,
                 image_root: Path | str | None = None, params: MetricParams | None = None,
                 metrics: RunMetrics | None = None, name: str = "",
                 runner: TaskRunner | None = None, user: str | None = None) -> None:
        self.dataset = dataset
        self.spec = spec
        self.name = name or (spec.name() if spec is not None else "dataset")
        root = (image_root or dataset.meta.get("images_root") or dataset.meta.get("image_root")
                or (spec.images if spec is not None else None))
        self.image_root: Path | None = Path(root) if root else None
        self.original = dataset.copy()  # before any edit: the corrections log's base
        self.runner = runner if runner is not None else TaskRunner()
        self.history = History(dataset.apply, _user_name() if user is None else user)
        self.journal: Journal | None = None
        self._listeners: list[Callable[[SessionEvent], None]] = []
        self._exports: set[Task[Any]] = set()
        self._closed = False
        params = params or MetricParams()
        self._settings = Settings(next(iter(dataset.runs), None),
                                  replace(params, class_thresholds=()))
        self._view = ViewSettings(class_thresholds=params.class_thresholds)
        self.derived = Derived(self)
        self.derived.register(MetricsProducer(), wanted=True)
        self.derived.register(COCOProducer())
        self.derived.register(ErrorsProducer())
        self.derived.register(LabelQualityProducer())
        #: training logs, checkpoints and the two runs compared (see .training)
        self.training = TrainingState(self)
        self.derived.register(DiffProducer())
        self.derived.register(AcrossProducer())
        if metrics is not None:  # computed with the dataset (in the load worker)
            self.derived.seed("metrics", metrics)
        else:
            self.derived.compute("metrics")
        dataset.add_listener(self._on_apply)
        self.history.subscribe(self._on_history)

    # ================================================================== events
    def subscribe(self, fn: Callable[[SessionEvent], None]) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[SessionEvent], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, kind: EventKind, images: frozenset[int] = frozenset(), name: str = "",
              text: str = "") -> None:
        ev = SessionEvent(kind, images, name, text)
        for fn in list(self._listeners):
            fn(ev)

    def _message(self, text: str) -> None:
        self._emit("message", text=text)

    def _derived_ready(self, name: str) -> None:
        self._emit("derived", name=name)

    def _derived_stale(self, name: str) -> None:
        self._emit("stale", name=name)

    def _derived_busy(self, name: str) -> None:
        self._emit("busy", name=name)

    def _on_apply(self, edit: Edit, touched: frozenset[int]) -> None:
        self.derived.on_edit(touched)
        self._emit("images", touched)

    def _on_history(self, ev: HistoryEvent) -> None:
        if self.journal is not None:
            self._journal_event(ev)
        self._emit("history")

    # ================================================================== settings
    @property
    def settings(self) -> Settings:
        return replace(self._settings, params=self.params)

    @property
    def run(self) -> str | None:
        return self._settings.run

    @property
    def params(self) -> MetricParams:
        """The thresholds: the global ones of :attr:`settings` with the per-class score
        thresholds of the view settings (``view_settings.class_thresholds``)."""
        return replace(self._settings.params, class_thresholds=self._view.class_thresholds)

    @property
    def all_predictions(self) -> bool:
        return self._settings.all_predictions

    @property
    def run_names(self) -> list[str]:
        return list(self.dataset.runs)

    def update_settings(self, *, run: str | None | _Keep = _Keep.KEEP,
                        params: MetricParams | None = None,
                        all_predictions: bool | None = None) -> bool:
        """Change run (None: ground truth only), thresholds or COCO mode; the wanted
        derived values follow (at once when cached or small, else in workers). False
        when nothing changed."""
        new = self._settings
        if not isinstance(run, _Keep):
            if run is not None and run not in self.dataset.runs:
                raise KeyError(f"no run {run!r}; runs: {', '.join(self.dataset.runs) or 'none'}")
            new = replace(new, run=run)
        view = self._view
        if params is not None:
            if params.class_thresholds:  # per-class overrides live in the view settings
                view = replace(view, class_thresholds=params.class_thresholds)
            new = replace(new, params=replace(params, class_thresholds=()))
        if all_predictions is not None:
            new = replace(new, all_predictions=bool(all_predictions))
        if new == self._settings and view == self._view:
            return False
        self._settings = new
        if view != self._view:
            self._view = view
            self._emit("view")
        self.derived.refresh()
        self._emit("settings")
        return True

    def set_run(self, run: str | None) -> bool:
        return self.update_settings(run=run)

    def set_params(self, params: MetricParams) -> bool:
        return self.update_settings(params=params)

    def set_all_predictions(self, on: bool) -> bool:
        return self.update_settings(all_predictions=on)

    # ================================================================== view
    @property
    def view_settings(self) -> ViewSettings:
        """How the viewer shows images (layout, panes, run B, class colours and
        visibility, brightness/contrast); nothing computed depends on it."""
        return self._view

    def update_view(self, settings: ViewSettings | None = None, **changes: Any) -> bool:
        """Replace the view settings, or change some of their fields
        (``update_view(layout="overlay")``, ``update_view(run_b="yolo@800")``); a
        ``view`` event follows. False when nothing changed; KeyError for a ``run_b=``
        that is not a run (a whole ``settings`` record restored from another session
        drops its unknown run B instead); ValueError for a bad layout or pane pair."""
        new = settings if settings is not None else self._view
        if settings is not None and new.run_b not in self.dataset.runs:
            new = replace(new, run_b=None)
        if changes:
            new = replace(new, **changes)
        if new.run_b is not None and new.run_b not in self.dataset.runs:
            raise KeyError(f"no run {new.run_b!r}; runs: {', '.join(self.dataset.runs) or 'none'}")
        if new == self._view:
            return False
        numbers = new.class_thresholds != self._view.class_thresholds
        self._view = new
        self._emit("view")
        if numbers:  # per-class score thresholds: the numbers follow
            self.derived.refresh()
            self._emit("settings")
        return True

    def set_class_threshold(self, cls: int, threshold: float | None) -> bool:
        """Keep predictions of class ``cls`` from ``threshold`` on (None: the global
        score threshold again; ``cls`` < 0 with None: clear every override)."""
        return self.update_view(self._view.with_threshold(cls, threshold))

    @property
    def run_b(self) -> str | None:
        """The run of the viewer's source ``"b"``: the one chosen, else the other run of
        the pair compared (``training.pair``), else the first run other than run A (None
        when there is none)."""
        b = self._view.run_b
        if b is not None and b in self.dataset.runs:
            return b
        pair = self.training.pair  # the two runs compared image by image
        if pair is not None:
            return pair[1] if pair[1] != self.run else pair[0]
        return next((r for r in self.dataset.runs if r != self.run), None)

    def source_run(self, source: str) -> str | None:
        """The run a viewer source shows: ``"gt"`` None, ``"a"`` run A, ``"b"`` run B."""
        return {"gt": None, "a": self.run, "b": self.run_b}[source]

    @property
    def trainings(self) -> list[Training]:
        """The runs that are checkpoints of one training (named ``NAME@STEP``, or
        files such as ``preds_step400.json``), grouped, steps in order
        (``session.training.trainings()``)."""
        return self.training.trainings()

    def training_of(self, run: str | None = None) -> Training | None:
        """The training run ``run`` (default: run A) is a checkpoint of, if any."""
        return self.training.training_of(self.run if run is None else run)

    def show_runs(self, run_a: str, run_b: str | None = None,
                  layout: str | None = None) -> None:
        """Show ``run_a`` as run A, and ``run_b`` beside it (panes A | B) when given;
        ``layout`` "side", "overlay" or "three" (GT | A | B). What the Runs window's
        "open in viewer" calls. KeyError for an unknown run."""
        for r in (run_a, run_b):
            if r is not None and r not in self.dataset.runs:
                raise KeyError(f"no run {r!r}; runs: {', '.join(self.dataset.runs)}")
        changes: dict[str, Any] = {}
        if run_b is not None:
            changes.update(run_b=run_b, panes=("a", "b"))
        if layout is not None:
            changes["layout"] = layout
        self.update_settings(run=run_a)
        if changes:
            self.update_view(**changes)

    def show_checkpoint(self, step: int, training: str | None = None) -> str:
        """Make the checkpoint at ``step`` run A (what the Graphs view calls when a
        point at step S is clicked, and the viewer's checkpoint slider): ``training``
        by name, default the training of run A, else the first one. Returns the run's
        name; KeyError when there is no such training or step. The viewer keeps the
        image, the zoom and the selection."""
        ts = self.trainings
        if training is not None:
            t = next((x for x in ts if x.name == training), None)
        else:
            t = self.training_of() or (ts[0] if ts else None)
        if t is None:
            raise KeyError(f"no training {training!r}" if training else "no checkpoints")
        run = t.run_at(int(step))
        self.training.select_checkpoint(run)
        return run

    # ================================================================== numbers
    @property
    def metrics(self) -> RunMetrics:
        """Per-image metrics of every run (the latest computed: while new thresholds
        are computed in a worker, those of the previous ones)."""
        value = self.derived.latest("metrics")
        assert value is not None
        return value

    @property
    def current(self) -> PerImageMetrics:
        """Per-image metrics of the current run."""
        m = self.metrics
        return m.get(self.run) or next(iter(m.values()))

    def column(self, name: str) -> np.ndarray:
        """A per-image column of the current run: a metric (``tp``, ``mean_iou``...), a
        derived column (``ap``, ``err_loc``...; NaN until computed) or a side value
        loaded with the dataset (``loss``). KeyError for an unknown name."""
        values = self.derived.column(name)
        if values is not None:
            return values
        if name in self.derived.column_names():
            return np.full(self.dataset.n_images, np.nan)
        return self.current.column(name)

    def has_column(self, name: str) -> bool:
        try:
            self.column(name)
        except KeyError:
            return False
        return True

    def errors(self) -> ErrorAnalysis | None:
        """The error breakdown of the current run (maybe of older data while it is
        recomputed; None before the first one)."""
        value = self.derived.get("errors")
        if value is None:
            key = self.derived.key_of_latest("errors")
            if key is not None and self.run is not None and key[0] == self.run:
                value = self.derived.latest("errors")
        return value

    def label_quality(self) -> LabelQuality | None:
        """Run A's label-quality scores (:class:`detview.core.label_quality.LabelQuality`),
        current with the edits; None until computed (``derived.want("label_quality")``
        or ``derived.compute("label_quality")``) or without the engine."""
        if "label_quality" not in self.derived.names:
            return None
        live: LiveLabelQuality | None = self.derived.get("label_quality")
        return None if live is None else live.value

    def run_totals(self) -> list[dict[str, Any]]:
        """Per-run totals over the images not deleted (computed by the engine)."""
        alive = ~self.dataset.images.deleted
        return [{"run": run or "(ground truth only)", **run_totals(m, alive)}
                for run, m in self.metrics.items()]

    # ================================================================== history
    def push(self, edit: Edit, merge_key: Hashable | None = None, when: float | None = None,
             user: str | None = None) -> bool:
        """Apply ``edit`` as one undo step (journaled). False, with a ``message`` event
        saying why, when the data refuses it: then nothing changed."""
        try:
            self.history.push(edit, merge_key, when, user)
        except EditRefused as exc:
            self._message(f"{edit.describe(self.dataset.classes.names)}: refused: {exc}")
            return False
        return True

    def undo(self) -> Step | None:
        return self._step(self.history.undo)

    def redo(self) -> Step | None:
        return self._step(self.history.redo)

    def go_to(self, index: int) -> None:
        try:
            self.history.go_to(index)
        except EditRefused as exc:
            self._message(f"cannot go there in the history: {exc}")

    def _step(self, fn: Callable[[], Step | None]) -> Step | None:
        try:
            return fn()
        except EditRefused as exc:
            self._message(f"refused: {exc}")
            return None

    def step_text(self, step: Step) -> str:
        """What the step did and where: ``Delete 1 box · 000000000009.jpg``, ``Delete 3
        images · 3 images``; dataset-wide edits (a class renamed) name no image."""
        text = step.text(self.dataset.classes.names)
        images = step.edit.touched_images()
        names = self.dataset.images.file_names
        if len(images) == 1:
            i = next(iter(images))
            if 0 <= i < len(names):
                text += f" · {names[i]}"
        elif len(images) > 1 and not text.endswith(" images"):
            text += f" · {len(images)} images"
        return text

    def unexported_text(self) -> str:
        """What export would save, in words ("" when nothing): the edits since the
        last export, or the exported edits undone since."""
        h = self.history
        clean = h.clean_index
        if clean is None:
            n = h.index
            if not n:
                return "The edits exported earlier were undone" if len(h) else ""
            return f"{n} edit{'s' if n != 1 else ''} not exported"
        if h.index > clean:
            n = h.index - clean
            return f"{n} edit{'s' if n != 1 else ''} not exported"
        if h.index < clean:
            n = clean - h.index
            return f"{n} exported edit{'s' if n != 1 else ''} undone since the export"
        return ""

    # ================================================================== journal
    def attach_journal(self, journal: Journal) -> None:
        """Write every history change to ``journal`` from now on."""
        self.journal = journal

    def _journal_event(self, ev: HistoryEvent) -> None:
        j = self.journal
        assert j is not None
        rows: list[tuple[str, Edit | int | None, float | None, str | None]]
        if ev.op == "do" and ev.step is not None:
            rows = [("do", ev.step.edit, ev.step.time, ev.step.user)]
        elif ev.op == "merge" and ev.step is not None:
            # one row per undo step: the merged step replaces the top one
            rows = [("undo", None, None, None), ("do", ev.step.edit, ev.step.time, ev.step.user)]
        elif ev.op in ("undo", "redo"):
            rows = [(ev.op, None, None, None)]
        elif ev.op == "clean":
            rows = [("clean", ev.clean_index, None, None)] if ev.clean_index is not None else []
        else:
            return
        try:
            if len(rows) == 1:
                j.append(*rows[0])
            elif rows:
                j.append_many(rows)
        except Exception as exc:  # noqa: BLE001 - disk full, file gone: the edit stands
            self.journal = None
            self._message(f"Edit journal {j.path}: cannot write ({exc}); crash recovery is "
                          "off for this session — export soon")

    def recover(self, ask: Callable[..., bool]) -> Any:
        """Attach this dataset's journal, offering (``ask(offer) -> bool``) to restore
        the edits a previous session left unexported: see
        :func:`detview.session.recovery.recover`."""
        from .recovery import recover

        return recover(self, ask)

    # ================================================================== export
    def export(self, out: Path | str, fmt: str | None, images_mode: str = "none",
               on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None) -> Task[Any]:
        """Write the applied edits' dataset and its corrections log in a worker (the
        ``export`` slot: only its own :meth:`Task.cancel` stops it). When it succeeds
        the exported position becomes the clean mark (if those steps still exist).
        Raises :class:`~detview.session.tasks.Busy` while another export runs."""
        from .pipeline import export_edits

        steps = self.history.done
        edits = [s.edit for s in steps]
        meta = [s.meta() for s in steps]
        original, spec = self.original, self.spec
        source = spec if spec is not None else DatasetSpec()
        images_root = self.image_root

        def work(progress: Any) -> Any:
            return export_edits(original, edits, source, Path(out), fmt, images_mode,
                                meta=meta, images_root=images_root, progress=progress)

        def done(result: Any) -> None:
            self._exports.discard(task)
            now = self.history.steps
            if len(now) >= len(steps) and all(a is b for a, b in zip(now, steps, strict=False)):
                self.history.mark_clean(len(steps))
            if self._closed:
                self._close_journal()
            if on_done is not None:
                on_done(result)

        def failed(exc: BaseException) -> None:
            self._exports.discard(task)
            if self._closed:
                self._close_journal()
            if on_error is not None:
                on_error(exc)

        task = self.runner.start("export", work, label=f"Exporting to {out}", on_done=done,
                                 on_error=failed, returns_complete=True)
        self._exports.add(task)
        return task

    # ================================================================== closing
    def close(self, discard: bool = False) -> None:
        """Stop listening and computing. ``discard``: the user chose to drop the edits
        not exported, so the journal is archived (no restore offer next time). A running
        export goes on; the journal closes when it ends."""
        if self._closed:
            return
        self._closed = True
        self.dataset.remove_listener(self._on_apply)
        self.derived.cancel()
        if self.journal is not None and discard and not self.history.is_clean:
            j, self.journal = self.journal, None
            try:
                j.archive()
            except OSError as exc:
                self._message(f"Edit journal {j.path}: cannot set it aside ({exc})")
        if not self._exports:
            self._close_journal()
        self._listeners.clear()

    def _close_journal(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    @property
    def closed(self) -> bool:
        return self._closed

    # ================================================================== queries
    def image_path(self, i: int) -> Path | None:
        p = Path(self.dataset.images.file_names[i])
        if p.is_absolute():
            return p
        return (self.image_root / p) if self.image_root is not None else p

    def gt_boxes(self, box_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, classes, xyxy) of ground-truth boxes by id."""
        gt = self.dataset.gt
        rows = gt.rows_of(list(box_ids))
        return gt.image[rows], gt.cls[rows], gt.xyxy[rows]

    def image_view(self, i: int, run: str | None | _Keep = _Keep.KEEP) -> ImageView:
        """What the viewer draws for image ``i``: boxes, match outcomes, error tags,
        against run A (default) or another ``run`` (KeyError when it has no metrics)."""
        ds = self.dataset
        im, gt = ds.images, ds.gt
        if isinstance(run, _Keep):
            cur = self.current
        else:
            found = self.metrics.get(run)
            if found is None:
                raise KeyError(f"no metrics for run {run!r}")
            cur = found
        res = cur.image_result(i)
        m = res.match
        g_rows = res.gt_rows
        crowd = gt.iscrowd[g_rows]
        run = cur.run
        matched = (m.gt_pred >= 0) | (run is None)  # no run: nothing is "missed"
        gt_state = np.where(crowd, GT_CROWD, np.where(matched, GT_MATCHED, GT_MISSED))
        view = ImageView(
            index=i, file_name=im.file_names[i], path=self.image_path(i),
            width=int(im.widths[i]), height=int(im.heights[i]), deleted=bool(im.deleted[i]),
            reviewed=bool(im.reviewed[i]), tags=tuple(sorted(im.tags[i])),
            gt_ids=gt.box_id[g_rows].copy(), gt_xyxy=gt.xyxy[g_rows].copy(),
            gt_cls=gt.cls[g_rows].copy(), gt_state=gt_state.astype(np.int8),
            gt_partner=np.full(len(g_rows), -1, dtype=np.int64), run=run,
        )
        preds = cur.preds
        if preds is not None:
            p_rows = res.pred_rows
            ps = preds.image_slice(i)
            view.n_below = int(np.count_nonzero(preds.alive[ps])) - len(p_rows)
            pid = preds.box_id[p_rows]
            view.pred_ids = pid.copy()
            view.pred_xyxy = preds.xyxy[p_rows].copy()
            view.pred_cls = preds.cls[p_rows].copy()
            view.pred_score = preds.score[p_rows].copy()
            state = np.full(len(p_rows), PRED_FP, dtype=np.int8)
            state[m.pred_outcome == TP] = PRED_TP
            state[m.pred_outcome == IGNORED] = PRED_IGNORED
            state[m.pred_outcome == FP] = PRED_FP
            view.pred_state = state
            view.pred_iou = m.pred_iou.copy()
            view.pred_partner = np.where(m.pred_gt >= 0, view.gt_ids[np.maximum(m.pred_gt, 0)]
                                         if len(g_rows) else -1, -1).astype(np.int64)
            if len(p_rows):
                view.gt_partner = np.where(m.gt_pred >= 0, pid[np.maximum(m.gt_pred, 0)],
                                           -1).astype(np.int64)
        self._tag(view)
        if preds is not None and run == self.run and self.label_quality() is not None:
            from .label_quality import add_hints

            add_hints(self, view, g_rows, preds.image_slice(i))
        return view

    def apply_lq_suggestions(self, gt_ids: Sequence[int]) -> bool:
        """Apply run A's label-quality suggestion to each of these GT boxes that has one
        (likely swapped: relabel; likely badly placed: snap onto the prediction), as
        one undo step. False when none has a suggestion (or no scores yet)."""
        from .label_quality import suggestion_edit

        edit = suggestion_edit(self, gt_ids)
        return edit is not None and self.push(edit)

    def _tag(self, view: ImageView) -> None:
        """The per-box error texts: the engine's TIDE types once computed for this
        run, plain FN/FP before."""
        missed = [s == GT_MISSED and view.run is not None for s in view.gt_state.tolist()]
        fp = [s == PRED_FP for s in view.pred_state.tolist()]
        view.gt_tag = ["FN" if x else "" for x in missed]
        view.pred_tag = ["FP" if x else "" for x in fp]
        view.gt_help = [""] * len(missed)
        view.pred_help = [""] * len(fp)
        ea = self.errors() if view.run is not None else None
        if ea is None or ea.run != view.run:
            return
        lab = ea.labels
        for k, b in enumerate(view.gt_ids.tolist()):
            if missed[k]:
                view.gt_tag[k] = lab.gt_tag(b) or "FN"
                view.gt_help[k] = lab.gt_help(b)
        rows = lab.pred_rows(view.pred_ids).tolist()
        for k, r in enumerate(rows):
            if fp[k]:
                view.pred_tag[k] = lab.pred_tag(r) or "FP"
                view.pred_help[k] = lab.pred_help(r)

    # ================================================================== edit builders
    @staticmethod
    def _xy(b: Sequence[float] | np.ndarray) -> XYXY:
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def delete_boxes(self, box_ids: Sequence[int]) -> bool:
        if not box_ids:
            return False
        images, _, _ = self.gt_boxes(box_ids)
        return self.push(DeleteBoxes(tuple(int(b) for b in box_ids),
                                     tuple(int(i) for i in images)))

    def relabel_boxes(self, box_ids: Sequence[int], new_cls: int) -> bool:
        if not box_ids:
            return False
        images, cls, _ = self.gt_boxes(box_ids)
        if np.all(cls == new_cls):
            return False
        return self.push(RelabelBoxes(tuple(int(b) for b in box_ids),
                                      tuple(int(i) for i in images),
                                      tuple(int(c) for c in cls),
                                      tuple(int(new_cls) for _ in box_ids)))

    def move_boxes(self, box_ids: Sequence[int], new_xyxy: np.ndarray,
                   merge_key: Hashable | None = None) -> bool:
        if not box_ids:
            return False
        images, _, old = self.gt_boxes(box_ids)
        new = np.asarray(new_xyxy, dtype=np.float64).reshape(-1, 4)
        if np.allclose(old, new):
            return False
        return self.push(MoveBoxes(tuple(int(b) for b in box_ids),
                                   tuple(int(i) for i in images),
                                   tuple(self._xy(b) for b in old),
                                   tuple(self._xy(b) for b in new)), merge_key)

    def clip_to_image(self, i: int, xyxy: np.ndarray) -> np.ndarray:
        """Clip boxes to the image (when its size is known) and order corners."""
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
        lo = np.minimum(b[:, :2], b[:, 2:])
        hi = np.maximum(b[:, :2], b[:, 2:])
        b[:, :2], b[:, 2:] = lo, hi
        w, h = int(self.dataset.images.widths[i]), int(self.dataset.images.heights[i])
        if w > 0 and h > 0:
            b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
            b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
        return b

    def shift_inside(self, i: int, xyxy: np.ndarray) -> np.ndarray:
        """Shift boxes (keeping their size) inside image ``i`` when its size is known."""
        new = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
        w, h = int(self.dataset.images.widths[i]), int(self.dataset.images.heights[i])
        if w > 0 and h > 0:
            shift_x = np.clip(new[:, 0], 0, None) - new[:, 0]
            shift_x += np.clip(new[:, 2], None, w) - new[:, 2]
            shift_y = np.clip(new[:, 1], 0, None) - new[:, 1]
            shift_y += np.clip(new[:, 3], None, h) - new[:, 3]
            new += np.stack([shift_x, shift_y, shift_x, shift_y], axis=1)
        return new

    def nudge_boxes(self, box_ids: Sequence[int], dx: float, dy: float) -> bool:
        """Move boxes by (dx, dy), stopping at the border; consecutive nudges of the
        same boxes merge into one undo step."""
        if not box_ids:
            return False
        images, _, old = self.gt_boxes(box_ids)
        new = self.shift_inside(int(images[0]), old + np.array([dx, dy, dx, dy], dtype=float))
        key = ("nudge", tuple(sorted(int(b) for b in box_ids)))
        return self.move_boxes(box_ids, new, merge_key=key)

    def add_boxes(self, image: int, cls: Sequence[int], xyxy: np.ndarray,
                  sources: Sequence[str]) -> tuple[int, ...]:
        """Add ground-truth boxes; returns their new ids (empty when refused)."""
        xy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        ids = self.dataset.new_box_ids(len(xy))
        ok = self.push(AddBoxes(ids, tuple(image for _ in ids), tuple(int(c) for c in cls),
                                tuple(self._xy(b) for b in xy), tuple(sources)))
        return ids if ok else ()

    def duplicate_boxes(self, box_ids: Sequence[int], offset: float = 10.0) -> tuple[int, ...]:
        if not box_ids:
            return ()
        images, cls, xy = self.gt_boxes(box_ids)
        i = int(images[0])
        new = self.clip_to_image(i, xy + offset)
        return self.add_boxes(i, cls.tolist(), new, [f"duplicate:{int(b)}" for b in box_ids])

    def accept_predictions(self, image: int, pred_ids: Sequence[int]) -> tuple[int, ...]:
        """Copy predictions of the current run into the ground truth."""
        preds = self.current.preds
        if preds is None or not pred_ids:
            return ()
        rows = preds.rows_of(list(pred_ids))
        return self.add_boxes(image, preds.cls[rows].tolist(), preds.xyxy[rows],
                              [f"pred:{self.run}:{int(b)}" for b in pred_ids])

    def replacement_for(self, view: ImageView, gt_id: int, pred_id: int | None = None) -> int:
        """The prediction that should replace GT box ``gt_id``: the given one, else the
        one label quality says to snap onto (when its hints are in ``view``), else its
        match, else the prediction (any class) with the highest IoU >= 0.1; -1 if none."""
        if pred_id is not None and pred_id >= 0:
            return int(pred_id)
        k = np.flatnonzero(view.gt_ids == gt_id)
        if not k.size:
            return -1
        if len(view.gt_snap) == len(view.gt_ids) and view.gt_snap[k[0]] >= 0:
            return int(view.gt_snap[k[0]])  # label quality: the box to snap onto
        partner = int(view.gt_partner[k[0]])
        if partner >= 0 or not len(view.pred_ids):
            return partner
        best = best_overlap(view.gt_xyxy[k[0]], view.pred_xyxy, min_iou=0.1)
        return int(view.pred_ids[best]) if best >= 0 else -1

    def replace_with_prediction(self, gt_id: int, pred_id: int) -> bool:
        """Move (and relabel when the classes differ) GT box ``gt_id`` onto prediction
        ``pred_id``: one Composite, one undo step."""
        preds = self.current.preds
        if preds is None:
            return False
        prow = int(preds.rows_of([pred_id])[0])
        images, cls, old = self.gt_boxes([gt_id])
        i = int(images[0])
        new = preds.xyxy[prow]
        parts: list[Edit] = []
        if not np.allclose(old[0], new):
            parts.append(MoveBoxes((int(gt_id),), (i,), (self._xy(old[0]),), (self._xy(new),)))
        if int(cls[0]) != int(preds.cls[prow]):
            parts.append(RelabelBoxes((int(gt_id),), (i,), (int(cls[0]),),
                                      (int(preds.cls[prow]),)))
        if not parts:
            return False
        return self.push(Composite(f"Replace box with prediction {self.run}:{pred_id}",
                                   tuple(parts)))

    def set_images_deleted(self, images: Sequence[int], deleted: bool) -> bool:
        imgs = tuple(int(i) for i in images if bool(self.dataset.images.deleted[i]) != deleted)
        if not imgs:
            return False
        return self.push(DeleteImages(imgs) if deleted else RestoreImages(imgs))

    def set_reviewed(self, images: Sequence[int], reviewed: bool) -> bool:
        im = self.dataset.images
        imgs = tuple(int(i) for i in images)
        old = tuple(bool(im.reviewed[i]) for i in imgs)
        if all(o == reviewed for o in old):
            return False
        return self.push(SetReviewed(imgs, old, tuple(reviewed for _ in imgs)))

    def set_tags(self, images: Sequence[int], tags: Sequence[str]) -> bool:
        im = self.dataset.images
        imgs = tuple(int(i) for i in images)
        new_tags = tuple(sorted({t.strip() for t in tags if t.strip()}))
        old = tuple(tuple(sorted(im.tags[i])) for i in imgs)
        if all(o == new_tags for o in old):
            return False
        return self.push(SetTags(imgs, old, tuple(new_tags for _ in imgs)))

    # ------------------------------------------------------------------ classes
    def class_counts(self) -> np.ndarray:
        """Ground-truth boxes per class (deleted boxes and images left out)."""
        gt = self.dataset.gt
        live = gt.alive & ~self.dataset.images.deleted[gt.image]
        return np.bincount(gt.cls[live], minlength=len(self.dataset.classes))

    def rename_class(self, k: int, new_name: str) -> bool:
        """Rename class ``k`` across the dataset (one undo step). A name another class
        has is refused with a message: merge instead."""
        names = self.dataset.classes.names
        new = new_name.strip()
        if not 0 <= k < len(names) or not new or new == names[k]:
            return False
        return self.push(RenameClass(int(k), names[k], new))

    def merge_classes(self, src: Sequence[int], dst: int) -> bool:
        """Every ground-truth box of the classes ``src`` becomes ``dst`` (deleted boxes
        too): one undo step across the dataset."""
        srcs = tuple(sorted({int(c) for c in src} - {int(dst)}))
        if not srcs:
            return False
        gt = self.dataset.gt
        rows = np.flatnonzero(np.isin(gt.cls, srcs))
        return self.push(MergeClasses(srcs, int(dst), tuple(int(b) for b in gt.box_id[rows]),
                                      tuple(int(i) for i in gt.image[rows]),
                                      tuple(int(c) for c in gt.cls[rows])))

    # ------------------------------------------------------------------ attributes
    def box_attribute(self, box_ids: Sequence[int], name: str) -> list[int | None]:
        """The attribute ``name`` of each box (0/1; None: the box has none)."""
        gt = self.dataset.gt
        if name == "iscrowd":
            return [int(v) for v in gt.iscrowd[gt.rows_of(list(box_ids))]]
        out: list[int | None] = []
        for b in box_ids:
            v = gt.extras.get(int(b), {}).get(name)
            out.append(None if v is None else int(bool(v)))
        return out

    def set_box_attribute(self, box_ids: Sequence[int], name: str, on: bool) -> bool:
        """Set (or clear) ``name`` on ground-truth boxes: one undo step."""
        if not box_ids or name not in BOX_ATTRIBUTES:
            return False
        old = self.box_attribute(box_ids, name)
        new = int(bool(on))
        if all(o == new or (o is None and not new and name != "iscrowd") for o in old):
            return False
        images, _, _ = self.gt_boxes(box_ids)
        return self.push(SetBoxAttribute(tuple(int(b) for b in box_ids),
                                         tuple(int(i) for i in images), name, tuple(old),
                                         tuple(new for _ in box_ids)))

    # ------------------------------------------------------------------ review
    def next_unreviewed(self, order: Sequence[int] | np.ndarray, after: int) -> int:
        """The first image after ``after`` in ``order`` (the list as shown) that is
        neither reviewed nor deleted, wrapping around; -1 when every image is."""
        o = np.asarray(order, dtype=np.int64)
        if not o.size:
            return -1
        im = self.dataset.images
        todo = ~im.reviewed[o] & ~im.deleted[o]
        pos = np.flatnonzero(o == after)
        start = int(pos[0]) + 1 if pos.size else 0
        rolled = np.roll(todo, -start)
        hit = np.flatnonzero(rolled)
        return int(o[(start + int(hit[0])) % o.size]) if hit.size else -1
