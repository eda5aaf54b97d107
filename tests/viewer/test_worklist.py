"""The worklist dock: the index in triage order, sorted and filtered, a study opened with its cached
opinions in under a second, N / Shift+N through the list, and a batch started from the viewer."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from inference.batch.analyst import BatchSettings, installed_models_keys, models_key
from inference.batch.engines import LocalEngine
from inference.batch.run import plan_batch, run_batch
from inference.phantom_archive import write_phantom_archive
from inference.registry import discover_models
from inference.worklist.index import StudyIndex
from tests.batch.models import install_batch_models
from viewer.analysis_thread import find_catalogue
from viewer.worklist_dock import PROBABILITY, STATUS

STUDIES = 8


@pytest.fixture
def analysed_archive(tmp_path, monkeypatch, private_models_and_cache):
    """An archive analysed by a batch into a private index, with the tiny models installed."""
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(install_batch_models(tmp_path / "models")))
    monkeypatch.setenv("LUNGLENS_INDEX", str(tmp_path / "index.sqlite"))
    archive = write_phantom_archive(tmp_path / "archive", STUDIES)
    settings = BatchSettings()
    with StudyIndex() as index:
        summary = run_batch(plan_batch([archive.root], settings, index), LocalEngine(settings, 1), index)
    assert summary.done == STUDIES
    return archive


def _refreshed(qtbot, window):
    with qtbot.waitSignal(window.worklist.refreshed, timeout=30000):
        window.worklist.refresh()
    return window.worklist.panel


def test_the_worklist_lists_the_index_sorted_and_filtered(qtbot, analysed_archive, window):
    panel = _refreshed(qtbot, window)
    proxy = panel.proxy
    assert proxy.rowCount() == STUDIES
    statuses = [proxy.index(r, STATUS).data() for r in range(STUDIES)]
    assert statuses == ["analysed"] * (STUDIES - 2) + ["failed"] * 2  # triage order: failed studies last
    assert proxy.index(0, 4).data().startswith("COVID")  # consensus of the first study to read

    panel.table.sortByColumn(PROBABILITY, Qt.SortOrder.DescendingOrder)
    shown = [proxy.index(r, PROBABILITY).data() for r in range(STUDIES)]
    numbers = [float(p) for p in shown if p]
    assert numbers == sorted(numbers, reverse=True) and shown[-2:] == ["", ""]

    panel.status_filter.setCurrentText("failed")
    assert proxy.rowCount() == 2
    panel.status_filter.setCurrentText("All statuses")
    qtbot.keyClicks(panel.search, "XR")
    assert 0 < proxy.rowCount() < STUDIES
    assert all(proxy.index(r, 3).data() == "XR" for r in range(proxy.rowCount()))


def test_double_click_shows_cached_opinions_within_a_second_and_n_steps_on(qtbot, analysed_archive, window):
    panel = _refreshed(qtbot, window)
    first = panel.row_at(0)
    started = time.perf_counter()
    with qtbot.waitSignal(window.worklist.opened, timeout=10000):
        panel.activate(0)
    qtbot.waitUntil(lambda: window.opinions.analysis is not None, timeout=10000)
    elapsed = time.perf_counter() - started
    assert str(window.study_path) == first.entry.path
    opinions = window.opinions.opinions
    assert opinions and all(o.from_cache for o in opinions)  # nothing was run again
    assert {o.model_id for o in opinions} == {v.model_id for v in first.verdicts}
    assert elapsed < 1.0, f"opening from the worklist took {elapsed:.2f} s"

    with qtbot.waitSignal(window.worklist.opened, timeout=10000):
        qtbot.keyClick(window, Qt.Key.Key_N)
    assert str(window.study_path) == panel.row_at(1).entry.path
    with qtbot.waitSignal(window.worklist.opened, timeout=10000):
        qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)
    assert str(window.study_path) == first.entry.path


def test_a_batch_started_from_the_viewer_fills_the_worklist(qtbot, tmp_path, monkeypatch, window):
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(install_batch_models(tmp_path / "models")))
    monkeypatch.setenv("LUNGLENS_INDEX", str(tmp_path / "index.sqlite"))
    archive = write_phantom_archive(tmp_path / "archive", 4, broken=False)
    worklist = window.worklist
    assert worklist.start_batch([str(archive.root)])
    qtbot.waitUntil(lambda: worklist.batch is None, timeout=120000)
    assert "Batch done: 4 analysed, 0 failed" in worklist.panel.batch_note.text()
    proxy = worklist.panel.proxy
    qtbot.waitUntil(lambda: [proxy.index(r, STATUS).data() for r in range(proxy.rowCount())] == ["analysed"] * 4,
                    timeout=30000)


def test_a_study_analysed_in_the_viewer_joins_the_worklist_once(qtbot, tmp_path, monkeypatch, window):
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(install_batch_models(tmp_path / "models")))
    monkeypatch.setenv("LUNGLENS_INDEX", str(tmp_path / "index.sqlite"))
    archive = write_phantom_archive(tmp_path / "archive", 2, broken=False)
    study = next(p for p in archive.root.iterdir() if p.is_dir())  # the CT series
    for _ in range(2):  # analysed, then opened again: served from the cache, recorded once
        window.open_path(study)
        assert window.wait_until_loaded(60)
        with qtbot.waitSignal(window.worklist.refreshed, timeout=30000):
            window.opinions.analyze()
            assert window.opinions.wait_until_done(60)
    with StudyIndex() as index:
        (row,) = index.rows()
        counts = index.analysis_counts()
    assert row.status.value == "analysed" and row.entry.path == str(study) and row.entry.modality == "CT"
    assert counts == {row.key: 1}
    panel = window.worklist.panel
    assert panel.proxy.rowCount() == 1 and panel.proxy.index(0, STATUS).data() == "analysed"


def test_the_viewer_and_a_batch_name_the_installed_models_alike(tmp_path, monkeypatch, private_models_and_cache):
    """Else a study analysed by one would show as outdated in the other."""
    monkeypatch.setenv("LUNGLENS_MODEL_DIR", str(install_batch_models(tmp_path / "models")))
    statuses = discover_models()
    batch_keys = installed_models_keys(statuses, ["CT", "XR"], BatchSettings())
    assert {m: models_key(find_catalogue(m, statuses).choice()) for m in ("CT", "XR")} == batch_keys
