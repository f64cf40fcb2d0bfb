"""The one owner of SQLite: runs and their steps, written as each step finishes.

The database lives in the state folder (``--state``, ``$SPDEPLOY_STATE``, else the platform's user
data folder). Every write is its own committed transaction, so a crash loses nothing that was
already recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from spdeploy.backup import MANIFEST_SUFFIX
from spdeploy.errors import BadInput
from spdeploy.fsutil import default_state_dir
from spdeploy.knownfailures import Hit
from spdeploy.records import RunRecord, RunStatus, StepRecord, StepStatus

__all__ = [
    "MANIFEST_SUFFIX",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "StepStatus",
    "Store",
    "default_state_dir",
    "new_run_id",
]

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    target TEXT NOT NULL,
    media TEXT NOT NULL,
    language TEXT,
    platform TEXT,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,          -- running | ok | failed | reboot-required | refused
                                   -- | interrupted
    exit_code INTEGER,
    message TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT ''  -- what the run was told to overlook (--ignore-order)
);
CREATE INDEX IF NOT EXISTS runs_target ON runs (target, started);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs (id),
    seq INTEGER NOT NULL,
    component TEXT NOT NULL,
    -- running (journal: written before the step acts) | ok | failed | skipped | timeout
    -- | reboot-required | interrupted (spdeploy stopped during it)
    status TEXT NOT NULL,
    exit_code INTEGER,
    started REAL NOT NULL,
    duration_s REAL NOT NULL,
    version_before TEXT,
    version_after TEXT,
    log TEXT,
    message TEXT NOT NULL DEFAULT '',
    pid INTEGER,                   -- the installer's process while it runs (resume waits for it)
    pid_started REAL,              -- its start time: a reused pid is not mistaken for it
    -- the profile's known failures that matched a failed step: a JSON list of
    -- {"article", "remedy", "match", "in"}
    known_failures TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, seq)
);
"""

# Schema 1 -> 2: the journal remembers the running installer's process.
# Schema 2 -> 3: a run keeps notes of what it was told to overlook (--ignore-order).
# Schema 3 -> 4: a failed step keeps the known failures (article, remedy) that matched it.
_MIGRATIONS = {
    1: "ALTER TABLE steps ADD COLUMN pid INTEGER; ALTER TABLE steps ADD COLUMN pid_started REAL;",
    2: "ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';",
    3: "ALTER TABLE steps ADD COLUMN known_failures TEXT NOT NULL DEFAULT '[]';",
}
# SQLite's Unix and Windows file layers refuse a database path this long or longer (bytes).
_SQLITE_MAX_PATH = 512


def new_run_id() -> str:
    """Sortable by time, unique across hosts: 20261125T140107-3f2a."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


class Store:
    def __init__(self, state_dir: Path) -> None:
        # absolute: staged installers run with their own folder as the working directory, so a
        # relative --state would point their path at nothing
        self.state_dir = Path(state_dir).absolute()
        self.path = self.state_dir / "history.sqlite3"
        self._db: sqlite3.Connection | None = None  # the session's, while one is open

    def run_dir(self, run_id: str) -> Path:
        return self.state_dir / "runs" / run_id

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """One connection for a whole run: opened, configured and checked once, not once per
        write. Each write still commits (and is on disk) before the next step begins."""
        if self._db is not None:
            yield
            return
        with self._opened() as db:
            self._db = db
            try:
                yield
            finally:
                self._db = None

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose block is one transaction: committed on success. The session's
        connection inside :meth:`session`, else one opened and closed for this block alone.

        Every failure of the folder (read-only, full, a path too long for SQLite) is BadInput
        naming the folder and the cause, never SQLite's own "unable to open database file".
        """
        with contextlib.ExitStack() as stack:
            db = self._db if self._db is not None else stack.enter_context(self._opened())
            try:
                with db:
                    yield db
            except sqlite3.OperationalError as exc:  # a write refused: read-only, disk full
                raise BadInput(
                    f"{self.path}: cannot write the history ({self._why(exc)})"
                ) from None

    @contextlib.contextmanager
    def _opened(self) -> Iterator[sqlite3.Connection]:
        """A configured connection on a database at the current schema; closed at the end."""
        size = len(os.fsencode(self.path))
        if size >= _SQLITE_MAX_PATH:
            raise BadInput(
                f"{self.state_dir}: the history's path is {size} bytes long, and SQLite opens "
                f"none of {_SQLITE_MAX_PATH} bytes or more; choose a shorter --state folder"
            )
        if self.path.is_file() and not os.access(self.state_dir, os.W_OK):
            # a read-only folder (an auditor's copy, a read-only mount): read it as it is
            with self._read_only() as db:
                yield db
            return
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise BadInput(f"{self.path}: cannot open the history ({self._why(exc)})") from None
        try:
            db.row_factory = sqlite3.Row
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")  # a recorded step survives power loss
                with db:
                    self._migrate(db)
            except sqlite3.OperationalError as exc:
                raise BadInput(f"{self.path}: cannot use the history ({self._why(exc)})") from None
            except sqlite3.DatabaseError as exc:
                # A file that is not SQLite, a torn or malformed database: one line naming the
                # file, before anything has been done.
                raise BadInput(
                    f"{self.path}: not a usable spdeploy history ({exc}); move it aside and "
                    "spdeploy starts a new one"
                ) from None
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _read_only(self) -> Iterator[sqlite3.Connection]:
        """The history in a folder spdeploy may not write: opened immutable (SQLite then makes
        no journal beside it), read as it is; any write is refused as the folder's fault."""
        try:
            db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
        except sqlite3.Error as exc:
            raise BadInput(f"{self.path}: cannot open the history ({self._why(exc)})") from None
        try:
            db.row_factory = sqlite3.Row
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            except sqlite3.DatabaseError as exc:
                raise BadInput(f"{self.path}: not a usable spdeploy history ({exc})") from None
            if row is None or int(row[0]) != SCHEMA_VERSION:
                raise BadInput(
                    f"{self.path}: history of schema {row[0] if row else 'unknown'}, not "
                    f"{SCHEMA_VERSION}, in a folder spdeploy cannot write to bring it up to "
                    "date; read it from a writable copy"
                )
            yield db
        finally:
            db.close()

    def _why(self, exc: BaseException) -> str:
        """SQLite's complaint, with the cause it does not name: a read-only or full folder."""
        if not os.access(self.state_dir, os.W_OK):
            return f"the folder {self.state_dir} is read-only: {exc}"
        with contextlib.suppress(OSError):
            import shutil

            if shutil.disk_usage(self.state_dir).free < 64 * 1024:
                return f"the disk holding {self.state_dir} is full: {exc}"
        return str(exc)

    def _migrate(self, db: sqlite3.Connection) -> None:
        row = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise BadInput(
                f"{self.path}: history written by a newer spdeploy (schema {row[0]}); upgrade"
            )
        elif int(row[0]) < SCHEMA_VERSION:
            for version in range(int(row[0]), SCHEMA_VERSION):
                db.executescript(_MIGRATIONS[version])
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )

    def open_run(self, run: RunRecord) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT INTO runs (id, profile, target, media, language, platform, started,"
                " status, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.id,
                    run.profile,
                    run.target,
                    run.media,
                    run.language,
                    run.platform,
                    run.started,
                    run.status,
                    run.message,
                ),
            )

    def record_step(self, step: StepRecord) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps (run_id, seq, component, status, exit_code, started,"
                " duration_s, version_before, version_after, log, message, pid, pid_started,"
                " known_failures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    step.run_id,
                    step.seq,
                    step.component,
                    step.status,
                    step.exit_code,
                    step.started,
                    step.duration_s,
                    step.version_before,
                    step.version_after,
                    step.log,
                    step.message,
                    step.pid,
                    step.pid_started,
                    json.dumps([h.as_dict() for h in step.known_failures]),
                ),
            )

    def add_run_note(self, run_id: str, note: str) -> None:
        """Add to what the run was told to overlook (shown by ``history``)."""
        with self.connect() as db:
            db.execute(
                "UPDATE runs SET notes = CASE WHEN notes = '' THEN ? ELSE notes || '; ' || ? END"
                " WHERE id = ?",
                (note, note, run_id),
            )

    def reopen_run(self, run_id: str) -> None:
        """``--resume``: the run is running again; steps caught mid-way become "interrupted"."""
        with self.connect() as db:
            db.execute(
                "UPDATE runs SET finished = NULL, status = 'running', exit_code = NULL,"
                " message = '' WHERE id = ?",
                (run_id,),
            )
            self._interrupt_steps(db, run_id)

    @staticmethod
    def _interrupt_steps(db: sqlite3.Connection, run_id: str, now: float | None = None) -> None:
        """Steps still ``running`` were cut off. Closing the run now, their duration is known;
        on a resume (``now`` None) spdeploy died with them, and the time is not."""
        db.execute(
            "UPDATE steps SET status = 'interrupted', pid = NULL,"
            " duration_s = CASE WHEN ? IS NULL THEN duration_s ELSE ROUND(? - started, 3) END,"
            " message = 'spdeploy stopped during this step'"
            " WHERE run_id = ? AND status = 'running'",
            (now, now, run_id),
        )

    def close_run(self, run_id: str, status: str, exit_code: int | None, message: str = "") -> None:
        now = time.time()
        with self.connect() as db:
            db.execute(
                "UPDATE runs SET finished = ?, status = ?, exit_code = ?, message = ? WHERE id = ?",
                (now, status, exit_code, message, run_id),
            )
            self._interrupt_steps(db, run_id, now)

    def run(self, run_id: str) -> RunRecord:
        """One run, or BadInput (exit 2) naming the database and where to find run ids."""
        found = self.runs(run_id=run_id, limit=1)
        if not found:
            raise BadInput(f"run {run_id} not found in {self.path} (see `spdeploy history`)")
        return found[0]

    def runs(
        self, *, target: str | None = None, limit: int = 20, run_id: str | None = None
    ) -> list[RunRecord]:
        if not self.path.exists():
            return []
        query = "SELECT * FROM runs"
        params: list[Any] = []
        clauses = []
        if target is not None:
            clauses.append("target = ?")
            params.append(target)
        if run_id is not None:
            clauses.append("id = ?")
            params.append(run_id)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started DESC, id DESC LIMIT ?"
        params.append(limit)
        with self.connect() as db:
            rows = db.execute(query, params).fetchall()
            result = []
            for row in rows:
                steps = db.execute(
                    "SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (row["id"],)
                ).fetchall()
                folder = self.run_dir(row["id"])
                result.append(
                    RunRecord(
                        **{**dict(row), "status": _status(RunStatus, row["status"])},
                        steps=tuple(_step(dict(s)) for s in steps),
                        folder=str(folder),
                        collected=_files(folder / "logs", depth=2),
                        backups=_files(folder / "backup", depth=1, suffix=MANIFEST_SUFFIX),
                    )
                )
        return result


def _step(row: dict[str, Any]) -> StepRecord:
    hits = _hits(row.get("known_failures") or "[]")
    return StepRecord(
        **{**row, "status": _status(StepStatus, row["status"]), "known_failures": hits}
    )


_Status = TypeVar("_Status", RunStatus, StepStatus)


def _status(kind: type[_Status], text: str) -> _Status:
    """A status as this version spells it; one a later version wrote stays readable (the
    history is shown, not acted on, for an unknown status)."""
    try:
        return kind(text)
    except ValueError:
        return text  # type: ignore[return-value]


def _hits(text: str) -> tuple[Hit, ...]:
    """The stored known failures; what this version cannot read is left out, not fatal: they
    explain a failure, the step's status and message stand without them."""
    try:
        items = json.loads(text)
    except ValueError:
        return ()
    keys = ("article", "remedy", "match", "in")
    return tuple(
        Hit(*(str(item[k]) for k in keys))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and all(isinstance(item.get(k), str) for k in keys)
    )


def _files(root: Path, *, depth: int, suffix: str = "") -> tuple[str, ...]:
    """Files exactly ``depth`` levels under ``root`` (logs/<component>/<file>), sorted."""
    if not root.is_dir():
        return ()
    pattern = "/".join(["*"] * depth)
    return tuple(
        str(p) for p in sorted(root.glob(pattern)) if p.is_file() and p.name.endswith(suffix)
    )
