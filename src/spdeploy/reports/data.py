"""The stable JSON shapes of SPEC §5. Additive changes only: scripts depend on these keys."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # types only: `status` must not pay for importing the executor
    from spdeploy.commands.media import MediaReport
    from spdeploy.commands.restore import RestoreReport
    from spdeploy.executor import ApplyResult
    from spdeploy.inventory import Inventory
    from spdeploy.planner import Plan
    from spdeploy.profile import Profile
    from spdeploy.reboot import RebootPending
    from spdeploy.savedplan import Check
    from spdeploy.staging import Verification
    from spdeploy.store import RunRecord, StepRecord


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "profile": plan.profile,
        "media": plan.media,
        "target": plan.target,
        "language": plan.language,
        "platform": plan.platform,
        "compliant": plan.compliant,
        "components": [
            {
                "id": c.id,
                "name": c.name,
                "installed": c.installed,
                "version": c.version,
                "media_version": c.media_version,
                "action": c.action,
                "installer": c.installer,
                "reason": c.reason,
                "level": c.level,
                "media_level": c.media_level,
                "brought_along_by": c.brought_along_by,
            }
            for c in plan.components
        ],
        "findings": [
            {"code": f.code, "message": f.message, "components": list(f.components)}
            for f in plan.findings
        ],
        # the operating system's own pending reboot (not a run's: that is "reboot_pending")
        "system_reboot_signals": [s.as_dict() for s in plan.system_reboot_signals],
    }


def status_dict(plan: Plan) -> dict[str, Any]:
    """``status --json``: the plan, and whether a reboot a run asked for is still pending."""
    return {**plan_dict(plan), "reboot_pending": reboot_dict(plan.reboot_pending)}


def reboot_dict(pending: RebootPending | None) -> dict[str, Any] | None:
    """SPEC §5 ``reboot_pending``: null, or the run that asked for the reboot and when."""
    if pending is None:
        return None
    return {"run_id": pending.run_id, "requested_at": _iso(pending.requested_at)}


def step_dict(step: StepRecord) -> dict[str, Any]:
    return {
        "id": step.component,
        "status": step.status,
        "exit_code": step.exit_code,
        "started": _iso(step.started),
        "duration_s": step.duration_s,
        "version_before": step.version_before,
        "version_after": step.version_after,
        "log": step.log,
        "message": step.message,
        "known_failures": [h.as_dict() for h in step.known_failures],
    }


def apply_dict(result: ApplyResult) -> dict[str, Any]:
    data = plan_dict(result.final or result.plan)
    data["reboot_pending"] = reboot_dict(result.reboot_pending)
    data["run_id"] = result.run_id
    data["dry_run"] = result.dry_run
    if result.dry_run:  # what the real run would refuse, as its error envelope would say it
        refusal = result.refusal
        data["refusal"] = (
            None
            if refusal is None
            else {"code": refusal.code, "message": refusal.message, "exit_code": refusal.exit_code}
        )
    data["resumed"] = result.resumed
    data["steps"] = [step_dict(s) for s in result.steps]
    data["reboot_required"] = result.reboot_required
    data["todo_after"] = [t.as_dict() for t in result.todo_after]
    data["commands"] = [
        {"id": c.id, "argv": list(c.argv), "interactive": c.interactive} for c in result.commands
    ]
    if result.final is not None:
        data["planned"] = plan_dict(result.plan)["components"]
    return data


def scan_dict(inventory: Inventory) -> dict[str, Any]:
    return {
        "profile": inventory.profile,
        "target": inventory.target,
        "components": [
            {
                "id": c.id,
                "name": c.name,
                "installed": c.installed,
                "version": c.version,
                "source": c.source,
            }
            for c in inventory.components
        ],
    }


def media_dict(report: MediaReport) -> dict[str, Any]:
    return {
        "profile": report.profile,
        "media": report.media,
        "language": report.language,
        "platform": report.platform,
        "languages": list(report.languages),
        "platforms": list(report.platforms),
        "components": [
            {
                "id": c.id,
                "name": c.name,
                "installer": c.installer,
                "present": c.present,
                "media_version": c.media_version,
                "language": c.language,
                "serviced_by": list(c.serviced_by),
            }
            for c in report.components
        ],
        "format": report.format,
        "names": report.names,
        "warnings": list(report.warnings),
        **({} if report.verification is None else {"verify": verify_dict(report.verification)}),
    }


def verify_dict(v: Verification) -> dict[str, Any]:
    return {
        "catalog": v.catalog,
        "passed": v.passed,
        "listed": v.listed,
        "ok": v.ok,
        "mismatched": [
            {"path": m.path, "expected": m.expected, "actual": m.actual} for m in v.mismatched
        ],
        "missing": list(v.missing),
        "unlisted": list(v.unlisted),
    }


def run_dict(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "profile": run.profile,
        "target": run.target,
        "media": run.media,
        "language": run.language,
        "platform": run.platform,
        "started": _iso(run.started),
        "finished": _iso(run.finished) if run.finished else None,
        "status": run.status,
        "exit_code": run.exit_code,
        "message": run.message,
        "notes": run.notes,
        "steps": [step_dict(s) for s in run.steps],
        "folder": run.folder,
        "collected_logs": list(run.collected),
        "backups": list(run.backups),
    }


def profile_dict(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "name": profile.name,
        "source": profile.source,
        "platforms": {k: list(v) for k, v in profile.platforms.items()},
        "levels": dict(profile.levels),
        "refuse_on_pending_reboot": profile.refuse_on_pending_reboot,
        "components": [
            {
                "id": c.id,
                "name": c.name,
                "installer": list(c.installer),
                "after": list(c.after),
                "interactive": c.interactive,
                "args": list(c.args),
                "fallback_languages": list(c.fallback_languages),
                "installed": c.installed.describe(),
                "version": c.version.describe() if c.version else None,
                "media_version": c.media_version.describe(),
                "backup": list(c.backup),
                "logs": list(c.logs),
                "exit_codes": {str(k): v for k, v in sorted(c.exit_codes.items())},
                "pre": [list(cmd) for cmd in c.pre],
                "post": [list(cmd) for cmd in c.post],
                "notes": c.notes,
                "serviced_by": list(c.serviced_by),
                "levels": dict(c.levels),
                "requires": dict(c.requires),
                "known_failures": [
                    {
                        "match": r.match.pattern,
                        "in": list(r.places),
                        "article": r.article,
                        "remedy": r.remedy,
                    }
                    for r in c.known_failures
                ],
                "todo_after": [
                    {"note": t.note, "article": t.article, "when": t.when, "from": t.since}
                    for t in c.todo_after
                ],
            }
            for c in profile.ordered()
        ],
    }


def restore_dict(report: RestoreReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "target": report.target,
        "dry_run": report.dry_run,
        "files": [
            {"component": f.component, "path": f.path, "action": f.action} for f in report.files
        ],
        "saved_current_to": report.saved_current_to,
        "warnings": list(report.warnings),
    }


def saved_plan_dict(check: Check) -> dict[str, Any]:
    """``apply --plan``: which saved plan, and whether it still holds (else what changed)."""
    return {
        "file": check.file,
        "saved_at": check.saved_at,
        "holds": check.holds,
        "changes": list(check.changes),
    }


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
