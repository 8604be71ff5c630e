"""bench/health_load.py and bench/health_targets.py: the pure parts (address plan, declarations, log
reading, verdict); no server, no socket, no timing."""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

import pytest

from bench.health_load import (
    CHECK,
    MEMBERS,
    Summary,
    Withdrawal,
    first_results,
    health_events,
    health_toml,
    judge,
    killed_members,
    pools_of,
    unexpected_downs,
    write_zones,
)
from bench.health_targets import address_plan
from gslb.declare.apply import declared
from gslb.dns.zonefile import load_zones
from gslb.model import CheckType


def test_address_plan_is_the_documented_range() -> None:
    addresses = address_plan(MEMBERS)
    assert (addresses[0], addresses[-1]) == ("127.1.0.1", "127.1.7.208")
    assert len(set(addresses)) == MEMBERS
    assert all(ipaddress.IPv4Address(a) in ipaddress.IPv4Network("127.0.0.0/8") for a in addresses)


@pytest.mark.parametrize(("count", "first"), [(0, "127.1.0.1"), (3, "10.0.0.1"), (3, "127.255.255.254")])
def test_address_plan_refuses_what_leaves_loopback(count: int, first: str) -> None:
    with pytest.raises(ValueError):
        address_plan(count, first)


def test_pools_of_ten() -> None:
    pools = pools_of(address_plan(25), 10)
    assert [len(p) for p in pools] == [10, 10, 5]
    assert pools[1][0] == "127.1.0.11"


def test_declarations_read_back_through_gslb(tmp_path: Path) -> None:
    """The generated directory is what ``gslb serve`` applies: 200 checked pools of 10 plus www unchecked."""
    addresses = address_plan(MEMBERS)
    zones = write_zones(tmp_path / "zones", addresses, 18080, checked=True)
    inventory = declared(zones, load_zones(zones))
    pools = {pool.name: pool for pool in inventory.pools}
    assert pools["www"].health_check is None
    checked = [pool for pool in pools.values() if pool.health_check == CHECK]
    assert len(checked) == MEMBERS // 10
    assert sum(len(pool.members) for pool in checked) == MEMBERS
    assert all(pool.count == len(pool.members) for pool in checked)
    (check,) = [c for c in inventory.checks if c.name == CHECK]
    assert (check.type, check.port, check.interval, check.timeout) == (CheckType.TCP, 18080, 1.0, 0.5)


def test_unchecked_declarations_differ_only_by_health_check() -> None:
    addresses = address_plan(30)
    checked = health_toml(addresses, 18080, checked=True).splitlines()
    unchecked = health_toml(addresses, 18080, checked=False).splitlines()
    assert [line for line in checked if line not in unchecked] == [f'health_check = "{CHECK}"'] * 3


def test_killed_members_spread_one_per_pool() -> None:
    killed = killed_members(address_plan(MEMBERS), 4)
    assert killed == {0: "127.1.0.4", 50: "127.1.1.248", 100: "127.1.3.236", 150: "127.1.5.224"}


LOG = """\
ts=2025-01-01T00:00:00.000Z level=info logger=gslb event=ready answers=12 pools=201
ts=2025-01-01T00:00:00.100Z level=info logger=gslb.health event="member health changed" pool=hc-000 \
member=127.1.0.1 check=tcp previous=unknown state=up reason=connected results=1
ts=2025-01-01T00:00:03.000Z level=warning logger=gslb.health event="member health changed" pool=hc-000 \
member=127.1.0.4 check=tcp previous=up state=down reason="connect refused" results=2
ts=2025-01-01T00:00:03.500Z level=warning logger=gslb.health event="member health changed" pool=hc-001 \
member=127.1.0.11 check=tcp previous=up state=down reason="timeout after 0.5 s" results=2
"""


def test_health_events_and_unexpected_downs() -> None:
    assert first_results(health_events(LOG)) == 1
    events = health_events(LOG)
    assert [(e.member, e.previous, e.state) for e in events] == [
        ("127.1.0.1", "unknown", "up"),
        ("127.1.0.4", "up", "down"),
        ("127.1.0.11", "up", "down"),
    ]
    assert [e.member for e in unexpected_downs(events, ["127.1.0.4"])] == ["127.1.0.11"]


def summary(
    config: str,
    qps: float,
    p99_ms: float,
    checks: list[Withdrawal] | None = None,
    *,
    us_per_query: float = 10.0,
    client_cpu: float = 60.0,
) -> Summary:
    return Summary(
        config=config,
        qps=qps,
        qps_spread_percent=1.0,
        latency_rate=50_000,
        latency_p50_ms=p99_ms / 4,
        latency_p99_ms=p99_ms,
        p99_spread_percent=1.0,
        server_cpu_percent_at_max=99.0,
        loop_percent_at_max=5.0,
        idle_cpu_percent=1.0,
        idle_loop_percent=1.0,
        us_per_query_at_rate=us_per_query,
        health_cpu_percent=20.0,
        client_cpu_percent=client_cpu,
        lost_percent=0.0,
        other_load_percent=0.0,
        writes_per_second=0.0,
        checks=checks or [],
    )


RAN = [Withdrawal(4, 4, 2.0, 4, 2.0, 0, 2000)]


@pytest.mark.parametrize(
    ("qps", "p99", "outcome"),
    [
        (95_000, 1.05, "PASS"),
        (89_000, 1.0, "FAIL"),  # 11 % fewer queries
        (100_000, 1.2, "FAIL"),  # p99 20 % worse
        (120_000, 0.5, "PASS"),  # better is fine
        (100_000, math.inf, "FAIL"),  # p99 lost
    ],
)
def test_verdict_against_a(qps: float, p99: float, outcome: str) -> None:
    verdict = judge(summary("A", 100_000, 1.0), summary("B", qps, p99, RAN))
    assert verdict.outcome == outcome
    assert verdict.qps_drop == pytest.approx(1 - qps / 100_000)


def test_verdict_is_not_measured_when_the_checks_did_not_run() -> None:
    missed = [Withdrawal(4, 3, math.nan, 4, 2.0, 0, 2000)]
    assert judge(summary("A", 100_000, 1.0), summary("B", 100_000, 1.0, missed)).outcome.startswith(
        "NOT MEASURED"
    )
    assert judge(summary("A", 100_000, 1.0), summary("B", 100_000, 1.0)).outcome.startswith("NOT MEASURED")
    assert judge(summary("A", math.nan, 1.0), summary("B", 100_000, 1.0, RAN)).outcome == "NOT MEASURED"


@pytest.mark.parametrize(
    ("us_per_query", "outcome"),
    [
        (10.5, "PASS"),  # capacity 4.8 % lower
        (11.5, "FAIL"),  # capacity 13 % lower
        (8.0, "PASS"),  # cheaper per query than A
    ],
)
def test_verdict_judges_capacity_when_dnsperf_set_a_s_max(us_per_query: float, outcome: str) -> None:
    """A's max run had dnsperf's CPU full: B's 25 % fewer queries say nothing of gslb; its CPU/query does."""
    base = summary("A", 160_000, 1.0, client_cpu=99.0)
    verdict = judge(base, summary("B", 120_000, 1.0, RAN, us_per_query=us_per_query))
    assert verdict.generator_bound and verdict.qps_drop == pytest.approx(0.25)
    assert verdict.capacity_drop == pytest.approx(1 - 10.0 / us_per_query)
    assert verdict.outcome == outcome
    assert "dnsperf's limit" in verdict.render()


def test_verdict_judges_qps_when_gslb_set_a_s_max() -> None:
    verdict = judge(summary("A", 100_000, 1.0), summary("B", 80_000, 1.0, RAN, us_per_query=9.0))
    assert not verdict.generator_bound
    assert verdict.outcome == "FAIL"  # 20 % fewer queries, however cheap each one was
    assert "dnsperf's limit" not in verdict.render()
