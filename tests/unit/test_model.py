"""Checks in the model: defaults, the port probed, and overrides (member beats pool beats check)."""

from __future__ import annotations

from gslb.health import state
from gslb.model import (
    Check,
    CheckOverrides,
    CheckType,
    HealthOverride,
    Inventory,
    Member,
    Pool,
    effective_check,
)


def test_defaults_are_the_state_machines() -> None:
    check = Check("c", CheckType.HTTP)
    assert (check.interval, check.timeout, check.rise, check.fall, check.jitter) == (2.0, 1.0, 2, 2, 0.1)
    assert check.expect == ((200, 399),) and check.verify_tls and check.method == "GET"
    assert state.Override is HealthOverride


def test_the_port_probed() -> None:
    assert Check("c", CheckType.HTTP).target_port == 80
    assert Check("c", CheckType.HTTPS).target_port == 443
    assert Check("c", CheckType.HTTPS, port=8443).target_port == 8443
    assert Check("c", CheckType.TCP, port=25).target_port == 25
    assert Check("c", CheckType.PASSIVE).target_port is None


def test_member_beats_pool_beats_check() -> None:
    check = Check("c", CheckType.HTTP, port=8080, interval=5.0, timeout=2.0, rise=3, fall=3)
    member = Member("s", "192.0.2.1", check_overrides=CheckOverrides(port=9000, fall=1))
    pool = Pool("p", names=(), health_check="c", check_overrides=CheckOverrides(interval=1.0, fall=2))
    assert effective_check(check, pool, member) == Check(
        "c", CheckType.HTTP, port=9000, interval=1.0, timeout=2.0, rise=3, fall=1
    )
    assert effective_check(check, pool, Member("s", "192.0.2.2")).fall == 2
    plain = Pool("p", names=())
    assert effective_check(check, plain, Member("s", "192.0.2.2")) is check


def test_inventory_keeps_checks_in_name_order() -> None:
    b, a = Check("b", CheckType.HTTP), Check("a", CheckType.TCP, port=1)
    inventory = Inventory(checks=(b, a))
    assert inventory.normalized().checks == (a, b)
    assert inventory.check("a") == a and inventory.check("z") is None
