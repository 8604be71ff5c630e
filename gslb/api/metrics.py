"""gslb's own numbers as Prometheus metric families, made at scrape time from one ``Observation``.

Nothing here runs per query: the data path only counts (gslb/answer/counters.py), and a scrape first
gathers what it shows (the counts by label, the revisions, the health report, the rebuild times)
into an ``Observation``, then ``GslbCollector`` turns that into families for prometheus_client's
text format. So the families are a pure function of one value, unit-tested without a server.

A lone process observes its own ``DnsCounts``; the supervisor of ``--workers N`` gets each
worker's over its control channel (gslb/node/control.py) and adds them up in a ``WorkerTally``, which
keeps what replaced workers had counted so that no counter goes backwards. The families and their
labels are the same either way, so one dashboard shows a node of one process or of many.

Every label value is bounded: rcodes and qtypes by name from fixed tables (``other`` for the
rest), pools and members by the inventory, processes by the worker count.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from gslb.answer.counters import REBUILD_BUCKETS, RebuildTimes, Totals
from gslb.answer.server import DnsServer
from gslb.health.status import HealthReport, HealthState

Metric = CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily


@dataclass(frozen=True, slots=True)
class DnsCounts:
    """What answering processes counted since they started: one process's, or a node's workers'
    summed (``WorkerTally``). ``document()`` is what a worker sends its supervisor."""

    totals: Totals = field(default_factory=Totals)
    rebuilds: RebuildTimes = field(default_factory=RebuildTimes)
    built_at: float | None = None  # when the served snapshot was built (the oldest); None: none serves

    @classmethod
    def of(cls, server: DnsServer) -> DnsCounts:
        """What ``server`` counted so far (on its event loop's thread: see ``DnsServer.totals``)."""
        return cls(server.totals(), server.rebuilds, server.holder.snapshot.built_at)

    def document(self) -> dict[str, Any]:
        return {
            "totals": self.totals.document(),
            "rebuilds": self.rebuilds.document(),
            "built_at": self.built_at,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DnsCounts:
        """The counts ``document()`` wrote; ValueError, TypeError or KeyError if it did not."""
        built_at = document["built_at"]
        return cls(
            Totals.from_document(document["totals"]),
            RebuildTimes.from_document(document["rebuilds"]),
            None if built_at is None else float(built_at),
        )


@dataclass(slots=True)
class WorkerTally:
    """A node's counts from its workers' latest reports, plus ``retired``: those of the workers
    that died (each one's latest report), so that restarting a worker, whose counts start again
    from zero, never makes a counter go backwards. What a worker counted after its latest report
    is lost with it: a process killed cannot tell, and its counters only ever lag, never lead."""

    retired: DnsCounts = field(default_factory=DnsCounts)

    def retire(self, last: DnsCounts) -> None:
        """Keep a dead worker's latest counts; its latest build time goes (no process serves it)."""
        self.retired = DnsCounts(
            Totals.sum((self.retired.totals, last.totals)),
            RebuildTimes.sum((self.retired.rebuilds, last.rebuilds.past())),
        )

    def node(self, live: Iterable[DnsCounts]) -> DnsCounts:
        """The node's counts: ``live``, the latest report of each worker running, and the retired."""
        reports = list(live)
        built = [report.built_at for report in reports if report.built_at is not None]
        return DnsCounts(
            Totals.sum([self.retired.totals, *(report.totals for report in reports)]),
            RebuildTimes.sum([self.retired.rebuilds, *(report.rebuilds for report in reports)]),
            min(built, default=None),
        )


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything one scrape shows; None where this process cannot know it."""

    now: float  # wall-clock time of the scrape
    revisions: Mapping[str, int]  # the snapshot revision each answering process serves
    store_revision: int | None  # None: the store did not answer in time
    totals: Totals | None = None  # None: no DNS server in this process (a supervisor)
    snapshot_built_at: float | None = None
    rebuilds: RebuildTimes | None = None
    health: HealthReport | None = None  # None: no health monitor, or it did not answer


class GslbCollector(Collector):
    """The families of one ``Observation``."""

    def __init__(self, observation: Observation) -> None:
        self.observation = observation

    def collect(self) -> Iterator[Metric]:
        seen = self.observation
        if seen.totals is not None:
            yield from _dns(seen.totals)
        if seen.health is not None:
            yield from _health(seen.health)
        yield from _snapshots(seen)


def _dns(totals: Totals) -> Iterator[Metric]:
    queries = CounterMetricFamily(
        "gslb_dns_queries",
        "DNS queries answered, by response code, question type and the pool that answered "
        '(pool="" for static and negative answers).',
        labels=["rcode", "qtype", "pool"],
    )
    for labels, count in sorted(totals.queries.items()):
        queries.add_metric(labels, count)
    yield queries
    answers = CounterMetricFamily(
        "gslb_dns_answers",
        "Member addresses (CNAME targets) handed out in pool answers, each address counted once.",
        labels=["pool", "member"],
    )
    for handed, count in sorted(totals.answers.items()):
        answers.add_metric(handed, count)
    yield answers


def _health(report: HealthReport) -> Iterator[Metric]:
    health = GaugeMetricFamily(
        "gslb_member_health",
        "Each member's health check state: 1 for the current state, 0 for the others.",
        labels=["pool", "member", "state"],
    )
    up = GaugeMetricFamily(
        "gslb_member_up",
        "1 while a member counts as up (its check's verdict with the operator's override), else 0.",
        labels=["pool", "member"],
    )
    clears = GaugeMetricFamily(
        "gslb_member_caches_clear_timestamp_seconds",
        "When resolvers have forgotten the answers from before the member's last transition or drain "
        "(Unix time): a withdrawal's window ends here.",
        labels=["pool", "member"],
    )
    for pool in report.pools:
        for member in pool.members:
            for state in HealthState:
                health.add_metric([pool.pool, member.address, str(state)], 1 if member.state is state else 0)
            up.add_metric([pool.pool, member.address], 1 if member.effective_up else 0)
            if member.caches_clear_at is not None:
                clears.add_metric([pool.pool, member.address], member.caches_clear_at.timestamp())
    yield health
    yield up
    yield clears
    latency = HistogramMetricFamily(
        "gslb_check_latency_seconds",
        "How long health checks took, by pool and check type.",
        labels=["pool", "check_type"],
    )
    for histogram in report.latency:
        latency.add_metric(
            [histogram.pool, str(histogram.check_type)], histogram.cumulative(), sum_value=histogram.total
        )
    yield latency


def _snapshots(seen: Observation) -> Iterator[Metric]:
    revision = GaugeMetricFamily(
        "gslb_snapshot_revision",
        "The store revision of the snapshot each answering process serves.",
        labels=["process"],
    )
    for process, served in sorted(seen.revisions.items()):
        revision.add_metric([process], served)
    yield revision
    yield GaugeMetricFamily(
        "gslb_store_up",
        "1 if the store answered this scrape's revision query in time, else 0.",
        value=0 if seen.store_revision is None else 1,
    )
    if seen.store_revision is not None:
        yield GaugeMetricFamily("gslb_store_revision", "The store's revision.", value=seen.store_revision)
    if seen.snapshot_built_at is not None:
        yield GaugeMetricFamily(
            "gslb_snapshot_age_seconds",
            "Seconds since the served snapshot was built (it is rebuilt only when something changes).",
            value=max(seen.now - seen.snapshot_built_at, 0.0),
        )
    if seen.rebuilds is not None:
        yield from _rebuilds(seen.rebuilds)


def _rebuilds(rebuilds: RebuildTimes) -> Iterator[Metric]:
    last = GaugeMetricFamily(
        "gslb_snapshot_rebuild_seconds",
        "How long the latest snapshot build of each kind took: full (every zone and pool) or delta "
        "(the changed pools).",
        labels=["kind"],
    )
    for kind, seconds in sorted(rebuilds.last.items()):
        last.add_metric([kind], seconds)
    yield last
    durations = HistogramMetricFamily(
        "gslb_snapshot_rebuild_duration_seconds",
        "How long snapshot builds took, by kind (full or delta).",
        labels=["kind"],
    )
    bounds = (*map(repr, REBUILD_BUCKETS), "+Inf")
    for kind, counts in sorted(rebuilds.buckets.items()):
        durations.add_metric(
            [kind], list(zip(bounds, itertools.accumulate(counts), strict=True)), rebuilds.sums[kind]
        )
    yield durations
