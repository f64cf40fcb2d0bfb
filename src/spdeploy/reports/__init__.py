"""Renderers of results: the stable JSON shapes (SPEC §5), and status reports for other tools.

``status --format`` picks one: ``table`` and ``json`` (what the terminal and scripts read),
``junit`` (CI servers), ``prometheus`` (node_exporter's textfile collector), ``html`` (people).
Each renderer module is imported only when its format is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from spdeploy.planner import Plan
    from spdeploy.store import RunRecord

FORMATS = ("table", "json", "junit", "prometheus", "html")
NEEDS_HISTORY = ("prometheus", "html")  # these show the last runs as well as the plan
_BY_EXTENSION = {
    ".txt": "table",
    ".json": "json",
    ".xml": "junit",
    ".prom": "prometheus",
    ".html": "html",
    ".htm": "html",
}


def format_for(path: Path, chosen: str | None) -> str | None:
    """The format to write ``path`` in: the one chosen, else the extension's, else None."""
    return chosen or _BY_EXTENSION.get(path.suffix.lower())


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
    import io

    from spdeploy.output import Output

    buffer = io.StringIO()
    Output(json_mode=fmt == "json", stream=buffer).status(plan)
    return buffer.getvalue()
