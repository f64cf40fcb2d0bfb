"""``status --format table|json|junit|prometheus|html``: one status run, every format, on disk."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import cli, machine_booted, world_args
from prometheus_client.parser import text_string_to_metric_families

from spdeploy.sandbox.world import Behaviour, build_world


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
    out.mkdir()
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
    out.mkdir()
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
    assert odd.code == 2 and "unknown report extension '.bin'" in odd.err


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
    assert "/proc/nope does not exist" in res.json()["error"]["message"]
    res = cli(
        capsys, *world_args(applied_world, "status", "--output", "/proc/s.json", json_mode=False)
    )
    assert res.code == 2 and "/proc/s.json: cannot write the report here" in res.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--output", "{d}/r.docx"], "unknown report extension '.docx'"),
        (["--format", "junit", "--output", "{d}/r.html"], "the extension .html says html"),
        (["--output", "{d}/nosuch/r.html"], "the folder {d}/nosuch does not exist"),
        (["--output", "{d}/afile/r.html"], "{d}/afile is a file, not a folder"),
        (["--output", "{d}/ok.html", "--output", "{d}/r.docx"], "'.docx'"),  # the first neither
    ],
)
def test_an_output_that_cannot_be_right_writes_nothing(
    applied_world, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], needle: str
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    (out / "afile").write_text("")
    filled = [a.replace("{d}", str(out)) for a in args]
    res = cli(capsys, *world_args(applied_world, "status", *filled, json_mode=False))
    assert res.code == 2 and needle.replace("{d}", str(out)) in res.err, res.err
    assert [p.name for p in out.iterdir()] == ["afile"]


def _reboot_gauge(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "spdeploy_reboot_required":
            (sample,) = family.samples
            return sample.value
    raise AssertionError("no spdeploy_reboot_required")


def test_a_pending_reboot_holds_until_the_machine_boots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run asked for a reboot (3010): status, a no-op apply, every report say so (exit 3)
    until the machine has booted after that run ended."""
    world = build_world(tmp_path, media_kwargs={"behaviours": {"calcon": Behaviour(3010)}})
    applied = cli(capsys, *world_args(world, "apply"))
    assert applied.code == 3
    run_id = applied.json()["run_id"]
    assert applied.json()["reboot_pending"]["run_id"] == run_id

    status = cli(capsys, *world_args(world, "status"))
    assert status.code == 3
    data = status.json()
    assert data["compliant"] is True and data["reboot_pending"]["run_id"] == run_id
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["reboot_pending"]["requested_at"])
    table = cli(capsys, *world_args(world, "status", json_mode=False))
    assert table.code == 3
    assert f"COMPLIANT, REBOOT PENDING: run {run_id} asked for a reboot" in table.out
    prom = cli(capsys, *world_args(world, "status", "--format", "prometheus", json_mode=False))
    assert prom.code == 3 and _reboot_gauge(prom.out) == 1
    page = cli(capsys, *world_args(world, "status", "--format", "html", json_mode=False))
    assert "<h3>Reboot pending</h3>" in page.out and run_id in page.out
    assert "REBOOT PENDING" in page.out  # the page's own verdict

    # an apply with nothing to run does not make it go away
    again = cli(capsys, *world_args(world, "apply"))
    assert again.code == 3 and again.json()["steps"] == []
    assert again.json()["reboot_pending"]["run_id"] == run_id
    newest = cli(capsys, "--state", world.state, "--json", "history").json()["runs"][0]
    assert newest["run_id"] == again.json()["run_id"]
    assert (newest["status"], newest["exit_code"]) == ("reboot-required", 3)
    assert f"a reboot run {run_id} asked for is still pending" in newest["message"]
    prom = cli(capsys, *world_args(world, "status", "--format", "prometheus", json_mode=False))
    assert _reboot_gauge(prom.out) == 1

    machine_booted(monkeypatch)
    status = cli(capsys, *world_args(world, "status"))
    assert status.code == 0 and status.json()["reboot_pending"] is None
    assert cli(capsys, *world_args(world, "apply")).code == 0
    prom = cli(capsys, *world_args(world, "status", "--format", "prometheus", json_mode=False))
    assert _reboot_gauge(prom.out) == 0
