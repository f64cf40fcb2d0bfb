"""JUnit XML: valid for the Ant/Jenkins schema CI servers read; failures say what is behind."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from report_samples import NASTY, Applied, nasty_plan

from spdeploy.planner import Plan
from spdeploy.reports import junit

SCHEMA = Path(__file__).parent / "data" / "junit-ant.xsd"
NOW = 1_795_615_267.0  # 2026-11-25T14:01:07Z
CALCON = "calcon: installed 5.5.2448.0 (SP2), media 5.5.2653.0 (SP4)"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMA))


def _cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"].split(":")[0]: case for case in suite.iter("testcase")}


def test_trap_fails_with_the_finding_first(trap: Plan, schema: xmlschema.XMLSchema) -> None:
    text = junit.render([trap], now=NOW, hostname="exch01")
    schema.validate(text)
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    assert suite.attrib["name"] == f"{trap.profile}: {trap.target}"
    assert suite.attrib["timestamp"] == "2026-11-25T14:01:07"
    assert suite.attrib["hostname"] == "exch01"
    # the suite check, then the seven components; coco (the Connectivity Controller), calcon,
    # ntsconn, gwxconn fail; PROFS, SNADS skip
    counts = {k: suite.attrib[k] for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": "8", "failures": "5", "errors": "0", "skipped": "2"}
    cases = list(suite.iter("testcase"))
    assert [c.attrib["name"] for c in cases][:2] == [
        "suite compliance",
        "server: Microsoft Exchange Server",
    ]
    assert {c.attrib["classname"] for c in cases} == {trap.profile}
    finding = cases[0].find("failure")
    assert finding is not None
    assert finding.attrib["type"] == "core-updated-components-behind"
    assert (
        "left behind: coco SP2, calcon SP2, ntsconn SP2, gwxconn SP2" in finding.attrib["message"]
    )

    by_id = _cases(suite)
    assert list(by_id["server"]) == []  # current passes
    calcon = by_id["calcon"].find("failure")
    assert calcon is not None and calcon.attrib["type"] == "update"
    assert calcon.attrib["message"] == (
        f"{CALCON}; update: installed 5.5.2448.0 is older than the media's 5.5.2653.0"
    )
    gw = by_id["gwxconn"].find("failure")
    assert gw is not None and gw.attrib["type"] == "missing-on-media"
    assert gw.attrib["message"].startswith(
        "gwxconn: installed 5.5.2448.0 (SP2), media 5.5.2653.0 (SP4); missing-on-media: "
    )
    assert "no installer" in gw.attrib["message"] and "not a skip" in (gw.text or "")
    skipped = by_id["ovvconn"].find("skipped")
    assert skipped is not None and "not installed" in skipped.attrib["message"]
    out = suite.find("system-out")
    assert out is not None and (out.text or "").startswith(
        "NOT COMPLIANT: coco, calcon, ntsconn, gwxconn"
    )


def test_compliant_target_passes(applied: Applied, schema: xmlschema.XMLSchema) -> None:
    text = junit.render([applied.plan], now=NOW)
    schema.validate(text)
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    assert (suite.attrib["failures"], suite.attrib["skipped"]) == ("0", "2")
    assert suite.find("testcase/failure") is None
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert props["compliant"] == "true" and props["platform"] == "I386"


def test_one_suite_per_target(trap: Plan, applied: Applied, schema: xmlschema.XMLSchema) -> None:
    text = junit.render([trap, applied.plan], now=NOW)
    schema.validate(text)
    suites = ET.fromstring(text).findall("testsuite")
    assert [(s.attrib["id"], s.attrib["package"]) for s in suites] == [
        ("0", trap.profile),
        ("1", applied.plan.profile),
    ]
    assert [s.attrib["failures"] for s in suites] == ["5", "0"]


def test_no_targets_is_still_valid(schema: xmlschema.XMLSchema) -> None:
    schema.validate(junit.render([], now=NOW))


def test_everything_is_escaped(schema: xmlschema.XMLSchema) -> None:
    plan = nasty_plan()
    text = junit.render([plan], now=NOW)
    schema.validate(text)
    assert "<script>" not in text and "<i>" not in text
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None
    # what XML can hold comes back exactly; a control character or lone surrogate is replaced
    readable = NASTY.replace("\x01", "\ufffd").replace("\udcff", "\ufffd")
    assert suite.attrib["name"] == f"{plan.profile}: /srv/{readable}"
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert props["media"] == f"/media/{readable}"
    cases = list(suite.iter("testcase"))
    finding = cases[0].find("failure")
    assert finding is not None and finding.attrib["message"] == f"finding {readable}"
    odd = cases[2]
    assert odd.attrib["name"] == f'odd"id: Odd {readable}'
    failure = odd.find("failure")
    assert failure is not None
    assert failure.attrib["message"].endswith(f"update: reason {readable}")
    assert f"Odd/{readable}.exe" in (failure.text or "")
    text.encode("utf-8")  # writable as UTF-8
