"""How the viewer shows an image: plain data, no Qt, no effect on any number.

:class:`ViewSettings` is owned by the :class:`~detview.session.Session`
(``session.view_settings``, changed through ``session.update_view(...)``, which sends a
``view`` event); the viewer only mirrors it. It holds

* the layout: ``"side"`` (two panes side by side), ``"overlay"`` (the two sources drawn
  in one pane) or ``"three"`` (ground truth | run A | run B);
* which two sources the two panes (or the overlay) show: any two of ``"gt"`` (ground
  truth), ``"a"`` (the session's run, ``Settings.run``: the one the numbers are about)
  and ``"b"`` (a second run, :attr:`ViewSettings.run_b`);
* per-class visibility and colour, keyed by class index;
* per-class score thresholds overriding the global one (``Settings.params``) for those
  classes: unlike the rest these change numbers (the session folds them into
  ``session.params``, so the per-image metrics, the error breakdown and the drawn
  predictions follow; COCO AP from every prediction stays threshold-free);
* brightness and contrast of the image (a display mapping; the image is never edited);
* whether label-quality hints are shown on the ground truth.

It is a frozen dataclass of plain values; :meth:`ViewSettings.to_dict` /
:meth:`ViewSettings.from_dict` turn it into JSON-able data keyed by class *name*, so
it can be persisted (QSettings) across datasets; ``from_dict`` never raises on bad
stored values (each bad field falls back to its default).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

__all__ = ["LAYOUTS", "SOURCES", "Layout", "Source", "ViewSettings"]

Layout = Literal["side", "overlay", "three"]
Source = Literal["gt", "a", "b"]
LAYOUTS: tuple[Layout, ...] = ("side", "overlay", "three")
SOURCES: tuple[Source, ...] = ("gt", "a", "b")

BRIGHTNESS_RANGE = (-1.0, 1.0)
CONTRAST_RANGE = (0.2, 5.0)
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _clamp(v: float, lo_hi: tuple[float, float]) -> float:
    return float(min(max(v, lo_hi[0]), lo_hi[1]))


@dataclass(frozen=True)
class ViewSettings:
    """The viewer's display state (see the module docstring)."""

    layout: Layout = "side"
    #: the sources of the two panes (side by side) or of the overlay, left first
    panes: tuple[Source, Source] = ("gt", "a")
    #: the second run (``"b"``); None: the first run other than run A
    run_b: str | None = None
    hidden_classes: frozenset[int] = frozenset()
    #: (class index, ``"#rrggbb"``) overriding the palette, sorted by class
    class_colors: tuple[tuple[int, str], ...] = ()
    #: added to every pixel, as a share of full scale (-1 .. 1); 0: unchanged
    brightness: float = 0.0
    #: slope around mid grey (0.2 .. 5); 1: unchanged
    contrast: float = 1.0
    #: label-quality hints on the ground truth (computing them is wanted while on)
    lq_hints: bool = False
    #: (class index, score threshold 0..1) overriding the global score threshold
    class_thresholds: tuple[tuple[int, float], ...] = ()
    _colors: dict[int, str] = field(default_factory=dict, init=False, repr=False,
                                    compare=False)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if (len(self.panes) != 2 or any(p not in SOURCES for p in self.panes)
                or self.panes[0] == self.panes[1]):
            raise ValueError(f"panes must be two different sources of {SOURCES}, "
                             f"not {self.panes!r}")
        for c, color in self.class_colors:
            if not _COLOR.match(color):
                raise ValueError(f"class {c}: colour {color!r} is not #rrggbb")
        object.__setattr__(self, "panes", tuple(self.panes))
        object.__setattr__(self, "hidden_classes", frozenset(int(c) for c in self.hidden_classes))
        object.__setattr__(self, "class_colors", tuple(sorted(
            (int(c), str(v).lower()) for c, v in dict(self.class_colors).items())))
        object.__setattr__(self, "class_thresholds", tuple(sorted(
            (int(c), _clamp(float(t), (0.0, 1.0)))
            for c, t in dict(self.class_thresholds).items())))
        object.__setattr__(self, "brightness", _clamp(self.brightness, BRIGHTNESS_RANGE))
        object.__setattr__(self, "contrast", _clamp(self.contrast, CONTRAST_RANGE))
        self._colors.update(self.class_colors)

    # ------------------------------------------------------------------ reading
    def color_of(self, cls: int) -> str | None:
        """The chosen colour of class ``cls`` (None: the palette's)."""
        return self._colors.get(int(cls))

    def threshold_of(self, cls: int) -> float | None:
        """The score threshold chosen for class ``cls`` (None: the global one)."""
        return dict(self.class_thresholds).get(int(cls))

    def is_visible(self, cls: int) -> bool:
        return int(cls) not in self.hidden_classes

    def pane_sources(self) -> list[list[Source]]:
        """The sources drawn in each pane, left to right."""
        if self.layout == "three":
            return [["gt"], ["a"], ["b"]]
        if self.layout == "overlay":
            return [list(self.panes)]
        return [[self.panes[0]], [self.panes[1]]]

    def levels(self) -> tuple[float, float]:
        """The input range (low, high) of an 8-bit image mapped onto black..white:
        ``out = (x - 128) * contrast + 128 + 255 * brightness``."""
        c, b = self.contrast, self.brightness
        return 128.0 - (128.0 + 255.0 * b) / c, 128.0 + (127.0 - 255.0 * b) / c

    @property
    def adjusted(self) -> bool:
        """Brightness or contrast differ from the image's own."""
        return self.brightness != 0.0 or self.contrast != 1.0

    # ------------------------------------------------------------------ changing
    def with_color(self, cls: int, color: str | None) -> ViewSettings:
        colors = dict(self.class_colors)
        if color is None:
            colors.pop(int(cls), None)
        else:
            colors[int(cls)] = color
        return replace(self, class_colors=tuple(colors.items()))

    def with_threshold(self, cls: int, threshold: float | None) -> ViewSettings:
        """Class ``cls`` kept from ``threshold`` on; None: back to the global
        threshold; ``cls`` < 0 with None clears every override."""
        if int(cls) < 0:
            return replace(self, class_thresholds=())
        ts = dict(self.class_thresholds)
        if threshold is None:
            ts.pop(int(cls), None)
        else:
            ts[int(cls)] = float(threshold)
        return replace(self, class_thresholds=tuple(ts.items()))

    def with_visible(self, classes: Sequence[int] | int, visible: bool) -> ViewSettings:
        cs = {int(classes)} if isinstance(classes, int) else {int(c) for c in classes}
        hidden = (self.hidden_classes - cs) if visible else (self.hidden_classes | cs)
        return replace(self, hidden_classes=frozenset(hidden))

    # ------------------------------------------------------------------ persisting
    def to_dict(self, class_names: Sequence[str] = ()) -> dict[str, Any]:
        """JSON-able; classes by name where ``class_names`` knows them (so the
        colours of "person" follow it to another dataset), else by index."""
        def key(c: int) -> str:
            return class_names[c] if 0 <= c < len(class_names) else f"#{c}"

        return {
            "layout": self.layout, "panes": list(self.panes), "run_b": self.run_b,
            "hidden_classes": sorted(key(c) for c in self.hidden_classes),
            "class_colors": {key(c): v for c, v in self.class_colors},
            "brightness": self.brightness, "contrast": self.contrast,
            "lq_hints": self.lq_hints,
            "class_thresholds": {key(c): t for c, t in self.class_thresholds},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None,
                  class_names: Sequence[str] = ()) -> ViewSettings:
        """The inverse of :meth:`to_dict`; unknown classes and bad values are skipped
        (never an exception: stored settings may come from an older version)."""
        if not isinstance(d, Mapping):
            return cls()
        index = {n: k for k, n in enumerate(class_names)}

        def cls_of(name: object) -> int | None:
            if isinstance(name, str) and name in index:
                return index[name]
            if isinstance(name, str) and name.startswith("#") and name[1:].isdigit():
                return int(name[1:])
            return None

        out = cls()
        layout = d.get("layout")
        if layout in LAYOUTS:
            out = replace(out, layout=cast(Layout, layout))
        panes = d.get("panes")
        if (isinstance(panes, (list, tuple)) and len(panes) == 2
                and all(p in SOURCES for p in panes) and panes[0] != panes[1]):
            out = replace(out, panes=(cast(Source, panes[0]), cast(Source, panes[1])))
        run_b = d.get("run_b")
        if run_b is None or isinstance(run_b, str):
            out = replace(out, run_b=run_b)
        hidden = d.get("hidden_classes")
        if isinstance(hidden, (list, tuple)):
            out = replace(out, hidden_classes=frozenset(
                c for c in (cls_of(n) for n in hidden) if c is not None))
        colors = d.get("class_colors")
        if isinstance(colors, Mapping):
            good = {}
            for n, v in colors.items():
                c = cls_of(n)
                if c is not None and isinstance(v, str) and _COLOR.match(v):
                    good[c] = v
            out = replace(out, class_colors=tuple(good.items()))
        thresholds = d.get("class_thresholds")
        if isinstance(thresholds, Mapping):
            good_t = {}
            for n, v in thresholds.items():
                c = cls_of(n)
                if (c is not None and isinstance(v, (int, float)) and not isinstance(v, bool)
                        and 0.0 <= v <= 1.0):
                    good_t[c] = float(v)
            out = replace(out, class_thresholds=tuple(good_t.items()))
        if isinstance(d.get("lq_hints"), bool):
            out = replace(out, lq_hints=bool(d["lq_hints"]))
        def number(name: str) -> float | None:
            v = d.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:
                return float(v)
            return None

        bright, contrast = number("brightness"), number("contrast")
        if bright is not None:
            out = replace(out, brightness=bright)
        if contrast is not None and contrast > 0:
            out = replace(out, contrast=contrast)
        return out
