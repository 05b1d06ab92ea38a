"""The viewer's own bar: layout (side by side / overlay / three panes), which sources the
panes show, run B, class visibility, colours and score thresholds, brightness/contrast and
label-quality hints. (The checkpoint slider is the Compare strip's, under the panes.)

Every control only *asks* (signals); the viewer writes the change into the session's
:class:`~detview.session.view_settings.ViewSettings`, and the bar is then re-
synchronised from the session (:meth:`ViewerBar.sync`), so the state lives in one place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWidgetAction,
)

from detview.session.view_settings import ViewSettings

from .box_item import class_color

__all__ = ["ViewerBar"]

_PAIRS = (("gt", "a"), ("gt", "b"), ("a", "b"))
LQ_TIP = ("Label-quality hints (ObjectLab, as cleanlab computes them): on the ground-truth "
          "side a likely missing label is drawn as a ghost box (A accepts it), a likely "
          "wrong class says \"likely <class>\" (Y applies it), a likely badly placed box "
          "offers to snap onto its prediction (R or Y).\nThe predictions must come from a "
          "model that did not train on these images (held-out or cross-validated "
          "predictions): a model that memorised the labels agrees with their mistakes.")


def _swatch(color: QColor) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(color)
    return QIcon(pix)


def _contrast_to_slider(c: float) -> int:
    return int(round(100 * math.log(c, 5)))  # 0.2 .. 5 -> -100 .. 100


def _slider_to_contrast(v: int) -> float:
    return float(5 ** (v / 100))


class _ClassList(QWidget):
    """Checkable classes with their colour and their own score threshold; double-click
    a class to choose its colour."""

    visibilityChanged = Signal(object, bool)  # classes, visible  # noqa: N815
    colorChosen = Signal(int, object)  # class, "#rrggbb" or None (palette)  # noqa: N815
    #: class, score threshold or None (the global one); class -1 with None: clear all
    thresholdChosen = Signal(int, object)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setMinimumSize(240, 260)
        self.list.setToolTip("Tick the classes to show; double-click a class to choose its "
                             "colour; select one to give it its own score threshold")
        self.list.itemChanged.connect(self._on_item)
        self.list.itemDoubleClicked.connect(self._pick_color)
        self.list.currentRowChanged.connect(lambda _r: self._sync_threshold())
        self.thr_check = QCheckBox("Own score threshold")
        self.thr_check.setToolTip(
            "Keep predictions of the selected class from this score on, instead of the "
            "toolbar's threshold: the boxes drawn and the per-image TP/FP/FN follow "
            "(COCO AP from every prediction does not depend on it). Untick: the global "
            "threshold again.")
        self.thr_spin = QDoubleSpinBox()
        self.thr_spin.setRange(0.0, 1.0)
        self.thr_spin.setSingleStep(0.05)
        self.thr_spin.setDecimals(2)
        self.thr_spin.setKeyboardTracking(False)
        self.thr_check.toggled.connect(self._on_threshold)
        self.thr_spin.valueChanged.connect(lambda _v: self._on_threshold())
        clear_thr = QPushButton("Clear thresholds")
        clear_thr.setToolTip("Every class back to the toolbar's score threshold")
        clear_thr.clicked.connect(lambda: self.thresholdChosen.emit(-1, None))
        self._thresholds: dict[int, float] = {}
        self.global_threshold = 0.5
        show_all, hide_all, reset = (QPushButton("Show all"), QPushButton("Hide all"),
                                     QPushButton("Default colours"))
        show_all.clicked.connect(lambda: self.visibilityChanged.emit(self._all(), True))
        hide_all.clicked.connect(lambda: self.visibilityChanged.emit(self._all(), False))
        reset.clicked.connect(lambda: self.colorChosen.emit(-1, None))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.list)
        row = QHBoxLayout()
        for b in (show_all, hide_all, reset):
            row.addWidget(b)
        lay.addLayout(row)
        thr_row = QHBoxLayout()
        thr_row.addWidget(self.thr_check)
        thr_row.addWidget(self.thr_spin)
        thr_row.addStretch(1)
        thr_row.addWidget(clear_thr)
        lay.addLayout(thr_row)
        self._syncing = False

    def _all(self) -> list[int]:
        return list(range(self.list.count()))

    def sync(self, names: Sequence[str], vs: ViewSettings,
             score_threshold: float | None = None) -> None:
        self._syncing = True
        self._thresholds = dict(vs.class_thresholds)
        if score_threshold is not None:
            self.global_threshold = float(score_threshold)
        colors = {c: QColor(v) for c, v in vs.class_colors}
        if self.list.count() != len(names):
            self.list.clear()
            for name in names:
                it = QListWidgetItem(name)
                it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                self.list.addItem(it)
        for k, name in enumerate(names):
            it = self.list.item(k)
            t = self._thresholds.get(k)
            it.setText(name if t is None else f"{name}   · score ≥ {t:.2f}")
            it.setIcon(_swatch(class_color(k, colors)))
            it.setCheckState(Qt.CheckState.Checked if vs.is_visible(k)
                             else Qt.CheckState.Unchecked)
        if self.list.currentRow() < 0 and self.list.count():
            self.list.setCurrentRow(0)
        self._syncing = False
        self._sync_threshold()

    def _sync_threshold(self) -> None:
        """The threshold controls show the current class's override (or the global
        threshold, unticked)."""
        k = self.list.currentRow()
        t = self._thresholds.get(k)
        was, self._syncing = self._syncing, True
        self.thr_check.setEnabled(k >= 0)
        self.thr_check.setChecked(t is not None)
        self.thr_spin.setEnabled(t is not None)
        self.thr_spin.setValue(self.global_threshold if t is None else t)
        self._syncing = was

    def _on_threshold(self) -> None:
        k = self.list.currentRow()
        if self._syncing or k < 0:
            return
        on = self.thr_check.isChecked()
        self.thr_spin.setEnabled(on)
        self.thresholdChosen.emit(k, round(self.thr_spin.value(), 4) if on else None)

    def _on_item(self, it: QListWidgetItem) -> None:
        if not self._syncing:
            self.visibilityChanged.emit([self.list.row(it)],
                                        it.checkState() == Qt.CheckState.Checked)

    def _pick_color(self, it: QListWidgetItem) -> None:
        k = self.list.row(it)
        c = QColorDialog.getColor(class_color(k), self, f"Colour of {it.text()}")
        if c.isValid():
            self.colorChosen.emit(k, c.name())


class _ImageAdjust(QWidget):
    """Brightness and contrast sliders (display only) and Reset."""

    changed = Signal(float, float)  # brightness, contrast

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.brightness = QSlider(Qt.Orientation.Horizontal)
        self.brightness.setRange(-100, 100)
        self.contrast = QSlider(Qt.Orientation.Horizontal)
        self.contrast.setRange(-100, 100)
        for s in (self.brightness, self.contrast):
            s.setMinimumWidth(200)
            s.valueChanged.connect(self._emit)
        self.b_label, self.c_label = QLabel(), QLabel()
        reset = QPushButton("Reset")
        reset.clicked.connect(lambda: self.changed.emit(0.0, 1.0))
        grid = QGridLayout(self)
        grid.setContentsMargins(8, 8, 8, 8)
        grid.addWidget(QLabel("Brightness"), 0, 0)
        grid.addWidget(self.brightness, 0, 1)
        grid.addWidget(self.b_label, 0, 2)
        grid.addWidget(QLabel("Contrast"), 1, 0)
        grid.addWidget(self.contrast, 1, 1)
        grid.addWidget(self.c_label, 1, 2)
        note = QLabel("Display only: the image files are never changed.")
        note.setStyleSheet("color: gray")
        grid.addWidget(note, 2, 0, 1, 2)
        grid.addWidget(reset, 2, 2)
        self._syncing = False

    def _emit(self) -> None:
        if not self._syncing:
            self.changed.emit(self.brightness.value() / 100,
                              _slider_to_contrast(self.contrast.value()))

    def sync(self, vs: ViewSettings) -> None:
        self._syncing = True
        self.brightness.setValue(int(round(vs.brightness * 100)))
        self.contrast.setValue(_contrast_to_slider(vs.contrast))
        self.b_label.setText(f"{vs.brightness:+.2f}")
        self.c_label.setText(f"×{vs.contrast:.2f}")
        self._syncing = False


class ViewerBar(QWidget):
    """Above the panes: the view controls."""

    layoutChosen = Signal(str)  # noqa: N815
    panesChosen = Signal(object)  # (source, source)  # noqa: N815
    runBChosen = Signal(str)  # noqa: N815
    visibilityChanged = Signal(object, bool)  # noqa: N815
    colorChosen = Signal(int, object)  # noqa: N815
    thresholdChosen = Signal(int, object)  # class, threshold or None  # noqa: N815
    imageAdjusted = Signal(float, float)  # noqa: N815
    lqToggled = Signal(bool)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.layout_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        for name, text, tip in (
                ("side", "Side by side", "Two panes side by side, zoom and selection linked (O)"),
                ("overlay", "Overlay", "Both sources drawn in one pane (O toggles)"),
                ("three", "GT | A | B", "Three panes: ground truth, run A and run B (3)")):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setCheckable(True)
            b.setAutoRaise(True)
            b.clicked.connect(lambda _c=False, n=name: self.layoutChosen.emit(n))
            group.addButton(b)
            self.layout_buttons[name] = b
        self.pair_combo = QComboBox()
        self.pair_combo.setToolTip("What the two panes (or the overlay) show: any two of the "
                                   "ground truth, run A (the one the numbers are about) and "
                                   "run B")
        self.pair_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.pair_combo.activated.connect(
            lambda i: self.panesChosen.emit(self.pair_combo.itemData(i)))
        self.b_label = QLabel("B:")
        self.b_combo = QComboBox()
        self.b_combo.setToolTip("Run B: the second run to compare with run A")
        self.b_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.b_combo.textActivated.connect(self.runBChosen)
        self.classes = _ClassList()
        self.classes.visibilityChanged.connect(self.visibilityChanged)
        self.classes.colorChosen.connect(self.colorChosen)
        self.classes.thresholdChosen.connect(self.thresholdChosen)
        self.classes_button = self._popup_button("Classes", self.classes,
                                                 "Show/hide classes, choose their colours "
                                                 "and per-class score thresholds (Shift+H)")
        self.adjust = _ImageAdjust()
        self.adjust.changed.connect(self.imageAdjusted)
        self.image_button = self._popup_button("Image", self.adjust,
                                               "Brightness and contrast, for dark images "
                                               "(B / Shift+B, K / Shift+K; Ctrl+Shift+B "
                                               "resets). Display only.")
        self.lq_button = QToolButton()
        self.lq_button.setText("Label quality")
        self.lq_button.setCheckable(True)
        self.lq_button.setAutoRaise(True)
        self.lq_button.setToolTip(LQ_TIP)
        self.lq_button.toggled.connect(self.lqToggled)
        row1 = QHBoxLayout()
        row1.setContentsMargins(4, 2, 4, 0)
        row1.setSpacing(4)
        for b in self.layout_buttons.values():
            row1.addWidget(b)
        row1.addSpacing(8)
        row1.addWidget(self.pair_combo)
        row1.addWidget(self.b_label)
        row1.addWidget(self.b_combo)
        row1.addStretch(1)
        row1.addWidget(self.lq_button)
        row1.addWidget(self.classes_button)
        row1.addWidget(self.image_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(row1)
        self._syncing = False

    def _popup_button(self, text: str, widget: QWidget, tip: str) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(b)
        act = QWidgetAction(menu)
        act.setDefaultWidget(widget)
        menu.addAction(act)
        b.setMenu(menu)
        return b

    # ------------------------------------------------------------------ state
    def sync(self, vs: ViewSettings, run_a: str | None, run_b: str | None,
             runs: Sequence[str], class_names: Sequence[str], lq_available: bool,
             score_threshold: float | None = None) -> None:
        """Show the session's state (emits nothing)."""
        self._syncing = True
        for name, b in self.layout_buttons.items():
            b.setChecked(vs.layout == name)
        has_b = run_b is not None
        self.layout_buttons["three"].setEnabled(has_b and run_a is not None)
        names = {"gt": "Ground truth", "a": run_a or "(no run)", "b": run_b or "(no run B)"}
        self.pair_combo.clear()
        for pair in _PAIRS:
            if "b" in pair and not has_b or run_a is None and pair != ("gt", "a"):
                continue
            self.pair_combo.addItem(f"{names[pair[0]]} | {names[pair[1]]}", pair)
        k = self.pair_combo.findData(tuple(vs.panes))
        self.pair_combo.setCurrentIndex(max(k, 0))
        self.pair_combo.setVisible(vs.layout != "three" and self.pair_combo.count() > 1)
        self.pair_combo.setEnabled(vs.layout != "three")
        self.b_combo.clear()
        self.b_combo.addItems(list(runs))
        if run_b is not None:
            self.b_combo.setCurrentText(run_b)
        shows_b = vs.layout == "three" or "b" in vs.panes
        self.b_combo.setVisible(has_b and shows_b)
        self.b_label.setVisible(has_b and shows_b)
        self.lq_button.setEnabled(lq_available)
        self.lq_button.setChecked(vs.lq_hints and lq_available)
        self.classes.sync(class_names, vs, score_threshold)
        hidden, own = len(vs.hidden_classes), len(vs.class_thresholds)
        notes = ([f"{hidden} hidden"] if hidden else []) + (
            [f"{own} own threshold{'s' if own > 1 else ''}"] if own else [])
        self.classes_button.setText(f"Classes ({', '.join(notes)})" if notes else "Classes")
        self.adjust.sync(vs)
        self.image_button.setText("Image ●" if vs.adjusted else "Image")
        self._syncing = False
