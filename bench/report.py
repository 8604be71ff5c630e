"""Turn the rounds' runs into medians, a table per workload, and notes on what looks wrong."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench import loadgen
from bench.runs import LABELS, REFERENCES, SERVER_CPU, SERVERS, Run
from bench.workloads import Workload

FIXED_RATE_SHARE = 0.5
"""The latency run offers this share of the server's max QPS from the same round: loaded, not saturated."""
NOISY_OTHER_LOAD_PERCENT = 5.0
CLIENT_BOUND_PERCENT = 95.0
SERVER_BOUND_PERCENT = 90.0
"""dnsperf's CPU at least this busy while the server's CPU is busy less than this: dnsperf set the limit."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """A round's pair of runs for one server and workload: flat out, then at a fixed share of that rate."""

    round: int
    server: str
    workload: str
    max_run: Run
    fixed_run: Run


@dataclass(frozen=True, slots=True)
class Summary:
    """Medians over the rounds for one server and workload (max latency: the worst of the rounds)."""

    server: str
    workload: str
    qps: float
    ratios: dict[str, float]
    """This server's median QPS over each reference server's (Knot, gdnsd) that ran."""
    cpu_us_per_query: float
    cpu_us_per_query_at_max: float
    latency_avg_ms: float
    latency_max_ms: float
    latency_avg_at_max_ms: float
    lost_percent_at_max: float
    lost_percent_fixed: float
    """Lost over sent, pooled over the rounds."""
    fixed_rate: int
    qps_spread_percent: float
    """(max - min) / median of the rounds' QPS: how far the rounds agree."""
    other_load_percent: float
    """The most CPU 0 was taken by anything but the server during one of its runs."""
    server_cpu_percent_at_max: float
    server_side_busy_percent_at_max: float
    client_cpu_percent_at_max: float


def lost_percent(runs: Sequence[Run]) -> float:
    """Queries lost over queries sent, pooled over the rounds (a median would hide one bad round)."""
    sent = sum(run.report.queries_sent for run in runs)
    return 100 * sum(run.report.queries_lost for run in runs) / sent if sent else float("nan")


def summarise(measurements: Sequence[Measurement], workload: str) -> list[Summary]:
    def median(values: Sequence[float]) -> float:
        return statistics.median(values)

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
                    ref: qps / ref_qps if ref_qps else float("nan") for ref, ref_qps in reference_qps.items()
                },
                cpu_us_per_query=median([m.fixed_run.cpu_us_per_query for m in runs]),
                cpu_us_per_query_at_max=median([m.max_run.cpu_us_per_query for m in runs]),
                latency_avg_ms=median([m.fixed_run.report.latency_avg * 1e3 for m in runs]),
                latency_max_ms=max(m.fixed_run.report.latency_max * 1e3 for m in runs),
                latency_avg_at_max_ms=median([m.max_run.report.latency_avg * 1e3 for m in runs]),
                lost_percent_at_max=lost_percent([m.max_run for m in runs]),
                lost_percent_fixed=lost_percent([m.fixed_run for m in runs]),
                fixed_rate=round(median([float(m.fixed_run.rate or 0) for m in runs])),
                qps_spread_percent=100 * (max(qps_values) - min(qps_values)) / qps if qps else float("nan"),
                other_load_percent=max(
                    run.other_load_percent for m in runs for run in (m.max_run, m.fixed_run)
                ),
                server_cpu_percent_at_max=median([m.max_run.server_cpu_percent for m in runs]),
                server_side_busy_percent_at_max=median([m.max_run.server_side_busy_percent for m in runs]),
                client_cpu_percent_at_max=median([m.max_run.client_cpu_percent for m in runs]),
            )
        )
    return summaries


def render_table(workload: Workload, summaries: Sequence[Summary], rounds: int, seconds: float) -> str:
    references = list(summaries[0].ratios) if summaries else []
    ratio_header = "".join(f" {'/' + LABELS[ref]:>6}" for ref in references)
    header = (
        f"{'server':<6} {'QPS':>9} {'spread':>6}{ratio_header} {'srv CPU':>7} {'gen CPU':>7} "
        f"{'@rate':>8} {'CPU us/q':>8} {'avg lat':>9} {'max lat':>9} {'lost@max':>8} {'lost@rate':>9} "
        f"{'other':>5}"
    )
    lines = [
        f"workload {workload.name}: {workload.description}",
        f"  medians of {rounds} rounds x {seconds:g} s. Flat out (dnsperf -q {loadgen.MAX_OUTSTANDING}): "
        "QPS, srv CPU (server's share of CPU 0), gen CPU (CPU 1, dnsperf's), lost@max.",
        f"  At @rate = {FIXED_RATE_SHARE:.0%} of that server's max QPS: CPU us/q, avg lat, max lat "
        "(worst round), lost@rate;",
        "  lost: all rounds pooled; spread: (max - min) / median QPS of the rounds; other: worst share of a "
        "run CPU 0 spent on other tasks.",
    ]
    if references:
        names = " and ".join(f"/{LABELS[ref]}" for ref in references)
        lines.append(f"  {names}: the row's QPS over that server's (the gslb row: gslb's ratio to it).")
    lines += [header, "-" * len(header)]
    for s in summaries:
        ratios = "".join(f" {s.ratios[ref]:>6.2f}" for ref in references)
        lines.append(
            f"{s.server:<6} {s.qps:>9,.0f} {s.qps_spread_percent:>5.0f}%{ratios} "
            f"{s.server_cpu_percent_at_max:>6.0f}% {s.client_cpu_percent_at_max:>6.0f}% {s.fixed_rate:>8,} "
            f"{s.cpu_us_per_query:>8.1f} {s.latency_avg_ms:>6.3f} ms {s.latency_max_ms:>6.2f} ms "
            f"{s.lost_percent_at_max:>7.3f}% {s.lost_percent_fixed:>8.3f}% {s.other_load_percent:>4.0f}%"
        )
    return "\n".join(lines)


def loss_notes(measurements: Sequence[Measurement]) -> list[str]:
    """One line per run that lost queries, with the kernel's count of UDP receive-buffer drops beside it."""
    notes = []
    for m in measurements:
        for kind, run in (("max", m.max_run), (f"at {m.fixed_run.rate:,} qps", m.fixed_run)):
            if run.report.queries_lost or run.report.timeouts:
                notes.append(
                    f"round {m.round} {m.server} {m.workload} {kind}: {run.report.queries_lost:,} of "
                    f"{run.report.queries_sent:,} queries lost ({lost_percent([run]):.4f}%), "
                    f"{run.report.timeouts:,} timeout lines; UDP receive-buffer drops during the run: "
                    f"{run.udp_receive_buffer_errors:,}"
                )
    return notes


def bottleneck_notes(summaries: Sequence[Summary]) -> list[str]:
    """Name the servers whose max QPS was dnsperf's: its CPU was full while the server's had time left."""
    notes = []
    for s in summaries:
        if (
            s.client_cpu_percent_at_max >= CLIENT_BOUND_PERCENT
            and s.server_side_busy_percent_at_max < SERVER_BOUND_PERCENT
        ):
            notes.append(
                f"workload {s.workload}: {s.server}'s max QPS is dnsperf's limit, not the server's (CPU 1 "
                f"{s.client_cpu_percent_at_max:.0f}% busy, CPU 0 {s.server_side_busy_percent_at_max:.0f}%, "
                f"{s.server} itself {s.server_cpu_percent_at_max:.0f}%): read its QPS and the ratio as "
                "bounds, compare CPU us/q"
            )
    return notes


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
    busiest = max(run.other_load_percent for m in measurements for run in (m.max_run, m.fixed_run))
    if busiest <= NOISY_OTHER_LOAD_PERCENT:
        return []
    return [
        f"CPU {SERVER_CPU} was up to {busiest:.0f}% busy with other work during a run: "
        "other processes competed with the server, so expect noisy figures"
    ]
