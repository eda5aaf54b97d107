"""Colours and type of everything written over the image, and the contrast check they pass. No Qt here.

Text over a CT or X-ray can land on anything from air (black) to bone or a bright window (white), so
each overlay text sits on a translucent dark plate and the check is made against the worst case: the
plate over white. WCAG 2.x asks 4.5:1 for small text (``MIN_CONTRAST``); ``worst_case_contrast`` is
what a test holds every style here to. Sizes are in points, so they follow the system's font scale.
"""

from __future__ import annotations

MIN_CONTRAST = 4.5

ANNOTATION_COLOUR = "#ffd23f"
SELECTED_COLOUR = "#ff8c1a"
OVERLAY_TEXT = "#e6e6e6"
EDGE_TEXT = "#ffd23f"
PLATE_ALPHA = 0.72  # the dark plate behind overlay text
LABEL_BACKGROUND = (0, 0, 0, round(255 * PLATE_ALPHA))  # RGBA, annotation labels (pyqtgraph brushes)


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


def relative_luminance(colour: str | tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour (hex or 0..255 triple)."""
    channels = _rgb(colour) if isinstance(colour, str) else colour

    def linear(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str | tuple, background: str | tuple) -> float:
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def worst_case_contrast(foreground: str, plate_alpha: float = PLATE_ALPHA) -> float:
    """Contrast of ``foreground`` on the dark plate laid over a white image (the brightest it can get)."""
    seen = tuple(255.0 * (1.0 - plate_alpha) for _ in range(3))
    return contrast_ratio(foreground, seen)


def plate_css(point_size: float, colour: str = OVERLAY_TEXT, bold: bool = False) -> str:
    """The style sheet of an overlay text label: its colour on the dark plate, sized in points."""
    weight = " font-weight: bold;" if bold else ""
    return (f"color: {colour}; background: rgba(0, 0, 0, {PLATE_ALPHA}); border-radius: 2px; padding: 1px 3px;"
            f" font-size: {point_size:g}pt;{weight}")


OVERLAY_STYLE = plate_css(8.5)
EDGE_STYLE = plate_css(10, EDGE_TEXT, bold=True)
TEXT_COLOURS = (ANNOTATION_COLOUR, OVERLAY_TEXT, EDGE_TEXT)  # SELECTED_COLOUR marks lines, never text
