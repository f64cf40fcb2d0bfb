"""Named fault points: where the fault-injection tests kill spdeploy as a power cut would.

A kill at a chosen instant is the only way to test the windows that random kills hit once in
dozens of tries (an installer spawned, its process not yet in the journal). ``SPDEPLOY_FAULT``
names the point; unset, each point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "SPDEPLOY_FAULT"


def point(name: str) -> None:
    """Die here, at once and without cleaning up, when ``SPDEPLOY_FAULT`` is ``name``."""
    if os.environ.get(FAULT_ENV) != name:
        return
    kill = getattr(signal, "SIGKILL", None)
    if kill is not None:
        os.kill(os.getpid(), kill)
    os._exit(137)  # Windows has no SIGKILL: an exit that runs no handler is the nearest
