"""What the store refuses, named by object and field, all problems at once."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from gslb.errors import ValidationError
from gslb.model import AllDown, Inventory, Member, Pool, PoolKind, Site
from gslb.store import check_inventory
from gslb.store.rules import fallback_order, inventory_problems

AMS = Site("ams")
WWW = Pool("www", names=("www.example.test.",), members=(Member("ams", "192.0.2.1"),))


def problems(inventory: Inventory) -> list[tuple[str, str, str | None, str]]:
    return [(p.object_type, p.object_name, p.field, p.detail) for p in inventory_problems(inventory)]


def test_a_valid_inventory_passes() -> None:
    check_inventory(Inventory(sites=(AMS,), pools=(WWW,)))
    check_inventory(Inventory())


def test_every_problem_is_reported_with_object_and_field() -> None:
    bad = Pool(
        "Bad Name",
        names=("relative.example", "x.example.test.", "x.example.test."),
        ttl=-1,
        answer_count=0,
        all_down=AllDown.FALLBACK,
        site_order=("ams", "ams"),
        members=(
            Member("ams", "192.0.2.1", weight=1001, priority=-1),
            Member("ams", "192.0.2.1"),
            Member("ams", "2001:DB8::1"),
            Member("ams", "not-an-ip"),
        ),
    )
    cname = Pool(
        "alias", names=(), kind=PoolKind.CNAME, fallback="www", members=(Member("ams", "host.example"),)
    )
    with pytest.raises(ValidationError) as refused:
        check_inventory(Inventory(sites=(AMS, AMS), pools=(bad, cname)))
    assert [(p.object_type, p.object_name, p.field) for p in refused.value.problems] == [
        ("site", "ams", "name"),  # declared twice
        ("pool", "Bad Name", "name"),
        ("pool", "Bad Name", "names"),  # relative
        ("pool", "Bad Name", "names"),  # twice
        ("pool", "Bad Name", "ttl"),
        ("pool", "Bad Name", "answer_count"),
        ("pool", "Bad Name", "fallback"),  # missing
        ("pool", "Bad Name", "site_order"),
        ("member", "Bad Name/192.0.2.1", "address"),  # twice
        ("member", "Bad Name/192.0.2.1", "weight"),
        ("member", "Bad Name/192.0.2.1", "priority"),
        ("member", "Bad Name/2001:DB8::1", "address"),  # not canonical
        ("member", "Bad Name/not-an-ip", "address"),
        ("pool", "alias", "fallback"),  # without all_down = fallback
        ("member", "alias/host.example", "address"),  # not absolute
        ("pool", "alias", "fallback"),  # unknown pool
    ]
    text = str(refused.value)
    assert "member 'Bad Name/192.0.2.1' weight: 1001 is outside 0-1000" in text
    assert "member 'Bad Name/2001:DB8::1' address: write it as 2001:db8::1" in text
    assert len(text.splitlines()) == 16


def test_references_must_resolve_and_names_belong_to_one_pool() -> None:
    other = Pool(
        "other",
        names=("www.example.test.",),
        all_down=AllDown.FALLBACK,
        fallback="www",
        site_order=("nyc",),
        members=(Member("mars", "192.0.2.2"),),
    )
    assert problems(Inventory(sites=(AMS,), pools=(WWW, other))) == [
        ("pool", "other", "names", "www.example.test. is also a name of pool 'www'"),
        ("member", "other/192.0.2.2", "site", "unknown site 'mars'"),
        ("pool", "other", "site_order", "unknown site 'nyc'"),
    ]


def test_fallbacks_must_not_loop() -> None:
    a = Pool("a", names=(), all_down=AllDown.FALLBACK, fallback="b")
    b = Pool("b", names=(), all_down=AllDown.FALLBACK, fallback="a")
    own = Pool("c", names=(), all_down=AllDown.FALLBACK, fallback="c")
    assert problems(Inventory(pools=(a, b, own))) == [
        ("pool", "a", "fallback", "fallback pools form a loop"),
        ("pool", "b", "fallback", "fallback pools form a loop"),
        ("pool", "c", "fallback", "a pool cannot fall back to itself"),
    ]


def test_site_lists_hold_no_duplicates() -> None:
    net, vip = ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_address("192.0.2.1")
    site = replace(AMS, subnets=(net, net), vips=(vip, vip), region="x" * 1001)
    assert [(p[2], p[3]) for p in problems(Inventory(sites=(site,)))] == [
        ("region", "longer than 1000 characters"),
        ("subnets", "10.0.0.0/8 is listed twice"),
        ("vips", "192.0.2.1 is listed twice"),
    ]


def test_fallback_order_puts_targets_first() -> None:
    order = fallback_order({"a": "b", "b": "c", "c": None, "d": None, "e": "a", "f": "gone"})
    assert order.index("c") < order.index("b") < order.index("a") < order.index("e")
    assert sorted(order) == ["a", "b", "c", "d", "e", "f"]
