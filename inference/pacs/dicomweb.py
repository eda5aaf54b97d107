"""DICOMweb: QIDO-RS to find and STOW-RS to send results with dicomweb-client, WADO-RS to retrieve
(streamed, in the transfer syntax the server holds, each part written to disk as it arrives: no
transcoding, no decoding). The same operations and the same PacsErrors as DIMSE, over HTTP.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from inference.pacs import part10, tls
from inference.pacs.multipart import MultipartError, boundary_of, parts
from inference.pacs.query import SERIES_KEYS, STUDY_KEYS, SeriesRow, StudyQuery, StudyRow
from inference.pacs.retrieve import Cancel, Progress, Receive, retrieve_study
from inference.pacs.servers import PacsError, PacsServer
from inference.pacs.store import StoredStudy

# Any transfer syntax: the server sends what it holds.
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
PAGE = 1000  # QIDO results asked for at a time
UID_TAGS = ("00080018", "0020000E", "0020000D")  # SOP instance, series, study: what identifies a QIDO match
T = TypeVar("T")


def _uid(match: dict, tag: str) -> str:
    values = match.get(tag, {}).get("Value") or [""]
    return str(values[0])


def sop_instance_uid(data: bytes) -> str:
    """The SOPInstanceUID of a DICOM file's bytes: from its File Meta Information (microseconds),
    else from the data set's header through pydicom (about 0.5 ms)."""
    uid = part10.sop_instance_uid(data)
    if uid:
        return uid
    try:
        uid = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).get("SOPInstanceUID")
    except InvalidDicomError:
        uid = None
    if not uid:
        raise PacsError("the server sent a part of a series retrieve that is no DICOM file with a SOPInstanceUID")
    return str(uid)


class _Session(requests.Session):
    """A session whose ``verify`` (the CA certificate of the server's settings, or off) wins over
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment, which requests otherwise prefers."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None:
            settings["verify"] = self.verify
        return settings


class DicomWeb:
    """One PACS spoken to over DICOMweb at ``server.dicomweb_url``."""

    def __init__(self, server: PacsServer) -> None:
        self.server = server
        self.session = _Session()
        if server.uses_tls:
            self.session.verify = (server.ca_certificate or True) if server.verify else False
            if server.client_certificate:
                self.session.cert = (server.client_certificate, server.client_key) if server.client_key else server.client_certificate
        self._files_checked = not server.uses_tls
        self.client = DICOMwebClient(server.dicomweb_url, session=self.session, timeout=server.timeout_s)

    def _call(self, what: str, request: Callable[[], T]) -> T:
        """Run one request; a refused, unanswered or failed one becomes a PacsError saying which."""
        name, url = self.server.name, self.server.dicomweb_url
        if not self._files_checked:  # requests would say only "invalid path": PacsError naming the file instead
            tls.client_context(self.server)
            self._files_checked = True
        try:
            return request()
        except requests.exceptions.Timeout as exc:
            raise PacsError(f"{name}: no answer from {url} within {self.server.timeout_s:g} s ({what})") from exc
        except requests.exceptions.SSLError as exc:
            raise PacsError(tls.failure_message(self.server, url, str(exc))) from exc
        except requests.exceptions.ConnectionError as exc:
            raise PacsError(f"{name}: nothing answers at {url} ({what}); is the server running, the DICOMweb "
                            "plugin enabled and the URL right?") from exc
        except requests.exceptions.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else "?"
            hint = {401: " (it wants credentials)", 403: " (not allowed)", 404: " (wrong DICOMweb URL?)"}.get(status, "")
            raise PacsError(f"{name} answered HTTP {status} to the {what}{hint}") from exc
        except requests.exceptions.RequestException as exc:  # e.g. the body cut short mid-stream
            raise PacsError(f"{name}: the {what} failed ({type(exc).__name__}); the connection to {url} was lost?") from exc

    def _search(self, what: str, search: Callable[..., list[dict]], **keys) -> list[dict]:
        """Every match of a QIDO search, a page at a time. Not dicomweb-client's ``get_remaining``:
        a server that ignores ``offset`` for some filters (Orthanc 1.10 with ModalitiesInStudy)
        would make it ask forever; here a page that starts with a match already seen ends the search."""
        found: dict[str, dict] = {}
        while True:
            page = self._call(what, lambda: search(limit=PAGE, offset=len(found), **keys))
            fresh = {next(filter(None, (_uid(d, tag) for tag in UID_TAGS)), ""): d for d in page}
            if not fresh or next(iter(fresh)) in found:
                return list(found.values())
            found.update(fresh)
            if len(page) < PAGE:
                return list(found.values())

    def echo(self) -> None:
        self._call("study search", lambda: self.client.search_for_studies(limit=1))

    def find_studies(self, query: StudyQuery) -> list[StudyRow]:
        filters = {"PatientName": query.patient_name, "PatientID": query.patient_id, "StudyDate": query.study_date,
                   "ModalitiesInStudy": query.modality, "StudyInstanceUID": query.study_uid}
        found = self._search("study search", self.client.search_for_studies, fields=list(STUDY_KEYS),
                             search_filters={k: v for k, v in filters.items() if v})
        return [StudyRow.from_dataset(Dataset.from_json(d)) for d in found]

    def find_series(self, study_uid: str, modality: str = "") -> list[SeriesRow]:
        found = self._search("series search", self.client.search_for_series, study_instance_uid=study_uid,
                             fields=list(SERIES_KEYS), search_filters={"Modality": modality} if modality else None)
        return [SeriesRow.from_dataset(Dataset.from_json(d)) for d in found]

    def find_instances(self, study_uid: str) -> dict[str, str]:
        """SOPInstanceUID -> SeriesInstanceUID of every instance of a study."""
        found = self._search("instance search", self.client.search_for_instances, study_instance_uid=study_uid,
                             fields=["SeriesInstanceUID"])
        return {_uid(d, "00080018"): _uid(d, "0020000E") for d in found}

    def retrieve(self, study_uid: str, store: StoredStudy, progress: Progress | None = None,
                 cancel: Cancel | None = None) -> int:
        """WADO-RS what of the study is not in ``store`` yet, a series at a time (see inference.pacs.retrieve)."""
        return retrieve_study(self.server.name, study_uid, self.find_instances(study_uid), self._fetch_series,
                              store, progress, cancel)

    def _fetch_series(self, study_uid: str, series_uid: str, receive: Receive) -> None:
        url = f"{self.server.dicomweb_url.rstrip('/')}/studies/{study_uid}/series/{series_uid}"

        def stream() -> None:
            with self.session.get(url, headers={"Accept": AS_STORED}, stream=True, timeout=self.server.timeout_s) as response:
                response.raise_for_status()
                try:
                    for part in parts(response.iter_content(1 << 20), boundary_of(response.headers.get("Content-Type", ""))):
                        if not receive(sop_instance_uid(part), (part,)):
                            return
                except MultipartError as exc:
                    raise PacsError(f"{self.server.name} sent a series retrieve LungLens cannot read: {exc}") from exc

        self._call("series retrieve", stream)

    def send(self, files: Iterable[Path]) -> int:
        """STOW-RS the files in one request; returns how many the server stored, PacsError naming a refusal."""
        datasets = [pydicom.dcmread(p) for p in files]
        answer = self._call("store", lambda: self.client.store_instances(datasets))
        failed = answer.get("FailedSOPSequence", []) if answer is not None else []
        if failed:
            first = failed[0]
            raise PacsError(f"{self.server.name} did not store {len(failed)} of {len(datasets)} object(s), e.g. "
                            f"{first.get('ReferencedSOPInstanceUID', '?')} (reason {first.get('FailureReason', '?')})")
        return len(datasets)
