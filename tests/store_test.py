"""SQLite history: one committed write per step, readable back, schema versioned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from spdeploy.errors import BadInput
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


def test_state_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPDEPLOY_STATE", str(tmp_path / "s"))
    assert default_state_dir() == tmp_path / "s"
    monkeypatch.delenv("SPDEPLOY_STATE")
    assert str(default_state_dir()).startswith(str(tmp_path))  # XDG_DATA_HOME from conftest


def test_run_ids_sort_by_time_and_differ() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) > 1
