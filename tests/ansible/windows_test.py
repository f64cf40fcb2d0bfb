"""Windows hosts in the playbook (``playbooks/tasks/windows.yml``): spdeploy.exe through
``ansible.windows.win_command``, read by the ``spdeploy_result`` filter.

No Windows host is reachable from here, so ``ansible.windows`` is a stand-in collection whose
``win_command`` runs ``argv`` on this machine and returns what the real one returns (``rc``,
``stdout``, ``stderr``, ``cmd``, ``start``, ``end``, ``delta``, ``changed``; it fails on a non-zero
``rc`` as the real one does, which the task must override), and whose ``win_copy`` writes
``content`` to ``dest``. The hosts are the sandbox fleet's, run once through the Python module and
once through this path: both must end the same, host for host.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from playbook_helpers import playbook

from spdeploy.sandbox.fleet import (
    FAIL_COMPONENT,
    ansible_environment,
    build_fleet,
    write_inventory,
)

WIN_COMMAND = """\
import datetime, subprocess
from ansible.module_utils.basic import AnsibleModule
m = AnsibleModule({"argv": {"type": "list", "elements": "str"}, "_raw_params": {"type": "str"},
                   "chdir": {"type": "path"}}, supports_check_mode=False)
start = datetime.datetime.now()
done = subprocess.run(m.params["argv"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
end = datetime.datetime.now()
result = dict(cmd=" ".join(m.params["argv"]), rc=done.returncode, stdout=done.stdout,
              stderr=done.stderr, start=str(start), end=str(end), delta=str(end - start),
              changed=True)
if done.returncode:
    m.fail_json(msg="non-zero return code", **result)
m.exit_json(**result)
"""
WIN_COPY = """\
import os
from ansible.module_utils.basic import AnsibleModule
m = AnsibleModule({"content": {"type": "str"}, "dest": {"type": "path"}})
os.makedirs(os.path.dirname(m.params["dest"]), exist_ok=True)
with open(m.params["dest"] + ".tmp", "w", encoding="utf-8") as fh:
    fh.write(m.params["content"])
os.replace(m.params["dest"] + ".tmp", m.params["dest"])
m.exit_json(changed=True, dest=m.params["dest"])
"""


@pytest.fixture
def windows_env(tmp_path: Path, collections: Path) -> dict[str, str]:
    fake = tmp_path / "fake-collections"
    modules = fake / "ansible_collections/ansible/windows/plugins/modules"
    modules.mkdir(parents=True)
    (modules / "win_command.py").write_text(WIN_COMMAND)
    (modules / "win_copy.py").write_text(WIN_COPY)
    return ansible_environment(tmp_path / "ansible-home", collections, fake)


def _inventory(root: Path, windows: bool) -> Path:
    fleet = build_fleet(root, hosts=4, reboot=["host2"], fail=["host3"])
    inventory = write_inventory(root, [h.name for h in fleet])
    if windows:
        exe = Path(sys.executable).with_name("spdeploy")  # pip's console script, as spdeploy.exe
        text = inventory.read_text().replace(
            "  vars:\n",
            f"  vars:\n    spdeploy_windows: true\n    spdeploy_exe: {json.dumps(str(exe))}\n",
            1,
        )
        inventory.write_text(text)
    return inventory


def _reports(root: Path) -> dict[str, dict[str, object]]:
    found = {}
    for path in sorted((root / "reports").glob("*.json")):
        doc = json.loads(path.read_text())
        doc.pop("checked_at")
        if doc["result"]:
            doc["result"].pop("run_id", None)
        if doc["result"]:
            for step in doc["result"].get("steps", []):
                for volatile in ("started", "duration_s", "log"):
                    step.pop(volatile, None)
            for where in ("media", "target", "profile", "commands"):  # paths of each fleet
                doc["result"].pop(where, None)
        if doc["error"]:
            doc["error"]["message"] = doc["error"]["message"].split(" (run ")[0]
        found[path.stem] = doc
    return found


def test_windows_hosts_end_as_the_module_leaves_them(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    runs, reports = {}, {}
    for windows in (False, True):
        root = tmp_path / ("windows" if windows else "python")
        inventory = _inventory(root, windows)
        runs[windows] = playbook(windows_env, inventory, "-e", "spdeploy_max_fail_percentage=100")
        reports[windows] = _reports(root)
    python, windows_run = runs[False], runs[True]
    assert "TASK [Apply the service pack on a Windows host (spdeploy.exe)]" in windows_run.out
    assert "Run spdeploy.exe (applied)" in windows_run.out
    assert "Run spdeploy.exe" not in python.out  # the included file never ran there
    assert python.code == windows_run.code == 2, windows_run.out + windows_run.err

    # The same hosts failed, changed and were rebooted. (A failing module task counts as failed
    # only; on the Windows path the command ran an installer, "changed", before the fail task.)
    python_recap, windows_recap = python.recap(), windows_run.recap()
    assert (
        {h: r["failed"] for h, r in windows_recap.items()}
        == {h: r["failed"] for h, r in python_recap.items()}
        == {"host1": 0, "host2": 0, "host3": 1, "host4": 0}
    )
    for host in ("host1", "host2", "host4"):
        assert windows_recap[host]["changed"] > 0 and python_recap[host]["changed"] > 0
    assert windows_run.out.count("simulated reboot of host2") == 1
    assert f"{FAIL_COMPONENT} failed: installer exited" in windows_run.out
    # and each host's result file says the same
    assert reports[True] == reports[False]
    assert reports[True]["host3"]["error"]["code"] == "step-failed"
    assert reports[True]["host2"]["result"]["compliant"] is True


def test_check_mode_on_windows_hosts_runs_a_dry_run(
    tmp_path: Path, windows_env: dict[str, str]
) -> None:
    root = tmp_path / "fleet"
    inventory = _inventory(root, windows=True)
    run = playbook(windows_env, inventory, "--check")
    assert run.code == 0, run.out + run.err
    assert all(r["changed"] == 1 and r["failed"] == 0 for r in run.recap().values()), run.recap()
    for host in ("host1", "host2", "host3", "host4"):
        assert not (root / host / "state").exists()  # nothing applied, no history written
        assert not (root / host / "spdeploy-sandbox-ran.txt").exists()
        report = json.loads((root / "reports" / f"{host}.json").read_text())
        assert report["mode"] == "checked" and report["error"] is None
