"""The data sources a run trains on: several folder-per-class roots, each one source (site or collection).

A model that sees two sources can learn which source an image came from instead of the disease, so
every image carries its source: splits group and balance by it, a run can hold one source out
entirely (``holdout``: the leave-one-source-out figure a new hospital is closest to), and model cards
report per source. What is known about the project's sources (what they are, how their images must
be grouped, whose patients are children) is written down here once, keyed by folder name; an
unknown folder is a source with no special knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inference.training.splits import list_class_folders


@dataclass(frozen=True)
class SourceInfo:
    """What the project knows about one collection.

    ``ordered_by_patient``: files are numbered patient after patient (and carry no patient id), so a
    split must keep runs of consecutive files together. ``paediatric_classes``: classes whose images
    are children's. ``kind``: what its images are, for the model card.
    """

    name: str
    description: str
    kind: str
    terms: str
    ordered_by_patient: bool = False
    paediatric_classes: tuple[str, ...] = ()


KNOWN_SOURCES = {
    info.name: info
    for info in (
        SourceInfo(
            "ct_slices_scanner",
            "SARS-CoV-2 CT-scan dataset (E. Soares et al., medRxiv 10.1101/2020.04.24.20078584), one Sao Paulo hospital",
            "real axial CT slices captured from a hospital PACS viewer in a lung window",
            "CC BY-NC-SA 4.0 (non-commercial)",
            ordered_by_patient=True,
        ),
        SourceInfo(
            "ct_slices",
            "UCSD-AI4H COVID-CT (X. Yang et al., 'COVID-CT-Dataset: a CT scan dataset about COVID-19', 2020)",
            "CT slice figures from papers (screenshots, lung window, some with text and arrows)",
            "image copyright stays with the source papers; research use",
        ),
        SourceInfo(
            "xray",
            "COVID-19 Radiography Database v4 (M.E.H. Chowdhury et al., IEEE Access 8 (2020) 132665-132676; T. Rahman et al. 2020)",
            "chest X-rays, COVID and Normal mostly adult, Viral Pneumonia paediatric (Guangzhou)",
            "research use",
            paediatric_classes=("Viral_Pneumonia",),
        ),
        SourceInfo(
            "xray_kermany_train",
            "Kermany et al., Cell 172 (2018), training split (Guangzhou)",
            "paediatric chest X-rays",
            "CC BY 4.0",
            paediatric_classes=("Normal", "Bacterial_Pneumonia"),
        ),
    )
}


def source_info(name: str) -> SourceInfo:
    return KNOWN_SOURCES.get(name, SourceInfo(name, name, "images", "see the data's own terms"))


@dataclass(frozen=True)
class SourcedItem:
    path: str
    label: int
    source: str


def list_sources(roots: list[str | Path]) -> tuple[tuple[str, ...], list[SourcedItem]]:
    """Folder-per-class roots -> (the union of their classes, sorted; every image with its source).

    A root lacking one of the classes simply has none of it (the Kermany split has no COVID).
    """
    roots = [Path(r) for r in roots]
    names = [r.name for r in roots]
    if len(set(names)) != len(names):
        raise ValueError(f"two data roots share a folder name ({', '.join(names)}): a source is named by its folder")
    classes = tuple(sorted({p.name for r in roots for p in r.iterdir() if p.is_dir()}))
    if not classes:
        raise ValueError(f"no class folders under {', '.join(map(str, roots))}")
    items: list[SourcedItem] = []
    for root in roots:
        present = tuple(c for c in classes if (root / c).is_dir())
        _, listed = list_class_folders(root, present)
        items += [SourcedItem(path, classes.index(present[label]), root.name) for path, label in listed]
    return classes, items


def describe_sources(names: list[str]) -> str:
    """The sources of a model, one clause each, for manifests and cards (names and citations, no paths)."""
    return "; ".join(f"{n}: {source_info(n).description} ({source_info(n).terms})" for n in names)
