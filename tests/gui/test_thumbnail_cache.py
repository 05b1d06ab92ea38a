"""The object grid's thumbnail disk cache has a size cap: least recently used files
(oldest modification time; a thumbnail read from the cache is touched) go first,
pruned on a background thread; the cap is a setting."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QSettings

from detview.gui.settings import AppSettings
from detview.gui.thumbnails import DEFAULT_CACHE_MB, Thumb, ThumbnailService, prune_cache


def _files(cache: Path) -> dict[str, tuple[int, int]]:
    """name -> (mtime_ns, size) of every cached thumbnail."""
    out = {}
    for sub in cache.iterdir():
        for f in (sub.iterdir() if sub.is_dir() else ()):
            if f.suffix == ".jpg":
                st = f.stat()
                out[str(f)] = (st.st_mtime_ns, st.st_size)
    return out


def test_prune_cache_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    cache = tmp_path / "c"
    rng = np.random.default_rng(0)
    sizes = rng.integers(200, 3000, 40).tolist()
    order = rng.permutation(40).tolist()  # the age of each file, shuffled against names
    for k, (size, age) in enumerate(zip(sizes, order, strict=True)):
        f = cache / f"{k % 7:02x}" / f"{k:032x}.jpg"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x" * size)
        t = 1_700_000_000 + age * 10
        os.utime(f, (t, t))
    (cache / "notes.txt").write_text("not a thumbnail")  # left alone
    before = _files(cache)
    total = sum(s for _t, s in before.values())
    assert prune_cache(cache, total + 1) == (0, 0)  # under the cap: nothing
    limit = total // 2
    removed, freed = prune_cache(cache, limit, keep=0.8)
    # oracle: oldest first until at most 80 % of the cap is left
    want_gone, left = [], total
    for name, (_t, size) in sorted(before.items(), key=lambda kv: kv[1][0]):
        if left <= int(limit * 0.8):
            break
        want_gone.append(name)
        left -= size
    after = _files(cache)
    assert sorted(set(before) - set(after)) == sorted(want_gone)
    assert (removed, freed) == (len(want_gone), total - left)
    assert sum(s for _t, s in after.values()) <= limit * 0.8
    assert (cache / "notes.txt").exists()
    assert prune_cache(tmp_path / "missing", 10) == (0, 0)


def _images(root: Path, n: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    rng = np.random.default_rng(1)
    for k in range(n):
        p = root / f"{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def test_the_service_prunes_off_the_gui_thread_and_keeps_recent_reads(
        qtbot: Any, tmp_path: Path) -> None:
    paths = _images(tmp_path / "img", 12)
    cache = tmp_path / "cache"
    thumbs = [Thumb(str(p), None, 96) for p in paths]
    svc = ThumbnailService(cache_dir=cache, workers=1, cache_limit=10**9)
    for t in thumbs:
        svc.get(t)
    qtbot.waitUntil(lambda: all(svc.get(t) is not None for t in thumbs), timeout=20000)
    svc.wait_pruned()
    svc.shutdown()
    files = _files(cache)
    assert len(files) == 12 and svc.pruned == [(0, 0)]  # under the cap: nothing removed
    one = max(s for _t, s in files.values())
    # every file made long ago, thumbnail 0's the oldest; then a new session reads it
    zero = str(svc._disk_path(thumbs[0]))
    for k, name in enumerate(sorted(files, key=lambda n: (n != zero, files[n][0]))):
        os.utime(name, (1_600_000_000 + k, 1_600_000_000 + k))
    seen: list[str] = []
    real = prune_cache

    def spy(cache_dir: Path, max_bytes: int, keep: float = 0.8) -> tuple[int, int]:
        seen.append(threading.current_thread().name)
        return real(cache_dir, max_bytes, keep)

    import detview.gui.thumbnails as mod

    limit = 4 * one
    old = mod.prune_cache
    mod.prune_cache = spy
    try:
        again = ThumbnailService(cache_dir=cache, workers=1, cache_limit=10**9)
        again.get(thumbs[0])  # starts the workers and a pruning (under the cap)
        qtbot.waitUntil(lambda: again.get(thumbs[0]) is not None, timeout=20000)
        again.wait_pruned()
        assert again.from_disk == 1 and again.decoded == 0
        again.cache_limit = limit  # a smaller cap: the next pruning removes files
        again._prune()
        again.wait_pruned()
        again.shutdown()
    finally:
        mod.prune_cache = old
    assert seen and all(n != threading.main_thread().name for n in seen)
    after = _files(cache)
    assert sum(s for _t, s in after.values()) <= limit
    assert zero in after  # the oldest file, but read last: kept
    # the others kept are the most recent ones (oracle: the mtimes set above)
    assert len(after) < 12 and all(n in files for n in after)
    ages = {n: k for k, n in enumerate(sorted(
        files, key=lambda n: (n != zero, files[n][0])))}
    kept = sorted(ages[n] for n in after if n != zero)
    assert kept == list(range(12 - len(kept), 12))
    assert len(after) < 12


def test_the_cap_is_a_setting(tmp_path: Path, monkeypatch: Any) -> None:
    st = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert st.thumbnail_cache_mb() == DEFAULT_CACHE_MB == 500
    st.set_thumbnail_cache_mb(64)
    assert st.thumbnail_cache_mb() == 64
    st.store.setValue("cache/thumbnails_mb", "lots")
    assert st.thumbnail_cache_mb() == DEFAULT_CACHE_MB
    st.store.setValue("cache/thumbnails_mb", 64)
    st.sync()
    monkeypatch.setenv("DETVIEW_SETTINGS", str(tmp_path / "s.ini"))
    assert ThumbnailService(cache_dir=tmp_path / "c").cache_limit == 64 * 1024 * 1024
