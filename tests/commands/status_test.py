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
    assert compliant == {
        "server": 1.0,
        "coco": 0.0,
        "calcon": 0.0,
        "ntsconn": 0.0,
        "gwxconn": 0.0,
    }
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


def test_one_status_run_writes_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's world after its trap, one probe of the target, five reports that agree."""
    from spdeploy.commands.demo import run_demo
    from spdeploy.output import Output

    root = tmp_path / "demo"
    run_demo(root, Output(quiet=True), media_format="iso")
    out = tmp_path / "reports"
    files = [out / name for name in ("s.txt", "s.json", "s.xml", "s.prom", "s.html")]
    args = ["--profile", root / "exchange55-sandbox.toml", "--state", root / "state", "status"]
    args += ["--media", root / "SP4CD.iso", "--target", root / "exchsrvr", "--platform", "I386"]
    res = cli(capsys, *args, *(x for f in files for x in ("--output", f)))
    assert res.code == 0, res.err  # the demo ends compliant
    assert "COMPLIANT" in files[0].read_text()
    assert json.loads(files[1].read_text())["compliant"] is True
    assert ET.fromstring(files[2].read_text()).tag == "testsuites"
    assert "spdeploy_compliant" in files[3].read_text()
    assert files[4].read_text().startswith("<!DOCTYPE html>")
    both = cli(capsys, *args, "--format", "html", "--output", files[0], "--output", files[1])
    assert both.code == 2 and "each file's extension says its format" in both.err
    odd = cli(capsys, *args, "--output", files[0], "--output", out / "s.bin")
    assert odd.code == 2 and "cannot tell the report format" in odd.err


def test_unwritable_output_is_bad_input(applied_world, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    res = cli(
        capsys,
        *world_args(
            applied_world,
            "status",
            "--format",
            "json",
            "--output",
            "/proc/nope/s.json",
            json_mode=False,
        ),
    )
    assert res.code == 2
    assert res.json()["error"]["code"] == "usage"  # --format json: the error is JSON too
    assert "cannot write the report here" in res.json()["error"]["message"]
