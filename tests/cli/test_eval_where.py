"""``detview eval --where``: rows filtered by the query language, checked against a
plain-Python matcher over the demo's YOLO files and against pandas filtering of the
unfiltered output; a bad expression is one clean error with its position, exit 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from PIL import Image

from detview.cli.main import main as cli_main
from tests.conftest import REPO, RESOURCES

DEMO = RESOURCES / "demo"
PREDS = DEMO / "predictions" / "yolov5s.json"


def run_eval(capsys, *more: str) -> pd.DataFrame:
    rc = cli_main(["eval", str(DEMO), "--pred", str(PREDS), "--out", "-", *more])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return pd.read_csv(io.StringIO(out.out))


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def per_class_fp(thr: float = 0.5, iou_thr: float = 0.5) -> dict[str, dict[int, int]]:
    """{image file name: {class id: false positives}} by brute force from the files."""
    preds = json.loads(PREDS.read_text())
    out: dict[str, dict[int, int]] = {}
    for img in sorted((DEMO / "images").iterdir()):
        w, h = Image.open(img).size
        gts = []
        for line in (DEMO / "labels" / (img.stem + ".txt")).read_text().splitlines():
            if line.strip():
                c, cx, cy, bw, bh = line.split()
                cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
                gts.append((int(c), (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)))
        ps = sorted(((p["category_id"], (p["bbox"][0], p["bbox"][1], p["bbox"][0] + p["bbox"][2],
                                         p["bbox"][1] + p["bbox"][3]), p["score"])
                     for p in preds if p["image_id"] == int(img.stem) and p["score"] >= thr),
                    key=lambda p: -p[2])
        taken = [False] * len(gts)
        fp: dict[int, int] = {}
        for c, box, _ in ps:
            best, bi = iou_thr, -1
            for j, (gc, gb) in enumerate(gts):
                v = _iou(box, gb)
                if gc == c and not taken[j] and v >= best:
                    best, bi = v, j
            if bi >= 0:
                taken[bi] = True
            else:
                fp[c] = fp.get(c, 0) + 1
        out[img.name] = fp
    return out


def test_where_numeric_matches_pandas_filtering(capsys) -> None:
    full = run_eval(capsys)
    got = run_eval(capsys, "--where", "mean_iou < 0.6 and fp >= 2 or n_gt > 10")
    want = full[((full.mean_iou < 0.6) & (full.fp >= 2)) | (full.n_gt > 10)]
    assert 0 < len(got) < len(full)
    assert got.file_name.tolist() == want.file_name.tolist()
    got = run_eval(capsys, "--where", 'file ~ "0000000001" and not (tp in [0, 1])',
                   "--sort", "fp")
    want = full[full.file_name.str.contains("0000000001") & ~full.tp.isin([0, 1])]
    assert sorted(got.file_name) == sorted(want.file_name) and len(got) > 0
    assert (got.fp.diff().dropna() <= 0).all()  # --sort still applies


def test_where_per_class_false_positives(capsys) -> None:
    names = yaml.safe_load((DEMO / "data.yaml").read_text())["names"]
    names = names if isinstance(names, list) else [names[k] for k in sorted(names)]
    person = names.index("person")
    fp = per_class_fp()
    want = sorted(n for n, d in fp.items() if d.get(person, 0) > 1)
    assert want, "the demo has images with two or more person false positives"
    got = run_eval(capsys, "--where", "fp[person] > 1")
    assert sorted(got.file_name) == want
    got = run_eval(capsys, "--where", "fp.person > 1 and class == \"person\"")
    assert sorted(got.file_name) == want  # all of them have a person box too
    cls_any = {n for n, d in fp.items() if any(d.values())}
    got = run_eval(capsys, "--where", "fp > 0")
    assert set(got.file_name) == cls_any


def test_where_with_more_columns(capsys) -> None:
    full = run_eval(capsys, "--more")
    got = run_eval(capsys, "--more", "--where", "err_cls > 0 or err_loc >= 2")
    want = full[(full.err_cls > 0) | (full.err_loc >= 2)]
    assert got.file_name.tolist() == want.file_name.tolist() and len(got) > 0


@pytest.mark.parametrize("expr,message,caret", [
    ("mea_iou < 0.5", "--where: unknown column 'mea_iou' at 0-7, did you mean mean_iou?",
     "  ^^^^^^^"),
    ("err_cls > 0", "column 'err_cls' is not available (add --more) at 0-7", "  ^^^^^^^"),
    ("fp > 2 and (tp < 1", "expected ')' to close the '(' at 11", " " * 20 + "^"),
    ("__import__('os').system('echo hi')", "there are no functions", "            ^"),
])
def test_bad_where_is_a_clean_error_exit_2(capsys, expr: str, message: str, caret: str) -> None:
    rc = cli_main(["eval", str(DEMO), "--pred", str(PREDS), "--out", "-", "--where", expr])
    out = capsys.readouterr()
    assert rc == 2 and out.out == ""
    lines = out.err.strip().splitlines()
    err = next(i for i, ln in enumerate(lines) if ln.startswith("detview: error:"))
    assert message in lines[err]
    assert lines[err + 1] == "  " + expr
    assert lines[err + 2] == caret
    assert "Traceback" not in out.err


def test_bad_where_as_a_process() -> None:
    p = subprocess.run([sys.executable, "-m", "detview", "eval", str(DEMO), "--pred", str(PREDS),
                        "--out", "-", "--where", "fp >> 1"], capture_output=True, text=True,
                       cwd=REPO, timeout=120)
    assert p.returncode == 2
    assert "--where: expected a value before '>' at 4-5" in p.stderr
    assert "Traceback" not in p.stderr
