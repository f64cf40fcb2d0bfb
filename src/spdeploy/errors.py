"""spdeploy's exceptions: one tree for every error a user can be shown, each class carrying
the exit code the user sees (SPEC §4). These are all the classes this module defines:

SpdeployError (1)               base: one line for the user, one exit code, a stable ``code``
├── NotCompliant (1)            status found drift
├── Declined (1)                the person asked said no: nothing was run
├── Refused (1)                 apply refused before running (missing-on-media, integrity)
│   └── PlanChanged (1)         apply --plan: the media or the target changed since it was saved
├── StepFailed (1)
├── BadInput (2)                usage, profile, media, target
│   ├── NeedsTerminal (2)       a question or an installer needs a person, and none is there
│   ├── ProfileError (2)
│   ├── MediaError (2)
│   ├── TargetError (2)
│   ├── PlanFileError (2)       a saved plan that cannot be read
│   └── ProbeError (2)
│       └── NotApplicable (2)   a probe that cannot run on this system
├── LockHeld (4)
├── Internal (70)               a bug: one line for the user, the traceback in crash.log
└── Interrupted (130)           Ctrl-C; the message names the run and how to resume it

RunInterrupted is outside that tree: a KeyboardInterrupt, so that every ``except
KeyboardInterrupt`` on the way up still sees Ctrl-C. The executor raises it once the run is
recorded as interrupted, carrying the run, media and target; the CLI turns it into
Interrupted (130) with the ``apply --resume`` command. An exception a module raises and catches
within itself (never reaching the user) is not part of the tree.
"""

from __future__ import annotations

from collections.abc import Iterable

_CONTROLS = {c: f"\\x{c:02x}" for c in range(32) if c != 9} | {10: "\\n", 13: "\\r"}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean args?`` for a close match (a typo), else nothing: for the messages of
    errors about a name that is not one of ``choices``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


class SpdeployError(Exception):
    """Base of every expected error: one line for the user, one exit code."""

    exit_code = 1
    code = "error"

    def __init__(self, message: str) -> None:
        # One line, always: a profile's own strings (ids, keys, paths) may hold line breaks.
        message = message.translate(_CONTROLS)
        super().__init__(message)
        self.message = message


class NotCompliant(SpdeployError):
    code = "not-compliant"


class Declined(SpdeployError):
    code = "declined"


class Refused(SpdeployError):
    code = "refused"


class PlanChanged(Refused):
    code = "plan-changed"


class StepFailed(SpdeployError):
    code = "step-failed"


class BadInput(SpdeployError):
    exit_code = 2
    code = "usage"


class NeedsTerminal(BadInput):
    """Something needs a person at a terminal (a confirmation, an interactive installer)."""

    code = "needs-terminal"


class ProfileError(BadInput):
    code = "profile"


class MediaError(BadInput):
    code = "media"


class TargetError(BadInput):
    code = "target"


class PlanFileError(BadInput):
    code = "plan-file"


class ProbeError(BadInput):
    code = "probe"


class NotApplicable(ProbeError):
    """The probe kind cannot run here (a registry probe on Linux)."""

    code = "probe-not-applicable"


class LockHeld(SpdeployError):
    exit_code = 4
    code = "locked"


class Internal(SpdeployError):
    """An unexpected exception: a bug. One line for the user, the traceback in the crash log."""

    exit_code = 70
    code = "internal"


class Interrupted(SpdeployError):
    exit_code = 130
    code = "interrupted"


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during an apply, after the run was recorded as interrupted: still a
    KeyboardInterrupt for every caller, with what the command line needs to say how to resume."""

    def __init__(
        self, run_id: str, media: str, target: str, selection: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(run_id)
        self.run_id = run_id
        self.media = media
        self.target = target
        # the options that select what the run selected (--profile, --language, --platform,
        # --only), for a run whose command line did not say it (apply --plan FILE)
        self.selection = selection
