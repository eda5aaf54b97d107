"""DIMSE with pynetdicom: C-ECHO, study/series C-FIND, C-GET or C-MOVE into the local store, C-STORE of results.

Every failure becomes a PacsError saying what happened: nothing listening, a timeout, an association
the server refused (and which AE title it did not know), a move destination the PACS does not know,
or a retrieve cut short (how far it got). Instances are kept exactly as they arrive (no decoding).
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import (
    ALL_TRANSFER_SYNTAXES, AE, PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION, StoragePresentationContexts,
    build_context, build_role, evt,
)
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove, Verification,
)

from inference.pacs import part10, tls
from inference.pacs.query import SERIES_KEYS, STUDY_KEYS, SeriesRow, StudyQuery, StudyRow
from inference.pacs.retrieve import Cancel, Progress, Receive, retrieve_study
from inference.pacs.servers import PacsError, PacsServer, RetrieveMethod
from inference.pacs.store import StoredStudy

# Every storage class pynetdicom knows (120): with the C-GET context that stays within the 128
# presentation contexts an association may propose, and a dose report or key object never blocks a study.
STORAGE_CLASSES = tuple(context.abstract_syntax for context in StoragePresentationContexts)
_STORE_ACCEPTED = (0x0000, 0xB000, 0xB006, 0xB007)
_MOVE_DESTINATION_UNKNOWN = 0xA801
# The largest PDU we accept. pynetdicom's default (16 kB) cut a 300-slice CT into ~10,000 PDUs, each
# decoded in Python: 0.5 MB brings a CT slice in one or two (C-GET 25 % faster, measured), while a peer
# cannot make us buffer more than that per PDU.
MAX_PDU = 1 << 19


@functools.cache
def _requested(abstract_syntax: str, any_syntax: bool):
    """A presentation context as proposed: built once (a C-GET proposes 121, and building them cost
    more than the association itself); pynetdicom copies it for each association."""
    return build_context(abstract_syntax, ALL_TRANSFER_SYNTAXES if any_syntax else None)


def _keep_instance(receive: Receive, on_refuse: Callable[[], None]):
    """The C-STORE handler of a retrieve: hands ``receive`` the instance as a DICOM file, a header
    made here and the data set exactly as it arrived (neither decoded nor copied); when ``receive``
    says stop (the user cancelled, or the disk refused), ``on_refuse`` runs and the association is aborted."""

    def on_store(event) -> int:
        request = event.request
        header = part10.file_header(request.AffectedSOPClassUID, request.AffectedSOPInstanceUID,
                                    event.context.transfer_syntax, PYNETDICOM_IMPLEMENTATION_UID,
                                    PYNETDICOM_IMPLEMENTATION_VERSION)
        # The data set's buffer itself, kept alive by the view until the store's writer has written it.
        if receive(str(request.AffectedSOPInstanceUID), (header, request.DataSet.getbuffer())):
            return 0x0000
        on_refuse()
        event.assoc.abort()  # stop the transfer, not just this instance
        return 0xA700

    return on_store


class Dimse:
    """One PACS spoken to over DICOM messages; each call opens and releases its own association."""

    def __init__(self, server: PacsServer) -> None:
        self.server = server

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext | None:
        """Made at the first call, so that a certificate file that cannot be read is that call's PacsError."""
        return tls.client_context(self.server) if self.server.tls else None

    def _connect(self, read_s: float = 0.0) -> None:
        """Is something listening, and (TLS) does the handshake pass? PacsError saying which not."""
        server = self.server
        try:
            connection = socket.create_connection((server.host, server.port), timeout=server.timeout_s)
        except TimeoutError as exc:
            raise PacsError(f"{server.name}: no answer from {server.host}:{server.port} within {server.timeout_s:g} s") from exc
        except OSError as exc:
            raise PacsError(f"{server.name}: nothing accepts DICOM connections at {server.host}:{server.port} "
                            f"({exc.strerror or type(exc).__name__}); is the PACS running, and the port right?") from exc
        if self._tls is None:
            connection.close()
        else:
            tls.check_handshake(server, self._tls, connection, read_s)

    def _associate(self, contexts: Sequence[str], roles: Sequence[str] = (), handlers=(),
                   storage: Sequence[tuple[str, str]] = ()):
        """An association for ``contexts``; ``roles``: classes we receive (C-GET) in any transfer syntax;
        ``storage``: (class, transfer syntax) pairs we send, one context each so nothing is transcoded."""
        server = self.server
        self._connect()
        ae = AE(ae_title=server.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = server.timeout_s
        requested = [_requested(context, context in roles) for context in contexts]
        requested += [build_context(context, [syntax]) for context, syntax in storage]
        assoc = ae.associate(server.host, server.port, requested, ae_title=server.called_ae, max_pdu=MAX_PDU,
                             ext_neg=[build_role(c, scp_role=True) for c in roles], evt_handlers=list(handlers),
                             tls_args=(self._tls, server.host) if self._tls else None)
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            raise PacsError(f"{server.name} refused the association: check that its AE title is {server.called_ae} and that "
                            f"it knows LungLens as {server.calling_ae} (PACS usually accept only AE titles they were told about)")
        if self._tls is not None:  # the handshake passed, yet the server hung up: ask it why
            self._connect(read_s=min(server.timeout_s, 2.0))
        hint = "" if self._tls else "; if its port wants DICOM TLS, turn TLS on in the server's settings"
        if assoc.is_aborted:
            raise PacsError(f"{server.name} aborted the association (calling AE {server.calling_ae}, "
                            f"called AE {server.called_ae}){hint}")
        raise PacsError(f"{server.name}: no association within {server.timeout_s:g} s{hint}")

    def echo(self) -> None:
        assoc = self._associate([Verification])
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
        if not status or status.Status != 0x0000:
            raise PacsError(f"{self.server.name} answered C-ECHO with status {status.Status if status else 'none (timeout)'}")

    def _find(self, query: Dataset) -> list[Dataset]:
        assoc = self._associate([StudyRootQueryRetrieveInformationModelFind])
        found = []
        try:
            for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                if not status:
                    raise PacsError(f"{self.server.name}: the query timed out or the connection dropped")
                if status.Status in (0xFF00, 0xFF01) and identifier is not None:
                    found.append(identifier)
                elif status.Status != 0x0000:
                    raise PacsError(f"{self.server.name} refused the query (status 0x{status.Status:04X})")
        finally:
            if assoc.is_established:
                assoc.release()
        return found

    def find_studies(self, query: StudyQuery) -> list[StudyRow]:
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.StudyInstanceUID = query.study_uid
        for keyword in STUDY_KEYS:
            setattr(ds, keyword, "")
        ds.PatientName, ds.PatientID, ds.StudyDate = query.patient_name, query.patient_id, query.study_date
        ds.ModalitiesInStudy = query.modality
        return [StudyRow.from_dataset(d) for d in self._find(ds)]

    def find_series(self, study_uid: str, modality: str = "") -> list[SeriesRow]:
        ds = Dataset()
        ds.QueryRetrieveLevel = "SERIES"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, ""
        for keyword in SERIES_KEYS:
            setattr(ds, keyword, "")
        ds.Modality = modality
        return [SeriesRow.from_dataset(d) for d in self._find(ds)]

    def find_instances(self, study_uid: str) -> dict[str, str]:
        """SOPInstanceUID -> SeriesInstanceUID of every instance of a study."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "IMAGE"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, "", ""
        return {str(d.SOPInstanceUID): str(d.SeriesInstanceUID) for d in self._find(ds)}

    def retrieve(self, study_uid: str, store: StoredStudy, progress: Progress | None = None,
                 cancel: Cancel | None = None) -> int:
        """C-GET or C-MOVE (as the server is configured) what of the study is not in ``store`` yet, a
        series at a time; returns instances received (see inference.pacs.retrieve)."""
        fetch = self._move_series if self.server.retrieve == RetrieveMethod.MOVE else self._get_series
        return retrieve_study(self.server.name, study_uid, self.find_instances(study_uid), fetch, store, progress, cancel)

    @staticmethod
    def _series_query(study_uid: str, series_uid: str) -> Dataset:
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID, query.SeriesInstanceUID = study_uid, series_uid
        return query

    def _move_destination_hint(self) -> str:
        server = self.server
        return (f"{server.name} must know LungLens as a move destination (AE title {server.calling_ae}, this computer, "
                f"port {server.storage_port}); add it to the PACS's DICOM modalities, or retrieve with C-GET")

    def _check_final(self, final: Dataset | None, what: str, nothing_arrived: bool = False) -> None:
        if not final:
            raise PacsError("connection lost or timed out")
        if final.Status == _MOVE_DESTINATION_UNKNOWN:
            raise PacsError(f"{what} refused: {self._move_destination_hint()}")
        if final.Status not in (0x0000, 0xFF00):
            failed = final.get("NumberOfFailedSuboperations")
            # Some PACS (Orthanc) answer an unknown move destination with a plain failure (0xC000).
            hint = f"; {self._move_destination_hint()}" if what == "C-MOVE" and nothing_arrived else ""
            raise PacsError(f"{what} status 0x{final.Status:04X}" + (f", {failed} instance(s) failed" if failed else "") + hint)

    def _get_series(self, study_uid: str, series_uid: str, receive: Receive) -> None:
        assoc = self._associate([StudyRootQueryRetrieveInformationModelGet, *STORAGE_CLASSES], STORAGE_CLASSES,
                                [(evt.EVT_C_STORE, _keep_instance(receive, lambda: None))])
        final = None
        try:
            for status, _identifier in assoc.send_c_get(self._series_query(study_uid, series_uid),
                                                        StudyRootQueryRetrieveInformationModelGet):
                final = status
                if not status:
                    break
        finally:
            if assoc.is_established:
                assoc.release()
        self._check_final(final, "C-GET")

    def _storage_server(self, receive: Receive, stopped: threading.Event, arrived: threading.Event):
        """Our storage SCP for C-MOVE, on loopback when the PACS is on this computer."""
        server = self.server
        keep = _keep_instance(receive, stopped.set)

        def on_store(event) -> int:
            arrived.set()
            return keep(event)

        context = tls.storage_context(server) if server.tls else None
        ae = AE(ae_title=server.calling_ae)
        ae.network_timeout = ae.dimse_timeout = ae.acse_timeout = server.timeout_s
        ae.maximum_pdu_size = MAX_PDU
        for syntax in STORAGE_CLASSES:
            ae.add_supported_context(syntax, ALL_TRANSFER_SYNTAXES)
        address = "127.0.0.1" if server.on_loopback else ""
        try:
            return ae.start_server((address, server.storage_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)],
                                   ssl_context=context)
        except OSError as exc:
            raise PacsError(f"cannot listen on port {server.storage_port} for the C-MOVE ({exc.strerror or exc}); "
                            "another program uses it: choose another storage port") from exc

    def _move_series(self, study_uid: str, series_uid: str, receive: Receive) -> None:
        stopped, arrived = threading.Event(), threading.Event()
        scp = self._storage_server(receive, stopped, arrived)
        final = None
        try:
            assoc = self._associate([StudyRootQueryRetrieveInformationModelMove])
            try:
                for status, _identifier in assoc.send_c_move(self._series_query(study_uid, series_uid),
                                                             self.server.calling_ae, StudyRootQueryRetrieveInformationModelMove):
                    final = status
                    if not status or stopped.is_set():
                        break
            finally:
                if stopped.is_set():
                    assoc.abort()
                elif assoc.is_established:
                    assoc.release()
        finally:
            scp.shutdown()
        if not stopped.is_set():
            self._check_final(final, "C-MOVE", nothing_arrived=not arrived.is_set())

    def send(self, files: Iterable[Path]) -> int:
        """C-STORE each file; returns how many the PACS accepted, PacsError on the first refusal."""
        datasets = [pydicom.dcmread(p) for p in files]
        pairs = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets})
        assoc = self._associate([], storage=pairs)
        try:
            for ds in datasets:
                status = assoc.send_c_store(ds)
                if not status or status.Status not in _STORE_ACCEPTED:
                    raise PacsError(f"{self.server.name} did not store {ds.SOPInstanceUID} "
                                    f"({'no answer' if not status else f'status 0x{status.Status:04X}'})")
        finally:
            if assoc.is_established:
                assoc.release()
        return len(datasets)
