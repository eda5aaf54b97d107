"""WADO-RS bodies split into their parts whatever the network's chunk sizes, and a body cut short
is an error, not a short series."""

from __future__ import annotations

import pytest

from inference.pacs.multipart import MultipartError, boundary_of, parts

BODY = (b"--XX\r\nContent-Type: application/dicom\r\n\r\nfirst part\r\n"
        b"--XX\r\nContent-Type: application/dicom\r\n\r\nsecond\r\n--XY not the boundary\r\n--XX--\r\n")


# As Orthanc sends them: each part with its Content-Length (the second one wrong, so it is searched for).
WITH_LENGTHS = (b"preamble\r\n--XX\r\nContent-Length: 10\r\nContent-Type: application/dicom\r\n\r\nfirst part\r\n"
                b"--XX\r\ncontent-length: 3\r\n\r\nsecond\r\n--XX\r\n\r\n\r\n--XX--\r\n")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(BODY)])
def test_parts_whatever_the_chunk_size(size):
    chunks = [BODY[i:i + size] for i in range(0, len(BODY), size)]
    assert list(parts(chunks, b"XX")) == [b"first part", b"second\r\n--XY not the boundary"]
    chunks = [WITH_LENGTHS[i:i + size] for i in range(0, len(WITH_LENGTHS), size)]
    assert list(parts(chunks, b"XX")) == [b"first part", b"second", b""]


def test_a_body_cut_short_and_a_foreign_content_type_are_errors():
    with pytest.raises(MultipartError, match="ended before its closing boundary"):
        list(parts([BODY[:60]], b"XX"))
    with pytest.raises(MultipartError, match="ended before its closing boundary"):
        list(parts([WITH_LENGTHS[:80]], b"XX"))  # cut inside a part whose length is known
    with pytest.raises(MultipartError, match="without the blank line"):
        list(parts([b"--XX\r\nContent-Type: application/dicom\r\n--XX--\r\n"], b"XX"))
    assert boundary_of('multipart/related; type="application/dicom"; boundary="XX"') == b"XX"
    with pytest.raises(MultipartError, match="expected multipart/related"):
        boundary_of("application/json")
