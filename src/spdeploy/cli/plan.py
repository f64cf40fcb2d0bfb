"""``spdeploy plan``: one action per component, in order, with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from spdeploy.cliparts import (
    A_FILE,
    Given,
    global_options,
    media_option,
    selection,
    selectors,
    settings_of,
    target_option,
)


@click.command()
@media_option
@target_option
@selectors
@click.option(
    "--save",
    "save_file",
    type=Given(A_FILE, click.Path(path_type=Path)),
    metavar="FILE",
    help="Also write the plan, the installers' SHA-256 fingerprints and the inventory to FILE, "
    "for `spdeploy apply --plan FILE`.",
)
@global_options
@click.pass_context
def plan(
    ctx: click.Context,
    /,
    media: str,
    target: str,
    save_file: Path | None,
    **kw: Any,
) -> int:
    """One action per component, in execution order, with the reason.

    \b
    Example:  spdeploy plan --media D:\\ --target C:\\exchsrvr
              spdeploy plan --media D:\\ --target C:\\exchsrvr --save approved.json

    Exit codes: 0 every installed component can be brought to the level, 1 the media lacks an
    installer for one (missing-on-media), 2 bad input (media, target, profile, selectors).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.plan import make_plan, plan_exit_code

    s = settings_of(ctx)
    result = make_plan(s.profile, selection(media, target, kw), save_file)
    out = s.output()
    out.show("plan", result, always=True)
    if save_file is not None:
        from spdeploy.reports.views import view_plan_saved

        view_plan_saved(out, save_file)
    return plan_exit_code(result)
