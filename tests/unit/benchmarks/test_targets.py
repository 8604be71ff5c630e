"""bench/targets.py: the issue's five targets judged from made-up summaries (no server runs here)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from bench.report import Summary
from bench.targets import FAIL, NOT_MEASURED, PASS, Target, evaluate, render


def summary(
    server: str,
    workload: str,
    qps: float,
    *,
    cpu_us: float = 10.0,
    p99_ms: float = 0.5,
    generator_bound: bool = False,
) -> Summary:
    return Summary(
        server=server,
        workload=workload,
        qps=qps,
        ratios={},
        fixed_rate=30_000,
        cpu_us_per_query=cpu_us,
        cpu_us_per_query_at_max=cpu_us,
        latency_rate=round(qps / 2),
        latency_p50_ms=p99_ms / 4,
        latency_p99_ms=p99_ms,
        latency_max_ms=p99_ms * 10,
        lost_percent_at_max=0.0,
        lost_percent_at_rate=0.0,
        qps_spread_percent=2.0,
        other_load_percent=0.0,
        server_cpu_percent_at_max=80.0 if generator_bound else 99.0,
        server_side_busy_percent_at_max=82.0 if generator_bound else 99.0,
        client_cpu_percent_at_max=99.0 if generator_bound else 70.0,
    )


def by_workload(summaries: Sequence[Summary]) -> dict[str, list[Summary]]:
    result: dict[str, list[Summary]] = {}
    for s in summaries:
        result.setdefault(s.workload, []).append(s)
    return result


def judged(summaries: Sequence[Summary]) -> dict[str, Target]:
    return {target.number: target for target in evaluate(by_workload(summaries))}


FULL_RUN = [
    summary("gslb", "pool", 120_000, cpu_us=11.0, p99_ms=0.4),
    summary("gslb", "static", 110_000, p99_ms=0.3),
    summary("gslb", "mixed", 105_000, p99_ms=0.6),
    summary("gslb-w2", "pool", 118_000),
    summary("gslb-w2", "static", 112_000),
    summary("gslb-w2", "mixed", 104_000),
    summary("knot", "pool", 170_000),
    summary("knot", "static", 150_000),
    summary("knot", "mixed", 160_000),
    summary("gdnsd", "pool", 160_000, cpu_us=6.0),
    summary("gdnsd", "static", 165_000),
    summary("gdnsd", "mixed", 162_000),
]


def test_every_target_is_judged_from_one_full_run() -> None:
    targets = judged(FULL_RUN)
    assert list(targets) == ["1a", "1b", "2", "3", "4", "5"]
    assert targets["1a"].measured == pytest.approx(120 / 160)
    assert targets["1b"].measured == pytest.approx(110 / 150)
    assert targets["2"].measured == pytest.approx(11 / 6)
    assert targets["3"].measured == pytest.approx(105 / 120)
    assert targets["4"].measured == pytest.approx(0.6)  # the worst workload's p99
    assert targets["5"].measured == pytest.approx(118 / 120)  # the lowest workload's ratio (pool)
    assert {number: t.status for number, t in targets.items()} == dict.fromkeys(targets, PASS)


@pytest.mark.parametrize(
    ("changed", "number"),
    [
        (summary("gslb", "pool", 100_000, cpu_us=11.0, p99_ms=0.4), "1a"),  # 100/160 < 0.70
        (summary("knot", "static", 160_000), "1b"),  # 110/160 < 0.70
        (summary("gdnsd", "pool", 160_000, cpu_us=5.0), "2"),  # 11/5 > 2
        (summary("gslb", "mixed", 100_000, p99_ms=0.6), "3"),  # 100/120 < 0.85
        (summary("gslb", "static", 110_000, p99_ms=1.0), "4"),  # not under 1 ms
        (summary("gslb-w2", "static", 104_000), "5"),  # 104/110 < 0.95
    ],
)
def test_a_figure_past_its_threshold_fails_that_target_alone(changed: Summary, number: str) -> None:
    run = [s for s in FULL_RUN if (s.server, s.workload) != (changed.server, changed.workload)] + [changed]
    targets = judged(run)
    assert targets[number].status == FAIL
    assert [n for n, t in targets.items() if t.status != PASS] == [number]


def test_thresholds_are_inclusive_where_the_issue_says_at_least_or_at_most() -> None:
    run = [
        summary("gslb", "pool", 70_000, cpu_us=12.0),
        summary("gdnsd", "pool", 100_000, cpu_us=6.0),
        summary("gslb", "mixed", 59_500),
    ]
    targets = judged(run)
    assert targets["1a"].status == PASS  # exactly 0.70
    assert targets["2"].status == PASS  # exactly 2x
    assert targets["3"].status == PASS  # exactly 0.85


def test_targets_whose_servers_did_not_run_are_not_measured() -> None:
    targets = judged([s for s in FULL_RUN if s.server == "gslb"])
    assert {n: t.status for n, t in targets.items()} == {
        "1a": NOT_MEASURED,
        "1b": NOT_MEASURED,
        "2": NOT_MEASURED,
        "3": PASS,
        "4": PASS,
        "5": NOT_MEASURED,
    }
    assert all(math.isnan(t.measured) for t in targets.values() if t.status == NOT_MEASURED)
    assert {t.status for t in evaluate({})} == {NOT_MEASURED}


def test_lost_queries_in_the_latency_run_fail_the_latency_target() -> None:
    run = [*FULL_RUN[1:], summary("gslb", "pool", 120_000, cpu_us=11.0, p99_ms=math.inf)]
    target = judged(run)["4"]
    assert target.status == FAIL
    assert "lost" in render([target])


def test_a_ratio_to_a_generator_bound_reference_says_it_is_a_bound() -> None:
    run = [*FULL_RUN[:9], summary("gdnsd", "pool", 160_000, cpu_us=6.0, generator_bound=True), *FULL_RUN[10:]]
    assert "upper bound" in judged(run)["1a"].detail
    assert "upper bound" not in judged(FULL_RUN)["1a"].detail


def test_rendering_and_json_carry_figure_threshold_and_status() -> None:
    targets = evaluate(by_workload(FULL_RUN[:3]))
    text = render(targets)
    assert text.splitlines()[0].startswith("targets")
    assert len(text.splitlines()) == 1 + len(targets)
    line_3 = next(line for line in text.splitlines() if line.strip().startswith("3 "))
    assert "0.88" in line_3 and ">= 0.85" in line_3 and PASS in line_3
    documents = [t.as_dict() for t in targets]
    assert documents[0] == {
        "number": "1a",
        "title": targets[0].title,
        "measured": None,
        "comparison": ">=",
        "threshold": 0.70,
        "unit": "x",
        "status": NOT_MEASURED,
        "detail": targets[0].detail,
    }
    assert next(d for d in documents if d["number"] == "3")["status"] == PASS
