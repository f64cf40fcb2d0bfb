"""``spdeploy report``: a fleet's compliance, from the hosts' result files."""

from __future__ import annotations

from pathlib import Path

import click

from spdeploy.cliparts import (
    A_FILE,
    Given,
    global_options,
    report_settings,
    to_stdout,
)


@click.command()
@click.option(
    "--from",
    "directory",
    required=True,
    type=Given("a folder of <host>.json results", click.Path(path_type=Path)),
    metavar="DIR",
    help="The folder of per-host results, <host>.json (the Ansible module's report_dir).",
)
@click.option(
    "--max-age",
    "max_age",
    default="7d",
    show_default=True,
    metavar="DURATION",
    help="A result older than this (30d, 12h, 90m) is stale: not compliant, whatever it says.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "html"]),
    default="table",
    show_default=True,
    help="table (one row per host), json (scripts), html (hosts x components, then each host's "
    "status report, on one self-contained page).",
)
@click.option(
    "--output",
    "output_file",
    type=Given(A_FILE, click.Path(path_type=Path, dir_okay=False)),
    metavar="FILE",
    help="Write the report to FILE (atomically: readers never see half a file) instead of "
    "stdout; its format is --format's, else its extension's: .txt table, .json, .html.",
)
@global_options
@click.pass_context
def report(
    ctx: click.Context,
    directory: Path,
    max_age: str,
    fmt: str,
    output_file: Path | None,
) -> int:
    """Fleet report: every host's result in DIR, worst first.

    \b
    Example:  spdeploy report --from results/
              spdeploy report --from results/ --max-age 24h --output fleet.html

    Exit codes: 0 every host at the media's level with no error and a recent result (a pending
    reboot is shown, not failed), 1 otherwise (an unreadable result file is that host's error,
    an old one is stale), 2 bad input (DIR missing or without <host>.json files, a bad
    --max-age or --output).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.report import report as make_report

    s, asked_json, explicit = report_settings(ctx, fmt)
    file_format = fmt if explicit else None
    hosts = make_report(directory, max_age=max_age, output=output_file, file_format=file_format)
    fmt = "json" if s.json else fmt
    to_stdout(s, "fleet", hosts, fmt, output_file is not None, asked_json)
    return hosts.exit_code
