"""Contract test: the JSON keys of SPEC §5 are pinned; only additions are allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import cli, world_args

from spdeploy.sandbox.world import build_world

PLAN_KEYS = {"profile", "media", "target", "language", "platform", "compliant", "components"}
COMPONENT_KEYS = {
    "id",
    "name",
    "installed",
    "version",
    "media_version",
    "action",
    "installer",
    "reason",
}
STEP_KEYS = {
    "id",
    "status",
    "exit_code",
    "started",
    "duration_s",
    "version_before",
    "version_after",
    "log",
}
SCAN_KEYS = {"profile", "target", "components"}
SCAN_COMPONENT_KEYS = {"id", "name", "installed", "version"}
MEDIA_KEYS = {"profile", "media", "languages", "platforms", "components"}
MEDIA_COMPONENT_KEYS = {"id", "name", "installer", "present", "media_version"}


def _has(data: dict[str, object], keys: set[str]) -> None:
    assert keys <= set(data), f"missing keys: {keys - set(data)}"


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_world(tmp_path)


def _run(capsys, *args):  # type: ignore[no-untyped-def]
    res = cli(capsys, *args)
    assert res.code in (0, 1), res.err
    return res.json()


def test_plan_and_status(capsys, world) -> None:  # type: ignore[no-untyped-def]
    for command in ("plan", "status"):
        data = _run(capsys, *world_args(world, command))
        _has(data, PLAN_KEYS)
        for comp in data["components"]:
            _has(comp, COMPONENT_KEYS)
            assert comp["action"] in {"update", "current", "absent", "missing-on-media"}


def test_apply(capsys, world) -> None:  # type: ignore[no-untyped-def]
    data = _run(capsys, *world_args(world, "apply"))
    _has(data, PLAN_KEYS | {"run_id", "steps", "reboot_required"})
    assert data["steps"]
    for step in data["steps"]:
        _has(step, STEP_KEYS)
        assert step["status"] in {"ok", "failed", "skipped", "timeout", "reboot-required"}


def test_scan(capsys, world) -> None:  # type: ignore[no-untyped-def]
    data = _run(capsys, "--json", "scan", "--target", world.target)
    _has(data, SCAN_KEYS)
    for comp in data["components"]:
        _has(comp, SCAN_COMPONENT_KEYS)


def test_media(capsys, world) -> None:  # type: ignore[no-untyped-def]
    data = _run(capsys, "--json", "media", "--media", world.media, "--platform", "I386")
    _has(data, MEDIA_KEYS)
    for comp in data["components"]:
        _has(comp, MEDIA_COMPONENT_KEYS)


def test_error_envelope(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli(capsys, "--json", "scan", "--target", tmp_path / "missing")
    assert res.code == 2
    assert set(res.json()["error"]) == {"code", "message", "exit_code"}
