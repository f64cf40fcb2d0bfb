"""Exit codes as Windows gives them (DWORDs, crashes) and as POSIX does (8 bits, signals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdeploy import exitcodes
from spdeploy.preflight import ApplyOptions, Command
from spdeploy.process import ProcessResult
from spdeploy.profile import load_profile
from spdeploy.steps import judge

ACCESS_VIOLATION = 0xC0000005


def test_both_forms_python_gives_are_one_dword() -> None:
    assert exitcodes.dword(-1073741819) == exitcodes.dword(3221225477) == ACCESS_VIOLATION
    assert exitcodes.normalise(-1073741819, windows=True) == ACCESS_VIOLATION
    assert exitcodes.normalise(3010, windows=True) == 3010
    assert exitcodes.normalise(-9, windows=False) == -9  # a signal on POSIX stays one
    assert exitcodes.normalise(None, windows=True) is None


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exited 0"),
        (1603, "exited 1603"),
        (3010, "exited 3010"),
        (ACCESS_VIOLATION, "crashed: 0xC0000005 (access violation)"),
        (0xC00000FD, "crashed: 0xC00000FD (stack overflow)"),
        (0xC0001234, "crashed: 0xC0001234"),
        (0x80000003, "crashed: 0x80000003 (breakpoint)"),
        (0x80070005, "exited 0x80070005"),  # an HRESULT returned as an exit code: no crash
        (-9, "killed by signal 9 (SIGKILL)"),
    ],
)
def test_how_a_process_ended_reads(code: int, text: str) -> None:
    assert exitcodes.describe(code) == text


def test_short_form_for_the_exit_column() -> None:
    assert [exitcodes.short(c) for c in (None, 0, 1641, ACCESS_VIOLATION)] == [
        "-",
        "0",
        "1641",
        "0xC0000005",
    ]


def _component(tmp_path: Path, codes: str) -> object:
    path = tmp_path / "p.toml"
    path.write_text(
        'id = "p"\nname = "P"\nplatforms = { I386 = ["x86_64"] }\n'
        '[[component]]\nid = "a"\nname = "A"\ninstaller = ["a.exe"]\n'
        f'installed = {{ exists = "a.exe" }}\nexit_codes = {{ {codes} }}\n'
    )
    return load_profile(str(path)).component("a")


def _judge(comp: object, code: int | None) -> tuple[str, str]:
    result = ProcessResult(("Update.exe",), code, False, 0.1, None)
    command = Command("a", ("Update.exe",), False)
    return judge(comp, command, result, ApplyOptions())  # type: ignore[arg-type]


def test_a_crash_is_shown_as_a_crash_not_a_negative_number(tmp_path: Path) -> None:
    comp = _component(tmp_path, '1603 = "failed"')
    assert _judge(comp, ACCESS_VIOLATION) == (
        "failed",
        "installer crashed: 0xC0000005 (access violation)",
    )
    assert _judge(comp, 3010) == ("reboot-required", "reboot required")  # the defaults stay
    assert _judge(comp, 1641) == ("reboot-required", "reboot required")
    assert _judge(comp, 1603) == ("failed", "installer exited 1603")


def test_a_profile_may_name_a_windows_code_either_way(tmp_path: Path) -> None:
    signed = _component(tmp_path, '-1073741819 = "reboot"')
    unsigned = _component(tmp_path, '3221225477 = "reboot"')
    for comp in (signed, unsigned):
        assert _judge(comp, ACCESS_VIOLATION)[0] == "reboot-required"
