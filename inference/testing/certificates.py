"""A throwaway certificate authority for TLS tests: a CA, a server certificate for 127.0.0.1 and
localhost, and a client certificate (LungLens's), all signed by that CA, made with the openssl command line
(Debian's ``openssl``; the ``cryptography`` package is no LungLens dependency). Valid for two days."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_LEAF_EXTENSIONS = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")


@dataclass(frozen=True)
class CertificateSet:
    ca: Path  # the CA certificate (PEM): what a client must trust
    server_certificate: Path
    server_key: Path
    server_pem: Path  # key + certificate in one file (what Orthanc's HTTPS server reads)
    client_certificate: Path
    client_key: Path


def _openssl(*args: str) -> None:
    executable = shutil.which("openssl")
    if executable is None:
        raise RuntimeError("the openssl command is not installed (apt-get install -y openssl)")
    subprocess.run([executable, *args], check=True, capture_output=True, timeout=60)


def _signed(folder: Path, name: str, subject: str, extensions: str, ca: Path, ca_key: Path) -> tuple[Path, Path]:
    key, request, certificate = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.crt"
    (folder / f"{name}.ext").write_text(extensions)
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request), "-subj", subject)
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-days", "2", "-sha256", "-out", str(certificate), "-extfile", str(folder / f"{name}.ext"))
    return certificate, key


def make_test_certificates(folder: Path) -> CertificateSet:
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
             "-sha256", "-subj", "/CN=LungLens test CA", "-extensions", "v3_ca",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    server, server_key = _signed(folder, "server", "/CN=localhost", _LEAF_EXTENSIONS + "extendedKeyUsage=serverAuth,clientAuth\n"
                                 "subjectAltName=IP:127.0.0.1,DNS:localhost\n", ca, ca_key)
    # serverAuth too: during a C-MOVE over TLS the PACS connects to LungLens, which shows this certificate.
    client, client_key = _signed(folder, "client", "/CN=LUNGLENS", _LEAF_EXTENSIONS + "extendedKeyUsage=serverAuth,clientAuth\n",
                                 ca, ca_key)
    pem = folder / "server.pem"
    pem.write_text(server_key.read_text() + server.read_text())
    return CertificateSet(ca, server, server_key, pem, client, client_key)
