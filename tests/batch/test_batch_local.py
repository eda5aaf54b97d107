"""``lunglens batch`` on a 30-study phantom archive with the local engine: summary, ranked list, resume after
a clean run, after kill -9 and after Ctrl-C, with every study analysed exactly once across the runs."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inference.cli import main
from inference.worklist.index import Status, StudyIndex

from .conftest import ARCHIVE_STUDIES

BATCH = [sys.executable, "-m", "inference.cli", "batch"]


def batch(capsys, *argv):
    code = main(["batch", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_study_is_analysed_or_failed_with_its_reason_and_ranked(capsys, private, archive):
    code, out, err = batch(capsys, archive.root, "--workers", "2", "--json", "-")
    assert code == 0, err
    good = ARCHIVE_STUDIES - archive.broken
    assert f"analysed: {good}" in err and f"failed: {archive.broken}" in err
    assert "could not be loaded: the image could not be decoded" in err  # the PNG cut short
    assert "no verdict: the image is blank" in err
    assert f"files that are no study: {archive.not_studies}" in err
    studies = json.loads(out)["studies"]
    assert [s["rank"] for s in studies] == list(range(1, ARCHIVE_STUDIES + 1))
    assert [s["status"] for s in studies] == ["analysed"] * good + ["failed"] * archive.broken
    # Triage order: more positive votes first, then the most confident model's probability.
    order = [(-s["positive_votes"] / s["voters"], -s["top_probability"]) for s in studies[:good]]
    assert order == sorted(order)
    assert studies[0]["consensus"] == "COVID" and studies[0]["models"]
    assert all("Phantom^" not in json.dumps(s) for s in studies)  # the export names patients by ID only

    code, out, err = batch(capsys, archive.root, "--workers", "1", "--resume", "--csv", "-")
    assert code == 0, err
    assert f"skipped: {ARCHIVE_STUDIES}" in err and "already analysed with these models (--resume)" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["key"] for r in rows] == [s["key"] for s in studies]
    with StudyIndex() as index:
        assert set(index.analysis_counts().values()) == {1}


def test_unknown_models_are_refused_before_any_work(capsys, private, archive):
    code, _, err = batch(capsys, archive.root, "--models", "no-such-model")
    assert code == 2 and "no-such-model" in err and "not installed" in err


def test_models_of_one_modality_skip_the_other_with_the_reason(capsys, private, archive):
    code, out, err = batch(capsys, "--models", "ct_plain,ct_masked", archive.root, "--workers", "1", "--json", "-")
    assert code == 0, err
    assert "none of the models asked for (--models) reads X-ray images" in err
    statuses = {s["modality"]: set() for s in json.loads(out)["studies"]}
    for s in json.loads(out)["studies"]:
        statuses[s["modality"]].add(s["status"])
    assert statuses == {"CT": {"analysed"}, "XR": {"new"}}
    assert {m for s in json.loads(out)["studies"] for m in s["models"]} == {"ct_plain", "ct_masked"}


def _recorded(index_path: Path) -> int:
    try:
        with sqlite3.connect(index_path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _workers_of(pid: int) -> list[int]:
    return [p for p in _children(pid) if "spawn" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]


@pytest.mark.parametrize(("stop", "whole_group"), [(signal.SIGKILL, True), (signal.SIGKILL, False), (signal.SIGINT, True)],
                         ids=["kill-9", "kill-9-driver-alone", "ctrl-c"])
def test_a_stopped_batch_resumes_with_nothing_lost_and_nothing_twice(private, archive, stop, whole_group):
    index_path = private / "index.sqlite"
    # its own process group, as a shell job; niced, so this test notices the third study before the
    # batch (30 tiny studies in about a second) can finish on a busy machine
    first = subprocess.Popen([*BATCH, str(archive.root), "--workers", "2"], stderr=subprocess.PIPE, text=True,
                             start_new_session=True, preexec_fn=lambda: os.nice(15))
    deadline = time.monotonic() + 120
    while _recorded(index_path) < 3 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.01)
    os.killpg(first.pid, signal.SIGSTOP)  # freeze the batch where it is, then stop it there
    workers = _workers_of(first.pid)
    if whole_group:
        os.killpg(first.pid, stop)
    else:
        os.kill(first.pid, stop)
    os.killpg(first.pid, signal.SIGCONT)
    _, first_err = first.communicate(timeout=60)
    assert first.returncode == (-signal.SIGKILL if stop == signal.SIGKILL else 130), first_err
    before = _recorded(index_path)
    assert 0 < before < ARCHIVE_STUDIES, "the batch must be stopped in the middle for this test to mean anything"
    if stop == signal.SIGINT:
        assert "interrupted" in first_err and "--resume" in first_err
    deadline = time.monotonic() + 15  # no worker outlives its driver
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not [w for w in workers if Path(f"/proc/{w}").exists()]

    second = subprocess.run([*BATCH, str(archive.root), "--workers", "2", "--resume"], capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0, second.stderr
    with StudyIndex(index_path) as index:
        counts = index.analysis_counts()
        rows = index.rows()
    assert len(counts) == ARCHIVE_STUDIES and set(counts.values()) == {1}  # none lost, none analysed twice
    assert sum(r.status == Status.ANALYSED for r in rows) == ARCHIVE_STUDIES - archive.broken
    skipped = sum(int(line.split()[-1]) for line in second.stderr.splitlines() if line.strip().startswith("skipped:"))
    assert skipped == before and f"{ARCHIVE_STUDIES - before} of {ARCHIVE_STUDIES - before} studies done" in second.stderr


def test_a_worker_process_that_dies_costs_no_study(private, archive):
    """A worker killed mid-batch (out of memory, a native crash): its studies go to a new worker, the batch goes on."""
    index_path = private / "index.sqlite"
    batch_run = subprocess.Popen([*BATCH, str(archive.root), "--workers", "2"], stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
    deadline = time.monotonic() + 120
    while _recorded(index_path) < 3 and time.monotonic() < deadline and batch_run.poll() is None:
        time.sleep(0.02)
    workers = _workers_of(batch_run.pid)
    assert workers, "no worker process found"
    os.kill(workers[0], signal.SIGKILL)
    _, err = batch_run.communicate(timeout=300)
    assert batch_run.returncode == 0, err
    with StudyIndex(index_path) as index:
        counts = index.analysis_counts()
    assert len(counts) == ARCHIVE_STUDIES and set(counts.values()) == {1}
    assert f"analysed: {ARCHIVE_STUDIES - archive.broken}" in err
