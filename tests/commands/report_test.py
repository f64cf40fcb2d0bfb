"""``spdeploy report --from DIR``: the fleet view of per-host results from real sandbox runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import FLEET, build_fleet_results, cli, cli_process, cli_pty, write_result


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five hosts really checked or applied in sandbox worlds (``helpers.FLEET``)."""
    return build_fleet_results(tmp_path_factory.mktemp("fleet"))


def test_json_worst_first(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = cli(capsys, "--json", "report", "--from", results)
    assert res.code == 1, res.err
    doc = res.json()
    assert [h["host"] for h in doc["hosts"]] == list(FLEET)
    assert [h["verdict"] for h in doc["hosts"]] == list(FLEET.values())
    assert doc["compliant"] is False
    assert doc["summary"] == {
        "hosts": 5,
        "compliant": 1,
        "not_compliant": 1,
        "reboot_required": 1,
        "errors": 2,
        "stale": 0,
    }
    assert doc["components"] == [
        "server",
        "coco",
        "calcon",
        "ntsconn",
        "gwxconn",
        "ovvconn",
        "snaconn",
    ]
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["exch05"]["error"]["code"] == "target" and hosts["exch05"]["components"] == {}
    assert hosts["exch04"]["mode"] == "checked" and hosts["exch04"]["run_id"] is None
    assert hosts["exch04"]["behind"] == ["server", "coco", "calcon", "ntsconn", "gwxconn"]
    # 1603 arrives as 67 from a POSIX shell (8 bits); the run stopped there
    calcon = hosts["exch03"]["components"]["calcon"]
    assert calcon["step"] == {"status": "failed", "exit_code": 67}
    assert hosts["exch03"]["error"]["code"] == "step-failed"
    assert hosts["exch03"]["behind"] == ["coco", "ntsconn", "gwxconn"]
    assert hosts["exch02"]["reboot_required"] is True and hosts["exch02"]["compliant"] is True
    assert hosts["exch02"]["components"]["ntsconn"]["step"]["status"] == "reboot-required"
    assert hosts["exch01"]["components"]["server"] == {
        "action": "current",
        "version": "5.5.2653.0",
        "media_version": "5.5.2653.0",
        "level": "SP4",
        "media_level": "SP4",
        "step": {"status": "ok", "exit_code": 0},
    }
    # the command's own --json and --format json say the same
    assert cli(capsys, "report", "--from", results, "--json").json() == doc
    assert cli(capsys, "report", "--from", results, "--format", "json").json() == doc


def test_table_one_row_per_host(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = cli(capsys, "report", "--from", results)
    assert res.code == 1
    lines = res.out.splitlines()
    assert lines[0] == f"Fleet: 5 host(s) in {results}"
    assert lines[1].split() == ["host", "verdict", "age", "behind", "reboot", "error"]
    assert [line.split()[0] for line in lines[2:7]] == list(FLEET)
    rows = {line.split()[0]: line for line in lines[2:7]}
    assert "target not found" in rows["exch05"]
    assert "server, coco, calcon, ntsconn, gwxconn" in rows["exch04"]
    assert rows["exch03"].endswith("calcon failed (exit 67)")
    verdict, age, behind, reboot = rows["exch02"].split()[1:5]
    assert (verdict, behind, reboot) == ("reboot-required", "-", "yes")
    assert age.endswith(("s", "m"))  # the results are minutes old at most
    assert lines[7] == (
        "NOT COMPLIANT: 1 of 5 host(s) behind the media's level; 2 of 5 host(s) with an error; "
        "1 reboot(s) pending"
    )


def test_every_format_to_a_file(
    results: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    for fmt in ("table", "json", "html"):
        res = cli(capsys, "report", "--from", results, "--format", fmt, "--output", out / fmt)
        assert res.code == 1, (fmt, res.err)
        assert res.out == "" and (out / fmt).is_file()
        assert not list(out.glob(".*")), "no temporary file left behind"
    assert "NOT COMPLIANT" in (out / "table").read_text()
    assert json.loads((out / "json").read_text())["summary"]["hosts"] == 5
    page = (out / "html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "://" not in page
    assert page.index('data-host="exch05"') < page.index('data-host="exch01"')
    assert "exch03: " in page and "Steps of run" in page


def test_an_output_file_takes_its_extensions_format_whatever_stdout_is(
    results: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """As status: --json is what stdout holds, not what goes into fleet.html."""
    page, data = tmp_path / "fleet.html", tmp_path / "fleet.json"
    res = cli(capsys, "report", "--json", "--from", results, "--output", page)
    assert res.code == 1 and res.json()["summary"]["hosts"] == 5  # stdout: what --json asked for
    res = cli(capsys, "report", "--from", results, "--output", data)
    assert res.code == 1 and res.out == ""
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert json.loads(data.read_text())["summary"]["hosts"] == 5


def test_compliant_fleet_exits_0(
    results: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A reboot pending is shown, not failed: ``status`` on that host exits 0 too."""
    for host in ("exch01", "exch02"):
        shutil.copy(results / f"{host}.json", tmp_path)
    res = cli(capsys, "report", "--from", tmp_path)
    assert res.code == 0, res.out
    assert res.out.splitlines()[-1] == (
        "COMPLIANT: all 2 host(s) at the media's level; 1 reboot(s) pending"
    )


def test_a_broken_file_is_one_host_in_error(
    results: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shutil.copytree(results, tmp_path, dirs_exist_ok=True)
    (tmp_path / "exch06.json").write_text('{"host": "exch06", "checked_at": ')
    res = cli(capsys, "--json", "report", "--from", tmp_path)
    assert res.code == 1
    hosts = res.json()["hosts"]
    assert [h["host"] for h in hosts] == ["exch05", "exch06", *list(FLEET)[1:]]
    error = hosts[1]["error"]
    assert error["code"] == "bad-result-file"
    assert error["message"].startswith(f"unreadable result file {tmp_path / 'exch06.json'}: ")


def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    res = cli(capsys, "--json", "report", "--from", tmp_path / "absent")
    assert res.code == 2
    assert res.json()["error"] == {
        "code": "usage",
        "message": f"{tmp_path / 'absent'}: no such folder (expected the hosts' result files, "
        "<host>.json)",
        "exit_code": 2,
    }
    res = cli(capsys, "report", "--from", tmp_path)
    assert res.code == 2 and res.out == ""
    assert res.err == f"spdeploy: error: {tmp_path}: no result files (<host>.json) in this folder\n"
    assert cli(capsys, "report").code == 2  # --from is required
    res = cli(capsys, "report", "--from", tmp_path, "--format", "html", "--json")
    assert res.code == 2 and res.json()["error"]["code"] == "usage"


def test_as_a_process_and_on_a_terminal(tmp_path: Path) -> None:
    """The real entry point; on a terminal the Rich table shows text as it is, markup and all."""
    write_result(tmp_path, "exch01", "checked", None, _Failure("[/] not [b]markup[/b]"))
    res = cli_process("report", "--from", tmp_path)
    assert res.code == 1 and "exch01  error" in res.out, res.err
    res = cli_pty("report", "--from", tmp_path)
    assert res.code == 1, res.out
    assert "[/] not [b]markup[/b]" in res.out and "NOT COMPLIANT" in res.out


class _Failure:
    code, exit_code = "target", 2

    def __init__(self, message: str) -> None:
        self.message = message
