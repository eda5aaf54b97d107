"""TLS to a PACS: the SSL contexts a server's settings ask for (the CA certificate to trust, LungLens's
own certificate and key for servers that want one, verification on unless switched off), for DICOM
TLS (pynetdicom) and HTTPS (requests) alike, and a handshake that failed said in words a user can act on.
"""

from __future__ import annotations

import socket
import ssl

from inference.pacs.servers import PacsError, PacsServer

# What OpenSSL says (in ssl errors, and in the text requests wraps them in) -> what it means for the user.
_PEER_REFUSED = (
    ("CERTIFICATE_REQUIRED", "wants a client certificate: give LungLens's certificate and key in the server's settings"),
    ("UNKNOWN_CA", "does not trust LungLens's client certificate (it was not signed by a CA the server knows)"),
    ("BAD_CERTIFICATE", "refused LungLens's client certificate"),
    ("CERTIFICATE_EXPIRED", "refused LungLens's client certificate: it has expired"),
    ("WRONG_VERSION_NUMBER", "does not answer in TLS there: is TLS enabled on that port, or is it a plain one?"),
    ("HANDSHAKE_FAILURE", "found no TLS version or cipher in common with LungLens"),
    ("EOF", "closed the connection during the handshake: does that port speak TLS?"),
)


def _context(server: PacsServer, purpose: ssl.Purpose, with_own_certificate: bool) -> ssl.SSLContext:
    """Trusting the CA certificate of the settings (only it), else the system's certificates."""
    what, path = "CA certificate", server.ca_certificate
    try:
        context = ssl.create_default_context(purpose, cafile=server.ca_certificate or None)
        if with_own_certificate:
            what, path = "client certificate and key", server.client_certificate
            context.load_cert_chain(server.client_certificate, server.client_key or None)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise PacsError(f"{server.name}: cannot read the {what} ({path}): {reason}") from exc
    return context


def client_context(server: PacsServer) -> ssl.SSLContext:
    """The context LungLens connects to ``server`` with."""
    context = _context(server, ssl.Purpose.SERVER_AUTH, bool(server.client_certificate))
    if not server.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def storage_context(server: PacsServer) -> ssl.SSLContext:
    """The context of LungLens's storage port during a C-MOVE over TLS: the PACS connects to it, so
    LungLens shows its own certificate and wants the PACS's, signed by the CA it trusts for that PACS."""
    if not server.client_certificate:
        raise PacsError(f"{server.name}: a C-MOVE over TLS has the PACS connect to LungLens, which then needs its own "
                        "certificate and key (client certificate in the server's settings); or retrieve with C-GET")
    context = _context(server, ssl.Purpose.CLIENT_AUTH, True)
    context.verify_mode = ssl.CERT_REQUIRED if server.verify else ssl.CERT_NONE
    return context


def failure_message(server: PacsServer, where: str, detail: str) -> str:
    """A failed TLS handshake with ``where`` (host:port or URL) in words; ``detail``: the error's text."""
    name = server.name
    if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
        why = detail.split("certificate verify failed:")[-1].split("(_ssl.c")[0].strip(" ')\"")
        if "mismatch" in why.lower() or "doesn't match" in why:
            return (f"{name}: the certificate of {where} is not for that name ({why}); "
                    "connect by a name or address the certificate carries")
        if "expired" in why:
            return f"{name}: the certificate of {where} has expired ({why})"
        source = f"the CA certificate {server.ca_certificate}" if server.ca_certificate else "the system's certificates"
        return (f"{name}: the certificate of {where} is not trusted ({why}; checked against {source}); "
                "give the CA certificate that signed it in the server's settings (CA certificate)")
    for code, meaning in _PEER_REFUSED:
        if code in detail.upper():
            return f"{name}: TLS handshake with {where} failed: the server {meaning}"
    return f"{name}: TLS handshake with {where} failed ({detail.strip() or 'the connection was closed'})"


def check_handshake(server: PacsServer, context: ssl.SSLContext, connection: socket.socket, read_s: float = 0.0) -> None:
    """Do the TLS handshake on ``connection``; PacsError saying why when it fails. With ``read_s``,
    also wait that long for what the server says next: a server that turns down our certificate
    (TLS 1.3) says so only after the handshake, while one that accepts it waits for us in silence."""
    where = f"{server.host}:{server.port}"
    try:
        with context.wrap_socket(connection, server_hostname=server.host) as tls:
            if read_s:
                tls.settimeout(read_s)
                try:
                    tls.recv(1)
                except TimeoutError:
                    pass
    except ssl.SSLError as exc:
        raise PacsError(failure_message(server, where, str(exc))) from exc
    except ConnectionError as exc:  # closed during the handshake: a plain DICOM port hangs up on a TLS hello
        raise PacsError(failure_message(server, where, "WRONG_VERSION_NUMBER" if isinstance(exc, ConnectionResetError)
                                        else str(exc))) from exc
