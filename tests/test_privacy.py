"""Offline and private, as the README promises: in a fresh HOME, every LungLens process (the command
line, the viewer, the bundle's entry point) analyses an X-ray with onnxruntime telemetry off, writes
nothing outside LungLens's own folders, and opens no socket except loopback ones.

Sockets are watched twice: a guard in each Python process (``sitecustomize``) refuses and records
every non-loopback address, and where strace can trace, the system calls of the native libraries
(onnxruntime's telemetry is C++) are read for non-loopback connects and any DNS query.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inference.phantoms import make_xray_phantom, write_xray_png
from inference.testing.tiny_models import classifier_onnx, install

PROJECT = Path(__file__).resolve().parents[1]
OWN_FOLDERS = (".cache/LungLens", ".local/share/LungLens", ".config/LungLens")

SOCKET_GUARD = textwrap.dedent(
    '''
    import ipaddress, os, socket

    _LOG = os.environ["LUNGLENS_TEST_NETWORK_LOG"]

    def _local(host):
        if host in ("localhost", "", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _refuse(what, host):
        with open(_LOG, "a") as log:
            log.write(f"{what} {host}\\n")
        raise OSError(f"network use refused by the privacy test: {what} {host}")

    def _watch(name):
        original = getattr(socket.socket, name)
        def guarded(self, *args):
            address = args[-1]
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
                _refuse(name, address[0])
            return original(self, *args)
        setattr(socket.socket, name, guarded)

    for _name in ("connect", "connect_ex", "sendto"):
        _watch(_name)
    _getaddrinfo = socket.getaddrinfo
    def _guarded_getaddrinfo(host, *args, **kwargs):
        if not _local(host):
            _refuse("getaddrinfo", host)
        return _getaddrinfo(host, *args, **kwargs)
    socket.getaddrinfo = _guarded_getaddrinfo
    '''
)


def _strace() -> list[str]:
    """The strace prefix when strace can trace here (it may lack ptrace rights in a container), else []."""
    tool = shutil.which("strace")
    if tool is None or subprocess.run([tool, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True).returncode:
        return []
    return [tool, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg"]


def _native_network_use(trace: Path) -> list[str]:
    """Traced connects and sends to a non-loopback address, and any DNS query (port 53), loopback resolver or not."""
    found = []
    for line in trace.read_text(errors="replace").splitlines():
        address = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
        dns = "htons(53)" in line
        host = next((g for g in address.groups() if g), "") if address else ""
        if dns or (host and not (host.startswith("127.") or host == "::1")):
            found.append(line[:200])
    return found


@pytest.fixture
def fresh_home(tmp_path):
    home = tmp_path / "home"
    install(home / ".local/share/LungLens/models", classifier_onnx(32, [-1.0, 1.0]), "xr_cls", modality="XR", classes=("Normal", "COVID"))
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SOCKET_GUARD)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "LUNGLENS_", "ORT_"))}
    env.update(
        HOME=str(home), QT_QPA_PLATFORM="offscreen", PYTHONPATH=os.pathsep.join([str(guard), str(PROJECT)]),
        LUNGLENS_TEST_NETWORK_LOG=str(tmp_path / "network.log"),
        LUNGLENS_BUNDLED_MODEL_DIR=str(tmp_path / "no-bundled-models"),
    )
    (tmp_path / "no-bundled-models").mkdir()
    return home, env


def test_every_entry_point_stays_offline_and_inside_its_own_folders(tmp_path, fresh_home):
    home, env = fresh_home
    xray = write_xray_png(tmp_path / "study" / "chest.png", make_xray_phantom((128, 128), seed=4)[0])
    before = {p.relative_to(home) for p in home.rglob("*")}
    runs = {
        "cli": [sys.executable, "-m", "inference.cli", "analyze", str(xray), "--json"],
        "viewer": [sys.executable, "-m", "inference.cli", "view", str(xray), "--analyze", "--screenshot", str(tmp_path / "shot.png")],
        "bundle": [sys.executable, str(PROJECT / "packaging" / "lunglens_main.py"), "analyze", str(xray), "--no-cache"],
    }
    strace = _strace()
    for name, command in runs.items():
        trace = tmp_path / f"{name}.trace"
        prefix = [*strace, "-o", str(trace)] if strace else []
        done = subprocess.run([*prefix, *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (name, done.stderr[-2000:])
        if strace:
            assert _native_network_use(trace) == [], name
    assert not (tmp_path / "network.log").exists(), (tmp_path / "network.log").read_text()
    assert not (home / ".cache" / "Microsoft").exists()  # onnxruntime's telemetry device id and event queue
    written = {p.relative_to(home) for p in home.rglob("*") if p.is_file()} - before
    outside = [str(p) for p in written if not str(p).startswith(OWN_FOLDERS)]
    assert outside == []
    assert any(str(p).startswith(".cache/LungLens/results") for p in written)  # the CLI run did cache
