"""``spdeploy status``: one target's compliance, on stdout and in files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from spdeploy.cliparts import (
    A_FILE,
    Given,
    global_options,
    media_option,
    report_settings,
    selection,
    selectors,
    target_option,
    to_stdout,
)


@click.command()
@media_option
@target_option
@selectors
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "junit", "prometheus", "html"]),
    default="table",
    show_default=True,
    help="table (people at a console), json (scripts), junit (CI servers), prometheus "
    "(node_exporter's textfile collector), html (one self-contained page).",
)
@click.option(
    "--output",
    "output_files",
    type=Given(A_FILE, click.Path(path_type=Path, dir_okay=False)),
    metavar="FILE",
    multiple=True,
    help="Write the report to FILE (atomically: readers never see half a file) instead of "
    "stdout. Repeat it to write several formats from one probe of the target, each told by its "
    "extension: .txt table, .json, .xml JUnit, .prom Prometheus, .html.",
)
@global_options
@click.pass_context
def status(
    ctx: click.Context,
    /,
    media: str,
    target: str,
    fmt: str,
    output_files: tuple[Path, ...],
    **kw: Any,
) -> int:
    """Compliance report: exit 0 when every installed component is at the media's level.

    \b
    Example:  spdeploy status --media D:\\ --target C:\\exchsrvr
              spdeploy status --media D:\\ --target C:\\exchsrvr --output s.html

    Exit codes: 0 compliant, 1 not compliant (a component behind or missing-on-media), 2 bad
    input (media, target, profile, selectors, an --output that cannot be written), 3 compliant
    but a reboot a run on this target asked for has not happened yet.
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.status import status as make_report

    s, asked_json, explicit = report_settings(ctx, fmt)
    fmt = "json" if s.json else fmt
    if explicit and len(output_files) > 1:
        raise click.UsageError(
            "--format applies to one --output; with several, each file's extension says its format"
        )
    # --json is what stdout holds; a file's format is --format's, else its extension's
    report = make_report(
        s.profile,
        selection(media, target, kw),
        s.state_dir(),
        stdout_format=fmt,
        file_format=fmt if explicit else None,
        outputs=output_files,
    )
    to_stdout(s, "status", report.plan, fmt, bool(output_files), asked_json, report.runs)
    return report.exit_code
