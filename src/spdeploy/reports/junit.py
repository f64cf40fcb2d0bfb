"""JUnit XML for CI servers (``status --format junit``): the Ant/Jenkins dialect they all read.

One ``<testsuite>`` per target, one ``<testcase>`` per component: ``update`` and
``missing-on-media`` fail, ``absent`` is skipped, ``current`` passes. The suite-compliance check
(Q242250's trap: the core updated, components left behind) is the first test case of every suite,
so a CI history shows it turn from red to green under a stable name.

:func:`render_data` works on the SPEC §5 ``status`` JSON (``plan_dict``), so a fleet report can
feed it what it collected from many hosts; :func:`render` is the same for :class:`Plan` records.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spdeploy.planner import ABSENT, CURRENT, MISSING, UPDATE

if TYPE_CHECKING:
    from spdeploy.planner import Plan

SUITE_CASE = "suite compliance"

# Characters XML 1.0 cannot carry at all (controls, lone surrogates from undecodable file names).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render(plans: Sequence[Plan], *, now: float | None = None, hostname: str | None = None) -> str:
    """JUnit XML for the plans (``status`` of one target, or of several)."""
    from spdeploy.reports.data import plan_dict

    return render_data([plan_dict(p) for p in plans], now=now, hostname=hostname)


def render_data(
    plans: Sequence[Mapping[str, Any]], *, now: float | None = None, hostname: str | None = None
) -> str:
    """JUnit XML for SPEC §5 ``status`` documents.

    ``now`` (default: the current time) is the suites' timestamp, in UTC as the schema allows no
    time zone; ``hostname`` (default: this machine's) applies to documents without a ``host`` key.
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() if now is None else now))
    host = hostname or socket.gethostname() or "localhost"
    root = ET.Element("testsuites")
    for index, plan in enumerate(plans):
        root.append(_suite(plan, index, stamp, str(plan.get("host") or host)))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _suite(plan: Mapping[str, Any], index: int, stamp: str, host: str) -> ET.Element:
    profile = _text(plan["profile"]) or "spdeploy"
    target = _text(plan["target"])
    components: list[Mapping[str, Any]] = list(plan["components"])
    cases = [_suite_case(plan, profile), *(_case(c, profile) for c in components)]
    failures = sum(1 for case in cases if case.find("failure") is not None)
    suite = ET.Element(
        "testsuite",
        {
            "name": f"{profile}: {target}",
            "package": profile,
            "id": str(index),
            "timestamp": stamp,
            "hostname": _text(host),
            "tests": str(len(cases)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(sum(1 for c in components if c["action"] == ABSENT)),
            "time": "0",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for key in ("profile", "target", "media", "language", "platform"):
        ET.SubElement(properties, "property", {"name": key, "value": _text(plan.get(key))})
    compliant = "true" if plan["compliant"] else "false"
    ET.SubElement(properties, "property", {"name": "compliant", "value": compliant})
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = _summary(plan)
    ET.SubElement(suite, "system-err").text = ""
    return suite


def _suite_case(plan: Mapping[str, Any], profile: str) -> ET.Element:
    """The whole-suite check first: one stable test case, failing on any suite finding."""
    case = ET.Element("testcase", {"name": SUITE_CASE, "classname": profile, "time": "0"})
    findings: list[Mapping[str, Any]] = list(plan.get("findings") or ())
    if findings:
        failure = ET.SubElement(
            case,
            "failure",
            {
                "type": _text(", ".join(sorted({str(f["code"]) for f in findings}))),
                "message": _text("; ".join(str(f["message"]) for f in findings)),
            },
        )
        failure.text = _text(
            "\n".join(
                f"[{f['code']}] {f['message']}\ncomponents: {', '.join(f['components'])}"
                for f in findings
            )
        )
    return case


def _case(component: Mapping[str, Any], profile: str) -> ET.Element:
    cid, action = _text(component["id"]), str(component["action"])
    case = ET.Element(
        "testcase",
        {"name": f"{cid}: {_text(component['name'])}", "classname": profile, "time": "0"},
    )
    reason = _text(component["reason"])
    if action == ABSENT:
        ET.SubElement(case, "skipped", {"message": reason})
    elif action != CURRENT:  # update, missing-on-media, and any action a later version adds
        failure = ET.SubElement(
            case,
            "failure",
            {"type": _text(action), "message": f"{versions(component)}; {action}: {reason}"},
        )
        failure.text = _text(_detail(component))
    return case


def versions(component: Mapping[str, Any]) -> str:
    """``calcon: installed 5.5.2448.0 (SP2), media 5.5.2653.0 (SP4)``."""
    installed = _version(component.get("version"), component.get("level"), "version unknown")
    media = _version(component.get("media_version"), component.get("media_level"), "no version")
    return _text(f"{component['id']}: installed {installed}, media {media}")


def _version(version: Any, level: Any, unknown: str) -> str:
    if version is None:
        return f"({unknown})"
    return f"{version} ({level})" if level else str(version)


def _detail(component: Mapping[str, Any]) -> str:
    lines = [
        f"action: {component['action']}",
        f"installed: {_version(component.get('version'), component.get('level'), 'unknown')}",
        f"media: {_version(component.get('media_version'), component.get('media_level'), '-')}",
        f"installer: {component.get('installer') or '(not on the media)'}",
        f"reason: {component['reason']}",
    ]
    if component["action"] == MISSING:
        lines.append("the media lacks this installed component's installer: an error, not a skip")
    elif component["action"] == UPDATE:
        lines.append("`spdeploy apply` runs its installer")
    return "\n".join(lines)


def _summary(plan: Mapping[str, Any]) -> str:
    behind = [c["id"] for c in plan["components"] if c["action"] not in (CURRENT, ABSENT)]
    if plan["compliant"]:
        verdict = "COMPLIANT"
    else:
        verdict = f"NOT COMPLIANT: {', '.join(map(str, behind))} not at the media's level"
    lines = [
        verdict,
        *(f"FINDING [{f['code']}] {f['message']}" for f in plan.get("findings") or ()),
    ]
    return _text("\n".join(lines))


def _text(value: Any) -> str:
    """A string XML can hold: ElementTree escapes ``&<>"``; this replaces what it cannot."""
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))
