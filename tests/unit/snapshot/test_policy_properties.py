"""Property tests of the compiled policies: whatever the members, tiers, weights and clients.

Invariants the responder relies on (a pick is a valid index; an answer holds distinct, eligible
members, as many as it can), the stickiness several DNS nodes rely on, and the compiled topology
table against ``match_subnet``, its slow and obvious reference.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gslb.dns.client import ClientKey, client_key
from gslb.dns.wire import ClientSubnet
from gslb.model import Policy, Site
from gslb.snapshot.policy import (
    Candidate,
    compile_selector,
    eligible,
    match_subnet,
    smooth_weighted_order,
)

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SITE_NAMES = ("ams", "fra", "par")


@st.composite
def candidate_lists(draw: st.DrawFn, min_size: int = 1, all_available: bool = False) -> list[Candidate]:
    size = draw(st.integers(min_size, 7))
    return [
        Candidate(
            f"192.0.2.{i + 1}",
            draw(st.integers(1 if all_available else 0, 20)),
            0 if all_available else draw(st.integers(0, 2)),
            draw(st.sampled_from(SITE_NAMES)),
            enabled=all_available or draw(st.integers(0, 5)) > 0,
            healthy=all_available or draw(st.integers(0, 3)) > 0,
        )
        for i in range(size)
    ]


# Networks the site plans below use, with a few neighbours, so matches and misses both occur.
V4_NEAR = (0, 1 << 16, 20 << 16 | 30 << 8, 20 << 16 | 99 << 8, 200 << 16)


@st.composite
def addresses(draw: st.DrawFn) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    where = draw(st.integers(0, 2))
    if where == 0:
        return ipaddress.IPv4Address(10 << 24 | draw(st.sampled_from(V4_NEAR)) | draw(st.integers(0, 255)))
    if where == 1:
        return ipaddress.IPv6Address(
            0x20010DB8 << 96 | draw(st.integers(0, 3)) << 88 | draw(st.integers(0, 2**64))
        )
    return draw(st.ip_addresses())


@st.composite
def client_keys(draw: st.DrawFn) -> ClientKey:
    """A source address, or an ECS option of any prefix, truncated to any configured prefix."""
    v4_prefix, v6_prefix = draw(st.integers(0, 32)), draw(st.integers(0, 128))
    address = draw(addresses())
    if draw(st.booleans()):
        return client_key(str(address), None, v4_prefix, v6_prefix)
    prefix = draw(st.integers(0, address.max_prefixlen))
    network = ipaddress.ip_network((address, prefix), strict=False)
    subnet = ClientSubnet(
        1 if address.version == 4 else 2, prefix, 0, network.network_address.packed[: (prefix + 7) // 8]
    )
    return client_key("::1", subnet, v4_prefix, v6_prefix)


@st.composite
def site_plans(draw: st.DrawFn) -> tuple[Site, ...]:
    """Subnets of 10/8 and 2001:db8::/32 at a few lengths, often nested, sometimes shared."""
    subnets: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = {
        name: [] for name in SITE_NAMES
    }
    for _ in range(draw(st.integers(0, 8))):
        site = draw(st.sampled_from(SITE_NAMES))
        address: ipaddress.IPv4Address | ipaddress.IPv6Address
        if draw(st.integers(0, 3)):
            length = draw(st.sampled_from((8, 12, 16, 20, 24)))
            address = ipaddress.IPv4Address(10 << 24 | draw(st.sampled_from(V4_NEAR)))
        else:
            length = draw(st.sampled_from((32, 40, 48)))
            address = ipaddress.IPv6Address(0x20010DB8 << 96 | draw(st.integers(0, 3)) << 88)
        subnets[site].append(ipaddress.ip_network((address, length), strict=False))
    return tuple(Site(name, subnets=tuple(nets)) for name, nets in subnets.items())


@PROPERTIES
@given(
    candidate_lists(min_size=0),
    st.sampled_from(list(Policy)),
    st.integers(1, 5),
    site_plans(),
    st.lists(client_keys(), min_size=1, max_size=5),
    st.integers(0, 2**32),
)
def test_every_pick_is_a_valid_answer_of_eligible_distinct_members(
    candidates: list[Candidate],
    policy: Policy,
    count: int,
    sites: tuple[Site, ...],
    clients: list[ClientKey],
    seed: int,
) -> None:
    tier = eligible(candidates)
    sel = compile_selector(candidates, policy, count, sites=sites, rng=random.Random(seed))
    if not tier:
        assert sel is None
        return
    assert sel is not None and sel.choices
    for choice in sel.choices:
        assert len(choice) == min(count, len(tier))
        assert len(set(choice)) == len(choice)
        assert set(choice) <= set(tier)
        assert all(candidates[i].available for i in choice)
    for client in [*clients, None]:
        for _ in range(3):
            index, scope = sel.pick(client)
            assert 0 <= index < len(sel.choices)
            if not sel.uses_client or client is None:
                assert scope == 0
            else:
                assert 0 <= scope <= client.scope


@PROPERTIES
@given(
    candidate_lists(), st.integers(1, 3), st.lists(client_keys(), min_size=1, max_size=5), st.integers(0, 99)
)
def test_source_hash_is_sticky_across_calls_and_nodes(
    candidates: list[Candidate], count: int, clients: list[ClientKey], seed: int
) -> None:
    one = compile_selector(candidates, Policy.SOURCE_HASH, count, rng=random.Random(seed))
    # Another node lists the members in another order and has its own RNG.
    other = list(reversed(candidates))
    two = compile_selector(other, Policy.SOURCE_HASH, count, rng=random.Random(seed + 1))
    if one is None or two is None:
        assert one is None and two is None
        return
    for client in clients:
        index, scope = one.pick(client)
        assert {one.pick(client) for _ in range(3)} == {(index, scope)}
        here = [candidates[i].key for i in one.choices[index]]
        there_index, there_scope = two.pick(client)
        assert [
            other[i].key for i in two.choices[there_index]
        ] == here and there_scope == scope == client.scope


@PROPERTIES
@given(candidate_lists(min_size=2, all_available=True), st.data())
def test_removing_a_member_moves_only_the_clients_it_had(
    candidates: list[Candidate], data: st.DataObject
) -> None:
    gone = data.draw(st.integers(0, len(candidates) - 1))
    after = candidates[:gone] + candidates[gone + 1 :]
    one = compile_selector(candidates, Policy.SOURCE_HASH, 1)
    two = compile_selector(after, Policy.SOURCE_HASH, 1)
    assert one is not None and two is not None
    rng = random.Random(data.draw(st.integers(0, 99)))
    for _ in range(300):
        key = client_key(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        was = candidates[one.choices[one.pick(key)[0]][0]].key
        now = after[two.choices[two.pick(key)[0]][0]].key
        assert was == now or was == candidates[gone].key


@PROPERTIES
@given(site_plans(), st.lists(client_keys(), min_size=1, max_size=10), st.integers(1, 3))
def test_topology_table_agrees_with_match_subnet(
    sites: tuple[Site, ...], clients: list[ClientKey], count: int
) -> None:
    candidates = [Candidate(f"192.0.2.{i + 1}", 10 * (i + 1), 0, name) for i, name in enumerate(SITE_NAMES)]
    sel = compile_selector(candidates, Policy.TOPOLOGY, count, sites=sites, rng=random.Random(0))
    assert sel is not None
    pairs = [(net, site.name) for site in sites for net in site.subnets]
    for client in clients:
        index, scope = sel.pick(client)
        expected = match_subnet(client, pairs)
        if expected is None:
            family_has_subnets = any(n.version == client.network().version for n, _ in pairs)
            assert scope == (client.scope if family_has_subnets else 0)
        else:
            assert (candidates[sel.choices[index][0]].site, scope) == expected
            assert {sel.pick(client) for _ in range(3)} == {(index, scope)}  # one member per site here


@PROPERTIES
@given(st.lists(st.integers(0, 50), max_size=8))
def test_swrr_period_holds_each_member_weight_over_gcd_times(weights: list[int]) -> None:
    order = smooth_weighted_order(weights)
    divisor = math.gcd(*weights) if weights else 0
    assert Counter(order) == {i: w // divisor for i, w in enumerate(weights) if w}


@PROPERTIES
@given(st.lists(st.integers(1, 50), min_size=1, max_size=6))
def test_swrr_stays_close_to_the_exact_shares(weights: list[int]) -> None:
    # Smoothness: after any prefix of picks, every member's count stays within two picks of its
    # exact share (measured: just over one, for instance 1, 1, 1, 9, 9). Plain weighted round
    # robin lags by up to the largest weight.
    order = smooth_weighted_order(weights)
    total = sum(weights)
    counts = [0] * len(weights)
    for picks, member in enumerate(order, start=1):
        counts[member] += 1
        assert all(abs(counts[i] - picks * w / total) < 2 for i, w in enumerate(weights))
