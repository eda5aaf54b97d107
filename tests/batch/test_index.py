"""The study index: upgrades an older file in place, records a result all or nothing, says what is outdated."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from inference.worklist.index import MIGRATIONS, SCHEMA_VERSION, ModelVerdict, Status, StudyEntry, StudyIndex, StudyResult
from inference.worklist.ranking import ranked

ENTRY = StudyEntry("1.2.3", "/archive/ct-1", "CT", "P1", "Doe^Jane", "20260101", "Chest CT", "9.8", "ACC1", 64, 1 << 20)


def _result(key: str, probability: float, votes: int = 1, voters: int = 2, models_key: str = "m1") -> StudyResult:
    verdicts = tuple(
        ModelVerdict(f"model{i}", "sha", "COVID", "COVID", i < votes, probability - 0.1 * i, 0.5) for i in range(voters)
    )
    return StudyResult(key, Status.ANALYSED, models_key, "", "split", votes, voters, verdicts, 1.0)


def test_a_version_1_index_is_migrated_and_keeps_its_studies(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(MIGRATIONS[0])
    old.execute("INSERT INTO studies (key, path, modality, patient_id, status, consensus, top_probability, analysed_at, seen_at) "
                "VALUES ('1.2.3', '/archive/ct-1', 'CT', 'P1', 'analysed', 'COVID', 0.9, '2026-01-01', '2026-01-01')")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()

    with StudyIndex(path) as index:
        assert index.version == SCHEMA_VERSION == 2
        (row,) = index.rows({"CT": "m1"})
        assert (row.key, row.entry.patient_id, row.consensus, row.top_probability) == ("1.2.3", "P1", "COVID", 0.9)
        # Version 1 did not record which models spoke: against the installed ones the result is outdated.
        assert row.status == Status.OUTDATED
        index.record(_result("1.2.3", 0.8))
        assert index.rows({"CT": "m1"})[0].status == Status.ANALYSED
    with StudyIndex(path) as again:  # opening a current file changes nothing
        assert again.version == SCHEMA_VERSION and len(again.rows()) == 1


def test_an_index_from_a_newer_lunglens_is_refused_not_damaged(tmp_path):
    path = tmp_path / "new.sqlite"
    StudyIndex(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer LungLens"):
        StudyIndex(path)


def test_results_verdicts_and_outdated_status(tmp_path):
    with StudyIndex(tmp_path / "sub" / "index.sqlite") as index:
        assert stat.S_IMODE(index.path.stat().st_mode) & 0o077 == 0  # it names patients: the user's alone
        index.add_studies([ENTRY], "batch")
        assert index.rows()[0].status == Status.NEW
        index.record(_result(ENTRY.key, 0.7))
        (row,) = index.rows({"CT": "m1"})
        assert row.status == Status.ANALYSED and row.top_model == "model0" and row.top_probability == pytest.approx(0.7)
        assert [v.model_id for v in row.verdicts] == ["model0", "model1"]
        assert index.rows({"CT": "another pack"})[0].status == Status.OUTDATED
        index.add_studies([ENTRY], "folder scan")  # seen again: keeps its result
        assert index.rows({"CT": "m1"})[0].status == Status.ANALYSED
        assert index.analysis_counts() == {ENTRY.key: 1}


def test_a_failed_write_leaves_the_study_as_it_was(tmp_path):
    with StudyIndex(tmp_path / "index.sqlite") as index:
        index.add_studies([ENTRY], "batch")
        duplicate = ModelVerdict("model0", "sha", "COVID", "COVID", True, 0.9, 0.5)
        with pytest.raises(sqlite3.IntegrityError):  # two verdicts of one model: the primary key refuses it
            index.record(StudyResult(ENTRY.key, Status.ANALYSED, "m1", "", "COVID", 1, 1, (duplicate, duplicate)))
        (row,) = index.rows()
        assert row.status == Status.NEW and row.verdicts == () and index.analysis_counts() == {}


def test_triage_order_votes_then_probability_then_the_rest(tmp_path):
    with StudyIndex(tmp_path / "index.sqlite") as index:
        keys = ["a", "b", "c", "d", "e"]
        index.add_studies([StudyEntry(k, f"/x/{k}", "CT") for k in keys], "batch")
        index.record(_result("a", 0.95, votes=0))
        index.record(_result("b", 0.60, votes=2))
        index.record(_result("c", 0.90, votes=2))
        index.record(StudyResult("d", Status.FAILED, "", "could not be loaded: truncated"))
        assert [r.key for r in ranked(index.rows())] == ["c", "b", "a", "d", "e"]
