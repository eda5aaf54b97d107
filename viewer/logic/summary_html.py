"""The analysis in words, as HTML fragments shared by the verdict card and the exported report. Qt-free.

Every number says what it is measured against: a model's calibrated probability of its finding
beside its operating threshold, the consensus with its vote count, lung volumes with the mask they
come from. Only Qt's rich-text subset of HTML is used (tables, spans, lists), so the same fragments
render in the card (QTextBrowser), in a browser and in a PDF (QTextDocument).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

from inference.pipelines.results import LungMask, ModelOpinion, Note
from inference.quantification import HU_BANDS, LungQuantification
from inference.slice_numbers import SliceNumbering
from inference.verdict import Consensus
from viewer.logic.opinion_data import finding_class, finding_probabilities, key_slice

RESEARCH_USE = "Research use, not a medical device."
POSITIVE_COLOUR = "#e15759"
NEGATIVE_COLOUR = "#59a14f"
MUTED_COLOUR = "#8b949e"
DOT = " \u00b7 "


def esc(value: object) -> str:
    return html.escape(str(value))


def number(value: float | None, digits: int = 2) -> str:
    return "\u2014" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def swatch(colour: str) -> str:
    return f'<span style="color:{colour}">\u25a0</span>'


def verdict_word(opinion: ModelOpinion) -> str:
    """The verdict as a coloured word: positive findings red, negative green, no verdict grey."""
    verdict = opinion.verdict
    if verdict.label is None:
        return f'<span style="color:{MUTED_COLOUR}">no verdict ({esc(verdict.reason)})</span>'
    colour = {True: POSITIVE_COLOUR, False: NEGATIVE_COLOUR}.get(verdict.positive, "")
    style = f' style="color:{colour}"' if colour else ""
    return f"<b{style}>{esc(verdict.label)}</b>"


def finding_versus_threshold(opinion: ModelOpinion) -> str:
    """'p(COVID) 0.91 &ge; 0.50': the study probability of the finding against the operating threshold."""
    verdict = opinion.verdict
    cls = finding_class(opinion)
    p = verdict.probabilities.get(cls)
    if verdict.threshold is None:
        return f"p({esc(cls)}) {number(p)}, no operating threshold"
    if p is None:
        return f"p({esc(cls)}) \u2014, threshold {number(verdict.threshold)}"
    relation = "\u2265" if p >= verdict.threshold else "&lt;"
    return f"p({esc(cls)}) {number(p)} {relation} {number(verdict.threshold)}"


def key_slice_text(opinion: ModelOpinion, numbering: SliceNumbering) -> str:
    index = key_slice(opinion)
    if index is None:
        return "\u2014"
    if numbering.count == 1:
        return f"p {number(finding_probabilities(opinion)[index])}"
    return f"{numbering.label(index)} (p {number(finding_probabilities(opinion)[index])})"


DOMAIN_COLOUR = "#f0b94a"


def domain_line(opinion: ModelOpinion) -> str:
    notes = opinion.domain_notes
    if not notes:
        return ""
    return f'<span style="color:{DOMAIN_COLOUR}">\u26a0 outside the training domain: {esc("; ".join(notes))}</span>'


def verdict_table(opinions: Sequence[ModelOpinion], colours: Mapping[str, str], numbering: SliceNumbering) -> str:
    """One row per model: verdict, finding probability against threshold, slices over it, key slice."""
    if not opinions:
        return f'<p style="color:{MUTED_COLOUR}">No model opinion yet.</p>'
    rows = [
        "<tr><th align=left>Model</th><th align=left>Verdict</th><th align=left>Calibrated probability</th>"
        + ("<th align=left>Slices over threshold</th><th align=left>Key slice</th>" if numbering.count > 1 else "")
        + "</tr>"
    ]
    for opinion in opinions:
        verdict = opinion.verdict
        cells = [
            f"{swatch(colours.get(opinion.model_id, '#888'))} {esc(opinion.model_id)} "
            f'<span style="color:{MUTED_COLOUR}">{esc(opinion.method)}</span>',
            verdict_word(opinion),
            finding_versus_threshold(opinion),
        ]
        if numbering.count > 1:
            over = f"{verdict.positive_slices}/{verdict.slices_used}" if verdict.threshold is not None else "\u2014"
            cells += [over, key_slice_text(opinion, numbering)]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        if opinion.domain_notes:
            rows.append(f'<tr><td></td><td colspan="{len(cells) - 1}">{domain_line(opinion)}</td></tr>')
    return '<table cellspacing="0" cellpadding="3">' + "".join(rows) + "</table>"


def verdict_list(opinions: Sequence[ModelOpinion], colours: Mapping[str, str], numbering: SliceNumbering) -> str:
    """The card's narrow form of ``verdict_table``: the model and its verdict, the numbers on a line below."""
    if not opinions:
        return f'<p style="color:{MUTED_COLOUR}">No model opinion yet.</p>'
    rows = []
    for opinion in opinions:
        verdict = opinion.verdict
        details = [finding_versus_threshold(opinion)]
        if numbering.count > 1 and verdict.threshold is not None:
            details.append(f"{verdict.positive_slices}/{verdict.slices_used} slices over")
        if numbering.count > 1:
            details.append(f"key slice {key_slice_text(opinion, numbering)}")
        rows.append(
            f"<tr><td>{swatch(colours.get(opinion.model_id, '#888'))} <b>{esc(opinion.model_id)}</b> "
            f'<span style="color:{MUTED_COLOUR}">{esc(opinion.method)}</span></td><td>{verdict_word(opinion)}</td></tr>'
            f'<tr><td colspan="2" style="color:{MUTED_COLOUR}; padding-bottom:6px">{" · ".join(details)}</td></tr>'
        )
        if opinion.domain_notes:
            rows.append(f'<tr><td colspan="2" style="padding-bottom:6px">{domain_line(opinion)}</td></tr>')
    return '<table cellspacing="0" cellpadding="1">' + "".join(rows) + "</table>"


def consensus_line(consensus: Consensus | None) -> str:
    if consensus is None or consensus.voters == 0:
        return "<p><b>Consensus:</b> none (no model with an operating threshold gave a verdict)</p>"
    colour = {"negative": NEGATIVE_COLOUR, "split": ""}.get(consensus.label, POSITIVE_COLOUR)
    label = f'<b style="color:{colour}">{esc(consensus.label)}</b>' if colour else f"<b>{esc(consensus.label)}</b>"
    abstained = f", {len(consensus.abstained)} abstained" if consensus.abstained else ""
    return (
        f"<p><b>Consensus:</b> {label} \u2014 {consensus.positive_votes} of {consensus.voters} "
        f"models positive{abstained} (majority vote)</p>"
    )


def mask_source(mask: LungMask | None) -> str:
    if mask is None:
        return "no lung mask"
    text = f"{mask.model_id} {mask.version}".strip() if mask.model_id else f"{mask.source} segmentation"
    return text + (f" ({mask.note})" if mask.note else "")


def lung_block(lung: LungQuantification | None, mask: LungMask | None) -> str:
    """Volumes, mean density, HU bands per lung and the severity index, with the mask they come from."""
    source = f'<p style="color:{MUTED_COLOUR}">Lung mask: {esc(mask_source(mask))}</p>'
    if lung is None:
        return source
    sides = ("right", "left", "total")
    head = "<tr><th></th>" + "".join(f"<th align=right>{s}</th>" for s in sides) + "</tr>"
    volume = "<tr><td>volume (ml)</td>" + "".join(f"<td align=right>{number(lung.volume_ml[s], 0)}</td>" for s in sides) + "</tr>"
    mean = "<tr><td>mean (HU)</td>" + "".join(f"<td align=right>{number(lung.mean_hu[s], 0)}</td>" for s in sides) + "</tr>"
    bands = "".join(
        f"<tr><td>{esc(band)} HU</td>"
        + "".join(f"<td align=right>{number(100 * lung.hu_bands[band][s], 1)} %</td>" for s in sides)
        + "</tr>"
        for band in HU_BANDS
    )
    return (
        f"<p><b>Lungs:</b> severity index {number(lung.severity_percent, 1)} % "
        f'<span style="color:{MUTED_COLOUR}">(share of lung voxels in -750..0 HU)</span></p>'
        f'<table cellspacing="0" cellpadding="2">{head}{volume}{mean}{bands}</table>{source}'
    )


def warnings_block(notes: Sequence[Note]) -> str:
    """The analysis' notes, less the models' domain notes (shown beside each verdict), each text once."""
    warnings = list(dict.fromkeys(note.text for note in notes if note.kind != "domain"))
    if not warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in warnings)
    return f'<p><b style="color:#f0b94a">Input warnings</b></p><ul style="margin-top:0">{items}</ul>'
