"""The experiment store: round trips, the worst-N query against a numpy oracle on 50
runs x 5,000 images, schema migration, refusal of foreign files, and a writer killed
half-way (SIGKILL) that leaves the store intact."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from detview.core.cocoeval import STAT_NAMES
from detview.io.errors import InputError
from detview.io.store import (
    IMAGE_METRICS,
    SCHEMA_VERSION,
    Store,
    dataset_fingerprint,
    default_store_path,
    find_git_commit,
    migrate,
)
from tests.conftest import REPO

from .store_helpers import synthetic_dataset, synthetic_run


def test_round_trip(tmp_path):
    ds = synthetic_dataset(300)
    rec = synthetic_run("r1", ds, seed=3)
    with Store(tmp_path / "s.sqlite") as st:
        st.add_run(rec)
        assert st.schema_version() == SCHEMA_VERSION and st.integrity_check() == "ok"
        info = st.get_run("r1")
        assert info.fingerprint == ds.fingerprint and info.n_images == 300
        for k in STAT_NAMES:
            assert info.summary[k] == rec.summary[k]
        assert info.params == {"lr0": 0.04, "hyp": {"mosaic": 1.0}}
        pd.testing.assert_frame_equal(info.per_class, rec.per_class, check_dtype=False)
        t = st.image_metrics("r1")
        assert t["file_name"].tolist() == ds.file_names
        for m in IMAGE_METRICS:
            if m in rec.images.columns:
                assert np.array_equal(t[m].to_numpy(), rec.images[m].to_numpy(dtype=float),
                                      equal_nan=True), m
            else:
                assert t[m].isna().all()
        assert t["deleted"].tolist() == rec.images["deleted"].tolist()
        with pytest.raises(InputError, match="already in the store"):
            st.add_run(rec)
        rec2 = synthetic_run("r1", ds, seed=4)
        st.add_run(rec2, replace=True)
        assert st.get_run("r1").summary["AP"] == rec2.summary["AP"]
        assert st.run_names() == ["r1"]
        st.rename_run("r1", "renamed")
        with pytest.raises(InputError, match=r"s.sqlite: run 'r1': no such run; runs: renamed"):
            st.get_run("r1")
        st.remove_run("renamed")
        assert st.list_runs().empty
        # the dataset went with its last run
        assert st._conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0


def test_fifty_runs_worst_against_numpy(tmp_path):
    ds = synthetic_dataset(5000)
    recs = [synthetic_run(f"run{k:02d}", ds, seed=k, created=f"2026-01-{1 + k % 28:02d}T00:00:"
                          f"{k:02d}+00:00") for k in range(50)]
    path = tmp_path / "big.sqlite"
    with Store(path) as st:
        for r in recs:
            st.add_run(r)
    with Store(path) as st:
        assert len(st.list_runs()) == 50
        # one copy of the image table, shared by the 50 runs
        assert st._conn.execute("SELECT count(*) FROM images").fetchone()[0] == 5000
        assert st._conn.execute("SELECT count(*) FROM image_metrics").fetchone()[0] == 250_000
        best = max(recs, key=lambda r: r.summary["AP"])
        assert st.resolve("best") == best.name
        assert st.resolve("latest") == "run49"
        for rec in (recs[0], recs[17], best):
            for metric in ("mean_iou", "ap", "tp", "fp", "fn", "label_quality"):
                got = st.worst(rec.name, metric, 100)
                t = rec.images[~rec.images["deleted"]]
                v = t[metric].to_numpy(dtype=float)
                higher = metric not in ("fp", "fn")
                key = np.where(np.isnan(v), np.inf, v if higher else -v)
                want = t.index.to_numpy()[np.lexsort((t.index.to_numpy(), key))][:100]
                assert got.index.tolist() == want.tolist(), (rec.name, metric)
                assert got["file_name"].tolist() == [ds.file_names[i] for i in want]
        got = st.worst("best", "mean_iou", 100)  # the --run best of the CLI
        assert got["mean_iou"].is_monotonic_increasing and len(got) == 100
        lst = st.list_runs(sort="AP")
        assert lst["name"].iloc[0] == best.name and lst["AP"].is_monotonic_decreasing
        assert st.list_runs(sort="AP", descending=False)["AP"].is_monotonic_increasing
        ot = st.over_time("AP")
        assert ot["best_so_far"].tolist() == pd.Series(
            [r.summary["AP"] for r in recs]).cummax().tolist()


def test_compare_against_loops(tmp_path):
    ds = synthetic_dataset(400)
    a, b = synthetic_run("a", ds, seed=1), synthetic_run("b", ds, seed=2)
    with Store(tmp_path / "s.sqlite") as st:
        st.add_run(a)
        st.add_run(b)
        cmp = st.compare("a", "b", metric="mean_iou", n=15)
    assert cmp.same_dataset
    deleted = a.images["deleted"].to_numpy() | b.images["deleted"].to_numpy()
    d = b.images["mean_iou"].to_numpy() - a.images["mean_iou"].to_numpy()
    cand = sorted((d[i], i) for i in range(400) if d[i] < 0 and not deleted[i])[:15]
    assert cmp.worse["file_name"].tolist() == [ds.file_names[i] for _, i in cand]
    assert np.allclose(cmp.worse["d_mean_iou"], [x for x, _ in cand])
    assert np.array_equal(cmp.images["d_fp"], b.images["fp"] - a.images["fp"])
    assert np.allclose(cmp.images["d_label_quality"],
                       b.images["label_quality"] - a.images["label_quality"])
    row = cmp.deltas.set_index("metric").loc["AP"]
    assert math.isclose(row["delta"], b.summary["AP"] - a.summary["AP"])
    assert row["better"] == ("B" if b.summary["AP"] > a.summary["AP"] else "A")


def test_log_curves_kept(tmp_path):
    from detview.io.trainlogs import parse_log

    log = parse_log(b"epoch,train/box_loss,metrics/mAP_0.5\n0,0.5,0.1\n1,0.4,0.2\n",
                    "exp/results.csv")
    rec = synthetic_run("r", synthetic_dataset(10), seed=0)
    rec.scalars, rec.log_path = log.scalars, log.path
    with Store(tmp_path / "s.sqlite") as st:
        st.add_run(rec)
        sc = st.scalars("r")
    assert sc["run"].eq("r").all()
    pd.testing.assert_frame_equal(sc.drop(columns="run"), log.scalars.drop(columns="run"))


def test_migration_from_schema_1(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, str(path), target=1)
    conn.execute("INSERT INTO datasets VALUES (1, 'abc', 1, 0, '[\"c\"]', NULL, NULL)")
    conn.execute("INSERT INTO images VALUES (1, 0, 'x.jpg')")
    conn.execute("INSERT INTO runs (name, created, dataset_id, score_threshold, iou_threshold,"
                 " AP) VALUES ('old', '2025-01-01T00:00:00+00:00', 1, 0.5, 0.5, 0.42)")
    conn.execute("INSERT INTO image_metrics (run_id, image, mean_iou) VALUES (1, 0, 0.3)")
    conn.close()
    with Store(path) as st:
        assert st.found_version == 1 and st.schema_version() == SCHEMA_VERSION
        info = st.get_run("old")
        assert info.summary["AP"] == 0.42 and info.log_path is None
        assert st.worst("old")["mean_iou"].tolist() == [0.3]
        assert st.scalars("old").empty
        st.add_run(synthetic_run("new", synthetic_dataset(5), seed=1))
        assert st.run_names() == ["old", "new"]


def test_foreign_files_refused(tmp_path):
    newer = tmp_path / "newer.sqlite"
    with Store(newer):
        pass
    c = sqlite3.connect(newer)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.commit()
    c.close()
    with pytest.raises(InputError, match="newer.sqlite: written by a newer detview"):
        Store(newer)
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(InputError, match="other.sqlite: an SQLite database, but not a detview"):
        Store(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(InputError, match="junk.sqlite: not a detview store"):
        Store(junk)
    with pytest.raises(InputError, match="is a folder"):
        Store(tmp_path)
    with pytest.raises(InputError, match="no such store"):
        Store(tmp_path / "absent.sqlite", create=False)


def test_default_location(tmp_path, monkeypatch):
    monkeypatch.setenv("DETVIEW_STORE", str(tmp_path / "env.sqlite"))
    assert default_store_path() == tmp_path / "env.sqlite"
    monkeypatch.delenv("DETVIEW_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_store_path() == tmp_path / "xdg" / "detview" / "runs.sqlite"


def test_fingerprint_depends_on_labels_only(tmp_path):
    from detview.core import Boxes, Classes, Dataset, Images

    def ds(order, shift=0.0):
        img = np.array([0, 0, 1])[order]
        xy = np.array([[1, 2, 30, 40], [5, 5, 9, 9], [0, 0, 10, 10.0]])[order] + shift
        return Dataset(Images(np.arange(2), ["a.jpg", "b.jpg"], [64, 64], [64, 64]),
                       Classes.from_names(["x", "y"]),
                       Boxes.build(2, img, np.array([0, 1, 1])[order], xy))

    base = dataset_fingerprint(ds([0, 1, 2]))
    assert dataset_fingerprint(ds([1, 0, 2])) == base  # box order does not matter
    assert dataset_fingerprint(ds([0, 1, 2], shift=1e-5)) == base  # float noise neither
    assert dataset_fingerprint(ds([0, 1, 2], shift=0.01)) != base


def test_git_commit_found(tmp_path):
    repo = tmp_path / "proj"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    sha = "0123456789abcdef0123456789abcdef01234567"
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")
    (repo / "runs").mkdir()
    assert find_git_commit(None, repo / "runs" / "preds.json") == sha
    (repo / ".git" / "refs" / "heads" / "main").unlink()
    other = "fedcba9876543210fedcba9876543210fedcba98"
    (repo / ".git" / "packed-refs").write_text(f"# pack-refs\n{other} refs/heads/main\n")
    assert find_git_commit(repo / "runs") == other
    real = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True)
    if real.returncode == 0:  # this checkout itself (a worktree: .git is a file)
        assert find_git_commit(REPO / "detview") == real.stdout.strip()


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from detview.io.store import Store
    from tests.io.store_helpers import synthetic_dataset, synthetic_run
    st = Store({path!r})
    rec = synthetic_run("victim", synthetic_dataset(60_000, seed=9), seed=9)
    def progress(done, total):
        if done >= total // 2:
            open({marker!r}, "w").write(str(done))
            time.sleep(120)
    st.add_run(rec, progress=progress)
""")


def test_sigkill_in_the_middle_of_add_leaves_store_intact(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.add_run(synthetic_run("before", synthetic_dataset(1000), seed=1))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT.format(
        repo=str(REPO), path=str(path), marker=str(marker))])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the writer ended before the kill"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # half of 60,000 rows are in the open transaction, some spilled to the WAL
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with Store(path) as st:
        assert st.integrity_check() == "ok"
        assert st.run_names() == ["before"]
        assert len(st.image_metrics("before")) == 1000
        n = st._conn.execute("SELECT count(*) FROM image_metrics").fetchone()[0]
        assert n == 1000  # nothing of the killed run
        st.add_run(synthetic_run("after", synthetic_dataset(10), seed=2))
        assert st.run_names() == ["before", "after"]


def test_cancel_through_progress_writes_nothing(tmp_path):
    from detview.io.errors import Cancelled

    with Store(tmp_path / "s.sqlite") as st:
        with pytest.raises(Cancelled):
            st.add_run(synthetic_run("x", synthetic_dataset(12000), seed=1),
                       progress=lambda done, total: done < 6000)
        assert st.run_names() == [] and st.integrity_check() == "ok"
