"""Benchmark: COCO bbox evaluation, from two json files to the 12 numbers.

Generates a seeded COCO-val-sized data set (5,000 images, 80 classes, ~36k ground-truth
boxes incl. crowd, up to 100 predictions per image, ~280k predictions) as two json
files (and with ``--large`` a 50,000-image one), then times, each in its own
subprocess (peak memory = ``ru_maxrss`` of that process):

* ``detview``: orjson parse + vectorised table build + :func:`detview.core.cocoeval.evaluate`
  (plus the incremental one-image re-evaluation);
* ``detview-io``: the same through ``detview.io.load_dataset`` (when it loads the files);
* ``pycocotools`` and ``faster-coco-eval`` (skipped with a message when not installed).

Usage::

    python benchmarks/bench_coco_eval.py [--large] [--only detview,pycocotools] [--dir DIR]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
TOOLS = ("detview", "detview-io", "faster-coco-eval", "pycocotools")


# --------------------------------------------------------------------------- data
def generate(n_images: int, seed: int = 0) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A seeded COCO-like gt dict and results list (COCO-val statistics, roughly).

    80 classes with a skewed frequency (the first ~ a fifth of the boxes), sparse
    category ids (1..90 as COCO), ~7.2 boxes per image, box sizes spread over the
    small/medium/large buckets, 1.8 % crowd, mask-like ``area`` fields, detections
    around the ground truth (jittered, duplicated, some with the wrong class) plus
    background ones, at most 100 per image, scores rounded to 5 decimals (ties).
    """
    rng = np.random.default_rng(seed)
    cat_ids = np.array([c for c in range(1, 91) if c not in {12, 26, 29, 30, 45, 66, 68, 69,
                                                             71, 83}])  # fmt: skip
    k = cat_ids.shape[0]
    wk = 1.0 / (np.arange(k) + 1.0)
    wk /= wk.sum()
    img_ids = rng.choice(np.arange(1, 12 * n_images), n_images, replace=False)
    widths = rng.choice([640, 500, 480, 427], n_images)
    heights = rng.choice([480, 375, 640, 333], n_images)
    n_gt = np.minimum(rng.poisson(7.2, n_images), 60)
    g_img = np.repeat(np.arange(n_images), n_gt)
    n_g = g_img.shape[0]

    def boxes(img: np.ndarray, side: np.ndarray) -> np.ndarray:
        ar = np.exp(rng.normal(0, 0.5, img.shape[0]))
        w = np.minimum(side * np.sqrt(ar), widths[img] - 1)
        h = np.minimum(side / np.sqrt(ar), heights[img] - 1)
        x = rng.uniform(0, 1, img.shape[0]) * (widths[img] - w)
        y = rng.uniform(0, 1, img.shape[0]) * (heights[img] - h)
        return np.round(np.stack([x, y, np.maximum(w, 1), np.maximum(h, 1)], 1), 2)

    g_box = boxes(g_img, np.exp(rng.normal(np.log(45), 1.0, n_g)))
    g_cls = rng.choice(k, n_g, p=wk)
    g_crowd = rng.random(n_g) < 0.018
    g_area = np.round(g_box[:, 2] * g_box[:, 3] * rng.uniform(0.45, 0.95, n_g), 2)

    # detections: 0-4 per gt box (jittered), plus background, capped at 100 per image
    per = rng.choice(5, n_g, p=[0.15, 0.35, 0.25, 0.15, 0.10])
    src = np.repeat(np.arange(n_g), per)
    jit = rng.normal(0, 1, (src.shape[0], 4)) * rng.choice([0.04, 0.1, 0.25], src.shape[0])[:, None]
    b = g_box[src]
    tb = np.stack([b[:, 0] + jit[:, 0] * b[:, 2], b[:, 1] + jit[:, 1] * b[:, 3],
                   b[:, 2] * np.exp(jit[:, 2]), b[:, 3] * np.exp(jit[:, 3])], 1)  # fmt: skip
    tcls = np.where(rng.random(src.shape[0]) < 0.1, rng.choice(k, src.shape[0], p=wk), g_cls[src])
    tscore = rng.beta(4, 2, src.shape[0])
    n_bg = rng.poisson(44, n_images)
    bimg = np.repeat(np.arange(n_images), n_bg)
    bb = boxes(bimg, np.exp(rng.normal(np.log(40), 1.0, bimg.shape[0])))
    bcls = rng.choice(k, bimg.shape[0], p=wk)
    bscore = rng.beta(1, 5, bimg.shape[0])
    d_img = np.concatenate([g_img[src], bimg])
    d_box = np.round(np.concatenate([tb, bb]), 2)
    d_box[:, 2:] = np.maximum(d_box[:, 2:], 1.0)
    d_cls = np.concatenate([tcls, bcls])
    d_score = np.round(np.maximum(np.concatenate([tscore, bscore]), 1e-5), 5)
    order = np.lexsort((-d_score, d_img))
    d_img, d_box, d_cls, d_score = d_img[order], d_box[order], d_cls[order], d_score[order]
    first = np.searchsorted(d_img, np.arange(n_images))
    rank = np.arange(d_img.shape[0]) - first[d_img]
    keep = rank < 100
    d_img, d_box, d_cls, d_score = d_img[keep], d_box[keep], d_cls[keep], d_score[keep]
    shuffle = rng.permutation(n_images)  # images not in id order in the file
    images = [{"id": int(img_ids[i]), "width": int(widths[i]), "height": int(heights[i]),
               "file_name": f"{int(img_ids[i]):012d}.jpg"} for i in shuffle.tolist()]  # fmt: skip
    cats = [{"id": int(c), "name": f"class{c}", "supercategory": "x"} for c in cat_ids.tolist()]
    gb = g_box.tolist()
    ga = g_area.tolist()
    gi = img_ids[g_img].tolist()
    gc = cat_ids[g_cls].tolist()
    gcr = g_crowd.astype(int).tolist()
    anns = [{"id": j + 1, "image_id": gi[j], "category_id": gc[j], "bbox": gb[j],
             "area": ga[j], "iscrowd": gcr[j]} for j in range(n_g)]  # fmt: skip
    di = img_ids[d_img].tolist()
    dc = cat_ids[d_cls].tolist()
    db = d_box.tolist()
    ds = d_score.tolist()
    dets = [{"image_id": di[j], "category_id": dc[j], "bbox": db[j], "score": ds[j]}
            for j in range(len(di))]  # fmt: skip
    return {"images": images, "annotations": anns, "categories": cats}, dets


def write_files(directory: Path, n_images: int) -> tuple[Path, Path]:
    import orjson

    gt_p = directory / f"bench_gt_{n_images}.json"
    dt_p = directory / f"bench_dets_{n_images}.json"
    if not (gt_p.exists() and dt_p.exists()):
        gt, dets = generate(n_images)
        gt_p.write_bytes(orjson.dumps(gt))
        dt_p.write_bytes(orjson.dumps(dets))
    return gt_p, dt_p


# --------------------------------------------------------------------------- detview
def _load_coco_fast(gt_path: Path, dt_path: Path) -> dict[str, Any]:
    """orjson + vectorised numpy: Boxes for gt and dets, image ids, class count."""

    gc_was_on = gc.isenabled()
    gc.disable()  # the parse makes ~10 objects per box: the cyclic GC only slows it down
    try:
        return _load_coco_fast_nogc(gt_path, dt_path)
    finally:
        if gc_was_on:
            gc.enable()


def _load_coco_fast_nogc(gt_path: Path, dt_path: Path) -> dict[str, Any]:
    import orjson

    from detview.core.tables import Boxes

    gt = orjson.loads(gt_path.read_bytes())
    img_ids = np.fromiter((im["id"] for im in gt["images"]), np.int64, len(gt["images"]))
    sort = np.argsort(img_ids)
    sorted_ids = img_ids[sort]
    cat_ids = np.sort(np.fromiter((c["id"] for c in gt["categories"]), np.int64))
    cat_lut = np.full(int(cat_ids.max()) + 2, -1, np.int64)
    cat_lut[cat_ids] = np.arange(cat_ids.shape[0])
    n = img_ids.shape[0]

    def image_index(ids: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(sorted_ids, ids), n - 1)
        if np.any(sorted_ids[pos] != ids):
            raise ValueError("annotation on an unknown image")
        return sort[pos]

    def cls_index(ids: np.ndarray) -> np.ndarray:
        ok = (ids >= 0) & (ids < cat_lut.shape[0])
        return np.where(ok, cat_lut[np.where(ok, ids, 0)], -1)

    anns = gt["annotations"]
    m = len(anns)
    bb = np.array([a["bbox"] for a in anns], np.float64).reshape(m, 4)
    bb[:, 2:] += bb[:, :2]
    g = Boxes.build(
        n,
        image_index(np.fromiter((a["image_id"] for a in anns), np.int64, m)),
        cls_index(np.fromiter((a["category_id"] for a in anns), np.int64, m)),
        bb,
        iscrowd=np.fromiter((a.get("iscrowd", 0) for a in anns), np.int64, m).astype(bool),
        area=np.fromiter((a.get("area", np.nan) for a in anns), np.float64, m),
        box_id=np.fromiter((a["id"] for a in anns), np.int64, m),
    )
    del gt, anns
    parts = [_det_columns(chunk) for chunk in _json_array_chunks(dt_path.read_bytes())]
    img_c, cat_c, bb, score = (np.concatenate(c) for c in zip(*parts, strict=True))
    area = bb[:, 2] * bb[:, 3]  # pycocotools' detection area, bit for bit
    bb[:, 2:] += bb[:, :2]
    d = Boxes.build(n, image_index(img_c), cls_index(cat_c), bb, score=score, area=area)
    return {"gt": g, "dets": d, "n_classes": int(cat_ids.shape[0]), "image_ids": img_ids}


def _json_array_chunks(data: bytes, per_chunk: int = 200_000) -> Iterator[list[Any]]:
    """Parse a top-level JSON array of objects in pieces (bounds the peak of Python objects).

    Splits after every ``per_chunk``-th top-level ``}`` found by brace depth (COCO result
    objects hold no braces inside strings); a piece that fails to parse makes the whole
    array parse in one go instead.
    """
    import orjson

    b = np.frombuffer(data, np.uint8)
    step = 1 << 24  # scan 16 MiB at a time: no full-size temporaries
    pos = np.concatenate(
        [
            np.flatnonzero((b[i : i + step] == ord("{")) | (b[i : i + step] == ord("}"))) + i
            for i in range(0, b.shape[0], step)
        ]
    )
    depth = np.cumsum(np.where(b[pos] == ord("{"), 1, -1))
    ends = pos[depth == 0]
    del b, pos, depth
    if ends.size == 0:
        yield orjson.loads(data)
        return
    cuts = ends[per_chunk - 1 :: per_chunk].tolist()
    if not cuts or cuts[-1] != int(ends[-1]):
        cuts.append(int(ends[-1]))
    pieces = []
    start = 0
    for c in cuts:
        pieces.append(b"[" + data[start : c + 1].lstrip(b" \t\r\n[,") + b"]")
        start = c + 1
    try:
        first = orjson.loads(pieces[0])
    except orjson.JSONDecodeError:
        yield orjson.loads(data)
        return
    yield first
    for i in range(1, len(pieces)):
        piece, pieces[i] = pieces[i], b""
        yield orjson.loads(piece)


def _det_columns(dets: list[Any]) -> tuple[np.ndarray, ...]:
    m = len(dets)
    return (
        np.fromiter((a["image_id"] for a in dets), np.int64, m),
        np.fromiter((a["category_id"] for a in dets), np.int64, m),
        np.array([a["bbox"] for a in dets], np.float64).reshape(m, 4),
        np.fromiter((a["score"] for a in dets), np.float64, m),
    )


def run_detview(gt_path: Path, dt_path: Path, via_io: bool) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from detview.core.cocoeval import COCOEvaluator

    t0 = time.perf_counter()
    if via_io:
        from detview.io.loader import load_dataset

        ds = load_dataset(None, gt_path, [("dets", dt_path)], pred_class_map="ids").dataset
        data = {"gt": ds.gt, "dets": ds.runs["dets"], "n_classes": len(ds.classes),
                "image_ids": ds.images.ids}  # fmt: skip
    else:
        data = _load_coco_fast(gt_path, dt_path)
    t1 = time.perf_counter()
    ev = COCOEvaluator(data["gt"], data["dets"], data["n_classes"], image_ids=data["image_ids"])
    res = ev.result()
    t2 = time.perf_counter()
    out: dict[str, Any] = {"load_s": t1 - t0, "eval_s": t2 - t1, "total_s": t2 - t0}
    out["peak_mib"] = _maxrss_mib()  # files -> 12 numbers; the extras below may add to it
    out["stats"] = res.as_dict()
    # incremental: move one ground-truth box on an image with boxes, re-evaluate
    g = data["gt"]
    rng = np.random.default_rng(1)
    with_boxes = np.flatnonzero(np.diff(g.offsets) > 0)
    times = []
    for _ in range(30):
        i = int(rng.choice(with_boxes))
        row = int(g.offsets[i])
        g.xyxy[row] += 3.0
        g.area[row] = np.nan
        t = time.perf_counter()
        ev.update_images([i])
        times.append(time.perf_counter() - t)
    out["update_ms_median"] = 1000 * float(np.median(times))
    out["update_ms_max"] = 1000 * float(np.max(times))
    from detview.core.tide import confusion_matrix, tide_errors

    t = time.perf_counter()
    ev.per_image_ap()
    out["per_image_ap_s"] = time.perf_counter() - t
    t = time.perf_counter()
    tide_errors(data["gt"], data["dets"], data["n_classes"])
    out["tide_s"] = time.perf_counter() - t
    t = time.perf_counter()
    confusion_matrix(data["gt"], data["dets"], data["n_classes"])
    out["confusion_s"] = time.perf_counter() - t
    return out


def run_pycocotools(gt_path: Path, dt_path: Path, fast: bool) -> dict[str, Any]:
    import contextlib
    import io

    if fast:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO(str(gt_path))
        cd = cg.loadRes(str(dt_path))
        t1 = time.perf_counter()
        ev = COCOeval(cg, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    t2 = time.perf_counter()
    return {"load_s": t1 - t0, "eval_s": t2 - t1, "total_s": t2 - t0,
            "stats": dict(zip(STATS, [float(x) for x in ev.stats], strict=True))}  # fmt: skip


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(tool: str, gt_path: Path, dt_path: Path) -> None:
    if tool in ("detview", "detview-io"):
        out = run_detview(gt_path, dt_path, tool == "detview-io")
    else:
        out = run_pycocotools(gt_path, dt_path, tool == "faster-coco-eval")
    out.setdefault("peak_mib", _maxrss_mib())
    out["peak_mib_all"] = _maxrss_mib()
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")


# --------------------------------------------------------------------------- driver
def _installed(tool: str) -> bool:
    import importlib.util

    mod = {"pycocotools": "pycocotools", "faster-coco-eval": "faster_coco_eval"}.get(tool)
    return mod is None or importlib.util.find_spec(mod) is not None


def measure(tool: str, gt_path: Path, dt_path: Path, timeout: float) -> dict[str, Any] | str:
    if not _installed(tool):
        return f"{tool} is not installed: skipped"
    cmd = [sys.executable, __file__, "--child", tool, str(gt_path), str(dt_path)]
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{tool}: timed out after {timeout:.0f} s"
    for line in cp.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return f"{tool} failed: {cp.stderr.strip().splitlines()[-1:] or cp.returncode}"


def report(label: str, results: dict[str, dict[str, Any] | str]) -> None:
    print(f"\n== {label}")
    ok = {k: v for k, v in results.items() if isinstance(v, dict)}
    base = ok.get("detview")
    print(f"{'tool':<18}{'load s':>9}{'eval s':>9}{'total s':>9}{'x detview':>11}"
          f"{'peak MiB':>10}{'max |dstat|':>13}"
          "  (dstat vs pycocotools, else faster-coco-eval)")  # fmt: skip
    for tool, r in results.items():
        if isinstance(r, str):
            print(f"{tool:<18}{r}")
            continue
        ratio = r["total_s"] / base["total_s"] if base else float("nan")
        ref = ok.get("pycocotools") or ok.get("faster-coco-eval")
        diff = max(abs(r["stats"][s] - ref["stats"][s]) for s in STATS) if ref else float("nan")
        print(f"{tool:<18}{r['load_s']:>9.2f}{r['eval_s']:>9.2f}{r['total_s']:>9.2f}"
              f"{ratio:>11.2f}{r['peak_mib']:>10.0f}{diff:>13.1e}")  # fmt: skip
    if base:
        print(
            f"detview one-image re-evaluation: median {base['update_ms_median']:.1f} ms, "
            f"max {base['update_ms_max']:.1f} ms (30 edits)"
        )
        print(
            f"detview per-image AP {base['per_image_ap_s']:.2f} s, TIDE errors + dAP "
            f"{base['tide_s']:.2f} s, confusion matrix {base['confusion_s']:.2f} s "
            f"(peak with these {base.get('peak_mib_all', float('nan')):.0f} MiB)"
        )
        st = base["stats"]
        print(f"detview AP={st['AP']:.4f} AP50={st['AP50']:.4f} AR100={st['AR100']:.4f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true", help="also the 50,000-image set")
    ap.add_argument("--only", default=",".join(TOOLS), help="comma-separated tools")
    ap.add_argument(
        "--large-only",
        default="detview,faster-coco-eval",
        help="tools for the large set (pycocotools takes ~12 min there)",
    )
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "detview_bench"))
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--child", nargs=3, metavar=("TOOL", "GT", "DETS"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        child(a.child[0], Path(a.child[1]), Path(a.child[2]))
        return 0
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {os.cpu_count()} cpus")
    sets = [(5000, a.only)] + ([(50000, a.large_only)] if a.large else [])
    for n, tools in sets:
        t = time.perf_counter()
        gt_p, dt_p = write_files(d, n)
        print(
            f"data {n} images: {gt_p.stat().st_size / 2**20:.0f} + "
            f"{dt_p.stat().st_size / 2**20:.0f} MiB ({time.perf_counter() - t:.0f} s to make)"
        )
        res = {tool: measure(tool, gt_p, dt_p, a.timeout) for tool in tools.split(",") if tool}
        report(f"{n} images", res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
