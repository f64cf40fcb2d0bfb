"""One self-contained HTML page (``status --format html``): mail it, attach it, print it.

Inline CSS only, no script, nothing fetched (a Content-Security-Policy says so to the browser
too). Targets come worst first; in each, the suite-compliance finding (Q242250's trap) comes
before the component table, then the recent runs with their steps. Status is always spelled out
in text beside its colour; tables stack into cards on a phone and print in black and white.

:func:`render_data` works on the SPEC §5 JSON (``plan_dict``, ``run_dict``), so a fleet report
can feed it what it collected from many hosts (``reports/fleet.py``, with its own ``header``);
:func:`render` is the same for records.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from spdeploy.planner import ABSENT, CURRENT, MISSING, UPDATE
from spdeploy.reports.html_style import STYLE

if TYPE_CHECKING:
    from spdeploy.planner import Plan
    from spdeploy.store import RunRecord

TITLE = "spdeploy compliance report"

# (css class, symbol, text); the symbol is decoration, the text carries the meaning.
_ACTION = {
    UPDATE: ("warn", "↑", "update"),
    CURRENT: ("good", "✓", "current"),
    ABSENT: ("neutral", "–", "absent"),
    MISSING: ("bad", "✗", "missing on media"),
}
_STATUS = {
    "ok": "good",
    "failed": "bad",
    "timeout": "bad",
    "refused": "bad",
    "reboot-required": "warn",
    "interrupted": "warn",
}
_FINDING_TITLE = {
    "core-updated-components-behind": "core updated, components left behind",
    "component-vanished": "a component vanished during the run",
    "component-not-serviced": "a component left behind with nothing to bring it along",
    "prerequisite-not-met": "a prerequisite is not met",
}
_SYMBOL = {"good": "✓", "bad": "✗", "warn": "!", "neutral": "–"}
# Controls and lone surrogates (undecodable file names) cannot be written out as UTF-8 text.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def render(
    plans: Sequence[Plan],
    runs: Sequence[RunRecord],
    title: str = TITLE,
    *,
    now: float | None = None,
) -> str:
    """The report for the plans (one target or several) and their targets' recent runs."""
    from spdeploy.reports.data import run_dict, status_dict

    return render_data([status_dict(p) for p in plans], [run_dict(r) for r in runs], title, now=now)


def render_data(
    plans: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    title: str = TITLE,
    *,
    now: float | None = None,
    header: str | None = None,
    page_title: str | None = None,
) -> str:
    """The report for SPEC §5 ``status`` documents and ``history`` runs (``now``: when taken).

    ``header``: HTML shown above the targets instead of the verdict computed from ``plans``
    alone (a fleet report also counts the hosts that produced no plan). ``page_title``: the
    window's title, by default the verdict and the target ("NOT COMPLIANT · exchsrvr on HOST ·
    spdeploy"), so a tab or a bookmark says it without being opened.
    """
    ordered = worst_first(plans)
    page_title = page_title or _page_title(ordered)
    generated = time.strftime(
        "%Y-%m-%d %H:%M UTC", time.gmtime(time.time() if now is None else now)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        '<meta name="generator" content="spdeploy">',
        f"<title>{_e(page_title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        _header(ordered, title, generated) if header is None else header,
        "<main>",
        *(_target(i, plan, runs) for i, plan in enumerate(ordered, 1)),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def verdict(plans: Sequence[Mapping[str, Any]]) -> str:
    """NOT COMPLIANT, REBOOT PENDING, COMPLIANT or NO TARGETS: the page's one word."""
    if not plans:
        return "NO TARGETS"
    if not all(p["compliant"] for p in plans):
        return "NOT COMPLIANT"
    return "REBOOT PENDING" if any(p.get("reboot_pending") for p in plans) else "COMPLIANT"


def _page_title(plans: Sequence[Mapping[str, Any]], host: str | None = None) -> str:
    import socket

    where = host or socket.gethostname()
    if len(plans) == 1:
        what = f"{folder_name(str(plans[0]['target']))} on {where}"
    else:
        what = f"{len(plans)} targets on {where}"
    return f"{verdict(plans)} · {what} · spdeploy"


def folder_name(path: str) -> str:
    """The last part of a path written on Windows or POSIX (``C:\\exchsrvr`` -> exchsrvr)."""
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1] or path


def worst_first(plans: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Not compliant first: missing installers (errors) before updates, most behind first."""

    def key(plan: Mapping[str, Any]) -> tuple[bool, bool, int]:
        actions = [c["action"] for c in plan["components"]]
        behind = sum(1 for a in actions if a not in (CURRENT, ABSENT))
        return bool(plan["compliant"]), MISSING not in actions, -behind

    return sorted(plans, key=key)  # stable: ties keep the given order


def _header(plans: Sequence[Mapping[str, Any]], title: str, generated: str) -> str:
    failing = [p for p in plans if not p["compliant"]]
    findings = sum(len(p.get("findings") or ()) for p in plans)
    if not plans:
        kind, verdict, detail = "neutral", "NO TARGETS", "nothing was checked"
    elif failing:
        kind, verdict = "bad", "NOT COMPLIANT"
        detail = f"{len(failing)} of {len(plans)} target(s) not at the media's level"
        if findings:
            detail += f"; {findings} suite-compliance finding(s)"
    elif rebooting := [p for p in plans if p.get("reboot_pending")]:
        kind, verdict = "warn", "REBOOT PENDING"
        detail = (
            f"all {len(plans)} target(s) at the media's level; {len(rebooting)} wait(s) for the "
            "reboot a run asked for"
        )
    else:
        kind, verdict = "good", "COMPLIANT"
        detail = f"all {len(plans)} target(s) at the media's level"
    out = [
        f'<header class="report {kind}">',
        f"<h1>{_e(title)}</h1>",
        f'<p class="overall">{_badge(kind, verdict)} {_e(detail)}</p>',
        f'<p class="muted">Generated {_e(generated)} by spdeploy.</p>',
    ]
    if len(plans) > 1:
        out.append('<nav aria-label="Targets"><ul>')
        for i, plan in enumerate(plans, 1):
            state = ("good", "compliant") if plan["compliant"] else ("bad", "not compliant")
            out.append(f'<li><a href="#target-{i}">{_e(plan["target"])}</a> {_badge(*state)}</li>')
        out.append("</ul></nav>")
    out.append("</header>")
    return "\n".join(out)


def _target(index: int, plan: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> str:
    state = ("good", "COMPLIANT") if plan["compliant"] else ("bad", "NOT COMPLIANT")
    anchor = f"target-{index}"
    out = [
        f'<section class="target" id="{anchor}" aria-labelledby="{anchor}-title">',
        f'<h2 id="{anchor}-title">{_badge(*state)} {_e(plan["target"])}</h2>',
        '<dl class="facts">',
        f"<dt>Profile</dt><dd>{_e(plan['profile'])}</dd>",
        f"<dt>Media</dt><dd>{_e(plan['media'])}</dd>",
        f"<dt>Language, platform</dt><dd>{_e(plan['language'])}, {_e(plan['platform'])}</dd>",
        "</dl>",
        _reboot(plan),
        _findings(plan),
        _reboot_signals(plan),
        _components(plan),
        _runs(plan, runs),
        "</section>",
    ]
    return "\n".join(out)


def _reboot(plan: Mapping[str, Any]) -> str:
    """The banner of a reboot a run asked for that has not happened: not finished yet."""
    pending = plan.get("reboot_pending")
    if not isinstance(pending, Mapping):
        return ""
    return (
        '<div class="finding reboot" role="status">'
        "<h3>Reboot pending</h3>"
        f"<p><strong>Run {_e(pending.get('run_id'))} asked for a reboot "
        f"({_e(pending.get('requested_at'))}) and the machine has not booted since.</strong> "
        "Installed files take effect after it: reboot, then run "
        "<code>spdeploy apply --resume</code> to verify.</p>"
        "</div>"
    )


def _findings(plan: Mapping[str, Any]) -> str:
    findings: list[Mapping[str, Any]] = list(plan.get("findings") or ())
    if not findings:
        return (
            '<p class="suite-ok"><strong>Suite compliance: passed.</strong> '
            "No component was left behind the core it runs on.</p>"
        )
    out = []
    for f in findings:
        out += [
            '<div class="finding">',
            f"<h3>Suite compliance: FAILED, {_e(_FINDING_TITLE.get(f['code'], f['code']))}</h3>",
            f"<p><strong>{_e(f['message'])}</strong></p>",
            f'<p class="muted">Finding <code>{_e(f["code"])}</code>; components: '
            f"{_e(', '.join(map(str, f['components'])))}</p>",
            "</div>",
        ]
    return "\n".join(out)


def _reboot_signals(plan: Mapping[str, Any]) -> str:
    """The operating system's own pending reboot, with what each signal holds."""
    signals: list[Mapping[str, Any]] = list(plan.get("system_reboot_signals") or ())
    if not signals:
        return ""
    out = [
        '<div class="reboot-signals">',
        "<p><strong>The system is waiting for a reboot of its own</strong> "
        "(installers may fail until it has rebooted):</p>",
        "<ul>",
    ]
    for signal in signals:
        entries = "".join(f"<li><code>{_e(e)}</code></li>" for e in signal.get("entries") or ())
        out.append(
            f"<li>{_e(signal.get('name'))} <code>{_e(signal.get('path'))}</code>"
            + (f"<ul>{entries}</ul>" if entries else "")
            + "</li>"
        )
    out += ["</ul>", "</div>"]
    return "\n".join(out)


def _components(plan: Mapping[str, Any]) -> str:
    out = [
        '<table class="components stack">',
        "<caption>Components, in execution order</caption>",
        "<thead><tr>",
        *(
            f'<th scope="col">{h}</th>'
            for h in ("Component", "Level", "Version", "Action", "Reason")
        ),
        "</tr></thead>",
        "<tbody>",
    ]
    for c in plan["components"]:
        action = str(c["action"])
        kind, symbol, text = _ACTION.get(action, ("neutral", "?", action))
        out += [
            f'<tr class="{_e(action)}" data-component="{_e(c["id"])}">',
            f'<th scope="row" data-label="Component">{_e(c["id"])}'
            f'<span class="name">{_e(c["name"])}</span></th>',
            f'<td data-label="Level">{_arrow(_levels(c))}</td>',
            f'<td data-label="Version">{_arrow(_versions(c))}</td>',
            f'<td data-label="Action">{_badge(kind, text, symbol)}</td>',
            f'<td data-label="Reason">{_e(c["reason"])}</td>',
            "</tr>",
        ]
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


# An arrow in the components' table is what is still to do; in a run's steps, what happened:
# the words say which, so "SP2 → SP4" is never read the wrong way round.
TO_DO = "to do: "


def _levels(c: Mapping[str, Any]) -> str:
    """``to do: SP2 → SP4`` for a component behind, ``SP4`` when current, "not installed" when
    absent."""
    media = c.get("media_level") or c.get("media_version") or "?"
    if c["action"] == ABSENT:
        return f"not installed (media {media})"
    installed = c.get("level") or c.get("version") or "unknown"
    if c["action"] == CURRENT:
        return f"{installed} (media {media})"
    return f"{TO_DO}{installed} → {media}"


def _versions(c: Mapping[str, Any]) -> str:
    if c["action"] == ABSENT:
        return f"— (media {c.get('media_version') or '?'})"
    installed = c.get("version") or "unknown"
    if c["action"] == CURRENT:
        return str(installed)
    return f"{TO_DO}{installed} → {c.get('media_version') or '?'}"


def _happened(step: Mapping[str, Any]) -> str:
    """What the step did: ``5.5.2448.0 → 5.5.2653.0 done``; ``5.5.2448.0, unchanged``; or,
    for a step that failed after the version moved, ``5.5.2448.0 → 5.5.2653.0 (changed)``."""
    before, after = step.get("version_before") or "?", step.get("version_after") or "?"
    if before == after:
        return f"{before}, unchanged"
    done = step.get("status") in ("ok", "reboot-required")
    return f"{before} → {after} {'done' if done else '(changed)'}"


def _runs(plan: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> str:
    # Newest first; SPEC §5 times have whole seconds, so ties keep the given (newest-first) order.
    mine = sorted(
        (r for r in runs if r["target"] == plan["target"]),
        key=lambda r: str(r["started"]),
        reverse=True,
    )
    out = ["<h3>Recent runs</h3>"]
    if not mine:
        out.append('<p class="muted">No apply run recorded for this target.</p>')
    for run in mine:
        status = str(run["status"])
        exit_code = "-" if run.get("exit_code") is None else str(run["exit_code"])
        out += [
            f'<div class="run" data-run="{_e(run["run_id"])}">',
            f"<h4>Run {_e(run['run_id'])} {_badge(_STATUS.get(status, 'neutral'), status)}</h4>",
            f"<p>Started {_e(when(run['started']))}, finished {_e(when(run.get('finished')))}"
            f"; exit code {_e(exit_code)}; media {_e(run.get('media'))}</p>",
        ]
        if run.get("message"):
            out.append(f"<p>{_e(run['message'])}</p>")
        out.append(_steps(run))
        out.append("</div>")
    return "\n".join(out)


def _steps(run: Mapping[str, Any]) -> str:
    steps: list[Mapping[str, Any]] = list(run.get("steps") or ())
    if not steps:
        return '<p class="muted">No steps ran.</p>'
    headers = ("Component", "Status", "Exit code", "Versions", "Duration", "Message")
    out = [
        '<table class="steps stack">',
        f"<caption>Steps of run {_e(run['run_id'])}</caption>",
        "<thead><tr>",
        *(f'<th scope="col">{h}</th>' for h in headers),
        "</tr></thead>",
        "<tbody>",
    ]
    for s in steps:
        status = str(s["status"])
        exit_code = "-" if s.get("exit_code") is None else str(s["exit_code"])
        versions = _happened(s)
        duration = "-" if s.get("duration_s") is None else f"{float(s['duration_s']):.2f} s"
        log = f'<span class="log">log: {_e(s["log"])}</span>' if s.get("log") else ""
        log += _remedies(s)
        out += [
            f'<tr data-step="{_e(s["id"])}">',
            f'<th scope="row" data-label="Component">{_e(s["id"])}</th>',
            f'<td data-label="Status">{_badge(_STATUS.get(status, "neutral"), status)}</td>',
            f'<td data-label="Exit code">{_e(exit_code)}</td>',
            f'<td data-label="Versions">{_arrow(versions)}</td>',
            f'<td data-label="Duration">{_e(duration)}</td>',
            f'<td data-label="Message">{_e(s.get("message") or "")}{log}</td>',
            "</tr>",
        ]
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def _remedies(step: Mapping[str, Any]) -> str:
    """Under a failed step: the known failures its profile matched, article and remedy."""
    hits: list[Mapping[str, Any]] = list(step.get("known_failures") or ())
    if not hits:
        return ""
    items = "".join(
        f"<li><strong>Known failure {_e(h.get('article'))}:</strong> {_e(h.get('remedy'))} "
        f'<span class="muted">(matched <code>{_e(h.get("match"))}</code> in '
        f"{_e(h.get('in'))})</span></li>"
        for h in hits
    )
    return f'<ul class="remedies">{items}</ul>'


def component_cell(c: Mapping[str, Any]) -> str:
    """A component's level and action in a few words: a cell of a hosts × components matrix."""
    action = str(c["action"])
    kind, symbol, text = _ACTION.get(action, ("neutral", "?", action))
    if action == ABSENT:
        level = "not installed"
    elif action == CURRENT:
        level = str(c.get("level") or c.get("version") or "unknown")
    else:  # the badge beside it says it is to do: a matrix cell stays short
        level = _levels(c).removeprefix(TO_DO)
    return f"{_arrow(level)} {_badge(kind, text, symbol)}"


def badge(kind: str, text: str, symbol: str | None = None) -> str:
    """A status in text beside its colour: ``kind`` is good, bad, warn or neutral."""
    return _badge(kind, text, symbol)


def escape(value: Any) -> str:
    """Text as this page writes it: markup escaped, what UTF-8 cannot carry as U+FFFD."""
    return _e(value)


def _arrow(text: str) -> str:
    """``SP2 → SP4`` may wrap at the arrow only: a version never breaks in two."""
    lead = TO_DO if text.startswith(TO_DO) else ""
    parts = text[len(lead) :].split(" → ")
    return _e(lead) + " → ".join(f'<span class="nw">{_e(part)}</span>' for part in parts)


def when(iso: Any, missing: str = "(not finished)") -> str:
    """``2026-11-25T14:53:56Z`` -> ``2026-11-25 14:53:56 UTC``; ``missing`` when there is none
    (a run still going)."""
    if not iso:
        return missing
    text = str(iso)
    return text[:-1].replace("T", " ") + " UTC" if text.endswith("Z") else text


def _badge(kind: str, text: str, symbol: str | None = None) -> str:
    mark = _SYMBOL.get(kind, "") if symbol is None else symbol
    return (
        f'<span class="badge {kind}"><span aria-hidden="true">{_e(mark)}</span> {_e(text)}</span>'
    )


def _e(value: Any) -> str:
    """Escaped text: ``&<>"'`` as entities; what UTF-8 cannot carry as U+FFFD."""
    return html.escape(_UNPRINTABLE.sub("\ufffd", "" if value is None else str(value)))
