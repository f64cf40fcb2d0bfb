"""Shared report inputs: the applied-target record, and records full of text to escape."""

from __future__ import annotations

from dataclasses import dataclass

from spdeploy.planner import Finding, Plan, PlannedComponent
from spdeploy.sandbox.world import SP2, SP4
from spdeploy.store import RunRecord, StepRecord

# Markup, quotes, a newline, a backslash, a control character and a lone surrogate (an
# undecodable file name).
NASTY = "A&B <i>x</i> \"q\" 's' \\back\nline\x01 \udcff </table><script>alert(1)</script>"


@dataclass(frozen=True)
class Applied:
    """A target brought to SP4 over two runs: the first failed, the second needs a reboot."""

    plan: Plan
    runs: list[RunRecord]  # newest first, as Store.runs() gives them


def nasty_plan(target: str = f"/srv/{NASTY}") -> Plan:
    """A plan built from records alone, every text field full of characters to escape."""
    return Plan(
        profile="site&<x>",
        media=f"/media/{NASTY}",
        target=target,
        language="Eng",
        platform="I386",
        components=(
            PlannedComponent(
                id="core",
                name=f"Core {NASTY}",
                installed=True,
                version=SP4,
                media_version=SP4,
                action="current",
                installer="Core/Setup.exe",
                reason="at the level",
                level="SP4",
                media_level="SP4",
            ),
            PlannedComponent(
                id='odd"id',
                name=f"Odd {NASTY}",
                installed=True,
                version=SP2,
                media_version=SP4,
                action="update",
                installer=f"Odd/{NASTY}.exe",
                reason=f"reason {NASTY}",
                level="SP2",
                media_level="SP4",
            ),
        ),
        findings=(Finding("core-updated-components-behind", f"finding {NASTY}", ('odd"id',)),),
    )


def nasty_run(target: str = f"/srv/{NASTY}") -> RunRecord:
    step = StepRecord(
        run_id="20261125T140107-3f2a",
        seq=0,
        component='odd"id',
        status="failed",
        exit_code=1603,
        started=1_795_615_267.0,
        duration_s=2.5,
        version_before=SP2,
        version_after=SP2,
        log=f"/state/{NASTY}.log",
        message=f"step {NASTY}",
    )
    return RunRecord(
        id="20261125T140107-3f2a",
        profile="site&<x>",
        target=target,
        media=f"/media/{NASTY}",
        language="Eng",
        platform="I386",
        started=1_795_615_267.0,
        finished=1_795_615_270.0,
        status="failed",
        exit_code=1,
        message=f"run {NASTY}",
        steps=(step,),
    )
