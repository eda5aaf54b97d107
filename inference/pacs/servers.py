"""PACS connection settings, one entry per server, kept in the user's settings folder as JSON."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

import platformdirs

from inference.jobs import Cancelled
from inference.output_paths import write_atomically


class PacsError(RuntimeError):
    """A PACS operation failed; the message says why in words a user can act on."""


class RetrieveCancelled(PacsError, Cancelled):
    """The user stopped a retrieve; what arrived stays, and the study stays partial."""


class Transport(str, Enum):
    """How LungLens talks to a server: DICOM messages over its port, or DICOMweb over HTTP."""

    DIMSE = "dimse"
    DICOMWEB = "dicomweb"


class RetrieveMethod(str, Enum):
    """DIMSE retrieval: C-GET brings the images back on our own association; C-MOVE has the PACS
    send them to LungLens's storage port, which the PACS must know under LungLens's AE title."""

    GET = "C-GET"
    MOVE = "C-MOVE"


@dataclass(frozen=True)
class PacsServer:
    name: str
    host: str = "127.0.0.1"
    port: int = 104
    called_ae: str = "ORTHANC"
    calling_ae: str = "LUNGLENS"
    dicomweb_url: str = ""  # e.g. http://127.0.0.1:8042/dicom-web; empty: no DICOMweb
    timeout_s: float = 30.0
    transport: Transport = Transport.DIMSE
    retrieve: RetrieveMethod = RetrieveMethod.GET
    storage_port: int = 11113  # where LungLens listens for a C-MOVE's images
    # TLS (inference.pacs.tls): DIMSE over TLS when ``tls``; DICOMweb when the URL is https://.
    tls: bool = False
    ca_certificate: str = ""  # PEM file of the CA(s) the server's certificate is signed by; empty: the system's
    client_certificate: str = ""  # PEM file: LungLens's own certificate, for servers that ask for one
    client_key: str = ""  # its private key (PEM), unless it is in the certificate's file
    verify: bool = True  # check the server's certificate and name; off only to diagnose

    def __post_init__(self) -> None:
        object.__setattr__(self, "transport", Transport(self.transport))
        object.__setattr__(self, "retrieve", RetrieveMethod(self.retrieve))
        if self.transport == Transport.DICOMWEB and not self.dicomweb_url:
            raise PacsError(f"{self.name}: DICOMweb needs the server's DICOMweb URL (e.g. http://host:8042/dicom-web)")

    @property
    def on_loopback(self) -> bool:
        """The PACS runs on this computer: the storage port then listens on loopback only."""
        try:
            return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def uses_tls(self) -> bool:
        if self.transport == Transport.DICOMWEB:
            return self.dicomweb_url.lower().startswith("https://")
        return self.tls

    def describe(self) -> str:
        unverified = ", certificate NOT verified" if self.uses_tls and not self.verify else ""
        if self.transport == Transport.DICOMWEB:
            return f"DICOMweb at {self.dicomweb_url}{unverified}"
        return f"{self.called_ae} at {self.host}:{self.port} ({self.retrieve.value}{', TLS' if self.tls else ''}{unverified})"


def settings_file() -> Path:
    folder = Path(os.environ.get("LUNGLENS_CONFIG_DIR") or platformdirs.user_config_dir("lunglens"))
    return folder / "pacs.json"


def load_servers() -> dict[str, PacsServer]:
    path = settings_file()
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
        return {e["name"]: PacsServer(**e) for e in entries}
    except (ValueError, TypeError, KeyError) as exc:
        raise PacsError(f"the PACS settings in {path} cannot be read ({type(exc).__name__}); fix or delete the file") from exc


def save_server(server: PacsServer) -> None:
    servers = load_servers()
    servers[server.name] = server
    path = settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps([{**asdict(s), "transport": s.transport.value, "retrieve": s.retrieve.value} for s in servers.values()],
                      indent=2)
    write_atomically(path, lambda tmp: tmp.write_text(text), mode=0o666)


def find_server(name: str) -> PacsServer:
    servers = load_servers()
    if name not in servers:
        known = ", ".join(servers) or "none yet"
        raise PacsError(f"no PACS named {name!r} in the settings (known: {known}); add one with 'lunglens pacs add'")
    return servers[name]
