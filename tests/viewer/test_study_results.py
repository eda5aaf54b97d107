"""A study folder with LungLens's DICOM results beside its images: the SEGs open as layers on the
series they segment (the lung mask outlined, each Grad-CAM hidden until ticked), the SR's findings
fill the DICOM results panel, and another series or study takes them away."""

from __future__ import annotations

import numpy as np
import pytest

from tests.dicom.tools import studies_with_results
from viewer.logic.layers import HeatmapLayer, LabelLayer

LUNG_MASK = "SEG: LungLens lung mask (research use)"


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("study-results")
    return root, *studies_with_results(root)


def _seg_layers(window) -> list[str]:
    return [name for name in window.layers.names if name.startswith("SEG: ")]


def test_seg_layers_and_sr_findings_on_the_series_they_refer_to(window, qtbot, written):
    root, analysis, _ = written
    window.open_path(root / "ct")
    assert window.wait_until_loaded(60)
    qtbot.waitUntil(lambda: LUNG_MASK in window.layers.names, timeout=30000)
    assert window.image.modality.value == "CT"
    mask = window.layers[LUNG_MASK]
    assert isinstance(mask, LabelLayer) and mask.visible and mask.contour
    assert np.array_equal(mask.labels, analysis.lung_mask.labels)
    assert mask.label_names == {1: "Right lung", 2: "Left lung"}
    cams = [window.layers[n] for n in _seg_layers(window) if n.startswith("SEG: Grad-CAM of ct_plain")]
    assert [c.name.rsplit(", ", 1)[1] for c in cams] == ["Grad-CAM NonCOVID", "Grad-CAM COVID"]
    assert all(isinstance(c, HeatmapLayer) and not c.visible for c in cams)
    covid = next(o for o in analysis.opinions if o.model_id == "ct_plain")
    assert np.abs(cams[1].volume().astype(int) - covid.cam_volume(1).astype(int)).max() <= 1

    assert window.results_dock.isVisible()
    text = window.study_results.panel.toPlainText()
    assert f"model ct_plain: Model verdict {covid.verdict.label}" in text
    assert "Imaging Measurement Report" in text and "SR by LungLens, on this series" in text
    assert "report_pdf.dcm" in " ".join(s.path for s in window.skipped)  # other objects are still listed


def test_another_series_drops_the_layers_and_a_study_without_results_hides_the_panel(window, qtbot, written):
    root, _, _ = written
    window.open_path(root / "ct")
    assert window.wait_until_loaded(60)
    qtbot.waitUntil(lambda: LUNG_MASK in window.layers.names, timeout=30000)
    key_image = next(k for k, image in window.images.items() if image.modality.value == "XR")
    window.show_series(key_image)
    qtbot.waitUntil(lambda: "on series" in window.study_results.panel.toPlainText(), timeout=30000)
    assert _seg_layers(window) == []

    window.open_path(root / "ct" / "images")
    assert window.wait_until_loaded(60)
    assert not window.results_dock.isVisible() and _seg_layers(window) == []
