"""The performance issue's five targets, judged from one run's medians: figure, threshold, PASS or FAIL.

Every target compares figures from the same run of the script (ratios, not QPS across runs). A target whose
servers or workloads did not run is "not measured", never a pass.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bench.report import LATENCY_RATE_SHARE, Summary
from bench.runs import LABELS

POOL_VS_GDNSD = 0.70
STATIC_VS_KNOT = 0.70
CPU_VS_GDNSD = 2.0
MIXED_VS_POOL = 0.85
P99_LIMIT_MS = 1.0
WORKERS_VS_ONE = 0.95
"""Two workers "lose nothing" against one: within 5 %, about the spread of the rounds on this machine
(both pinned to one CPU, the question is whether the second process costs anything)."""

PASS = "PASS"
FAIL = "FAIL"
NOT_MEASURED = "not measured"

_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True, slots=True)
class Target:
    """One target: what was measured, the threshold it is held to, and how."""

    number: str
    title: str
    measured: float
    """NaN when the target's servers or workloads did not run."""
    comparison: str
    """``>=``, ``<=`` or ``<``: how ``measured`` must relate to ``threshold``."""
    threshold: float
    unit: str
    """``x`` for a ratio, ``ms`` for a latency."""
    detail: str
    """The figures behind the measurement, and any reason to read it with care."""

    @property
    def status(self) -> str:
        if math.isnan(self.measured):
            return NOT_MEASURED
        return PASS if _COMPARE[self.comparison](self.measured, self.threshold) else FAIL

    def as_dict(self) -> dict[str, object]:
        measured: float | None = None if math.isnan(self.measured) else self.measured
        return {
            "number": self.number,
            "title": self.title,
            "measured": measured,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "unit": self.unit,
            "status": self.status,
            "detail": self.detail,
        }


Summaries = Mapping[str, Sequence[Summary]]
"""Workload name -> that workload's summaries, one per server that ran."""


def _find(summaries: Summaries, workload: str, server: str) -> Summary | None:
    return next((s for s in summaries.get(workload, ()) if s.server == server), None)


def _bound_caveat(reference: Summary) -> str:
    if not reference.generator_bound:
        return ""
    return f"; {LABELS[reference.server]}'s QPS was dnsperf's limit, so this ratio is an upper bound"


def qps_ratio(summaries: Summaries, number: str, workload: str, reference: str, threshold: float) -> Target:
    """Target 1: gslb's max QPS on one worker over a reference server's, same workload and run."""
    title = f"{workload}: gslb max QPS / {LABELS[reference]}'s"
    gslb, other = _find(summaries, workload, "gslb"), _find(summaries, workload, reference)
    if gslb is None or other is None or not other.qps:
        return Target(
            number, title, math.nan, ">=", threshold, "x", f"needs gslb and {reference} on {workload}"
        )
    detail = f"{gslb.qps:,.0f} / {other.qps:,.0f} qps{_bound_caveat(other)}"
    return Target(number, title, gslb.qps / other.qps, ">=", threshold, "x", detail)


def cpu_ratio(summaries: Summaries) -> Target:
    """Target 2: gslb's CPU per query at the fixed rate over gdnsd's, on the pool workload."""
    title = "pool: gslb CPU per query / gdnsd's at a fixed rate"
    gslb, gdnsd = _find(summaries, "pool", "gslb"), _find(summaries, "pool", "gdnsd")
    if gslb is None or gdnsd is None or not gdnsd.cpu_us_per_query:
        return Target("2", title, math.nan, "<=", CPU_VS_GDNSD, "x", "needs gslb and gdnsd on pool")
    detail = (
        f"{gslb.cpu_us_per_query:.1f} / {gdnsd.cpu_us_per_query:.1f} us per query at {gslb.fixed_rate:,} qps"
    )
    return Target("2", title, gslb.cpu_us_per_query / gdnsd.cpu_us_per_query, "<=", CPU_VS_GDNSD, "x", detail)


def mixed_vs_pool(summaries: Summaries) -> Target:
    """Target 3: gslb's max QPS on the mixed load over its pool-only max QPS."""
    title = "gslb max QPS, mixed / pool"
    mixed, pool = _find(summaries, "mixed", "gslb"), _find(summaries, "pool", "gslb")
    if mixed is None or pool is None or not pool.qps:
        return Target("3", title, math.nan, ">=", MIXED_VS_POOL, "x", "needs gslb on mixed and pool")
    detail = f"{mixed.qps:,.0f} / {pool.qps:,.0f} qps"
    return Target("3", title, mixed.qps / pool.qps, ">=", MIXED_VS_POOL, "x", detail)


def p99_latency(summaries: Summaries) -> Target:
    """Target 4: gslb's p99 latency at half its max QPS, the worst of the workloads it ran."""
    title = f"gslb p99 latency at {LATENCY_RATE_SHARE:.0%} of its max QPS (worst workload)"
    found = [s for workload in summaries for s in summaries[workload] if s.server == "gslb"]
    measured = [s for s in found if not math.isnan(s.latency_p99_ms)]
    if not measured:
        return Target("4", title, math.nan, "<", P99_LIMIT_MS, "ms", "needs gslb on any workload")
    worst = max(measured, key=lambda s: s.latency_p99_ms)
    detail = ", ".join(f"{s.workload} {s.latency_p99_ms:.3f} ms at {s.latency_rate:,} qps" for s in measured)
    return Target("4", title, worst.latency_p99_ms, "<", P99_LIMIT_MS, "ms", detail)


def workers(summaries: Summaries) -> Target:
    """Target 5: ``--workers 2`` against one worker, both on one CPU: the lowest max-QPS ratio of the
    workloads both ran."""
    title = "gslb --workers 2 / 1 worker, max QPS (lowest workload)"
    pairs = [
        (w2, one)
        for workload in summaries
        if (w2 := _find(summaries, workload, "gslb-w2")) is not None
        and (one := _find(summaries, workload, "gslb")) is not None
        and one.qps
    ]
    if not pairs:
        return Target("5", title, math.nan, ">=", WORKERS_VS_ONE, "x", "needs gslb and gslb-w2")
    detail = ", ".join(f"{w2.workload} {w2.qps:,.0f} / {one.qps:,.0f} qps" for w2, one in pairs)
    lowest = min(w2.qps / one.qps for w2, one in pairs)
    return Target("5", title, lowest, ">=", WORKERS_VS_ONE, "x", detail)


def evaluate(summaries: Summaries) -> list[Target]:
    return [
        qps_ratio(summaries, "1a", "pool", "gdnsd", POOL_VS_GDNSD),
        qps_ratio(summaries, "1b", "static", "knot", STATIC_VS_KNOT),
        cpu_ratio(summaries),
        mixed_vs_pool(summaries),
        p99_latency(summaries),
        workers(summaries),
    ]


def render(targets: Sequence[Target]) -> str:
    lines = ["targets (issue 4):"]
    for t in targets:
        if math.isnan(t.measured):
            figure = "-"
        elif math.isinf(t.measured):
            figure = "lost" if t.unit == "ms" else "inf"
        else:
            figure = f"{t.measured:.2f}" if t.unit == "x" else f"{t.measured:.3f} ms"
        threshold = f"{t.threshold:g}" if t.unit == "x" else f"{t.threshold:g} ms"
        lines.append(
            f"  {t.number:<3} {t.title:<62} {figure:>9} {t.comparison:>2} {threshold:<6} {t.status:<12} "
            f"({t.detail})"
        )
    return "\n".join(lines)
