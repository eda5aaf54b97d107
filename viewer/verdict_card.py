"""The verdict card: the study-level reading of every model, the consensus, the lungs and the warnings.

It fills in as the analysis runs (each model's row when its opinion arrives); consensus, lung
quantification and warnings come with the finished analysis. "Research use, not a medical device"
heads it whatever the models say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import QTextBrowser, QWidget

from inference.pipelines.results import ModelOpinion, StudyAnalysis
from inference.slice_numbers import BY_POSITION, SliceNumbering
from inference.study import Modality
from viewer.logic.summary_html import (
    MUTED_COLOUR, RESEARCH_USE, consensus_line, esc, lung_block, verdict_list, warnings_block,
)


def card_html(
    opinions: Sequence[ModelOpinion],
    colours: Mapping[str, str],
    numbering: SliceNumbering,
    analysis: StudyAnalysis | None,
    status: str,
) -> str:
    parts = [f'<p style="background:#4a3812; color:#f5d9a0; padding:4px"><b>{RESEARCH_USE}</b></p>']
    if status:
        parts.append(f'<p style="color:{MUTED_COLOUR}">{esc(status)}</p>')
    if analysis is not None:
        parts.append(consensus_line(analysis.consensus))
    if opinions or analysis is not None:
        parts.append(verdict_list(opinions, colours, numbering))
    if analysis is not None:
        if analysis.modality == Modality.CT:
            parts.append(lung_block(analysis.lung, analysis.lung_mask))
        parts.append(warnings_block(analysis.notes))
        total = analysis.timings_s.get("total")
        timing = f", {total:.1f} s" if total is not None else ""
        parts.append(f'<p style="color:{MUTED_COLOUR}">Device: {esc(analysis.device)}{timing}</p>')
    return "".join(parts)


class VerdictCard(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.show_results((), {}, SliceNumbering((1,), (), BY_POSITION), None, "Not analysed yet: Models > Analyse (A).")

    def show_results(
        self,
        opinions: Sequence[ModelOpinion],
        colours: Mapping[str, str],
        numbering: SliceNumbering,
        analysis: StudyAnalysis | None,
        status: str = "",
    ) -> None:
        self.setHtml(card_html(opinions, colours, numbering, analysis, status))
