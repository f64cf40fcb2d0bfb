"""Report inputs: real plans and runs from sandbox worlds; where artifacts go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import write_result
from report_samples import UP, WHEN, Applied, result

from spdeploy import reboot
from spdeploy.errors import TargetError
from spdeploy.executor import ApplyOptions, apply
from spdeploy.planner import Plan
from spdeploy.sandbox.world import SP2, SP4, Behaviour, World, build_media, build_world
from spdeploy.session import Selection, prepare
from spdeploy.store import Store


def _plan(world: World) -> Plan:
    selection = Selection(str(world.media), str(world.target), platform="I386")
    return prepare(str(world.profile), selection).plan()


def _apply(world: World) -> None:
    selection = Selection(str(world.media), str(world.target), platform="I386")
    apply(prepare(str(world.profile), selection), Store(world.state), ApplyOptions(timeout=60))


@pytest.fixture(scope="module")
def trap(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """Q242250: Update.exe ran alone (server at SP4), three connectors left at SP2, and the
    GroupWise installer is not on the media; PROFS and SNADS are not installed."""
    world = build_world(
        tmp_path_factory.mktemp("trap"),
        installed={"server": SP4, "calcon": SP2, "ntsconn": SP2, "gwxconn": SP2},
        media_kwargs={"components": ("server", "calcon", "ntsconn", "ovvconn", "snaconn")},
    )
    return _plan(world)


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    world = build_world(
        tmp_path_factory.mktemp("applied"),
        media_kwargs={"behaviours": {"calcon": Behaviour(exit_code=1603)}},
    )
    _apply(world)  # server ok, calcon fails: the run stops there
    build_media(world.media, behaviours={"ntsconn": Behaviour(exit_code=3010)})
    _apply(world)  # calcon, ntsconn (reboot required), gwxconn
    runs = Store(world.state).runs(target=str(world.target))
    assert [r.status for r in runs] == ["reboot-required", "failed"]
    # as `status` sees it: this machine has not booted since the second run asked for a reboot
    pending = reboot.pending(world.state, world.target)
    assert pending is not None and pending.run_id == runs[0].id
    return Applied(_plan(world)._replace(reboot_pending=pending), runs)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test leaves what a person may want to look at: ``$SPDEPLOY_ARTIFACTS``."""
    folder = Path(os.environ.get("SPDEPLOY_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Six hosts, one of each kind, written in an order that is not the worst-first one."""
    folder = tmp_path / "results"
    write_result(folder, "a-ok", "checked", result(UP), checked_at=WHEN)
    write_result(folder, "b-reboot", "applied", result(UP, reboot=True), checked_at=WHEN)
    one = {**UP, "calcon": "update"}
    write_result(folder, "c-one-behind", "checked", result(one), checked_at=WHEN)
    two = {**UP, "calcon": "update", "ntsconn": "update"}
    write_result(folder, "d-two-behind", "applied", result(two, failed="calcon"), checked_at=WHEN)
    missing = {**UP, "ntsconn": "missing-on-media"}
    write_result(folder, "e-missing", "checked", result(missing), checked_at=WHEN)
    gone = TargetError("C:\\exchsrvr: target not found")
    write_result(folder, "f-error", "checked", None, gone, checked_at=WHEN)
    return folder
