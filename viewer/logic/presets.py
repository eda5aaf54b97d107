"""Which window presets fit the open image. No Qt here.

Key 0 is the window the series' own header asks for (WindowCenter/Width): what the scanner or the
technologist chose, and the window a series opens in when it has one. Keys 1-4 are the CT presets, in
HU (kept in the settings): on an X-ray, whose values are not HU, they mean nothing, so they are off.
Key 5 is the full range of the data, on anything.
"""

from __future__ import annotations

HEADER_PRESET = 0
CT_PRESETS = (1, 2, 3, 4)
FULL_RANGE_PRESET = 5
PRESET_KEYS = (HEADER_PRESET, *CT_PRESETS, FULL_RANGE_PRESET)


def preset_problem(key: int, is_ct: bool, has_header_window: bool) -> str:
    """Why preset ``key`` does not apply to the open image, or "" when it does."""
    if key == HEADER_PRESET and not has_header_window:
        return "this series' header gives no window (WindowCenter/WindowWidth)"
    if key in CT_PRESETS and not is_ct:
        return "CT presets are in HU and do not apply to an X-ray: 0 = the header's window, 5 = full range"
    return ""
