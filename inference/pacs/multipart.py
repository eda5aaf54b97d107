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


def _content_length(headers: bytes) -> int | None:
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None


def parts(chunks: Iterable[bytes], boundary: bytes) -> Iterator[bytes]:
    """Each part's body (its headers dropped), in order, as soon as it has arrived whole.

    A part that says its Content-Length (Orthanc's do) is cut at that length once the delimiter
    is found right after it, so a 0.5 MB part is not searched byte by byte; any other is found by
    searching for the next delimiter. Each body is copied once, out of the receive buffer."""
    delimiter = b"\r\n--" + boundary
    buffer = bytearray(b"\r\n")  # the first delimiter has no CRLF before it
    body_start = length = None  # of the part being received, once its headers are in
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
            if seen_first and body_start is None:
                headers_end = buffer.find(b"\r\n\r\n")
                if headers_end < 0:
                    if buffer.find(delimiter) >= 0:
                        raise MultipartError("a part without the blank line that ends its headers")
                    break
                body_start, length = headers_end + 4, _content_length(bytes(buffer[:headers_end]))
                searched = body_start
            at = -1
            if length is not None and len(buffer) >= body_start + length + len(delimiter):
                if buffer[body_start + length:body_start + length + len(delimiter)] == delimiter:
                    at = body_start + length
                else:
                    length = None  # the length was wrong: search instead
            if at < 0 and length is None:
                at = buffer.find(delimiter, searched)
                if at < 0:
                    searched = max(body_start or 0, len(buffer) - len(delimiter) + 1)
            if at < 0:
                break
            if seen_first:
                with memoryview(buffer) as view:
                    body = view[body_start:at].tobytes()
            del buffer[: at + len(delimiter)]
            if seen_first:
                yield body
            body_start = length = None
            searched = 0
            seen_first = after_delimiter = True
    raise MultipartError("the body ended before its closing boundary (connection cut short?)")
