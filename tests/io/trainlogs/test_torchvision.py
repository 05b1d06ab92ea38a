"""torchvision detection-reference logs: the real 10-epoch Mask R-CNN log and logs the
tests write (with a COCO block printed by pycocotools itself)."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

from detview.io.errors import InputError
from detview.io.trainlogs import parse_log, read_log

from .fixtures import coco_summary_block, torchvision_epoch_lines

LOSSES = ("loss", "loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")


def oracle_iterations(text: str) -> list[tuple[int, int, int, dict[str, tuple[float, float]]]]:
    """Plain reading of the iteration lines: fields are separated by two spaces."""
    out = []
    for line in text.splitlines():
        if not line.startswith("Epoch: [") or "Total time" in line:
            continue
        parts = line.split("  ")
        e = int(parts[0][len("Epoch: ["):-1])
        i, n = (int(x) for x in parts[1].strip("[] ").split("/"))
        fields = {}
        for p in parts[2:]:
            name, _, rest = p.partition(": ")
            if name == "eta":
                continue
            value, _, avg = rest.partition(" ")
            fields[name.replace(" ", "_")] = (float(value), float(avg.strip("()")) if avg
                                              else float("nan"))
        out.append((e, i, n, fields))
    return out


def test_real_maskrcnn_log_every_value(realdata):
    path = realdata / "torchvision_log_sample" / "maskrcnn_train_10ep.log"
    log = read_log(path)
    assert log.format == "torchvision"
    ref = oracle_iterations(path.read_text())
    assert len(ref) == 60
    for name in ("lr", *LOSSES, "loss_mask", "time", "data", "max_mem"):
        s = log.series(name)
        expected = [(e * n + i, f[name][0]) for e, i, n, f in ref]
        assert s["step"].tolist() == [st for st, _ in expected], name
        assert s["value"].tolist() == [v for _, v in expected], name
    # the last epoch's last line, as printed
    last = log.scalars[log.scalars["step"] == 59].set_index("tag")["value"]
    assert last["loss"] == 1.4391 and last["loss_classifier"] == 0.4141
    assert last["loss_box_reg"] == 0.4699 and last["lr"] == 0.000005
    assert log.series("loss")["epoch"].iloc[-1] == 10.0
    # the epoch means are the bracketed numbers of each epoch's last line
    means = log.series("loss (epoch mean)")
    assert means["value"].tolist() == [f["loss"][1] for e, i, n, f in ref if i == n - 1]
    assert means["epoch"].tolist() == list(map(float, range(1, 11)))
    assert log.series("epoch_time")["value"].iloc[0] == 5.0
    assert set(log.scalars["split"]) == {"train"}
    assert log.explain("loss_classifier").startswith("Classification loss")


def test_real_log_with_a_pycocotools_block_appended(realdata, tmp_path):
    """The real sample has no evaluation; append the block pycocotools prints after
    epoch 9 and read the last epoch's AP back."""
    stats, block = _pycocotools_block()
    text = (realdata / "torchvision_log_sample" / "maskrcnn_train_10ep.log").read_text()
    f = tmp_path / "train.log"
    f.write_text(text + "Test:  [0/5]  eta: 0:00:02  model_time: 0.1 (0.1)  "
                 "evaluator_time: 0.01 (0.01)  time: 0.4  data: 0.1  max mem: 2944\n"
                 "Accumulating evaluation results...\nDONE (t=0.01s).\n" + block)
    log = read_log(f)
    ap = log.series("bbox/AP", "val")
    assert len(ap) == 1 and ap["step"].iloc[0] == 60 and ap["epoch"].iloc[0] == 10.0
    assert ap["value"].iloc[0] == round(stats[0], 3)


def _pycocotools_block() -> tuple[np.ndarray, str]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rng = np.random.default_rng(3)
    images = [{"id": i, "width": 640, "height": 480, "file_name": f"{i}.jpg"}
              for i in range(1, 9)]
    anns, dets = [], []
    for img in images:
        for _ in range(4):
            x, y = rng.uniform(0, 400), rng.uniform(0, 300)
            w, h = rng.uniform(10, 200), rng.uniform(10, 150)
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": 1,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            if rng.random() < 0.8:
                j = rng.normal(0, 8, 4)
                dets.append({"image_id": img["id"], "category_id": 1, "score":
                             float(rng.random()), "bbox": [x + j[0], y + j[1], w + j[2],
                                                           h + j[3]]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": 1, "name": "thing"}]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ev.summarize()
    return ev.stats, "IoU metric: bbox\n" + out.getvalue()


def test_written_log_several_epochs_with_evaluation(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["Not using distributed mode",
             "Namespace(data_path='/data/coco', dataset='coco', model='fasterrcnn_resnet50_fpn',"
             " device='cuda', batch_size=2, epochs=3, lr=0.02, lr_steps=[16, 22], "
             "weights=None, amp=False, world_size=1)",
             "Loading data", "Creating model", "Start training"]
    stats_all = []
    values_all = []
    for e in range(3):
        n = 7
        vals = {k: list(np.round(rng.uniform(0.1, 2.0, n), 4)) for k in LOSSES}
        values_all.append(vals)
        lines += torchvision_epoch_lines(e, n, vals, lr=[0.02] * n, print_freq=3)
        stats = list(np.round(rng.uniform(0, 1, 12), 3))
        stats[3] = -1.0  # no small objects
        stats_all.append(stats)
        lines += ["Test:  [0/2]  eta: 0:00:01  model_time: 0.1 (0.1)  time: 0.2  data: 0.1",
                  "Test: Total time: 0:00:01 (0.2 s / it)",
                  "Averaged stats: model_time: 0.1 (0.1)  evaluator_time: 0.01 (0.01)",
                  "Accumulating evaluation results...", "DONE (t=0.01s)."]
        lines += coco_summary_block(stats)
        lines += coco_summary_block(stats[::-1], "segm")
    lines.append("Training time 0:01:00")
    f = tmp_path / "log.txt"
    f.write_text("\n".join(lines) + "\n")
    log = read_log(f)
    args = log.params["arguments"]
    assert args["model"] == "fasterrcnn_resnet50_fpn" and args["lr"] == 0.02
    assert args["lr_steps"] == [16, 22] and args["weights"] is None and args["amp"] is False
    ap = log.series("bbox/AP", "val")
    assert ap["value"].tolist() == [s[0] for s in stats_all]
    assert ap["step"].tolist() == [7, 14, 21] and ap["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert log.last("bbox/APs") == -1.0
    assert "-1 means" in log.explain("bbox/APs")
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
             "ARl"]
    for k, name in enumerate(names):
        assert log.last(f"bbox/{name}") == stats_all[-1][k]
        assert log.last(f"segm/{name}") == stats_all[-1][::-1][k]
    # print_freq 3 of 7 iterations: lines 0, 3, 6 of each epoch
    assert log.series("loss_classifier")["step"].tolist() == [0, 3, 6, 7, 10, 13, 14, 17, 20]
    assert log.series("loss (epoch mean)")["value"].tolist() == [
        round(float(np.mean(v["loss"])), 4) for v in values_all]
    assert set(log.tags("val")) == {f"{t}/{n}" for t in ("bbox", "segm") for n in names}


def test_bad_lines_are_warnings_naming_the_line(tmp_path):
    text = ("Epoch: [0]  [0/2]  lr: 0.1  loss: 1.0 (1.0)\n"
            "Epoch: [0]  [1/2]  lr: abc  loss: 0.9 (0.95)\n"
            "Epoch: [0]  [5/2]  lr: 0.1  loss: 0.9 (0.95)\n"
            "Epoch: [1]  [0/2]  lr: 0.1  loss: nan (nan)\n")
    log = parse_log(text.encode(), "t.log")
    where = {p.where: p.message for p in log.problems}
    assert "lr: 'abc' is not a number" in where["line 2"]
    assert "out of range" in where["line 3"]
    assert all(p.severity == "warning" and p.path == "t.log" for p in log.problems)
    assert np.isnan(log.last("loss")) and log.series("loss")["step"].tolist() == [0, 1, 2]


def test_not_a_torchvision_log(tmp_path):
    with pytest.raises(InputError, match=re.escape("x.log: no torchvision training lines")):
        parse_log(b"hello\nworld\n", "x.log", format="torchvision")
    with pytest.raises(InputError, match="x.log: not a training log detview knows"):
        parse_log(b"hello\nworld\n", "x.log")
