# Copyright: spdeploy contributors
# MIT License (see the spdeploy project)
"""What a host's spdeploy result means to a play: ``changed``, whether the host fails and why,
and the per-host result file's document.

One copy, imported by the module (hosts that run Python) and by the ``spdeploy_result`` filter
(Windows hosts, through win_command), so that both decide alike: ``changed`` when an installer
started (check mode: would start), a failed step or a host not at the level fails, a reboot to
come does not. Exit code 3 is the CLI's "compliant, reboot pending" (SPEC §4), never a failure.
"""

from __future__ import annotations

import time
from typing import Any

RAN = ("ok", "failed", "timeout", "reboot-required")  # step statuses of a started installer
NEEDS_TERMINAL = "needs-terminal"  # spdeploy's refusal of an interactive installer


def returned(result: dict[str, Any]) -> dict[str, Any]:
    """spdeploy's result as the task returns it: ``run_id`` and ``steps`` always there, and
    ``reboot_required`` also for a reboot an earlier run asked for that has not happened (the
    play stopped before it): the playbook reboots on it."""
    out = dict(result)
    out.setdefault("run_id", None)
    out["reboot_required"] = bool(result.get("reboot_required") or result.get("reboot_pending"))
    out.setdefault("steps", [])
    return out


def changed(result: dict[str, Any], state: str, applying: bool) -> bool:
    """An installer started; in check mode of ``applied``, one would start; ``checked``
    never changes anything."""
    if applying:
        return installer_ran(result)
    return state == "applied" and any(c["action"] == "update" for c in result["components"])


def installer_ran(result: dict[str, Any]) -> bool:
    """``changed``: some step started an installer (not one skipped or refused beforehand)."""
    return any(
        s["status"] in RAN and (s["exit_code"] is not None or s["status"] == "timeout")
        for s in result.get("steps", ())
    )


def behind(result: dict[str, Any]) -> str:
    """The components not at the level, with their versions, for a failure message."""
    rows = [
        f"{c['id']} {c['version'] or 'unknown'} (media {c['media_version'] or 'unknown'}, "
        f"{c['action']})"
        for c in result["components"]
        if c["action"] not in ("current", "absent")
    ]
    return ", ".join(rows) or "none"


def failed_steps(result: dict[str, Any]) -> str:
    return "; ".join(
        f"{s['id']} {s['status']}: {s['message'] or 'exit ' + str(s['exit_code'])}"
        for s in result.get("steps", ())
        if s["status"] in ("failed", "timeout")
    )


def failure(result: dict[str, Any], applying: bool, state: str) -> tuple[str, str] | None:
    """(code, message) when the host must fail, else None. A refusal (check mode included)
    never gets here: the dry run reports it as the real run would have."""
    if applying:
        steps = failed_steps(result)
        if steps:
            return "step-failed", (
                f"a step failed (run {result['run_id']}): {steps}; "
                f"not at the level: {behind(result)}"
            )
        if result.get("reboot_required") or result.get("reboot_pending"):
            return None  # the new versions show after the reboot: the playbook reboots, resumes
        if not result["compliant"]:
            return "not-compliant", (
                f"not at the service pack level after applying (run {result['run_id']}): "
                f"{behind(result)}"
            )
        return None
    if state == "applied":
        return None  # check mode: what would be updated is `changed`, not a failure
    if not result["compliant"]:
        return "not-compliant", f"not at the service pack level: {behind(result)}"
    return None


def report_document(
    host: str, mode: str, result: dict[str, Any] | None, error: Any, now: float | None = None
) -> dict[str, Any]:
    """The per-host result file's document (``report --from`` reads a folder of them)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return {"host": host, "checked_at": stamp, "mode": mode, "result": result, "error": error}
