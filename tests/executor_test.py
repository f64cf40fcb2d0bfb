"""Executor rules not covered end to end elsewhere: catalogs, resume, nothing run on refusal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import cli, tree_hash, world_args

from spdeploy.sandbox.world import Behaviour, World, build_world
from spdeploy.store import Store


def _apply(capsys, world: World, *extra: str):  # type: ignore[no-untyped-def]
    return cli(capsys, *world_args(world, "apply", *extra))


def _catalog(media: Path) -> Path:
    lines = []
    for path in sorted(p for p in media.rglob("*") if p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(media).as_posix().upper()}")
    catalog = media / "SHA256SUMS"
    catalog.write_text("\n".join(lines) + "\n")
    return catalog


def test_good_catalog_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    _catalog(world.media)
    assert _apply(capsys, world).code == 0


def test_tampered_installer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path)
    _catalog(world.media)
    installer = world.media / "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe"
    installer.write_text(installer.read_text() + "\n# tampered\n")
    before = tree_hash(world.target)
    res = _apply(capsys, world)
    assert res.code == 1
    message = res.json()["error"]["message"]
    assert "Ntsconn.exe" in message and "SHA-256 mismatch" in message
    assert tree_hash(world.target) == before  # staging comes before the first installer
    assert Store(world.state).runs()[0].status == "refused"


def test_file_missing_from_catalog_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    catalog = _catalog(world.media)
    catalog.write_text(
        "".join(
            line + "\n" for line in catalog.read_text().splitlines() if "CALCON.EXE" not in line
        )
    )
    res = _apply(capsys, world)
    assert res.code == 1
    assert "not listed" in res.json()["error"]["message"]


def test_resume_continues_the_interrupted_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(
        tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(exit_code=3010)}}
    )
    first = _apply(capsys, world)
    assert first.code == 3
    resumed = _apply(capsys, world, "--resume")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["run_id"] == first.json()["run_id"]
    (run,) = Store(world.state).runs()
    assert run.status == "ok"


def test_resume_without_an_interrupted_run_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)
    res = _apply(capsys, world, "--resume")
    assert res.code == 2
    assert "no interrupted run" in res.json()["error"]["message"]
