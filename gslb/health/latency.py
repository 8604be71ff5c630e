"""Check latency per pool and check type, in fixed buckets: what ``gslb_check_latency_seconds`` shows.

Buckets are fixed (Prometheus-style, 1 ms to 2.5 s) rather than configurable: a check's timeout is
at most a few seconds, and fixed bounds let histograms from any node and any restart be summed.
The monitor counts into a ``LatencyRecorder`` (one bucket increment per probe, no allocation); a
report carries immutable ``LatencyHistogram`` values, whose ``cumulative()`` is the shape
prometheus_client's ``HistogramMetricFamily.add_metric`` takes.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gslb.model import CheckType

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds in seconds (inclusive, as Prometheus's ``le``); a last bucket holds the rest."""

HistogramKey = tuple[str, CheckType]  # (pool, check type)


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """How long one pool's probes took, by bucket, since the health process started."""

    pool: str
    check_type: CheckType
    counts: tuple[int, ...]  # per bucket of LATENCY_BUCKETS, not cumulative, then the overflow
    total: float  # seconds, the sum of every latency counted

    def __post_init__(self) -> None:
        if len(self.counts) != len(LATENCY_BUCKETS) + 1:
            raise ValueError(f"{len(self.counts)} bucket counts for {len(LATENCY_BUCKETS) + 1} buckets")

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``[("0.001", n), ..., ("+Inf", count)]``: counts at or under each bound, Prometheus's way."""
        running = 0
        buckets = []
        for bound, count in zip((*map(repr, LATENCY_BUCKETS), "+Inf"), self.counts, strict=True):
            running += count
            buckets.append((bound, running))
        return buckets

    def document(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "check_type": str(self.check_type),
            "counts": list(self.counts),
            "sum": self.total,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> LatencyHistogram:
        counts = tuple(int(c) for c in document["counts"])
        return cls(str(document["pool"]), CheckType(document["check_type"]), counts, float(document["sum"]))


class LatencyRecorder:
    """The monitor's running counts: one list of bucket counts and a sum per (pool, check type)."""

    def __init__(self) -> None:
        self._counts: dict[HistogramKey, list[int]] = {}
        self._sums: dict[HistogramKey, float] = {}

    def record(self, pool: str, check_type: CheckType, seconds: float) -> None:
        key = (pool, check_type)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = [0] * (len(LATENCY_BUCKETS) + 1)
            self._sums[key] = 0.0
        counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sums[key] += seconds

    def keep(self, wanted: Collection[HistogramKey]) -> None:
        """Forget the histograms of pools no longer checked, or checked by another type now."""
        for key in self._counts.keys() - set(wanted):
            del self._counts[key]
            del self._sums[key]

    def histograms(self, pool: str | None = None) -> tuple[LatencyHistogram, ...]:
        """Every histogram, or one pool's, in (pool, type) order."""
        return tuple(self._values(pool))

    def _values(self, pool: str | None) -> Iterator[LatencyHistogram]:
        for key in sorted(self._counts):
            if pool is None or key[0] == pool:
                yield LatencyHistogram(key[0], key[1], tuple(self._counts[key]), self._sums[key])
