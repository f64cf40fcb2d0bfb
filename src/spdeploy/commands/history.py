"""``spdeploy history``: past runs and their steps."""

from __future__ import annotations

from pathlib import Path

from spdeploy.errors import BadInput
from spdeploy.store import RunRecord, Store


def history(
    state: Path, *, target: str | None, limit: int, run_id: str | None = None
) -> list[RunRecord]:
    key = str(Path(target).resolve()) if target else None
    runs = Store(state).runs(target=key, limit=limit, run_id=run_id)
    if run_id is not None and not runs:
        raise BadInput(f"run {run_id} not found in {state} (see `spdeploy history`)")
    return runs
