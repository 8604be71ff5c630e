"""dnsperf as the load generator: build its command line, run it pinned to a CPU, and parse its report."""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.latency import LatencyHistogram

CLIENTS = 4
MAX_OUTSTANDING = 200
SETTLE_SECONDS = 30.0
"""Allowance beyond ``-l`` for dnsperf to start, wait for late answers (its 5 s timeout) and report."""
ERROR_TEXT_LIMIT = 64 * 1024


class DnsperfError(RuntimeError):
    """dnsperf failed or printed a report this parser does not understand."""


@dataclass(frozen=True, slots=True)
class DnsperfReport:
    """The figures of one dnsperf run, latencies in seconds."""

    queries_sent: int
    queries_completed: int
    queries_lost: int
    lost_percent: float
    qps: float
    run_time: float
    latency_avg: float
    latency_min: float
    latency_max: float
    rcodes: tuple[tuple[str, int], ...]
    timeouts: int
    """``[Timeout]`` lines (``> T`` with ``-v``): queries dnsperf gave up on after its 5 s timeout."""
    latency_p50: float = math.nan
    latency_p99: float = math.nan
    """Percentiles of a verbose (``-v``) run, lost queries ranked last; NaN for a run without ``-v``."""


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_PATTERNS: dict[str, str] = {
    "queries_sent": r"Queries sent:\s+([0-9]+)",
    "queries_completed": r"Queries completed:\s+([0-9]+)",
    "queries_lost": r"Queries lost:\s+([0-9]+)",
    "lost_percent": rf"Queries lost:\s+[0-9]+ \({_NUMBER}%\)",
    "qps": rf"Queries per second:\s+{_NUMBER}",
    "run_time": rf"Run time \(s\):\s+{_NUMBER}",
    "latency_avg": rf"Average Latency \(s\):\s+{_NUMBER}",
    "latency_min": rf"Average Latency \(s\):.*\(min {_NUMBER}",
    "latency_max": rf"Average Latency \(s\):.*max {_NUMBER}\)",
}


def parse_report(text: str) -> DnsperfReport:
    """Read dnsperf's closing statistics (2.x format); raise DnsperfError naming every missing figure."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for field, pattern in _PATTERNS.items():
        match = re.search(pattern, text)
        if match is None:
            missing.append(field)
        else:
            found[field] = match.group(1)
    if missing:
        raise DnsperfError(f"dnsperf report lacks {', '.join(missing)}:\n{text}")
    rcodes_line = re.search(r"Response codes:\s+(.*)", text)
    rcodes = tuple(
        (name, int(count))
        for name, count in re.findall(r"([A-Z]+) ([0-9]+) \(", rcodes_line.group(1) if rcodes_line else "")
    )
    return DnsperfReport(
        queries_sent=int(found["queries_sent"]),
        queries_completed=int(found["queries_completed"]),
        queries_lost=int(found["queries_lost"]),
        lost_percent=float(found["lost_percent"]),
        qps=float(found["qps"]),
        run_time=float(found["run_time"]),
        latency_avg=float(found["latency_avg"]),
        latency_min=float(found["latency_min"]),
        latency_max=float(found["latency_max"]),
        rcodes=rcodes,
        timeouts=sum(1 for line in text.splitlines() if line.startswith("[Timeout]")),
    )


def command(
    dnsperf: str,
    queries: Path,
    *,
    host: str,
    port: int,
    seconds: float,
    rate: int | None,
    taskset: str,
    cpu: int,
    verbose: bool = False,
) -> list[str]:
    """The dnsperf command line pinned to ``cpu`` for a binary (``-B``) query file; ``rate`` adds ``-Q``
    for a fixed-rate run, ``verbose`` adds ``-v`` (one line per query, for latency percentiles)."""
    args = [taskset, "-c", str(cpu), dnsperf, "-s", host, "-p", str(port), "-d", str(queries), "-B"]
    args += ["-l", f"{seconds:g}", "-c", str(CLIENTS), "-q", str(MAX_OUTSTANDING)]
    if rate is not None:
        args += ["-Q", str(rate)]
    if verbose:
        args.append("-v")
    return args


def run(args: list[str], seconds: float) -> DnsperfReport:
    """Run dnsperf to completion (bounded in time) and parse what it printed.

    Its output goes to an unnamed temporary file, not a pipe: with ``-v`` it is one line per query (some
    MB), read back line by line into a latency histogram, never held whole.
    """
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        try:
            done = subprocess.run(
                args, stdout=stdout, stderr=stderr, timeout=seconds + SETTLE_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise DnsperfError(
                f"dnsperf did not finish within {seconds + SETTLE_SECONDS:.0f} s: {args}"
            ) from exc
        stdout.seek(0)
        latencies = LatencyHistogram()
        report_lines = [
            line for line in (raw.decode(errors="replace") for raw in stdout) if not latencies.add_line(line)
        ]
        report_text = "".join(report_lines)
        if done.returncode != 0:
            stderr.seek(0)
            errors = stderr.read(ERROR_TEXT_LIMIT).decode(errors="replace")
            raise DnsperfError(f"dnsperf exited with {done.returncode}: {args}\n{report_text}{errors}")
    report = parse_report(report_text)
    if latencies.total == 0:
        return report
    return dataclasses.replace(
        report,
        latency_p50=latencies.percentile(50),
        latency_p99=latencies.percentile(99),
        timeouts=report.timeouts + latencies.timed_out,
    )
