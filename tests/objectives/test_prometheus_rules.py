"""`pipepulse objectives rules --format prometheus`: valid for Prometheus (promtool check rules),
and firing when pipepulse's own multi-window rule says, to the scrape and evaluation interval
(promtool test rules on a scenario whose expected alerts come from objectives.burn)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipepulse.objectives import burn
from pipepulse.objectives.prometheus_rules import ALERT_NAMES, ALLOWED, BAD, COUNTED, prometheus
from pipepulse.objectives.spans import Span, normalise

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MINUTES = 900
# Two objectives on one connection, read from the same bad time: targets 99 % and 99.9 %.
OBJECTIVES = {"obj_loose": 99.0, "obj_tight": 99.9}
# Agreement is to the scrape and evaluation interval (1 minute each here): instants closer than
# this to one of pipepulse's transitions are not compared.
TOLERANCE = timedelta(minutes=2)
STEP = timedelta(seconds=10)


def scenario() -> tuple[list[int], list[int]]:
    """Per minute: bad (1) or not, and counted (1) or in maintenance (0)."""
    bad = [0] * MINUTES
    counted = [1] * MINUTES
    for m in range(420, 450):  # a 30-minute outage: both conditions fire for 99 %
        bad[m] = 1
    for m in range(600, 660):  # an hour's outage, its first 40 minutes in maintenance
        bad[m] = 1
    for m in range(600, 640):
        counted[m] = 0
    for m in range(780, 784):  # four minutes: only the tight objective burns
        bad[m] = 1
    return [b * c for b, c in zip(bad, counted, strict=True)], counted


def spans(minutes: list[int], value: int) -> list[Span]:
    at = [T0 + timedelta(minutes=m) for m in range(len(minutes))]
    return normalise((at[m], at[m] + timedelta(minutes=1)) for m, v in enumerate(minutes) if v == value)


def states(condition: burn.BurnCondition, target: float) -> list[tuple[datetime, bool]]:
    bad_minutes, counted = scenario()
    bad, excluded = spans(bad_minutes, 1), spans(counted, 0)
    out, t = [], T0
    while t <= T0 + timedelta(minutes=MINUTES - 1):
        out.append((t, burn.holds(condition, bad, excluded, t, target)))
        t += STEP
    return out


def stable_state(timeline: list[tuple[datetime, bool]], at: datetime) -> bool | None:
    near = {state for t, state in timeline if abs(t - at) <= TOLERANCE}
    return near.pop() if len(near) == 1 else None


def labels(objective_id: str) -> str:
    return (
        f'organisation_id="1",connection_id="wc_a",connection="Finance",'
        f'objective_id="{objective_id}",indicator="availability"'
    )


def unit_tests(rules: Path) -> tuple[str, dict[tuple[str, str], list[bool]]]:
    """The promtool test file, and pipepulse's own firing states (per objective and condition) at
    the compared instants."""
    bad, counted = scenario()
    lines = [f"rule_files:\n  - {rules}\n", "evaluation_interval: 1m\n", "tests:\n  - interval: 1m\n"]
    lines.append("    input_series:\n")
    for objective_id, target in OBJECTIVES.items():
        for name, values in ((BAD, bad), (COUNTED, counted)):
            lines.append(f"      - series: '{name}{{{labels(objective_id)}}}'\n")
            lines.append(f'        values: "{" ".join(map(str, values))}"\n')
        lines.append(f"      - series: '{ALLOWED}{{{labels(objective_id)}}}'\n")
        lines.append(f'        values: "{(100 - target) / 100}x{MINUTES - 1}"\n')
    lines.append("    alert_rule_test:\n")
    seen: dict[tuple[str, str], list[bool]] = {}
    for condition in burn.BURN_CONDITIONS:
        timelines = {o: states(condition, target) for o, target in OBJECTIVES.items()}
        for minute in range(0, MINUTES, 2):
            at = T0 + timedelta(minutes=minute)
            expected = {o: stable_state(timeline, at) for o, timeline in timelines.items()}
            if None in expected.values():
                continue
            lines.append(f"      - eval_time: {minute}m\n        alertname: {ALERT_NAMES[condition.name]}\n")
            firing = [o for o, state in expected.items() if state]
            lines.append("        exp_alerts:" + ("\n" if firing else " []\n"))
            for objective_id in firing:
                seen.setdefault((objective_id, condition.name), []).append(True)
                lines.append(_expected_alert(objective_id, condition))
            for objective_id in set(OBJECTIVES) - set(firing):
                seen.setdefault((objective_id, condition.name), []).append(False)
    return "".join(lines), seen


def _expected_alert(objective_id: str, condition: burn.BurnCondition) -> str:
    long_, short = (f"{int(d.total_seconds()) // 60}m" for d in (condition.long, condition.short))
    long_ = {"60m": "1h", "360m": "6h"}[long_]
    t = condition.threshold_text
    return (
        "          - exp_labels:\n"
        f"              severity: {condition.severity}\n"
        f"              condition: {condition.name}\n"
        "              organisation_id: '1'\n"
        "              connection_id: wc_a\n"
        "              connection: Finance\n"
        f"              objective_id: {objective_id}\n"
        "              indicator: availability\n"
        "            exp_annotations:\n"
        f"              summary: 'Finance is burning its availability budget ({condition.name})'\n"
        f"              description: 'Objective {objective_id} of connection wc_a (organisation 1):"
        f" the {long_} and {short} burn rates are both at least {t}.'\n"
    )


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian's prometheus package; scripts/setup installs it)")
        pytest.skip("promtool is not installed (scripts/setup installs Debian's prometheus package)")
    return found


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    printed = subprocess.run(
        [sys.executable, "-m", "pipepulse", "objectives", "rules", "--format", "prometheus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == prometheus()
    path = tmp_path_factory.mktemp("rules") / "objectives.yml"
    path.write_text(printed.stdout)
    return path


def test_rules_command__unknown_format__exit_2_naming_the_formats() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipepulse", "objectives", "rules", "--format", "nagios"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown rule format 'nagios'; use one of: prometheus" in result.stderr


def test_rules__promtool_check__valid(promtool: str, rules: Path) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # 1h, 6h, 24h, 72h, 5m and 30m burn rates; two alerts.
    assert "SUCCESS: 8 rules found" in result.stdout


def test_rules__promtool_scenario__fires_and_resolves_when_pipepulse_does(
    promtool: str, rules: Path, tmp_path: Path
) -> None:
    text, seen = unit_tests(rules)
    # The scenario is not vacuous: every condition both fires and stays quiet for the loose
    # objective.
    for condition in burn.CONDITION_NAMES:
        assert set(seen[("obj_loose", condition)]) == {True, False}, condition
    tests = tmp_path / "objectives_test.yml"
    tests.write_text(text)
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_burn_conditions__four_minute_outage__burns_the_tight_target_only() -> None:
    bad = [(T0 + timedelta(minutes=780), T0 + timedelta(minutes=784))]
    at = T0 + timedelta(minutes=784)
    # 4 of 60 minutes against 0.1 % allowed is a burn of 66.7; 4 of 360 is 11.1.
    assert burn.holding(bad, [], at, 99.9) == ["budget_burn_fast", "budget_burn_slow"]
    assert burn.holding(bad, [], at, 99.0) == []
