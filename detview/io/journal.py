"""The edit journal: every edit is on disk the moment it is made.

One SQLite file per opened dataset, in ``.detview/`` beside the dataset (or in the
user's data directory when that folder is read-only). The journal is an append-only
sink of the session's history (:mod:`detview.session.history`): each row is one
operation, ``do`` (a new edit, which clears the redo list), ``undo``, ``redo``, or
``clean`` (the state after N steps was exported; N is stored with the row, since an
export finishes after edits made while it ran). Replaying the rows gives back the
applied edits, the redo list and the clean mark exactly, so a session killed at any
moment (kill -9, power cut) is restored with its undo history. SQLite commits each row
with ``synchronous=FULL``. Whether to restore is the session's policy
(:mod:`detview.session.recovery`), not the journal's.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detview.core.edits import Edit, edit_from_json

__all__ = ["Journal", "JournalState", "archive_name", "journal_path_for", "replay_ops",
           "source_key"]

OPS = ("do", "undo", "redo", "clean")


def _user_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "detview" / "journals"


def source_key(spec: dict[str, Any]) -> str:
    """A short stable key for a dataset's sources (absolute paths and options)."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def journal_path_for(spec: dict[str, Any], dataset_dir: Path | None) -> Path:
    """Where the journal of this dataset lives: ``<dataset_dir>/.detview/`` when that
    folder is writable, else the user's data directory."""
    name = f"journal-{source_key(spec)}.sqlite"
    if dataset_dir is not None:
        folder = Path(dataset_dir) / ".detview"
        try:
            folder.mkdir(exist_ok=True)
            probe = folder / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
            return folder / name
        except OSError:
            pass
    folder = _user_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


@dataclass(frozen=True)
class JournalState:
    """The undo history a journal describes."""

    done: tuple[Edit, ...]  # applied, oldest first
    undone: tuple[Edit, ...]  # redo list, next redo first
    clean_index: int | None  # len(done) when last exported, None if never / lost
    n_ops: int
    # ``{"time": ..., "user": ...}`` of the "do" row of each edit in ``done`` / ``undone``
    done_meta: tuple[dict[str, Any], ...] = ()
    undone_meta: tuple[dict[str, Any], ...] = ()


def replay_ops(ops: Sequence[tuple[str, Edit | int | None]],
               meta: Sequence[dict[str, Any]] | None = None) -> JournalState:
    """The undo history the rows describe; ``meta[k]`` (time, user) of row k is carried
    along with the edit of each "do" row. A "clean" row carries the number of applied
    steps that was exported (None: as many as applied then)."""
    done: list[tuple[Edit, dict[str, Any]]] = []
    redo: list[tuple[Edit, dict[str, Any]]] = []  # stack: last element = next redo
    clean: int | None = None
    for k, (op, edit) in enumerate(ops):
        if op == "do":
            if not isinstance(edit, Edit):
                raise ValueError(f"journal row {k + 1}: 'do' without an edit")
            done.append((edit, dict(meta[k]) if meta is not None else {}))
            redo.clear()
            if clean is not None and clean >= len(done):
                clean = None  # the clean state can no longer be reached
        elif op == "undo" and done:
            redo.append(done.pop())
        elif op == "redo" and redo:
            done.append(redo.pop())
        elif op == "clean":
            clean = edit if isinstance(edit, int) else len(done)
            if clean > len(done) + len(redo):
                clean = None
    undone = list(reversed(redo))
    return JournalState(tuple(e for e, _ in done), tuple(e for e, _ in undone), clean,
                        len(ops), tuple(m for _, m in done), tuple(m for _, m in undone))


def archive_name(path: Path) -> Path:
    """A new name beside ``path`` for setting a journal aside: ``<stem>.<time>.old``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = path.with_name(f"{path.stem}.{stamp}.old")
    k = 1
    while dest.exists():
        dest = path.with_name(f"{path.stem}.{stamp}-{k}.old")
        k += 1
    return dest


def _payload(op: str, text: str | None, k: int) -> Edit | int | None:
    if text is None:
        return None
    obj = json.loads(text)
    if op == "clean":
        return int(obj["clean_index"]) if isinstance(obj, dict) and "clean_index" in obj else None
    try:
        return edit_from_json(obj)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"journal row {k + 1}: bad edit record: {exc}") from None


class Journal:
    """Append-only journal of undo-history operations in an SQLite file."""

    def __init__(self, path: str | Path, spec: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=5)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "op TEXT NOT NULL, edit TEXT, time REAL NOT NULL, user TEXT)"
        )
        if spec is not None:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('spec', ?)",
                             (json.dumps(spec, sort_keys=True, default=str),))
        try:
            self._user = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name on this system
            self._user = ""

    def close(self) -> None:
        self._db.close()

    def spec(self) -> dict[str, Any] | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
        return None if row is None else json.loads(row[0])

    @property
    def user(self) -> str:
        return self._user

    def _row(self, op: str, edit: Edit | int | None, when: float | None,
             user: str | None) -> tuple[str, str | None, float, str]:
        if op not in OPS:
            raise ValueError(f"unknown journal op {op!r}")
        if isinstance(edit, Edit):
            payload: str | None = json.dumps(edit.to_json())
        elif edit is not None:  # a clean row: the exported position
            payload = json.dumps({"clean_index": int(edit)})
        else:
            payload = None
        return (op, payload, time.time() if when is None else float(when),
                self._user if user is None else user)

    def append(self, op: str, edit: Edit | int | None = None, when: float | None = None,
               user: str | None = None) -> None:
        """One row, committed at once. ``when``/``user`` default to now / this user;
        ``edit`` is the record of a "do" row, the exported position of a "clean" row."""
        self._db.execute("INSERT INTO ops (op, edit, time, user) VALUES (?, ?, ?, ?)",
                         self._row(op, edit, when, user))

    def append_many(self, rows: Sequence[tuple[str, Edit | int | None, float | None,
                                               str | None]]) -> None:
        """Several rows (op, edit, when, user) in one transaction: all or none on disk."""
        values = [self._row(*r) for r in rows]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO ops (op, edit, time, user) VALUES (?, ?, ?, ?)",
                                 values)

    def ops(self) -> list[tuple[str, Edit | int | None]]:
        rows = self._db.execute("SELECT op, edit FROM ops ORDER BY seq").fetchall()
        return [(op, _payload(op, e, k)) for k, (op, e) in enumerate(rows)]

    def records(self) -> list[dict[str, Any]]:
        """Every row with its time and user (for the corrections log)."""
        rows = self._db.execute("SELECT seq, op, edit, time, user FROM ops ORDER BY seq")
        return [{"seq": s, "op": op, "edit": None if e is None else json.loads(e), "time": t,
                 "user": u} for s, op, e, t, u in rows.fetchall()]

    def state(self) -> JournalState:
        rows = self._db.execute("SELECT op, edit, time, user FROM ops ORDER BY seq").fetchall()
        ops = [(op, _payload(op, e, k)) for k, (op, e, _, _) in enumerate(rows)]
        meta = [{"time": t, "user": u or ""} for _, _, t, u in rows]
        return replay_ops(ops, meta)

    def has_edits(self) -> bool:
        """Steps not exported: restoring would change something."""
        st = self.state()
        return bool(st.done or st.undone) and st.clean_index != len(st.done)

    @staticmethod
    def write_history(path: str | Path, spec: dict[str, Any] | None, done: Sequence[Edit],
                      undone: Sequence[Edit], clean_index: int | None,
                      done_meta: Sequence[dict[str, Any]] = (),
                      undone_meta: Sequence[dict[str, Any]] = ()) -> Journal:
        """A new journal at ``path`` (replaced atomically) describing exactly this
        history: ``done`` applied, ``undone`` the redo list (next redo first), the clean
        mark. Returns it open for appending."""
        path = Path(path)
        tmp = path.with_name(path.name + ".new")
        for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            if p.exists():
                p.unlink()
        j = Journal(tmp, spec)
        rows: list[tuple[str, Edit | int | None, float | None, str | None]] = []
        edits = [*done, *undone]
        metas = [*done_meta, *undone_meta]
        for k, e in enumerate(edits):
            m = metas[k] if k < len(metas) else {}
            rows.append(("do", e, m.get("time"), m.get("user")))
        rows += [("undo", None, None, None)] * len(undone)
        if clean_index is not None:
            rows.append(("clean", clean_index, None, None))
        if rows:
            j.append_many(rows)
        j.close()
        for suffix in ("-wal", "-shm"):
            side = Path(str(path) + suffix)
            if side.exists():
                side.unlink()
        os.replace(tmp, path)
        return Journal(path, spec)

    def archive(self) -> Path | None:
        """Set the journal aside (the user chose not to restore it)."""
        self.close()
        if not self.path.exists():
            return None
        dest = archive_name(self.path)
        os.replace(self.path, dest)
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                side.unlink()
        return dest
