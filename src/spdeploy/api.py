"""spdeploy as a library: what the Ansible module, or any other program, calls.

Two functions, each returning the stable JSON shapes of SPEC §5 as plain dicts, exactly what
``spdeploy plan --json`` and ``spdeploy apply --json`` print::

    from spdeploy import api

    report = api.check("D:/", "C:/exchsrvr")            # plan / compliance; changes nothing
    if not report["compliant"]:
        result = api.apply("D:/", "C:/exchsrvr", args={"server": "/your /switches"})
        if result["reboot_required"]:
            ...  # reboot, then call apply() again: it resumes the same run

Nothing here prompts or prints. Expected errors raise :class:`spdeploy.errors.SpdeployError`
subclasses, each with ``.code``, ``.message`` and ``.exit_code`` (the CLI's exit code): bad
input (2), an apply refused before anything ran (1), another apply holding the target's lock
(4). A step that fails is not an exception: ``apply`` returns, and its result says
``"compliant": false`` with the failed step in ``"steps"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from spdeploy.errors import BadInput
from spdeploy.session import Selection, prepare

__all__ = ["DEFAULT_PROFILE", "apply", "check"]

DEFAULT_PROFILE = "exchange55"

PathLike = str | os.PathLike[str]


def check(
    media: PathLike,
    target: PathLike,
    *,
    profile: str = DEFAULT_PROFILE,
    language: str | None = None,
    platform: str | None = None,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    state_dir: PathLike | None = None,
) -> dict[str, Any]:
    """The plan, which is the compliance report (``spdeploy status --json``); changes nothing.

    ``profile`` is a built-in profile's name or a profile file. ``language`` and ``platform``
    default to what the media holds and this machine is; ``only``/``skip`` take component ids.
    ``state_dir`` is where a pending reboot is remembered (as for :func:`apply`).
    """
    from spdeploy import reboot
    from spdeploy.reports.data import status_dict

    # closed on the way out: a long-lived caller (Ansible, a service) must not leak the image
    with prepare(profile, _selection(media, target, language, platform, only, skip)) as prep:
        pending = reboot.pending(_state(state_dir), prep.target)
        return status_dict(prep.plan()._replace(reboot_pending=pending))


def apply(
    media: PathLike,
    target: PathLike,
    *,
    profile: str = DEFAULT_PROFILE,
    language: str | None = None,
    platform: str | None = None,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    args: Mapping[str, str | Sequence[str]] | None = None,
    timeout: float = 3600.0,
    state_dir: PathLike | None = None,
    resume: bool = True,
    dry_run: bool = False,
    ignore_order: bool = False,
    refuse_on_pending_reboot: bool = False,
) -> dict[str, Any]:
    """Bring every installed component to the media's level; the SPEC §5 ``apply`` dict.

    ``args`` maps a component id to its installer's switches, as one string split like a shell
    would (``"/q /r"``) or as a list. There is never a terminal here, so an installer the
    profile marks interactive is refused (``BadInput``, before anything runs) unless ``args``
    or the profile give its switches. ``timeout`` is per installer, in seconds. ``state_dir``
    holds the history (default: ``$SPDEPLOY_STATE``, else the user data folder).

    ``resume`` (default on) continues the target's last run if a reboot or a crash cut it
    short, re-probing first; with nothing to resume it is an ordinary apply. So calling
    ``apply`` again after the reboot it asked for is always right.

    ``dry_run`` runs nothing and writes nothing, not even the history: it makes the checks the
    real run makes before its first installer (every installed component on the media, no
    interactive installer without switches), raising what the real run would raise, and
    returns the status dict, as ``check`` does. Ansible's check mode is this.

    ``ignore_order`` lets ``only``/``skip`` leave out a prerequisite (the profile's ``after``)
    that is below the level; without it that is refused (``BadInput``), as on the command line.

    ``refuse_on_pending_reboot`` refuses (``Refused``, nothing run) while the operating system
    itself waits for a reboot (the result's ``system_reboot_signals``); by default apply goes on.
    """
    from spdeploy import reboot
    from spdeploy.executor import apply as run
    from spdeploy.preflight import ApplyOptions, commands_for, refuse_early
    from spdeploy.reports.data import apply_dict, status_dict
    from spdeploy.store import Store

    if not timeout > 0:
        raise BadInput(f"timeout must be a positive number of seconds, got {timeout!r}")
    switches = _switches(args or {})
    with prepare(profile, _selection(media, target, language, platform, only, skip)) as prep:
        prep.profile.require(switches, "args")
        options = ApplyOptions(
            timeout=timeout,
            resume=resume,
            args=switches,
            has_terminal=False,
            ignore_order=ignore_order,
            refuse_on_pending_reboot=refuse_on_pending_reboot,
        )
        if dry_run:
            plan = prep.plan()
            refuse_early(prep, plan, commands_for(prep, plan, options, Path("staged")), options)
            pending = reboot.pending(_state(state_dir), prep.target)
            return status_dict(plan._replace(reboot_pending=pending))
        return apply_dict(run(prep, Store(_state(state_dir).absolute()), options))


def _state(state_dir: PathLike | None) -> Path:
    from spdeploy.fsutil import default_state_dir

    return Path(state_dir) if state_dir is not None else default_state_dir()


def _selection(
    media: PathLike,
    target: PathLike,
    language: str | None,
    platform: str | None,
    only: Iterable[str],
    skip: Iterable[str],
) -> Selection:
    return Selection(
        media=os.fspath(media),
        target=os.fspath(target),
        language=language,
        platform=platform,
        only=_ids(only, "only"),
        skip=_ids(skip, "skip"),
    )


def _ids(values: Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(values, str):  # "a,b" as the CLI takes it, not the letters of one id
        values = values.split(",")
    ids = tuple(v.strip() for v in values)
    if not all(ids):
        raise BadInput(f"{name}: an empty component id")
    return ids


def _switches(args: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[str, ...]]:
    from spdeploy.switches import split_switches

    result: dict[str, tuple[str, ...]] = {}
    for cid, value in args.items():
        if isinstance(value, str):
            result[cid] = split_switches(value, f"args {cid}={value!r}")
        elif isinstance(value, Sequence) and all(isinstance(a, str) for a in value):
            result[cid] = tuple(value)
        else:
            raise BadInput(
                f"args {cid}: expected a string of switches or a list of strings, got {value!r}"
            )
    return result
