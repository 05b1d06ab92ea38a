"""The edit journal: every edit is on disk the moment it is made.

One SQLite file per opened dataset, in ``.detview/`` beside the dataset (or in the
user's data directory when that folder is read-only). Each row is one operation of
the undo history: ``do`` (a new edit, which clears the redo list), ``undo``, ``redo``,
or ``clean`` (the state was exported). Replaying the rows gives back the applied edits
and the redo list exactly, so a session killed at any moment (kill -9, power cut) is
restored with its undo history. SQLite commits each row with ``synchronous=FULL``.
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

__all__ = ["Journal", "JournalState", "journal_path_for", "replay_ops"]

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


def replay_ops(ops: Sequence[tuple[str, Edit | None]],
               meta: Sequence[dict[str, Any]] | None = None) -> JournalState:
    """The undo history the rows describe; ``meta[k]`` (time, user) of row k is carried
    along with the edit of each "do" row."""
    done: list[tuple[Edit, dict[str, Any]]] = []
    redo: list[tuple[Edit, dict[str, Any]]] = []  # stack: last element = next redo
    clean: int | None = None
    for k, (op, edit) in enumerate(ops):
        if op == "do":
            assert edit is not None
            done.append((edit, dict(meta[k]) if meta is not None else {}))
            redo.clear()
            if clean is not None and clean >= len(done):
                clean = None  # the clean state can no longer be reached
        elif op == "undo" and done:
            redo.append(done.pop())
        elif op == "redo" and redo:
            done.append(redo.pop())
        elif op == "clean":
            clean = len(done)
    undone = list(reversed(redo))
    return JournalState(tuple(e for e, _ in done), tuple(e for e, _ in undone), clean,
                        len(ops), tuple(m for _, m in done), tuple(m for _, m in undone))


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

    def _row(self, op: str, edit: Edit | None, when: float | None,
             user: str | None) -> tuple[str, str | None, float, str]:
        if op not in OPS:
            raise ValueError(f"unknown journal op {op!r}")
        payload = None if edit is None else json.dumps(edit.to_json())
        return (op, payload, time.time() if when is None else float(when),
                self._user if user is None else user)

    def append(self, op: str, edit: Edit | None = None, when: float | None = None,
               user: str | None = None) -> None:
        """One row, committed at once. ``when``/``user`` default to now / this user."""
        self._db.execute("INSERT INTO ops (op, edit, time, user) VALUES (?, ?, ?, ?)",
                         self._row(op, edit, when, user))

    def append_many(self, rows: Sequence[tuple[str, Edit | None, float | None, str | None]]
                    ) -> None:
        """Several rows (op, edit, when, user) in one transaction: all or none on disk."""
        values = [self._row(*r) for r in rows]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO ops (op, edit, time, user) VALUES (?, ?, ?, ?)",
                                 values)

    def ops(self) -> list[tuple[str, Edit | None]]:
        rows = self._db.execute("SELECT op, edit FROM ops ORDER BY seq").fetchall()
        return [(op, None if e is None else edit_from_json(json.loads(e))) for op, e in rows]

    def records(self) -> list[dict[str, Any]]:
        """Every row with its time and user (for the corrections log)."""
        rows = self._db.execute("SELECT seq, op, edit, time, user FROM ops ORDER BY seq")
        return [{"seq": s, "op": op, "edit": None if e is None else json.loads(e), "time": t,
                 "user": u} for s, op, e, t, u in rows.fetchall()]

    def state(self) -> JournalState:
        rows = self._db.execute("SELECT op, edit, time, user FROM ops ORDER BY seq").fetchall()
        ops = [(op, None if e is None else edit_from_json(json.loads(e))) for op, e, _, _ in rows]
        meta = [{"time": t, "user": u or ""} for _, _, t, u in rows]
        return replay_ops(ops, meta)

    def has_edits(self) -> bool:
        st = self.state()
        return bool(st.done or st.undone) and st.clean_index != len(st.done)

    def archive(self) -> Path | None:
        """Set the journal aside (the user chose not to restore it)."""
        self.close()
        if not self.path.exists():
            return None
        dest = self.path.with_name(f"{self.path.stem}.{time.strftime('%Y%m%d-%H%M%S')}.old")
        os.replace(self.path, dest)
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                side.unlink()
        return dest
