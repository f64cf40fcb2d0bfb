"""``status --format table|json|junit|prometheus|html``: one status run, every format, on disk."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import cli, world_args
from prometheus_client.parser import text_string_to_metric_families

from spdeploy.sandbox.world import build_world


@pytest.fixture
def applied_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """The demo's state after the trap: the server updated, the connectors left behind; one
    recorded run (so the reports have history to show)."""
    world = build_world(tmp_path)
    assert cli(capsys, *world_args(world, "apply", "--only", "server")).code == 0
    return world


def test_every_format_from_one_world(
    applied_world, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    world = applied_world
    out = tmp_path / "reports"
    for fmt in ("table", "json", "junit", "prometheus", "html"):
        args = world_args(world, "status", "--format", fmt, "--output", out / fmt, json_mode=False)
        res = cli(capsys, *args)
        assert res.code == 1, (fmt, res.err)  # connectors behind: not compliant
        assert res.out == "" and (out / fmt).is_file()
        assert not list(out.glob(".*")), "no temporary file left behind"
    assert "NOT COMPLIANT" in (out / "table").read_text()
    assert json.loads((out / "json").read_text())["compliant"] is False
    suites = ET.fromstring((out / "junit").read_text())
    cases = {c.get("name", "").split(":")[0]: c for c in suites.iter("testcase")}
    assert cases["calcon"].find("failure") is not None and cases["server"].find("failure") is None
    families = {f.name: f for f in text_string_to_metric_families((out / "prometheus").read_text())}
    compliant = {
        s.labels["component"]: s.value for s in families["spdeploy_component_compliant"].samples
    }
    assert compliant == {"server": 1.0, "calcon": 0.0, "ntsconn": 0.0, "gwxconn": 0.0}
    assert families["spdeploy_last_run_timestamp_seconds"].samples[0].value > 0
    text = re.sub(r"<[^>]+>", "", (out / "html").read_text())  # what a reader sees
    assert "core-updated-components-behind" in text and "SP2 → SP4" in text
    assert text.index("components left behind") < text.index("Components, in execution order")


def test_report_formats_on_stdout(applied_world, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        capsys, *world_args(applied_world, "status", "--format", "prometheus", json_mode=False)
    )
    assert res.code == 1
    assert res.out.startswith("# HELP spdeploy_")


def test_json_with_another_format_is_a_usage_error(
    applied_world, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    res = cli(capsys, *world_args(applied_world, "status", "--format", "html"))
    assert res.code == 2
    assert res.json()["error"]["code"] == "usage"
