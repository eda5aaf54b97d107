"""PACS connection settings, one entry per server, kept in the user's settings folder as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs


class PacsError(RuntimeError):
    """A PACS operation failed; the message says why in words a user can act on."""


@dataclass(frozen=True)
class PacsServer:
    name: str
    host: str = "127.0.0.1"
    port: int = 104
    called_ae: str = "ORTHANC"
    calling_ae: str = "LUNGLENS"
    dicomweb_url: str = ""  # e.g. http://127.0.0.1:8042/dicom-web; empty: no DICOMweb
    timeout_s: float = 30.0


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
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(s) for s in servers.values()], indent=2))
    os.replace(tmp, path)


def find_server(name: str) -> PacsServer:
    servers = load_servers()
    if name not in servers:
        known = ", ".join(servers) or "none yet"
        raise PacsError(f"no PACS named {name!r} in the settings (known: {known}); add one with 'lunglens pacs add'")
    return servers[name]
