"""``spdeploy media`` and ``spdeploy scan``: what the media holds, what the target has."""

from __future__ import annotations

from typing import Any

import click

from spdeploy.cliparts import (
    global_options,
    media_option,
    only_skip,
    selection,
    selectors,
    settings_of,
    target_option,
)


@click.command()
@media_option
@selectors
@click.option(
    "--verify",
    is_flag=True,
    help="Hash every file the media's SHA256SUMS lists; exit 1 on a mismatch, a missing file "
    "or no catalog at all.",
)
@global_options
@click.pass_context
def media(ctx: click.Context, /, media: str, verify: bool, **kw: Any) -> int:
    """What the media holds: languages, platforms, each component's installer and version.

    \b
    Example:  spdeploy media --media D:\\
              spdeploy media --media SP4CD.iso --verify

    Exit codes: 0 read (and, with --verify, every file matches SHA256SUMS), 1 --verify found a
    mismatch, a missing file or no catalog, 2 bad input (media, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.media import media as media_report

    s = settings_of(ctx)
    out = s.output()
    bar = out.progress()
    try:
        report = media_report(
            s.profile,
            selection(media, None, kw),
            verify=verify,
            progress=bar.staged_bytes,
            total=lambda n: bar.bytes_task("verifying", n),
        )
    finally:
        bar.staging_done()
    out.show("media", report)
    return 1 if report.verification is not None and not report.verification.passed else 0


@click.command()
@target_option
@click.option("--only", metavar="ID[,ID]", help="Only these component ids.")
@click.option("--skip", metavar="ID[,ID]", help="Leave out these component ids.")
@global_options
@click.pass_context
def scan(ctx: click.Context, target: str, only: str | None, skip: str | None) -> int:
    """Which components are installed on the target, at which version.

    \b
    Example:  spdeploy scan --target C:\\exchsrvr

    Exit codes: 0 scanned (whatever is installed), 2 bad input (target, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.scan import scan_target

    s = settings_of(ctx)
    s.output().show("scan", scan_target(s.profile, target, *only_skip(only, skip)))
    return 0
