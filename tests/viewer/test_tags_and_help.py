"""DICOM tag browser (lazy header read, sequences, filter) and the shortcuts help."""

from __future__ import annotations

import dataclasses

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from viewer.dialogs import ShortcutsDialog
from viewer.logic.shortcuts import SHORTCUTS

from .conftest import CT_SHAPE, make_ct


def _write_header(path, name: str) -> str:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientName = name
    ds.Modality = "CT"
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.999"
    ds.ReferencedImageSequence = [item]
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def test_tag_browser_follows_the_slice_and_filters(window, tmp_path):
    files = tuple(_write_header(tmp_path / f"{k}.dcm", f"Slice^{k}") for k in range(CT_SHAPE[0]))
    window.open_images([dataclasses.replace(make_ct(), source_files=files)])
    window.actions_by_command["tags"].trigger()
    browser = window.tag_browser
    axial = window.grid.panes["axial"]
    assert browser.path == files[axial.slice_index]
    axial.set_slice(3)
    assert browser.path == files[3]
    browser.search.setText("1.2.3.999")  # a value inside a sequence item
    visible = browser.visible_keywords()
    assert visible == ["ReferencedImageSequence", "Item 1", "ReferencedSOPInstanceUID"]
    browser.search.setText("(0010,0010)")
    assert browser.visible_keywords() == ["PatientName"]
    browser.search.setText("00100010")
    assert browser.visible_keywords() == ["PatientName"]


def test_tag_browser_reports_an_unreadable_file(window, tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom file")
    window.tag_browser.show_file(str(bad))
    assert "could not be read" in window.tag_browser.source.text()


def test_help_lists_every_shortcut(qtbot):
    dialog = ShortcutsDialog()
    qtbot.addWidget(dialog)
    listed = {dialog.table.item(r, 2).text() for r in range(dialog.table.rowCount())}
    assert {s.text for s in SHORTCUTS} <= listed
    keys = [k for s in SHORTCUTS for k in s.keys]
    assert len(keys) == len(set(keys)), "a key is bound twice"
