"""``spdeploy profiles``: the built-in profiles; show one; check a profile file."""

from __future__ import annotations

import click

from spdeploy.cliparts import (
    A_PROFILE,
    Given,
    global_options,
    require_command,
    settings_of,
)


@click.group(invoke_without_command=True)
@click.pass_context
def profiles(ctx: click.Context) -> None:
    """Built-in profiles; show one; validate a profile file."""
    require_command(ctx)


@profiles.command("list")
@global_options
@click.pass_context
def profiles_list(ctx: click.Context) -> int:
    """The built-in profiles.

    \b
    Example:  spdeploy profiles list

    Exit codes: 0 listed, 2 bad input.
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import list_profiles

    settings_of(ctx).output().show("profiles", list_profiles())
    return 0


@profiles.command("show")
@click.argument("name", type=Given(A_PROFILE))
@global_options
@click.pass_context
def profiles_show(ctx: click.Context, name: str) -> int:
    """A profile's components in execution order (NAME or FILE).

    \b
    Example:  spdeploy profiles show exchange55
              spdeploy profiles show site.toml

    Exit codes: 0 shown, 2 bad input (no such profile, or an invalid one).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import show

    settings_of(ctx).output().show("profile", show(name))
    return 0


@profiles.command("check")
@click.argument("file", type=Given("a profile TOML file"))
@global_options
@click.pass_context
def profiles_check(ctx: click.Context, file: str) -> int:
    """Validate a profile file; errors name the file, the component and the key.

    \b
    Example:  spdeploy profiles check site.toml

    Exit codes: 0 valid, 2 bad input: invalid or unreadable (the message names the file, the
    component and the key).
    Any command: 70 a bug (traceback in crash.log), 130 interrupted.
    """
    from spdeploy.commands.profiles import check

    settings_of(ctx).output().show("profile", check(file), checked=True)
    return 0
