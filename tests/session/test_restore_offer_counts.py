"""The restore offer counts only what was not exported (issue 12: edits already exported
were offered as "not exported" once some of them had been undone)."""

from __future__ import annotations

from pathlib import Path

from detview.io.spec import DatasetSpec
from detview.session import RestoreOffer, Session, load

from ._data import write_coco_dataset


def _spec(root: Path) -> DatasetSpec:
    p = write_coco_dataset(root, 12, seed=4)
    return DatasetSpec.make(images=p["images"], gt=p["gt"], preds=[("good", p["good"])])


def _open(spec: DatasetSpec) -> tuple[Session, list[RestoreOffer]]:
    asked: list[RestoreOffer] = []
    s = load(spec).session()
    s.recover(lambda offer: asked.append(offer) or True)
    return s, asked


def test_exported_edits_undone_are_not_counted_as_unexported(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s1, _ = _open(spec)
    ids = [int(b) for b in s1.dataset.gt.box_id[:3]]
    for b in ids:
        s1.delete_boxes([b])
    s1.history.mark_clean()  # as an export does
    s1.undo()  # one exported edit undone, then the session ends without closing
    s2, asked = _open(spec)
    offer = asked[0]
    assert (offer.n_done, offer.n_undone, offer.n_unexported) == (2, 1, 0)
    assert offer.n_exported_undone == 1
    assert "not exported" not in offer.question()
    assert "undid 1 of them" in offer.question()
    s1.close()
    s2.close()


def test_edits_after_an_export_are_counted_alone(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "ds")
    s1, _ = _open(spec)
    ids = [int(b) for b in s1.dataset.gt.box_id[:3]]
    s1.delete_boxes([ids[0]])
    s1.history.mark_clean()
    s1.delete_boxes([ids[1]])
    s1.delete_boxes([ids[2]])
    s2, asked = _open(spec)
    offer = asked[0]
    assert (offer.n_done, offer.n_unexported, offer.n_exported_undone) == (3, 2, 0)
    assert "2 edit(s) not exported (after 1 exported)" in offer.question()
    s1.close()
    s2.close()
