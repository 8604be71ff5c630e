"""Balancing policies: proportions, rotation, stickiness, minimal disruption, topology and ECS scope.

Statistical tests draw 100,000 answers, the size the issue states its tolerances for, from
selectors with a seeded RNG, so every run sees the same numbers. Figures a regression would
move (shares, keys moved) are asserted against the issue's bounds, not against today's values.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections import Counter
from collections.abc import Sequence

import pytest

from gslb.dns.client import ClientKey, client_key
from gslb.dns.wire import ClientSubnet
from gslb.model import AdminState, Member, Policy, Site
from gslb.snapshot.policy import (
    BUCKETS,
    Candidate,
    Selector,
    bucket_of,
    compile_selector,
    eligible,
    fail_open_candidates,
    match_subnet,
    rendezvous_rank,
    smooth_weighted_order,
)

DRAWS = 100_000
ONE_POINT = 0.01  # the tolerance: ±1 percentage point of the weight share


def members(*weights: int, priority: int = 0, site: str = "par") -> list[Candidate]:
    return [Candidate(f"192.0.2.{i + 1}", w, priority, site) for i, w in enumerate(weights)]


def selector(
    candidates: Sequence[Candidate],
    policy: Policy,
    count: int = 1,
    *,
    seed: int = 7,
    sites: Sequence[Site] = (),
    site_order: Sequence[str] = (),
) -> Selector:
    compiled = compile_selector(
        candidates, policy, count, sites=sites, site_order=site_order, rng=random.Random(seed)
    )
    assert compiled is not None
    return compiled


def answers(sel: Selector, n: int, client: ClientKey | None = None) -> list[tuple[int, ...]]:
    return [sel.choices[sel.pick(client)[0]] for _ in range(n)]


def first_shares(sel: Selector, n: int = DRAWS) -> dict[int, float]:
    counts = Counter(answer[0] for answer in answers(sel, n))
    return {member: hits / n for member, hits in counts.items()}


def random_addresses(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(n)]


# --- smooth weighted round robin --------------------------------------------------------------


def test_swrr_matches_nginx_sequence() -> None:
    # The example from nginx's commit introducing smooth weighted round robin: a a b a c a a.
    assert smooth_weighted_order([5, 1, 1]) == [0, 0, 1, 0, 2, 0, 0]


def test_swrr_period_is_reduced_by_gcd_and_skips_weight_zero() -> None:
    assert smooth_weighted_order([100, 200, 700]) == smooth_weighted_order([1, 2, 7])
    assert len(smooth_weighted_order([100, 200, 700])) == 10
    assert Counter(smooth_weighted_order([3, 0, 5])) == {0: 3, 2: 5}
    assert smooth_weighted_order([0, 0]) == [] and smooth_weighted_order([]) == []


@pytest.mark.parametrize("weights", [(5, 1, 1), (100, 200, 700), (3, 0, 1, 4), (997, 13, 1)])
@pytest.mark.parametrize("count", [1, 2])
def test_weighted_first_address_follows_weights(weights: tuple[int, ...], count: int) -> None:
    shares = first_shares(selector(members(*weights), Policy.WEIGHTED, count))
    total = sum(weights)
    for member, weight in enumerate(weights):
        assert shares.get(member, 0.0) == pytest.approx(weight / total, abs=ONE_POINT)
        if weight == 0:
            assert member not in shares


def test_weighted_is_smooth() -> None:
    # nginx's point: 5:1:1 interleaves (a a b a c a a), where plain weighted round robin
    # answers a five times in a row. Across the period boundary a appears four times running.
    sel = selector(members(5, 1, 1), Policy.WEIGHTED)
    firsts = "".join("abc"[answer[0]] for answer in answers(sel, 700))
    assert "aaaaa" not in firsts and "aaaa" in firsts


def test_weighted_multi_address_answers_are_distinct_and_weighted() -> None:
    sel = selector(members(5, 1, 1), Policy.WEIGHTED, count=2)
    assert all(len(set(choice)) == 2 for choice in sel.choices)
    # Member 0 is in nearly every pair: a weighted second address, not a fixed one.
    pairs = Counter(answers(sel, 7000))
    assert sum(n for pair, n in pairs.items() if 0 in pair) == 7000


# --- round robin --------------------------------------------------------------------------------


def test_round_robin_rotates_every_query_and_the_order_too() -> None:
    sel = selector(members(1, 1, 1), Policy.ROUND_ROBIN, count=3)
    seen = answers(sel, 6)
    assert len(set(seen[:3])) == 3 and seen[:3] == seen[3:]
    # Each answer is the previous one rotated by one, wherever the cycle started.
    for before, after in itertools.pairwise(seen):
        assert after == before[1:] + before[:1]


def test_round_robin_every_member_leads_equally_often() -> None:
    n = 5
    sel = selector(members(*[100] * n), Policy.ROUND_ROBIN, count=2)
    leads = Counter(answer[0] for answer in answers(sel, n * 1000))
    assert leads == dict.fromkeys(range(n), 1000)


def test_round_robin_ignores_weights_but_not_weight_zero() -> None:
    sel = selector(members(1, 1000, 0), Policy.ROUND_ROBIN)
    assert Counter(answer[0] for answer in answers(sel, 1000)) == {0: 500, 1: 500}


def test_round_robin_starting_point_varies_with_rng() -> None:
    firsts = {
        selector(members(1, 1, 1, 1), Policy.ROUND_ROBIN, seed=seed).pick(None)[0] for seed in range(20)
    }
    assert len(firsts) > 1


# --- random, weighted random --------------------------------------------------------------------


def test_random_is_uniform() -> None:
    shares = first_shares(selector(members(1, 500, 1, 1), Policy.RANDOM))
    for member in range(4):
        assert shares[member] == pytest.approx(0.25, abs=ONE_POINT)


def test_random_multi_address_uses_every_ordered_pair() -> None:
    sel = selector(members(1, 1, 1, 1), Policy.RANDOM, count=2)
    assert len(sel.choices) == 12
    pairs = Counter(answers(sel, 12_000))
    assert set(pairs) == set(sel.choices)
    assert all(n == pytest.approx(1000, rel=0.15) for n in pairs.values())


def test_random_with_many_permutations_uses_rotations() -> None:
    sel = selector(members(*[1] * 40), Policy.RANDOM, count=2)  # 40 * 39 > MAX_PERMUTATIONS
    assert len(sel.choices) == 40 and all(len(set(c)) == 2 for c in sel.choices)


@pytest.mark.parametrize("weights", [(5, 1, 1), (100, 200, 700), (1, 0, 3)])
def test_weighted_random_follows_weights(weights: tuple[int, ...]) -> None:
    shares = first_shares(selector(members(*weights), Policy.WEIGHTED_RANDOM, count=2))
    total = sum(weights)
    for member, weight in enumerate(weights):
        assert shares.get(member, 0.0) == pytest.approx(weight / total, abs=ONE_POINT)


def test_random_policies_are_reproducible_with_a_seeded_rng() -> None:
    for policy in (Policy.RANDOM, Policy.WEIGHTED_RANDOM):
        one, two = (selector(members(3, 2, 1), policy, seed=42) for _ in range(2))
        assert answers(one, 100) == answers(two, 100)


# --- client keys --------------------------------------------------------------------------------


def ecs(network: str) -> ClientSubnet:
    net = ipaddress.ip_network(network)
    family = 1 if net.version == 4 else 2
    return ClientSubnet(family, net.prefixlen, 0, net.network_address.packed[: (net.prefixlen + 7) // 8])


def test_source_address_is_truncated_to_24_and_56() -> None:
    assert client_key("192.0.2.77") == ClientKey(b"\x01\x18\xc0\x00\x02", 24)
    assert client_key("2001:db8:1:2ff::5") == client_key("2001:db8:1:200::") != client_key("2001:db8:1:300::")
    assert client_key("2001:db8:1:2ff::5").network() == ipaddress.ip_network("2001:db8:1:200::/56")
    assert client_key("2001:db8:1:2ff::5").scope == 56


def test_prefixes_are_configurable_to_any_bit() -> None:
    key = client_key("192.0.2.77", v4_prefix=20)
    assert key.network() == ipaddress.ip_network("192.0.0.0/20") and key.scope == 20
    assert client_key("192.0.15.255", v4_prefix=20) == key != client_key("192.0.16.1", v4_prefix=20)
    assert client_key("2001:db8::1", v6_prefix=48).network() == ipaddress.ip_network("2001:db8::/48")
    assert client_key("192.0.2.77", v4_prefix=32).network() == ipaddress.ip_network("192.0.2.77/32")


def test_ecs_is_the_key_when_present() -> None:
    key = client_key("198.51.100.1", ecs("203.0.113.0/24"))
    assert key.network() == ipaddress.ip_network("203.0.113.0/24") and key.scope == 24


def test_ecs_shorter_than_configured_is_used_as_sent() -> None:
    key = client_key("198.51.100.1", ecs("203.0.112.0/20"))
    assert key.network() == ipaddress.ip_network("203.0.112.0/20") and key.scope == 20
    v6 = client_key("::1", ecs("2001:db8::/32"))
    assert v6.network() == ipaddress.ip_network("2001:db8::/32") and v6.scope == 32


def test_ecs_longer_than_configured_is_truncated() -> None:
    assert client_key("::1", ecs("203.0.113.77/32")) == client_key("203.0.113.1")
    assert client_key("::1", ecs("203.0.113.77/32"), v4_prefix=26).network() == ipaddress.ip_network(
        "203.0.113.64/26"
    )
    assert client_key("::1", ecs("2001:db8:1:2:3::/80")).network() == ipaddress.ip_network("2001:db8:1::/56")


def test_ecs_prefix_zero_is_one_key_for_everyone() -> None:
    key = client_key("192.0.2.1", ecs("0.0.0.0/0"))
    assert key == ClientKey(b"\x01\x00", 0)


def test_v4_mapped_and_scoped_addresses() -> None:
    assert client_key("::ffff:192.0.2.77") == client_key("192.0.2.77")
    assert client_key("fe80::1%eth0") == client_key("fe80::1")


def test_ecs_and_source_address_of_the_same_network_agree() -> None:
    # A resolver sending ECS and a client asking directly from that /24 are the same client.
    assert client_key("::1", ecs("192.0.2.0/24")) == client_key("192.0.2.200")


# --- source hash --------------------------------------------------------------------------------


def hash_owner(sel: Selector, candidates: Sequence[Candidate], key: ClientKey) -> str:
    return candidates[sel.choices[sel.pick(key)[0]][0]].key


def test_source_hash_is_sticky_and_scoped_to_the_key() -> None:
    sel = selector(members(1, 1, 1, 1), Policy.SOURCE_HASH, count=2)
    for address in random_addresses(200):
        key = client_key(address)
        picks = {sel.pick(key) for _ in range(5)}
        assert len(picks) == 1 and next(iter(picks))[1] == 24
    assert sel.pick(client_key("::1", ecs("2001:db8::/40")))[1] == 40


def test_source_hash_is_the_same_on_every_node() -> None:
    # Another node: its own RNG, members listed in another order. Same member for every client.
    here = members(1, 1, 1, 1, 1)
    there = list(reversed(here))
    one = selector(here, Policy.SOURCE_HASH, seed=1)
    two = selector(there, Policy.SOURCE_HASH, seed=2)
    for address in random_addresses(2000):
        key = client_key(address)
        assert hash_owner(one, here, key) == hash_owner(two, there, key)


def test_hashes_are_pinned() -> None:
    # Stable across processes, machines and Python versions: a change here re-maps every client.
    assert bucket_of(client_key("192.0.2.77").key) == 3522
    assert bucket_of(client_key("2001:db8:1:2::5").key) == 3458
    keys = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
    assert rendezvous_rank(0, keys, [100, 100, 100]) == [1, 2, 0]
    assert rendezvous_rank(BUCKETS - 1, keys, [100, 100, 100]) == [0, 2, 1]
    assert rendezvous_rank(1234, keys, [1, 1, 1000]) == [2, 0, 1]


def test_compiled_buckets_agree_with_rendezvous_rank() -> None:
    candidates = members(10, 30, 60)
    sel = compile_selector(candidates, Policy.SOURCE_HASH, 3, rng=random.Random(1))
    assert sel is not None
    keys = [c.key for c in candidates]
    for address in random_addresses(50):
        key = client_key(address)
        assert list(sel.choices[sel.pick(key)[0]]) == rendezvous_rank(bucket_of(key.key), keys, [10, 30, 60])


def test_source_hash_spreads_clients_evenly() -> None:
    n = 4
    candidates = members(*[100] * n)
    sel = selector(candidates, Policy.SOURCE_HASH)
    owners = Counter(hash_owner(sel, candidates, client_key(a)) for a in random_addresses(10_000))
    assert len(owners) == n
    assert all(hits / 10_000 == pytest.approx(1 / n, abs=0.03) for hits in owners.values())


def test_source_hash_honours_weights() -> None:
    candidates = members(100, 300)
    sel = selector(candidates, Policy.SOURCE_HASH)
    owners = Counter(hash_owner(sel, candidates, client_key(a)) for a in random_addresses(10_000))
    assert owners["192.0.2.2"] / 10_000 == pytest.approx(0.75, abs=0.03)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_removing_a_member_moves_only_its_clients(n: int) -> None:
    before = members(*[100] * n)
    gone = before[n // 2].key
    after = [c for c in before if c.key != gone]
    one, two = selector(before, Policy.SOURCE_HASH), selector(after, Policy.SOURCE_HASH)
    moved = 0
    for address in random_addresses(10_000, seed=n):
        key = client_key(address)
        was, now = hash_owner(one, before, key), hash_owner(two, after, key)
        if was != now:
            assert was == gone  # nobody else moves
            moved += 1
    assert moved / 10_000 <= 1 / n + 0.02


def test_marking_a_member_down_is_the_same_as_removing_it() -> None:
    up = members(1, 1, 1, 1)
    down = [*up[:2], Candidate(up[2].key, 1, 0, "par", healthy=False), up[3]]
    one, two = selector(up, Policy.SOURCE_HASH), selector(down, Policy.SOURCE_HASH)
    for address in random_addresses(2000):
        key = client_key(address)
        if hash_owner(one, up, key) != up[2].key:
            assert hash_owner(two, down, key) == hash_owner(one, up, key)


# --- topology -----------------------------------------------------------------------------------


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


SITES = (
    Site("ams", subnets=(net("10.0.0.0/8"), net("2001:db8::/32"))),
    Site("fra", subnets=(net("10.20.0.0/16"),)),
    Site("par", subnets=(net("10.20.30.0/24"), net("192.168.0.0/16"))),
    Site("lon"),
)
TOPOLOGY_MEMBERS = [
    Candidate("192.0.2.1", 100, 0, "ams"),
    Candidate("192.0.2.2", 100, 0, "fra"),
    Candidate("192.0.2.3", 100, 0, "par"),
    Candidate("192.0.2.4", 300, 0, "lon"),
]


def topology(count: int = 1, site_order: Sequence[str] = ("lon",)) -> Selector:
    return selector(TOPOLOGY_MEMBERS, Policy.TOPOLOGY, count, sites=SITES, site_order=site_order)


def site_and_scope(sel: Selector, key: ClientKey) -> tuple[list[str], int]:
    index, scope = sel.pick(key)
    return [TOPOLOGY_MEMBERS[i].site for i in sel.choices[index]], scope


def test_topology_most_specific_subnet_wins() -> None:
    sel = topology()
    assert site_and_scope(sel, client_key("10.20.30.4")) == (["par"], 24)
    assert site_and_scope(sel, client_key("10.20.99.4")) == (["fra"], 24)  # /16 with a /24 of par in it
    assert site_and_scope(sel, client_key("10.99.0.1")) == (["ams"], 24)  # /8 with fra inside
    assert site_and_scope(sel, client_key("192.168.5.5")) == (["par"], 16)  # nothing inside: its own /16


def test_topology_scope_is_the_matched_prefix_without_nested_sites() -> None:
    sites = (Site("ams", subnets=(net("10.0.0.0/8"),)), Site("fra", subnets=(net("172.16.0.0/12"),)))
    sel = selector(TOPOLOGY_MEMBERS[:2], Policy.TOPOLOGY, sites=sites)
    assert sel.pick(client_key("10.1.2.3"))[1] == 8
    assert sel.pick(client_key("172.20.0.1"))[1] == 12
    assert sel.pick(client_key("::1", ecs("172.20.0.0/14")))[1] == 12


def test_topology_site_order_then_names() -> None:
    sel = topology(count=4, site_order=("lon", "par"))
    assert site_and_scope(sel, client_key("10.20.99.4"))[0] == ["fra", "lon", "par", "ams"]
    assert site_and_scope(sel, client_key("10.20.30.4"))[0] == ["par", "lon", "ams", "fra"]
    unordered = topology(count=4, site_order=())
    assert site_and_scope(unordered, client_key("10.20.99.4"))[0] == ["fra", "ams", "lon", "par"]


def test_topology_unmatched_clients_get_the_weighted_answer() -> None:
    sel = topology()
    key = client_key("198.51.100.1")
    sites = Counter(site_and_scope(sel, key)[0][0] for _ in range(6000))
    assert sites == {"ams": 1000, "fra": 1000, "par": 1000, "lon": 3000}
    assert sel.pick(key)[1] == 24  # the key decided that no subnet matched: its prefix is true
    assert sel.pick(client_key("2001:db9::1"))[1] == 56
    assert sel.pick(None)[1] == 0


def test_topology_scope_is_zero_when_no_subnet_of_the_family_exists() -> None:
    sites = (Site("ams", subnets=(net("10.0.0.0/8"),)),)
    sel = selector(TOPOLOGY_MEMBERS, Policy.TOPOLOGY, sites=sites)
    assert sel.pick(client_key("2001:db8::1"))[1] == 0


def test_topology_ignores_subnets_longer_than_the_key() -> None:
    sel = topology()
    # ECS /12 cannot tell whether the client is in ams's 10.20/16 or par's 10.20.30/24.
    assert site_and_scope(sel, client_key("::1", ecs("10.16.0.0/12"))) == (["ams"], 12)
    assert site_and_scope(sel, client_key("::1", ecs("10.0.0.0/7")))[1] == 7  # unmatched


def test_topology_site_with_several_members_rotates_by_weight() -> None:
    candidates = [*TOPOLOGY_MEMBERS, Candidate("192.0.2.5", 300, 0, "par")]
    sel = selector(candidates, Policy.TOPOLOGY, sites=SITES)
    key = client_key("192.168.1.1")
    firsts = Counter(candidates[sel.choices[sel.pick(key)[0]][0]].key for _ in range(400))
    assert firsts == {"192.0.2.3": 100, "192.0.2.5": 300}


def test_topology_site_down_falls_to_the_next_site() -> None:
    candidates = [
        *TOPOLOGY_MEMBERS[:2],
        Candidate("192.0.2.3", 100, 0, "par", healthy=False),
        TOPOLOGY_MEMBERS[3],
    ]
    sel = selector(candidates, Policy.TOPOLOGY, sites=SITES, site_order=("lon",))
    index, scope = sel.pick(client_key("192.168.1.1"))
    assert [candidates[i].key for i in sel.choices[index]] == ["192.0.2.4"] and scope == 16


def test_topology_ipv6() -> None:
    assert site_and_scope(topology(), client_key("2001:db8:ff::1")) == (["ams"], 32)


def test_match_subnet_reference() -> None:
    pairs = [(n, s.name) for s in SITES for n in s.subnets]
    assert match_subnet(client_key("10.20.30.4"), pairs) == ("par", 24)
    assert match_subnet(client_key("10.99.0.1"), pairs) == ("ams", 24)
    assert match_subnet(client_key("192.168.0.1"), pairs) == ("par", 16)
    assert match_subnet(client_key("198.51.100.1"), pairs) is None
    # The same network in two sites: the first by name, everywhere.
    assert match_subnet(client_key("10.1.1.1"), [(net("10.0.0.0/8"), "zrh"), (net("10.0.0.0/8"), "ams")]) == (
        "ams",
        8,
    )


# --- priority tiers, availability, all down -----------------------------------------------------


def test_lowest_tier_with_an_available_member_answers() -> None:
    candidates = [
        Candidate("192.0.2.1", 100, 0, "par", healthy=False),
        Candidate("192.0.2.2", 100, 0, "par", enabled=False),
        Candidate("192.0.2.3", 100, 1, "par"),
        Candidate("192.0.2.4", 100, 1, "par"),
        Candidate("192.0.2.5", 100, 2, "par"),
    ]
    assert eligible(candidates) == (2, 3)
    for policy in Policy:
        sel = selector(candidates, policy, count=3, sites=SITES)
        assert {i for choice in sel.choices for i in choice} == {2, 3}
        assert all(len(choice) == 2 for choice in sel.choices)


def test_weight_zero_everywhere_in_a_tier_is_no_available_member() -> None:
    candidates = [*members(0, 0, priority=0), *members(5, priority=1)]
    assert eligible(candidates) == (2,)
    assert selector(candidates, Policy.WEIGHTED).choices == ((2,),)


def test_tiers_are_chosen_by_number_not_position() -> None:
    candidates = [*members(1, priority=5), *members(1, priority=3)]
    assert eligible(candidates) == (1,)


def test_nothing_available_compiles_to_none() -> None:
    down = [Candidate("192.0.2.1", 100, 0, "par", healthy=False), Candidate("192.0.2.2", 0, 1, "par")]
    assert eligible(down) == ()
    assert all(compile_selector(down, policy, 2) is None for policy in Policy)
    assert compile_selector([], Policy.WEIGHTED, 1) is None


def test_fail_open_ignores_health_only() -> None:
    candidates = [
        Candidate("192.0.2.1", 100, 0, "par", healthy=False),
        Candidate("192.0.2.2", 100, 0, "par", enabled=False, healthy=False),
        Candidate("192.0.2.3", 0, 0, "par", healthy=False),
        Candidate("192.0.2.4", 100, 1, "par", healthy=False),
    ]
    opened = fail_open_candidates(candidates)
    assert [c.key for c in opened] == [c.key for c in candidates]  # same positions, same answers
    assert eligible(opened) == (0,)


def test_candidate_of_member() -> None:
    member = Member("par", "192.0.2.1", weight=7, priority=2, state=AdminState.DRAINED)
    assert Candidate.of(member, healthy=True) == Candidate("192.0.2.1", 7, 2, "par", enabled=False)
    assert not Candidate.of(member, healthy=True).available
    assert Candidate.of(Member("par", "192.0.2.1"), healthy=True).available


# --- answer sizes, API ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", list(Policy))
def test_answer_count_larger_than_candidates_gives_every_candidate_once(policy: Policy) -> None:
    sel = selector(members(1, 2, 3), policy, count=8, sites=SITES)
    assert all(sorted(choice) == [0, 1, 2] for choice in sel.choices)
    for _ in range(50):
        index, _scope = sel.pick(client_key("10.20.30.1"))
        assert 0 <= index < len(sel.choices)


def test_answer_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        compile_selector(members(1), Policy.WEIGHTED, 0)


@pytest.mark.parametrize("policy", list(Policy))
def test_only_sticky_policies_use_the_client(policy: Policy) -> None:
    sel = selector(members(1, 2), policy, sites=SITES)
    assert sel.uses_client == policy.sticky
    if not sel.uses_client:
        assert sel.pick(client_key("10.20.30.1"))[1] == 0
