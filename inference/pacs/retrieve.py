"""What every transport's retrieve shares: fetch the series that still miss instances, one at a
time, report progress over the whole study, stop when the user cancels, and mark the study complete
only when every instance the PACS listed is in the store. A series is asked for whole (what every
PACS answers); instances of it already here are not written or counted again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from inference.jobs import CancelCheck, CountProgress, cancel_requested
from inference.pacs.servers import PacsError, RetrieveCancelled
from inference.pacs.store import Piece, StoredStudy, StoreError, StoreWriter

# The inference.jobs vocabulary, under the names the transports use.
Progress = CountProgress  # (instances here, instances listed)
Cancel = CancelCheck
# Called per arriving instance with its SOPInstanceUID and its DICOM file's bytes in pieces (as they
# arrived: header, data set); False: stop, the user cancelled.
Receive = Callable[[str, Sequence[Piece]], bool]


class SeriesFetcher(Protocol):
    def __call__(self, study_uid: str, series_uid: str, receive: Receive) -> None:
        """Bring every instance of one series to ``receive``; PacsError (saying why) when that stops short."""


def retrieve_study(
    server_name: str, study_uid: str, expected: dict[str, str], fetch: SeriesFetcher, store: StoredStudy,
    progress: Progress | None = None, cancel: Cancel | None = None,
) -> int:
    """Fetch what of ``expected`` (SOPInstanceUID -> SeriesInstanceUID) is not in ``store``; returns
    instances received. PacsError when it stops (what arrived stays; the study stays partial);
    RetrieveCancelled (a jobs.Cancelled) when the cancel check turned true."""
    if not expected:
        raise PacsError(f"{server_name} has no instances of study {study_uid}")
    here = store.instance_uids() & set(expected)
    received = 0

    def cancelled() -> bool:
        return cancel_requested(cancel)

    def partial(why: str) -> str:
        have = len(store.instance_uids() & set(expected))
        return f"{server_name}: the retrieve stopped after {have} of {len(expected)} instances ({why}); " \
               "the study is kept as partial, retrieve again to resume"

    with StoreWriter(store) as writer:
        for series_uid in sorted({series for sop, series in expected.items() if sop not in here}):
            def receive(sop_uid: str, part10: Sequence[Piece], series_uid: str = series_uid) -> bool:
                nonlocal received
                if cancelled():
                    return False
                if sop_uid not in here:
                    if not writer.write(series_uid, sop_uid, part10):
                        return False  # the disk refused an earlier one: flush says why
                    received += 1
                    if progress is not None:
                        progress(len(here) + received, len(expected))
                return True

            try:
                try:
                    fetch(study_uid, series_uid, receive)
                finally:
                    writer.flush()  # what arrived is on disk before anything is counted or said
            except StoreError as exc:
                raise PacsError(partial(str(exc))) from exc
            except PacsError as exc:
                if not cancelled():  # a cancelled transfer ends in a dropped connection: not an error
                    raise PacsError(partial(str(exc))) from exc
            if cancelled():
                raise RetrieveCancelled(partial("cancelled"))
    if not store.mark_complete(set(expected)):
        have = len(store.instance_uids() & set(expected))
        raise PacsError(f"{server_name} sent {have} of {len(expected)} instances; the study is kept as partial")
    return received
