"""Benchmark: label-quality scores (ObjectLab), detview against cleanlab 2.9.

Both sides start from the same two files (COCO ground truth json, COCO results json)
and write one label-quality score per image, each in its own process; wall time, CPU
time and peak memory (``ru_utime + ru_stime`` and ``ru_maxrss`` of that process, from
``wait4``) are measured from outside (on a shared machine the CPU ratio is steadier):

* ``detview eval --gt GT --pred PRED --label-quality --out CSV``: the command users run
  (it also computes the per-image metrics and the issue counts n_overlooked, n_swap,
  n_badloc); the same command without ``--label-quality`` is timed too; each is run
  ``--repeat`` times (default 3) and the median run is shown;
* ``cleanlab``: a script that reads the json files and calls
  ``cleanlab.object_detection.rank.get_label_quality_scores`` (add ``--cleanlab-counts``
  to also make cleanlab compute the issue counts the way ``find_label_issues`` does,
  which about doubles its time).

The two CSVs are compared: max |difference| of ``label_quality`` (and of the counts).

Data: with ../shared/realdata, coco128 + its real YOLOv5s predictions (22,284, scores
down to 0.001) tiled 40 times = 5,120 images, the predictions of each copy but the first
jittered (box corners ~N(0, 1 px), scores x U(0.97, 1)); without it, a seeded synthetic
set of the same shape.

Usage::

    python benchmarks/bench_label_quality.py [--copies 40] [--cleanlab-counts] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Only the standard library at module level: the harness process stays small, so that
# the peak memory of the processes it starts is theirs (a child's ``ru_maxrss`` starts
# from its parent's size at the fork).

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "realdata"
COLS = ("label_quality", "n_overlooked", "n_swap", "n_badloc")


# --------------------------------------------------------------------------- data
def _coco128_tables():  # type: ignore[no-untyped-def]
    import numpy as np

    from detview.io import load_dataset

    root = REAL / "coco128"
    ds = load_dataset(root / "images" / "train2017", root / "labels" / "train2017",
                      [("run", REAL / "coco128_yolov5s_predictions" /
                        "yolov5s_predictions.json")], class_names=root / "data.yaml").dataset
    run = ds.runs["run"]
    images = [{"file_name": Path(f).name, "width": int(w), "height": int(h)}
              for f, w, h in zip(ds.images.file_names, ds.images.widths.tolist(),
                                 ds.images.heights.tolist(), strict=True)]
    return (images, ds.gt.image, ds.gt.cls, ds.gt.xyxy, run.image, run.cls, run.xyxy,
            run.score, np.arange(len(ds.classes)))


def _synthetic_tables(seed: int = 0):  # type: ignore[no-untyped-def]
    """128 images shaped like coco128 + YOLOv5s: ~7 boxes, ~174 predictions per image."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n, k = 128, 80
    images = [{"file_name": f"{i:012d}.jpg", "width": 640, "height": 480} for i in range(n)]
    g_img = np.repeat(np.arange(n), rng.poisson(7.3, n))
    xy = rng.uniform(0, 500, (g_img.size, 2))
    g_xyxy = np.hstack([xy, xy + rng.uniform(8, 140, (g_img.size, 2))])
    g_cls = rng.integers(0, k, g_img.size)
    src = np.repeat(np.arange(g_img.size), 3)
    jit = rng.normal(0, 4, (src.size, 4))
    n_bg = rng.poisson(150, n)
    bg_img = np.repeat(np.arange(n), n_bg)
    bxy = rng.uniform(0, 560, (bg_img.size, 2))
    p_img = np.concatenate([g_img[src], bg_img])
    p_xyxy = np.concatenate([g_xyxy[src] + jit, np.hstack([bxy, bxy + rng.uniform(
        5, 80, (bg_img.size, 2))])])
    p_xyxy[:, 2:] = np.maximum(p_xyxy[:, 2:], p_xyxy[:, :2] + 1)
    p_cls = np.concatenate([np.where(rng.random(src.size) < 0.9, g_cls[src],
                                     rng.integers(0, k, src.size)),
                            rng.integers(0, k, bg_img.size)])
    p_score = np.round(np.concatenate([rng.beta(5, 1.5, src.size),
                                       rng.beta(1, 30, bg_img.size)]), 5).clip(0.001, 1)
    return images, g_img, g_cls, g_xyxy, p_img, p_cls, p_xyxy, p_score, np.arange(k)


def write_files(directory: Path, copies: int, seed: int = 0) -> dict[str, Any]:
    """The tiled set as COCO gt + results json (written once per directory)."""
    import numpy as np
    import orjson

    real = REAL.is_dir()
    tag = f"{'coco128' if real else 'synthetic'}_x{copies}"
    gt_p, dt_p = directory / f"lq_gt_{tag}.json", directory / f"lq_dets_{tag}.json"
    what = (f"coco128 + YOLOv5s x{copies}" if real else f"synthetic coco128-like x{copies} "
            "(../shared/realdata absent)")
    if gt_p.exists() and dt_p.exists():
        gt = orjson.loads(gt_p.read_bytes())
        return {"gt": str(gt_p), "dt": str(dt_p), "what": what, "n_img": len(gt["images"]),
                "n_gt": len(gt["annotations"]), "n_dt": len(orjson.loads(dt_p.read_bytes()))}
    images, g_img, g_cls, g_xyxy, p_img, p_cls, p_xyxy, p_score, classes = (
        _coco128_tables() if real else _synthetic_tables(seed))
    rng = np.random.default_rng(seed)
    n = len(images)
    out_images, anns, dets = [], [], []
    for c in range(copies):
        base = c * n
        for i, im in enumerate(images):
            out_images.append({"id": base + i + 1, "file_name": f"{c:03d}_{im['file_name']}",
                               "width": im["width"], "height": im["height"]})
        gb = g_xyxy.copy()
        gb[:, 2:] -= gb[:, :2]
        for j, (i, k, b) in enumerate(zip(g_img.tolist(), g_cls.tolist(), gb.tolist(),
                                          strict=True)):
            anns.append({"id": base * 100 + j + 1, "image_id": base + i + 1,
                         "category_id": int(k) + 1, "bbox": b, "area": b[2] * b[3],
                         "iscrowd": 0})
        pb = p_xyxy.copy()
        ps = p_score.copy()
        if c:
            pb = pb + rng.normal(0, 1.0, pb.shape)
            pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2] + 0.5)
            ps = np.round(ps * rng.uniform(0.97, 1.0, ps.shape), 5).clip(0.001, 1)
        pb[:, 2:] -= pb[:, :2]
        pb = np.round(pb, 3)
        for i, k, b, s in zip(p_img.tolist(), p_cls.tolist(), pb.tolist(), ps.tolist(),
                              strict=True):
            dets.append({"image_id": base + i + 1, "category_id": int(k) + 1, "bbox": b,
                         "score": s})
    cats = [{"id": int(k) + 1, "name": f"class{int(k)}"} for k in classes.tolist()]
    gt_p.write_bytes(orjson.dumps({"images": out_images, "annotations": anns,
                                   "categories": cats}))
    dt_p.write_bytes(orjson.dumps(dets))
    return {"gt": str(gt_p), "dt": str(dt_p), "what": what, "n_img": len(out_images),
            "n_gt": len(anns), "n_dt": len(dets)}


# --------------------------------------------------------------------------- cleanlab side
def cleanlab_worker(gt_path: Path, dt_path: Path, out: Path, counts: bool) -> None:
    """Runs in its own process: json files -> cleanlab inputs -> scores -> CSV."""
    import warnings

    import numpy as np
    from cleanlab.object_detection import filter as clf
    from cleanlab.object_detection import rank as clr

    t0 = time.perf_counter()
    gt = json.loads(gt_path.read_text())
    dets = json.loads(dt_path.read_text())
    cat_ids = sorted(c["id"] for c in gt["categories"])
    cat_index = {c: k for k, c in enumerate(cat_ids)}
    k = len(cat_ids)
    img_index = {im["id"]: i for i, im in enumerate(gt["images"])}
    n = len(gt["images"])
    lab_boxes: list[list[list[float]]] = [[] for _ in range(n)]
    lab_cls: list[list[int]] = [[] for _ in range(n)]
    for a in gt["annotations"]:
        i = img_index[a["image_id"]]
        x, y, w, h = a["bbox"]
        lab_boxes[i].append([x, y, x + w, y + h])
        lab_cls[i].append(cat_index[a["category_id"]])
    per: list[list[list[list[float]]]] = [[[] for _ in range(k)] for _ in range(n)]
    for d in dets:
        x, y, w, h = d["bbox"]
        per[img_index[d["image_id"]]][cat_index[d["category_id"]]].append(
            [x, y, x + w, y + h, d["score"]])
    labels = [{"bboxes": np.array(b, float).reshape(-1, 4), "labels": np.array(c, int)}
              for b, c in zip(lab_boxes, lab_cls, strict=True)]
    preds = [[np.array(p, float).reshape(-1, 5) for p in img] for img in per]
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = clr.get_label_quality_scores(labels, preds, verbose=False)
        cols = {"label_quality": scores}
        if counts:  # find_label_issues' per-box rule, kept per box to count
            aux = clr._get_valid_inputs_for_compute_scores(0.9, labels, preds)
            ap = clf._get_per_class_ap(labels, preds)
            pthr = clf._process_class_list([clr._separate_prediction(p)[1] for p in preds], ap)
            lthr = clf._process_class_list([lab["labels"] for lab in labels], ap)
            for name, fn, thr in (
                ("n_overlooked", clr.compute_overlooked_box_scores, pthr),
                ("n_swap", clr.compute_swap_box_scores, lthr),
                ("n_badloc", clr.compute_badloc_box_scores, lthr),
            ):
                box = fn(auxiliary_inputs=aux)
                flags = clf._find_label_issues_per_box(box, thr, 0.8)
                cols[name] = np.array([int(f.sum()) if len(s) else 0
                                       for f, s in zip(flags, box, strict=True)])
    t2 = time.perf_counter()
    import pandas as pd

    df = pd.DataFrame({"file_name": [im["file_name"] for im in gt["images"]], **cols})
    df.to_csv(out, index=False)
    print(json.dumps({"load_s": t1 - t0, "compute_s": t2 - t1}))


# --------------------------------------------------------------------------- harness
def run_measured(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Wall time and peak RSS of one process (``wait4`` gives that child's rusage)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            p.kill()
            p.wait()
            return {"error": f"timed out after {timeout:.0f} s"}
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    out = p.stdout.read() if p.stdout else ""
    err = p.stderr.read() if p.stderr else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        return {"error": f"exit {p.returncode}: {err.strip()[-400:]}"}
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mib": ru.ru_maxrss / 1024,
            "stdout": out}


def median_run(cmd: list[str], timeout: float, repeat: int) -> dict[str, Any]:
    """The run of median wall time out of ``repeat`` (a short process on a shared
    machine meets bursts of load that a long one averages out)."""
    runs = [run_measured(cmd, timeout) for _ in range(max(repeat, 1))]
    bad = [r for r in runs if "error" in r]
    if bad:
        return bad[0]
    runs.sort(key=lambda r: r["wall_s"])
    return runs[len(runs) // 2]


def detview_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "detview"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "detview"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=40, help="tiles of the 128 images")
    ap.add_argument("--cleanlab-counts", action="store_true",
                    help="cleanlab also computes the issue counts (about twice its time)")
    ap.add_argument("--dir", type=Path, help="keep the generated files here")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each detview command; the median is shown (default 3)")
    ap.add_argument("--cleanlab-worker", nargs=3, type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.cleanlab_worker:
        cleanlab_worker(*a.cleanlab_worker, counts=a.cleanlab_counts)
        return
    if a.generate:
        print(json.dumps(write_files(a.generate, a.copies)))
        return
    probe = subprocess.run([sys.executable, "-c", "import cleanlab; print(cleanlab.__version__)"],
                           capture_output=True, text=True, check=False)
    if probe.returncode:
        print("cleanlab is not installed: pip install 'cleanlab>=2.9,<2.10'", file=sys.stderr)
        sys.exit(2)
    cl_version = probe.stdout.strip()

    with tempfile.TemporaryDirectory() as tmp:
        d = a.dir or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        gen = subprocess.run([sys.executable, __file__, "--generate", str(d), "--copies",
                              str(a.copies)], capture_output=True, text=True, check=True)
        info = json.loads(gen.stdout.strip().splitlines()[-1])
        gt_p, dt_p = Path(info["gt"]), Path(info["dt"])
        print(f"label quality, {info['what']}: {info['n_img']:,} images, {info['n_gt']:,} GT "
              f"boxes, {info['n_dt']:,} predictions")
        base = [*detview_cmd(), "eval", "--gt", str(gt_p), "--pred", str(dt_p)]
        dv = median_run([*base, "--label-quality", "--out", str(d / "detview.csv")],
                        a.timeout, a.repeat)
        plain = median_run([*base, "--out", str(d / "plain.csv")], a.timeout, a.repeat)
        cl_cmd = [sys.executable, __file__, "--cleanlab-worker", str(gt_p), str(dt_p),
                  str(d / "cleanlab.csv")] + (["--cleanlab-counts"] if a.cleanlab_counts
                                              else [])
        cl = run_measured(cl_cmd, a.timeout)
        rows = [("detview eval --label-quality", dv), ("detview eval (without it)", plain),
                (f"cleanlab {cl_version} "
                 + ("scores + counts" if a.cleanlab_counts else "get_label_quality_scores"),
                 cl)]
        print(f"{'tool':<44} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'x detview':>10}")
        for name, r in rows:
            if "error" in r:
                print(f"{name:<44} {r['error']}")
                continue
            ratio = r["wall_s"] / dv["wall_s"] if "wall_s" in dv else float("nan")
            print(f"{name:<44} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {r['peak_mib']:9.0f} "
                  f"{ratio:10.1f}")
        if "error" in cl or "error" in dv:
            sys.exit(1)
        inner = json.loads(cl["stdout"].strip().splitlines()[-1])
        print(f"  cleanlab: reading + converting {inner['load_s']:.2f} s, "
              f"scoring {inner['compute_s']:.2f} s")
        import numpy as np
        import pandas as pd

        mine = pd.read_csv(d / "detview.csv").set_index("file_name")
        theirs = pd.read_csv(d / "cleanlab.csv").set_index("file_name")
        mine = mine.loc[theirs.index]
        diff = np.abs(mine["label_quality"].to_numpy() - theirs["label_quality"].to_numpy())
        print(f"max |detview - cleanlab| label_quality: {diff.max():.3g} over {len(diff):,} "
              "images")
        for c in COLS[1:]:
            if c in theirs.columns:
                bad = int((mine[c] != theirs[c]).sum())
                print(f"{c}: {'equal' if not bad else f'{bad} images differ'} "
                      f"(total {int(mine[c].sum()):,})")
        if "error" not in plain:  # CPU time: the steadier of the two on a shared machine
            lq_cpu = dv["cpu_s"] - plain["cpu_s"]
            share = (f"cleanlab's CPU / that = {cl['cpu_s'] / lq_cpu:.0f}x" if lq_cpu > 0.05
                     else "within the noise")
            print(f"  --label-quality itself (with - without): {lq_cpu:.2f} s CPU; {share}")
        print(f"speed-up: cleanlab / detview = {cl['wall_s'] / dv['wall_s']:.1f}x wall time, "
              f"{cl['cpu_s'] / dv['cpu_s']:.1f}x CPU time; peak memory {dv['peak_mib']:.0f} "
              f"vs {cl['peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
