"""The layer panel: one row per overlay with visibility, opacity, and colours or colormap + threshold.

Rows only call ``LayerList.update``/``remove``; they redraw from the list's events, so a layer that
a model or a script changes shows the change here too.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox, QColorDialog, QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSlider,
    QToolButton, QVBoxLayout, QWidget,
)

from viewer.logic.colormaps import COLORMAPS
from viewer.logic.layers import HeatmapLayer, Layer, LayerEvent, LayerList


def _slider(value: float) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(round(value * 100))
    return slider


class LayerRow(QFrame):
    """Controls of one layer; ``show_layer`` refreshes them without echoing changes back."""

    def __init__(self, layers: LayerList, layer: Layer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layers, self.name = layers, layer.name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        top = QHBoxLayout()
        self.visible = QCheckBox(layer.name)
        self.visible.setToolTip("Show or hide this layer")
        remove = QToolButton()
        remove.setText("\u2715")
        remove.setToolTip("Remove this layer")
        top.addWidget(self.visible, 1)
        top.addWidget(remove)
        box.addLayout(top)
        self.opacity = _slider(layer.opacity)
        box.addLayout(self._labelled("Opacity", self.opacity))
        self.visible.toggled.connect(lambda on: self._update(visible=on))
        self.opacity.valueChanged.connect(lambda v: self._update(opacity=v / 100.0))
        remove.clicked.connect(lambda: self.layers.remove(self.name))
        self.colormap: QComboBox | None = None
        self.threshold: QSlider | None = None
        self.colour_buttons: dict[int, QPushButton] = {}
        self.contour: QCheckBox | None = None
        if isinstance(layer, HeatmapLayer):
            self.colormap = QComboBox()
            self.colormap.addItems(COLORMAPS)
            self.threshold = _slider(layer.threshold)
            box.addLayout(self._labelled("Colormap", self.colormap))
            box.addLayout(self._labelled("Threshold", self.threshold))
            self.colormap.currentTextChanged.connect(lambda name: self._update(colormap=name))
            self.threshold.valueChanged.connect(lambda v: self._update(threshold=v / 100.0))
        else:
            swatches = QHBoxLayout()
            for value in layer.present_labels:
                button = QPushButton(layer.label_names.get(value, f"label {value}"))
                button.setToolTip(f"Colour of label {value}")
                button.clicked.connect(lambda _=False, v=value: self._pick_colour(v))
                self.colour_buttons[value] = button
                swatches.addWidget(button)
            swatches.addStretch(1)
            box.addLayout(swatches)
            self.contour = QCheckBox("Outline only")
            self.contour.setToolTip("Draw only the edge of each region, so the tissue under the mask stays readable")
            self.contour.toggled.connect(lambda on: self._update(contour=on))
            box.addWidget(self.contour)
        self.show_layer(layer)

    @staticmethod
    def _labelled(text: str, widget: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        label = QLabel(text)
        label.setMinimumWidth(64)
        row.addWidget(label)
        row.addWidget(widget, 1)
        return row

    def show_layer(self, layer: Layer) -> None:
        self.name = layer.name
        widgets = [self.visible, self.opacity, self.colormap, self.threshold, self.contour, *self.colour_buttons.values()]
        for widget in widgets:
            if widget is not None:
                widget.blockSignals(True)
        self.visible.setChecked(layer.visible)
        self.opacity.setValue(round(layer.opacity * 100))
        if isinstance(layer, HeatmapLayer):
            self.colormap.setCurrentText(layer.colormap)
            self.threshold.setValue(round(layer.threshold * 100))
        else:
            self.contour.setChecked(layer.contour)
            for value, button in self.colour_buttons.items():
                r, g, b = layer.colour(value)
                text = "#000" if (r * 299 + g * 587 + b * 114) / 1000 > 128 else "#fff"
                button.setStyleSheet(f"background: rgb({r},{g},{b}); color: {text}; padding: 2px 6px;")
        for widget in widgets:
            if widget is not None:
                widget.blockSignals(False)

    def _update(self, **changes) -> None:
        self.layers.update(self.name, **changes)

    def _pick_colour(self, value: int) -> None:
        layer = self.layers[self.name]
        colour = QColorDialog.getColor(QColor(*layer.colour(value)), self, f"Colour of label {value}")
        if colour.isValid():
            colours = dict(layer.colours)
            colours[value] = (colour.red(), colour.green(), colour.blue())
            self._update(colours=colours)


class LayerPanel(QScrollArea):
    """All layers of a LayerList, top of the list = drawn on top."""

    def __init__(self, layers: LayerList, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layers = layers
        self.rows: dict[str, LayerRow] = {}
        self.setWidgetResizable(True)
        body = QWidget()
        self._box = QVBoxLayout(body)
        self._box.setContentsMargins(4, 4, 4, 4)
        self._empty = QLabel("No overlays. File > Load mask\u2026 adds a NIfTI/MHA mask (CT) or a PNG mask (X-ray).")
        self._empty.setWordWrap(True)
        self._empty.setStyleSheet("color: #7d8590;")
        self._box.addWidget(self._empty)
        self._box.addStretch(1)
        self.setWidget(body)
        disconnect = layers.connect(self._on_event)
        self.destroyed.connect(lambda *_: disconnect())
        self._rebuild()

    def _on_event(self, event: LayerEvent) -> None:
        """One row made or dropped per layer added or removed (rebuilding every row took 20-60 ms a layer
        while an analysis brought its layers in); a move or a clear rebuilds."""
        if event.kind == "changed" and event.old.name in self.rows:
            row = self.rows.pop(event.old.name)
            self.rows[event.layer.name] = row
            row.show_layer(event.layer)
        elif event.kind == "added":
            row = LayerRow(self.layers, event.layer)
            self.rows[event.layer.name] = row
            self._box.insertWidget(len(self.layers) - 1 - event.index + 1, row)  # the top layer is listed first
            self._empty.setVisible(False)
        elif event.kind == "removed" and event.layer.name in self.rows:
            self._drop(self.rows.pop(event.layer.name))
            self._empty.setVisible(not self.rows)
        else:
            self._rebuild()

    def _drop(self, row: LayerRow) -> None:
        self._box.removeWidget(row)
        row.hide()
        row.setParent(None)
        row.deleteLater()

    def _rebuild(self) -> None:
        for row in self.rows.values():
            self._drop(row)
        self.rows.clear()
        for layer in reversed(list(self.layers)):
            row = LayerRow(self.layers, layer)
            self.rows[layer.name] = row
            self._box.insertWidget(self._box.count() - 1, row)
        self._empty.setVisible(not self.rows)
