"""Label-quality scores (ObjectLab) as a derived value of the session, and what the
viewer shows of them.

:class:`LabelQualityProducer` keeps :func:`detview.core.label_quality.compute_label_quality`
of the ground truth against run A current: computed once (in a worker on a large
dataset), then brought up to date after each edit by re-scoring only the touched images
(:func:`~detview.core.label_quality.update_label_quality`, exact), when next read. The
image list's columns (``label_quality``, ``n_overlooked``, ``n_swap``, ``n_badloc``) and
the viewer's hints read this one value: ``session.derived.get("label_quality")`` (a
:class:`LiveLabelQuality`), or :meth:`detview.session.Session.label_quality`.
:func:`add_hints` puts an image's issues into its :class:`~detview.session.view.ImageView`
(likely class, box to snap onto, likely missing labels); :func:`suggestion_edit` makes
the one edit that applies them.

The scores mean something only when the predictions come from a model that did **not**
train on these images (held-out or cross-validated predictions): a model that memorised
the labels agrees with their mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from detview.core.edits import Composite, Edit, MoveBoxes, RelabelBoxes
from detview.core.label_quality import LabelQuality, compute_label_quality, update_label_quality

from .derived import Key, Producer
from .tasks import Cancelled, Progress
from .view import ImageView

if TYPE_CHECKING:
    from .session import Session

__all__ = ["LQ_COLUMNS", "LQ_HELP", "LabelQualityProducer", "LiveLabelQuality", "add_hints",
           "suggestion_edit"]

#: the per-image columns (as ``detview.core.label_quality.LQ_COLUMNS``)
LQ_COLUMNS: tuple[str, ...] = ("label_quality", "n_overlooked", "n_swap", "n_badloc")
#: what the scores are, for tooltips
LQ_HELP = ("Label quality (ObjectLab, as cleanlab.object_detection computes it): 0 = surely "
           "mislabeled, 1 = clean. The predictions must come from a model that did not train "
           "on these images, or the scores mean nothing.")


class LiveLabelQuality:
    """The scores of run ``run``, replaced by an updated copy after each edit."""

    def __init__(self, value: LabelQuality, run: str) -> None:
        self.value = value
        self.run = run


class LabelQualityProducer(Producer[LiveLabelQuality]):
    """Label-quality scores of run A (all its predictions: the method applies its own
    confidence thresholds); kept current after each edit, when read."""

    name = "label_quality"
    label = "Label quality (ObjectLab)"
    incremental = True
    lazy = True
    columns = LQ_COLUMNS
    keep = 2
    sync_max_images = 300

    def key(self, s: Session) -> Key | None:
        return None if s.run is None else (s.run,)

    def build(self, s: Session) -> Callable[[Progress], LiveLabelQuality]:
        ds = s.dataset
        run = s.run
        assert run is not None
        gt, preds = ds.gt.copy(), ds.runs[run]
        k, active = len(ds.classes), ~ds.images.deleted

        def work(progress: Progress) -> LiveLabelQuality:
            def step(fraction: float) -> None:
                if not progress(int(fraction * 1000), 1000):
                    raise Cancelled()

            return LiveLabelQuality(compute_label_quality(
                gt, preds, k, active=active, progress=step), run)

        return work

    def adopt(self, value: LiveLabelQuality, s: Session, revisions: np.ndarray
              ) -> LiveLabelQuality:
        stale = np.flatnonzero(s.dataset.image_revisions != revisions)
        if stale.size:
            self.update(value, s, frozenset(stale.tolist()))
        return value

    def update(self, value: LiveLabelQuality, s: Session, touched: frozenset[int]) -> None:
        ds = s.dataset
        value.value = update_label_quality(
            value.value, ds.gt, ds.runs[value.run], touched, active=~ds.images.deleted,
            n_classes=len(ds.classes))

    def column(self, value: LiveLabelQuality, name: str, s: Session) -> np.ndarray:
        return np.asarray(getattr(value.value, name), dtype=np.float64)


def add_hints(s: Session, view: ImageView, g_rows: np.ndarray, ps: slice) -> None:
    """Run A's label-quality issues of image ``view.index`` into ``view``: a likely
    class (swap), a prediction to snap onto (bad location), likely missing labels
    (confident predictions that overlap no ground truth). Nothing when the scores are
    not current for these rows."""
    lq = s.label_quality()
    gt, preds = s.dataset.gt, s.dataset.runs[view.run or ""]
    if (lq is None or len(lq.gt_box_id) != len(gt) or len(lq.pred_box_id) != len(preds)
            or not np.array_equal(lq.gt_box_id[g_rows], view.gt_ids)):
        return
    names = s.dataset.classes.names

    def name(c: int) -> str:
        return names[c] if 0 <= c < len(names) else str(c)

    swap = lq.swap_issue[g_rows] & (lq.swap_class[g_rows] >= 0)
    view.gt_likely = np.where(swap, lq.swap_class[g_rows], -1).astype(np.int64)
    bad = lq.badloc_issue[g_rows] & (lq.badloc_pred_box_id[g_rows] >= 0) & ~swap
    view.gt_snap = np.where(bad, lq.badloc_pred_box_id[g_rows], -1).astype(np.int64)
    helps = []
    for k, r in enumerate(g_rows.tolist()):
        text = ""
        if view.gt_likely[k] >= 0:
            text = (f"Label quality: likely a {name(int(view.gt_likely[k]))}, not a "
                    f"{name(int(view.gt_cls[k]))} (swap score {lq.swap[r]:.2f}; a confident "
                    "prediction of that class covers it) · Y relabels it")
        elif view.gt_snap[k] >= 0:
            text = (f"Label quality: likely badly placed (location score {lq.badloc[r]:.2f})"
                    f" · R or Y snaps it onto prediction #{int(view.gt_snap[k])}")
        helps.append(text + ("\n" + LQ_HELP if text else ""))
    view.gt_lq_help = helps
    prow = np.arange(ps.start, ps.stop)
    prow = prow[lq.overlooked_issue[prow] & preds.alive[prow]]
    view.ghost_ids = preds.box_id[prow].copy()
    view.ghost_xyxy = preds.xyxy[prow].copy()
    view.ghost_cls = preds.cls[prow].copy()
    view.ghost_score = preds.score[prow].copy()
    view.ghost_help = [
        f"Likely a missing label: a confident {name(int(c))} (score {sc:.2f}) that "
        f"overlaps no ground-truth box (overlooked score {lq.overlooked[r]:.2f}) · A or Y "
        "accepts it as ground truth\n" + LQ_HELP
        for c, sc, r in zip(view.ghost_cls.tolist(), view.ghost_score.tolist(),
                            prow.tolist(), strict=True)]
    view.label_quality = float(lq.label_quality[view.index])


def suggestion_edit(s: Session, gt_ids: Sequence[int]) -> Edit | None:
    """The one edit applying run A's label-quality suggestion to each of these GT
    boxes that has one (likely swapped: relabel; likely badly placed: move onto the
    prediction); None when none has."""
    lq = s.label_quality()
    preds = s.current.preds
    if lq is None or preds is None or not gt_ids:
        return None
    gt = s.dataset.gt
    parts: list[Edit] = []
    for b in gt_ids:
        r = int(gt.rows_of([int(b)])[0])
        i, old = int(gt.image[r]), s._xy(gt.xyxy[r])
        likely, snap = lq.likely_class(int(b)), lq.snap_target(int(b))
        if likely is not None and likely != int(gt.cls[r]):
            parts.append(RelabelBoxes((int(b),), (i,), (int(gt.cls[r]),), (int(likely),)))
        elif snap is not None:
            new = s._xy(preds.xyxy[int(preds.rows_of([snap])[0])])
            if not np.allclose(old, new):
                parts.append(MoveBoxes((int(b),), (i,), (old,), (new,)))
    if not parts:
        return None
    return Composite("Apply label-quality suggestions", tuple(parts)) if len(parts) > 1 else (
        parts[0])
