"""Prometheus metrics for node_exporter's textfile collector (``status --format prometheus``).

Every series carries ``profile`` and ``target``, so the files of several targets (or a fleet
report's one file) merge without collisions. All metrics are gauges:

- ``spdeploy_compliant`` 1 when every installed component is at the media's level, else 0;
- ``spdeploy_suite_findings`` the number of suite-compliance findings (core updated, components
  left behind: Q242250), 0 when none;
- ``spdeploy_components{action}`` how many components have each plan action (all four always);
- ``spdeploy_component_compliant{component}`` 1 ``current``, 0 ``update`` or ``missing-on-media``;
  components that are not installed (``absent``) have no series here: there is nothing on the
  target to be compliant, and counting them as 1 would inflate "compliant components". They keep
  their ``spdeploy_component_info`` series (``action="absent"``);
- ``spdeploy_component_info{component,version,media_version,level,media_level,action}`` always 1
  (versions and levels are labels; an unknown one is the empty string);
- ``spdeploy_last_run_timestamp_seconds`` when the latest finished ``apply`` on the target ended
  (omitted when the history has none);
- ``spdeploy_reboot_required`` 1 while a reboot a run on the target asked for has not happened
  (the machine has not booted since that run ended), else 0;
- ``spdeploy_report_timestamp_seconds`` when this status was taken (``now``).

:func:`render_data` works on the SPEC §5 JSON (``plan_dict``, ``run_dict``); :func:`render` is
the same for records.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spdeploy.planner import ABSENT, CURRENT, MISSING, UPDATE

if TYPE_CHECKING:
    from spdeploy.planner import Plan
    from spdeploy.store import RunRecord

ACTIONS = (UPDATE, CURRENT, ABSENT, MISSING)

_HELP = {
    "spdeploy_compliant": "1 when every installed component is at the media's service-pack level.",
    "spdeploy_suite_findings": (
        "Suite-compliance findings: the core is at the level, components that run on it are not."
    ),
    "spdeploy_components": "Components per plan action: update, current, absent, missing-on-media.",
    "spdeploy_component_compliant": (
        "1 when an installed component is at the media's level, 0 when it is behind; "
        "components not installed are omitted."
    ),
    "spdeploy_component_info": "A component's installed and media versions, levels and action.",
    "spdeploy_last_run_timestamp_seconds": (
        "When the latest finished apply run on the target ended, in seconds since the epoch."
    ),
    "spdeploy_reboot_required": (
        "1 while a reboot an apply run on the target asked for has not happened yet."
    ),
    "spdeploy_report_timestamp_seconds": "When this status was taken, in seconds since the epoch.",
}

Labels = tuple[tuple[str, str], ...]


def render(plan: Plan, runs: Sequence[RunRecord], now: float | None = None) -> str:
    """The metrics of one target's status; ``runs`` is its history (others' runs are ignored)."""
    from spdeploy.reports.data import run_dict, status_dict

    return render_data([status_dict(plan)], [run_dict(r) for r in runs], now=now)


def render_data(
    plans: Sequence[Mapping[str, Any]],
    runs: Sequence[Mapping[str, Any]],
    now: float | None = None,
) -> str:
    """The metrics of SPEC §5 ``status`` documents and ``history`` runs, grouped per metric."""
    taken = time.time() if now is None else now
    samples: dict[str, list[tuple[Labels, float]]] = {name: [] for name in _HELP}
    for plan in plans:
        base: Labels = (("profile", str(plan["profile"])), ("target", str(plan["target"])))
        components: list[Mapping[str, Any]] = list(plan["components"])
        samples["spdeploy_compliant"].append((base, 1 if plan["compliant"] else 0))
        samples["spdeploy_suite_findings"].append((base, len(plan.get("findings") or ())))
        for action in ACTIONS:
            count = sum(1 for c in components if c["action"] == action)
            samples["spdeploy_components"].append(((*base, ("action", action)), count))
        for c in components:
            own = (*base, ("component", str(c["id"])))
            if c["action"] != ABSENT:
                samples["spdeploy_component_compliant"].append(
                    (own, 1 if c["action"] == CURRENT else 0)
                )
            info = [
                (key, "" if c.get(key) is None else str(c[key]))
                for key in ("version", "media_version", "level", "media_level", "action")
            ]
            samples["spdeploy_component_info"].append(((*own, *info), 1))
        last = latest_run(runs, str(plan["target"]))
        if last is not None:
            samples["spdeploy_last_run_timestamp_seconds"].append(
                (base, _epoch(str(last["finished"])))
            )
        if "reboot_pending" in plan:  # a status: it knows whether the machine booted since
            reboot = plan["reboot_pending"] is not None
        else:  # an older document: the latest run's own word
            reboot = last is not None and last["status"] == "reboot-required"
        samples["spdeploy_reboot_required"].append((base, 1 if reboot else 0))
        samples["spdeploy_report_timestamp_seconds"].append((base, taken))
    lines: list[str] = []
    for name, rows in samples.items():
        if not rows:
            continue
        lines += [f"# HELP {name} {_escape_help(_HELP[name])}", f"# TYPE {name} gauge"]
        lines += [f"{name}{{{_labels(labels)}}} {_number(value)}" for labels, value in rows]
    return "".join(line + "\n" for line in lines)


def latest_run(runs: Sequence[Mapping[str, Any]], target: str) -> Mapping[str, Any] | None:
    """The most recently started run on ``target`` that has finished (a running one has not).

    SPEC §5 times have whole seconds: runs started in the same second keep the order given,
    newest first, as ``Store.runs()`` and ``history --json`` list them.
    """
    done = [r for r in runs if r["target"] == target and r.get("finished")]
    return max(done, key=lambda r: str(r["started"]), default=None)  # max keeps the first tie


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _labels(labels: Labels) -> str:
    return ",".join(f'{key}="{escape_label(value)}"' for key, value in labels)


def escape_label(value: str) -> str:
    """A label value in the text exposition format: backslash, double quote and newline.

    Lone surrogates (undecodable file names) cannot be written as UTF-8: they become ``\\udcXX``.
    """
    value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
