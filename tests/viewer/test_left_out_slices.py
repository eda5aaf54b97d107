"""A slice the viewer's load had to leave out is listed with the skipped files, not only in a warning."""

from __future__ import annotations

import pydicom
from pydicom.uid import JPEG2000Lossless

from inference.phantoms import make_ct_phantom, write_ct_series

SPACING = (5.0, 8.0, 8.0)


def test_a_slice_left_out_while_loading_is_listed_with_its_reason(window, tmp_path):
    hu, _ = make_ct_phantom((8, 32, 32), SPACING, seed=3)
    files = write_ct_series(tmp_path / "study", hu, SPACING, transfer_syntax=JPEG2000Lossless)
    ds = pydicom.dcmread(files[4])  # a whole codestream (start and end markers) that does not decode
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\x4f\xff\x51" + bytes(200) + b"\xff\xd9"])
    ds.save_as(files[4])
    window.open_path(tmp_path / "study")
    assert window.wait_until_loaded(60)
    assert window.image.shape[0] == 7
    assert [(s.path, "could not be decoded" in s.reason) for s in window.skipped] == [(str(files[4]), True)]
