"""Latency percentiles from dnsperf's verbose output (``-v``), which has no histogram option in 2.10.

With ``-v`` dnsperf prints one line per answered query, ``> RCODE DESCRIPTION SECONDS.MICROSECONDS``
(``> NOERROR binary input 0.000171``; the description is the query's text line, or ``binary input`` with
``-B``), and ``> T DESCRIPTION`` for a query it gave up on after its timeout. The latencies are kept as a
histogram of whole microseconds, dnsperf's own resolution: a few thousand distinct values however long the
run, so memory stays bounded while the percentiles are exact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

VERBOSE_PREFIX = "> "
TIMEOUT_MARK = "T"
INTERRUPTED_MARK = "I"


@dataclass(slots=True)
class LatencyHistogram:
    """Answered queries by latency in microseconds, and the queries that timed out (slower than any)."""

    counts: Counter[int] = field(default_factory=Counter)
    timed_out: int = 0

    @property
    def answered(self) -> int:
        return sum(self.counts.values())

    @property
    def total(self) -> int:
        return self.answered + self.timed_out

    def add_line(self, line: str) -> bool:
        """Count one line of dnsperf's output if it is a verbose per-query line; say whether it was."""
        if not line.startswith(VERBOSE_PREFIX):
            return False
        fields = line[len(VERBOSE_PREFIX) :].split()
        if not fields:
            return False
        if fields[0] == TIMEOUT_MARK:
            self.timed_out += 1
            return True
        if fields[0] == INTERRUPTED_MARK or len(fields) < 2:
            # Interrupted (dnsperf stopped by a signal): neither answered nor lost to the server.
            return True
        self.counts[parse_microseconds(fields[-1])] += 1
        return True

    def percentile(self, percent: float) -> float:
        """The latency in seconds below which ``percent`` % of the queries fall (nearest rank).

        Timed-out queries rank above every answer, so when more than (100 - percent) % of the queries were
        lost the result is infinite: a lost query is not a fast one. NaN when there is nothing to rank.
        """
        if not 0 < percent <= 100:
            raise ValueError(f"percentile {percent} is not in (0, 100]")
        total = self.total
        if total == 0:
            return math.nan
        rank = math.ceil(percent / 100 * total)
        seen = 0
        for microseconds in sorted(self.counts):
            seen += self.counts[microseconds]
            if seen >= rank:
                return microseconds / 1e6
        return math.inf


def parse_microseconds(text: str) -> int:
    """dnsperf's ``%u.%06u`` seconds as whole microseconds, without a round trip through float."""
    seconds, _, fraction = text.partition(".")
    if not seconds.isdigit() or not fraction.isdigit() or len(fraction) != 6:
        raise ValueError(f"not a dnsperf latency: {text!r}")
    return int(seconds) * 1_000_000 + int(fraction)


def histogram(lines: Iterable[str]) -> LatencyHistogram:
    result = LatencyHistogram()
    for line in lines:
        result.add_line(line)
    return result
