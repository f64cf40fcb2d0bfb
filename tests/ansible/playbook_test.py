"""The fleet playbook with real ``ansible-playbook``: sandbox hosts, ``ansible_connection=local``.

Eight hosts make the waves ``serial: [1, "25%", "100%"]`` three distinct batches: host1, then
host2 and host3, then host4 to host8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playbook_helpers import playbook, tree_hash

from spdeploy.sandbox.fleet import (
    EXAMPLE_INTERPRETER,
    FAIL_COMPONENT,
    REBOOT_COMPONENT,
    ansible_environment,
    build_fleet,
    write_inventory,
)
from spdeploy.sandbox.world import SP2, SP4
from spdeploy.store import Store

HOSTS = [f"host{i}" for i in range(1, 9)]
WAVES = [["host1"], ["host2", "host3"], ["host4", "host5", "host6", "host7", "host8"]]
UPDATED = ["server", "calcon", "ntsconn", "gwxconn"]


def _fleet(root: Path, interpreter: str | None = None, **kw: Any) -> Path:
    fleet = build_fleet(root, hosts=len(HOSTS), **kw)
    return write_inventory(root, [h.name for h in fleet], interpreter)


def _ran(host: Path) -> list[str]:
    marker = host / "spdeploy-sandbox-ran.txt"
    return [line.split()[0] for line in marker.read_text().splitlines()] if marker.exists() else []


def _report(root: Path, host: str) -> dict:
    return json.loads((root / "reports" / f"{host}.json").read_text())


def _reboot_before_installing(host: Path, component: str) -> None:
    """Make the host's installer ask for a reboot (3010) before it does anything, the first time
    only; after that it installs and asks for a reboot again. Two reboots for one host."""
    folder = next((host / "SP4CD").glob(f"Eng/Exchconn/Setup/I386/{component.capitalize()}"))
    exe = folder / f"{component.capitalize()}.exe"
    exe.rename(folder / "install.sh")
    exe.write_text(
        "#!/bin/sh\n"
        'first="$1/../reboot-first"\n'
        'if [ ! -e "$first" ]; then touch "$first"; exit 194; fi\n'
        'exec /bin/sh "$(dirname -- "$0")/install.sh" "$@"\n'
    )
    exe.chmod(0o755)


def test_waves_run_in_order_and_a_rebooting_host_is_resumed(
    tmp_path: Path, ansible_env: dict[str, str]
) -> None:
    root = tmp_path / "fleet"
    inventory = _fleet(root, reboot=["host5", "host7"])
    _reboot_before_installing(root / "host7", REBOOT_COMPONENT)
    run = playbook(ansible_env, inventory)
    assert run.code == 0, run.out + run.err
    assert run.batches() == WAVES
    recap = run.recap()
    assert sorted(recap) == HOSTS
    assert all(r["failed"] == 0 for r in recap.values())
    # one task ran installers on each host; on host7 the first resume did too
    assert {h: r["changed"] for h, r in recap.items()} == {h: 1 for h in HOSTS} | {"host7": 2}
    # Each wave ran after the one before had finished: its installers wrote later.
    last = [
        max((root / h / "spdeploy-sandbox-ran.txt").stat().st_mtime_ns for h in w) for w in WAVES
    ]
    first = [
        min((root / h / "spdeploy-sandbox-ran.txt").stat().st_mtime_ns for h in w) for w in WAVES
    ]
    assert last[0] < first[1] and last[1] < first[2]
    for host in HOSTS:
        # host7's calendar connector installed only after the first reboot
        late = ["server", "ntsconn", "gwxconn", "calcon"]
        assert _ran(root / host) == (late if host == "host7" else UPDATED), host
        report = _report(root, host)
        assert report["host"] == host and report["mode"] == "checked" and report["error"] is None
        assert report["result"]["compliant"] is True
        assert {c["version"] for c in report["result"]["components"] if c["installed"]} == {SP4}
    # host5's calendar connector asked for a reboot: simulated, then the same run was resumed.
    assert run.out.count("simulated reboot of host5") == 1
    assert run.out.count("simulated reboot of host7") == 2
    assert run.out.count("simulated reboot of") == 3
    (spdeploy_run,) = Store(root / "host5/state").runs()
    assert spdeploy_run.status == "ok"  # resumed: the run asking for the reboot ended ok
    statuses = [(s.component, s.status) for s in spdeploy_run.steps]
    assert statuses == [
        ("server", "ok"),
        (REBOOT_COMPONENT, "reboot-required"),
        ("ntsconn", "ok"),
        ("gwxconn", "ok"),
        ("coco", "ok"),  # the Connectivity Controller, brought along by ntsconn (Q242250)
    ]
    (spdeploy_run,) = Store(root / "host7/state").runs()
    assert spdeploy_run.status == "ok"
    statuses = [(s.component, s.status, s.version_after) for s in spdeploy_run.steps]
    assert statuses == [
        ("server", "ok", SP4),
        (REBOOT_COMPONENT, "reboot-required", SP2),  # wants a reboot before it can install
        ("ntsconn", "ok", SP4),
        ("gwxconn", "ok", SP4),
        ("coco", "ok", SP4),
        (REBOOT_COMPONENT, "reboot-required", SP4),  # installed after the first; asks again
    ]
    # A second run has nothing to do anywhere.
    again = playbook(ansible_env, inventory)
    assert again.code == 0, again.out + again.err
    assert all(r["changed"] == 0 and r["failed"] == 0 for r in again.recap().values())
    assert all(len(_ran(root / h)) == len(UPDATED) for h in HOSTS)
    print(f"8 hosts: {run.seconds:.1f} s, again {again.seconds:.1f} s")


def test_a_failing_installer_stops_later_waves(tmp_path: Path, ansible_env: dict[str, str]) -> None:
    root = tmp_path / "fleet"
    inventory = _fleet(root, fail=["host3"])
    later = {h: tree_hash(root / h) for h in WAVES[2]}
    run = playbook(ansible_env, inventory)
    assert run.code == 2, run.out + run.err  # 2: a host failed
    recap = run.recap()
    assert sorted(recap) == ["host1", "host2", "host3"]  # the third wave never started
    assert recap["host3"]["failed"] == 1 and recap["host1"]["failed"] == 0
    assert "NO MORE HOSTS LEFT" in run.out
    for host in WAVES[2]:
        assert tree_hash(root / host) == later[host], f"{host} was touched"
        assert not (root / "reports" / f"{host}.json").exists()
    # The failure names the component and its versions.
    assert f"{FAIL_COMPONENT} failed: installer exited" in run.out
    assert f"gwxconn {SP2} (media {SP4}, update)" in run.out
    report = _report(root, "host3")
    assert report["mode"] == "applied" and report["error"]["code"] == "step-failed"
    assert FAIL_COMPONENT in report["error"]["message"] and report["error"]["exit_code"] == 1
    steps = {s["id"]: s["status"] for s in report["result"]["steps"]}
    assert steps == {
        "server": "ok",
        "calcon": "ok",
        FAIL_COMPONENT: "failed",
        "gwxconn": "skipped",
        "coco": "skipped",  # not brought along: its connectors did not all end ok
    }
    assert _report(root, "host1")["result"]["compliant"] is True

    # A budget of 50 %: one failure of two in the second wave does not stop the third.
    budget = playbook(ansible_env, inventory, "-e", "spdeploy_max_fail_percentage=50")
    assert budget.code == 2, budget.out + budget.err
    assert budget.batches() == WAVES
    recap = budget.recap()
    assert sorted(recap) == HOSTS and recap["host3"]["failed"] == 1
    for host in WAVES[2]:
        assert recap[host]["failed"] == 0 and _ran(root / host) == UPDATED
        assert _report(root, host)["result"]["compliant"] is True


def test_check_mode_changes_no_file_on_any_host(
    tmp_path: Path, ansible_env: dict[str, str]
) -> None:
    root = tmp_path / "fleet"
    # as in ansible/inventory.example.yml: the hosts' Python is ansible-playbook's
    inventory = _fleet(root, EXAMPLE_INTERPRETER, reboot=["host2"], fail=["host3"])
    before = {h: tree_hash(root / h) for h in HOSTS}
    run = playbook(ansible_env, inventory, "--check")
    assert run.code == 0, run.out + run.err
    assert run.batches() == WAVES
    recap = run.recap()
    # "changed" in check mode: an installer would run (each host is at SP2)
    assert all(r["changed"] == 1 and r["failed"] == 0 for r in recap.values())
    assert "simulated reboot" not in run.out  # nothing ran, so nothing asked for a reboot
    for host in HOSTS:
        assert tree_hash(root / host) == before[host], f"{host} changed in check mode"
        assert not (root / host / "state").exists()
        report = _report(root, host)  # written outside the hosts' folders
        assert report["mode"] == "checked" and report["error"] is None
        assert report["result"]["compliant"] is False
        actions = {c["id"]: c["action"] for c in report["result"]["components"]}
        # and the Connectivity Controller, which the connectors' installers bring along
        assert [c for c, a in actions.items() if a == "update"] == ["server", "coco", *UPDATED[1:]]


def test_windows_hosts_reboot_with_win_reboot(tmp_path: Path, collections: Path) -> None:
    """Not simulated, on a host whose facts say Windows: the playbook includes the
    ansible.windows.win_reboot task (a stand-in here, that only records the call)."""
    fake = tmp_path / "fake-collections"
    modules = fake / "ansible_collections/ansible/windows/plugins/modules"
    modules.mkdir(parents=True)
    (modules / "win_reboot.py").write_text(
        "import os\n"
        "from ansible.module_utils.basic import AnsibleModule\n"
        "m = AnsibleModule({'msg': {'type': 'str'}, 'reboot_timeout': {'type': 'int'}})\n"
        "with open(os.environ['FAKE_REBOOT_LOG'], 'a') as fh:\n"
        "    fh.write(m.params['msg'] + '\\n')\n"
        "m.exit_json(changed=True, rebooted=True)\n"
    )
    root = tmp_path / "fleet"
    fleet = build_fleet(root, hosts=1, reboot=["host1"])
    inventory = write_inventory(root, [h.name for h in fleet])
    env = ansible_environment(tmp_path / "ansible-home", collections, fake)
    env["FAKE_REBOOT_LOG"] = str(tmp_path / "reboots.log")
    run = playbook(
        env,
        inventory,
        "-e",
        "spdeploy_simulate_reboot=false",
        "-e",
        "ansible_os_family=Windows",
    )
    assert run.code == 0, run.out + run.err
    assert "TASK [Reboot the Windows host]" in run.out
    assert (tmp_path / "reboots.log").read_text().startswith("spdeploy: rebooting")
    assert run.recap()["host1"]["failed"] == 0
    assert _report(root, "host1")["result"]["compliant"] is True
