"""Shared report inputs and checks: the applied-target record, records full of text to escape,
an HTML page's parts, and how chromium is started."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from spdeploy.planner import Finding, Plan, PlannedComponent
from spdeploy.sandbox.world import SP2, SP4
from spdeploy.store import RunRecord, StepRecord

# Markup, quotes, a newline, a backslash, a control character and a lone surrogate (an
# undecodable file name).
NASTY = "A&B <i>x</i> \"q\" 's' \\back\nline\x01 \udcff </table><script>alert(1)</script>"


@dataclass(frozen=True)
class Applied:
    """A target brought to SP4 over two runs: the first failed, the second needs a reboot."""

    plan: Plan
    runs: list[RunRecord]  # newest first, as Store.runs() gives them


def nasty_plan(target: str = f"/srv/{NASTY}") -> Plan:
    """A plan built from records alone, every text field full of characters to escape."""
    return Plan(
        profile="site&<x>",
        media=f"/media/{NASTY}",
        target=target,
        language="Eng",
        platform="I386",
        components=(
            PlannedComponent(
                id="core",
                name=f"Core {NASTY}",
                installed=True,
                version=SP4,
                media_version=SP4,
                action="current",
                installer="Core/Setup.exe",
                reason="at the level",
                level="SP4",
                media_level="SP4",
            ),
            PlannedComponent(
                id='odd"id',
                name=f"Odd {NASTY}",
                installed=True,
                version=SP2,
                media_version=SP4,
                action="update",
                installer=f"Odd/{NASTY}.exe",
                reason=f"reason {NASTY}",
                level="SP2",
                media_level="SP4",
            ),
        ),
        findings=(Finding("core-updated-components-behind", f"finding {NASTY}", ('odd"id',)),),
    )


def nasty_run(target: str = f"/srv/{NASTY}") -> RunRecord:
    step = StepRecord(
        run_id="20261125T140107-3f2a",
        seq=0,
        component='odd"id',
        status="failed",
        exit_code=1603,
        started=1_795_615_267.0,
        duration_s=2.5,
        version_before=SP2,
        version_after=SP2,
        log=f"/state/{NASTY}.log",
        message=f"step {NASTY}",
    )
    return RunRecord(
        id="20261125T140107-3f2a",
        profile="site&<x>",
        target=target,
        media=f"/media/{NASTY}",
        language="Eng",
        platform="I386",
        started=1_795_615_267.0,
        finished=1_795_615_270.0,
        status="failed",
        exit_code=1,
        message=f"run {NASTY}",
        steps=(step,),
    )


# What chromium needs to stay off a closed network (see the env notes: it otherwise dials out).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Attributes through which a page loads or links to something.
_REFERENCES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}


class Page(HTMLParser):
    """Tags, references, inline styles, all text, and the text of each component/step row."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.references: list[str] = []
        self.css: list[str] = []
        self.text: list[str] = []
        self.rows: list[tuple[str, str]] = []  # (data-component, text) of component rows
        self.steps: list[tuple[str, str]] = []  # (data-step, text) of step rows
        self.sections: list[str] = []  # section ids, in order
        self._row: tuple[str, str, list[str]] | None = None
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self.references += [v or "" for k, v in attrs if k in _REFERENCES]
        self.css += [v or "" for k, v in attrs if k == "style"]
        self._in_style = tag == "style"
        for kind in ("data-component", "data-step"):
            if tag == "tr" and attributes.get(kind) is not None:
                self._row = (kind, attributes[kind] or "", [])
        if tag == "section":
            self.sections.append(attributes.get("id") or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if tag == "tr" and self._row is not None:
            kind, key, parts = self._row
            text = " ".join(" ".join(parts).split())
            (self.rows if kind == "data-component" else self.steps).append((key, text))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css.append(data)
            return
        self.text.append(data)
        if self._row is not None:
            self._row[2].append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def assert_self_contained(text: str) -> Page:
    page = Page(text)
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}, names
    assert all(ref.startswith("#") for ref in page.references), page.references
    css = "\n".join(page.css).lower()
    assert "@import" not in css and "url(" not in css
    assert "http://" not in text and "https://" not in text and "//" not in css
    return page


# -- fleet results, as the Ansible module writes them ---------------------------------------

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


@dataclass
class Guarded:
    """A page in headless chromium whose every request outside ``allowed`` is refused."""

    page: Any  # playwright's Page
    requested: list[str]  # every URL the page asked for
    blocked: list[str]  # those refused
    problems: list[str]  # console errors, page errors, dialogs

    def overflow(self) -> tuple[int, int]:
        """(the page's width, the window's): a page wider than its window scrolls sideways."""
        width, inner = self.page.evaluate(
            "[document.scrollingElement.scrollWidth, window.innerWidth]"
        )
        return int(width), int(inner)


@contextlib.contextmanager
def guarded_page(chromium: str, allowed: Sequence[str]) -> Iterator[Guarded]:
    """A phone-width (375 px) page in Debian's chromium, through Playwright, that may load the
    URLs in ``allowed`` and nothing else: what it asks for beyond them is seen and refused."""
    from playwright.sync_api import Route, sync_playwright

    guarded = Guarded(None, [], [], [])

    def guard(route: Route) -> None:
        if route.request.url in allowed:
            route.continue_()
        else:
            guarded.blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 375, "height": 740})
            context.route("**/*", guard)
            context.on("request", lambda request: guarded.requested.append(request.url))
            page = guarded.page = context.new_page()
            problems = guarded.problems
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
            yield guarded
        finally:
            browser.close()
