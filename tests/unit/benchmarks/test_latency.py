"""bench/latency.py and the verbose side of bench/loadgen.py: dnsperf ``-v`` lines, percentiles, report."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.latency import LatencyHistogram, histogram, parse_microseconds
from bench.loadgen import command, parse_report

# Lines as dnsperf 2.10 prints them with -v (checked against a live run): text input, binary input, a
# timeout, an interrupted query, and the status lines around them that are not per-query.
VERBOSE_OUTPUT = """\
DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15999 -d /tmp/q.bin -B -n 2 -v
[Status] Sending queries (to 127.0.0.1:15999)
> NOERROR www.gslb.example.test A 0.000171
> NXDOMAIN nx.gslb.example.test A 0.000110
> NOERROR binary input 0.000022
> REFUSED binary input 1.000038
> T binary input
> I binary input
[Status] Testing complete (end of file)
"""

REPORT = """\
Statistics:

  Queries sent:         6
  Queries completed:    4 (66.67%)
  Queries lost:         1 (16.67%)

  Response codes:       NOERROR 2 (50.00%), NXDOMAIN 1 (25.00%), REFUSED 1 (25.00%)
  Average packet size:  request 38, response 80
  Run time (s):         0.000771
  Queries per second:   5188.067445

  Average Latency (s):  0.250085 (min 0.000022, max 1.000038)
  Latency StdDev (s):   0.000069
"""


def test_verbose_lines_are_counted_and_other_lines_left_alone() -> None:
    latencies = LatencyHistogram()
    taken = [latencies.add_line(line) for line in VERBOSE_OUTPUT.splitlines()]
    assert taken.count(True) == 6
    assert latencies.counts == {171: 1, 110: 1, 22: 1, 1_000_038: 1}
    assert latencies.timed_out == 1
    assert (latencies.answered, latencies.total) == (4, 5)
    assert not latencies.add_line("[Timeout] Query timed out: msg id 7")


def test_latency_text_is_read_exactly_in_microseconds() -> None:
    assert parse_microseconds("0.000001") == 1
    assert parse_microseconds("12.345678") == 12_345_678
    for bad in ("0.0001", "1", "x.000001", "-1.000000", "0.00000a"):
        with pytest.raises(ValueError):
            parse_microseconds(bad)


def test_nearest_rank_percentiles() -> None:
    # 1..100 microseconds once each: the p-th percentile is p microseconds.
    latencies = histogram(f"> NOERROR binary input 0.{us:06d}" for us in range(1, 101))
    assert latencies.percentile(50) == pytest.approx(50e-6)
    assert latencies.percentile(99) == pytest.approx(99e-6)
    assert latencies.percentile(100) == pytest.approx(100e-6)
    assert latencies.percentile(0.5) == pytest.approx(1e-6)


def test_percentiles_of_repeated_values() -> None:
    lines = ["> NOERROR binary input 0.000040"] * 98 + ["> NOERROR binary input 0.002000"] * 2
    latencies = histogram(lines)
    assert latencies.percentile(50) == pytest.approx(40e-6)
    assert latencies.percentile(98) == pytest.approx(40e-6)
    assert latencies.percentile(99) == pytest.approx(2e-3)


def test_lost_queries_rank_after_every_answer() -> None:
    # 1 lost in 100: the 99th percentile is still an answer; 2 lost in 100: it is a lost query.
    one_lost = histogram(["> NOERROR binary input 0.000100"] * 99 + ["> T binary input"])
    assert one_lost.percentile(99) == pytest.approx(100e-6)
    assert math.isinf(one_lost.percentile(100))
    two_lost = histogram(["> NOERROR binary input 0.000100"] * 98 + ["> T binary input"] * 2)
    assert two_lost.percentile(98) == pytest.approx(100e-6)
    assert math.isinf(two_lost.percentile(99))


def test_percentile_of_nothing_and_out_of_range() -> None:
    assert math.isnan(LatencyHistogram().percentile(50))
    with pytest.raises(ValueError):
        LatencyHistogram().percentile(0)
    with pytest.raises(ValueError):
        LatencyHistogram().percentile(101)


def test_report_of_a_verbose_run_parses_without_the_per_query_lines() -> None:
    latencies = LatencyHistogram()
    rest = "".join(
        line + "\n" for line in (VERBOSE_OUTPUT + REPORT).splitlines() if not latencies.add_line(line)
    )
    report = parse_report(rest)
    assert (report.queries_sent, report.queries_completed, report.queries_lost) == (6, 4, 1)
    assert report.rcodes == (("NOERROR", 2), ("NXDOMAIN", 1), ("REFUSED", 1))
    assert math.isnan(report.latency_p99)


def test_command_reads_binary_input_and_adds_verbose_on_request() -> None:
    def dnsperf(rate: int | None, verbose: bool) -> list[str]:
        return command(
            "dnsperf",
            Path("q.bin"),
            host="127.0.0.1",
            port=53,
            seconds=5,
            rate=rate,
            taskset="taskset",
            cpu=1,
            verbose=verbose,
        )

    plain = dnsperf(None, verbose=False)
    assert plain[:4] == ["taskset", "-c", "1", "dnsperf"]
    assert "-B" in plain and "-v" not in plain and "-Q" not in plain
    verbose = dnsperf(30_000, verbose=True)
    assert verbose[verbose.index("-Q") + 1] == "30000"
    assert "-v" in verbose
