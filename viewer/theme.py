"""The dark reading-room look: low luminance around the image so the eye adapts to the image, not the chrome."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

_STYLE = """
QMainWindow, QDockWidget, QWidget { background: #15181c; color: #d5d9de; }
QDockWidget::title { background: #1d2127; padding: 4px; }
QMenuBar, QMenu, QToolBar, QStatusBar { background: #1b1f24; color: #d5d9de; }
QMenu::item:selected, QMenuBar::item:selected { background: #2d5a8a; }
QToolBar { border: none; spacing: 2px; }
QToolButton { padding: 3px 6px; border-radius: 3px; }
QToolButton:checked { background: #2d5a8a; }
QToolButton:hover { background: #2a3038; }
QTreeWidget, QListWidget, QLineEdit, QComboBox, QSpinBox, QTableWidget { background: #101316; border: 1px solid #2a2f36; }
QTreeWidget::item:selected, QListWidget::item:selected { background: #2d5a8a; }
QHeaderView::section { background: #1d2127; color: #aab2bc; border: none; padding: 3px; }
QProgressBar { border: 1px solid #2a2f36; border-radius: 3px; text-align: center; background: #101316; }
QProgressBar::chunk { background: #2d7dd2; }
QLabel#messageBar { padding: 6px; border-radius: 3px; }
"""


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (
        (QPalette.ColorRole.Window, "#15181c"), (QPalette.ColorRole.WindowText, "#d5d9de"),
        (QPalette.ColorRole.Base, "#101316"), (QPalette.ColorRole.AlternateBase, "#1b1f24"),
        (QPalette.ColorRole.Text, "#d5d9de"), (QPalette.ColorRole.Button, "#1d2127"),
        (QPalette.ColorRole.ButtonText, "#d5d9de"), (QPalette.ColorRole.Highlight, "#2d5a8a"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.ToolTipBase, "#1d2127"),
        (QPalette.ColorRole.ToolTipText, "#d5d9de"), (QPalette.ColorRole.PlaceholderText, "#6b737d"),
    ):
        palette.setColor(role, QColor(colour))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)
