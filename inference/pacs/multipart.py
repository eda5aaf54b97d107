"""The parts of a multipart/related HTTP body (RFC 2046) as they stream in: how WADO-RS sends a
series, one DICOM file per part. The parts are handed over as bytes, exactly as sent, so nothing is
decoded and re-encoded on the way to disk (what made a retrieve through dicomweb-client's datasets
several times slower than the server's own sending)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class MultipartError(ValueError):
    """The body is not the multipart message its Content-Type announced."""


def boundary_of(content_type: str) -> bytes:
    media_type, *parameters = [p.strip() for p in content_type.split(";")]
    if media_type.lower() != "multipart/related":
        raise MultipartError(f"expected multipart/related, got {media_type or 'no content type'}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("ascii")
    raise MultipartError("multipart/related without a boundary")


def parts(chunks: Iterable[bytes], boundary: bytes) -> Iterator[bytes]:
    """Each part's body (its headers dropped), in order, as soon as the next delimiter has arrived."""
    delimiter = b"\r\n--" + boundary
    buffer = bytearray(b"\r\n")  # the first delimiter has no CRLF before it
    seen_first = after_delimiter = False
    searched = 0
    for chunk in chunks:
        buffer += chunk
        while True:
            if after_delimiter:  # "--" after a delimiter closes the body; anything else starts a part
                if len(buffer) < 2:
                    break
                if buffer[:2] == b"--":
                    return
                after_delimiter = False
            at = buffer.find(delimiter, searched)
            if at < 0:
                searched = max(0, len(buffer) - len(delimiter) + 1)
                break
            piece = bytes(buffer[:at])
            del buffer[: at + len(delimiter)]
            searched = 0
            if seen_first:
                headers_end = piece.find(b"\r\n\r\n")
                if headers_end < 0:
                    raise MultipartError("a part without the blank line that ends its headers")
                yield piece[headers_end + 4:]
            seen_first = after_delimiter = True
    raise MultipartError("the body ended before its closing boundary (connection cut short?)")
