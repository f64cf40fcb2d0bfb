"""Every status and fleet report as text, in the format asked for: the one place that picks a
renderer, imported only when a report is written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spdeploy.planner import Plan
    from spdeploy.records import RunRecord
    from spdeploy.reports.fleet import Fleet


def render_status(fmt: str, plan: Plan, runs: Sequence[RunRecord]) -> str:
    """The status report as text in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "junit":
        from spdeploy.reports import junit

        return junit.render([plan])
    if fmt == "prometheus":
        from spdeploy.reports import prometheus

        return prometheus.render(plan, runs)
    if fmt == "html":
        from spdeploy.reports import html

        return html.render([plan], runs)
    from spdeploy.reports import data, views
    from spdeploy.reports.sink import TextSink

    if fmt == "json":
        return json.dumps(data.status_dict(plan), indent=2) + "\n"
    sink = TextSink()
    views.view_status(sink, plan)
    return sink.text()


def render_fleet(fmt: str, fleet: Fleet, *, now: float | None = None) -> str:
    """The fleet report as text: ``table``, ``json`` or ``html``."""
    from spdeploy.reports import views
    from spdeploy.reports.sink import TextSink

    if fmt == "html":
        from spdeploy.reports.fleet_html import render_html

        return render_html(fleet, now=now)
    if fmt == "json":
        from spdeploy.reports.fleet import to_dict

        return json.dumps(to_dict(fleet), indent=2) + "\n"
    sink = TextSink()
    views.view_fleet(sink, fleet)
    return sink.text()
