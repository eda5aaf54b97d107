"""The layering users rely on: the viewer and the inference core start without torch, the core without Qt.

import-linter (run by .ci/run) checks the static graph; this checks what really gets loaded, which
also catches imports hidden behind strings or plugins.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import inference
import viewer


def _modules(package, skip_prefix: str | None = None) -> list[str]:
    names = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if skip_prefix and info.name.startswith(skip_prefix):
            continue
        names.append(info.name)
    return names


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_inference_core_loads_neither_torch_nor_qt():
    loaded = _loaded_after_import(_modules(inference, skip_prefix="inference.training"))
    assert not loaded & {"torch", "torchvision", "timm", "PySide6", "pyqtgraph", "viewer"}


def test_viewer_never_loads_torch():
    loaded = _loaded_after_import(_modules(viewer))
    assert not loaded & {"torch", "torchvision", "timm"}
    assert "PySide6" in loaded


def test_the_viewers_logic_loads_no_qt():
    import viewer.logic

    loaded = _loaded_after_import(_modules(viewer.logic) + ["viewer.qt_libraries"])
    assert not loaded & {"PySide6", "pyqtgraph", "torch"}
