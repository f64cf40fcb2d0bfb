"""Fault injection: spdeploy killed at random moments, hostile installers, rival applies.

Every case ends with the question an administrator asks: is the server at the level, and does
the history say what happened? Seeded, so a failure can be replayed; bounded in time.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from helpers import cli, cli_process, cli_spawn, machine_booted, world_args

from spdeploy.faults import FAULT_ENV
from spdeploy.locking import TARGET_LOCK
from spdeploy.sandbox.world import SP2, Behaviour, World, build_world
from spdeploy.store import Store

UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]
# A dozen seeded kills per test run keep it well inside its time limit on a loaded two-core CI
# machine; bench/kills.py runs the long schedule (50 kills, docs/reliability.md has its figures).
KILLS = 12
SEED = 20261201


def _ran(world: World) -> list[str]:
    marker = world.root / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _spawn(world: World, *extra: str) -> subprocess.Popen[str]:
    return cli_spawn(*world_args(world, "apply", *extra))


def _slow_world(root: Path, **behaviour: object) -> World:
    """Installers that take a while and folders that take a while to stage: room to be killed."""
    slow = Behaviour(delay_s=0.15, **behaviour)  # type: ignore[arg-type]
    media = {
        "behaviours": dict.fromkeys(UPDATED, slow),
        "pad_bytes": 8 << 20,
        "platforms": ["I386"],
    }
    return build_world(root, media_kwargs=media)


def _phase(world: World) -> str:
    """Where the kill landed, read back from the history."""
    runs = Store(world.state).runs()
    if not runs:
        return "before the run opened"
    steps = runs[0].steps
    if not steps:
        return "staging" if runs[0].status == "running" else runs[0].status
    if any(s.status == "running" and s.pid for s in steps):
        return "during an installer"
    if any(s.status == "running" for s in steps):
        return "backing up / starting a step"
    return "between steps" if runs[0].status == "running" else "after the run"


def _run_opened(world: World, proc: subprocess.Popen[str]) -> None:
    """Wait until the run is in the history: start-up and imports are over."""
    while not (world.state / "history.sqlite3").exists() and proc.poll() is None:
        time.sleep(0.005)


def _kill_and_resume(root: Path, fraction: float, span: float) -> tuple[str, World]:
    """Kill at ``fraction`` of a run: the first tenth lands in start-up, the rest spreads over
    the run proper (staging, backups, installers, between steps), whatever the machine's load."""
    world = _slow_world(root)
    proc = _spawn(world)
    if fraction < 0.1:
        time.sleep(fraction * 2)
    else:
        _run_opened(world, proc)
        time.sleep((fraction - 0.1) / 0.9 * span)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    phase = _phase(world)
    resumed = cli_process(*world_args(world, "apply", "--resume"), timeout=120)
    assert resumed.code == 0, (phase, resumed.out, resumed.err)
    return phase, world


def test_sigkill_at_random_moments_then_resume(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    # one unkilled run says how long a run lasts once open; the kills land anywhere inside it
    world = _slow_world(tmp_path / "timing")
    proc = _spawn(world)
    _run_opened(world, proc)
    opened = time.monotonic()
    assert proc.wait() == 0
    span = time.monotonic() - opened
    fractions = [rng.random() for _ in range(KILLS)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(
            pool.map(
                lambda n: _kill_and_resume(tmp_path / f"k{n}", fractions[n], span), range(KILLS)
            )
        )
    phases = Counter(phase for phase, _ in outcomes)
    print(f"\nkill moments over {span:.2f}s runs: {dict(phases)}")
    for _phase_hit, world in outcomes:
        status = cli_process(*world_args(world, "status"))
        assert status.code == 0 and status.json()["compliant"] is True
        runs = Store(world.state).runs(limit=100)
        steps = [s for run in runs for s in run.steps]
        for component in UPDATED:
            mine = [s for s in steps if s.component == component]
            # a step verified done is never run again
            assert sum(s.status == "ok" for s in mine) <= 1, mine
            # a SIGKILL leaves the installer running (own session): the resume waits for it
            # and never starts a second copy, whenever the kill came
            assert _ran(world).count(component) == 1, (component, mine)
            # nothing is left "running" once a resume has finished
            assert all(s.status != "running" for s in mine)
    # the kills landed in more than one place (staging, installers, between steps)
    assert len(phases) >= 2, phases


def test_killed_during_an_installer_resume_waits_for_it(tmp_path: Path) -> None:
    """The installer outlives spdeploy (own session): resume lets it finish, never doubles it."""
    world = _slow_world(tmp_path)
    proc = _spawn(world)
    deadline = time.monotonic() + 30
    while _phase(world) != "during an installer" and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run,) = Store(world.state).runs()
    running = [s for s in run.steps if s.status == "running"]
    assert [s.component for s in running] == ["server"] and running[0].pid is not None
    resumed = cli_process(*world_args(world, "apply", "--resume"))
    assert resumed.code == 0, resumed.err
    assert resumed.json()["resumed"] is True and resumed.json()["run_id"] == run.id
    assert _ran(world) == UPDATED  # the server's installer ran once
    (run,) = Store(world.state).runs()
    assert [(s.component, s.status) for s in run.steps][:1] == [("server", "interrupted")]
    assert run.status == "ok"


@pytest.mark.parametrize("resume", [True, False], ids=["resume", "new-run"])
def test_killed_between_spawn_and_journal_no_second_copy(tmp_path: Path, resume: bool) -> None:
    """The window random kills hit once in dozens: the installer exists, its pid is not yet in
    the journal. The next apply, resumed or new, finds it by its staged path and its
    environment, waits for it, and does not run it again."""
    media = {"behaviours": {"server": Behaviour(delay_s=2.0)}, "platforms": ["I386"]}
    world = build_world(tmp_path, media_kwargs=media)
    killed = cli_process(*world_args(world, "apply"), env={FAULT_ENV: "after-spawn"})
    assert killed.code == -signal.SIGKILL, killed.err
    (run,) = Store(world.state).runs()
    assert [(s.component, s.status, s.pid) for s in run.steps] == [("server", "running", None)]
    again = cli_process(*world_args(world, "apply", *(["--resume"] if resume else [])))
    assert again.code == 0, again.err
    assert _ran(world) == UPDATED  # the server's installer ran once: the orphan's run
    assert again.json()["steps"][0]["id"] == "calcon"  # re-probed: the server was done
    runs = Store(world.state).runs()
    assert all(r.status in ("ok", "interrupted") for r in runs), runs
    assert not any(s.status == "running" for r in runs for s in r.steps)


def test_a_stale_lock_from_a_killed_apply_does_not_block(tmp_path: Path) -> None:
    world = _slow_world(tmp_path)
    proc = _spawn(world)
    time.sleep(0.6)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    res = cli_process(*world_args(world, "apply", "--resume"))
    assert res.code == 0, res.err
    assert not (world.target / TARGET_LOCK).exists()  # the killed one's lock file is cleaned up


def test_eight_concurrent_applies_one_runs(tmp_path: Path) -> None:
    world = _slow_world(tmp_path)
    procs = [_spawn(world) for _ in range(8)]
    outs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outs)
    assert codes == [0] + [4] * 7, outs
    winner = next(json.loads(out) for code, out, _ in outs if code == 0)
    for code, out, _ in outs:
        if code == 4:
            error = json.loads(out)["error"]
            assert error["code"] == "locked"
            assert f"(run {winner['run_id']}, pid " in error["message"]
    assert _ran(world) == UPDATED  # each installer ran once
    assert len(Store(world.state).runs()) == 1


def test_applies_with_their_own_state_folders_exclude_each_other(tmp_path: Path) -> None:
    """Two administrators (or Ansible and a console user) each with their own state folder."""
    world = _slow_world(tmp_path)
    procs = [_spawn(replace(world, state=tmp_path / f"state-{n}")) for n in range(4)]
    outs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert sorted(code for code, _, _ in outs) == [0, 4, 4, 4], outs
    for code, out, _ in outs:
        if code == 4:
            error = json.loads(out)["error"]
            assert error["code"] == "locked"
            assert "from another state folder or user" in error["message"]
    assert _ran(world) == UPDATED  # each installer ran once, not once per state folder
    assert not (world.target / TARGET_LOCK).exists()  # the target is left as the installers left it


# -- hostile installers ----------------------------------------------------------------------


def _apply(capsys: pytest.CaptureFixture[str], world: World, *extra: str):  # type: ignore[no-untyped-def]
    return cli(capsys, *world_args(world, "apply", *extra))


def test_exit_1603_fails_and_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"ntsconn": Behaviour(1603)}})
    res = _apply(capsys, world)
    assert res.code == 1
    steps = {s["id"]: s for s in res.json()["steps"]}
    assert steps["ntsconn"]["status"] == "failed" and steps["gwxconn"]["status"] == "skipped"
    assert "installer exited" in steps["ntsconn"]["message"]


def test_reboot_then_resume_reaches_the_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(3010)}})
    first = _apply(capsys, world)
    assert first.code == 3 and first.json()["reboot_required"] is True
    # ... the machine reboots; the playbook (or the admin) resumes
    machine_booted(monkeypatch)
    resumed = _apply(capsys, world, "--resume")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["run_id"] == first.json()["run_id"] and resumed.json()["steps"] == []
    assert _ran(world) == UPDATED


def test_reboot_loop_is_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An installer that asks for a reboot and never takes: rerun once after it, then stop."""
    never = Behaviour(3010, change=False)
    world = build_world(tmp_path, media_kwargs={"behaviours": {"gwxconn": never}})
    assert _apply(capsys, world).code == 3
    again = _apply(capsys, world, "--resume")
    assert again.code == 1
    (step,) = again.json()["steps"]
    assert step["id"] == "gwxconn" and step["status"] == "failed"
    assert "stopping instead of looping" in step["message"]
    third = _apply(capsys, world, "--resume")  # the run is closed failed: a new run starts
    assert third.json()["run_id"] != again.json()["run_id"]
    assert _ran(world).count("gwxconn") == 3


def test_1641_stops_later_steps_and_resume_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """1641: the installer is rebooting the machine now. POSIX exits keep 8 bits, so the
    server's installer is made to report 1641 as a Windows one would."""
    from spdeploy import process

    real_run = process.run

    def server_reboots(argv, **kw):  # type: ignore[no-untyped-def]
        done = real_run(argv, **kw)
        code = 1641 if argv[0].endswith("Update.exe") else done.exit_code
        return process.ProcessResult(done.argv, code, False, done.duration_s, done.log_path)

    monkeypatch.setattr(process, "run", server_reboots)
    world = build_world(tmp_path)
    first = _apply(capsys, world)
    assert first.code == 3
    assert [s["status"] for s in first.json()["steps"]] == ["reboot-required"] + ["skipped"] * 3
    monkeypatch.undo()  # ... the machine comes back
    machine_booted(monkeypatch)
    resumed = _apply(capsys, world, "--resume")
    assert resumed.code == 0, resumed.err
    assert resumed.json()["run_id"] == first.json()["run_id"]
    assert [s["id"] for s in resumed.json()["steps"]] == ["calcon", "ntsconn", "gwxconn", "coco"]
    assert _ran(world) == UPDATED


def test_installer_deleting_its_own_staged_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(
        tmp_path, media_kwargs={"behaviours": {"ntsconn": Behaviour(delete_self=True)}}
    )
    res = _apply(capsys, world)
    assert res.code == 0, res.err
    assert (world.media / "Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe").is_file()  # media intact


def test_gigabytes_of_output_cost_no_memory(tmp_path: Path) -> None:
    size = 1 << 30
    world = build_world(
        tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(output_bytes=size)}}
    )
    proc = _spawn(world)
    peak = 0
    watched = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    assert proc.returncode == 0, proc.stderr.read()  # type: ignore[union-attr]
    (run,) = Store(world.state).runs()
    log = Path(next(s.log for s in run.steps if s.component == "calcon") or "")
    assert log.stat().st_size >= size
    print(f"\npeak resident memory while the installer wrote 1 GiB: {peak >> 20} MiB")
    assert peak < 200 << 20, f"spdeploy grew to {peak >> 20} MiB while the installer wrote 1 GiB"
    log.unlink()


def test_success_without_change_is_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(change=False)}})
    res = _apply(capsys, world)
    assert res.code == 1
    calcon = next(s for s in res.json()["steps"] if s["id"] == "calcon")
    assert calcon["status"] == "failed"
    assert (calcon["version_before"], calcon["version_after"]) == (SP2, SP2)
    assert "did not change" in calcon["message"]


def test_a_rerun_in_the_same_run_keeps_the_first_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second start of a step must not back up files its first attempt already changed."""
    world = build_world(
        tmp_path, media_kwargs={"behaviours": {"ntsconn": Behaviour(3010, change=False)}}
    )
    tables = world.target / "Connect/Exchconn/Dxamex"
    original = {p.name: p.read_bytes() for p in tables.iterdir()}
    first = _apply(capsys, world)
    assert first.code == 3
    for table in tables.iterdir():  # what a half-done first attempt could leave behind
        table.write_text("; half-written by the first attempt\n")
    again = _apply(capsys, world, "--resume")
    assert again.json()["run_id"] == first.json()["run_id"]
    assert _ran(world).count("ntsconn") == 2
    backup = world.state / "runs" / first.json()["run_id"] / "backup/ntsconn"
    assert {p.name: p.read_bytes() for p in (backup / "Connect/Exchconn/Dxamex").iterdir()} == (
        original
    )
    assert (backup.parent / "ntsconn.manifest.json").is_file()


def _killed_during(tmp_path: Path, component: str, seconds: float) -> World:
    """A world whose apply was killed (as a power cut would) just after it started
    ``component``'s installer, which goes on for ``seconds``: the server is already at SP4, so
    the first installer is the component's own, and calcon's takes a backup first."""
    from spdeploy.sandbox.world import DEFAULT_INSTALLED, SP4

    installed = {**DEFAULT_INSTALLED, "server": SP4}
    media = {"behaviours": {component: Behaviour(delay_s=seconds)}, "platforms": ["I386"]}
    world = build_world(tmp_path, installed=installed, media_kwargs=media)
    killed = cli_process(*world_args(world, "apply"), env={FAULT_ENV: "after-spawn"})
    assert killed.code == -signal.SIGKILL, killed.err
    return world


def test_an_apply_from_another_state_folder_waits_for_the_orphan(tmp_path: Path) -> None:
    """The target's lock died with the killed spdeploy, and the history that knows its
    installer is in the other state folder: a second copy of calcon's installer ran beside the
    first. The installer's environment names the target: any apply finds it and waits."""
    world = _killed_during(tmp_path, "calcon", 2.0)
    other = replace(world, state=tmp_path / "another-state")
    again = cli_process(*world_args(other, "apply"), timeout=120)
    assert again.code == 0, again.err
    assert _ran(world) == ["calcon", "ntsconn", "gwxconn"]  # calcon's installer ran once
    assert "calcon" not in [s["id"] for s in again.json()["steps"]]  # re-probed: done


def test_restore_refuses_while_an_orphan_installer_works_on_the_target(
    tmp_path: Path,
) -> None:
    """What restore put back, the installer a killed apply left running overwrote a second
    later (the site's tables): restore refuses (exit 4) while it runs, and works once it ends."""
    world = _killed_during(tmp_path, "calcon", 3.0)
    (run,) = Store(world.state).runs()
    args = ["--state", str(world.state), "--json", "restore", run.id, "--yes"]
    busy = cli_process(*args)
    assert busy.code == 4, busy.err
    error = busy.json()["error"]
    assert error["code"] == "locked" and "calcon's installer (pid " in error["message"]
    assert "nothing restored" in error["message"]
    deadline = time.monotonic() + 60
    while _orphans_of(world) and time.monotonic() < deadline:
        time.sleep(0.1)
    done = cli_process(*args)
    assert done.code == 0, done.err


def _orphans_of(world: World) -> list[int]:
    from spdeploy import process

    return [o.pid for o in process.orphans(world.target, {})]
