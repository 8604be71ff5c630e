"""Pools compiled into snapshot answers, asked through the responder (no sockets)."""

from __future__ import annotations

import collections
import ipaddress
import random
from dataclasses import replace

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gslb.answer.responder import ResponderSettings, respond
from gslb.dns import zonefile
from gslb.dns.authority import Catalog
from gslb.dns.render import render
from gslb.model import AdminState, AllDown, Inventory, Member, Policy, Pool, PoolKind, Site, TtlBounds
from gslb.snapshot import snapshot
from gslb.snapshot.pools import AddressChoices, PoolCompiler, _address_answer, pool_rrsets
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

ZONES = [*zonefile.load_zones(EXAMPLE_ZONES), *zonefile.load_zones(TEST_ZONES)]
SITES = (
    Site("ams", subnets=(ipaddress.ip_network("198.51.100.0/24"),)),
    Site("nyc", subnets=(ipaddress.ip_network("203.0.113.0/24"),)),
)


def build(*pools: Pool, down: frozenset[tuple[str, str]] = frozenset()) -> snapshot.Snapshot:
    return snapshot.build(ZONES, Inventory(SITES, pools), rng=random.Random(7), down=down)


def ask(snap: snapshot.Snapshot, name: str, rdtype: str = "A", **edns: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **edns)  # type: ignore[arg-type]
    wire = respond(snap, query.to_wire(), ResponderSettings(), client_ip="192.0.2.77")
    assert wire is not None
    return dns.message.from_wire(wire)


def addresses(message: dns.message.Message) -> list[str]:
    return [rd.to_text() for rrset in message.answer for rd in rrset]


def pool(policy: Policy = Policy.WEIGHTED, count: int | None = None, **fields: object) -> Pool:
    members = fields.pop(
        "members",
        (
            Member("ams", "192.0.2.1", weight=300),
            Member("nyc", "192.0.2.2", weight=100),
            Member("nyc", "2001:db8::2"),
        ),
    )
    return Pool("lb", ("lb.auth.test.",), policy=policy, answer_count=count, members=members, **fields)  # type: ignore[arg-type]


def test_weighted_pool_follows_weights_and_keeps_policy_order() -> None:
    snap = build(pool(count=2))
    firsts = collections.Counter(addresses(ask(snap, "lb.auth.test"))[0] for _ in range(4000))
    assert firsts == {"192.0.2.1": 3000, "192.0.2.2": 1000}
    answer = ask(snap, "lb.auth.test")
    assert len(answer.answer[0]) == 2 and answer.answer[0].ttl == 30 and answer.flags & dns.flags.AA


def test_address_families_and_other_types() -> None:
    snap = build(pool())
    assert addresses(ask(snap, "lb.auth.test", "AAAA")) == ["2001:db8::2"]
    txt = ask(snap, "lb.auth.test", "TXT")
    assert (
        txt.rcode() == dns.rcode.NOERROR and txt.answer == [] and txt.authority[0].rdtype == dns.rdatatype.SOA
    )
    v4only = build(pool(members=(Member("ams", "192.0.2.1"),)))
    nodata = ask(v4only, "lb.auth.test", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []


def test_drained_and_disabled_members_get_no_answers() -> None:
    members = (
        Member("ams", "192.0.2.1", state=AdminState.DRAINED),
        Member("nyc", "192.0.2.2"),
        Member("nyc", "192.0.2.3", state=AdminState.DISABLED),
    )
    snap = build(pool(Policy.ROUND_ROBIN, 3, members=members))
    assert {a for _ in range(20) for a in addresses(ask(snap, "lb.auth.test"))} == {"192.0.2.2"}


def test_priority_tiers_fail_over() -> None:
    members = (Member("ams", "192.0.2.1", priority=0), Member("nyc", "192.0.2.2", priority=1))
    assert addresses(ask(build(pool(members=members)), "lb.auth.test")) == ["192.0.2.1"]
    down = (Member("ams", "192.0.2.1", priority=0, state=AdminState.DISABLED), members[1])
    assert addresses(ask(build(pool(members=down)), "lb.auth.test")) == ["192.0.2.2"]


@pytest.mark.parametrize(
    ("all_down", "expected"),
    [(AllDown.FAIL_OPEN, ["192.0.2.1"]), (AllDown.NODATA, []), (AllDown.FALLBACK, ["198.51.100.9"])],
)
def test_all_down_behaviour(all_down: AllDown, expected: list[str]) -> None:
    members = (Member("ams", "192.0.2.1"), Member("ams", "192.0.2.5", state=AdminState.DRAINED))
    spare = Pool("spare", ("spare.auth.test.",), members=(Member("ams", "198.51.100.9"),))
    main = pool(
        members=members, all_down=all_down, fallback="spare" if all_down is AllDown.FALLBACK else None
    )
    response = ask(build(main, spare, down=frozenset({("lb", "192.0.2.1")})), "lb.auth.test")
    assert response.rcode() == dns.rcode.NOERROR
    assert addresses(response) == expected
    assert response.answer == [] or response.answer[0].name.to_text() == "lb.auth.test."


def test_source_hash_is_sticky_per_ecs_subnet_and_echoes_its_scope() -> None:
    members = tuple(Member("ams", f"192.0.2.{i}") for i in range(1, 6))
    snap = build(pool(Policy.SOURCE_HASH, members=members))
    seen = set()
    for third in range(40):
        option = dns.edns.ECSOption(f"10.1.{third}.0", 24)
        answers = {
            tuple(addresses(ask(snap, "lb.auth.test", use_edns=0, options=[option]))) for _ in range(3)
        }
        assert len(answers) == 1  # sticky
        seen |= answers
        echoed = ask(snap, "lb.auth.test", use_edns=0, options=[option]).options[0]
        assert isinstance(echoed, dns.edns.ECSOption) and echoed.scopelen == 24
    assert len(seen) == 5  # and spread over the members


def test_topology_prefers_the_clients_site() -> None:
    members = (Member("ams", "192.0.2.1"), Member("nyc", "192.0.2.2"))
    snap = build(pool(Policy.TOPOLOGY, members=members))
    ams = ask(snap, "lb.auth.test", use_edns=0, options=[dns.edns.ECSOption("198.51.100.0", 24)])
    nyc = ask(snap, "lb.auth.test", use_edns=0, options=[dns.edns.ECSOption("203.0.113.0", 24)])
    assert addresses(ams) == ["192.0.2.1"] and addresses(nyc) == ["192.0.2.2"]


def test_cname_pool_answers_one_cname_and_follows_it_in_zone() -> None:
    members = (Member("ams", "host.auth.test."), Member("nyc", "edge.example.net.", weight=0))
    snap = build(Pool("c", ("cdn.auth.test.",), kind=PoolKind.CNAME, members=members))
    response = ask(snap, "cdn.auth.test", "A")
    assert [r.rdtype for r in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert response.answer[0][0].target.to_text() == "host.auth.test."
    assert ask(snap, "cdn.auth.test", "CNAME").answer[0][0].target.to_text() == "host.auth.test."


def test_an_unhealthy_member_is_withdrawn_while_others_are_up() -> None:
    snap = build(pool(Policy.ROUND_ROBIN, 2), down=frozenset({("lb", "192.0.2.1")}))
    assert {a for _ in range(10) for a in addresses(ask(snap, "lb.auth.test"))} == {"192.0.2.2"}


def test_a_static_cname_to_a_pool_name_is_balanced_like_the_pool() -> None:
    members = tuple(Member("ams", f"192.0.2.{i}") for i in (1, 2, 3))
    www = Pool("www", ("www.gslb.example.test.",), policy=Policy.ROUND_ROBIN, answer_count=1, members=members)
    snap = build(www)
    seen = set()
    for _ in range(6):
        response = ask(snap, "api.gslb.example.test", "A")
        assert [r.rdtype for r in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
        seen.add(addresses(response)[1])
    assert seen == {"192.0.2.1", "192.0.2.2", "192.0.2.3"}


def test_pool_ttls_are_kept_within_the_server_bounds() -> None:
    short = pool(members=(Member("ams", "192.0.2.1"),), ttl=1)
    snap = snapshot.build(ZONES, Inventory(SITES, (short,)), ttl_bounds=TtlBounds(5, 300))
    assert ask(snap, "lb.auth.test").answer[0].ttl == 5
    long = pool(members=(Member("ams", "192.0.2.1"),), ttl=3600)
    assert (
        ask(snapshot.build(ZONES, Inventory(SITES, (long,)), ttl_bounds=TtlBounds(5, 300)), "lb.auth.test")
        .answer[0]
        .ttl
        == 300
    )


def test_the_compiler_recompiles_only_what_changed() -> None:
    first = pool(Policy.SOURCE_HASH)
    other = Pool("other", ("other.auth.test.",), members=(Member("nyc", "192.0.2.9"),))
    inventory = Inventory(SITES, (first, other))
    catalog = Catalog.from_zones((z.zone for z in ZONES), pool_rrsets(inventory))
    compiler = PoolCompiler(random.Random(1))
    before = compiler.compile(inventory, catalog)
    again = compiler.compile(inventory, catalog)
    assert all(again[key] is before[key] for key in before)  # nothing changed: nothing compiled
    changed = Inventory(SITES, (replace(first, ttl=60), other))
    after = compiler.compile(changed, catalog)
    lb, elsewhere = dns.name.from_text("lb.auth.test."), dns.name.from_text("other.auth.test.")
    assert after[lb, dns.rdatatype.A] is not before[lb, dns.rdatatype.A]
    assert after[lb, dns.rdatatype.A].selector is before[lb, dns.rdatatype.A].selector  # same members
    assert after[elsewhere, dns.rdatatype.A] is before[elsewhere, dns.rdatatype.A]
    down = compiler.compile(inventory, catalog, frozenset({("lb", "192.0.2.1")}))
    assert down[lb, dns.rdatatype.A] is not before[lb, dns.rdatatype.A]
    assert down[elsewhere, dns.rdatatype.A] is before[elsewhere, dns.rdatatype.A]


@pytest.mark.parametrize("policy", list(Policy))
def test_compiled_address_answers_are_what_the_general_renderer_makes(policy: Policy) -> None:
    inventory = Inventory(SITES, (pool(policy, count=2),))
    catalog = Catalog.from_zones((z.zone for z in ZONES), pool_rrsets(inventory))
    for (owner, qtype), compiled in PoolCompiler(random.Random(2)).compile(inventory, catalog).items():
        assert compiled.answers == tuple(render(owner, qtype, 1, r) for r in compiled.resolutions)


_ADDRESSES = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)


@given(
    addresses=st.lists(_ADDRESSES, min_size=1, max_size=8, unique=True),
    ttl=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_address_answers_are_rendered_as_the_general_renderer_renders_them(
    addresses: list[str], ttl: int
) -> None:
    family = 6 if ":" in addresses[0] else 4
    chosen = tuple(a for a in addresses if (":" in a) == (family == 6))
    qtype = dns.rdatatype.AAAA if family == 6 else dns.rdatatype.A
    owner = dns.name.from_text("lb.example.test.")
    (resolution,) = AddressChoices(owner, qtype, ttl, (chosen,)).resolutions()
    assert _address_answer(qtype, ttl, chosen) == render(owner, qtype, 1, resolution)
    kept = [ipaddress.ip_address(r.address) for r in resolution.answer[0]]
    assert kept == [ipaddress.ip_address(a) for a in chosen]  # the policy's order is kept


_LABELS = st.sampled_from(["www", "lb", "gslb", "example", "test", "auth", "WWW", "a\\.b", "x"])


@given(st.lists(_LABELS, min_size=0, max_size=5))
def test_the_catalog_finds_the_zone_of_the_longest_origin_a_name_is_in(labels: list[str]) -> None:
    catalog = Catalog.from_zones(z.zone for z in ZONES)
    name = dns.name.from_text(".".join(labels) + ".")
    inside = [origin for origin in catalog.zones if name.is_subdomain(origin)]
    expected = catalog.zones[max(inside, key=len)] if inside else None
    assert catalog.find(name) is expected
