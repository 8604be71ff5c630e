"""Query counters and metric families without sockets: what the responder counts, what each count key
means once translated with its snapshot, across swaps, and the families /metrics renders from it."""

from __future__ import annotations

import collections
import random
from dataclasses import replace
from datetime import UTC, datetime

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gslb.answer.counters import (
    DELTA,
    FULL,
    OTHER,
    REBUILD_BUCKETS,
    Counters,
    QueryLabels,
    RebuildTimes,
    Totals,
    first_count,
    qtype_label,
    rcode_label,
)
from gslb.answer.responder import ResponderSettings, respond, respond_stream
from gslb.api.metrics import DnsCounts, GslbCollector, Observation, WorkerTally
from gslb.api.observe import LISTENING, NOT_LISTENING, READY_LAG, SnapshotLag, readiness
from gslb.declare.apply import declared
from gslb.dns import zonefile
from gslb.health.latency import LATENCY_BUCKETS, LatencyHistogram
from gslb.health.status import HealthReport, HealthState, MemberStatus, PoolHealth
from gslb.model import AdminState, AllDown, CheckType, Inventory, Member, Policy, Pool, PoolKind
from gslb.snapshot import snapshot
from gslb.snapshot.pools import PoolCompiler
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

ZONES = [*zonefile.load_zones(EXAMPLE_ZONES), *zonefile.load_zones(TEST_ZONES)]
EXAMPLE = declared(EXAMPLE_ZONES, zonefile.load_zones(EXAMPLE_ZONES))
ALIAS = Pool(
    "alias",
    ("cdn.auth.test.",),
    kind=PoolKind.CNAME,
    policy=Policy.ROUND_ROBIN,
    members=(Member("eu1", "edge1.example.net."), Member("us1", "edge2.example.net.")),
)
INVENTORY = replace(EXAMPLE, pools=(*EXAMPLE.pools, ALIAS)).normalized()
WWW_V4 = {"192.0.2.10", "198.51.100.10", "203.0.113.10"}


def build(inventory: Inventory = INVENTORY) -> snapshot.Snapshot:
    return snapshot.build(ZONES, inventory, 1, random.Random(5), compiler=PoolCompiler())


def ask(
    snap: snapshot.Snapshot,
    settings: ResponderSettings,
    name: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    rdclass: str = "IN",
    **edns: object,
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, rdclass, **edns)  # type: ignore[arg-type]
    if tcp:
        wires = list(respond_stream(snap, query.to_wire(), settings, "192.0.2.77"))
        assert len(wires) == 1
        return dns.message.from_wire(wires[0])
    wire = respond(snap, query.to_wire(), settings, "192.0.2.77")
    assert wire is not None
    return dns.message.from_wire(wire)


def handed(response: dns.message.Message, owner: str) -> list[str]:
    """The addresses (CNAME targets) of ``owner``'s records in the answer section."""
    name = dns.name.from_text(owner)
    found: list[str] = []
    for rrset in response.answer:
        if rrset.name == name:
            found += [r.target.to_text() if rrset.rdtype == dns.rdatatype.CNAME else r.address for r in rrset]
    return found


def test_every_kind_of_answer_is_counted_under_its_labels() -> None:
    snap, settings = build(), ResponderSettings()
    expected: collections.Counter[tuple[str, str, str]] = collections.Counter()
    members: collections.Counter[tuple[str, str]] = collections.Counter()

    def expect(response: dns.message.Message, qtype: str, pool: str = "", owner: str = "") -> None:
        expected[dns.rcode.to_text(response.rcode()), qtype, pool] += 1
        members.update((pool, address) for address in handed(response, owner))

    for _ in range(7):  # a pool, without and with EDNS, and over TCP
        expect(ask(snap, settings, "www.gslb.example.test"), "A", "www", "www.gslb.example.test.")
        expect(ask(snap, settings, "www.gslb.example.test", use_edns=0), "A", "www", "www.gslb.example.test.")
        expect(
            ask(snap, settings, "WWW.gslb.example.test", "AAAA", tcp=True),
            "AAAA",
            "www",
            "www.gslb.example.test.",
        )
    for _ in range(3):  # a static CNAME into the pool, a CNAME pool: balanced, so counted as the pool
        expect(ask(snap, settings, "api.gslb.example.test"), "A", "www", "www.gslb.example.test.")
        expect(ask(snap, settings, "cdn.auth.test", "CNAME", use_edns=0), "CNAME", "alias", "cdn.auth.test.")
    expect(ask(snap, settings, "mail.gslb.example.test", use_edns=0), "A")  # static
    expect(ask(snap, settings, "gslb.example.test", "SOA", tcp=True), "SOA")
    for index in range(4):  # negative templates, on the fast path
        expect(ask(snap, settings, f"nope{index}.gslb.example.test", use_edns=0), "A")
        expect(ask(snap, settings, "www.gslb.example.test", "MX"), "MX")  # NODATA at a pool name
        expect(ask(snap, settings, f"x{index}.example.org"), "A")  # REFUSED: no zone of ours
    expect(ask(snap, settings, "host.auth.test", "A", rdclass="CH"), "A")  # REFUSED as an error
    expect(ask(snap, settings, "host.auth.test", "ANY"), "ANY")  # the slow path renders it
    expect(ask(snap, settings, "host.auth.test", "TYPE65280"), OTHER)  # unassigned: bounded label
    expect(ask(snap, settings, "host.auth.test", "A", use_edns=1), "A")  # BADVERS
    settings.counters.fold(snap)
    totals = settings.counters.totals()
    assert totals.queries == dict(expected)
    assert totals.answers == dict(members)
    assert {m for (pool, m) in totals.answers if pool == "www"} == WWW_V4 | {"2001:db8:10::10"}
    assert {("NXDOMAIN", "A", ""), ("REFUSED", "A", ""), ("BADVERS", "A", "")} <= set(totals.queries)


def test_errors_without_a_question_count_with_an_empty_qtype() -> None:
    settings = ResponderSettings()
    assert respond(build(), b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www", settings) is not None
    settings.counters.fold(build())
    assert settings.counters.totals().queries == {("FORMERR", "", ""): 1}


def test_odd_questions_on_the_slow_path_share_one_key() -> None:
    """A client cycling through unassigned types grows nothing but one count."""
    snap, settings = build(), ResponderSettings()
    for qtype in range(60000, 60100):
        response = ask(snap, settings, "host.auth.test", f"TYPE{qtype}", rdclass="CH")
        assert response.rcode() == dns.rcode.REFUSED
    assert len(settings.counters.live) == 1
    settings.counters.fold(snap)
    assert settings.counters.totals().queries == {("REFUSED", OTHER, ""): 100}


def test_counts_taken_before_a_swap_keep_the_meaning_of_the_snapshot_that_answered() -> None:
    """As DnsServer.swap does: take, swap, translate with the old snapshot. The old pool had a
    member and choices the new one lacks; those counts still land on them."""
    old, settings = build(), ResponderSettings()
    before = [ask(old, settings, "www.gslb.example.test") for _ in range(9)]
    www = INVENTORY.pool("www")
    assert www is not None
    kept = replace(www, members=tuple(m for m in www.members if m.address != "203.0.113.10"))
    new = snapshot.update(old, {"www": kept}, 2)
    assert new is not None
    taken = settings.counters.take()
    settings.counters.attribute(taken, old)
    after = [ask(new, settings, "www.gslb.example.test") for _ in range(4)]
    settings.counters.fold(new)
    totals = settings.counters.totals()
    assert totals.queries == {("NOERROR", "A", "www"): 13}
    expected = collections.Counter(a for r in before + after for a in handed(r, "www.gslb.example.test."))
    assert totals.answers == {("www", address): n for address, n in expected.items()}
    assert totals.answers[("www", "203.0.113.10")] > 0


def test_a_count_racing_a_swap_is_dropped_not_raised() -> None:
    """Slots made for another snapshot's pool with fewer choices: the responder's increment fails
    over to first_count, which drops the count; a key the snapshot no longer has is dropped too."""
    snap, counters = build(), Counters()
    key = snapshot.question_key(dns.name.from_text("www.gslb.example.test."), dns.rdatatype.A)
    gone = snapshot.question_key(dns.name.from_text("gone.gslb.example.test."), dns.rdatatype.A)
    first_count(counters, key, 0, 1)
    first_count(counters, key, 5, 1)  # index past the slots: dropped
    first_count(counters, gone, 0, 1)
    counters.fold(snap)
    assert counters.totals().queries == {("NOERROR", "A", "www"): 1}


@pytest.mark.parametrize(
    ("qtype", "label"),
    [
        (1, "A"),
        (28, "AAAA"),
        (255, "ANY"),
        (65, "HTTPS"),
        (252, "AXFR"),
        (65280, OTHER),
        (4242, OTHER),
        (-1, ""),
    ],
)
def test_qtype_labels_are_mnemonics_from_a_fixed_table(qtype: int, label: str) -> None:
    assert qtype_label(qtype) == label


def test_rcode_labels_are_names_from_a_fixed_table() -> None:
    assert [rcode_label(r) for r in (0, 1, 3, 4, 5, 9, 16, 15)] == [
        "NOERROR", "FORMERR", "NXDOMAIN", "NOTIMP", "REFUSED", "NOTAUTH", "BADVERS", OTHER,
    ]  # fmt: skip


def test_totals_cross_process_boundaries_as_documents() -> None:
    totals = Totals({("NOERROR", "A", "www"): 3, ("NXDOMAIN", "AAAA", ""): 1}, {("www", "192.0.2.10"): 6})
    assert Totals.from_document(totals.document()) == totals


def test_a_rebuild_is_a_delta_when_it_shares_the_static_table() -> None:
    old = build()
    www = INVENTORY.pool("www")
    assert www is not None
    delta = snapshot.update(old, {"www": replace(www, ttl=60)}, 2)
    assert delta is not None
    times = RebuildTimes()
    times.swapped(None, old)
    times.swapped(old, delta)
    times.swapped(delta, build())
    assert sum(times.buckets[FULL]) == 2
    assert sum(times.buckets[DELTA]) == 1
    assert times.last[DELTA] == delta.build_seconds
    assert len(times.buckets[FULL]) == len(REBUILD_BUCKETS) + 1


def member(pool: str, address: str, state: HealthState, up: bool) -> MemberStatus:
    return MemberStatus(
        pool, address, "eu1", AdminState.ENABLED, None, "web", CheckType.TCP, state, up, up,
        datetime(2026, 1, 1, tzinfo=UTC), "connect refused", 0, 2, None,
    )  # fmt: skip


def test_the_families_of_an_observation() -> None:
    rebuilds = RebuildTimes()
    rebuilds.record(FULL, 0.2)
    rebuilds.record(DELTA, 0.003)
    rebuilds.record(DELTA, 0.004)
    latency = LatencyHistogram("web", CheckType.TCP, (0, 2, 1, *([0] * (len(LATENCY_BUCKETS) - 2))), 0.009)
    withdrawn = datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC)
    members = (
        member("web", "192.0.2.1", HealthState.UP, True),
        replace(member("web", "192.0.2.2", HealthState.DOWN, False), caches_clear_at=withdrawn),
    )
    pool = PoolHealth("web", "tcp", CheckType.TCP, False, AllDown.FAIL_OPEN, None, members)
    seen = Observation(
        now=1000.0,
        revisions={"main": 7},
        store_revision=8,
        totals=Totals({("NOERROR", "A", "web"): 5}, {("web", "192.0.2.1"): 5}),
        snapshot_built_at=990.0,
        rebuilds=rebuilds,
        health=HealthReport(8, (pool,), (latency,)),
    )
    text = generate_latest(GslbCollector(seen)).decode()
    families = list(text_string_to_metric_families(text))
    assert len({f.name for f in families}) == len(families)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}
    assert samples[("gslb_dns_queries_total", (("pool", "web"), ("qtype", "A"), ("rcode", "NOERROR")))] == 5
    assert samples[("gslb_dns_answers_total", (("member", "192.0.2.1"), ("pool", "web")))] == 5
    health = {k[1]: v for k, v in samples.items() if k[0] == "gslb_member_health"}
    assert health[(("member", "192.0.2.2"), ("pool", "web"), ("state", "down"))] == 1
    assert health[(("member", "192.0.2.2"), ("pool", "web"), ("state", "up"))] == 0
    assert sum(health.values()) == 2 and len(health) == 2 * len(HealthState)
    assert samples[("gslb_member_up", (("member", "192.0.2.2"), ("pool", "web")))] == 0
    assert samples[("gslb_member_up", (("member", "192.0.2.1"), ("pool", "web")))] == 1
    clears = {k[1]: v for k, v in samples.items() if k[0] == "gslb_member_caches_clear_timestamp_seconds"}
    assert clears == {
        (("member", "192.0.2.2"), ("pool", "web")): withdrawn.timestamp()
    }  # no change: no series
    latency_labels = (("check_type", "tcp"), ("pool", "web"))
    assert samples[("gslb_check_latency_seconds_count", latency_labels)] == 3
    assert (
        samples[
            ("gslb_check_latency_seconds_bucket", (*latency_labels[:1], ("le", "0.0025"), latency_labels[1]))
        ]
        == 2
    )
    assert samples[("gslb_snapshot_revision", (("process", "main"),))] == 7
    assert samples[("gslb_store_revision", ())] == 8
    assert samples[("gslb_store_up", ())] == 1
    assert samples[("gslb_snapshot_age_seconds", ())] == 10
    assert samples[("gslb_snapshot_rebuild_seconds", (("kind", "delta"),))] == 0.004
    assert samples[("gslb_snapshot_rebuild_duration_seconds_count", (("kind", "delta"),))] == 2
    assert samples[("gslb_snapshot_rebuild_duration_seconds_bucket", (("kind", "full"), ("le", "0.25")))] == 1
    assert samples[("gslb_snapshot_rebuild_duration_seconds_bucket", (("kind", "full"), ("le", "0.1")))] == 0


def test_a_supervisor_without_dns_shows_revisions_and_the_store() -> None:
    text = generate_latest(GslbCollector(Observation(1.0, {"worker-0": 3, "worker-1": 4}, None))).decode()
    samples = {
        (s.name, tuple(s.labels.values())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples == {
        ("gslb_snapshot_revision", ("worker-0",)): 3,
        ("gslb_snapshot_revision", ("worker-1",)): 4,
        ("gslb_store_up", ()): 0,
    }


def test_ready_when_every_condition_holds() -> None:
    checks = readiness(2, LISTENING, {"main": 5}, 5, SnapshotLag(), 100.0)
    assert all(check.ok for check in checks.values())
    assert set(checks) == {"zones", "listeners", "store", "snapshot"}


def test_not_ready_names_each_failing_condition() -> None:
    checks = readiness(
        0, NOT_LISTENING, {}, "cannot read the store: connection refused", SnapshotLag(), 100.0
    )
    assert {name for name, check in checks.items() if not check.ok} == {
        "zones",
        "listeners",
        "store",
        "snapshot",
    }
    assert "connection refused" in checks["store"].detail


def test_a_snapshot_may_trail_the_store_for_a_moment_not_longer() -> None:
    lag = SnapshotLag()
    assert readiness(1, LISTENING, {"main": 5}, 6, lag, 100.0)["snapshot"].ok
    assert readiness(1, LISTENING, {"main": 5}, 7, lag, 100.0 + READY_LAG / 2)["snapshot"].ok
    stuck = readiness(1, LISTENING, {"main": 5}, 7, lag, 100.0 + READY_LAG)["snapshot"]
    assert not stuck.ok and "serving revision 5, the store is at 7" in stuck.detail


def test_a_store_written_continuously_and_served_promptly_never_looks_late() -> None:
    lag = SnapshotLag()
    for step in range(50):  # a write every 0.1 s; each check finds the previous one served
        assert readiness(1, LISTENING, {"main": step}, step + 1, lag, step * 0.1)["snapshot"].ok


def test_the_slowest_process_decides() -> None:
    lag = SnapshotLag()
    assert readiness(1, LISTENING, {"w0": 9, "w1": 8}, 9, lag, 0.0)["snapshot"].ok
    assert not readiness(1, LISTENING, {"w0": 9, "w1": 8}, 9, lag, READY_LAG + 0.1)["snapshot"].ok
    assert readiness(1, LISTENING, {"w0": 9, "w1": 9}, 9, lag, READY_LAG + 0.2)["snapshot"].ok


# --- a node of several workers ---------------------------------------------------------------------


def rebuilt(*builds: tuple[str, float]) -> RebuildTimes:
    times = RebuildTimes()
    for kind, seconds in builds:
        times.record(kind, seconds)
    return times


def test_totals_of_several_processes_add_up_by_label() -> None:
    one = Totals({("NOERROR", "A", "www"): 3, ("NXDOMAIN", "A", ""): 1}, {("www", "192.0.2.10"): 6})
    two = Totals({("NOERROR", "A", "www"): 4}, {("www", "192.0.2.10"): 1, ("www", "198.51.100.10"): 7})
    assert Totals.sum([one, two, Totals()]) == Totals(
        {("NOERROR", "A", "www"): 7, ("NXDOMAIN", "A", ""): 1},
        {("www", "192.0.2.10"): 7, ("www", "198.51.100.10"): 7},
    )
    assert Totals.sum([]) == Totals()


def test_rebuild_times_cross_process_boundaries_and_add_up() -> None:
    one = rebuilt((FULL, 0.2), (DELTA, 0.003))
    two = rebuilt((FULL, 0.7), (DELTA, 0.004), (DELTA, 0.02))
    assert RebuildTimes.from_document(one.document()) == one
    summed = RebuildTimes.sum([one, two])
    assert [sum(summed.buckets[kind]) for kind in (FULL, DELTA)] == [2, 3]
    assert summed.sums == {FULL: pytest.approx(0.9), DELTA: pytest.approx(0.027)}
    assert summed.last == {FULL: 0.7, DELTA: 0.02}  # the slowest process's latest
    assert summed.buckets[DELTA] == [
        a + b for a, b in zip(one.buckets[DELTA], two.buckets[DELTA], strict=True)
    ]
    past = one.past()
    assert past.last == {} and past.buckets == one.buckets and past.sums == one.sums
    with pytest.raises(ValueError, match="buckets per kind"):
        RebuildTimes.from_document({"last": {}, "buckets": {FULL: [1, 2]}, "sums": {FULL: 0.1}})


def test_a_workers_counts_cross_its_control_channel_as_a_document() -> None:
    counts = DnsCounts(
        Totals({("NOERROR", "A", "www"): 2}, {("www", "192.0.2.10"): 4}), rebuilt((FULL, 0.1)), 5.5
    )
    assert DnsCounts.from_document(counts.document()) == counts
    assert DnsCounts.from_document(DnsCounts().document()) == DnsCounts()


def test_a_restarted_worker_starts_from_zero_and_the_node_never_goes_backwards() -> None:
    """Worker 1 reports 5 queries and dies; its successor reports 2: the node shows 3 + 5 + 2."""
    labels = ("NOERROR", "A", "www")
    tally = WorkerTally()

    def report(queries: int, *builds: tuple[str, float]) -> DnsCounts:
        return DnsCounts(Totals({labels: queries}, {("www", "192.0.2.10"): queries}), rebuilt(*builds), 1.0)

    first, dead = report(3, (FULL, 0.5)), report(5, (FULL, 0.2), (DELTA, 0.01))
    assert tally.node([first, dead]).totals.queries == {labels: 8}
    tally.retire(dead)
    successor = report(2, (FULL, 0.3))
    node = tally.node([first, successor])
    assert node.totals.queries == {labels: 10} and node.totals.answers == {("www", "192.0.2.10"): 10}
    assert [sum(node.rebuilds.buckets[kind]) for kind in (FULL, DELTA)] == [3, 1]
    assert node.rebuilds.last == {FULL: 0.5}  # a dead worker's latest build time goes with it
    assert tally.node([]).built_at is None and tally.node([]).totals.queries == {labels: 5}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["query", "report", "die"]), st.integers(0, 2), st.integers(0, 1))))
def test_node_counts_never_go_backwards_whatever_workers_do(events: list[tuple[str, int, int]]) -> None:
    """Three workers answer queries under two labels, report when asked, die at any moment; the
    node's counts (latest reports plus the retired) only grow, and equal what was reported."""
    tally = WorkerTally()
    counted: list[collections.Counter[QueryLabels]] = [collections.Counter() for _ in range(3)]
    reported: list[DnsCounts | None] = [None, None, None]
    kept: collections.Counter[QueryLabels] = collections.Counter()  # reported by workers since dead
    shown: dict[QueryLabels, int] = {}
    for event, worker, label in events:
        if event == "query":
            counted[worker][("NOERROR", "A", f"pool{label}")] += 1
        elif event == "report":
            reported[worker] = DnsCounts(Totals(dict(counted[worker])))
        else:
            if (last := reported[worker]) is not None:
                tally.retire(last)
                kept.update(last.totals.queries)
            counted[worker], reported[worker] = collections.Counter(), None
        now = tally.node(r for r in reported if r is not None).totals.queries
        assert all(now.get(key, 0) >= count for key, count in shown.items())
        expected = kept + sum(
            (collections.Counter(r.totals.queries) for r in reported if r), collections.Counter()
        )
        assert now == dict(expected)
        shown = dict(now)


def test_a_node_of_workers_shows_the_families_and_labels_of_one_process() -> None:
    """So one dashboard serves both: only the ``process`` label's values differ."""
    totals = Totals({("NOERROR", "A", "www"): 5}, {("www", "192.0.2.10"): 5})
    alone = DnsCounts(totals, rebuilt((FULL, 0.2)), 990.0)
    node = WorkerTally().node([alone, DnsCounts(totals, rebuilt((FULL, 0.3), (DELTA, 0.01)), 980.0)])

    def shape(counts: DnsCounts, revisions: dict[str, int]) -> dict[str, set[tuple[str, ...]]]:
        seen = Observation(1000.0, revisions, 8, counts.totals, counts.built_at, counts.rebuilds)
        text = generate_latest(GslbCollector(seen)).decode()
        return {
            family.name: {tuple(sorted(sample.labels)) for sample in family.samples}
            for family in text_string_to_metric_families(text)
        }

    assert shape(alone, {"main": 8}) == shape(node, {"worker-0": 8, "worker-1": 8})
    seen = Observation(1000.0, {}, 8, node.totals, node.built_at, node.rebuilds)
    samples = {
        (s.name, tuple(s.labels.values())): s.value
        for f in text_string_to_metric_families(generate_latest(GslbCollector(seen)).decode())
        for s in f.samples
    }
    assert samples[("gslb_dns_queries_total", ("www", "A", "NOERROR"))] == 10
    assert samples[("gslb_snapshot_age_seconds", ())] == 20  # the oldest served snapshot
    assert samples[("gslb_snapshot_rebuild_duration_seconds_count", ("full",))] == 2
