"""Training logs the tests write themselves, in each format's own layout.

The event-file encoder here is written from the TFRecord/protobuf specification and
shares no code with :mod:`detview.io.trainlogs.tfevents`; its output is also read by
tensorboard's ``EventAccumulator`` in the tests, so both sides are checked.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

# ------------------------------------------------------------------ torchvision


def torchvision_epoch_lines(epoch: int, n: int, values: dict[str, Sequence[float]],
                            lr: Sequence[float], print_freq: int = 1) -> list[str]:
    """MetricLogger lines as references/detection/utils.py prints them: the median of
    the last 20 values and (in brackets) the mean since the epoch began."""
    import statistics

    lines = []
    width = len(str(n))
    for i in range(n):
        if i % print_freq and i != n - 1:
            continue
        parts = [f"Epoch: [{epoch}]", f"[{i:>{width}}/{n}]", "eta: 0:00:01",
                 f"lr: {lr[i]:.6f}"]
        for name, vs in values.items():
            window = vs[max(0, i - 19): i + 1]
            med = statistics.median_low(window)  # torch's median: the lower middle
            parts.append(f"{name}: {med:.4f} ({sum(vs[: i + 1]) / (i + 1):.4f})")
        parts += ["time: 0.5000", "data: 0.1000", "max mem: 2547"]
        lines.append("  ".join(parts))
    lines.append(f"Epoch: [{epoch}] Total time: 0:00:05 (0.5000 s / it)")
    return lines


def coco_summary_block(stats: Sequence[float], iou_type: str = "bbox") -> list[str]:
    """The 'IoU metric' line and pycocotools' 12 summary lines for ``stats``."""
    spec = [
        (1, None, "all", 100), (1, 0.5, "all", 100), (1, 0.75, "all", 100),
        (1, None, "small", 100), (1, None, "medium", 100), (1, None, "large", 100),
        (0, None, "all", 1), (0, None, "all", 10), (0, None, "all", 100),
        (0, None, "small", 100), (0, None, "medium", 100), (0, None, "large", 100),
    ]
    out = [f"IoU metric: {iou_type}"]
    for (ap, thr, area, md), v in zip(spec, stats, strict=True):
        title = "Average Precision" if ap else "Average Recall"
        kind = "(AP)" if ap else "(AR)"
        iou = "0.50:0.95" if thr is None else f"{thr:0.2f}"
        out.append(f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | "
                   f"maxDets={md:>3d} ] = {v:0.3f}")
    return out


# ------------------------------------------------------------------ ultralytics
YOLOV5_COLUMNS = ("epoch", "train/box_loss", "train/obj_loss", "train/cls_loss",
                  "metrics/precision", "metrics/recall", "metrics/mAP_0.5",
                  "metrics/mAP_0.5:0.95", "val/box_loss", "val/obj_loss", "val/cls_loss",
                  "x/lr0", "x/lr1", "x/lr2")
YOLOV8_COLUMNS = ("epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss",
                  "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)",
                  "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss", "val/dfl_loss",
                  "lr/pg0", "lr/pg1", "lr/pg2")


def yolov5_csv(rows: Iterable[Sequence[float]]) -> str:
    """YOLOv5's layout: names right-aligned to 20 characters, values ``%20.5g``."""
    lines = [",".join(f"{c:>20s}" for c in YOLOV5_COLUMNS)]
    for r in rows:
        lines.append(",".join(f"{v:>20.5g}" for v in r))
    return "\n".join(lines) + "\n"


def yolov8_csv(rows: Iterable[Sequence[float]]) -> str:
    """YOLOv8/11's layout: plain names, 1-based epochs."""
    lines = [",".join(YOLOV8_COLUMNS)]
    for r in rows:
        lines.append(",".join([str(int(r[0]))] + [f"{v:.5g}" for v in r[1:]]))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ JSON lines
def json_lines(objs: Iterable[dict]) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


# ------------------------------------------------------------------ event files
def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _ld(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(data: bytes) -> int:
    c = _crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return (header + struct.pack("<I", _masked(header)) + payload
            + struct.pack("<I", _masked(payload)))


def event(step: int, wall_time: float, summary_values: Sequence[bytes] = (),
          file_version: str | None = None) -> bytes:
    out = _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(step)
    if file_version is not None:
        out += _ld(3, file_version.encode())
    if summary_values:
        out += _ld(5, b"".join(_ld(1, v) for v in summary_values))
    return out


def simple_value(tag: str, value: float) -> bytes:
    return _ld(1, tag.encode()) + _key(2, 5) + struct.pack("<f", value)


def tensor_value(tag: str, value: float, dtype: str = "float", with_metadata: bool = True
                 ) -> bytes:
    """A TF2 ``tf.summary.scalar`` value: a rank-0 tensor, the scalars plugin named in
    the metadata (TF2 sends it with the first value of a tag only)."""
    if dtype == "float":
        tensor = _key(1, 0) + _varint(1) + _ld(2, b"") + _ld(5, struct.pack("<f", value))
    elif dtype == "double":
        tensor = _key(1, 0) + _varint(2) + _ld(2, b"") + _ld(4, struct.pack("<d", value))
    else:
        raise ValueError(dtype)
    out = _ld(1, tag.encode()) + _ld(8, tensor)
    if with_metadata:
        out += _ld(9, _ld(1, _ld(1, b"scalars")))
    return out


def image_value(tag: str, size: int = 5000) -> bytes:
    """An image summary (skipped by the scalar reader)."""
    img = _key(1, 0) + _varint(8) + _key(2, 0) + _varint(8) + _ld(4, b"\x89PNG" * (size // 4))
    return _ld(1, tag.encode()) + _ld(4, img)


def write_events(path: Path, events: Iterable[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = tfrecord(event(0, 1.7e9, file_version="brain.Event:2"))
    data += b"".join(tfrecord(e) for e in events)
    path.write_bytes(data)
    return path
