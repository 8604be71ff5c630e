"""Turn the rounds' runs into medians, a table per workload, and notes on what looks wrong."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench import loadgen
from bench.runs import LABELS, REFERENCES, SERVER_CPU, SERVERS, Run
from bench.workloads import Workload

FIXED_RATE = 30_000
"""The rate of the CPU-per-query runs (the issue's target 2): the same offered load for every server, so
their CPU per query compares like for like, whatever each one's max."""
LATENCY_RATE_SHARE = 0.5
"""The latency run offers this share of the server's max QPS from the same round: loaded, not saturated."""
NOISY_OTHER_LOAD_PERCENT = 5.0
CLIENT_BOUND_PERCENT = 95.0
SERVER_BOUND_PERCENT = 90.0
"""dnsperf's CPU at least this busy while the server's CPU is busy less than this: dnsperf set the limit."""
FIXED_RATE_REACHED = 0.98
"""A fixed-rate run that completed less than this share of its rate per second was saturated."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """A round's runs for one server and workload: flat out, at the fixed rate (CPU per query), and at
    a share of that flat-out rate with per-query latencies (p50, p99)."""

    round: int
    server: str
    workload: str
    max_run: Run
    fixed_run: Run
    latency_run: Run


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over the rounds for one server and workload."""

    server: str
    workload: str
    qps: float
    ratios: dict[str, float]
    """This server's median QPS over each reference server's (Knot, gdnsd) that ran."""
    fixed_rate: int
    cpu_us_per_query: float
    """Server CPU per completed query at ``fixed_rate``."""
    cpu_us_per_query_at_max: float
    latency_rate: int
    latency_p50_ms: float
    latency_p99_ms: float
    """Median over the rounds of each run's percentile at ``latency_rate`` (lost queries rank last)."""
    latency_max_ms: float
    """The worst answer of any latency run."""
    lost_percent_at_max: float
    lost_percent_at_rate: float
    """Lost over sent, pooled over the rounds (both fixed-rate runs for ``at_rate``)."""
    qps_spread_percent: float
    """(max - min) / median of the rounds' QPS: how far the rounds agree."""
    other_load_percent: float
    """The most CPU 0 was taken by anything but the server during one of its runs."""
    server_cpu_percent_at_max: float
    server_side_busy_percent_at_max: float
    client_cpu_percent_at_max: float

    @property
    def generator_bound(self) -> bool:
        """dnsperf's CPU, not the server's, set the max QPS: the QPS is a lower bound of the server's."""
        return (
            self.client_cpu_percent_at_max >= CLIENT_BOUND_PERCENT
            and self.server_side_busy_percent_at_max < SERVER_BOUND_PERCENT
        )


def lost_percent(runs: Sequence[Run]) -> float:
    """Queries lost over queries sent, pooled over the rounds (a median would hide one bad round)."""
    sent = sum(run.report.queries_sent for run in runs)
    return 100 * sum(run.report.queries_lost for run in runs) / sent if sent else math.nan


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def summarise(measurements: Sequence[Measurement], workload: str) -> list[Summary]:
    by_server = {
        name: runs
        for name in SERVERS
        if (runs := [m for m in measurements if m.server == name and m.workload == workload])
    }
    reference_qps = {
        name: median([m.max_run.report.qps for m in by_server[name]])
        for name in REFERENCES
        if name in by_server
    }
    summaries = []
    for name, runs in by_server.items():
        qps_values = [m.max_run.report.qps for m in runs]
        qps = median(qps_values)
        summaries.append(
            Summary(
                server=name,
                workload=workload,
                qps=qps,
                ratios={
                    ref: qps / ref_qps if ref_qps else math.nan for ref, ref_qps in reference_qps.items()
                },
                fixed_rate=round(median([float(m.fixed_run.rate or 0) for m in runs])),
                cpu_us_per_query=median([m.fixed_run.cpu_us_per_query for m in runs]),
                cpu_us_per_query_at_max=median([m.max_run.cpu_us_per_query for m in runs]),
                latency_rate=round(median([float(m.latency_run.rate or 0) for m in runs])),
                latency_p50_ms=median([m.latency_run.report.latency_p50 * 1e3 for m in runs]),
                latency_p99_ms=median([m.latency_run.report.latency_p99 * 1e3 for m in runs]),
                latency_max_ms=max(m.latency_run.report.latency_max * 1e3 for m in runs),
                lost_percent_at_max=lost_percent([m.max_run for m in runs]),
                lost_percent_at_rate=lost_percent(
                    [run for m in runs for run in (m.fixed_run, m.latency_run)]
                ),
                qps_spread_percent=100 * (max(qps_values) - min(qps_values)) / qps if qps else math.nan,
                other_load_percent=max(
                    run.other_load_percent for m in runs for run in (m.max_run, m.fixed_run, m.latency_run)
                ),
                server_cpu_percent_at_max=median([m.max_run.server_cpu_percent for m in runs]),
                server_side_busy_percent_at_max=median([m.max_run.server_side_busy_percent for m in runs]),
                client_cpu_percent_at_max=median([m.max_run.client_cpu_percent for m in runs]),
            )
        )
    return summaries


def milliseconds(value: float) -> str:
    """A latency in ms for the table: ``lost`` when lost queries made the percentile infinite."""
    if math.isinf(value):
        return "lost"
    return f"{value:.3f}"


def render_table(
    workload: Workload, summaries: Sequence[Summary], rounds: int, seconds: float, fixed_rate: int
) -> str:
    references = list(summaries[0].ratios) if summaries else []
    ratio_header = "".join(f" {'/' + LABELS[ref]:>6}" for ref in references)
    header = (
        f"{'server':<7} {'QPS':>9} {'spread':>6}{ratio_header} {'srv CPU':>7} {'gen CPU':>7} "
        f"{'us/q@fix':>8} {'@lat':>7} {'p50 ms':>7} {'p99 ms':>7} {'lost@max':>8} {'lost@rate':>9} "
        f"{'other':>5}"
    )
    lines = [
        f"workload {workload.name}: {workload.description}",
        f"  medians of {rounds} rounds x {seconds:g} s. Flat out (dnsperf -q {loadgen.MAX_OUTSTANDING}): "
        "QPS, srv CPU (server's share of CPU 0), gen CPU (CPU 1, dnsperf's), lost@max.",
        f"  us/q@fix: server CPU (all its processes) per query at a fixed {fixed_rate:,} QPS. "
        f"p50/p99 at @lat = {LATENCY_RATE_SHARE:.0%} of that server's max QPS;",
        "  lost@rate: both fixed-rate runs; lost: all rounds pooled; spread: (max - min) / median QPS of the "
        "rounds; other: worst share of a run CPU 0 spent on other tasks.",
    ]
    if references:
        names = " and ".join(f"/{LABELS[ref]}" for ref in references)
        lines.append(f"  {names}: the row's QPS over that server's (the gslb row: gslb's ratio to it).")
    lines += [header, "-" * len(header)]
    for s in summaries:
        ratios = "".join(f" {s.ratios[ref]:>6.2f}" for ref in references)
        lines.append(
            f"{s.server:<7} {s.qps:>9,.0f} {s.qps_spread_percent:>5.0f}%{ratios} "
            f"{s.server_cpu_percent_at_max:>6.0f}% {s.client_cpu_percent_at_max:>6.0f}% "
            f"{s.cpu_us_per_query:>8.1f} {s.latency_rate:>7,} {milliseconds(s.latency_p50_ms):>7} "
            f"{milliseconds(s.latency_p99_ms):>7} {s.lost_percent_at_max:>7.3f}% "
            f"{s.lost_percent_at_rate:>8.3f}% {s.other_load_percent:>4.0f}%"
        )
    return "\n".join(lines)


def loss_notes(measurements: Sequence[Measurement]) -> list[str]:
    """One line per run that lost queries, with the kernel's count of UDP receive-buffer drops beside it."""
    notes = []
    for m in measurements:
        for kind, run in (
            ("max", m.max_run),
            (f"at {m.fixed_run.rate:,} qps", m.fixed_run),
            (f"at {m.latency_run.rate:,} qps", m.latency_run),
        ):
            if run.report.queries_lost or run.report.timeouts:
                notes.append(
                    f"round {m.round} {m.server} {m.workload} {kind}: {run.report.queries_lost:,} of "
                    f"{run.report.queries_sent:,} queries lost ({lost_percent([run]):.4f}%), "
                    f"{run.report.timeouts:,} timeouts; UDP receive-buffer drops during the run: "
                    f"{run.udp_receive_buffer_errors:,}"
                )
    return notes


def bottleneck_notes(summaries: Sequence[Summary]) -> list[str]:
    """Name the servers whose max QPS was dnsperf's: its CPU was full while the server's had time left."""
    return [
        f"workload {s.workload}: {s.server}'s max QPS is dnsperf's limit, not the server's (CPU 1 "
        f"{s.client_cpu_percent_at_max:.0f}% busy, CPU 0 {s.server_side_busy_percent_at_max:.0f}%, "
        f"{s.server} itself {s.server_cpu_percent_at_max:.0f}%): read its QPS and the ratio as bounds, "
        "compare us/q@fix"
        for s in summaries
        if s.generator_bound
    ]


def fixed_rate_notes(measurements: Sequence[Measurement]) -> list[str]:
    """Fixed-rate runs that did not reach their rate: the server was saturated, so its CPU per query (or
    its latency) there is that of a saturated server."""
    notes = []
    for m in measurements:
        for label, run in (("CPU", m.fixed_run), ("latency", m.latency_run)):
            rate = run.rate or 0
            if rate and run.report.qps < FIXED_RATE_REACHED * rate:
                notes.append(
                    f"round {m.round} {m.server} {m.workload}: the {label} run reached "
                    f"{run.report.qps:,.0f} of {rate:,} qps (saturated)"
                )
    return notes


def process_notes(measurements: Sequence[Measurement]) -> list[str]:
    """Runs during which the server's process tree changed (a worker exited or was started)."""
    return [
        f"round {m.round} {m.server} {m.workload}: its processes changed during a run (a worker restarted?): "
        "CPU per query counts an exited worker only once its parent reaped it"
        for m in measurements
        if any(run.server_processes_changed for run in (m.max_run, m.fixed_run, m.latency_run))
    ]


def rcode_check(measurements: Sequence[Measurement]) -> list[str]:
    """Warn when the servers answer the same workload with different RCODE mixes (a correctness smell)."""
    notes = []
    servers = [name for name in SERVERS if any(m.server == name for m in measurements)]
    for workload in sorted({m.workload for m in measurements}):
        shares: dict[str, dict[str, float]] = {}
        for name in servers:
            counts: dict[str, int] = {}
            for m in measurements:
                if m.server == name and m.workload == workload:
                    for rcode, count in m.max_run.report.rcodes:
                        counts[rcode] = counts.get(rcode, 0) + count
            total = sum(counts.values()) or 1
            shares[name] = {rcode: round(100 * count / total, 1) for rcode, count in counts.items()}
        first = servers[0]
        for name in servers[1:]:
            if shares[name] != shares[first]:
                notes.append(
                    f"workload {workload}: RCODE mix (%) differs: "
                    f"{first} {shares[first]} vs {name} {shares[name]}"
                )
    return notes


def noise_notes(measurements: Sequence[Measurement]) -> list[str]:
    busiest = max(
        run.other_load_percent for m in measurements for run in (m.max_run, m.fixed_run, m.latency_run)
    )
    if busiest <= NOISY_OTHER_LOAD_PERCENT:
        return []
    return [
        f"CPU {SERVER_CPU} was up to {busiest:.0f}% busy with other work during a run: "
        "other processes competed with the server, so expect noisy figures"
    ]
