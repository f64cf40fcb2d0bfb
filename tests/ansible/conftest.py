"""Fixtures for the Ansible tests: the collection installed once, an environment per test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from playbook_helpers import BIN, COLLECTION

from spdeploy.sandbox.fleet import ansible_environment


@pytest.fixture(scope="session")
def collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection installed the way the README says: ``ansible-galaxy collection install``."""
    base = tmp_path_factory.mktemp("collections")
    env = ansible_environment(base, base)
    done = subprocess.run(
        [str(BIN / "ansible-galaxy"), "collection", "install", str(COLLECTION), "-p", str(base)],
        capture_output=True,
        text=True,
        env=env,
        cwd=base,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (base / "ansible_collections/spdeploy/servicepack/plugins/modules/spdeploy.py").is_file()
    return base


@pytest.fixture
def ansible_env(tmp_path: Path, collections: Path) -> dict[str, str]:
    return ansible_environment(tmp_path / "ansible-home", collections)
