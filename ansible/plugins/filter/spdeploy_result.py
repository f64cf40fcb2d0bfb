# Copyright: spdeploy contributors
# MIT License (see the spdeploy project)
"""Filters for Windows hosts, run on the controller: ``spdeploy.exe`` through win_command.

Over WinRM or PSRP Ansible runs PowerShell modules only, so the Python module cannot serve
Windows hosts. There the playbook runs ``spdeploy.exe --json apply|status`` with
``ansible.windows.win_command`` (``playbooks/tasks/windows.yml``), and these filters do the rest:

- ``spdeploy_argv``: the argument list for win_command's ``argv``, from the module's options;
- ``spdeploy_result``: win_command's result (``rc``, ``stdout``, ``stderr``) made into what the
  module returns: spdeploy's JSON, ``changed``, ``failed`` with ``code``/``msg``/``exit_code``,
  ``reboot_required``, ``mode``, and ``report``, the per-host result file's document.

The decisions are the module's: both import them from ``plugins/module_utils/spdeploy_decisions.py``
(``changed``, failing, the result file's document). What is the filter's own is reading
win_command's output, and the advice it gives in the playbook's variables.
"""

from __future__ import annotations

import json
from typing import Any

from ansible_collections.spdeploy.servicepack.plugins.module_utils.spdeploy_decisions import (
    NEEDS_TERMINAL,
    changed,
    failure,
    report_document,
    returned,
)


def spdeploy_argv(options: dict[str, Any], mode: str, check_mode: bool = False) -> list[str]:
    """``spdeploy.exe --json ...`` for ``mode`` "applied" (``apply --yes --resume``, a dry run in
    check mode) or "checked" (``status``); ``options`` as the module's (``exe`` names the
    program, default ``spdeploy.exe``)."""
    argv = [str(options.get("exe") or "spdeploy.exe"), "--json"]
    argv += ["--profile", str(options.get("profile") or "exchange55")]
    if options.get("state_dir"):
        argv += ["--state", str(options["state_dir"])]
    argv += ["apply" if mode == "applied" else "status"]
    argv += ["--media", str(options["media"]), "--target", str(options["target"])]
    for name in ("language", "platform"):
        if options.get(name):
            argv += [f"--{name}", str(options[name])]
    for name in ("only", "skip"):
        ids = options.get(name) or []
        if ids:
            argv += [f"--{name}", ",".join(ids if isinstance(ids, list) else [ids])]
    if mode == "applied":  # only where an installer can run
        argv += ["--timeout", str(float(options.get("timeout") or 3600))]
        for cid, switches in sorted((options.get("args") or {}).items()):
            argv += ["--args", f"{cid}={_switches(switches)}"]
        argv += ["--yes", "--resume"]
        if check_mode:
            argv += ["--dry-run"]
    return argv


def _switches(value: Any) -> str:
    """A switch list as the one string ``--args ID="..."`` splits again (quotes group words;
    backslashes are kept, they are Windows path separators)."""
    if isinstance(value, str):
        return value
    return " ".join(
        f'"{v}"' if (" " in v or not v) and '"' not in v else f"'{v}'" if " " in v else v
        for v in map(str, value)
    )


def spdeploy_result(
    command: dict[str, Any], mode: str, host: str, check_mode: bool = False, now: Any = None
) -> dict[str, Any]:
    """What the module would return for the host, from win_command's registered result."""
    applying = mode == "applied" and not check_mode
    shown = "applied" if applying else "checked"
    rc = command.get("rc")
    out: dict[str, Any] = {"mode": shown, "rc": rc}
    document = _json(command.get("stdout"))
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        error = document["error"]
        message = _advice(error["code"], error["message"])
        return _fail(out, host, None, error["code"], message, error["exit_code"], now)
    if not isinstance(document, dict) or "components" not in document:
        why = (command.get("stderr") or command.get("msg") or "").strip().splitlines()
        message = f"spdeploy gave no JSON (exit {rc})" + (f": {why[-1]}" if why else "")
        return _fail(out, host, None, "no-json", message, rc if isinstance(rc, int) else 70, now)
    result = document
    out.update(returned(result))
    if mode == "applied" and check_mode:
        refusal = _dry_run_refusal(result)
        if refusal is not None:
            code, message, exit_code = refusal
            return _fail(out, host, None, code, message, exit_code, now)
    out["changed"] = changed(result, mode, applying)
    failed = failure(result, applying, mode)
    if failed is not None:
        code, message = failed
        return _fail(out, host, result, code, message, 1, now)
    out.update(failed=False, report=report_document(host, shown, result, None, now))
    return out


def _json(text: Any) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _fail(
    out: dict[str, Any],
    host: str,
    result: dict[str, Any] | None,
    code: str,
    message: str,
    exit_code: int,
    now: Any,
) -> dict[str, Any]:
    error = {"code": code, "message": message, "exit_code": exit_code}
    out.setdefault("changed", False)
    out.update(failed=True, msg=message, code=code, exit_code=exit_code)
    out["report"] = report_document(host, out["mode"], result, error, now)
    return out


def _advice(code: str, message: str) -> str:
    if code == NEEDS_TERMINAL:
        message += (
            ". In Ansible, give the switches with the spdeploy_args variable "
            '(spdeploy_args: {ID: "/switches"}) or a site profile in spdeploy_profile'
        )
    return message


def _dry_run_refusal(result: dict[str, Any]) -> tuple[str, str, int] | None:
    """Where the real run would refuse before its first installer: ``apply --dry-run`` runs the
    real run's pre-flight and says so in ``refusal`` (the module's check mode raises these)."""
    refusal = result.get("refusal")
    if not isinstance(refusal, dict):
        return None
    code = str(refusal.get("code"))
    return code, _advice(code, str(refusal.get("message"))), int(refusal.get("exit_code") or 1)


class FilterModule:
    """spdeploy.servicepack.spdeploy_argv and spdeploy.servicepack.spdeploy_result."""

    def filters(self) -> dict[str, Any]:
        return {"spdeploy_argv": spdeploy_argv, "spdeploy_result": spdeploy_result}
