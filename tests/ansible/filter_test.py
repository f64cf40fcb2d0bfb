"""The ``spdeploy_result`` and ``spdeploy_argv`` filters (``plugins/filter/spdeploy_result.py``),
on their own and side by side with the module's decisions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playbook_helpers import load_plugin

from spdeploy.switches import split_switches

F = load_plugin("plugins/filter/spdeploy_result.py", "spdeploy_filter")
MODULE = load_plugin("plugins/modules/spdeploy.py", "spdeploy_ansible_module_for_filter")


def _component(cid: str, action: str, version: str = "5.5.2448.0") -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid,
        "installed": action != "absent",
        "version": version,
        "media_version": "5.5.2653.0",
        "action": action,
        "installer": "x",
        "reason": "r",
    }


def _step(cid: str, status: str, code: int | None, message: str = "") -> dict[str, Any]:
    return {"id": cid, "status": status, "exit_code": code, "message": message}


def _apply(steps: list[dict[str, Any]], compliant: bool, reboot: bool = False) -> dict[str, Any]:
    return {
        "profile": "p",
        "compliant": compliant,
        "run_id": "r1",
        "reboot_required": reboot,
        "components": [_component("server", "current" if compliant else "update")],
        "steps": steps,
        "findings": [],
        "commands": [],
    }


def _cmd(rc: int, document: Any, stderr: str = "") -> dict[str, Any]:
    text = document if isinstance(document, str) else json.dumps(document)
    return {"rc": rc, "stdout": text, "stderr": stderr, "changed": True, "cmd": "spdeploy.exe"}


RESULTS = {
    "ok": (0, _apply([_step("server", "ok", 0)], True)),
    "reboot": (
        3,
        _apply([_step("server", "reboot-required", 3010, "reboot required")], False, True),
    ),
    "step-failed": (1, _apply([_step("server", "failed", 1603, "installer exited 1603")], False)),
    "unchanged": (1, _apply([], False)),
    "nothing-to-do": (0, _apply([], True)),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
@pytest.mark.parametrize("mode", ["applied", "checked"])
def test_the_filter_decides_as_the_module_does(name: str, mode: str) -> None:
    rc, result = RESULTS[name]
    got = F.spdeploy_result(_cmd(rc, result), mode, "exch01", now=0)
    applying = mode == "applied"
    failure = MODULE.failure(result, applying, mode)
    assert got["failed"] is (failure is not None)
    if failure is not None:
        assert (got["code"], got["msg"], got["exit_code"]) == (*failure, 1)
    assert got["changed"] is (MODULE.changed(result, mode, applying) if applying else False)
    assert got["reboot_required"] is result["reboot_required"]
    assert got["compliant"] is result["compliant"] and got["mode"] == mode
    assert got["report"] == {
        "host": "exch01",
        "checked_at": "1970-01-01T00:00:00Z",
        "mode": mode,
        "result": result,
        "error": None
        if failure is None
        else {"code": failure[0], "message": failure[1], "exit_code": 1},
    }


def test_exit_3_is_a_pending_reboot_not_a_failure() -> None:
    status = {
        "compliant": True,
        "components": [_component("server", "current")],
        "findings": [],
        "reboot_pending": {"run_id": "r1", "requested_at": "2026-11-25T14:01:07Z"},
    }
    got = F.spdeploy_result(_cmd(3, status), "checked", "exch01")
    assert got["failed"] is False and got["reboot_pending"]["run_id"] == "r1"
    assert got["reboot_required"] is True  # as the module: the playbook reboots this host too
    got = F.spdeploy_result(_cmd(3, RESULTS["reboot"][1]), "applied", "exch01")
    assert got["failed"] is False and got["reboot_required"] is True and got["changed"] is True


@pytest.mark.parametrize(
    ("rc", "error", "code"),
    [
        (
            2,
            {
                "code": "needs-terminal",
                "message": "component(s) server: installer needs a person",
                "exit_code": 2,
            },
            "needs-terminal",
        ),
        (
            4,
            {"code": "locked", "message": "C:\\exchsrvr: another apply holds it", "exit_code": 4},
            "locked",
        ),
        (1, {"code": "refused", "message": "refusing to apply", "exit_code": 1}, "refused"),
        (70, {"code": "internal", "message": "internal error: X", "exit_code": 70}, "internal"),
    ],
)
def test_errors_carry_spdeploys_code(rc: int, error: dict[str, Any], code: str) -> None:
    got = F.spdeploy_result(_cmd(rc, {"error": error}), "applied", "exch01")
    assert (got["failed"], got["code"], got["exit_code"]) == (True, code, error["exit_code"])
    assert got["msg"].startswith(error["message"])
    assert got["report"]["result"] is None and got["report"]["error"]["code"] == code
    if code == "needs-terminal":
        assert "spdeploy_args" in got["msg"]  # what to do about it in Ansible


def test_no_json_is_a_failure_naming_the_exit_code() -> None:
    got = F.spdeploy_result(
        _cmd(2, "", "The system cannot find the file specified."), "applied", "exch01"
    )
    assert got["failed"] and got["code"] == "no-json"
    assert (
        got["msg"] == "spdeploy gave no JSON (exit 2): The system cannot find the file specified."
    )


def test_check_mode_refuses_where_the_real_run_would() -> None:
    dry = _apply([], False)
    got = F.spdeploy_result(_cmd(0, dry), "applied", "exch01", True)
    assert (got["failed"], got["changed"], got["mode"]) == (False, True, "checked")
    # `apply --dry-run` runs the real run's pre-flight and says what it would refuse
    refused = {"code": "refused", "message": "refusing to apply: ntsconn", "exit_code": 1}
    missing = {**dry, "components": [_component("ntsconn", "missing-on-media")]}
    got = F.spdeploy_result(_cmd(1, {**missing, "refusal": refused}), "applied", "h", True)
    assert (got["code"], got["exit_code"], got["msg"]) == ("refused", 1, refused["message"])
    needy = {
        "code": "needs-terminal",
        "message": "component(s) server: installer needs a person",
        "exit_code": 2,
    }
    got = F.spdeploy_result(_cmd(2, {**dry, "refusal": needy}), "applied", "h", True)
    assert (got["code"], got["exit_code"]) == ("needs-terminal", 2)
    assert "spdeploy_args" in got["msg"]  # what to do about it in Ansible


def test_argv_for_apply_and_status() -> None:
    options = {
        "exe": r"C:\Python313\Scripts\spdeploy.exe",
        "media": "D:\\",
        "target": r"C:\Exch Srvr",
        "profile": r"C:\spdeploy\site.toml",
        "language": None,
        "platform": "I386",
        "only": [],
        "skip": ["snaconn", "ovvconn"],
        "timeout": "600",
        "state_dir": None,
        "args": {"ntsconn": ["/s", r"C:\Exch Srvr"], "server": "/r"},
    }
    argv = F.spdeploy_argv(options, "applied")
    assert argv == [
        r"C:\Python313\Scripts\spdeploy.exe",
        "--json",
        "--profile",
        r"C:\spdeploy\site.toml",
        "apply",
        "--media",
        "D:\\",
        "--target",
        r"C:\Exch Srvr",
        "--platform",
        "I386",
        "--skip",
        "snaconn,ovvconn",
        "--timeout",
        "600.0",
        "--args",
        'ntsconn=/s "C:\\Exch Srvr"',
        "--args",
        "server=/r",
        "--yes",
        "--resume",
    ]
    # spdeploy splits the switches back into the list given
    assert split_switches(argv[-5].partition("=")[2], "x") == ("/s", r"C:\Exch Srvr")
    assert F.spdeploy_argv(options, "applied", True)[-1] == "--dry-run"
    status = F.spdeploy_argv({"media": "D:\\", "target": "C:\\exchsrvr"}, "checked")
    assert status == [
        "spdeploy.exe",
        "--json",
        "--profile",
        "exchange55",
        "status",
        "--media",
        "D:\\",
        "--target",
        "C:\\exchsrvr",
    ]
