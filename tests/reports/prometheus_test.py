"""Prometheus textfile metrics: parsed back with prometheus_client and checked by promtool."""

from __future__ import annotations

import dataclasses
import subprocess

from helpers import require_tool
from prometheus_client.parser import text_string_to_metric_families
from report_samples import NASTY, Applied, nasty_plan, nasty_run

from spdeploy.planner import Plan
from spdeploy.reports import prometheus
from spdeploy.reports.data import plan_dict, run_dict

NOW = 1_795_615_267.5
FAMILIES = [
    "spdeploy_compliant",
    "spdeploy_suite_findings",
    "spdeploy_components",
    "spdeploy_component_compliant",
    "spdeploy_component_info",
    "spdeploy_last_run_timestamp_seconds",
    "spdeploy_reboot_required",
    "spdeploy_report_timestamp_seconds",
]

Sample = tuple[dict[str, str], float]


def _parse(text: str) -> dict[str, list[Sample]]:
    families = list(text_string_to_metric_families(text))
    assert all(f.type == "gauge" and f.documentation for f in families)
    return {f.name: [(dict(s.labels), s.value) for s in f.samples] for f in families}


def _by(samples: list[Sample], label: str) -> dict[str, float]:
    return {labels[label]: value for labels, value in samples}


def test_trap_metrics(trap: Plan) -> None:
    text = prometheus.render(trap, [], now=NOW)
    assert text.endswith("\n")
    metrics = _parse(text)
    # no run on this target yet: no last-run timestamp
    assert list(metrics) == [f for f in FAMILIES if f != "spdeploy_last_run_timestamp_seconds"]
    base = {"profile": trap.profile, "target": trap.target}
    assert metrics["spdeploy_compliant"] == [(base, 0)]
    assert metrics["spdeploy_suite_findings"] == [(base, 1)]
    assert metrics["spdeploy_reboot_required"] == [(base, 0)]
    assert metrics["spdeploy_report_timestamp_seconds"] == [(base, NOW)]
    assert _by(metrics["spdeploy_components"], "action") == {
        "update": 3,  # coco, brought along by calcon's installer, and calcon, ntsconn
        "current": 1,
        "absent": 2,
        "missing-on-media": 1,
    }
    # absent components (PROFS, SNADS) have no compliance series; missing-on-media is 0
    compliant = metrics["spdeploy_component_compliant"]
    assert _by(compliant, "component") == {
        "server": 1,
        "coco": 0,
        "calcon": 0,
        "ntsconn": 0,
        "gwxconn": 0,
    }
    assert all(set(labels) == {"profile", "target", "component"} for labels, _ in compliant)
    info = {labels["component"]: labels for labels, value in metrics["spdeploy_component_info"]}
    assert list(info) == ["server", "coco", "calcon", "ntsconn", "gwxconn", "ovvconn", "snaconn"]
    assert info["calcon"] == {
        **base,
        "component": "calcon",
        "version": "5.5.2448.0",
        "media_version": "5.5.2653.0",
        "level": "SP2",
        "media_level": "SP4",
        "action": "update",
    }
    assert info["gwxconn"]["action"] == "missing-on-media"
    assert (info["ovvconn"]["action"], info["ovvconn"]["version"]) == ("absent", "")


def test_runs_give_last_run_and_reboot(applied: Applied) -> None:
    latest = applied.runs[0]
    assert latest.status == "reboot-required" and latest.finished is not None
    other = dataclasses.replace(nasty_run("/elsewhere"), finished=latest.finished + 3600)
    metrics = _parse(prometheus.render(applied.plan, [*applied.runs, other], now=NOW))
    base = {"profile": applied.plan.profile, "target": applied.plan.target}
    assert metrics["spdeploy_compliant"] == [(base, 1)]
    assert metrics["spdeploy_suite_findings"] == [(base, 0)]
    # the latest run on this target (whole seconds, as SPEC §5 records them), not the other's
    assert metrics["spdeploy_last_run_timestamp_seconds"] == [(base, int(latest.finished))]
    assert metrics["spdeploy_reboot_required"] == [(base, 1)]
    assert set(_by(metrics["spdeploy_component_compliant"], "component").values()) == {1}


def test_the_reboot_gauge_is_the_pending_reboot_not_the_last_run(applied: Applied) -> None:
    """A reboot stays owed until the machine boots (a no-op run after it does not clear it),
    and is gone once it has booted, whatever the last run said."""
    base = {"profile": applied.plan.profile, "target": applied.plan.target}
    ok_since = dataclasses.replace(applied.runs[0], id="later", status="ok", exit_code=0)
    metrics = _parse(prometheus.render(applied.plan, [ok_since, *applied.runs], now=NOW))
    assert metrics["spdeploy_reboot_required"] == [(base, 1)]
    booted = applied.plan._replace(reboot_pending=None)
    metrics = _parse(prometheus.render(booted, applied.runs, now=NOW))
    assert metrics["spdeploy_reboot_required"] == [(base, 0)]


def _older_document(plan: Plan) -> dict[str, object]:
    """A status document from before ``reboot_pending`` existed (an old fleet result)."""
    document = plan_dict(plan)
    assert "reboot_pending" not in document
    return document


def test_a_run_still_going_does_not_count(applied: Applied) -> None:
    failed = applied.runs[1]
    running = dataclasses.replace(applied.runs[0], status="running", finished=None, exit_code=None)
    runs = [run_dict(r) for r in (running, failed)]
    metrics = _parse(prometheus.render_data([_older_document(applied.plan)], runs, now=NOW))
    base = {"profile": applied.plan.profile, "target": applied.plan.target}
    assert failed.finished is not None
    assert metrics["spdeploy_last_run_timestamp_seconds"] == [(base, int(failed.finished))]
    assert metrics["spdeploy_reboot_required"] == [(base, 0)]


def test_label_values_are_escaped() -> None:
    plan = nasty_plan()
    text = prometheus.render(plan, [nasty_run()], now=NOW)
    metrics = _parse(text)
    readable = NASTY.replace("\udcff", "\\udcff")  # a lone surrogate cannot be UTF-8
    labels, value = metrics["spdeploy_compliant"][0]
    assert labels == {"profile": plan.profile, "target": f"/srv/{readable}"}
    assert value == 0
    info = {labels["component"]: labels for labels, _ in metrics["spdeploy_component_info"]}
    assert set(info) == {"core", 'odd"id'}
    assert metrics["spdeploy_last_run_timestamp_seconds"][0][1] == 1_795_615_270
    text.encode("utf-8")


def test_several_targets_share_each_family(trap: Plan, applied: Applied) -> None:
    from spdeploy.reports.data import plan_dict, run_dict

    text = prometheus.render_data(
        [plan_dict(trap), plan_dict(applied.plan)],
        [run_dict(r) for r in applied.runs],
        now=NOW,
    )
    assert text.count("# TYPE spdeploy_compliant gauge") == 1
    metrics = _parse(text)
    assert _by(metrics["spdeploy_compliant"], "target") == {
        trap.target: 0,
        applied.plan.target: 1,
    }
    assert _by(metrics["spdeploy_last_run_timestamp_seconds"], "target").keys() == {
        applied.plan.target
    }


def test_promtool_accepts_it(trap: Plan, applied: Applied) -> None:
    promtool = require_tool("promtool")  # ./scripts/test takes it from Debian's prometheus
    for text in (
        prometheus.render(trap, [], now=NOW),
        prometheus.render(applied.plan, applied.runs, now=NOW),
        prometheus.render(nasty_plan(), [nasty_run()], now=NOW),
    ):
        done = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout + done.stderr == ""  # no lint warning either


def test_runs_in_the_same_second_keep_the_given_order(applied: Applied) -> None:
    """SPEC §5 times have whole seconds; the history lists newest first, and that order holds."""
    newest, older = applied.runs
    older = dataclasses.replace(older, started=newest.started, finished=newest.finished)
    base = {"profile": applied.plan.profile, "target": applied.plan.target}
    document = [_older_document(applied.plan)]  # the gauge follows the latest run's status
    metrics = _parse(prometheus.render_data(document, [run_dict(newest), run_dict(older)], now=NOW))
    assert metrics["spdeploy_reboot_required"] == [(base, 1)]
    metrics = _parse(prometheus.render_data(document, [run_dict(older), run_dict(newest)], now=NOW))
    assert metrics["spdeploy_reboot_required"] == [(base, 0)]
