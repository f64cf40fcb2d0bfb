"""The fleet report: reading the hosts' result files, worst first, its JSON and its table."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, write_result
from report_samples import NOW, UP, WHEN, result

from spdeploy.errors import BadInput
from spdeploy.reports import fleet
from spdeploy.reports.render import render_fleet


def test_worst_first_and_the_summary(mixed: Path) -> None:
    loaded = fleet.load(mixed, now=NOW)
    order = [h.host for h in loaded.hosts]
    # errors (no result, then a failed installer), then missing installers, then the most behind,
    # then reboots pending, then the rest
    assert order == ["f-error", "d-two-behind", "e-missing", "c-one-behind", "b-reboot", "a-ok"]
    doc = fleet.to_dict(loaded)
    assert doc["compliant"] is False and loaded.exit_code == 1
    assert doc["summary"] == {
        "hosts": 6,
        "compliant": 1,
        "not_compliant": 2,
        "reboot_required": 1,
        "errors": 2,
        "stale": 0,
    }
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["d-two-behind"]["behind"] == ["calcon", "ntsconn"]
    assert hosts["d-two-behind"]["components"]["calcon"]["step"] == {
        "status": "failed",
        "exit_code": 1603,
    }
    assert hosts["c-one-behind"]["components"]["calcon"]["step"] is None  # checked, not applied
    # the module reports a host behind as an error too: its result explains it
    assert hosts["c-one-behind"]["error"]["code"] == "not-compliant"
    assert hosts["c-one-behind"]["verdict"] == "not-compliant"
    assert hosts["d-two-behind"]["error"]["code"] == "step-failed"
    assert hosts["d-two-behind"]["verdict"] == "error"
    assert hosts["b-reboot"]["verdict"] == "reboot-required" and hosts["b-reboot"]["compliant"]
    assert hosts["f-error"]["error"]["code"] == "target" and hosts["f-error"]["components"] == {}
    assert loaded.headline() == (
        "NOT COMPLIANT: 2 of 6 host(s) behind the media's level; 2 of 6 host(s) with an error; "
        "1 reboot(s) pending"
    )
    problems = {h.host: h.problem for h in loaded.hosts}
    assert problems["d-two-behind"] == "calcon failed (exit 1603)"
    assert problems["f-error"] == "target: C:\\exchsrvr: target not found"
    assert problems["a-ok"] == problems["c-one-behind"] == ""


def test_json_keys_are_pinned(mixed: Path) -> None:
    """A contract: scripts read these keys (additive changes only)."""
    doc = fleet.to_dict(fleet.load(mixed, now=NOW))
    assert list(doc) == [
        "format",
        "directory",
        "compliant",
        "summary",
        "max_age_s",
        "components",
        "hosts",
    ]
    assert doc["format"] == "spdeploy-fleet/1"
    assert doc["components"] == ["server", "calcon", "ntsconn"]
    host = doc["hosts"][1]
    assert list(host) == [
        "host",
        "file",
        "verdict",
        "checked_at",
        "age_s",
        "mode",
        "compliant",
        "reboot_required",
        "run_id",
        "behind",
        "error",
        "components",
    ]
    assert host["file"] == "d-two-behind.json" and host["checked_at"] == WHEN
    assert host["run_id"] == "20261125T150405-0a1b" and host["mode"] == "applied"
    assert list(host["components"]["calcon"]) == [
        "action",
        "version",
        "media_version",
        "level",
        "media_level",
        "step",
    ]
    json.dumps(doc)  # plain JSON all the way down


def test_compliant_with_a_reboot_pending(tmp_path: Path) -> None:
    write_result(tmp_path, "exch01", "checked", result(UP))
    write_result(tmp_path, "exch02", "applied", result(UP, reboot=True))
    loaded = fleet.load(tmp_path)
    assert loaded.compliant and loaded.exit_code == 0
    assert [h.verdict for h in loaded.hosts] == ["reboot-required", "compliant"]
    assert loaded.headline() == "COMPLIANT: all 2 host(s) at the media's level; 1 reboot(s) pending"


def test_a_reboot_an_earlier_run_asked_for_is_still_the_hosts(tmp_path: Path) -> None:
    """A check after a run that asked for a reboot the host never got: reboot-required, though
    this result ran nothing (``reboot_pending``, SPEC §5)."""
    checked = {
        **result(UP),
        "reboot_pending": {"run_id": "r1", "requested_at": "2026-12-01T10:00:00Z"},
    }
    write_result(tmp_path, "exch01", "checked", checked)
    write_result(tmp_path, "exch02", "checked", {**result(UP), "reboot_pending": None})
    loaded = fleet.load(tmp_path)
    assert [(h.host, h.verdict) for h in loaded.hosts] == [
        ("exch01", "reboot-required"),
        ("exch02", "compliant"),
    ]
    assert loaded.exit_code == 0
    assert fleet.to_dict(loaded)["summary"]["reboot_required"] == 1


def test_an_error_beside_a_result_is_still_an_error(tmp_path: Path) -> None:
    write_result(tmp_path, "exch01", "applied", result(UP), BadInput("lock lost"))
    (host,) = fleet.load(tmp_path).hosts
    assert host.verdict == "error" and not host.compliant
    assert fleet.to_dict(fleet.load(tmp_path))["hosts"][0]["components"]["server"]["action"]


def test_components_in_the_order_first_seen(tmp_path: Path) -> None:
    write_result(tmp_path, "b", "checked", result({"server": "current", "x": "current"}))
    write_result(tmp_path, "a", "checked", result({"server": "current", "calcon": "current"}))
    assert fleet.load(tmp_path).components == ("server", "calcon", "x")


BAD: dict[str, tuple[bytes, str]] = {
    "not-json": (b'{"host": ', "not JSON: input data was truncated"),
    "not-json-either": (
        b'{"host": "h",\n "mode": checked}',
        "not JSON: line 2, column 10: invalid character",
    ),
    "not-utf8": (b'{"host": "\xff"}', "not UTF-8 text (byte 10)"),
    "a-list": (b"[]", "$: expected object, got array"),
    "too-deep": (b"[" * 100_000, "not JSON: nested too deeply"),
    "bad-host": (
        json.dumps({"host": "a\x1b[2J", "checked_at": WHEN, "mode": "checked"}).encode(),
        '$.host: is empty or holds control characters: "a\\u001b[2J"',
    ),
    "no-host": (b'{"checked_at": "x", "mode": "checked"}', "$.host: missing"),
    "bad-mode": (
        json.dumps({"host": "h", "checked_at": WHEN, "mode": "patched"}).encode(),
        "$.mode: is 'patched', expected one of checked, applied",
    ),
    "bad-time": (
        json.dumps({"host": "h", "checked_at": "yesterday", "mode": "checked"}).encode(),
        "$.checked_at: is not an ISO 8601 time: 'yesterday'",
    ),
    "nothing": (
        json.dumps({"host": "h", "checked_at": WHEN, "mode": "checked"}).encode(),
        '$: neither a "result" nor an "error"',
    ),
    "bad-error": (
        json.dumps(
            {"host": "h", "checked_at": WHEN, "mode": "checked", "error": {"code": "x"}}
        ).encode(),
        "$.error.message: missing",
    ),
    "bad-component": (
        json.dumps(
            {
                "host": "h",
                "checked_at": WHEN,
                "mode": "checked",
                "result": {**result(UP), "components": [{"id": "server", "action": "update"}]},
            }
        ).encode(),
        "$.result.components[0].name: missing",
    ),
    "bad-action": (
        json.dumps(
            {
                "host": "h",
                "checked_at": WHEN,
                "mode": "checked",
                "result": {**result(UP), "components": [{"id": "server", "action": 1}]},
            }
        ).encode(),
        "$.result.components[0].action: expected str, got 1",
    ),
    "bad-compliant": (
        json.dumps(
            {
                "host": "h",
                "checked_at": WHEN,
                "mode": "checked",
                "result": {**result(UP), "compliant": 1},
            }
        ).encode(),
        "$.result.compliant: expected bool, got 1",
    ),
}


def _step(**changes: Any) -> bytes:
    """A host file whose failed step (calcon's) has ``changes``."""
    doc = result({**UP, "calcon": "update"}, failed="calcon")
    doc["steps"][1].update(changes)
    host = {"host": "h", "checked_at": WHEN, "mode": "applied", "result": doc, "error": None}
    return json.dumps(host).encode()


# Each of these passed the checks and crashed a renderer (the page's duration, a ValueError,
# TypeError or OverflowError), or put NaN into `report --format json`, which is not JSON, or
# broke a row of the table in two.
BAD.update(
    {
        "nan": (
            _step(duration_s=float("nan")),
            f"not JSON: line 1, column {_step(duration_s=float('nan')).index(b'NaN') + 1}: "
            "NaN is not a number JSON allows",
        ),
        "infinite": (
            _step().replace(b'"duration_s": 1.5', b'"duration_s": 1e999'),
            "not JSON: $.result.steps[0].duration_s: number out of range",
        ),
        "bad-duration": (
            _step(duration_s="1.5 s"),
            '$.result.steps[1].duration_s: expected float | null, got "1.5 s"',
        ),
        "huge-duration": (
            _step(duration_s=10**400),
            "$.result.steps[1].duration_s: number out of range",
        ),
        "bad-exit-code": (
            _step(exit_code="1603\nok"),
            '$.result.steps[1].exit_code: expected int | null, got "1603\\nok"',
        ),
        "id-with-a-newline": (
            _step(id="calcon\n"),
            '$.result.steps[1].id: holds control characters: "calcon\\n"',
        ),
    }
)


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_file_is_that_hosts_error(tmp_path: Path, name: str) -> None:
    """One broken file does not hide the fleet: it is a host with an error naming the file."""
    content, problem = BAD[name]
    (tmp_path / f"{name}.json").write_bytes(content)
    write_result(tmp_path, "exch01", "checked", result(UP))
    loaded = fleet.load(tmp_path)
    bad, good = loaded.hosts
    assert (bad.host, bad.verdict, good.verdict) == (name, "error", "compliant")
    assert bad.error == {
        "code": "bad-result-file",
        "message": f"unreadable result file {tmp_path / name}.json: {problem}",
        "exit_code": 2,
    }
    assert loaded.exit_code == 1 and fleet.to_dict(loaded)["summary"]["errors"] == 1


def test_a_result_is_kept_as_the_file_has_it(tmp_path: Path) -> None:
    """The reader checks what the report relies on and keeps the rest: the page hands the whole
    status dict to the status report's renderer, and SPEC §5 grows by additions."""
    signals = [{"name": "PendingFileRenameOperations", "entries": ["C:\\x.dll"]}]
    doc = {**result(UP), "system_reboot_signals": signals, "added_later": {"n": 1.5}}
    doc["components"][0]["added_later"] = True
    write_result(tmp_path, "exch01", "checked", doc)
    (host,) = fleet.load(tmp_path).hosts
    assert host.verdict == "compliant" and host.result == doc


def test_a_host_reported_twice(tmp_path: Path) -> None:
    write_result(tmp_path, "exch01", "checked", result(UP))
    copy = json.loads((tmp_path / "exch01.json").read_text())
    (tmp_path / "exch01-copy.json").write_text(json.dumps(copy))
    hosts = fleet.load(tmp_path).hosts
    assert [(h.file, h.verdict) for h in hosts] == [
        ("exch01-copy.json", "error"),
        ("exch01.json", "compliant"),
    ]
    assert hosts[0].error is not None
    assert "host 'exch01' is also reported by exch01.json" in hosts[0].error["message"]


def test_hidden_and_other_files_are_left_out(tmp_path: Path) -> None:
    write_result(tmp_path, "exch01", "checked", result(UP))
    (tmp_path / ".exch02.json").write_text("half a fil")  # a writer's temporary file
    (tmp_path / "notes.txt").write_text("not a result")
    assert [h.host for h in fleet.load(tmp_path).hosts] == ["exch01"]


def test_no_results_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no result files"):
        fleet.load(tmp_path)
    with pytest.raises(BadInput, match="no such folder"):
        fleet.load(tmp_path / "absent")
    (tmp_path / "file").write_text("")
    with pytest.raises(BadInput, match="not a folder"):
        fleet.load(tmp_path / "file")


def test_a_message_with_control_characters_stays_on_its_row(tmp_path: Path) -> None:
    """A host's own error message is shown with its line breaks and escapes spelt out: it
    broke the table's row in two and sent the terminal an escape sequence."""
    message = "gone\nexch02  compliant\x1b[2J"
    error = {"code": "target", "message": message, "exit_code": 2}
    doc = {"host": "exch01", "checked_at": WHEN, "mode": "checked", "result": None, "error": error}
    (tmp_path / "exch01.json").write_text(json.dumps(doc))
    write_result(tmp_path, "exch02", "checked", result(UP))
    loaded = fleet.load(tmp_path)
    assert loaded.hosts[0].problem == "target: gone\\nexch02  compliant\\x1b[2J"
    table = render_fleet("table", loaded)
    assert len(table.splitlines()) == 2 + len(loaded.hosts) + 1 and "\x1b" not in table
    # the JSON keeps the message as the file has it
    assert fleet.to_dict(loaded)["hosts"][0]["error"]["message"] == message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_pipe_among_the_files_does_not_hang(tmp_path: Path) -> None:
    """Reading a FIFO named like a result waits for a writer that never comes."""
    write_result(tmp_path, "exch01", "checked", result(UP))
    os.mkfifo(tmp_path / "exch02.json")
    (tmp_path / "exch03.json").mkdir()
    hosts = {h.host: h for h in fleet.load(tmp_path).hosts}
    for name in ("exch02", "exch03"):
        error = hosts[name].error
        assert error is not None and error["message"] == (
            f"unreadable result file {tmp_path / name}.json: not a regular file"
        )
    assert hosts["exch01"].verdict == "compliant"


def test_an_old_result_is_stale_and_not_compliant(tmp_path: Path) -> None:
    """A host's result from 2024 says nothing of the host today."""
    write_result(tmp_path, "old", "applied", result(UP), checked_at="2024-03-01T10:00:00Z")
    write_result(tmp_path, "new", "checked", result(UP), checked_at=WHEN)
    write_result(tmp_path, "broken", "checked", None, BadInput("target gone"), checked_at=WHEN)
    loaded = fleet.load(tmp_path, now=NOW)
    # worst first: errors, then stale, then the rest
    assert [(h.host, h.verdict) for h in loaded.hosts] == [
        ("broken", "error"),
        ("old", "stale"),
        ("new", "compliant"),
    ]
    assert loaded.exit_code == 1 and not loaded.compliant
    doc = fleet.to_dict(loaded)
    assert doc["summary"]["stale"] == 1 and doc["max_age_s"] == 7 * 86400
    ages = {h["host"]: h["age_s"] for h in doc["hosts"]}
    assert ages["old"] > 600 * 86400 and ages["new"] == 0
    assert "1 of 3 host(s) with a result older than 7d" in loaded.headline()
    # a longer --max-age makes it current again
    longer = fleet.load(tmp_path, max_age=fleet.parse_duration("1000d", "--max-age"), now=NOW)
    assert {h.host: h.verdict for h in longer.hosts}["old"] == "compliant"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 14 * 86400)],
)
def test_durations(text: str, seconds: float) -> None:
    assert fleet.parse_duration(text, "--max-age") == seconds


@pytest.mark.parametrize("text", ["7", "d", "-1d", "0h", "seven days", "1y"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(BadInput, match="--max-age"):
        fleet.parse_duration(text, "--max-age")


def test_max_age_marks_old_results_stale_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_result(tmp_path, "exch01", "checked", result(UP))
    write_result(tmp_path, "exch02", "checked", result(UP), checked_at="2024-06-01T08:00:00Z")
    res = cli(capsys, "report", "--from", tmp_path)
    assert res.code == 1
    rows = {line.split()[0]: line.split() for line in res.out.splitlines()[2:-1]}
    assert rows["exch02"][1] == "stale" and rows["exch02"][2].endswith("d")  # the age column
    assert rows["exch01"][1] == "compliant"
    assert "1 of 2 host(s) with a result older than 7d" in res.out
    doc = cli(capsys, "--json", "report", "--from", tmp_path).json()
    assert [h["verdict"] for h in doc["hosts"]] == ["stale", "compliant"]
    page = cli(capsys, "report", "--from", tmp_path, "--format", "html").out
    assert "stale" in page and "ago" in page
    # long enough, and the old one counts again
    assert cli(capsys, "report", "--from", tmp_path, "--max-age", "10000d").code == 0
    bad = cli(capsys, "report", "--from", tmp_path, "--max-age", "a week")
    assert bad.code == 2 and "--max-age 'a week'" in bad.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--output", "{d}/r.docx"], "unknown report extension '.docx'"),
        (["--format", "html", "--output", "{d}/r.json"], "the extension .json says json"),
        (["--output", "{d}/fleet.xml"], "this command writes .txt, .json, .html"),
        (["--output", "{d}/nosuch/r.html"], "does not exist"),
        (["--output", "{d}/afile/r.html"], "is a file, not a folder"),
    ],
)
def test_an_output_that_cannot_be_right_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    write_result(tmp_path / "results", "exch01", "checked", result(UP))
    (tmp_path / "afile").write_text("")
    before = sorted(p.name for p in tmp_path.iterdir())
    filled = [a.replace("{d}", str(tmp_path)) for a in args]
    res = cli(capsys, "report", "--from", tmp_path / "results", *filled)
    assert res.code == 2 and needle in res.err, res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
