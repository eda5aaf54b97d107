"""Persistent viewer settings (last folder, recent studies, layout, window presets, model choices,
export folder) in QSettings.

``LUNGLENS_SETTINGS`` may name an .ini file to use instead of the user's native store; tests and
headless runs set it so they never touch a radiologist's own settings.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings

from inference.study import WINDOW_PRESETS, Window

MAX_RECENT = 10

# Keys 1-4; key 5 is always the data's full range.
DEFAULT_PRESETS: tuple[tuple[str, Window], ...] = (
    ("Lung", WINDOW_PRESETS["lung"]),
    ("Mediastinum", WINDOW_PRESETS["mediastinum"]),
    ("Bone", WINDOW_PRESETS["bone"]),
    ("Soft tissue", WINDOW_PRESETS["soft_tissue"]),
)
PRESET_ALIASES = {"lung": 1, "mediastinum": 2, "bone": 3, "soft_tissue": 4, "soft-tissue": 4, "full": 5, "full_range": 5}


def open_settings() -> QSettings:
    path = os.environ.get("LUNGLENS_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("LungLens", "LungLens")


def _text_setting(key: str, doc: str) -> property:
    def read(self: "ViewerSettings") -> str:
        return str(self.store.value(key, "") or "")

    def write(self: "ViewerSettings", text: str) -> None:
        self.store.setValue(key, text)

    return property(read, write, doc=doc)


class ViewerSettings:
    """Typed access to the few things the viewer remembers between sessions."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else open_settings()

    last_folder = _text_setting("last_folder", "The folder of the last study opened: open dialogs start there.")
    export_folder = _text_setting("export_folder", "Where the last report went: the next export starts there.")

    def _strings(self, key: str) -> list[str]:
        value = self.store.value(key, [])
        if isinstance(value, str):  # QSettings returns a lone string for a one-item list in .ini files
            value = [value]
        return [str(v) for v in value or []]

    @property
    def recent(self) -> list[str]:
        return self._strings("recent")

    def add_recent(self, path: str) -> None:
        paths = [path] + [p for p in self.recent if p != path]
        self.store.setValue("recent", paths[:MAX_RECENT])

    def clear_recent(self) -> None:
        self.store.setValue("recent", [])

    @property
    def layout(self) -> str:
        return str(self.store.value("layout", "1x3"))

    @layout.setter
    def layout(self, name: str) -> None:
        self.store.setValue("layout", name)

    @property
    def analyse_on_open(self) -> bool:
        """Run the selected models as soon as a series is shown."""
        return str(self.store.value("models/analyse_on_open", "false")).lower() in ("true", "1")

    @analyse_on_open.setter
    def analyse_on_open(self, on: bool) -> None:
        self.store.setValue("models/analyse_on_open", bool(on))

    @property
    def skipped_models(self) -> frozenset[str]:
        """Model ids the user unticked: the next analyses leave them out."""
        return frozenset(self._strings("models/skipped"))

    @skipped_models.setter
    def skipped_models(self, ids: frozenset[str]) -> None:
        self.store.setValue("models/skipped", sorted(ids))

    def preset(self, key: int) -> tuple[str, Window]:
        """Window preset on key 1-4 (name, window), as saved or the default."""
        name, default = DEFAULT_PRESETS[key - 1]
        width = float(self.store.value(f"presets/{key}/width", default.width))
        level = float(self.store.value(f"presets/{key}/level", default.level))
        return name, Window(width, level)

    def save_preset(self, key: int, window: Window) -> None:
        self.store.setValue(f"presets/{key}/width", float(window.width))
        self.store.setValue(f"presets/{key}/level", float(window.level))

    def reset_presets(self) -> None:
        self.store.remove("presets")

    def shortcut_keys(self, command: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """The keys of a command as the reader set them in the shortcuts table, else ``default``."""
        if not self.store.contains(f"shortcuts/{command}"):
            return default
        return tuple(k for k in self._strings(f"shortcuts/{command}") if k)

    def save_shortcut_keys(self, command: str, keys: tuple[str, ...], default: tuple[str, ...]) -> None:
        if tuple(keys) == tuple(default):
            self.store.remove(f"shortcuts/{command}")
        else:
            self.store.setValue(f"shortcuts/{command}", list(keys) or [""])

    def sync(self) -> None:
        self.store.sync()
