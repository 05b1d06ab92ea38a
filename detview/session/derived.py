"""Numbers derived from the data, kept in one place and keyed by what they depend on.

Each kind of derived value is a :class:`Producer`: its :meth:`~Producer.key` names the
session settings it depends on (run, thresholds, mode), :meth:`~Producer.build` takes a
snapshot on the session's thread and returns worker-safe work, and either

* it is *incremental* — :meth:`~Producer.update` keeps a value current after each edit
  (only the touched images), :meth:`~Producer.adopt` catches up the edits made while it
  was built; values of other keys are parked and caught up when the key comes back
  (switching runs or modes back and forth is instant); or
* it is recomputed — after an edit the value is *stale* (computed at an older
  ``Dataset.revision``); :meth:`Derived.request` recomputes it in the runner's
  ``recompute:<name>`` slot, and a request while one for the same key runs is
  coalesced into one rerun when it ends.

So every entry is keyed by (run, parameters, revision). The per-image columns a producer
offers (``ap``, ``err_loc``, ...) are found by name through :meth:`Derived.column`.

Adding a derived value (label-quality scores, say) is one :class:`Producer` subclass
and one :meth:`Derived.register` call; the GUI and the CLI read it the same way.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np

from detview.core.analysis import ErrorAnalysis, LiveCOCO, error_analysis
from detview.core.dataset import Dataset
from detview.core.drilldown import MatchRecords, match_records
from detview.core.health import HealthReport
from detview.core.image_columns import ERROR_COLUMNS
from detview.core.metrics import COLUMNS as METRIC_COLUMNS
from detview.core.metrics import MetricParams, PerImageMetrics

from .tasks import Cancelled, Progress, Task

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "COCOProducer",
    "Derived",
    "ErrorsProducer",
    "HealthProducer",
    "LiveMatches",
    "MatchesProducer",
    "MetricsProducer",
    "PANEL_PRODUCERS",
    "Producer",
    "RunMetrics",
    "add_panel_producers",
    "build_metrics",
]

T = TypeVar("T")
Key = tuple[Hashable, ...]
RunMetrics = dict[str | None, PerImageMetrics]


def build_metrics(dataset: Dataset, params: MetricParams,
                  progress: Progress | None = None) -> RunMetrics:
    """Per-image metrics of every run (or of the ground truth alone without runs)."""
    runs: list[str | None] = list(dataset.runs) or [None]
    out: RunMetrics = {}
    n = len(runs)
    for k, run in enumerate(runs):
        def prog(done: int, total: int, k: int = k) -> bool:
            return True if progress is None else progress(k * total + done, n * max(total, 1))
        out[run] = PerImageMetrics(dataset, run, params, prog)
    return out


class Producer(Generic[T]):
    """One kind of derived value. Subclasses set the class attributes and override
    :meth:`key` and :meth:`build` (and :meth:`update`/:meth:`adopt` when incremental)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # what a progress bar says
    incremental: ClassVar[bool] = False
    #: incremental only: :meth:`update` waits until the value is read (a burst of edits
    #: costs one update), instead of running inside each edit
    lazy: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ()  # per-image columns offered
    keep: ClassVar[int] = 4  # incremental only: values of other keys kept for coming back
    sync_max_images: ClassVar[int] = 0  # request() computes on the calling thread up to this
    #: built without waiting for the other producers' builds (see ``Derived._gate``)
    ungated: ClassVar[bool] = False

    def key(self, s: Session) -> Key | None:
        """What the value depends on, or None when it does not apply (no run)."""
        raise NotImplementedError

    def build(self, s: Session) -> Callable[[Progress], T]:
        """Snapshot what is needed (on the session's thread); the returned work must
        not touch the live dataset."""
        raise NotImplementedError

    def adopt(self, value: T, s: Session, revisions: np.ndarray) -> T:
        """Incremental: bring a value built from a snapshot taken at ``revisions`` (per
        image) up to date with the live dataset."""
        return value

    def update(self, value: T, s: Session, touched: frozenset[int]) -> None:
        """Incremental: the edit touched these images."""

    def column(self, value: T, name: str, s: Session) -> np.ndarray:
        """The per-image column ``name`` (one of :attr:`columns`) of ``value``."""
        raise KeyError(name)

    def shows_while_recomputing(self, old: Key, new: Key) -> bool:
        """Whether a value of key ``old`` may still be shown (columns) until the value
        of ``new`` arrives (e.g. the same run at another threshold)."""
        return False


def _gated(gate: threading.Semaphore, work: Callable[[Progress], T]
           ) -> Callable[[Progress], T]:
    """``work`` run while holding ``gate``; waiting for it can be cancelled."""

    def run(progress: Progress) -> T:
        while not gate.acquire(timeout=0.05):
            if progress(0, 1) is False:
                raise InterruptedError("cancelled")
        try:
            return work(progress)
        finally:
            gate.release()

    return run


@dataclass
class _Entry(Generic[T]):
    key: Key
    value: T
    revision: int  # Dataset.revision the value is current to
    revisions: np.ndarray | None = None  # parked incremental values: image revisions


class Derived:
    """The derived values of one session."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self._producers: dict[str, Producer[Any]] = {}
        self._entries: dict[str, _Entry[Any]] = {}
        self._parked: dict[str, OrderedDict[Key, _Entry[Any]]] = {}
        self._pending: dict[str, set[int]] = {}
        self._running: dict[str, tuple[Key, Task[Any]]] = {}
        self._rerun: set[str] = set()
        self.wanted: set[str] = set()
        #: the dataset-wide analyses (COCO, error types, label quality, match records)
        #: are built one at a time: their working memory does not add up (at 118k images
        #: each takes hundreds of MB) and two cores are not shared four ways. The
        #: per-image metrics (the list) never wait for them.
        self._gate = threading.Semaphore(1)

    # ------------------------------------------------------------------ registry
    def register(self, producer: Producer[Any], wanted: bool = False) -> None:
        """Add a producer; ``wanted``: recompute it whenever its key changes."""
        if not producer.name:
            raise ValueError("a producer needs a name")
        self._producers[producer.name] = producer
        self._parked[producer.name] = OrderedDict()
        if wanted:
            self.wanted.add(producer.name)

    def want(self, name: str, on: bool = True) -> None:
        """Keep ``name`` current from now on (requested now and after each key change);
        a GUI panel calls this when it is shown."""
        self._producer(name)
        if on:
            self.wanted.add(name)
            self.request(name)
        else:
            self.wanted.discard(name)

    def producer(self, name: str) -> Producer[Any]:
        return self._producer(name)

    def _producer(self, name: str) -> Producer[Any]:
        try:
            return self._producers[name]
        except KeyError:
            raise KeyError(f"no derived value {name!r}; known: {', '.join(self._producers)}"
                           ) from None

    @property
    def names(self) -> list[str]:
        return list(self._producers)

    # ------------------------------------------------------------------ read
    def get(self, name: str) -> Any:
        """The value for the current key (None when not computed yet). A recomputed
        value may be stale: see :meth:`is_current`."""
        p = self._producer(name)
        key = p.key(self._s)
        e = self._entries.get(name)
        if key is None or e is None or e.key != key:
            return None
        self._flush(name)
        return e.value

    def latest(self, name: str) -> Any:
        """The last value computed, whatever its key (None when none)."""
        e = self._entries.get(name)
        if e is None:
            return None
        self._flush(name)
        return e.value

    def key_of_latest(self, name: str) -> Key | None:
        e = self._entries.get(name)
        return None if e is None else e.key

    def is_current(self, name: str) -> bool:
        """A value exists for the current key and the current data."""
        p = self._producer(name)
        key = p.key(self._s)
        e = self._entries.get(name)
        return (key is not None and e is not None and e.key == key
                and (p.incremental or e.revision == self._s.dataset.revision))

    def is_busy(self, name: str | None = None) -> bool:
        """A recomputation is running (of ``name``, or of any)."""
        names = [name] if name is not None else list(self._running)
        return any(n in self._running for n in names)

    def column(self, column: str, flush: bool = True) -> np.ndarray | None:
        """A per-image column offered by a producer, for the current settings (or, while
        it is recomputed, the value it may keep showing); None when there is none.
        ``flush=False``: None rather than bringing a lazy producer up to the edits."""
        for name, p in self._producers.items():
            if column not in p.columns:
                continue
            key = p.key(self._s)
            e = self._entries.get(name)
            if key is None or e is None:
                return None
            if e.key != key and not p.shows_while_recomputing(e.key, key):
                return None
            if not flush and self._pending.get(name):
                return None
            self._flush(name)
            return p.column(e.value, column, self._s)
        return None

    def column_names(self) -> list[str]:
        return [c for p in self._producers.values() for c in p.columns]

    # ------------------------------------------------------------------ compute
    def seed(self, name: str, value: Any) -> None:
        """Install a value computed elsewhere for the current key and data."""
        key = self._producer(name).key(self._s)
        if key is None:
            raise ValueError(f"{name!r} does not apply to the current settings")
        self._install(name, key, value)

    def compute(self, name: str) -> Any:
        """The current value, computed on this thread if needed (headless use)."""
        p = self._producer(name)
        key = p.key(self._s)
        if key is None:
            return None
        if not self.is_current(name) and not self._unpark(name, key):
            ds = self._s.dataset
            revisions = ds.image_revisions.copy()
            value = p.build(self._s)(lambda _d, _t: True)
            self._install(name, key, p.adopt(value, self._s, revisions))
        return self.get(name)

    def request(self, name: str, sync: bool | None = None) -> Task[Any] | None:
        """Make the value current: at once when it can be (parked, small dataset,
        ``sync``), else in a worker; returns the task then."""
        p = self._producer(name)
        key = p.key(self._s)
        if key is None:
            self._drop(name)
            return None
        if self.is_current(name) or self._unpark(name, key):
            return None
        running = self._running.get(name)
        if running is not None and running[0] == key:
            if not p.incremental:
                self._rerun.add(name)  # the running one works on older data
            return running[1]
        if sync or (sync is None and self._s.dataset.n_images <= p.sync_max_images):
            self.compute(name)
            return None
        ds = self._s.dataset
        revisions = ds.image_revisions.copy()
        revision = ds.revision
        work = p.build(self._s)
        if not p.ungated:
            work = _gated(self._gate, work)

        def done(value: Any) -> None:
            self._running.pop(name, None)
            if p.key(self._s) != key:  # the settings moved on: a newer request follows
                if p.incremental and p.keep > 0:  # keep it for coming back
                    parked = self._parked[name]
                    parked[key] = _Entry(key, value, revision, revisions)
                    while len(parked) > p.keep:
                        parked.popitem(last=False)
                return
            if p.incremental:
                self._install(name, key, p.adopt(value, self._s, revisions))
            else:
                self._install(name, key, value, revision)
                if name in self._rerun:
                    self._rerun.discard(name)
                    self.request(name)

        def failed(exc: BaseException) -> None:
            self._running.pop(name, None)
            if not isinstance(exc, Cancelled):
                self._s._message(f"{p.label or name} failed: {exc}")

        task = self._s.runner.start(f"recompute:{name}", work, label=p.label or name,
                                    on_done=done, on_error=failed)
        self._rerun.discard(name)
        self._running[name] = (key, task)
        self._s._derived_busy(name)
        return task

    def refresh(self) -> None:
        """Request every wanted value that is not current (after a burst of edits, or
        after the settings changed)."""
        for name in list(self.wanted):
            self.request(name)

    def cancel(self) -> None:
        """Stop every recomputation of this session (closing)."""
        for _key, task in list(self._running.values()):
            task.superseded = True
            task.cancel()
        self._running.clear()

    # ------------------------------------------------------------------ internals
    def _install(self, name: str, key: Key, value: Any, revision: int | None = None) -> None:
        p = self._producers[name]
        ds = self._s.dataset
        old = self._entries.get(name)
        if old is not None and old.key != key and p.incremental and p.keep > 0:
            self._flush(name)
            parked = self._parked[name]
            parked[old.key] = _Entry(old.key, old.value, ds.revision,
                                     ds.image_revisions.copy())
            while len(parked) > p.keep:
                parked.popitem(last=False)
        self._pending.pop(name, None)
        self._entries[name] = _Entry(key, value, ds.revision if revision is None else revision)
        self._s._derived_ready(name)

    def _unpark(self, name: str, key: Key) -> bool:
        parked = self._parked[name].pop(key, None)
        if parked is None:
            return False
        assert parked.revisions is not None
        p = self._producers[name]
        self._install(name, key, p.adopt(parked.value, self._s, parked.revisions))
        return True

    def _drop(self, name: str) -> None:
        if self._entries.pop(name, None) is not None:
            self._s._derived_ready(name)

    def _flush(self, name: str) -> None:
        touched = self._pending.pop(name, None)
        e = self._entries.get(name)
        if touched and e is not None:
            self._producers[name].update(e.value, self._s, frozenset(touched))

    def on_edit(self, touched: frozenset[int]) -> None:
        """Called by the session after each applied edit."""
        stale: list[str] = []
        for name, e in self._entries.items():
            p = self._producers[name]
            if p.incremental:
                e.revision = self._s.dataset.revision
                if not touched:
                    continue
                if p.lazy:
                    self._pending.setdefault(name, set()).update(touched)
                else:
                    p.update(e.value, self._s, touched)
            elif name in self.wanted:
                stale.append(name)
        for name in stale:
            self._s._derived_stale(name)


# --------------------------------------------------------------------------- producers
class MetricsProducer(Producer[RunMetrics]):
    """Per-image metrics (n_gt, tp, fp, fn, mean_iou...) of every run at the session's
    thresholds; kept current after each edit."""

    name = "metrics"
    ungated = True  # the image list waits for it
    label = "Re-computing metrics"
    incremental = True
    columns = METRIC_COLUMNS
    keep = 1
    #: about 0.15 ms an image: up to ~30 ms on the calling thread, larger in a worker
    sync_max_images = 200

    def key(self, s: Session) -> Key:
        return (s.params,)

    def build(self, s: Session) -> Callable[[Progress], RunMetrics]:
        snapshot = s.dataset.copy()  # edits may go on while it runs
        params = s.params
        return lambda progress: build_metrics(snapshot, params, progress)

    def adopt(self, value: RunMetrics, s: Session, revisions: np.ndarray) -> RunMetrics:
        stale = np.flatnonzero(s.dataset.image_revisions != revisions).tolist()
        for m in value.values():
            m.dataset = s.dataset
            if stale:
                m.update(stale)
        return value

    def update(self, value: RunMetrics, s: Session, touched: frozenset[int]) -> None:
        for m in value.values():
            m.update(sorted(touched))

    def column(self, value: RunMetrics, name: str, s: Session) -> np.ndarray:
        m = value.get(s.run) or next(iter(value.values()))
        return m.column(name)

    def shows_while_recomputing(self, old: Key, new: Key) -> bool:
        return True  # the image list keeps its numbers until the new ones arrive


class COCOProducer(Producer[LiveCOCO]):
    """The COCO evaluator of the current run, from every prediction or from those at
    or above the score threshold; kept current after each edit (only the touched
    images are re-matched, when the numbers are next read)."""

    name = "coco"
    label = "COCO evaluation"
    incremental = True
    lazy = True
    columns = ("ap", "ap50")

    def key(self, s: Session) -> Key | None:
        if s.run is None:
            return None
        return (s.run, s.all_predictions,
                None if s.all_predictions else s.params.score_threshold,
                None if s.all_predictions else s.params.class_thresholds)

    def build(self, s: Session) -> Callable[[Progress], LiveCOCO]:
        ds = s.dataset
        assert s.run is not None
        gt = ds.gt.copy()
        dets = ds.runs[s.run]
        mask = ~ds.images.deleted
        ids, names, k = ds.images.ids.copy(), ds.classes.names, len(ds.classes)
        all_preds, thr = s.all_predictions, s.params.score_threshold
        per_class = s.params.thresholds(k) if s.params.class_thresholds else None
        return lambda progress: LiveCOCO(gt, dets, k, mask, ids, names,
                                         all_predictions=all_preds, score_threshold=thr,
                                         progress=progress, class_thresholds=per_class)

    def adopt(self, value: LiveCOCO, s: Session, revisions: np.ndarray) -> LiveCOCO:
        value.attach(s.dataset, revisions)
        return value

    def update(self, value: LiveCOCO, s: Session, touched: frozenset[int]) -> None:
        value.update(s.dataset, touched)

    def column(self, value: LiveCOCO, name: str, s: Session) -> np.ndarray:
        return {"ap": value.ap, "ap50": value.ap50}[name]

    def shows_while_recomputing(self, old: Key, new: Key) -> bool:
        return old[0] == new[0]


class ErrorsProducer(Producer[ErrorAnalysis]):
    """TIDE error types, the confusion matrix, per-image error columns and per-box
    labels of the current run; recomputed (in a worker) after edits."""

    name = "errors"
    label = "Error breakdown"
    columns = ERROR_COLUMNS

    def key(self, s: Session) -> Key | None:
        if s.run is None:
            return None
        p = s.params
        return (s.run, s.all_predictions, p.score_threshold, p.iou_threshold,
                p.class_thresholds)

    def build(self, s: Session) -> Callable[[Progress], ErrorAnalysis]:
        ds = s.dataset
        run = s.run
        assert run is not None
        gt = ds.gt.copy()
        dets = ds.runs[run]
        mask = ~ds.images.deleted
        names, k = ds.classes.names, len(ds.classes)
        all_preds, p = s.all_predictions, s.params
        per_class = p.thresholds(k) if p.class_thresholds else None
        return lambda progress: error_analysis(
            gt, dets, k, mask, names, run, all_predictions=all_preds,
            score_threshold=p.score_threshold, iou_threshold=p.iou_threshold,
            progress=progress, class_thresholds=per_class)

    def column(self, value: ErrorAnalysis, name: str, s: Session) -> np.ndarray:
        return value.images[name].to_numpy(np.float64)

    def shows_while_recomputing(self, old: Key, new: Key) -> bool:
        return old[0] == new[0]


# --------------------------------------------------------------------------- panels
class LiveMatches:
    """The run's :class:`~detview.core.drilldown.MatchRecords`, kept current by
    :class:`MatchesProducer` (only the touched images are matched again)."""

    def __init__(self, records: MatchRecords, run: str) -> None:
        self.records = records
        self.run = run


class MatchesProducer(Producer[LiveMatches]):
    """Every prediction of the current run matched once at the IoU threshold (score
    threshold 0), deleted images included (``records.select(~deleted)`` for the
    plots): the F1-against-threshold curve, the score and IoU histograms and the
    per-class TP/FP/FN counts of queries come from it at any score threshold. Its key
    leaves the score threshold out: moving the threshold needs no recomputation."""

    name = "matches"
    label = "Matching every prediction"
    incremental = True
    lazy = True
    keep = 2
    sync_max_images = 300

    def key(self, s: Session) -> Key | None:
        if s.run is None:
            return None
        return (s.run, s.params.iou_threshold)

    def build(self, s: Session) -> Callable[[Progress], LiveMatches]:
        ds = s.dataset
        assert s.run is not None
        gt, dets = ds.gt.copy(), ds.runs[s.run]
        k, thr = len(ds.classes), s.params.iou_threshold
        run = s.run
        return lambda progress: LiveMatches(match_records(gt, dets, k, None, thr,
                                                          progress=progress), run)

    def adopt(self, value: LiveMatches, s: Session, revisions: np.ndarray) -> LiveMatches:
        stale = np.flatnonzero(s.dataset.image_revisions != revisions)
        if stale.size:
            self.update(value, s, frozenset(stale.tolist()))
        return value

    def update(self, value: LiveMatches, s: Session, touched: frozenset[int]) -> None:
        ds = s.dataset
        rec = value.records
        part = match_records(ds.gt, ds.runs[value.run], rec.n_classes, None,
                             rec.iou_threshold, images=touched)
        value.records = rec.replace_images(part, touched)


class HealthProducer(Producer[HealthReport]):
    """The dataset health check (:func:`detview.io.health.check_dataset`): reads every
    image file, so it runs when asked (the Health panel's Run), never by itself; an edit
    makes it out of date (:meth:`Derived.is_current`)."""

    name = "health"
    label = "Checking the dataset"

    def __init__(self) -> None:
        self.generation = 0  # bumped by :meth:`again`: the files may have changed

    def again(self) -> None:
        """The next request checks again even without edits (files change on disk)."""
        self.generation += 1

    def key(self, s: Session) -> Key | None:
        return ("health", str(s.image_root) if s.image_root is not None else None,
                self.generation)

    def build(self, s: Session) -> Callable[[Progress], HealthReport]:
        snapshot = s.dataset.copy()
        root = s.image_root

        def work(progress: Progress) -> HealthReport:
            from detview.io.health import check_dataset

            return check_dataset(snapshot, root, progress=progress)

        return work


#: the producers the GUI panels add to a session (:func:`add_panel_producers`)
PANEL_PRODUCERS: tuple[type[Producer[Any]], ...] = (MatchesProducer, HealthProducer)


def add_panel_producers(derived: Derived) -> None:
    """Register the analysis panels' producers that are not registered yet."""
    for cls in PANEL_PRODUCERS:
        if cls.name not in derived.names:
            derived.register(cls())
