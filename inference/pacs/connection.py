"""One seam for both transports: ``connect(server)`` gives what the server's settings ask for
(DIMSE or DICOMweb), and the CLI and the viewer never branch on which."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from inference.pacs.query import SeriesRow, StudyQuery, StudyRow
from inference.pacs.retrieve import Cancel, Progress
from inference.pacs.servers import PacsServer, Transport
from inference.pacs.store import StoredStudy


class PacsConnection(Protocol):
    server: PacsServer

    def echo(self) -> None: ...

    def find_studies(self, query: StudyQuery) -> list[StudyRow]: ...

    def find_series(self, study_uid: str, modality: str = "") -> list[SeriesRow]: ...

    def retrieve(self, study_uid: str, store: StoredStudy, progress: Progress | None = None,
                 cancel: Cancel | None = None) -> int: ...

    def send(self, files: Iterable[Path]) -> int: ...


def connect(server: PacsServer) -> PacsConnection:
    if server.transport == Transport.DICOMWEB:
        from inference.pacs.dicomweb import DicomWeb

        return DicomWeb(server)
    from inference.pacs.dimse import Dimse

    return Dimse(server)
