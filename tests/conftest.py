"""Shared fixtures. Every test runs with its own state folder, never the user's; the property
tests get their harness here."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from properties import Harness

_ROOT = Path(__file__).resolve().parent
# Test files that drive POSIX-only machinery themselves. On Windows they skip, saying why;
# the rest of the suite runs there, with the sandbox's exe installers (its default there).
_POSIX_ONLY = {
    "ansible/": "Ansible's controller does not run on Windows",
    "sandbox/world_test.py": "reads and runs the #!/bin/sh stand-ins (installers_test.py: the exe)",
    "sandbox/images_test.py": "builds media holding #!/bin/sh stand-ins and compares their modes",
    "commands/apply_plan_test.py": "rewrites #!/bin/sh installers by hand",
    "executor_faults_test.py": "kills spdeploy and installers with POSIX signals",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if sys.platform != "win32":
        return
    for item in items:
        rel = item.path.resolve().relative_to(_ROOT).as_posix()
        for prefix, reason in _POSIX_ONLY.items():
            if rel.startswith(prefix):
                item.add_marker(pytest.mark.skip(reason=f"POSIX only: {reason}"))


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


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The property tests' harness (``properties.py``), its root the test's tmp_path."""
    from properties import Harness

    (tmp_path / "ex").mkdir()
    (tmp_path / "tmp").mkdir()
    # Anything spdeploy puts in the temp folder lands under tmp_path, where the snapshot sees it.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    # pefile runs a full gc.collect() after each file it cannot parse: tens of milliseconds with
    # the objects hypothesis builds up in this process, nothing in a real `spdeploy` process.
    import pefile

    monkeypatch.setattr(pefile, "gc", SimpleNamespace(collect=lambda: 0))
    return Harness(tmp_path)
