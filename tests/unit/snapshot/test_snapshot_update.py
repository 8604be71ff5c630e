"""Incremental snapshot updates: after any pool or health change, ``update`` serves exactly what a
full ``build`` of the new state serves, and leaves the old snapshot untouched."""

from __future__ import annotations

import gc
import random
from dataclasses import replace

import dns.name
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gslb.declare.apply import declared
from gslb.dns import zonefile
from gslb.dns.render import Answer
from gslb.model import AdminState, AllDown, Inventory, Member, Policy, Pool, TtlBounds
from gslb.runtime import gcpause
from gslb.snapshot import snapshot
from gslb.snapshot.pools import PoolAnswer, PoolCompiler
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

ZONES = [*zonefile.load_zones(EXAMPLE_ZONES), *zonefile.load_zones(TEST_ZONES)]
EXAMPLE = declared(EXAMPLE_ZONES, zonefile.load_zones(EXAMPLE_ZONES))
LB = Pool(
    "lb",
    ("lb.auth.test.",),
    policy=Policy.WEIGHTED,
    answer_count=1,
    all_down=AllDown.FALLBACK,
    fallback="www",
    members=(Member("eu1", "192.0.2.1"), Member("us1", "192.0.2.2", priority=1)),
)
INVENTORY = replace(EXAMPLE, pools=(*EXAMPLE.pools, LB)).normalized()
WWW = dns.name.from_text("www.gslb.example.test.")

Served = dict[bytes, tuple[object, ...]]


def served(snap: snapshot.Snapshot) -> Served:
    """Every precomputed answer in comparable form (a selector compares by the choices it offers)."""
    return {key: _comparable(answer) for key, answer in {**snap.answers, **snap.dynamic}.items()}


def _comparable(answer: Answer | PoolAnswer) -> tuple[object, ...]:
    if isinstance(answer, Answer):
        return ("static", answer)
    return ("pool", answer.pool, answer.selector.choices, answer.uses_client, answer.answers)


def build(inventory: Inventory, down: frozenset[tuple[str, str]] = frozenset()) -> snapshot.Snapshot:
    return snapshot.build(ZONES, inventory, 1, random.Random(3), down, TtlBounds(5, 300), PoolCompiler())


def with_pool(inventory: Inventory, pool: Pool) -> Inventory:
    return replace(inventory, pools=tuple(pool if p.name == pool.name else p for p in inventory.pools))


def www() -> Pool:
    found = INVENTORY.pool("www")
    assert found is not None
    return found


def check_update_matches_build(
    inventory: Inventory,
    changed: Pool,
    down: frozenset[tuple[str, str]] = frozenset(),
) -> snapshot.Snapshot:
    old = build(inventory)
    before = served(old)
    new_inventory = with_pool(inventory, changed)
    updated = snapshot.update(old, {changed.name: changed}, 2, down, TtlBounds(5, 300), PoolCompiler())
    assert updated is not None
    assert served(updated) == served(build(new_inventory, down))
    assert served(old) == before  # the snapshot being served is never touched
    assert updated.revision == 2 and updated.inventory == new_inventory
    return updated


def test_a_weight_change_updates_the_pool_and_what_leads_to_it() -> None:
    changed = replace(
        www(), members=tuple(replace(m, weight=m.weight * 3 if i else 1) for i, m in enumerate(www().members))
    )
    updated = check_update_matches_build(INVENTORY, changed)
    old = build(INVENTORY)
    api_a = snapshot.question_key(dns.name.from_text("api.gslb.example.test."), dns.rdatatype.A)
    assert updated.dynamic[api_a] is not old.dynamic[api_a]  # the CNAME into www, re-rendered


def test_a_drained_member_leaves_the_srv_additional_section() -> None:
    drained = replace(
        www(),
        members=tuple(
            replace(m, state=AdminState.DRAINED) if m.address == "192.0.2.10" else m for m in www().members
        ),
    )
    updated = check_update_matches_build(INVENTORY, drained)
    srv = snapshot.question_key(dns.name.from_text("_http._tcp.www.gslb.example.test."), dns.rdatatype.SRV)
    body = updated.dynamic[srv]
    assert isinstance(body, Answer) and bytes([192, 0, 2, 10]) not in body.body


def test_the_last_ipv6_member_leaving_turns_aaaa_into_nodata() -> None:
    v4_only = replace(www(), members=tuple(m for m in www().members if ":" not in m.address))
    updated = check_update_matches_build(INVENTORY, v4_only)
    aaaa = snapshot.question_key(WWW, dns.rdatatype.AAAA)
    assert aaaa not in updated.dynamic and aaaa not in updated.answers


def test_health_changes_reach_the_pool_and_the_pools_falling_back_to_it() -> None:
    lb_down = frozenset({("lb", "192.0.2.1"), ("lb", "192.0.2.2")})
    old = build(INVENTORY, lb_down)  # lb answers from its fallback, www
    www_down = lb_down | {("www", "192.0.2.10")}
    updated = snapshot.update(old, {}, 2, www_down, TtlBounds(5, 300), PoolCompiler())
    assert updated is not None
    assert served(updated) == served(build(INVENTORY, www_down))
    lb_a = snapshot.question_key(dns.name.from_text("lb.auth.test."), dns.rdatatype.A)
    assert served(updated)[lb_a] != served(old)[lb_a]  # only www's health moved, yet lb's answer did
    recovered = snapshot.update(updated, {}, 3, lb_down, TtlBounds(5, 300), PoolCompiler())
    assert recovered is not None and served(recovered) == served(old)


def test_changes_to_which_names_exist_need_a_full_build() -> None:
    old = build(INVENTORY)
    assert snapshot.update(old, {"www": None}, 2) is None  # deleted
    assert snapshot.update(old, {"new": replace(LB, name="new", names=("new.auth.test.",))}, 2) is None
    assert snapshot.update(old, {"www": replace(www(), names=("web.gslb.example.test.",))}, 2) is None
    assert snapshot.update(old, {"www": replace(www(), members=())}, 2) is None  # emptied
    assert snapshot.update(old, {"lb": replace(LB, all_down=AllDown.NODATA, fallback=None)}, 2) is None


MEMBER_EDITS = st.fixed_dictionaries(
    {
        "weight": st.integers(0, 1000),
        "priority": st.integers(0, 3),
        "state": st.sampled_from(list(AdminState)),
    }
)


@settings(max_examples=30, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(["www", "lb"]), st.integers(0, 3), MEMBER_EDITS, st.integers(1, 3)),
        min_size=1,
        max_size=4,
    ),
    policy=st.sampled_from(list(Policy)),
    ttl=st.integers(1, 400),
    down=st.sets(st.sampled_from([("www", "192.0.2.10"), ("www", "203.0.113.10"), ("lb", "192.0.2.1")])),
)
def test_any_sequence_of_member_edits_serves_what_a_full_build_serves(
    edits: list[tuple[str, int, dict[str, object], int]],
    policy: Policy,
    ttl: int,
    down: set[tuple[str, str]],
) -> None:
    inventory = INVENTORY
    current = build(inventory)
    for revision, (name, index, fields, count) in enumerate(edits, start=2):
        pool = inventory.pool(name)
        assert pool is not None
        members = list(pool.members)
        members[index % len(members)] = replace(members[index % len(members)], **fields)  # type: ignore[arg-type]
        pool = replace(pool, members=tuple(members), policy=policy, ttl=ttl, answer_count=count)
        inventory = with_pool(inventory, pool)
        updated = snapshot.update(
            current, {name: pool}, revision, frozenset(down), TtlBounds(5, 300), PoolCompiler()
        )
        assert updated is not None
        assert served(updated) == served(build(inventory, frozenset(down)))
        current = updated


def test_the_collector_pause_nests_and_ends() -> None:
    assert gc.isenabled()
    with gcpause.paused():
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gcpause.paused():
        raise RuntimeError("a failed build")
    assert gc.isenabled()
