"""The exchange55 profile as the KB archive has it, end to end on sandbox servers (issue 15).

The Connectivity Controller brought along by a connector's run (Q242250), connectors found by
files of their own (Lsmexout.exe is shared, Q215493, Q215494), PROFS and SNADS on disk, known
failures with their article and remedy (Q198857), the SP1 prerequisite (Q247785), and the
system's own pending reboot.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli, world_args

from spdeploy.sandbox.world import SP2, SP4, Behaviour, World, build_world
from spdeploy.store import Store

RTM = "5.5.1960.8"
TEMP_ERROR = "ERROR: unable to install lsntscp0 admin extension [8007010b]"  # Q198857


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _rows(data: dict) -> dict[str, dict]:
    return {c["id"]: c for c in data["components"]}


def _steps(data: dict) -> dict[str, dict]:
    return {s["id"]: s for s in data["steps"]}


# -- connectors found by files of their own ---------------------------------------------------


@pytest.mark.parametrize(
    ("connector", "witness"),
    [("snaconn", "Connect/Exchconn/Lssne.exe"), ("ovvconn", "Connect/Exchconn/Lsnje.exe")],
)
def test_snads_or_profs_only_server_updates_that_connector_and_never_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], connector: str, witness: str
) -> None:
    # Lsmexout.exe is on disk (the SNADS and PROFS connectors run it too): it once made the
    # Notes connector "installed" here and its service pack would have run.
    world = build_world(tmp_path, installed={"server": SP4, connector: SP2})
    assert (world.target / "Connect/Exchconn/Lsmexout.exe").is_file()
    plan = cli(capsys, *world_args(world, "plan"))
    assert plan.code == 0, plan.err
    rows = _rows(plan.json())
    assert rows["ntsconn"]["action"] == "absent"
    assert rows[connector]["action"] == "update"
    assert rows["coco"]["brought_along_by"] == connector

    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    data = res.json()
    assert _ran(world) == [connector]
    assert [s["id"] for s in data["steps"]] == [connector, "coco"]
    assert data["compliant"] is True
    assert _rows(data)["ntsconn"]["action"] == "absent"
    assert (world.target / witness).is_file()


def test_profs_tables_and_exchconn_ini_are_backed_up_before_its_service_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, installed={"server": SP4, "ovvconn": SP2})
    tables = world.target / "Connect/Exchconn/Tables"
    before = {p.name: p.read_bytes() for p in tables.iterdir()}
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    backup = world.state / "runs" / res.json()["run_id"] / "backup/ovvconn/Connect/Exchconn"
    assert {p.name: p.read_bytes() for p in (backup / "Tables").iterdir()} == before  # Q232495
    assert "Profs.pab" in before and "Ovdfile.dat" in before
    assert "[Connectors]" in (backup / "Exchconn.ini").read_text()


# -- the Connectivity Controller (Q242250) ----------------------------------------------------


def test_controller_is_brought_along_and_proven_by_its_shared_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path)  # server, Calendar, Notes, GroupWise at SP2
    plan = cli(capsys, *world_args(world, "plan", json_mode=False))
    coco = next(line for line in plan.out.splitlines() if line.startswith("coco "))
    assert "comes with calcon" in coco
    verbose = cli(capsys, *world_args(world, "plan", "-v", json_mode=False))
    assert "coco: installed 5.5.2448.0 is older than 5.5.2653.0; no installer of its own: " in (
        verbose.out
    )
    assert "brought along by the calcon installer" in verbose.out
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    data = res.json()
    coco = _steps(data)["coco"]
    assert coco["status"] == "ok"
    assert (coco["version_before"], coco["version_after"]) == (SP2, SP4)
    assert coco["exit_code"] is None  # nothing of its own ran
    assert "level proven by FileVersion of Connect/Exchconn/Lsmexout.exe" in coco["message"]
    assert _rows(data)["coco"]["action"] == "current"
    assert "coco" not in _ran(world)
    # recorded like every other step
    assert [s.component for s in Store(world.state).runs()[0].steps][-1] == "coco"


def test_controller_with_no_file_to_read_is_proven_by_the_servicing_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GroupWise only: Exchconn.ini shows the controller, no shared program gives its version
    world = build_world(tmp_path, installed={"server": SP4, "gwxconn": SP2})
    assert not (world.target / "Connect/Exchconn/Lsmexout.exe").exists()
    before = cli(capsys, *world_args(world, "status"))
    assert before.code == 1
    assert _rows(before.json())["coco"]["action"] == "update"
    assert _rows(before.json())["coco"]["brought_along_by"] == "gwxconn"

    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 0, res.err
    coco = _steps(res.json())["coco"]
    assert coco["status"] == "ok"
    assert coco["version_after"] is None
    assert "level proven by the run(s) that service it: gwxconn" in coco["message"]
    after = cli(capsys, *world_args(world, "status", "-v", json_mode=False))
    assert after.code == 0
    assert "as what services it" in after.out
    assert "its level follows the components that service it" in after.out


def test_controller_behind_with_every_connector_current_is_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, installed={"server": SP4, "coco": SP2, "ntsconn": SP4})
    res = cli(capsys, *world_args(world, "status"))
    assert res.code == 1
    findings = {f["code"]: f for f in res.json()["findings"]}
    assert findings["component-not-serviced"]["components"] == ["coco"]
    applied = cli(capsys, *world_args(world, "apply"))
    assert applied.code == 1  # nothing can bring it along: still not compliant
    assert applied.json()["steps"] == []
    assert _ran(world) == []


def test_controller_not_proven_when_its_connector_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    behaviours = {"ntsconn": Behaviour(exit_code=1, change=False)}
    world = build_world(
        tmp_path,
        installed={"server": SP4, "ntsconn": SP2},
        media_kwargs={"behaviours": behaviours},
    )
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 1
    coco = _steps(res.json())["coco"]
    assert coco["status"] == "skipped"
    assert "ntsconn failed" in coco["message"]


# -- known failures with their remedies --------------------------------------------------------


def _failing_notes(tmp_path: Path, **installed: str) -> World:
    behaviour = Behaviour(exit_code=1, change=False, log_line=TEMP_ERROR)
    return build_world(
        tmp_path,
        installed=installed or None,
        media_kwargs={"behaviours": {"ntsconn": behaviour}},
    )


def test_notes_installer_failing_with_8007010b_names_q198857_and_its_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = _failing_notes(tmp_path)
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 1
    steps = _steps(res.json())
    assert steps["ntsconn"]["status"] == "failed"
    (hit,) = steps["ntsconn"]["known_failures"]
    assert hit["article"] == "Q198857"
    assert hit["match"] == "[8007010b]"
    assert hit["in"].endswith("Connect/Exchconn/Setup/lmeilog.txt")
    assert "Temp folder in the root of the drive" in hit["remedy"]
    assert steps["server"]["known_failures"] == []
    # kept in the history: `history --run` and the HTML report show it too
    run_id = res.json()["run_id"]
    detail = cli(capsys, "--state", world.state, "history", "--run", run_id)
    assert "ntsconn failed: known failure Q198857" in detail.out
    assert "create one (for example C:\\Temp)" in detail.out
    html_file = tmp_path / "status.html"
    cli(capsys, *world_args(world, "status", "--output", html_file, json_mode=False))
    page = html_file.read_text()
    assert "Known failure Q198857:" in page
    assert "Temp folder in the root of the drive" in page


def test_known_failure_is_printed_under_the_failed_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = _failing_notes(tmp_path)
    res = cli(capsys, *world_args(world, "apply", json_mode=False))
    assert res.code == 1
    lines = res.out.splitlines()
    table = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ntsconn", "failed"])
    remedy = next(i for i, line in enumerate(lines) if "known failure Q198857" in line)
    assert table < remedy
    assert "'[8007010b]' in " in lines[remedy]


def test_an_error_left_in_the_log_by_an_earlier_setup_is_not_this_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lmeilog.txt is appended on every run: an old [8007010b] must not explain a new failure
    behaviours = {"ntsconn": Behaviour(exit_code=1, change=False)}
    world = build_world(tmp_path, media_kwargs={"behaviours": behaviours})
    log = world.target / "Connect/Exchconn/Setup/lmeilog.txt"
    log.write_text(log.read_text() + TEMP_ERROR + "\n")
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 1
    assert _steps(res.json())["ntsconn"]["known_failures"] == []


def test_a_connector_setup_killed_at_the_timeout_names_q234291(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # stopped before it completed, as a cancelled setup: uninstall, then reinstall (Q234291)
    world = build_world(
        tmp_path,
        installed={"server": SP4, "gwxconn": SP2},
        media_kwargs={"behaviours": {"gwxconn": Behaviour(hang=True)}},
    )
    res = cli(capsys, *world_args(world, "apply", "--timeout", "1"))
    assert res.code == 1
    step = _steps(res.json())["gwxconn"]
    assert step["status"] == "timeout"
    assert [(h["article"], h["in"]) for h in step["known_failures"]] == [("Q234291", "status")]


def test_a_site_profile_carries_its_own_known_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    behaviours = {"gwxconn": Behaviour(exit_code=99, change=False)}
    world = build_world(tmp_path, media_kwargs={"behaviours": behaviours})
    site = tmp_path / "site.toml"
    site.write_text(
        f'id = "site"\nname = "Site"\nextends = "{world.profile}"\n\n'
        '[[component]]\nid = "gwxconn"\n'
        'known_failures = [{ match = \'^99$\', in = "exit_code", article = "KB-LOCAL-7", '
        'remedy = "ask the messaging team" }]\n',
        encoding="utf-8",
    )
    args = world_args(world, "apply", profile=False)
    res = cli(capsys, "--profile", site, *args)
    assert res.code == 1, res.err
    hits = _steps(res.json())["gwxconn"]["known_failures"]
    assert hits == [
        {
            "article": "KB-LOCAL-7",
            "remedy": "ask the messaging team",
            "match": "99",
            "in": "exit code",
        }
    ]


# -- to do after --------------------------------------------------------------------------------


def test_to_do_after_notes_follow_a_successful_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(
        tmp_path, media_kwargs={"languages": ("Ger", "Eng"), "notes_languages": ("Eng",)}
    )
    res = cli(capsys, *world_args(world, "apply", "--language", "Ger"))
    assert res.code == 0, res.err
    todo = {t["article"]: t for t in res.json()["todo_after"]}
    assert set(todo) == {"Q286176", "Q286559"}  # the English Notes installer on a German CD
    assert todo["Q286176"]["id"] == "calcon" and "Excalcon.exe" in todo["Q286176"]["note"]
    assert todo["Q286559"]["id"] == "ntsconn" and "rcsaccess" in todo["Q286559"]["note"]
    english = build_world(tmp_path / "eng")
    res = cli(capsys, *world_args(english, "apply", json_mode=False))
    assert res.code == 0, res.err
    assert "To do after calcon (Q286176):" in res.out
    assert "Q286559" not in res.out


def test_no_to_do_after_a_failed_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(exit_code=5)}})
    res = cli(capsys, *world_args(world, "apply"))
    assert res.code == 1
    assert res.json()["todo_after"] == []


# -- prerequisites (Q247785) --------------------------------------------------------------------


def test_groupwise_is_refused_below_sp1_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, installed={"server": RTM, "ntsconn": SP2, "gwxconn": SP2})
    plan = cli(capsys, *world_args(world, "plan", "--skip", "server"))
    assert plan.code == 1
    (finding,) = [f for f in plan.json()["findings"] if f["code"] == "prerequisite-not-met"]
    assert finding["components"] == ["gwxconn", "server"]
    # --ignore-order lets the server be left out of the order; it does not lift the SP1 level
    args = world_args(world, "apply", "--skip", "server", "--ignore-order", json_mode=False)
    res = cli(capsys, *args)
    assert res.code == 1
    assert "gwxconn needs server at 5.5.2232 (SP1) or later" in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert _ran(world) == []
    assert Store(world.state).runs()[0].status == "refused"
    # with the server's own update in the run, it is at SP4 when GroupWise runs
    ok = cli(capsys, *world_args(world, "apply"))
    assert ok.code == 0, ok.err
    assert _ran(world) == ["server", "ntsconn", "gwxconn"]


# -- the system's own pending reboot ------------------------------------------------------------


def _pending_reboot(root: Path) -> None:
    run = root / "var/run"
    run.mkdir(parents=True)
    (run / "reboot-required").write_text("*** System restart required ***\n")
    (run / "reboot-required.pkgs").write_text("linux-image-6.1.0-13-amd64\nlibc6\n")


def test_plan_and_status_report_the_system_reboot_signal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "host"
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(root))
    world = build_world(tmp_path / "w", installed={"server": SP4})
    quiet = cli(capsys, *world_args(world, "status"))
    assert quiet.json()["system_reboot_signals"] == []
    _pending_reboot(root)
    for command in ("plan", "status"):
        res = cli(capsys, *world_args(world, command))
        assert res.code == 0, res.err  # reported, not a verdict
        assert res.json()["system_reboot_signals"] == [
            {
                "name": "reboot-required",
                "path": str(root / "var/run/reboot-required"),
                "entries": ["linux-image-6.1.0-13-amd64", "libc6"],
            }
        ]
    text = cli(capsys, *world_args(world, "status", json_mode=False))
    assert "warning: the system is waiting for a reboot of its own: reboot-required" in text.out
    assert "  libc6" in text.out
    page = tmp_path / "status.html"
    cli(capsys, *world_args(world, "status", "--output", page, json_mode=False))
    assert "The system is waiting for a reboot of its own" in page.read_text()
    assert "<code>linux-image-6.1.0-13-amd64</code>" in page.read_text()


def test_apply_warns_and_goes_on_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "host"
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(root))
    _pending_reboot(root)
    world = build_world(tmp_path / "w")
    res = cli(capsys, *world_args(world, "apply", json_mode=False))
    assert res.code == 0, res.err
    assert "the installers ran while the system was waiting for a reboot" in res.out
    assert _ran(world) == ["server", "calcon", "ntsconn", "gwxconn"]


@pytest.mark.parametrize("how", ["flag", "profile"])
def test_refuse_on_pending_reboot_refuses_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    root = tmp_path / "host"
    monkeypatch.setenv("SPDEPLOY_SYSTEM_ROOT", str(root))
    _pending_reboot(root)
    world = build_world(tmp_path / "w")
    if how == "flag":
        args = world_args(world, "apply", "--refuse-on-pending-reboot")
    else:
        site = tmp_path / "strict.toml"
        site.write_text(
            f'id = "strict"\nname = "Strict"\nextends = "{world.profile}"\n'
            "refuse_on_pending_reboot = true\n",
            encoding="utf-8",
        )
        args = ["--profile", str(site), *world_args(world, "apply", profile=False)]
    res = cli(capsys, *args)
    assert res.code == 1
    error = res.json()["error"]
    assert error["code"] == "refused"
    assert "waiting for a reboot of its own" in error["message"]
    assert "reboot-required" in error["message"]
    assert _ran(world) == []
    assert not list((world.state / "runs").glob("*/staged"))
    # once the system has rebooted, the same command runs
    (root / "var/run/reboot-required").unlink()
    again = cli(capsys, *args)
    assert again.code == 0, again.err
    assert json.loads(again.out)["compliant"] is True
