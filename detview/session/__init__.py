"""One editing session, without Qt: history, journal, derived numbers and tasks.

This layer imports :mod:`detview.core` and :mod:`detview.io` only (an import-linter
contract keeps Qt, the CLI and the GUI out). The GUI mirrors a :class:`Session` through
Qt signals; the CLI drives one headless.

* :class:`Session` — the dataset, its :class:`History` (done/undone, clean mark, merge
  rule), the journal sink, :class:`Settings` (run, thresholds, COCO mode), the
  :class:`Derived` numbers keyed by (run, parameters, revision), edit builders, the
  viewer's :class:`ImageView`, export;
* :class:`TaskRunner` — long work in threads, one slot per kind, one :class:`Cancelled`;
* :mod:`.recovery` — the journal restore policy (offer, replay, archive);
* :mod:`.pipeline` — load, the per-image table, export: what both front ends call;
* :mod:`.training` — ``session.training``: training logs, checkpoints, the two runs
  compared image by image (the ``diff`` columns), the Graphs view's curves.
"""

from .derived import COCOProducer, Derived, ErrorsProducer, MetricsProducer, Producer
from .history import History, HistoryEvent, RestoreReport, Step
from .pipeline import ExportResult, Loaded, export_edits, image_table, load
from .recovery import RecoveryOutcome, RestoreOffer, recover
from .session import Session, SessionEvent, Settings
from .tasks import Busy, Cancelled, Task, TaskEvent, TaskRunner
from .training import DIFF_COLUMNS, Curve, DiffProducer, TrainingState
from .view import GT_CROWD, GT_MATCHED, GT_MISSED, PRED_FP, PRED_IGNORED, PRED_TP, ImageView

__all__ = [
    "DIFF_COLUMNS",
    "GT_CROWD",
    "GT_MATCHED",
    "GT_MISSED",
    "PRED_FP",
    "PRED_IGNORED",
    "PRED_TP",
    "Busy",
    "COCOProducer",
    "Cancelled",
    "Curve",
    "Derived",
    "DiffProducer",
    "ErrorsProducer",
    "ExportResult",
    "History",
    "HistoryEvent",
    "ImageView",
    "Loaded",
    "MetricsProducer",
    "Producer",
    "RecoveryOutcome",
    "RestoreOffer",
    "RestoreReport",
    "Session",
    "SessionEvent",
    "Settings",
    "Step",
    "Task",
    "TaskEvent",
    "TaskRunner",
    "TrainingState",
    "export_edits",
    "image_table",
    "load",
    "recover",
]
