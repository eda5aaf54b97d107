"""The hand-made DICOM file header of a retrieved instance reads back in pydicom as pynetdicom would
have written it, and the SOPInstanceUID is found in any file pydicom writes; a store that cannot
write says so."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.dsutils import create_file_meta, encode_file_meta

from inference.pacs import part10
from inference.pacs.store import StoredStudy, StoreError, StoreWriter
from inference.phantoms import make_ct_phantom, write_ct_series


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian, JPEG2000Lossless])
@pytest.mark.parametrize("sop", ["1.2.3", "1.2.826.0.1.3680043.8.498.12"])  # odd and even lengths (padding)
def test_file_header_is_what_pynetdicom_writes(syntax, sop):
    header = part10.file_header(CTImageStorage, sop, syntax, PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION)
    meta = create_file_meta(sop_class_uid=CTImageStorage, sop_instance_uid=pydicom.uid.UID(sop), transfer_syntax=syntax)
    assert header == part10.PREAMBLE + encode_file_meta(meta)
    assert part10.sop_instance_uid(header) == sop


def test_sop_instance_uid_of_written_files_and_of_no_dicom(tmp_path):
    hu, _ = make_ct_phantom((2, 16, 16), (1.0, 1.0, 1.0))
    for path in write_ct_series(tmp_path, hu, (1.0, 1.0, 1.0)):
        data = open(path, "rb").read()
        assert part10.sop_instance_uid(data) == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
        assert part10.sop_instance_uid(memoryview(data)) == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
    assert part10.sop_instance_uid(b"not dicom" * 40) is None
    assert part10.sop_instance_uid(b"\0" * 128 + b"DICM" + b"\x08\x00\x16\x00UI") is None  # no group 0002


def test_pieces_are_written_in_order_and_a_refusing_disk_is_named(tmp_path):
    store = StoredStudy(tmp_path / "study")
    with StoreWriter(store) as writer:
        assert writer.write("1.2", "1.2.3", (b"head", memoryview(b"-body-")[1:5], bytearray(b"!")))
        writer.flush()
    assert (tmp_path / "study" / "1.2" / "1.2.3.dcm").read_bytes() == b"headbody!"
    assert store.instance_uids() == {"1.2.3"}

    blocked = StoredStudy(tmp_path / "blocked")
    blocked.folder.mkdir()
    (blocked.folder / "1.2").write_text("a file where the series folder should be")  # fails as root too
    with StoreWriter(blocked) as writer:
        writer.write("1.2", "1.2.3", (b"x",))
        with pytest.raises(StoreError, match="cannot write into the local study store .*blocked \\(Not a directory\\)"):
            writer.flush()
        assert not writer.write("1.2", "1.2.4", (b"x",))
