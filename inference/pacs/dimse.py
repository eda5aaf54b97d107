"""DIMSE with pynetdicom: C-ECHO, study/series C-FIND, C-GET into the local store, C-STORE of results.

Every failure becomes a PacsError saying what happened: nothing listening, a timeout, an association
the server refused (and which AE title it did not know), or a retrieve cut short (how far it got).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, build_role, evt
from pynetdicom.sop_class import (
    ComprehensiveSRStorage, Comprehensive3DSRStorage, ComputedRadiographyImageStorage, CTImageStorage,
    DigitalXRayImageStorageForPresentation, DigitalXRayImageStorageForProcessing, EncapsulatedPDFStorage,
    EnhancedCTImageStorage, EnhancedSRStorage, LegacyConvertedEnhancedCTImageStorage, SecondaryCaptureImageStorage,
    SegmentationStorage, StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
    Verification,
)


from inference.pacs.servers import PacsError, PacsServer
from inference.pacs.store import StoredStudy

RETRIEVED_CLASSES = (
    CTImageStorage, EnhancedCTImageStorage, LegacyConvertedEnhancedCTImageStorage, ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation, DigitalXRayImageStorageForProcessing, SecondaryCaptureImageStorage,
    SegmentationStorage, Comprehensive3DSRStorage, ComprehensiveSRStorage, EnhancedSRStorage, EncapsulatedPDFStorage,
)
STUDY_KEYS = ("PatientName", "PatientID", "StudyDate", "StudyDescription", "AccessionNumber", "ModalitiesInStudy",
              "NumberOfStudyRelatedInstances")
SERIES_KEYS = ("Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances")


@dataclass(frozen=True)
class StudyQuery:
    """C-FIND matching keys: DICOM wildcards in names (``DOE*``), a date range ``20200101-20201231``."""

    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modality: str = ""
    study_uid: str = ""


def _reachable(server: PacsServer) -> None:
    try:
        socket.create_connection((server.host, server.port), timeout=server.timeout_s).close()
    except TimeoutError as exc:
        raise PacsError(f"{server.name}: no answer from {server.host}:{server.port} within {server.timeout_s:g} s") from exc
    except OSError as exc:
        raise PacsError(f"{server.name}: nothing accepts DICOM connections at {server.host}:{server.port} "
                        f"({exc.strerror or type(exc).__name__}); is the PACS running, and the port right?") from exc


def _associate(server: PacsServer, contexts: Sequence[str], roles: Sequence[str] = (), handlers=(),
               storage: Sequence[tuple[str, str]] = ()):
    """An association for ``contexts``; ``roles``: classes we receive (C-GET) in any transfer syntax;
    ``storage``: (class, transfer syntax) pairs we send, one context each so nothing is transcoded."""
    _reachable(server)
    ae = AE(ae_title=server.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = server.timeout_s
    for context in contexts:
        ae.add_requested_context(context, ALL_TRANSFER_SYNTAXES if context in roles else None)
    for context, syntax in storage:
        ae.add_requested_context(context, [syntax])
    assoc = ae.associate(server.host, server.port, ae_title=server.called_ae,
                         ext_neg=[build_role(c, scp_role=True) for c in roles], evt_handlers=list(handlers))
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PacsError(f"{server.name} refused the association: check that its AE title is {server.called_ae} and that "
                        f"it knows LungLens as {server.calling_ae} (PACS usually accept only AE titles they were told about)")
    if assoc.is_aborted:
        raise PacsError(f"{server.name} aborted the association (calling AE {server.calling_ae}, called AE {server.called_ae})")
    raise PacsError(f"{server.name}: no association within {server.timeout_s:g} s")


def echo(server: PacsServer) -> None:
    assoc = _associate(server, [Verification])
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0x0000:
        raise PacsError(f"{server.name} answered C-ECHO with status {status.Status if status else 'none (timeout)'}")


def _find(server: PacsServer, query: Dataset) -> list[Dataset]:
    assoc = _associate(server, [StudyRootQueryRetrieveInformationModelFind])
    found = []
    try:
        for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
            if not status:
                raise PacsError(f"{server.name}: the query timed out or the connection dropped")
            if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                found.append(identifier)
            elif status.Status != 0x0000:
                raise PacsError(f"{server.name} refused the query (status 0x{status.Status:04X})")
    finally:
        assoc.release()
    return found


def find_studies(server: PacsServer, query: StudyQuery) -> list[Dataset]:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = query.study_uid
    for keyword in STUDY_KEYS:
        setattr(ds, keyword, "")
    ds.PatientName, ds.PatientID, ds.StudyDate = query.patient_name, query.patient_id, query.study_date
    ds.ModalitiesInStudy = query.modality
    return _find(server, ds)


def find_series(server: PacsServer, study_uid: str, modality: str = "") -> list[Dataset]:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, ""
    for keyword in SERIES_KEYS:
        setattr(ds, keyword, "")
    ds.Modality = modality
    return _find(server, ds)


def find_instances(server: PacsServer, study_uid: str) -> dict[str, str]:
    """SOPInstanceUID -> SeriesInstanceUID of every instance of a study."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, "", ""
    return {str(d.SOPInstanceUID): str(d.SeriesInstanceUID) for d in _find(server, ds)}


def get_study(
    server: PacsServer, study_uid: str, store: StoredStudy, on_instance: Callable[[int, int], None] | None = None
) -> int:
    """C-GET what of the study is not in ``store`` yet (whole series at a time); returns instances received.

    Raises PacsError when the retrieve stops; what arrived stays, and the study stays partial."""
    expected = find_instances(server, study_uid)
    if not expected:
        raise PacsError(f"{server.name} has no instances of study {study_uid}")
    missing_series = sorted({series for sop, series in expected.items() if sop not in store.instance_uids()})
    received = [0]

    def on_store(event) -> int:
        store.save(event.dataset)
        received[0] += 1
        if on_instance is not None:
            on_instance(received[0], len(expected))
        return 0x0000

    for series_uid in missing_series:
        assoc = _associate(server, [StudyRootQueryRetrieveInformationModelGet, *RETRIEVED_CLASSES], RETRIEVED_CLASSES,
                           [(evt.EVT_C_STORE, _with_meta(on_store))])
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID, query.SeriesInstanceUID = study_uid, series_uid
        try:
            final = None
            for status, _identifier in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
                final = status
                if not status:
                    break
        finally:
            if assoc.is_established:
                assoc.release()
        if not final or final.Status not in (0x0000, 0xFF00):
            have = len(store.instance_uids() & set(expected))
            raise PacsError(f"{server.name}: the retrieve stopped after {have} of {len(expected)} instances "
                            f"({'connection lost or timed out' if not final else f'status 0x{final.Status:04X}'}); "
                            "the study is kept as partial, retrieve again to resume")
    if not store.mark_complete(set(expected)):
        have = len(store.instance_uids() & set(expected))
        raise PacsError(f"{server.name} sent {have} of {len(expected)} instances; the study is kept as partial")
    return received[0]


def _with_meta(handler):
    """pynetdicom hands the dataset without file meta; give it the meta it arrived with before saving."""
    def wrapped(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        return handler(event)
    return wrapped


def send(server: PacsServer, files: Iterable[Path]) -> int:
    """C-STORE each file; returns how many the PACS accepted, PacsError on the first refusal."""
    datasets = [pydicom.dcmread(p) for p in files]
    pairs = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets})
    assoc = _associate(server, [], storage=pairs)
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            if not status or status.Status not in (0x0000, 0xB000, 0xB007, 0xB006):
                raise PacsError(f"{server.name} did not store {ds.SOPInstanceUID} "
                                f"({'no answer' if not status else f'status 0x{status.Status:04X}'})")
    finally:
        if assoc.is_established:
            assoc.release()
    return len(datasets)
