"""Hanging protocols: how a series is laid out when it opens, per modality, kept in the settings. No Qt here.

A CT opens in MPR (axial, coronal and sagittal side by side), an X-ray in one pane. Choosing another
layout while a series is open makes it that modality's protocol from then on, so a reader who wants
CTs in 2x2 says so once. ``store`` is any QSettings-like object (``value``/``setValue``).
"""

from __future__ import annotations

from inference.study import Modality

DEFAULT_LAYOUTS: dict[Modality, str] = {Modality.CT: "1x3", Modality.XRAY: "1x1"}
LAYOUT_NAMES = ("1x1", "1x3", "2x2")


class HangingProtocols:
    def __init__(self, store) -> None:
        self.store = store

    def layout(self, modality: Modality) -> str:
        """The layout a series of ``modality`` opens in."""
        saved = str(self.store.value(f"hanging/{modality}/layout", "") or "")
        return saved if saved in LAYOUT_NAMES else DEFAULT_LAYOUTS.get(modality, "1x1")

    def remember(self, modality: Modality, layout: str) -> None:
        if layout in LAYOUT_NAMES:
            self.store.setValue(f"hanging/{modality}/layout", layout)

    def reset(self) -> None:
        self.store.remove("hanging")
