"""A real Orthanc (Debian packages orthanc + orthanc-dicomweb) on loopback with a temporary
configuration and storage: the PACS of tests/pacs, the viewer's PACS tests and bench_retrieve."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from inference.pacs.servers import PacsServer

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Orthanc:
    folder: Path
    dicom_port: int
    http_port: int
    storage_port: int  # LungLens's C-MOVE destination, known to this Orthanc as LUNGLENS
    process: subprocess.Popen | None = None

    @property
    def server(self) -> PacsServer:
        return PacsServer("test-orthanc", "127.0.0.1", self.dicom_port, "ORTHANC", "LUNGLENS",
                          f"http://127.0.0.1:{self.http_port}/dicom-web", timeout_s=10.0, storage_port=self.storage_port)

    def start(self, executable: str = "Orthanc") -> None:
        log = open(self.folder / "orthanc.log", "ab")
        self.process = subprocess.Popen([executable, str(self.folder / "orthanc.json")], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/system", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start in 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def rest(self, path: str):
        return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10).read())

    def upload(self, files) -> None:
        for path in files:
            request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}/instances", data=Path(path).read_bytes(), method="POST")
            urllib.request.urlopen(request, timeout=30).read()


def write_config(folder: Path, dicom_port: int, http_port: int, storage_port: int) -> None:
    """Loopback only, no authentication (nothing leaves the machine), LungLens known as a C-MOVE
    destination, the DICOMweb plugin when it is installed."""
    config = {
        "Name": "LungLensTest", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "storage"),
        "DicomAet": "ORTHANC", "DicomPort": dicom_port, "HttpPort": http_port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": True, "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True, "UnknownSopClassAccepted": True, "DicomScpTimeout": 10,
        "DicomModalities": {"lunglens": ["LUNGLENS", "127.0.0.1", storage_port]}, "HttpServerEnabled": True, "StableAge": 1, "ConcurrentJobs": 1,
        "Plugins": [str(DICOMWEB_PLUGIN)] if DICOMWEB_PLUGIN.exists() else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))


def new_orthanc(folder: Path) -> Orthanc:
    """An Orthanc (not started yet) with its configuration and storage in ``folder``, on free ports."""
    folder.mkdir(parents=True, exist_ok=True)
    instance = Orthanc(folder, free_port(), free_port(), free_port())
    write_config(folder, instance.dicom_port, instance.http_port, instance.storage_port)
    return instance
