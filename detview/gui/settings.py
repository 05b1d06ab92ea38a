"""What detview remembers between runs, through :class:`QSettings` (organisation
``detview``, application ``detview``): the window layout, the thresholds, the theme,
recent datasets, the viewer's settings record (layout, class colours and visibility,
brightness/contrast: plain data keyed by class name) and a few switches.

Every value is read defensively: a settings file written by another version, edited by
hand or damaged gives the default, never an exception. ``DETVIEW_SETTINGS`` names an
INI file to use instead of the user's (tests, screenshots: nothing of the user's is
read or written).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from detview.core.metrics import MetricParams
from detview.io.spec import DatasetSpec

__all__ = ["ORGANISATION", "APPLICATION", "AppSettings", "RecentDataset", "settings_store"]

ORGANISATION = "detview"
APPLICATION = "detview"
MAX_RECENT = 10
THEMES = ("system", "light", "dark")


def settings_store() -> QSettings:
    """The user's settings, or the INI file ``DETVIEW_SETTINGS`` names."""
    path = os.environ.get("DETVIEW_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION,
                     APPLICATION)


class RecentDataset:
    """One entry of File > Open recent and of the start page."""

    def __init__(self, name: str, spec: DatasetSpec, when: float) -> None:
        self.name, self.spec, self.when = name, spec, when

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "spec": self.spec.to_json(), "time": self.when}

    @staticmethod
    def from_json(d: Any) -> RecentDataset | None:
        if not isinstance(d, dict) or not isinstance(d.get("spec"), dict):
            return None
        try:
            spec = DatasetSpec.from_json(d["spec"])
        except (TypeError, ValueError, KeyError):
            return None
        when = d.get("time")
        return RecentDataset(str(d.get("name") or spec.name()), spec,
                             float(when) if isinstance(when, (int, float)) else 0.0)

    def key(self) -> str:
        return json.dumps(self.spec.to_json(), sort_keys=True, default=str)

    def exists(self) -> bool:
        """The files it names are still there."""
        paths = [self.spec.images, self.spec.gt] + [p for _, p in self.spec.preds]
        return all(Path(p).exists() for p in paths if p)

    def describe(self) -> str:
        return self.spec.describe()


class AppSettings:
    """Typed access to the settings store."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else settings_store()

    # ------------------------------------------------------------------ plumbing
    def _get(self, key: str, default: Any = None) -> Any:
        try:
            v = self.store.value(key, default)
        except Exception:  # noqa: BLE001 - a damaged value: the default
            return default
        return default if v is None else v

    def _json(self, key: str, default: Any) -> Any:
        raw = self._get(key)
        if not isinstance(raw, str):
            return default
        try:
            return json.loads(raw)
        except ValueError:
            return default

    def _set_json(self, key: str, value: Any) -> None:
        self.store.setValue(key, json.dumps(value, default=str))

    def _float(self, key: str, default: float, lo: float, hi: float) -> float:
        try:
            v = float(self._get(key, default))
        except (TypeError, ValueError):
            return default
        return v if lo <= v <= hi else default

    def _bool(self, key: str, default: bool) -> bool:
        v = self._get(key, default)
        if isinstance(v, str):
            return v.lower() in ("1", "true", "yes", "on")
        return bool(v)

    def thumbnail_cache_mb(self) -> int:
        """The cap of the object grid's thumbnail disk cache, in MB (16 .. 100,000;
        default :data:`detview.gui.thumbnails.DEFAULT_CACHE_MB`)."""
        from .thumbnails import DEFAULT_CACHE_MB

        return int(self._float("cache/thumbnails_mb", DEFAULT_CACHE_MB, 16, 100_000))

    def set_thumbnail_cache_mb(self, mb: int) -> None:
        self.store.setValue("cache/thumbnails_mb", int(mb))

    def sync(self) -> None:
        self.store.sync()

    # ------------------------------------------------------------------ window
    def window_geometry(self) -> QByteArray | None:
        v = self._get("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        v = self._get("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.store.setValue("window/geometry", geometry)
        self.store.setValue("window/state", state)

    def splitter_state(self) -> QByteArray | None:
        v = self._get("window/splitter")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    def save_splitter(self, state: QByteArray) -> None:
        self.store.setValue("window/splitter", state)

    # ------------------------------------------------------------------ thresholds
    def params(self) -> MetricParams:
        return MetricParams(self._float("params/score", 0.5, 0.0, 1.0),
                            self._float("params/iou", 0.5, 0.05, 0.95))

    def save_params(self, p: MetricParams) -> None:
        self.store.setValue("params/score", float(p.score_threshold))
        self.store.setValue("params/iou", float(p.iou_threshold))

    # ------------------------------------------------------------------ recent
    def recent(self) -> list[RecentDataset]:
        items = self._json("recent/datasets", [])
        out = []
        for d in items if isinstance(items, list) else []:
            r = RecentDataset.from_json(d)
            if r is not None:
                out.append(r)
        return out[:MAX_RECENT]

    def add_recent(self, name: str, spec: DatasetSpec) -> None:
        entry = RecentDataset(name, spec, time.time())
        rest = [r for r in self.recent() if r.key() != entry.key()]
        self._set_json("recent/datasets", [r.to_json() for r in [entry, *rest][:MAX_RECENT]])

    def remove_recent(self, spec: DatasetSpec) -> None:
        key = RecentDataset("", spec, 0).key()
        self._set_json("recent/datasets", [r.to_json() for r in self.recent() if r.key() != key])

    def clear_recent(self) -> None:
        self._set_json("recent/datasets", [])

    # ------------------------------------------------------------------ look
    def theme(self) -> str:
        v = str(self._get("view/theme", "system"))
        return v if v in THEMES else "system"

    def set_theme(self, theme: str) -> None:
        self.store.setValue("view/theme", theme if theme in THEMES else "system")

    def view_record(self, name: str = "view") -> dict[str, Any]:
        """A plain-data record saved with :meth:`save_view_record` (``{}`` if none)."""
        d = self._json(f"records/{name}", {})
        return d if isinstance(d, dict) else {}

    def save_view_record(self, record: Any, name: str = "view") -> None:
        """Save a dataclass or a mapping of plain values (JSON)."""
        if is_dataclass(record) and not isinstance(record, type):
            record = asdict(record)
        self._set_json(f"records/{name}", dict(record))

    def flag(self, name: str, default: bool = False) -> bool:
        return self._bool(f"flags/{name}", default)

    def set_flag(self, name: str, on: bool) -> None:
        self.store.setValue(f"flags/{name}", bool(on))
