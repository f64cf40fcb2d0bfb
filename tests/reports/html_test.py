"""The HTML report: self-contained, finding first, worst target first, escaped; and in a browser."""

from __future__ import annotations

import re
import time
from pathlib import Path

from helpers import require_tool
from report_samples import (
    NASTY,
    Applied,
    assert_self_contained,
    guarded_page,
    nasty_plan,
    nasty_run,
)

from spdeploy.planner import Plan
from spdeploy.reports import html

NOW = 1_795_615_267.0
COMPONENTS = ["server", "coco", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn"]


def test_trap_report_finding_first_then_every_component(trap: Plan) -> None:
    text = html.render([trap], [], now=NOW)
    page = assert_self_contained(text)
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert ("meta", {"charset": "utf-8"}) in page.tags
    # the window's title, the overall verdict and the target's
    assert page.all_text.count("NOT COMPLIANT") == 3
    assert re.search(r"<title>NOT COMPLIANT · exchsrvr on [^<]+ · spdeploy</title>", text)
    finding = trap.findings[0].message
    assert finding in page.all_text
    # the finding comes before the component table
    assert page.all_text.index(finding) < page.all_text.index("Components, in execution order")
    rows = dict(page.rows)
    assert list(rows) == COMPONENTS
    # an arrow here is what is still to do, and says so
    prefix = "calcon Microsoft Exchange Calendar Connector to do: SP2 → SP4"
    assert rows["calcon"].startswith(prefix)
    assert "to do: 5.5.2448.0 → 5.5.2653.0" in rows["calcon"] and "update" in rows["calcon"]
    assert "missing on media" in rows["gwxconn"] and "no installer" in rows["gwxconn"]
    assert "SP4 (media SP4)" in rows["server"] and "current" in rows["server"]
    assert "not installed" in rows["ovvconn"] and "absent" in rows["ovvconn"]
    headers = [a.get("scope") for tag, a in page.tags if tag == "th"]
    assert headers.count("col") == 5 and headers.count("row") == len(COMPONENTS)
    assert "No apply run recorded for this target." in page.all_text
    assert "Generated 2026-11-25 14:01 UTC" in page.all_text


def test_runs_newest_first_with_their_steps(applied: Applied) -> None:
    text = html.render([applied.plan], applied.runs, now=NOW)
    page = assert_self_contained(text)
    assert "Suite compliance: passed." in page.all_text
    runs = [a["data-run"] for tag, a in page.tags if tag == "div" and "data-run" in a]
    assert runs == [r.id for r in applied.runs]  # Store gives newest first; so does the page
    latest, failed = applied.runs
    assert [key for key, _ in page.steps] == [s.component for r in applied.runs for s in r.steps]
    rows = [row for key, row in page.steps if key == "calcon"]
    calcon_failed = next(s for s in failed.steps if s.component == "calcon")
    assert calcon_failed.status == "failed"
    assert any(
        row.startswith(f"calcon ✗ failed {calcon_failed.exit_code} ") and "installer exited" in row
        for row in rows
    ), rows
    reboot = next(s for s in latest.steps if s.status == "reboot-required")
    assert any(
        row.startswith(f"{reboot.component} ! reboot-required 194 ") for _, row in page.steps
    )
    assert f"Run {latest.id} ! reboot-required" in " ".join(page.all_text.split())
    # an arrow in the runs is what happened, and says so; a failed step changed nothing
    assert any("5.5.2448.0 → 5.5.2653.0 done" in row for key, row in page.steps if key == "server")
    assert any("5.5.2448.0 → 5.5.2653.0 (changed)" in row for row in rows), rows


def test_worst_target_first(trap: Plan, applied: Applied) -> None:
    text = html.render([applied.plan, trap], applied.runs, now=NOW)
    page = assert_self_contained(text)
    flat = " ".join(page.all_text.split())
    assert "NOT COMPLIANT 1 of 2 target(s) not at the media's level" in flat
    assert flat.index(trap.target) < flat.index(applied.plan.target)
    assert page.sections == ["target-1", "target-2"]
    assert [a["href"] for tag, a in page.tags if tag == "a"] == ["#target-1", "#target-2"]


def test_everything_is_escaped() -> None:
    plan = nasty_plan()
    text = html.render([plan], [nasty_run()], title=f"Title {NASTY}", now=NOW)
    text.encode("utf-8")  # writable as UTF-8
    page = assert_self_contained(text)
    assert {tag for tag, _ in page.tags} & {"i", "script"} == set()
    readable = NASTY.replace("\x01", "\ufffd").replace("\udcff", "\ufffd")
    for expected in (
        f"Title {readable}",
        f"/srv/{readable}",
        f"finding {readable}",
        f"reason {readable}",
        f"run {readable}",
        f"step {readable}",
        f"log: /state/{readable}.log",
    ):
        assert expected in page.all_text, expected
    assert [key for key, _ in page.rows] == ["core", 'odd"id']
    assert [key for key, _ in page.steps] == ['odd"id']


def test_no_targets() -> None:
    page = assert_self_contained(html.render([], [], now=NOW))
    assert "NO TARGETS" in page.all_text


def test_in_chromium(trap: Plan, applied: Applied, tmp_path: Path, artifacts: Path) -> None:
    """Open the file as a person would, on a phone's width: nothing leaves the file, the
    finding and every row are visible, nothing scrolls sideways."""
    chromium = require_tool("chromium")
    started = time.perf_counter()
    report = tmp_path / "status.html"
    plans = [applied.plan, nasty_plan(), trap]
    report.write_text(html.render(plans, [*applied.runs, nasty_run()], now=NOW), encoding="utf-8")
    url = report.as_uri()
    canary = tmp_path / "canary.html"
    with guarded_page(chromium, [url, canary.as_uri()]) as browser:
        page = browser.page
        # the net catches what a page asks for: a canary page's image is seen and refused
        canary.write_text('<!DOCTYPE html><img src="canary.png" alt="">', encoding="utf-8")
        page.goto(canary.as_uri(), wait_until="load")
        assert browser.blocked == [(tmp_path / "canary.png").as_uri()], browser.blocked
        for seen in (browser.requested, browser.blocked, browser.problems):
            seen.clear()  # the canary's refused image is its console error too
        page.goto(url, wait_until="load")

        # worst first: the trap's section leads, its finding and rows are on screen
        assert page.locator("section").first.get_attribute("id") == "target-1"
        assert page.locator("#target-1 h2").inner_text().endswith(trap.target)
        finding = page.get_by_text(trap.findings[0].message, exact=True)
        assert finding.is_visible()
        for section, plan in (("#target-1", trap), ("#target-3", applied.plan)):
            for c in plan.components:
                row = page.locator(f'{section} tr[data-component="{c.id}"]')
                assert row.is_visible(), (section, c.id)
        calcon = page.locator('#target-1 tr[data-component="calcon"]').inner_text()
        assert "to do: SP2 → SP4" in " ".join(calcon.split()) and "update" in calcon
        assert page.title().startswith("NOT COMPLIANT · 3 targets on ")

        def shown_order(section: str) -> list[str]:
            rows = page.locator(f"{section} table.components tbody tr")
            found = [(r.bounding_box()["y"], r.get_attribute("data-component")) for r in rows.all()]
            return [cid for _, cid in sorted(found)]

        # on a phone the cards come worst first: what needs doing above what is done
        assert shown_order("#target-1") == [
            "gwxconn",  # missing on the media
            "coco",  # behind: comes with calcon's installer (Q242250)
            "calcon",
            "ntsconn",
            "server",
            "ovvconn",
            "snaconn",
        ]
        width, inner = browser.overflow()
        assert width <= inner, f"at 375px the page is {width}px wide"
        shot = artifacts / "status-report-375px.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")

        page.set_viewport_size({"width": 1280, "height": 900})
        width, inner = browser.overflow()
        assert width <= inner, f"at 1280px the page is {width}px wide"
        # on a wide screen, the table keeps the execution order: the server first
        assert shown_order("#target-1") == [c.id for c in trap.components]
        page.screenshot(path=str(artifacts / "status-report-1280px.png"), full_page=True)
        page.emulate_media(media="print")
        assert finding.is_visible()
        page.screenshot(path=str(artifacts / "status-report-print.png"), full_page=True)

    assert browser.requested == [url], browser.requested  # the file itself, nothing else
    assert browser.blocked == [] and browser.problems == [], (browser.blocked, browser.problems)
    print(f"browser test: {time.perf_counter() - started:.2f} s")
