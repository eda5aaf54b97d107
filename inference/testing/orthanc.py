"""A real Orthanc (Debian packages orthanc + orthanc-dicomweb) on loopback with a temporary
configuration and storage: the PACS of tests/pacs, the viewer's PACS tests and bench_retrieve.
With ``certificates`` (inference.testing.certificates) its DICOM port speaks only DICOM TLS (Orthanc >= 1.9),
wanting a client certificate signed by the same CA, and DICOMweb is offered over HTTPS by ``TlsFront``:
Debian 12's Orthanc 1.10.1 has HTTPS ("SslEnabled"), but its web server crashes (SIGSEGV) on the first
HTTPS connection with OpenSSL 3, whatever the key format, ciphers or protocol version (tried)."""

from __future__ import annotations

import dataclasses
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from inference.pacs.servers import PacsServer
from inference.testing.certificates import CertificateSet

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TlsFront:
    """HTTPS on a loopback port of its own, passed on as plain HTTP to ``upstream``: a TLS terminator,
    as a hospital puts in front of a PACS's web server. One thread per connection and direction."""

    def __init__(self, upstream: int, certificates: CertificateSet) -> None:
        self.upstream = upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(certificates.server_certificate), str(certificates.server_key))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
            server = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:  # a client that gave up the handshake (the tests' untrusting clients do)
            client.close()
            return
        threading.Thread(target=self._pipe, args=(server, tls), daemon=True).start()
        self._pipe(tls, server)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(1 << 20):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@dataclass
class Orthanc:
    folder: Path
    dicom_port: int
    http_port: int
    storage_port: int  # LungLens's C-MOVE destination, known to this Orthanc as LUNGLENS
    certificates: CertificateSet | None = None
    process: subprocess.Popen | None = None
    front: TlsFront | None = None

    @property
    def url(self) -> str:
        """Orthanc's own HTTP (REST), plain on loopback."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        if self.certificates is None:
            return f"{self.url}/dicom-web"
        if self.front is None:
            self.front = TlsFront(self.http_port, self.certificates)
        return f"https://127.0.0.1:{self.front.port}/dicom-web"

    @property
    def server(self) -> PacsServer:
        """LungLens's settings for this Orthanc; with TLS, trusting the test CA and presenting its client certificate."""
        server = PacsServer("test-orthanc", "127.0.0.1", self.dicom_port, "ORTHANC", "LUNGLENS", self.dicomweb_url,
                            timeout_s=10.0, storage_port=self.storage_port)
        if self.certificates is None:
            return server
        return dataclasses.replace(server, tls=True, ca_certificate=str(self.certificates.ca),
                                   client_certificate=str(self.certificates.client_certificate),
                                   client_key=str(self.certificates.client_key))

    def start(self, executable: str = "Orthanc") -> None:
        log = open(self.folder / "orthanc.log", "ab")
        self.process = subprocess.Popen([executable, str(self.folder / "orthanc.json")], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/system", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start in 30 s")

    def stop(self) -> None:
        """Orthanc stops; the TLS front (if any) stays, as a proxy would, and answers nothing for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def rest(self, path: str):
        return json.loads(urllib.request.urlopen(f"{self.url}{path}", timeout=10).read())

    def upload(self, files) -> None:
        for path in files:
            request = urllib.request.Request(f"{self.url}/instances", data=Path(path).read_bytes(), method="POST")
            urllib.request.urlopen(request, timeout=30).read()


def write_config(folder: Path, dicom_port: int, http_port: int, storage_port: int,
                 certificates: CertificateSet | None = None) -> None:
    """Loopback only, no authentication (nothing leaves the machine), LungLens known as a C-MOVE
    destination (over TLS too when the DICOM port is), the DICOMweb plugin when it is installed."""
    config = {
        "Name": "LungLensTest", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "storage"),
        "DicomAet": "ORTHANC", "DicomPort": dicom_port, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True, "UnknownSopClassAccepted": True, "DicomScpTimeout": 10,
        "DicomModalities": {"lunglens": ["LUNGLENS", "127.0.0.1", storage_port]}, "HttpServerEnabled": True, "StableAge": 1, "ConcurrentJobs": 1,
        "Plugins": [str(DICOMWEB_PLUGIN)] if DICOMWEB_PLUGIN.exists() else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        # No storage cache: a 300-slice CT (158 MB) does not fit the default 128 MB, so the cache only
        # copied every instance in and out again: Orthanc's CPU for a WADO-RS series 0.34 -> 0.24 s.
        "MaximumStorageCacheSize": 0,
    }
    if certificates is not None:
        config["DicomModalities"]["lunglens"] = {"AET": "LUNGLENS", "Host": "127.0.0.1", "Port": storage_port, "UseDicomTls": True}
        config.update({
            "DicomTlsEnabled": True, "DicomTlsCertificate": str(certificates.server_certificate),
            "DicomTlsPrivateKey": str(certificates.server_key), "DicomTlsTrustedCertificates": str(certificates.ca),
            "DicomTlsRemoteCertificateRequired": True,
        })
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))


def new_orthanc(folder: Path, certificates: CertificateSet | None = None) -> Orthanc:
    """An Orthanc (not started yet) with its configuration and storage in ``folder``, on free ports;
    TLS only, with these certificates, when they are given."""
    folder.mkdir(parents=True, exist_ok=True)
    instance = Orthanc(folder, free_port(), free_port(), free_port(), certificates)
    write_config(folder, instance.dicom_port, instance.http_port, instance.storage_port, certificates)
    return instance
