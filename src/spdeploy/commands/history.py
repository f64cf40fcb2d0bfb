"""``spdeploy history``: past runs and their steps."""

from __future__ import annotations

from pathlib import Path

from spdeploy.store import RunRecord, Store


def history(
    state: Path, *, target: str | None, limit: int, run_id: str | None = None
) -> list[RunRecord]:
    if run_id is not None:
        return [Store(state).run(run_id)]
    key = str(Path(target).resolve()) if target else None
    return Store(state).runs(target=key, limit=limit)
