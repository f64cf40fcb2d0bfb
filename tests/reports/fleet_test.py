"""The fleet report: reading the hosts' result files, worst first, its JSON, its page."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import FLEET, build_fleet_results, require_tool, write_result
from report_samples import CHROMIUM_ARGS, assert_self_contained

from spdeploy.errors import BadInput, TargetError
from spdeploy.reports import fleet

NOW = 1_795_615_267.0
WHEN = "2026-11-25T15:04:05Z"


def result(
    actions: dict[str, str], *, reboot: bool = False, failed: str | None = None
) -> dict[str, Any]:
    """A SPEC §5 status dict (and, with ``reboot`` or ``failed``, an applied run's fields)."""
    levels = {"update": "SP2", "missing-on-media": "SP2", "current": "SP4", "absent": None}
    doc: dict[str, Any] = {
        "profile": "exchange55",
        "media": "D:\\",
        "target": "C:\\exchsrvr",
        "language": "Eng",
        "platform": "I386",
        "compliant": all(a in ("current", "absent") for a in actions.values()),
        "components": [
            {
                "id": cid,
                "name": f"Component {cid}",
                "installed": action != "absent",
                "version": None if action == "absent" else f"5.5.{levels[action]}",
                "media_version": "5.5.SP4",
                "action": action,
                "installer": f"{cid}.exe",
                "reason": f"{cid} is {action}",
                "level": levels[action],
                "media_level": "SP4",
            }
            for cid, action in actions.items()
        ],
        "findings": [],
    }
    if reboot or failed:
        doc["run_id"] = "20261125T150405-0a1b"
        doc["reboot_required"] = reboot
        doc["steps"] = [
            {
                "id": cid,
                "status": "failed" if cid == failed else ("reboot-required" if reboot else "ok"),
                "exit_code": 1603 if cid == failed else (3010 if reboot else 0),
                "started": WHEN,
                "duration_s": 1.5,
                "version_before": "5.5.SP2",
                "version_after": "5.5.SP4",
                "log": None,
                "message": "",
            }
            for cid in actions
        ]
    return doc


UP = {"server": "current", "calcon": "current", "ntsconn": "current"}


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Six hosts, one of each kind, written in an order that is not the worst-first one."""
    folder = tmp_path / "results"
    write_result(folder, "a-ok", "checked", result(UP), checked_at=WHEN)
    write_result(folder, "b-reboot", "applied", result(UP, reboot=True), checked_at=WHEN)
    one = {**UP, "calcon": "update"}
    write_result(folder, "c-one-behind", "checked", result(one), checked_at=WHEN)
    two = {**UP, "calcon": "update", "ntsconn": "update"}
    write_result(folder, "d-two-behind", "applied", result(two, failed="calcon"), checked_at=WHEN)
    missing = {**UP, "ntsconn": "missing-on-media"}
    write_result(folder, "e-missing", "checked", result(missing), checked_at=WHEN)
    gone = TargetError("C:\\exchsrvr: target not found")
    write_result(folder, "f-error", "checked", None, gone, checked_at=WHEN)
    return folder


def test_worst_first_and_the_summary(mixed: Path) -> None:
    loaded = fleet.load(mixed)
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
    doc = fleet.to_dict(fleet.load(mixed))
    assert list(doc) == ["format", "directory", "compliant", "summary", "components", "hosts"]
    assert doc["format"] == "spdeploy-fleet/1"
    assert doc["components"] == ["server", "calcon", "ntsconn"]
    host = doc["hosts"][1]
    assert list(host) == [
        "host",
        "file",
        "verdict",
        "checked_at",
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
    "not-json": (b'{"host": ', "not JSON: Expecting value: line 1 column 10 (char 9)"),
    "not-utf8": (b'{"host": "\xff"}', "not UTF-8 text (byte 10)"),
    "a-list": (b"[]", "the file should be a JSON object"),
    "too-deep": (b"[" * 100_000, "not JSON: nested too deeply"),
    "bad-host": (
        json.dumps({"host": "a\x1b[2J", "checked_at": WHEN, "mode": "checked"}).encode(),
        '"host" is empty or holds control characters: "a\\u001b[2J"',
    ),
    "no-host": (b'{"checked_at": "x", "mode": "checked"}', 'the file has no "host"'),
    "bad-mode": (
        json.dumps({"host": "h", "checked_at": WHEN, "mode": "patched"}).encode(),
        "\"mode\" is 'patched', expected one of checked, applied",
    ),
    "bad-time": (
        json.dumps({"host": "h", "checked_at": "yesterday", "mode": "checked"}).encode(),
        "\"checked_at\" is not an ISO 8601 time: 'yesterday'",
    ),
    "nothing": (
        json.dumps({"host": "h", "checked_at": WHEN, "mode": "checked"}).encode(),
        'neither a "result" nor an "error"',
    ),
    "bad-error": (
        json.dumps(
            {"host": "h", "checked_at": WHEN, "mode": "checked", "error": {"code": "x"}}
        ).encode(),
        '"error" has no "message"',
    ),
    "bad-component": (
        json.dumps(
            {
                "host": "h",
                "checked_at": WHEN,
                "mode": "checked",
                "result": {**result(UP), "components": [{"id": "server", "action": 1}]},
            }
        ).encode(),
        '"result.components[0]" has no "name"',
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
        '"result": "compliant" should be true or false, not 1',
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
        "nan": (_step(duration_s=float("nan")), "not JSON: NaN is not a number JSON allows"),
        "infinite": (
            _step().replace(b'"duration_s": 1.5', b'"duration_s": 1e999'),
            "not JSON: 1e999 is not a number JSON allows",
        ),
        "bad-duration": (
            _step(duration_s="1.5 s"),
            '"result.steps[1]": "duration_s" should be a number or null, not "1.5 s"',
        ),
        "huge-duration": (
            _step(duration_s=10**400),
            f'"result.steps[1]": "duration_s" should be a number or null, not 1{"0" * 38}…',
        ),
        "bad-exit-code": (
            _step(exit_code="1603\nok"),
            '"result.steps[1]": "exit_code" should be an integer or null, not "1603\\nok"',
        ),
        "id-with-a-newline": (
            _step(id="calcon\n"),
            '"result.steps[1]": "id" holds control characters: "calcon\\n"',
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


def test_page_matrix_worst_first_then_each_host(mixed: Path) -> None:
    loaded = fleet.load(mixed)
    text = fleet.render_html(loaded, now=NOW)
    page = assert_self_contained(text)
    rows = [a["data-host"] for tag, a in page.tags if tag == "tr" and "data-host" in a]
    assert rows == [h.host for h in loaded.hosts]
    flat = " ".join(page.all_text.split())
    assert "NOT COMPLIANT 2 of 6 host(s) behind the media's level" in flat
    assert "Generated 2026-11-25 14:01 UTC" in flat
    assert "target: C:\\exchsrvr: target not found" in flat
    assert "no result: the task failed before a plan" in flat
    # a cell says in text what its colour says
    cells = re.findall(
        r'<td data-label="(\w+)" data-component="\w+">(.*?)</td>', text, flags=re.DOTALL
    )
    seen = {re.sub(r"<[^>]+>", "", cell).split("\n")[0] for _, cell in cells}
    assert {"SP2 → SP4 ↑ update", "SP4 ✓ current", "SP2 → SP4 ✗ missing on media"} <= seen
    assert "SP2 → SP4 ↑ update ✗ failed (exit 1603)" in seen
    # every host with a plan links to its own section, titled with its name
    links = {a["href"]: a for tag, a in page.tags if tag == "a"}
    assert len(links) == 5 and page.sections[0] == "fleet"
    for host in loaded.hosts[1:]:
        anchor = re.search(rf'<a href="#(target-\d)">{host.host}</a>', text)
        assert anchor is not None, host.host
        title = re.search(rf'<h2 id="{anchor.group(1)}-title">(.*?)</h2>', text)
        assert title is not None and f"{host.host}: C:\\exchsrvr" in title.group(1)
    assert "Reported by d-two-behind at 2026-11-25 15:04:05 UTC." in flat


@pytest.fixture(scope="module")
def sandbox_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fleet_results(tmp_path_factory.mktemp("fleet"))


def test_in_chromium(sandbox_fleet: Path, tmp_path: Path, artifacts: Path) -> None:
    """The page from five real sandbox hosts on a phone's width: every host row visible, worst
    first, nothing leaves the file, nothing scrolls sideways."""
    chromium = require_tool("chromium")
    from playwright.sync_api import Route, sync_playwright

    started = time.perf_counter()
    report = tmp_path / "fleet.html"
    report.write_text(fleet.render_html(fleet.load(sandbox_fleet), now=NOW), encoding="utf-8")
    url = report.as_uri()
    requested: list[str] = []
    blocked: list[str] = []
    problems: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 375, "height": 740})
            context.route("**/*", guard)
            context.on("request", lambda request: requested.append(request.url))
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(url, wait_until="load")

            rows = page.locator("table.matrix tbody tr")
            assert rows.count() == len(FLEET)
            hosts = [rows.nth(i).get_attribute("data-host") for i in range(rows.count())]
            assert hosts == list(FLEET)  # worst first
            for i, verdict in enumerate(FLEET.values()):
                row = rows.nth(i)
                assert row.is_visible() and row.get_attribute("data-verdict") == verdict
                assert verdict.replace("-", " ") in row.inner_text()
            failed = page.locator('tr[data-host="exch03"] td[data-component="calcon"]')
            assert failed.is_visible() and "failed (exit 67)" in failed.inner_text()

            def overflow() -> Any:
                return page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")

            width, inner = overflow()
            assert width <= inner, f"at 375px the page is {width}px wide"
            for cell in page.locator("table.matrix td, table.matrix th").all():
                box = cell.bounding_box()
                assert box is not None and box["x"] + box["width"] <= inner + 0.5, cell.inner_html()
            shot = artifacts / "fleet-report-375px.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")

            page.set_viewport_size({"width": 1280, "height": 900})
            width, inner = overflow()
            assert width <= inner, f"at 1280px the page is {width}px wide"
            page.screenshot(path=str(artifacts / "fleet-report-1280px.png"))
        finally:
            browser.close()

    assert requested == [url], requested  # the file itself, nothing else
    assert blocked == [] and problems == [], (blocked, problems)
    print(f"browser test: {time.perf_counter() - started:.2f} s")


def test_page_escapes_what_the_files_say(tmp_path: Path) -> None:
    name = "x&y <i>z</i> \"q\" 's'"
    write_result(
        tmp_path, "h1", "checked", {**result(UP), "target": f"C:\\{name}"}, checked_at=WHEN
    )
    doc = json.loads((tmp_path / "h1.json").read_text())
    (tmp_path / "h2.json").write_text(json.dumps({**doc, "host": name}))
    write_result(tmp_path, "h3", "checked", None, BadInput(f"bad {name}</td><script>"))
    page = assert_self_contained(fleet.render_html(fleet.load(tmp_path), now=NOW))
    assert {tag for tag, _ in page.tags} & {"i", "script"} == set()
    hosts = [a["data-host"] for tag, a in page.tags if tag == "tr" and "data-host" in a]
    assert hosts == ["h3", "h1", name]
    assert f"usage: bad {name}</td><script>" in page.all_text
    assert f"{name}: C:\\{name}" in page.all_text


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
    table = fleet.render("table", loaded)
    assert len(table.splitlines()) == 2 + len(loaded.hosts) + 1 and "\x1b" not in table
    # the JSON keeps the message as the file has it
    assert fleet.to_dict(loaded)["hosts"][0]["error"]["message"] == message


def test_two_hosts_whose_names_and_targets_read_the_same(tmp_path: Path) -> None:
    """``a: b`` at ``c`` and ``a`` at ``b: c`` were both titled ``a: b: c``: both links led to
    the first section, and each section listed both hosts' runs."""
    for host, target in (("a: b", "c"), ("a", "b: c")):
        doc = {**result(UP, reboot=True), "target": target, "run_id": f"run-{host}"}
        (tmp_path / f"{len(target)}.json").write_text(
            json.dumps({"host": host, "checked_at": WHEN, "mode": "applied", "result": doc})
        )
    text = fleet.render_html(fleet.load(tmp_path), now=NOW)
    assert_self_contained(text)
    links = re.findall(r'<a href="#(target-\d)">', text)
    assert sorted(links) == ["target-1", "target-2"]
    for section in re.split(r'<section class="target"', text)[1:]:
        assert section.count('<div class="run"') == 1


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
