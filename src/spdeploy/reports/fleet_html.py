"""The fleet report as one HTML page: a hosts × components matrix, worst first, over the
status report's page for every host that has a plan (:mod:`spdeploy.reports.html`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from spdeploy.reports.fleet import (
    BAD_FILE,
    COMPLIANT,
    ERROR,
    FAILED_STEPS,
    NOT_COMPLIANT,
    REBOOT,
    STALE,
    Fleet,
    HostResult,
    duration,
    step_text,
)
from spdeploy.reports.html import when

TITLE = "spdeploy fleet report"


def render_html(fleet: Fleet, title: str = TITLE, *, now: float | None = None) -> str:
    """The status report's page for every host that has a plan, under a hosts × components
    matrix (worst first, each host linked to its section). A host's section is titled
    ``<host>: <target>``; an applied host's run is shown with the steps its result carries."""
    from spdeploy.reports import html

    plans: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    for h in fleet.hosts:
        if h.result is None:
            continue
        label = base = f"{h.host}: {h.result['target']}"
        # host "a: b" at "c" and host "a" at "b: c" read the same; sections and their runs are
        # matched by this label, so a second one gets a number
        n = 1
        while label in labels.values():
            n += 1
            label = f"{base} ({n})"
        labels[h.host] = label
        plans.append({**h.result, "target": label})
        run = _run(h, label)
        if run is not None:
            runs.append(run)
    # the sections come in html's own worst-first order: link each host to its section's anchor
    anchors = {p["target"]: f"target-{i}" for i, p in enumerate(html.worst_first(plans), 1)}
    links = {host: anchors[label] for host, label in labels.items()}
    header = _header(fleet, title, now, links)
    verdict = fleet.headline().split(": ", 1)[0]
    hosts = fleet.hosts[0].host if len(fleet.hosts) == 1 else f"{len(fleet.hosts)} hosts"
    page_title = f"{verdict} · {hosts} · spdeploy"
    return html.render_data(plans, runs, title, now=now, header=header, page_title=page_title)


def _run(h: HostResult, label: str) -> dict[str, Any] | None:
    """The applied run as ``run_dict`` has it, from what the result carries: it finished when
    the host reported, and its exit code and status are the ones ``apply`` gives."""
    if h.result is None or not h.result.get("run_id"):
        return None
    steps: list[Mapping[str, Any]] = list(h.result.get("steps") or ())
    if any(s["status"] in FAILED_STEPS for s in steps):
        code, status = 1, "failed"
    elif h.reboot_required:
        code, status = 3, REBOOT
    else:
        code = 0 if h.result["compliant"] else 1
        status = "ok" if code == 0 else "failed"
    started = min((str(s["started"]) for s in steps if s.get("started")), default=h.checked_at)
    return {
        "run_id": h.result["run_id"],
        "target": label,
        "media": h.result["media"],
        "started": started,
        "finished": h.checked_at,
        "status": status,
        "exit_code": code,
        "message": f"Reported by {h.host} at {when(h.checked_at, '')}.",
        "steps": steps,
    }


_VERDICT_BADGE = {
    ERROR: ("bad", "error"),
    STALE: ("bad", "stale"),
    NOT_COMPLIANT: ("bad", "not compliant"),
    REBOOT: ("warn", "reboot required"),
    COMPLIANT: ("good", "compliant"),
}


def _header(fleet: Fleet, title: str, now: float | None, links: Mapping[str, str]) -> str:
    from spdeploy.reports.html import badge, escape

    verdict, detail = fleet.headline().split(": ", 1)
    kind = "good" if fleet.compliant else "bad"
    generated = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(time.time() if now is None else now)
    )
    times = sorted(h.checked_at for h in fleet.hosts if h.checked_at)
    checked = f"; checked {when(times[0])} to {when(times[-1])}" if times else ""
    return "\n".join(
        [
            f'<header class="report {kind}">',
            f"<h1>{escape(title)}</h1>",
            f'<p class="overall">{badge(kind, verdict)} {escape(detail)}</p>',
            f'<p class="muted">Generated {escape(generated)} by spdeploy from '
            f"{len(fleet.hosts)} result file(s) in {escape(fleet.directory)}{escape(checked)}.</p>",
            "</header>",
            _matrix(fleet, links),
        ]
    )


def _matrix(fleet: Fleet, links: Mapping[str, str]) -> str:
    from spdeploy.reports.html import badge, escape

    heads = ["Host", "Verdict", *fleet.components]
    out = [
        '<section class="fleet" id="fleet" aria-labelledby="fleet-title">',
        '<h2 id="fleet-title">Hosts × components, worst first</h2>',
        '<div class="scroll">',
        '<table class="matrix stack">',
        "<caption>Each component's level and action on each host</caption>",
        "<thead><tr>",
        *(f'<th scope="col">{escape(h)}</th>' for h in heads),
        "</tr></thead>",
        "<tbody>",
    ]
    for h in fleet.hosts:
        name = escape(h.host)
        if h.host in links:
            name = f'<a href="#{links[h.host]}">{name}</a>'
        # "applied 2026-11-25 15:04:05 UTC" wraps between words only, never inside the date
        seen = " ".join(f'<span class="nw">{escape(w)}</span>' for w in _seen(h).split(" "))
        problem = f'<span class="log">{escape(h.problem)}</span>' if h.problem else ""
        out += [
            f'<tr data-host="{escape(h.host)}" data-verdict="{h.verdict}">',
            f'<th scope="row" data-label="Host">{name}',
            f'<span class="name">{seen}</span></th>',
            f'<td class="verdict" data-label="Verdict">{badge(*_VERDICT_BADGE[h.verdict])}'
            f"{problem}</td>",
        ]
        if h.result is None:
            why = (
                "unreadable result file"
                if h.error is not None and h.error.get("code") == BAD_FILE
                else "no result: the task failed before a plan"
            )
            out.append(
                f'<td data-label="Result" colspan="{max(len(fleet.components), 1)}">'
                f'<span class="muted">{why}</span></td>'
            )
        else:
            out += [_cell(c, h) for c in fleet.components]
        out.append("</tr>")
    out += ["</tbody>", "</table>", "</div>", "</section>"]
    return "\n".join(out)


def _cell(component: str, h: HostResult) -> str:
    from spdeploy.reports.html import badge, component_cell, escape

    found = next((c for c in h.components if c["id"] == component), None)
    if found is None:
        text = badge("neutral", "not checked")
    else:
        text = component_cell(found)
        step = h.steps.get(component)
        if step is not None and step["status"] not in ("ok", "skipped"):
            text += f" {badge('warn' if step['status'] == REBOOT else 'bad', step_text(step))}"
    attrs = f'data-label="{escape(component)}" data-component="{escape(component)}"'
    return f"<td {attrs}>{text}</td>"


def _seen(h: HostResult) -> str:
    """``applied 2026-11-25 15:04:05 UTC, 3d 2h ago``."""
    if not h.checked_at:
        return "not read"
    age = f", {duration(h.age_s)} ago" if h.age_s is not None else ""
    return f"{h.mode} {when(h.checked_at)}{age}"
