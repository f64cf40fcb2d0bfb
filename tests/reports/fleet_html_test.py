"""The fleet page: the matrix worst first, each host's section, escaping, and a real browser."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from helpers import FLEET, build_fleet_results, require_tool, write_result
from report_samples import NOW, UP, WHEN, assert_self_contained, guarded_page, result

from spdeploy.errors import BadInput
from spdeploy.reports import fleet
from spdeploy.reports.fleet_html import render_html


def test_page_matrix_worst_first_then_each_host(mixed: Path) -> None:
    loaded = fleet.load(mixed, now=NOW)
    text = render_html(loaded, now=NOW)
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
    started = time.perf_counter()
    report = tmp_path / "fleet.html"
    report.write_text(render_html(fleet.load(sandbox_fleet), now=NOW), encoding="utf-8")
    url = report.as_uri()
    with guarded_page(chromium, [url]) as browser:
        page = browser.page
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

        width, inner = browser.overflow()
        assert width <= inner, f"at 375px the page is {width}px wide"
        for cell in page.locator("table.matrix td, table.matrix th").all():
            box = cell.bounding_box()
            assert box is not None and box["x"] + box["width"] <= inner + 0.5, cell.inner_html()
        shot = artifacts / "fleet-report-375px.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")

        page.set_viewport_size({"width": 1280, "height": 900})
        width, inner = browser.overflow()
        assert width <= inner, f"at 1280px the page is {width}px wide"
        page.screenshot(path=str(artifacts / "fleet-report-1280px.png"))

    assert browser.requested == [url], browser.requested  # the file itself, nothing else
    assert browser.blocked == [] and browser.problems == [], (browser.blocked, browser.problems)
    print(f"browser test: {time.perf_counter() - started:.2f} s")


def test_page_escapes_what_the_files_say(tmp_path: Path) -> None:
    name = "x&y <i>z</i> \"q\" 's'"
    write_result(
        tmp_path, "h1", "checked", {**result(UP), "target": f"C:\\{name}"}, checked_at=WHEN
    )
    doc = json.loads((tmp_path / "h1.json").read_text())
    (tmp_path / "h2.json").write_text(json.dumps({**doc, "host": name}))
    write_result(tmp_path, "h3", "checked", None, BadInput(f"bad {name}</td><script>"))
    page = assert_self_contained(render_html(fleet.load(tmp_path, now=NOW), now=NOW))
    assert {tag for tag, _ in page.tags} & {"i", "script"} == set()
    hosts = [a["data-host"] for tag, a in page.tags if tag == "tr" and "data-host" in a]
    assert hosts == ["h3", "h1", name]
    assert f"usage: bad {name}</td><script>" in page.all_text
    assert f"{name}: C:\\{name}" in page.all_text


def test_two_hosts_whose_names_and_targets_read_the_same(tmp_path: Path) -> None:
    """``a: b`` at ``c`` and ``a`` at ``b: c`` were both titled ``a: b: c``: both links led to
    the first section, and each section listed both hosts' runs."""
    for host, target in (("a: b", "c"), ("a", "b: c")):
        doc = {**result(UP, reboot=True), "target": target, "run_id": f"run-{host}"}
        (tmp_path / f"{len(target)}.json").write_text(
            json.dumps({"host": host, "checked_at": WHEN, "mode": "applied", "result": doc})
        )
    text = render_html(fleet.load(tmp_path, now=NOW), now=NOW)
    assert_self_contained(text)
    links = re.findall(r'<a href="#(target-\d)">', text)
    assert sorted(links) == ["target-1", "target-2"]
    for section in re.split(r'<section class="target"', text)[1:]:
        assert section.count('<div class="run"') == 1
