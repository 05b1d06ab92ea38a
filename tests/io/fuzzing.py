"""Fuzzing helpers: build a small dataset of each format, feed it bad bytes, and
check that detview either loads it or raises a clean InputError naming the file."""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from detview.io import load_dataset
from detview.io.errors import InputError, format_error

from .helpers import make_images

#: values that broke readers before: huge/odd numbers, traversal names, NUL, encodings
ADVERSARIAL = [
    "1e19", "inf", "-inf", "nan", "NaN", "Infinity", "-1", "0", "1e308", "-1e308",
    "9223372036854775807", "9223372036854775808", "18446744073709551616", "1" * 400,
    "../../../../etc/hostname", "/etc/passwd", "C:\\Windows\\x.jpg", "C:x.jpg",
    "a\x00b.jpg", "x" * 300 + ".jpg", ("d/" * 600) + "x.jpg", "", " ", "true", "null",
    "\ufeff", "\u202e", "0x10", "1_000", "09", "00", "3.0", "-0", "1e-400",
    '<?xml version="1.0" encoding="utf-1"?>', "[" * 3000, "{" * 3000, "\r", "\t",
]


def adversarial_json_values() -> list[object]:
    return [2**63, 2**64, -(2**63) - 1, 10**400, 1e308, -1e308, float("nan"),
            float("inf"), True, False, None, "", "../../x.jpg", "/abs.jpg", "a\x00b",
            "x" * 5000, [], {}, [[[]]], -1, 0, 1.5, "C:\\x.jpg", 2**53 + 1]


def check_clean(fn: Callable[[], object], source: str | Path, label: str = "",
                also: tuple[str | Path, ...] = ()) -> None:
    """``fn()`` succeeds or raises an InputError that names ``source`` (or one of the
    paths in ``also``: the folder the user gave); nothing else (no other exception, no
    warning printed)."""
    names = [Path(source).name, *(str(a) for a in also)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            fn()
        except InputError as exc:
            text = format_error(exc)
            assert any(n in text for n in names), (
                f"{label}: the message does not name {names[0]}: {text[:300]}")
        except Exception as exc:  # what the test is about: it re-raises
            raise AssertionError(f"{label}: {type(exc).__name__}: {exc!s:.300}") from exc


# ---------------------------------------------------------------------- seeds
def coco_obj() -> dict:
    return {
        "info": {"description": "fuzz"},
        "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
                   {"id": 2, "file_name": "b.jpg", "width": 32, "height": 32}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 12], "area": 120,
             "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [3.5, 4, 8, 9], "iscrowd": 1},
        ],
    }


def preds_obj() -> list:
    return [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 12], "score": 0.9},
            {"image_id": 2, "category_id": 2, "bbox": [3, 4, 8, 9], "score": 0.4}]


VOC_XML = """<annotation>
  <folder>VOC</folder><filename>a.jpg</filename>
  <size><width>64</width><height>48</height><depth>3</depth></size>
  <object><name>cat</name><pose>Left</pose><truncated>0</truncated><difficult>1</difficult>
    <bndbox><xmin>2</xmin><ymin>3</ymin><xmax>20</xmax><ymax>30</ymax></bndbox></object>
</annotation>
"""

CVAT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations><version>1.1</version>
  <meta><task><labels><label><name>cat</name></label></labels></task></meta>
  <image id="0" name="a.jpg" width="64" height="48">
    <box label="cat" occluded="0" xtl="1.00" ytl="2.00" xbr="30.50" ybr="40.00"/>
  </image>
</annotations>
"""

LABELME = {"version": "5.2.1", "flags": {}, "imagePath": "a.jpg", "imageData": None,
           "imageHeight": 48, "imageWidth": 64,
           "shapes": [{"label": "cat", "points": [[1, 2], [30, 40]], "group_id": None,
                       "shape_type": "rectangle", "flags": {}}]}

CSV_TEXT = "file_name,x1,y1,x2,y2,label,score,width,height\na.jpg,1,2,30,40,cat,0.5,64,48\n" \
           "b.jpg,,,,,,,32,32\n"

DATA_YAML = "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n"


class Fixture:
    """One small dataset per format under ``root``; ``load(kind, data)`` writes
    ``data`` as that format's file and loads it the way a user would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        make_images(root / "images", {"a.jpg": (64, 48), "b.jpg": (32, 32)})
        self.gt = root / "gt.json"
        self.gt.write_text(json.dumps(coco_obj()))
        y = root / "yolo"
        make_images(y / "images" / "train", {"a.jpg": (64, 48)})
        make_images(y / "images" / "val", {"b.jpg": (32, 32)})
        (y / "labels" / "train").mkdir(parents=True)
        (y / "labels" / "val").mkdir(parents=True)
        (y / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n")
        (y / "labels" / "val" / "b.txt").write_text("1 0.25 0.5 0.5 0.9\n")
        (y / "data.yaml").write_text(DATA_YAML)
        self.yolo = y

    def path_for(self, kind: str) -> Path:
        return {
            "coco": self.root / "k_coco.json",
            "results": self.root / "k_results.json",
            "yolo_txt": self.yolo / "labels" / "train" / "a.txt",
            "data_yaml": self.yolo / "data.yaml",
            "voc": self.root / "voc" / "a.xml",
            "labelme": self.root / "lm" / "a.json",
            "cvat": self.root / "k_cvat.xml",
            "csv": self.root / "k_gt.csv",
            "csv_preds": self.root / "k_preds.csv",
            "yolo_preds": self.root / "yp" / "a.txt",
            "loss": self.root / "k_loss.csv",
        }[kind]

    def given(self, kind: str) -> tuple[Path, ...]:
        """The path a user gave for this kind (messages may name it)."""
        return {"yolo_preds": (self.path_for(kind).parent,),
                "voc": (self.path_for(kind).parent,),
                "labelme": (self.path_for(kind).parent,)}.get(kind, ())

    def load(self, kind: str, data: bytes) -> object:
        p = self.path_for(kind)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        try:
            return self._load(kind, p)
        finally:
            if kind in ("yolo_txt", "data_yaml"):
                p.write_bytes(self.seed(kind))

    def _load(self, kind: str, p: Path) -> object:
        if kind == "labelme":
            import shutil

            if not (p.parent / "a.jpg").exists():
                shutil.copy(self.root / "images" / "a.jpg", p.parent / "a.jpg")
        call: dict[str, Callable[[], object]] = {
            "coco": lambda: load_dataset(self.root / "images", p, gt_format="coco"),
            "results": lambda: load_dataset(self.root / "images", self.gt, [("r", p)],
                                            pred_format="coco"),
            "yolo_txt": lambda: load_dataset(self.yolo, None),
            "data_yaml": lambda: load_dataset(None, p, gt_format="yolo"),
            "voc": lambda: load_dataset(self.root / "images", p.parent, gt_format="voc"),
            "labelme": lambda: load_dataset(None, p.parent, gt_format="labelme"),
            "cvat": lambda: load_dataset(self.root / "images", p, gt_format="cvat"),
            "csv": lambda: load_dataset(self.root / "images", p, gt_format="csv"),
            "csv_preds": lambda: load_dataset(self.root / "images", self.gt, [("r", p)],
                                              pred_format="csv"),
            "yolo_preds": lambda: load_dataset(self.root / "images", self.gt, [("r", p.parent)],
                                               pred_format="yolo"),
            "loss": lambda: load_dataset(self.root / "images", self.gt, loss=p),
        }
        with np.errstate(all="raise"):
            return call[kind]()

    def seed(self, kind: str) -> bytes:
        return {
            "coco": json.dumps(coco_obj()).encode(),
            "results": json.dumps(preds_obj()).encode(),
            "yolo_txt": b"0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.05 0.05\n",
            "data_yaml": DATA_YAML.encode(),
            "voc": VOC_XML.encode(),
            "labelme": json.dumps(LABELME).encode(),
            "cvat": CVAT_XML.encode(),
            "csv": CSV_TEXT.encode(),
            "csv_preds": CSV_TEXT.encode(),
            "yolo_preds": b"0 0.5 0.5 0.2 0.4 0.9\n",
            "loss": b"file_name,loss\na.jpg,1.5\nb.jpg,0.25\n",
        }[kind]


KINDS = ("coco", "results", "yolo_txt", "data_yaml", "voc", "labelme", "cvat", "csv",
         "csv_preds", "yolo_preds", "loss")


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random edits: a byte flipped, a chunk deleted or duplicated, a token
    replaced by an adversarial value."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        if not b:
            b += rng.choice(ADVERSARIAL).encode("utf-8", "surrogatepass")
            continue
        i = rng.randrange(len(b))
        if op < 0.2:
            b[i] = rng.randrange(256)
        elif op < 0.35:
            j = min(len(b), i + rng.randint(1, 20))
            del b[i:j]
        elif op < 0.45:
            j = min(len(b), i + rng.randint(1, 40))
            b[i:i] = b[i:j]
        else:
            # replace a token (a run of letters/digits/./-) by an adversarial value
            isw = lambda c: chr(c).isalnum() or chr(c) in "._-+"  # noqa: E731
            s = i
            while s > 0 and isw(b[s - 1]):
                s -= 1
            e = i
            while e < len(b) and isw(b[e]):
                e += 1
            val = rng.choice(ADVERSARIAL).encode("utf-8", "surrogatepass")
            b[s:max(e, s)] = val
    return bytes(b)
