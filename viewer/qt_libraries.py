"""Which system libraries Qt needs on this machine and which are missing, named by the package to install.

Qt's xcb platform plugin aborts the whole process when a library it links is missing, with a message
that names neither the file nor a package; a minimal Linux (a server or container image, WSL) often
lacks several of them. ``ldd`` on the very files Qt will load says which are missing, counting the
ones a bundle ships itself; without ``ldd`` the loader's cache is asked for each library the
platform is known to need. Qt-free on purpose: importing PySide6 is what fails when libEGL or
libfontconfig is missing.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

# soname -> (Debian/Ubuntu package, Fedora package). What PySide6's Qt (Gui, Widgets and the xcb,
# offscreen platform plugins) links besides what it bundles, read off their ELF NEEDED entries.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
}
# What each platform needs beyond Qt's own files, for machines without ldd.
_CORE = ("libEGL.so.1", "libGL.so.1", "libfontconfig.so.1", "libfreetype.so.6", "libxkbcommon.so.0", "libX11.so.6",
         "libglib-2.0.so.0", "libgthread-2.0.so.0")
NEEDED: dict[str, tuple[str, ...]] = {
    "xcb": tuple(PACKAGES),
    "offscreen": _CORE,
}
_QT_FILES: dict[str, tuple[str, ...]] = {
    "xcb": ("lib/libQt6Gui.so.6", "lib/libQt6Widgets.so.6", "lib/libQt6XcbQpa.so.6", "plugins/platforms/libqxcb.so"),
    "offscreen": ("lib/libQt6Gui.so.6", "lib/libQt6Widgets.so.6", "plugins/platforms/libqoffscreen.so"),
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def qt_platform(environment: dict[str, str]) -> str | None:
    """The platform plugin Qt will load on Linux ("xcb", "offscreen"...), None where this check does not apply."""
    if not sys.platform.startswith("linux"):
        return None
    chosen = environment.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if chosen:
        return chosen
    if environment.get("WAYLAND_DISPLAY"):
        return None  # Qt tries Wayland first and falls back on X11 by itself
    return "xcb" if environment.get("DISPLAY") else None


def qt_files(platform: str) -> list[Path]:
    """The Qt libraries and plugin that ``platform`` loads, as installed (PySide6's own Qt folder)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(next(iter(spec.submodule_search_locations))) / "Qt"
    return [qt / name for name in _QT_FILES.get(platform, ()) if (qt / name).is_file()]


def ldd_missing(files: Iterable[Path]) -> set[str] | None:
    """Libraries ``ldd`` reports as not found for any of ``files``; None without a working ldd."""
    ldd = shutil.which("ldd")
    files = [str(f) for f in files]
    if ldd is None or not files:
        return None
    try:
        result = subprocess.run([ldd, *files], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(_NOT_FOUND.findall(result.stdout))


def loader_missing(platform: str) -> set[str]:
    """Libraries of ``platform``'s known list that neither the loader's cache nor a bundle (PyInstaller) has."""
    bundle = getattr(sys, "_MEIPASS", None)
    shipped = {p.name for p in Path(bundle).rglob("lib*.so*")} if bundle else set()
    return {name for name in NEEDED.get(platform, ())
            if name not in shipped and not ctypes.util.find_library(name[3:].split(".so")[0])}


Ldd = Callable[[Iterable[Path]], "set[str] | None"]


def missing_libraries(platform: str, ldd: Ldd | None = None) -> list[str]:
    """Sonames Qt needs for ``platform`` that this machine lacks, sorted."""
    found = (ldd or ldd_missing)(qt_files(platform))
    return sorted(found if found is not None else loader_missing(platform))


def install_command(missing: Iterable[str]) -> str:
    """'Debian/Ubuntu: sudo apt install ...; Fedora: sudo dnf install ...' for these sonames."""
    missing = list(missing)
    known = [PACKAGES[name] for name in missing if name in PACKAGES]
    debian = " ".join(dict.fromkeys(d for d, _ in known))
    fedora = " ".join(dict.fromkeys(f for _, f in known))
    advice = f"Debian/Ubuntu: sudo apt install {debian}; Fedora: sudo dnf install {fedora}" if known else ""
    unknown = [name for name in missing if name not in PACKAGES]
    if unknown:
        advice += ("; " if advice else "") + "find the package of " + ", ".join(unknown) + " (apt-file search / dnf provides)"
    return advice


def platform_problem(environment: dict[str, str], ldd: Ldd | None = None) -> str:
    """Why Qt cannot start here, naming what to install; "" when nothing is missing."""
    platform = qt_platform(environment)
    if platform not in _QT_FILES:
        return ""
    missing = missing_libraries(platform, ldd)
    if not missing:
        return ""
    what = "the viewer window (X11)" if platform == "xcb" else "headless rendering"
    headless = "; headless rendering with --screenshot may still work" if platform == "xcb" else ""
    return (f"{what} needs system libraries that are not installed: {', '.join(missing)} "
            f"({install_command(missing)}){headless}")
