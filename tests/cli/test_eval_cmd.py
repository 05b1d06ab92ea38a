"""``detview eval`` end to end, checked against an independent brute-force oracle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from detview.cli.main import main as cli_main
from tests.conftest import REPO, RESOURCES

DEMO = RESOURCES / "demo"


def _iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def oracle(images_dir: Path, labels_dir: Path, preds_json: Path, thr=0.5, iou_thr=0.5):
    """Plain-Python per-image metrics straight from the YOLO files (no detview code)."""
    preds = json.loads(preds_json.read_text())
    rows = {}
    for img in sorted(images_dir.iterdir()):
        w, h = Image.open(img).size
        gts = []
        lab = labels_dir / (img.stem + ".txt")
        for line in lab.read_text().split("\n") if lab.exists() else []:
            if line.strip():
                c, cx, cy, bw, bh = line.split()
                cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
                gts.append((int(c), (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)))
        ps = [(p["category_id"], (p["bbox"][0], p["bbox"][1], p["bbox"][0] + p["bbox"][2],
                                  p["bbox"][1] + p["bbox"][3]), p["score"])
              for p in preds if p["image_id"] == int(img.stem) and p["score"] >= thr]
        ps.sort(key=lambda p: -p[2])
        taken = [False] * len(gts)
        tp = 0
        for c, box, _ in ps:
            best, bi = iou_thr, -1
            for j, (gc, gb) in enumerate(gts):
                v = _iou(box, gb)
                if gc == c and not taken[j] and v >= best:
                    best, bi = v, j
            if bi >= 0:
                taken[bi] = True
                tp += 1
        labels = {c for c, _ in gts} | {c for c, _, _ in ps}
        scores = []
        for lab_ in labels:
            pb = [b for c, b, _ in ps if c == lab_]
            gb = [b for c, b in gts if c == lab_]
            if not pb or not gb:
                scores.append(0.0)
            elif len(pb) <= len(gb):
                scores.append(sum(max(_iou(p, g) for g in gb) for p in pb) / len(pb))
            else:
                scores.append(sum(max(_iou(p, g) for p in pb) for g in gb) / len(gb))
        rows[img.name] = dict(n_gt=len(gts), n_pred=len(ps), tp=tp, fp=len(ps) - tp,
                              fn=len(gts) - tp,
                              mean_iou=sum(scores) / len(scores) if scores else float("nan"))
    return rows


def check_against_oracle(csv: Path, expected: dict) -> None:
    df = pd.read_csv(csv)
    assert list(df.columns) == ["file_name", "n_gt", "n_pred", "tp", "fp", "fn", "mean_iou"]
    assert len(df) == len(expected)
    for r in df.itertuples():
        e = expected[Path(r.file_name).name]
        assert (r.n_gt, r.n_pred, r.tp, r.fp, r.fn) == (e["n_gt"], e["n_pred"], e["tp"], e["fp"],
                                                        e["fn"]), r.file_name
        assert r.mean_iou == pytest.approx(e["mean_iou"], abs=1e-9, nan_ok=True), r.file_name


def test_eval_on_demo_matches_oracle_and_sorts(tmp_path, capsys):
    out = tmp_path / "per_image.csv"
    rc = cli_main(["eval", "--images", str(DEMO / "images"), "--gt", str(DEMO / "labels"),
                   "--names", str(DEMO / "data.yaml"),
                   "--pred", str(DEMO / "predictions" / "yolov5s.json"),
                   "--sort", "mean_iou", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    check_against_oracle(out, oracle(DEMO / "images", DEMO / "labels",
                                     DEMO / "predictions" / "yolov5s.json"))
    iou = pd.read_csv(out)["mean_iou"].to_numpy()
    n = int((~np.isnan(iou)).sum())  # images with nothing to score (NaN) come last
    assert (iou[: n - 1] <= iou[1:n]).all() and np.isnan(iou[n:]).all()


def test_eval_autodetects_the_demo_folder(tmp_path, capsys):
    out = tmp_path / "x.csv"
    rc = cli_main(["eval", str(DEMO), "--pred", str(DEMO / "predictions" / "yolov5s.json"),
                   "--score-threshold", "0.25", "--sort", "fp", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out)
    assert len(df) == 40 and (df["fp"].diff().dropna() <= 0).all()
    assert df["n_gt"].sum() == sum(
        len([x for x in p.read_text().splitlines() if x.strip()])
        for p in (DEMO / "labels").glob("*.txt"))


def test_eval_on_real_coco128(realdata, tmp_path, capsys):
    root = realdata / "coco128"
    preds = realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json"
    out = tmp_path / "x.csv"
    rc = cli_main(["eval", "--images", str(root / "images" / "train2017"),
                   "--gt", str(root / "labels" / "train2017"), "--names", str(root / "data.yaml"),
                   "--pred", str(preds), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    check_against_oracle(out, oracle(root / "images" / "train2017", root / "labels" / "train2017",
                                     preds))


def test_eval_loss_column(tmp_path, capsys):
    loss = tmp_path / "loss.csv"
    names = sorted(p.name for p in (DEMO / "images").iterdir())
    loss.write_text("file_name,loss\n" + "".join(f"{n},{k * 0.5}\n" for k, n in enumerate(names)))
    out = tmp_path / "x.csv"
    rc = cli_main(["eval", str(DEMO), "--pred", str(DEMO / "predictions" / "yolov5s.json"),
                   "--loss", str(loss), "--sort", "loss", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out)
    assert df.columns[-1] == "loss"
    assert df["loss"].iloc[0] == (len(names) - 1) * 0.5


@pytest.mark.parametrize("argv, needle", [
    (["--gt", "nope.json", "--images", "."], "nope.json"),
    (["--gt", "{bad}", "--images", "."], "bad.json"),
])
def test_eval_bad_input_is_one_line_naming_the_file(tmp_path, argv, needle):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    argv = [a.replace("{bad}", str(bad)) for a in argv]
    p = subprocess.run([sys.executable, "-m", "detview", "eval", *argv, "--out",
                        str(tmp_path / "o.csv")], capture_output=True, text=True, cwd=REPO)
    assert p.returncode != 0
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) <= 3


def test_launcher_help_lists_every_command():
    p = subprocess.run([sys.executable, "-m", "detview", "--help"], capture_output=True, text=True,
                       cwd=REPO)
    assert p.returncode == 0
    for cmd in ("demo", "open", "eval", "coco-eval", "convert", "export", "apply"):
        assert f"  {cmd} " in p.stdout


def _confusion_oracle(ds, run: str, i: int, thr: float, iou_thr: float) -> str:
    """Plain Python: per image, predictions >= thr and non-crowd boxes matched one to one
    whatever the class, greedily by IoU (ties: higher score, then file order)."""
    gt, d = ds.gt, ds.runs[run]
    g = [r for r in range(gt.offsets[i], gt.offsets[i + 1])
         if gt.alive[r] and not gt.iscrowd[r]]
    p = [r for r in range(d.offsets[i], d.offsets[i + 1]) if d.score[r] >= thr]
    pairs = sorted(((_iou(d.xyxy[a], gt.xyxy[b]), d.score[a], -ka, -kb, a, b)
                    for ka, a in enumerate(p) for kb, b in enumerate(g)), reverse=True)
    used_p, used_g, counts = set(), set(), {}
    for iou, _s, _ka, _kb, a, b in pairs:
        if iou < iou_thr or a in used_p or b in used_g:
            continue
        used_p.add(a)
        used_g.add(b)
        t, c = int(gt.cls[b]), int(d.cls[a])
        if t != c:
            counts[(t, c)] = counts.get((t, c), 0) + 1
    names = ds.classes.names
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "; ".join(f"{names[t]}→{names[c]}" + (f" ×{n}" if n > 1 else "")
                     for (t, c), n in items)


def test_eval_more_adds_the_analysis_columns(tmp_path, capsys):
    """``--more`` against the referees: pycocotools for each image's AP (``imgIds =
    [image]``), tidecv for each image's error types, a plain oracle for confusions."""
    import contextlib
    import io

    pytest.importorskip("pycocotools")
    tidecv = pytest.importorskip("tidecv")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from detview.io.loader import load_dataset
    from tests.core.test_tide import _tidecv
    from tests.session._data import as_coco

    assert tidecv is not None
    base, more = tmp_path / "base.csv", tmp_path / "more.csv"
    thr = 0.25
    args = ["eval", str(DEMO), "--pred", str(DEMO / "predictions" / "yolov5s.json"),
            "--score-threshold", str(thr)]
    assert cli_main([*args, "--out", str(base)]) == 0, capsys.readouterr().err
    assert cli_main([*args, "--more", "--sort", "err_loc", "--out", str(more)]) == 0
    a, b = pd.read_csv(base), pd.read_csv(more)
    assert list(a.columns) == ["file_name", "n_gt", "n_pred", "tp", "fp", "fn", "mean_iou"]
    assert list(b.columns) == [*a.columns, "ap", "ap50", "err_cls", "err_loc", "err_both",
                               "err_dupe", "err_bkg", "err_miss", "confusion"]
    assert (b["err_loc"].diff().dropna() <= 0).all()
    b = b.set_index("file_name").loc[a["file_name"]].reset_index()
    assert (b[list(a.columns)].to_numpy() == a.to_numpy()).all()
    # the referees read the same boxes (loaded by the io layer, not the code under test)
    ds = load_dataset(DEMO / "images", DEMO / "labels",
                      [(None, DEMO / "predictions" / "yolov5s.json")],
                      class_names=DEMO / "data.yaml").dataset
    run = next(iter(ds.runs))
    gt_all, dets_all = as_coco(ds, run, None)
    gt_thr, dets_thr = as_coco(ds, run, thr)
    row_of = {n: k for k, n in enumerate(b["file_name"])}
    checked_ap = n_typed = 0
    for i, name in enumerate(ds.images.file_names):
        row = b.iloc[row_of[name]]
        iid = int(ds.images.ids[i])
        # pycocotools on this image alone, every prediction
        with contextlib.redirect_stdout(io.StringIO()):
            cg = COCO()
            cg.dataset = gt_all
            cg.createIndex()
            mine = [d for d in dets_all if d["image_id"] == iid]
            if mine:
                ev = COCOeval(cg, cg.loadRes(mine), "bbox")
                ev.params.imgIds = [iid]
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
                want_ap, want_ap50 = ev.stats[0], ev.stats[1]
            else:
                want_ap = want_ap50 = 0.0
        has_gt = any(x["image_id"] == iid for x in gt_all["annotations"])
        if not has_gt:
            assert np.isnan(row["ap"]) and np.isnan(row["ap50"]), name
        else:
            assert row["ap"] == pytest.approx(want_ap, abs=1e-12), name
            assert row["ap50"] == pytest.approx(want_ap50, abs=1e-12), name
            checked_ap += 1
        # tidecv on this image alone, the predictions >= the score threshold
        # (plus an image with one perfectly found box: tidecv needs some ground truth,
        # and a true positive adds no error)
        cat = gt_thr["categories"][0]["id"]
        one = {**gt_thr, "images": [im for im in gt_thr["images"] if im["id"] == iid]
               + [{"id": -1, "width": 100, "height": 100}],
               "annotations": [x for x in gt_thr["annotations"] if x["image_id"] == iid]
               + [{"id": 10**9, "image_id": -1, "category_id": cat, "bbox": [1, 1, 50, 50],
                   "area": 2500.0, "iscrowd": 0}]}
        its = [d for d in dets_thr if d["image_id"] == iid] + [
            {"image_id": -1, "category_id": cat, "bbox": [1, 1, 50, 50], "score": 1.0}]
        _ap, _dap, counts = _tidecv(one, its)
        for col, t in (("err_cls", "Cls"), ("err_loc", "Loc"), ("err_both", "Both"),
                       ("err_dupe", "Dupe"), ("err_bkg", "Bkg"), ("err_miss", "Miss")):
            assert row[col] == counts[t], (name, col)
        n_typed += sum(counts.values())
        text = row["confusion"] if isinstance(row["confusion"], str) else ""
        assert text == _confusion_oracle(ds, run, i, thr, 0.5), name
    assert checked_ap > 20 and n_typed > 0
    assert (b["confusion"].fillna("") != "").any()


def test_eval_more_without_predictions_says_so(tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert cli_main(["eval", str(DEMO), "--more", "--out", str(out)]) == 0
    assert "--more needs a prediction run" in capsys.readouterr().err
    assert list(pd.read_csv(out).columns)[:2] == ["file_name", "n_gt"]
