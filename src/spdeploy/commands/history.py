"""``spdeploy history``: past runs and their steps."""

from __future__ import annotations

from pathlib import Path

from spdeploy.store import RunRecord, Store


def history(state: Path, *, target: str | None, limit: int) -> list[RunRecord]:
    key = str(Path(target).resolve()) if target else None
    return Store(state).runs(target=key, limit=limit)
