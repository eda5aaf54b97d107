"""An SR's findings, read back through highdicom: a TID 1500 Measurement Report (what LungLens
writes) group by group; any other SR by its title only, said so, never an error."""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd

from inference.dicom_in.objects import DicomInError
from inference.dicom_out.sources import MANUFACTURER


@dataclass(frozen=True)
class FindingGroup:
    """One measurement group: 'model m4-ct-int8' with 'Model verdict COVID', 'Probability of finding 0.81'..."""

    name: str
    items: tuple[str, ...]

    def line(self) -> str:
        return f"{self.name}: " + "; ".join(self.items)


@dataclass(frozen=True)
class ReportFindings:
    title: str
    by_lunglens: bool
    groups: tuple[FindingGroup, ...]
    note: str = ""  # why no groups were read

    def lines(self) -> list[str]:
        return [g.line() for g in self.groups] or [self.note]


def _groups(document: hd.sr.Comprehensive3DSR) -> tuple[FindingGroup, ...]:
    report = hd.sr.MeasurementReport.from_sequence(document.ContentSequence and [document])
    groups = []
    for group in report.get_image_measurement_groups():
        items = [f"{e.name.meaning} {e.value.meaning}" for e in group.get_qualitative_evaluations()]
        items += [f"{m.name.meaning} {m.value:g} {'' if m.unit.value == '1' else m.unit.meaning}".rstrip()
                  + "".join(f" ({site.value.meaning})" for site in m.finding_sites)
                  for m in group.get_measurements()]
        groups.append(FindingGroup(str(group.tracking_identifier), tuple(items)))
    return tuple(groups)


def read_report(path: str) -> ReportFindings:
    """The findings of the SR at ``path``; DicomInError only when the file is no SR at all."""
    try:
        document = hd.sr.srread(path)
    except Exception as exc:  # highdicom raises many kinds on a damaged or foreign file
        raise DicomInError(f"{path} is not an SR LungLens can read ({type(exc).__name__}: {exc})") from exc
    title = document.ConceptNameCodeSequence[0].CodeMeaning if document.get("ConceptNameCodeSequence") else "Structured report"
    by_lunglens = document.get("Manufacturer") == MANUFACTURER
    try:
        groups = _groups(document)
    except Exception:  # not a TID 1500 report: listed by its title
        return ReportFindings(str(title), by_lunglens, (), "not a TID 1500 measurement report: listed, not read")
    return ReportFindings(str(title), by_lunglens, groups, "" if groups else "no measurement groups")
