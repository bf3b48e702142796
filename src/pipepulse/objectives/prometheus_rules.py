"""``pipepulse objectives rules --format prometheus``: recording and alerting rules that compute
SPEC §7.6's burn rates from the ``/metrics`` series (objectives/prometheus.py) and fire on the
same multi-window conditions as pipepulse's own alerts (objectives/burn.py).

The rules are the same for every objective (each series carries the objective's labels), so the
text depends on nothing but the conditions: no database is read. Prometheus samples the gauges at
each scrape, so its burn rates are averages of samples and agree with pipepulse's exact ones to
the scrape and evaluation interval.
"""

from __future__ import annotations

from datetime import timedelta

from pipepulse.objectives.budget import LOOKBACKS
from pipepulse.objectives.burn import BURN_CONDITIONS, BurnCondition

BAD = "pipepulse_objective_bad"
COUNTED = "pipepulse_objective_counted"
ALLOWED = "pipepulse_objective_allowed_bad_ratio"
ALERT_NAMES = {"budget_burn_fast": "PipepulseBudgetBurnFast", "budget_burn_slow": "PipepulseBudgetBurnSlow"}


def duration(delta: timedelta) -> str:
    """A Prometheus duration: 5m, 1h, 72h."""
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def record_name(lookback: timedelta) -> str:
    return f"pipepulse_objective:burn_rate:{duration(lookback)}"


def lookbacks() -> list[timedelta]:
    """Every look-back a rule needs: the status read's four and each condition's two."""
    wanted = {*LOOKBACKS.values(), *(c.long for c in BURN_CONDITIONS), *(c.short for c in BURN_CONDITIONS)}
    return sorted(wanted)


def _recording(lookback: timedelta) -> list[str]:
    d = duration(lookback)
    return [
        f"      - record: {record_name(lookback)}",
        "        # Bad time ÷ counted time (maintenance left out of both) ÷ the allowed bad fraction.",
        "        expr: >-",
        f"          (sum_over_time({BAD}[{d}]) / sum_over_time({COUNTED}[{d}]))",
        f"          / {ALLOWED}",
    ]


def _alert(condition: BurnCondition) -> list[str]:
    long_, short = record_name(condition.long), record_name(condition.short)
    t = condition.threshold_text
    return [
        f"      - alert: {ALERT_NAMES[condition.name]}",
        f"        # SPEC §7.6 {condition.name}: {duration(condition.long)} burn ≥ {t} and"
        f" {duration(condition.short)} burn ≥ {t}.",
        f"        expr: {long_} >= {t} and {short} >= {t}",
        "        labels:",
        f"          severity: {condition.severity}",
        f"          condition: {condition.name}",
        "        annotations:",
        f'          summary: "{{{{ $labels.connection }}}} is burning its {{{{ $labels.indicator }}}} budget'
        f' ({condition.name})"',
        "          description: >-",
        "            Objective {{ $labels.objective_id }} of connection {{ $labels.connection_id }}"
        " (organisation {{ $labels.organisation_id }}):",
        f"            the {duration(condition.long)} and {duration(condition.short)} burn rates"
        f" are both at least {t}.",
    ]


def prometheus() -> str:
    lines = [
        "# Burn-rate rules for pipepulse objectives (SPEC §7.6), printed by",
        "# `pipepulse objectives rules --format prometheus`. Load with `rule_files: [objectives.yml]`.",
        "# They read pipepulse's /metrics (a platform or metrics token sees the objective series).",
        "groups:",
        "  - name: pipepulse_objectives_burn_rates",
        "    rules:",
    ]
    for lookback in lookbacks():
        lines.extend(_recording(lookback))
    lines.extend(["", "  - name: pipepulse_objectives_alerts", "    rules:"])
    for condition in BURN_CONDITIONS:
        lines.extend(_alert(condition))
    return "\n".join(lines) + "\n"


FORMATS = {"prometheus": prometheus}
