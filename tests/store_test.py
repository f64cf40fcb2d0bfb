"""SQLite history: one committed write per step, readable back, schema versioned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from spdeploy.errors import BadInput
from spdeploy.knownfailures import Hit
from spdeploy.store import RunRecord, StepRecord, Store, default_state_dir, new_run_id


def _run(run_id: str, target: str = "/t", started: float = 1.0) -> RunRecord:
    return RunRecord(
        run_id, "exchange55", target, "/m", "Eng", "I386", started, None, "running", None, ""
    )


def test_steps_are_readable_as_soon_as_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open_run(_run("r1"))
    store.record_step(
        StepRecord("r1", 1, "server", "ok", 0, 2.0, 1.5, "5.5.2448.0", "5.5.2653.0", "/log")
    )
    # A second connection (another process, after a crash) sees it: it was committed.
    with sqlite3.connect(tmp_path / "history.sqlite3") as db:
        assert db.execute("SELECT component, status FROM steps").fetchall() == [("server", "ok")]
    (run,) = store.runs()
    assert run.status == "running"
    assert [s.component for s in run.steps] == ["server"]
    store.close_run("r1", "ok", 0)
    assert store.runs()[0].status == "ok"


def test_filters_and_order(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open_run(_run("a", "/t1", 1.0))
    store.open_run(_run("b", "/t2", 2.0))
    store.open_run(_run("c", "/t1", 3.0))
    assert [r.id for r in store.runs()] == ["c", "b", "a"]
    assert [r.id for r in store.runs(target="/t1")] == ["c", "a"]
    assert [r.id for r in store.runs(limit=1)] == ["c"]
    assert [r.id for r in store.runs(run_id="b")] == ["b"]


def test_no_database_means_no_runs(tmp_path: Path) -> None:
    assert Store(tmp_path / "none").runs() == []
    assert not (tmp_path / "none").exists()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open_run(_run("a"))
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(BadInput, match="newer spdeploy"):
        store.runs()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b"not sqlite at all\n" * 64), id="not-sqlite"),
        pytest.param(
            lambda path: path.write_bytes(path.read_bytes()[:100] + b"\xff" * 4000), id="torn"
        ),
    ],
)
def test_a_damaged_history_is_one_line_naming_it(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path)
    store.open_run(_run("a"))
    damage(store.path)
    for wal in tmp_path.glob("history.sqlite3-*"):
        wal.unlink()
    with pytest.raises(BadInput, match="not a usable spdeploy history") as info:
        store.runs()
    assert str(store.path) in info.value.message and "\n" not in info.value.message


def test_state_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPDEPLOY_STATE", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s"
    monkeypatch.delenv("SPDEPLOY_STATE")
    assert str(default_state_dir()).startswith(str(tmp_path))  # XDG_DATA_HOME from conftest


def test_run_ids_sort_by_time_and_differ() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) > 1


def test_schema_1_history_is_migrated_in_place(tmp_path: Path) -> None:
    """A history written before the journal remembered installer processes keeps its runs."""
    db = sqlite3.connect(tmp_path / "history.sqlite3")
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (id TEXT PRIMARY KEY, profile TEXT NOT NULL, target TEXT NOT NULL,
            media TEXT NOT NULL, language TEXT, platform TEXT, started REAL NOT NULL,
            finished REAL, status TEXT NOT NULL, exit_code INTEGER,
            message TEXT NOT NULL DEFAULT '');
        CREATE TABLE steps (run_id TEXT NOT NULL, seq INTEGER NOT NULL,
            component TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER,
            started REAL NOT NULL, duration_s REAL NOT NULL, version_before TEXT,
            version_after TEXT, log TEXT, message TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (run_id, seq));
        INSERT INTO runs VALUES ('old', 'exchange55', '/t', '/m', 'Eng', 'I386', 1.0, 2.0,
            'ok', 0, '');
        INSERT INTO steps VALUES ('old', 1, 'server', 'ok', 0, 1.0, 1.0, 'a', 'b', NULL, '');
        """
    )
    db.commit()
    db.close()
    store = Store(tmp_path)
    (run,) = store.runs()
    assert run.id == "old" and run.steps[0].pid is None and run.notes == ""
    store.record_step(
        StepRecord("old", 2, "calcon", "running", None, 3.0, 0.0, "a", None, None, pid=42)
    )
    assert store.runs()[0].steps[1].pid == 42
    with sqlite3.connect(store.path) as check:
        assert check.execute("SELECT value FROM meta").fetchone() == ("4",)
    assert store.runs()[0].steps[0].known_failures == ()


def test_a_step_keeps_the_known_failures_that_matched_it(tmp_path: Path) -> None:
    hit = Hit("Q198857", "create C:\\Temp", "[8007010b]", "C:/exchsrvr/lmeilog.txt")
    store = Store(tmp_path)
    store.open_run(_run("r"))
    store.record_step(
        StepRecord("r", 1, "ntsconn", "failed", 1, 1.0, 0.5, "a", "a", None, known_failures=(hit,))
    )
    assert store.runs()[0].steps[0].known_failures == (hit,)
    # a value this version cannot read is left out, not fatal
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE steps SET known_failures = '{not json'")
    assert store.runs()[0].steps[0].known_failures == ()


def test_resume_marks_steps_caught_mid_way_as_interrupted(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.open_run(_run("r"))
    store.record_step(StepRecord("r", 1, "server", "running", None, 1.0, 0.0, "a", None, None))
    store.reopen_run("r")
    (run,) = store.runs()
    assert run.status == "running" and run.steps[0].status == "interrupted"


def test_a_history_in_a_folder_it_cannot_write_is_still_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An auditor's copy, a read-only mount: `history` failed with "cannot use the history"
    (SQLite wants to write its journal beside the file). It is read as it is, nothing is
    written beside it, and a write is refused as the folder's fault."""
    import os

    store = Store(tmp_path)
    store.open_run(_run("r1"))
    store.close_run("r1", "ok", 0)
    for extra in tmp_path.glob("history.sqlite3-*"):
        extra.unlink()  # what the last connection leaves (nothing, after a clean close)
    before = sorted(p.name for p in tmp_path.iterdir())
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real(p, mode))
    assert [r.id for r in Store(tmp_path).runs()] == ["r1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no -wal, no -shm
    with pytest.raises(BadInput, match=r"cannot write the history .*read-only"):
        Store(tmp_path).open_run(_run("r2"))
