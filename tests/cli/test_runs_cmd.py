"""``detview runs``: three checkpoints of the demo's real YOLOv5s predictions (the real
file and two perturbed copies) stored and queried; COCO numbers checked against
pycocotools and per-image values against the plain-Python oracle of the eval tests."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detview.cli.main import main as cli_main
from detview.io.store import Store
from tests.conftest import REPO, RESOURCES

from .test_coco_eval_cmd import NAMES, demo_as_coco, pycoco
from .test_eval_cmd import oracle

DEMO = RESOURCES / "demo"
REAL_PREDS = DEMO / "predictions" / "yolov5s.json"


def perturbed(dets: list[dict], seed: int, sigma: float, drop: float) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for d in dets:
        if rng.random() < drop:
            continue
        x, y, w, h = d["bbox"]
        j = rng.normal(0, sigma, 4)
        out.append({**d, "bbox": [x + j[0], y + j[1], max(w + j[2], 1.0), max(h + j[3], 1.0)],
                    "score": float(d["score"] * rng.uniform(0.7, 1.0))})
    return out


_CACHE: dict = {}


def pycoco_stats(stored, step: int):
    """pycocotools' evaluation of one checkpoint (computed once per module)."""
    key = ("coco", step)
    if key not in _CACHE:
        _CACHE[key] = pycoco(demo_as_coco(), stored["dets"][step])
    return _CACHE[key]


def _oracle_rows(preds: Path) -> dict[str, dict]:
    key = ("oracle", str(preds))
    if key not in _CACHE:
        _CACHE[key] = oracle(DEMO / "images", DEMO / "labels", preds)
    return _CACHE[key]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli_main(argv)
    return rc, out.getvalue(), err.getvalue()


DATASET = ["--images", str(DEMO / "images"), "--gt", str(DEMO / "labels"),
           "--names", str(DEMO / "data.yaml")]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A store with preds_step100 (coarse), preds_step200 (closer), preds_step300 (real)."""
    d = tmp_path_factory.mktemp("runs")
    real = json.loads(REAL_PREDS.read_text())
    files = {100: perturbed(real, 1, 12.0, 0.3), 200: perturbed(real, 2, 3.0, 0.1), 300: real}
    paths = {}
    for step, dets in files.items():
        p = d / "ckpt" / f"preds_step{step}.json"
        p.parent.mkdir(exist_ok=True)
        p.write_text(json.dumps(dets))
        paths[step] = p
    (d / "params.yaml").write_text("lr0: 0.01\nepochs: 3\nmodel: yolov5s\n")
    log = d / "train" / "results.csv"
    log.parent.mkdir()
    log.write_text("epoch,train/box_loss,metrics/mAP_0.5\n0,0.5,0.3\n1,0.4,0.35\n2,0.3,0.4\n")
    store = d / "store.sqlite"
    for step, p in paths.items():
        extra = ["--params", str(d / "params.yaml"), "--log", str(log),
                 "--code-version", "abc123"] if step == 200 else []
        rc, _, err = run_cli(["runs", "add", *DATASET, "--pred", str(p), "--store", str(store),
                              *extra])
        assert rc == 0, err
        assert f"stored run 'preds_step{step}'" in err
    return {"store": store, "paths": paths, "dets": files, "dir": d}


def test_list_numbers_equal_pycocotools(stored):
    rc, out, err = run_cli(["runs", "list", "--store", str(stored["store"]), "--json"])
    assert rc == 0, err
    runs = json.loads(out)
    assert [r["name"] for r in runs] == ["preds_step100", "preds_step200", "preds_step300"]
    for r, step in zip(runs, (100, 200, 300), strict=True):
        ev = pycoco_stats(stored, step)
        for k, name in enumerate(NAMES):
            assert r[name] == pytest.approx(ev.stats[k], abs=1e-12), (step, name)
        assert (r["training"], r["step"], r["unit"]) == ("preds", step, "step")
    rc, out, _ = run_cli(["runs", "list", "--store", str(stored["store"]), "--sort", "AP",
                          "--csv"])
    df = pd.read_csv(io.StringIO(out))
    assert df["AP"].is_monotonic_decreasing and df["name"].iloc[0] == "preds_step300"
    rc, out, _ = run_cli(["runs", "list", "--store", str(stored["store"])])
    assert out.splitlines()[0].split()[:4] == ["name", "created", "dataset", "AP"]
    assert len(out.splitlines()) == 4


def test_show(stored):
    rc, out, err = run_cli(["runs", "show", "preds_step200", "--store", str(stored["store"]),
                            "--json"])
    assert rc == 0, err
    d = json.loads(out)
    p = stored["paths"][200]
    assert d["pred_hash"] == hashlib.sha256(p.read_bytes()).hexdigest()
    assert d["pred_path"] == str(p) and d["code_version"] == "abc123"
    assert d["params"]["lr0"] == 0.01 and d["params"]["results.csv"]["layout"]
    assert d["training"] == "preds" and d["step"] == 200
    assert len(d["fingerprint"]) == 64
    # per-class AP: pycocotools' precision averaged per category
    ev = pycoco_stats(stored, 200)
    prec = ev.eval["precision"][:, :, :, 0, -1]
    cat_ids = ev.params.catIds
    by_cls = {r["cls"]: r for r in d["per_class"]}
    for k, cid in enumerate(cat_ids):
        s = prec[:, :, k]
        ref = float(np.mean(s[s > -1])) if (s > -1).any() else -1.0
        assert by_cls[cid]["AP"] == pytest.approx(ref, abs=1e-12) or (
            ref == -1.0 and by_cls[cid]["AP"] in (-1.0, None))
    with Store(stored["store"]) as st:
        sc = st.scalars("preds_step200")
    assert sc.loc[sc["tag"] == "metrics/mAP_0.5", "value"].tolist() == [0.3, 0.35, 0.4]
    rc, out, _ = run_cli(["runs", "show", "best", "--store", str(stored["store"])])
    assert out.startswith("run        preds_step300")
    assert "COCO (all predictions): AP" in out and "per class (AP ascending" in out


def test_worst_equals_oracle(stored):
    rc, out, err = run_cli(["runs", "worst", "--metric", "mean_iou", "-n", "12", "--run",
                            "best", "--store", str(stored["store"]), "--json"])
    assert rc == 0, err
    got = json.loads(out)
    ref = _oracle_rows(stored["paths"][300])
    assert len(got) == 12
    for r in got:
        assert r["mean_iou"] == pytest.approx(ref[r["file_name"]]["mean_iou"], abs=1e-9)
        assert (r["tp"], r["fp"], r["fn"]) == tuple(ref[r["file_name"]][k]
                                                    for k in ("tp", "fp", "fn"))
    want = sorted(v["mean_iou"] for v in ref.values())[:12]
    assert [r["mean_iou"] for r in got] == pytest.approx(want, abs=1e-9)
    rc, out, _ = run_cli(["runs", "worst", "--metric", "fp", "-n", "5", "--run",
                          "preds_step100", "--store", str(stored["store"]), "--csv"])
    df = pd.read_csv(io.StringIO(out))
    ref = _oracle_rows(stored["paths"][100])
    assert df["fp"].tolist() == sorted((v["fp"] for v in ref.values()), reverse=True)[:5]


def test_compare_equals_oracle(stored):
    rc, out, err = run_cli(["runs", "compare", "preds_step300", "preds_step100", "-n", "8",
                            "--store", str(stored["store"]), "--json"])
    assert rc == 0, err
    d = json.loads(out)
    assert d["same_dataset"] is True
    a, b = _oracle_rows(stored["paths"][300]), _oracle_rows(stored["paths"][100])
    drops = sorted((b[f]["mean_iou"] - a[f]["mean_iou"], f) for f in a
                   if b[f]["mean_iou"] < a[f]["mean_iou"])
    got = d["most_worse"]
    assert [r["d_mean_iou"] for r in got] == pytest.approx([x for x, _ in drops[:8]], abs=1e-9)
    for r in got:
        f = r["file_name"]
        assert r["d_fp"] == b[f]["fp"] - a[f]["fp"] and r["d_tp"] == b[f]["tp"] - a[f]["tp"]
    ap_a = pycoco_stats(stored, 300).stats[0]
    ap_b = pycoco_stats(stored, 100).stats[0]
    row = next(x for x in d["deltas"] if x["metric"] == "AP")
    assert row["delta"] == pytest.approx(ap_b - ap_a, abs=1e-12) and row["better"] == "A"
    rc, out, _ = run_cli(["runs", "compare", "preds_step300", "preds_step100",
                          "--store", str(stored["store"])])
    assert "images that got most worse by mean_iou" in out and "better" in out


def test_checkpoint_differences_against_per_run_tables(stored):
    """The three checkpoints loaded as runs of one dataset: grouped into one training
    with its steps in order, and the difference columns equal to the per-run tables
    subtracted."""
    from detview.core.checkpoints import group_checkpoints
    from detview.core.compare import image_differences, most_worse
    from detview.core.metrics import MetricParams, PerImageMetrics
    from detview.io.spec import DatasetSpec, load_spec

    paths = stored["paths"]
    spec = DatasetSpec.make(images=DEMO / "images", gt=DEMO / "labels",
                            class_names=DEMO / "data.yaml",
                            preds=[(None, paths[s]) for s in (300, 100, 200)])
    ds = load_spec(spec).dataset
    trainings, plain = group_checkpoints([(n, p) for n, (_, p) in zip(ds.runs, spec.preds,
                                                                     strict=True)])
    assert plain == [] and len(trainings) == 1
    t = trainings[0]
    assert t.steps == (100, 200, 300)
    assert t.runs == ("preds_step100", "preds_step200", "preds_step300")
    tables = {s: PerImageMetrics(ds, t.run_at(s), MetricParams()).table() for s in t.steps}
    ref = {s: _oracle_rows(paths[s]) for s in t.steps}
    for s in t.steps:  # the per-run tables themselves against the oracle
        for r in tables[s].itertuples():
            assert r.mean_iou == pytest.approx(ref[s][r.file_name]["mean_iou"], abs=1e-9)
    d = image_differences(tables[200], tables[300], key=None)
    for c in ("mean_iou", "tp", "fp", "fn"):
        assert np.array_equal(d[f"d_{c}"].to_numpy(),
                              tables[300][c].to_numpy(float) - tables[200][c].to_numpy(float))
    w = most_worse(d, "fn", 5)
    assert (w["d_fn"] > 0).all() and w["d_fn"].is_monotonic_decreasing


@pytest.mark.parametrize("argv, needle", [
    (["runs", "show", "nope"], "run 'nope': no such run; runs: preds_step100"),
    (["runs", "worst", "--metric", "n_pred"], "'n_pred' is neither better high nor low"),
    (["runs", "worst", "--metric", "bogus"], "unknown per-image metric 'bogus'"),
    (["runs", "list", "--sort", "bogus"], "unknown metric 'bogus'"),
    (["runs", "compare", "preds_step100", "nope"], "run 'nope': no such run"),
])
def test_errors_are_one_line(stored, argv, needle):
    rc, out, err = run_cli([*argv, "--store", str(stored["store"])])
    assert rc == 2 and needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_add_errors(stored, tmp_path):
    store = ["--store", str(stored["store"])]
    p = str(stored["paths"][300])
    rc, _, err = run_cli(["runs", "add", *DATASET, "--pred", p, *store])
    assert rc == 2 and "run 'preds_step300': already in the store" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [2\n")
    rc, _, err = run_cli(["runs", "add", *DATASET, "--pred", p, "--name", "x", "--params",
                          str(bad), *store])
    assert rc == 2 and f"{bad}: line" in err and "not valid YAML" in err
    rc, _, err = run_cli(["runs", "add", *DATASET, "--pred", p, "--pred", p, *store])
    assert rc == 2 and "exactly one --pred" in err
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 200)
    rc, _, err = run_cli(["runs", "list", "--store", str(junk)])
    assert rc == 2 and f"{junk}: not a detview store" in err
    rc, _, err = run_cli(["runs", "add", *DATASET, "--pred", p, "--name", "y", "--log",
                          str(tmp_path / "missing.csv"), *store])
    assert rc == 2 and "missing.csv: file not found" in err


def test_kill_runs_add_process_at_random_moments(tmp_path):
    """``detview runs add`` killed (SIGKILL) at several moments: the store stays sound and
    holds each run whole or not at all."""
    store = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "detview", "runs", "add", *DATASET, "--pred",
           str(REAL_PREDS), "--store", str(store)]
    t0 = time.monotonic()
    rc = subprocess.run(cmd + ["--name", "first"], env=env, capture_output=True, timeout=120)
    full = time.monotonic() - t0
    assert rc.returncode == 0, rc.stderr
    rng = np.random.default_rng(0)
    for k, frac in enumerate(sorted(rng.uniform(0.5, 1.0, 3))):
        proc = subprocess.Popen(cmd + ["--name", f"killed{k}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * frac)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        with Store(store) as st:
            assert st.integrity_check() == "ok"
            names = st.run_names()
            assert names[0] == "first"
            for n in names:
                t = st.image_metrics(n)
                assert len(t) == 40 and not math.isnan(st.get_run(n).summary["AP"])
                assert len(st.get_run(n).per_class) == 80


def test_pred_name_at_step(tmp_path):
    store = tmp_path / "s.sqlite"
    rc, _, err = run_cli(["runs", "add", *DATASET, "--pred", f"yolo@epoch7={REAL_PREDS}",
                          "--store", str(store), "--notes", "first try"])
    assert rc == 0 and "stored run 'yolo@epoch7'" in err and "epoch 7 of 'yolo'" in err
    with Store(store) as st:
        info = st.get_run("yolo@epoch7")
    assert (info.training, info.step, info.unit, info.notes) == ("yolo", 7, "epoch",
                                                                 "first try")
