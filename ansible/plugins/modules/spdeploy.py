#!/usr/bin/python
# Copyright: spdeploy contributors
# MIT License (see the spdeploy project)
"""Ansible module: bring a server's components to a service pack's level with spdeploy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: spdeploy
short_description: Bring every installed component of a product to a service pack's level
version_added: "0.1.0"
description:
  - Runs spdeploy on the managed host, through its Python library API (C(spdeploy.api)), not its
    command line.
  - Reads the service pack media, detects every installed component of the product (for
    Exchange Server 5.5, the server and each connector) and its version, runs the needed
    installers in order, proves each component reached the media's version, and records the run
    in the host's spdeploy history.
  - With O(state=checked), or in check mode, only plans and reports compliance; nothing is
    changed on the host (only O(report_dir), when given, is written).
  - After an installer asks for a reboot, the module returns RV(reboot_required=true) without
    failing. Reboot the host, then run the module again with O(state=applied); it resumes the
    same run.
  - The built-in C(exchange55) profile's installers are interactive (Exchange 5.5 documents no
    quiet switch), and a module has no terminal, so give their switches with O(args) or a site
    profile in O(profile); otherwise spdeploy refuses before anything runs.
requirements:
  - spdeploy installed in the Python that runs the module on the managed host
    (set C(ansible_python_interpreter) to it).
author:
  - spdeploy contributors (!UNKNOWN)
notes:
  - The module is written in Python, so Ansible runs it on hosts it reaches with a POSIX shell.
    Over WinRM or PSRP Ansible runs PowerShell modules only.
options:
  media:
    description:
      - The service pack media on the managed host, a folder (a CD or a copy of one), an ISO 9660
        image or a zip archive.
    type: path
    required: true
  target:
    description:
      - The installed product's root folder on the managed host (for example C(C:\exchsrvr)).
    type: path
    required: true
  profile:
    description:
      - A built-in profile's name, or the path of a profile file on the managed host (a site
        profile with C(extends = "exchange55") that supplies installer switches).
    type: str
    default: exchange55
  state:
    description:
      - V(applied) runs the installers needed to reach the media's level (resuming an
        interrupted run) and fails if the host is not compliant afterwards, unless a reboot is
        required first.
      - V(checked) only reports compliance and fails when the host is not compliant.
    type: str
    choices: [applied, checked]
    default: applied
  language:
    description:
      - The media's language folder (for example V(Eng)); default from the media.
    type: str
  platform:
    description:
      - The media's platform folder, V(I386) or V(Alpha); default from the managed host's
        machine.
    type: str
  only:
    description:
      - Only these component ids.
    type: list
    elements: str
    default: []
  skip:
    description:
      - Leave these component ids out.
    type: list
    elements: str
    default: []
  args:
    description:
      - Installer switches by component id, each a string (split as a shell would) or a list
        of strings. They replace the profile's C(args), and make an interactive installer
        run unattended. spdeploy never guesses switches.
    type: dict
  timeout:
    description:
      - Seconds each installer may run before its whole process tree is killed.
    type: float
    default: 3600.0
  state_dir:
    description:
      - The spdeploy history folder on the managed host (runs, step logs, backups).
      - Default C($SPDEPLOY_STATE), else the user data folder of the user the module runs as.
    type: path
  report_dir:
    description:
      - When given, the module writes this host's result to C(<report_dir>/<host>.json) on the
        managed host (replaced atomically), in check mode too. C(spdeploy report --from DIR)
        reads a folder of them.
      - The file holds C(host), C(checked_at) (UTC, ISO 8601), C(mode) (V(checked) or
        V(applied)), C(result) (the spdeploy JSON of C(plan) or C(apply), or null) and C(error)
        (null, or C(code), C(message) and C(exit_code)).
    type: path
  host:
    description:
      - The host's name in O(report_dir). Modules do not see the inventory, so a playbook passes
        C({{ inventory_hostname }}).
      - Default the managed host's own host name.
    type: str
attributes:
  check_mode:
    support: full
    description: Plans only, and reports C(changed) when an installer would run. Fails where the
      real run would refuse before anything runs, with the same code and no change, when an
      installed component is missing on the media (V(refused)) or an installer that would run
      needs a person (V(needs-terminal); interactive, with no switches from O(args) or the
      profile).
  diff_mode:
    support: none
    description: No diff.
"""

EXAMPLES = r"""
- name: Bring Exchange 5.5 and its connectors to SP4 (switches from a site profile)
  spdeploy.servicepack.spdeploy:
    media: /mnt/sp4cd
    target: /srv/exchsrvr
    profile: /etc/spdeploy/exchange55-site.toml
    host: "{{ inventory_hostname }}"
    report_dir: /var/lib/spdeploy/reports
  register: sp

- name: Reboot when an installer asked for it, then resume
  when: sp.reboot_required
  block:
    - name: Reboot
      ansible.builtin.reboot:
    - name: Resume the run
      spdeploy.servicepack.spdeploy:
        media: /mnt/sp4cd
        target: /srv/exchsrvr
        profile: /etc/spdeploy/exchange55-site.toml

- name: Switches given here instead of in a profile
  spdeploy.servicepack.spdeploy:
    media: /mnt/sp4cd.iso
    target: /srv/exchsrvr
    args:
      server: "/your /switches"
      ntsconn: ["/your-switch", "{target}"]

- name: Is this server compliant? (changes nothing; fails when it is not)
  spdeploy.servicepack.spdeploy:
    media: /mnt/sp4cd
    target: /srv/exchsrvr
    state: checked
"""

RETURN = r"""
compliant:
  description: Every installed component is at (or above) the media's version.
  returned: success and when spdeploy answered
  type: bool
  sample: true
reboot_required:
  description: An installer asked for a reboot, in this run or in an earlier one, and the host
    has not booted since; reboot, then run the module again to resume.
  returned: success and when spdeploy answered
  type: bool
  sample: false
reboot_pending:
  description: The run whose reboot has not happened yet (the host has not booted since it
    ended), with when it asked; null when none is pending.
  returned: success and when spdeploy answered
  type: dict
  sample: {"run_id": "20261125T140107-3f2a", "requested_at": "2026-11-25T14:03:12Z"}
run_id:
  description: The spdeploy run (see C(spdeploy history)); null when nothing was applied.
  returned: success and when spdeploy answered
  type: str
  sample: 20261125T140107-3f2a
components:
  description: One row per component of the profile, in execution order (spdeploy's JSON).
  returned: success and when spdeploy answered
  type: list
  elements: dict
  contains:
    id:
      description: The component id.
      type: str
      sample: ntsconn
    name:
      description: The component's name.
      type: str
      sample: Microsoft Exchange Connector for Lotus Notes
    installed:
      description: Whether it is installed on the target.
      type: bool
    version:
      description: Its installed version (after the run, when applied).
      type: str
      sample: 5.5.2653.0
    media_version:
      description: The media's version of it.
      type: str
      sample: 5.5.2653.0
    action:
      description: V(update), V(current), V(absent) or V(missing-on-media).
      type: str
      sample: current
    installer:
      description: The installer's path on the media.
      type: str
      sample: Eng/Exchconn/Setup/I386/Ntsconn/Ntsconn.exe
    reason:
      description: Why this action.
      type: str
steps:
  description: What each installer did in this run (ok, failed, skipped, timeout,
    reboot-required), with exit code, versions before and after, and its log.
  returned: when applied
  type: list
  elements: dict
findings:
  description: Suite-level findings, such as the server updated with its connectors left behind.
  returned: success and when spdeploy answered
  type: list
  elements: dict
mode:
  description: V(applied) when installers could run, V(checked) when only planned.
  returned: always
  type: str
  sample: applied
report_file:
  description: The file written in O(report_dir).
  returned: when O(report_dir) is given
  type: str
  sample: /var/lib/spdeploy/reports/exch01.json
code:
  description: spdeploy's error code (for example V(locked), V(media), V(usage),
    V(needs-terminal),
    V(step-failed), V(not-compliant)), V(missing-library) when spdeploy is not installed,
    V(internal) for a bug.
  returned: failure
  type: str
  sample: not-compliant
exit_code:
  description: The exit code the spdeploy command line would have given (1, 2, 4; 70 for a bug).
  returned: failure
  type: int
  sample: 1
"""

import json
import os
import socket
import tempfile
import traceback
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.spdeploy.servicepack.plugins.module_utils.spdeploy_decisions import (
    NEEDS_TERMINAL,
    changed,
    failure,
    report_document,
    returned,
)

try:
    from spdeploy import api
    from spdeploy.errors import SpdeployError
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "media": {"type": "path", "required": True},
    "target": {"type": "path", "required": True},
    "profile": {"type": "str", "default": "exchange55"},
    "state": {"type": "str", "choices": ["applied", "checked"], "default": "applied"},
    "language": {"type": "str"},
    "platform": {"type": "str"},
    "only": {"type": "list", "elements": "str", "default": []},
    "skip": {"type": "list", "elements": "str", "default": []},
    "args": {"type": "dict"},
    "timeout": {"type": "float", "default": 3600.0},
    "state_dir": {"type": "path"},
    "report_dir": {"type": "path"},
    "host": {"type": "str"},
}


def with_advice(code: str, msg: str) -> str:
    """An interactive installer's refusal, with what to do about it in Ansible."""
    if code == NEEDS_TERMINAL:
        msg += (
            '. In Ansible, give the switches with the module\'s "args" option '
            '(args: {ID: "/switches"}) or a site profile in "profile"'
        )
    return msg


def write_report(
    report_dir: str, host: str, mode: str, result: dict[str, Any] | None, error: Any
) -> str:
    """``<report_dir>/<host>.json``, replaced atomically (a reader never sees half a file)."""
    if not host or host in (".", "..") or "/" in host or "\\" in host or "\0" in host:
        raise ValueError(f"host {host!r} cannot name a file in report_dir")
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    document = report_document(host, mode, result, error)
    path = folder / f"{host}.json"
    fd, name = tempfile.mkstemp(prefix=f".{host}.", suffix=".tmp", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o644)  # mkstemp makes it private; a report is for others to read
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return str(path)


def run_module() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    applying = p["state"] == "applied" and not module.check_mode
    mode = "applied" if applying else "checked"
    host = p["host"] or socket.gethostname()
    out: dict[str, Any] = {"mode": mode}

    def finish(result: dict[str, Any] | None, error: dict[str, Any] | None) -> None:
        if p["report_dir"]:
            try:
                out["report_file"] = write_report(p["report_dir"], host, mode, result, error)
            except (OSError, ValueError) as exc:
                module.fail_json(msg=f"cannot write the report in {p['report_dir']}: {exc}", **out)

    def fail(code: str, msg: str, exit_code: int, **extra: Any) -> None:
        module.fail_json(msg=msg, code=code, exit_code=exit_code, **extra, **out)

    if IMPORT_ERROR is not None:
        msg = missing_required_lib(
            "spdeploy", reason="to run spdeploy.servicepack.spdeploy on the managed host"
        )
        finish(None, {"code": "missing-library", "message": msg, "exit_code": 2})
        fail("missing-library", msg, 2, exception=IMPORT_ERROR)

    common = {
        "profile": p["profile"],
        "language": p["language"],
        "platform": p["platform"],
        "only": p["only"],
        "skip": p["skip"],
    }
    try:
        if p["state"] == "applied":
            # In check mode, a dry run: it refuses exactly where the real run would refuse
            # before running anything, with the same code (missing on the media, an
            # installer that needs a person), and changes nothing.
            result = api.apply(
                p["media"],
                p["target"],
                args=p["args"],
                timeout=p["timeout"],
                state_dir=p["state_dir"],
                resume=True,
                dry_run=module.check_mode,
                **common,
            )
        else:
            result = api.check(p["media"], p["target"], state_dir=p["state_dir"], **common)
    except SpdeployError as exc:
        finish(None, {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code})
        fail(exc.code, with_advice(exc.code, exc.message), exc.exit_code)
    except Exception as exc:  # a bug: still one line in the host's report, and the traceback
        msg = f"spdeploy failed unexpectedly: {type(exc).__name__}: {exc}"
        finish(None, {"code": "internal", "message": msg, "exit_code": 70})
        fail("internal", msg, 70, exception=traceback.format_exc())

    out.update(returned(result))
    did = changed(result, p["state"], applying)
    failed = failure(result, applying, p["state"])
    if failed is not None:
        code, msg = failed
        finish(result, {"code": code, "message": msg, "exit_code": 1})
        fail(code, msg, 1, changed=did)
    finish(result, None)
    module.exit_json(changed=did, **out)


def main() -> None:
    run_module()


if __name__ == "__main__":
    main()
