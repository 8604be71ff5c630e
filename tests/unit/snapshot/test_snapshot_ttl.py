"""Health-aware TTLs and drains as the responder serves them: built into the snapshot, moved on by
``update`` exactly as a full ``build`` at the same moment would, and decoded from the real wire."""

from __future__ import annotations

import random
from dataclasses import replace

import dns.message
import dns.rdatatype
import dns.rrset

from gslb.answer.responder import ResponderSettings, respond
from gslb.dns import zonefile
from gslb.model import AdminState, AllDown, Check, CheckType, Inventory, Member, Pool, TtlBounds
from gslb.snapshot import snapshot
from gslb.snapshot.pools import PoolCompiler
from tests.conftest import EXAMPLE_ZONES

ZONES = zonefile.load_zones(EXAMPLE_ZONES)
QNAME = "www.gslb.example.test."
SLOW = Check("web", CheckType.HTTP, interval=10.0, fall=3, jitter=0.0)  # promises 20 s
BOUNDS = TtlBounds(1, 300)
NOW = 2_000_000_000.0
A = Member("ams", "192.0.2.1")
B = Member("fra", "192.0.2.2")


def inventory(*members: Member, all_down: AllDown = AllDown.FAIL_OPEN) -> Inventory:
    pool = Pool("www", (QNAME,), ttl=30, all_down=all_down, health_check="web", members=members)
    return Inventory(pools=(pool,), checks=(SLOW,))


def build(
    inv: Inventory,
    *,
    down: frozenset[tuple[str, str]] = frozenset(),
    unsettled: frozenset[str] = frozenset(),
    now: float | None = None,
) -> snapshot.Snapshot:
    return snapshot.build(
        ZONES, inv, 1, random.Random(1), down, BOUNDS, PoolCompiler(), unsettled=unsettled, now=now
    )


def ask(snap: snapshot.Snapshot, rounds: int = 8) -> tuple[set[str], set[int], list[dns.rrset.RRset]]:
    """The addresses and TTLs of ``rounds`` answers, and the last authority section."""
    addresses: set[str] = set()
    ttls: set[int] = set()
    authority: list[dns.rrset.RRset] = []
    for _ in range(rounds):
        wire = respond(snap, dns.message.make_query(QNAME, "A").to_wire(), ResponderSettings(), "127.0.0.1")
        assert wire is not None
        reply = dns.message.from_wire(wire)
        for rrset in reply.answer:
            addresses.update(r.to_text() for r in rrset)
            ttls.add(rrset.ttl)
        authority = list(reply.authority)
    return addresses, ttls, authority


def test_a_settled_pool_answers_with_its_stable_ttl_an_unsettled_one_with_the_floor() -> None:
    inv = inventory(A, B)
    assert ask(build(inv))[1] == {20}
    assert ask(build(inv, unsettled=frozenset({"www"})))[1] == {1}


def test_an_update_moves_the_ttl_with_the_pools_health_as_a_full_build_would() -> None:
    inv = inventory(A, B)
    settled = build(inv)
    sick = snapshot.update(
        settled, {}, 1, frozenset({("www", A.address)}), BOUNDS, unsettled=frozenset({"www"})
    )
    assert sick is not None
    assert ask(sick)[:2] == ({B.address}, {1})
    healed = snapshot.update(sick, {}, 1, frozenset(), BOUNDS, unsettled=frozenset())
    assert healed is not None
    assert ask(healed)[1] == {20}
    assert ask(settled)[1] == {20}  # the snapshot served meanwhile is never touched


def test_a_drained_member_stays_in_answers_at_the_floor_until_its_deadline() -> None:
    drained = inventory(replace(A, state=AdminState.DRAINED, drained_at=NOW), B)
    draining = build(drained, now=NOW + 1)
    assert ask(draining)[:2] == ({A.address, B.address}, {1})
    assert draining.deadlines == {"www": NOW + 20}
    not_yet = snapshot.update(draining, {}, 1, now=NOW + 19.9, ttl_bounds=BOUNDS)
    assert not_yet is not None and A.address in ask(not_yet)[0]
    done = snapshot.update(draining, {}, 1, now=NOW + 20, ttl_bounds=BOUNDS)
    assert done is not None
    assert ask(done)[:2] == ({B.address}, {20})
    assert done.deadlines == {}
    assert ask(build(drained, now=NOW + 20))[:2] == ask(done)[:2]


def test_an_all_down_pool_answers_nodata_with_an_soa_cached_no_longer_than_its_answers() -> None:
    inv = inventory(A, B, all_down=AllDown.NODATA)
    down = frozenset({("www", A.address), ("www", B.address)})
    snap = build(inv, down=down, unsettled=frozenset({"www"}))
    addresses, _, authority = ask(snap, rounds=1)
    assert addresses == set()
    assert [(rrset.rdtype, rrset.ttl) for rrset in authority] == [(dns.rdatatype.SOA, 1)]
    soa = next(iter(authority[0]))
    assert soa.minimum >= 1  # the zone's own field is untouched; RFC 2308 takes the lower of the two
