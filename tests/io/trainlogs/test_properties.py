"""Property tests: any bytes given to any reader give a clean message naming the file
(and the line or record), or a log; never a traceback."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detview.io.errors import InputError
from detview.io.trainlogs import COLUMNS, READERS, parse_log

from .fixtures import (
    coco_summary_block,
    event,
    json_lines,
    simple_value,
    tensor_value,
    tfrecord,
    torchvision_epoch_lines,
    yolov5_csv,
    yolov8_csv,
)
from .test_jsonlines import detectron2_lines, mmdet2_lines


def _samples() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    tv = torchvision_epoch_lines(0, 3, {"loss": [1.0, 0.9, 0.8], "loss_classifier":
                                        [0.5, 0.4, 0.3]}, [0.01] * 3)
    tv = ["Namespace(model='x', lr=0.1, steps=[1, 2])", *tv, *coco_summary_block([0.5] * 12)]
    ev = b"".join(tfrecord(event(s, 1.0 + s, [simple_value("loss", 1.0 / (s + 1)),
                                              tensor_value("val/mAP", 0.1 * s)]))
                  for s in range(3))
    return {
        "torchvision": ("\n".join(tv) + "\n").encode(),
        "ultralytics": yolov5_csv([[0, *rng.uniform(0, 1, 13)],
                                   [1, *rng.uniform(0, 1, 13)]]).encode(),
        "ultralytics v8": yolov8_csv([[1, *rng.uniform(0, 1, 14)]]).encode(),
        "tensorboard": ev,
        "detectron2": json_lines(detectron2_lines(rng)[:4]).encode(),
        "mmdet": json_lines(mmdet2_lines(100, 1)).encode(),
    }


SAMPLES = _samples()
SOURCE = {"torchvision": "logs/train.log", "ultralytics": "runs/exp/results.csv",
          "tensorboard": "tb/events.out.tfevents.1.host", "detectron2": "out/metrics.json",
          "mmdet": "work/x.log.json", "ultralytics v8": "runs/detect/train/results.csv"}
FORMAT = {k: k.split()[0] for k in SAMPLES}


@st.composite
def mutated(draw, fmt: str) -> bytes:
    data = bytearray(SAMPLES[fmt])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
        elif kind == "delete":
            del data[pos:pos + draw(st.integers(1, 12))]
        elif kind == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.sampled_from([b"nan", b"-1e999", b"\n", b",", b"]",
                                                  b"{", b'"', b"\x00", b":  ", b"[9/0]",
                                                  b"99999999999999999999999"]))
    return bytes(data)


def _check(data: bytes, fmt: str | None, source: str) -> None:
    try:
        log = parse_log(data, source, format=fmt)
    except InputError as exc:
        text = str(exc)
        assert text.startswith(source + ": "), text
        assert "Traceback" not in text and "\n" not in text
        return
    assert tuple(log.scalars.columns) == COLUMNS
    assert log.scalars["value"].dtype == np.float64
    assert set(log.scalars["split"]) <= {"train", "val"}
    for p in log.problems:
        assert p.path == source and p.severity == "warning"


def test_samples_are_valid():
    for fmt, data in SAMPLES.items():
        log = parse_log(data, SOURCE[fmt])
        assert log.format == FORMAT[fmt] and len(log.scalars) > 0 and not log.problems, fmt


@pytest.mark.parametrize("fmt", list(SAMPLES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_input_clean_message_or_success(fmt, data):
    blob = data.draw(mutated(fmt))
    _check(blob, FORMAT[fmt], SOURCE[fmt])
    _check(blob, None, SOURCE[fmt])


@pytest.mark.parametrize("fmt", list(READERS))
@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=400))
def test_arbitrary_bytes_clean_message_or_success(fmt, blob):
    _check(blob, fmt, SOURCE[fmt])
    _check(blob, None, SOURCE[fmt])


@settings(max_examples=100, deadline=None)
@given(blob=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                      st.sampled_from([b"a: [1, 2\n", b"- 1\n- 2\n",
                                       b"a: !!python/object:os.system x\n", b"[" * 5000,
                                       b"a: &x 1\nb: *x\n", b"\xff\xfe"])))
def test_params_file_clean_message_or_mapping(tmp_path_factory, blob):
    from detview.io.trainlogs import read_params_file

    f = tmp_path_factory.mktemp("p") / "hyp.yaml"
    f.write_bytes(blob)
    try:
        d = read_params_file(f)
    except InputError as exc:
        assert str(exc).startswith(f"{f}: ") and "\n" not in str(exc)
        return
    assert isinstance(d, dict) and all(isinstance(k, str) for k in d)
