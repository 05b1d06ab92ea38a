"""TensorBoard event files: every scalar compared with tensorboard's own reader
(``EventAccumulator``) on the real YOLOv5 file and on files the tests write."""

from __future__ import annotations

import numpy as np
import pytest

from detview.io.errors import InputError
from detview.io.trainlogs import find_logs, parse_log, read_log
from detview.io.trainlogs.tfevents import masked_crc32c

from .fixtures import (
    event,
    image_value,
    simple_value,
    tensor_value,
    tfrecord,
    write_events,
)

OD_TRAIN = ("Loss/classification_loss", "Loss/localization_loss", "Loss/regularization_loss",
            "Loss/total_loss", "learning_rate", "steps_per_sec")
OD_EVAL = ("DetectionBoxes_Precision/mAP", "DetectionBoxes_Precision/mAP (small)",
           "DetectionBoxes_Precision/mAP (medium)", "DetectionBoxes_Precision/mAP (large)",
           "DetectionBoxes_Precision/mAP@.50IOU", "DetectionBoxes_Precision/mAP@.75IOU",
           "DetectionBoxes_Recall/AR@1", "DetectionBoxes_Recall/AR@10",
           "DetectionBoxes_Recall/AR@100", "DetectionBoxes_Recall/AR@100 (small)",
           "DetectionBoxes_Recall/AR@100 (medium)", "DetectionBoxes_Recall/AR@100 (large)",
           "Loss/total_loss")


def reference_scalars(path) -> dict[str, list[tuple[int, float, float]]]:
    """tensorboard's reading: simple values from EventAccumulator, tensor scalars from
    the plugin accumulator."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    out = {t: [(s.step, s.value, s.wall_time) for s in acc.Scalars(t)]
           for t in acc.Tags()[ea.SCALARS]}
    pacc = pea.EventAccumulator(str(path), size_guidance={pea.TENSORS: 0})
    pacc.Reload()
    for t in pacc.GetTagsForPlugin("scalars") if hasattr(pacc, "GetTagsForPlugin") else \
            pacc.PluginTagToContent("scalars"):
        if t in out:
            continue
        out[t] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)), e.wall_time)
                  for e in pacc.Tensors(t)]
    return out


def assert_same_as_reference(log, path) -> int:
    ref = reference_scalars(path)
    assert set(ref) == set(log.tags())
    n = 0
    for tag, rows in ref.items():
        s = log.series(tag)
        assert s["step"].tolist() == [r[0] for r in rows], tag
        want = np.float32([r[1] for r in rows])
        want[~np.isfinite(want)] = np.nan  # detview keeps a non-finite value as NaN
        assert np.array_equal(np.float32(s["value"]), want, equal_nan=True), tag
        assert s["wall_time"].tolist() == [r[2] for r in rows], tag
        n += len(rows)
    return n


def test_real_yolov5_event_file(realdata):
    folder = realdata / "coco128_yolov5s_trainlog"
    path = next(folder.glob("events.out.tfevents.*"))
    log = read_log(path)
    assert log.format == "tensorboard" and not log.problems
    assert assert_same_as_reference(log, path) == 1300
    # the same series as results.csv (float32 in the event file)
    csv = read_log(folder / "results.csv")
    for tag in csv.tags():
        assert np.allclose(log.series(tag)["value"], csv.series(tag)["value"], rtol=1e-4)
    assert log.params["opt.yaml"]["epochs"] == 100


def test_tf_object_detection_api_folders(tmp_path):
    model_dir = tmp_path / "ssd_mobilenet"
    rng = np.random.default_rng(2)
    train_vals = {t: rng.uniform(0, 2, 5) for t in OD_TRAIN}
    eval_vals = {t: rng.uniform(0, 1, 2) for t in OD_EVAL}
    eval_vals["DetectionBoxes_Precision/mAP (small)"][:] = -1.0
    tr = write_events(model_dir / "train" / "events.out.tfevents.1.host", [
        event(100 * (k + 1), 1.7e9 + k, [
            tensor_value(t, float(v[k]), with_metadata=(k == 0)) for t, v in train_vals.items()
        ] + ([image_value("train_input_images")] if k == 0 else []))
        for k in range(5)])
    ev = write_events(model_dir / "eval" / "events.out.tfevents.2.host", [
        event(250 * (k + 1), 1.7e9 + 10 + k, [simple_value(t, float(v[k]))
                                               for t, v in eval_vals.items()])
        for k in range(2)])
    logs = [read_log(p) for p in find_logs(model_dir)]
    assert [lg.path for lg in logs] == [str(ev), str(tr)]
    log_eval, log_train = logs
    assert log_train.run == log_eval.run == "ssd_mobilenet"
    assert set(log_train.scalars["split"]) == {"train"}
    assert set(log_eval.scalars["split"]) == {"val"}  # the eval/ folder, Loss/ included
    for t, v in train_vals.items():
        s = log_train.series(t)
        assert s["step"].tolist() == [100, 200, 300, 400, 500]
        assert np.array_equal(np.float32(s["value"]), np.float32(v))
    assert log_eval.last("DetectionBoxes_Precision/mAP (small)") == -1.0
    assert assert_same_as_reference(log_train, tr) == 30
    assert assert_same_as_reference(log_eval, ev) == 26
    groups = {t: log_train.group(t) for t in OD_TRAIN}
    assert groups == {"Loss/classification_loss": "loss", "Loss/localization_loss": "loss",
                      "Loss/regularization_loss": "loss", "Loss/total_loss": "loss",
                      "learning_rate": "lr", "steps_per_sec": "speed"}
    for t in OD_EVAL[:-1]:
        assert log_eval.group(t) in ("precision", "recall") and log_eval.explain(t)


def test_double_tensor_and_split_by_tag(tmp_path):
    p = write_events(tmp_path / "events.out.tfevents.3.h", [
        event(1, 1.0, [tensor_value("val/mAP", 0.25, "double"),
                       simple_value("train/loss", 2.5)]),
        event(2, 2.0, [tensor_value("val/mAP", 0.5, "double", with_metadata=False),
                       simple_value("train/loss", float("inf"))]),
        event(-3, 3.0, [tensor_value("histogram_like", 1.0, with_metadata=False)]),
    ])
    log = read_log(p)
    assert log.series("val/mAP", "val")["value"].tolist() == [0.25, 0.5]
    assert log.series("train/loss", "train")["value"].tolist()[0] == 2.5
    assert np.isnan(log.last("train/loss"))  # inf is kept as NaN
    assert "histogram_like" not in log.tags()  # a tensor without the scalars plugin
    assert assert_same_as_reference(log, p) == 4


def _three_records() -> bytes:
    return b"".join(tfrecord(event(s, 1.0 + s, [simple_value("loss", 1.0 / (s + 1))]))
                    for s in range(3))


def test_record_cut_short_is_a_warning():
    data = _three_records()
    log = parse_log(data[:-7], "run/events.out.tfevents.1")
    assert log.series("loss")["step"].tolist() == [0, 1]
    assert log.problems[0].where.startswith("record 2 (byte ")
    assert "cut short" in log.problems[0].message


def test_corrupt_record_names_it():
    data = bytearray(_three_records())
    rec1 = len(tfrecord(event(0, 1.0, [simple_value("loss", 1.0)])))
    data[rec1 + 20] ^= 0xFF  # inside record 1's payload
    with pytest.raises(InputError) as ei:
        parse_log(bytes(data), "run/events.out.tfevents.1")
    assert ei.value.problem.where == f"record 1 (byte {rec1})"
    assert "checksum" in ei.value.problem.message or "not a TensorBoard" in str(ei.value)
    data = bytearray(_three_records())
    data[rec1 + 2] ^= 0x01  # record 1's length
    with pytest.raises(InputError, match=rf"record 1 \(byte {rec1}\): length checksum"):
        parse_log(bytes(data), "run/events.out.tfevents.1")


def test_not_an_event_file():
    with pytest.raises(InputError, match="x.tfevents: record 0 .*not a TensorBoard event file"):
        parse_log(b"0123456789abcdef", "x.tfevents", format="tensorboard")
    with pytest.raises(InputError, match="empty file"):
        parse_log(b"", "x.tfevents", format="tensorboard")


def test_masked_crc_known_value():
    # CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720); masked as TFRecord does
    assert masked_crc32c(b"") == 0xA282EAD8
    assert masked_crc32c(b"123456789") == (lambda c: (((c >> 15) | (c << 17)) + 0xA282EAD8)
                                           & 0xFFFFFFFF)(0xE3069283)
