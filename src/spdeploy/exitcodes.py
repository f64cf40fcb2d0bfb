"""Installer exit codes as the system gives them, and as people should read them.

Windows keeps a process's whole exit code, a DWORD: 3010 ("reboot required") and 1641 ("reboot
started") arrive as they are, and a crash ends the process with its NTSTATUS, such as 0xC0000005
for an access violation. Python may hand that code over unsigned (3221225477, ``subprocess``)
or signed (-1073741819, other APIs), so it is turned into the DWORD once, where it is read, and a
profile may name it either way. A POSIX status keeps 8 bits, and a negative code there means the
process was killed by that signal.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping

__all__ = ["describe", "dword", "meaning", "normalise", "short"]

_DWORD = 0xFFFFFFFF
_CRASH = 0xC0000000  # NTSTATUS severity "error": the process died, it did not choose this code
# The NTSTATUS codes a crashing installer ends with, and the names Windows' own tools give them.
NTSTATUS: Mapping[int, str] = {
    0x80000003: "breakpoint",
    0xC0000005: "access violation",
    0xC0000017: "out of memory",
    0xC000001D: "illegal instruction",
    0xC0000094: "integer division by zero",
    0xC00000FD: "stack overflow",
    0xC0000135: "a DLL was not found",
    0xC0000139: "an entry point was not found",
    0xC000013A: "ended by Ctrl+C",
    0xC0000142: "a DLL failed to initialise",
    0xC0000374: "heap corruption",
    0xC0000409: "stack buffer overrun",
}


def dword(code: int) -> int:
    """A Windows exit code as the DWORD it is (-1073741819 and 3221225477 are 0xC0000005)."""
    return code & _DWORD


def normalise(code: int | None, *, windows: bool) -> int | None:
    """The exit code as recorded: the DWORD on Windows, unchanged elsewhere (None stays None)."""
    if code is None or not windows:
        return code
    return dword(code)


def meaning(table: Mapping[int, str], code: int) -> str | None:
    """What a profile's ``exit_codes`` say about ``code``, whichever way the profile wrote a
    Windows code above 2**31 (as the DWORD or as its signed 32-bit twin); None if not named."""
    found = table.get(code)
    if found is None and 1 << 31 <= code <= _DWORD:
        found = table.get(code - (1 << 32))
    return found


def describe(code: int) -> str:
    """How the process ended, for a message: ``exited 1603``, ``exited 0x80070005``,
    ``crashed: 0xC0000005 (access violation)``, ``killed by signal 9 (SIGKILL)``."""
    if code < 0:
        try:
            name = f" ({signal.Signals(-code).name})"
        except ValueError:
            name = ""
        return f"killed by signal {-code}{name}"
    if code > _DWORD:
        return f"exited {code}"
    if code & _CRASH == _CRASH or code in NTSTATUS:
        known = NTSTATUS.get(code)
        return f"crashed: 0x{code:08X}" + (f" ({known})" if known else "")
    return f"exited {short(code)}"


def short(code: int | None) -> str:
    """The code for a table's exit column: hexadecimal from 0x80000000 up, as Windows shows
    HRESULTs and NTSTATUS codes; "-" for none."""
    if code is None:
        return "-"
    if 1 << 31 <= code <= _DWORD:
        return f"0x{code:08X}"
    return str(code)
