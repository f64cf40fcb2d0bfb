"""Shared fixtures. Every test runs with its own state folder, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def dont_write_to_user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $SPDEPLOY_STATE, the XDG folders and $SPDEPLOY_SYSTEM_ROOT into the test's own tmp
    folder."""
    state = tmp_path / "state"
    monkeypatch.setenv("SPDEPLOY_STATE", str(state))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # the system's own reboot signals are read under this root: this machine's never show
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(tmp_path / "system-root"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return state
