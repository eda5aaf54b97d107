"""The local study index: one SQLite file listing every study seen and what the models said about it.

It holds identifiers, sizes, status and each model's verdict and probability, never pixel data and
never a result a viewer draws (those live in the result cache): deleting the file loses nothing but
the list, and the next batch or folder scan rebuilds it. Location: ``$LUNGLENS_INDEX``, else
``platformdirs.user_data_dir("LungLens")/worklist.sqlite``. The file names patients, so its folder
is made 0o700 and the file 0o600, like the result cache.

One writer at a time changes it (the batch driver, never its workers); readers such as the viewer's
worklist open it at the same time, which SQLite's write-ahead log allows. Each study's result is one
transaction, so a batch killed at any moment leaves every study either fully recorded or untouched.

The schema is versioned with ``PRAGMA user_version`` and upgraded in place by ``MIGRATIONS``:
version 1 held one line per study (status, consensus, top probability); version 2 added the
identifiers a PACS matches on, the study's size, the models a result came from (so a result from
other models shows as outdated), a row per model's verdict, and a log of analyses and batch runs.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import platformdirs

INDEX_ENV = "LUNGLENS_INDEX"


class Status(str, Enum):
    """Where a study stands. ``OUTDATED``: analysed, but by other models than the installed ones."""

    NEW = "new"
    ANALYSED = "analysed"
    FAILED = "failed"
    OUTDATED = "outdated"


MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE studies (
        key TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        modality TEXT NOT NULL,
        patient_id TEXT NOT NULL DEFAULT '',
        patient_name TEXT NOT NULL DEFAULT '',
        study_date TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'new',
        reason TEXT NOT NULL DEFAULT '',
        consensus TEXT,
        top_probability REAL,
        analysed_at TEXT,
        seen_at TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE studies ADD COLUMN study_uid TEXT NOT NULL DEFAULT '';
    ALTER TABLE studies ADD COLUMN accession TEXT NOT NULL DEFAULT '';
    ALTER TABLE studies ADD COLUMN images INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE studies ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE studies ADD COLUMN source TEXT NOT NULL DEFAULT '';
    ALTER TABLE studies ADD COLUMN models_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE studies ADD COLUMN positive_votes INTEGER;
    ALTER TABLE studies ADD COLUMN voters INTEGER;
    ALTER TABLE studies ADD COLUMN top_model TEXT;
    CREATE TABLE opinions (
        key TEXT NOT NULL REFERENCES studies(key) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        model_sha256 TEXT NOT NULL,
        label TEXT,
        finding TEXT,
        positive INTEGER,
        probability REAL,
        threshold REAL,
        PRIMARY KEY (key, model_id)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        engine TEXT NOT NULL,
        paths TEXT NOT NULL,
        outcome TEXT NOT NULL DEFAULT 'running'
    );
    CREATE TABLE analyses (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        run_id INTEGER REFERENCES runs(id),
        status TEXT NOT NULL,
        seconds REAL,
        finished_at TEXT NOT NULL
    );
    CREATE INDEX analyses_by_key ON analyses(key);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def index_path() -> Path:
    override = os.environ.get(INDEX_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir("LungLens")) / "worklist.sqlite"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StudyEntry:
    """What a scan knows about a study (one series; one radiograph file), before any analysis."""

    key: str
    path: str
    modality: str
    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    description: str = ""
    study_uid: str = ""
    accession: str = ""
    images: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class ModelVerdict:
    """One model's study verdict as the worklist keeps it: label, and the probability of its finding."""

    model_id: str
    model_sha256: str
    label: str | None
    finding: str | None
    positive: bool | None
    probability: float | None
    threshold: float | None


@dataclass(frozen=True)
class StudyResult:
    """What one analysis of a study found, or why it found nothing (``status`` FAILED, ``reason``)."""

    key: str
    status: Status
    models_key: str
    reason: str = ""
    consensus: str | None = None
    positive_votes: int | None = None
    voters: int | None = None
    verdicts: tuple[ModelVerdict, ...] = ()
    seconds: float = 0.0

    @property
    def top(self) -> ModelVerdict | None:
        """The model most sure of its finding: the study's 'highest model probability'."""
        rated = [v for v in self.verdicts if v.probability is not None]
        return max(rated, key=lambda v: (v.probability, v.model_id)) if rated else None


@dataclass(frozen=True)
class WorklistRow:
    """A study as the worklist shows it."""

    entry: StudyEntry
    status: Status
    reason: str
    consensus: str | None
    positive_votes: int | None
    voters: int | None
    top_probability: float | None
    top_model: str | None
    models_key: str
    analysed_at: str | None
    verdicts: tuple[ModelVerdict, ...]

    @property
    def key(self) -> str:
        return self.entry.key


_ENTRY_COLUMNS = ("key", "path", "modality", "patient_id", "patient_name", "study_date", "description",
                  "study_uid", "accession", "images", "bytes")


class StudyIndex:
    """The index file, migrated to the current schema on open. Use as a context manager or ``close()``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else index_path()
        fresh = not self.path.exists()
        if fresh:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.touch(mode=0o600)
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "StudyIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        """Apply each migration the file has not seen, each with its version bump in one transaction."""
        with self._transaction() as db:
            version = self.version
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the study index {self.path} was written by a newer LungLens (schema {version}, this one "
                    f"knows {SCHEMA_VERSION}); update LungLens or point {INDEX_ENV} elsewhere"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    # --- writing -------------------------------------------------------------------------------

    def add_studies(self, entries: Iterable[StudyEntry], source: str) -> None:
        """List studies (new ones as NEW); a study seen again keeps its status and gets fresh identifiers."""
        now = _now()
        rows = [tuple(getattr(e, c) for c in _ENTRY_COLUMNS) + (source, now) for e in entries]
        updates = ", ".join(f"{c} = excluded.{c}" for c in _ENTRY_COLUMNS[1:])
        with self._transaction() as db:
            db.executemany(
                f"INSERT INTO studies ({', '.join(_ENTRY_COLUMNS)}, source, seen_at) "
                f"VALUES ({', '.join('?' * (len(_ENTRY_COLUMNS) + 2))}) "
                f"ON CONFLICT(key) DO UPDATE SET {updates}, source = excluded.source, seen_at = excluded.seen_at",
                rows,
            )

    def start_run(self, engine: str, paths: Sequence[str]) -> int:
        with self._transaction() as db:
            return int(db.execute("INSERT INTO runs (started_at, engine, paths) VALUES (?, ?, ?)",
                                  (_now(), engine, "\n".join(paths))).lastrowid)

    def finish_run(self, run_id: int, outcome: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET finished_at = ?, outcome = ? WHERE id = ?", (_now(), outcome, run_id))

    def record(self, result: StudyResult, run_id: int | None = None) -> None:
        """A study's result, its verdicts and the log line, all or nothing."""
        top = result.top
        with self._transaction() as db:
            db.execute(
                "UPDATE studies SET status = ?, reason = ?, consensus = ?, positive_votes = ?, voters = ?, "
                "top_probability = ?, top_model = ?, models_key = ?, analysed_at = ? WHERE key = ?",
                (result.status.value, result.reason, result.consensus, result.positive_votes, result.voters,
                 top.probability if top else None, top.model_id if top else None, result.models_key, _now(), result.key),
            )
            db.execute("DELETE FROM opinions WHERE key = ?", (result.key,))
            db.executemany(
                "INSERT INTO opinions (key, model_id, model_sha256, label, finding, positive, probability, threshold) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(result.key, v.model_id, v.model_sha256, v.label, v.finding, v.positive, v.probability, v.threshold)
                 for v in result.verdicts],
            )
            db.execute("INSERT INTO analyses (key, run_id, status, seconds, finished_at) VALUES (?, ?, ?, ?, ?)",
                       (result.key, run_id, result.status.value, result.seconds, _now()))

    # --- reading -------------------------------------------------------------------------------

    def rows(self, installed: Mapping[str, str] | None = None, keys: Iterable[str] | None = None) -> list[WorklistRow]:
        """Every study (or those in ``keys``); with ``installed`` (modality -> models key of the installed
        models) an analysed study whose result came from other models is OUTDATED."""
        wanted = None if keys is None else set(keys)
        verdicts: dict[str, list[ModelVerdict]] = {}
        for o in self._db.execute("SELECT * FROM opinions ORDER BY key, model_id"):
            positive = None if o["positive"] is None else bool(o["positive"])
            verdicts.setdefault(o["key"], []).append(ModelVerdict(
                o["model_id"], o["model_sha256"], o["label"], o["finding"], positive, o["probability"], o["threshold"]))
        rows = []
        for r in self._db.execute("SELECT * FROM studies ORDER BY key"):
            if wanted is not None and r["key"] not in wanted:
                continue
            status = Status(r["status"])
            if status == Status.ANALYSED and installed is not None and installed.get(r["modality"]) != r["models_key"]:
                status = Status.OUTDATED
            rows.append(WorklistRow(
                StudyEntry(*(r[c] for c in _ENTRY_COLUMNS)), status, r["reason"], r["consensus"], r["positive_votes"],
                r["voters"], r["top_probability"], r["top_model"], r["models_key"], r["analysed_at"],
                tuple(verdicts.get(r["key"], ())),
            ))
        return rows

    def analysis_counts(self) -> dict[str, int]:
        """How many analyses the log holds per study: 1 everywhere after a batch, however it was interrupted."""
        return {k: n for k, n in self._db.execute("SELECT key, COUNT(*) FROM analyses GROUP BY key")}
