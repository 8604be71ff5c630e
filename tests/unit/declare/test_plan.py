"""Plans: what apply would do, shown to a human; empty when nothing differs."""

from __future__ import annotations

from dataclasses import replace

from gslb.declare.plan import plan
from gslb.model import (
    AdminState,
    Check,
    CheckOverrides,
    CheckType,
    HealthOverride,
    Inventory,
    Member,
    Policy,
    Pool,
    Site,
)
from gslb.store.edits import inventory_edits

AMS = Site("ams", region="eu")
NYC = Site("nyc")
WWW = Pool(
    "www",
    names=("www.gslb.example.test.",),
    members=(Member("ams", "192.0.2.10"), Member("nyc", "203.0.113.10", weight=300)),
)
CURRENT = Inventory(sites=(AMS, NYC), pools=(WWW,))


def test_same_content_in_another_order_is_no_change() -> None:
    shuffled = Inventory(sites=(NYC, AMS), pools=(replace(WWW, members=WWW.members[::-1]),))
    result = plan(CURRENT, shuffled)
    assert result.empty
    assert result.render() == "no changes: the store matches the declarations"


def test_creates_updates_and_deletes_are_listed_per_object() -> None:
    desired = Inventory(
        sites=(replace(AMS, region="eu-west"), Site("lon")),
        pools=(
            replace(
                WWW,
                policy=Policy.ROUND_ROBIN,
                members=(
                    Member("ams", "192.0.2.10", state=AdminState.DRAINED),
                    Member("lon", "192.0.2.20"),
                ),
            ),
        ),
    )
    text = plan(CURRENT, desired).render()
    assert text.splitlines() == [
        "~ site ams",
        "    region: eu -> eu-west",
        "+ site lon",
        "~ pool www",
        "    policy: weighted -> round_robin",
        "    member ~ 192.0.2.10 site=ams weight=100 priority=0 state=enabled"
        " -> 192.0.2.10 site=ams weight=100 priority=0 state=drained",
        "    member + 192.0.2.20 site=lon weight=100 priority=0 state=enabled",
        "    member - 203.0.113.10 site=nyc weight=300 priority=0 state=enabled",
        "- site nyc",
        "plan: 1 to create, 2 to update, 1 to delete",
    ]


def test_everything_from_empty() -> None:
    result = plan(Inventory(), CURRENT)
    assert [str(c).splitlines()[0] for c in result.changes] == ["+ site ams", "+ site nyc", "+ pool www"]
    assert [str(c) for c in result.changes][2].splitlines() == [
        "+ pool www",
        "    names = [www.gslb.example.test.]",
        "    member + 192.0.2.10 site=ams weight=100 priority=0 state=enabled",
        "    member + 203.0.113.10 site=nyc weight=300 priority=0 state=enabled",
    ]
    assert plan(CURRENT, Inventory()).render().endswith("plan: 3 to delete")


def test_checks_and_their_use_are_shown() -> None:
    web = Check("web", CheckType.HTTP, path="/healthz", expect=((200, 299),))
    checked = replace(
        WWW,
        health_check="web",
        check_overrides=CheckOverrides(interval=1.0),
        members=(
            Member("ams", "192.0.2.10", override=HealthOverride.FORCE_UP),
            Member("nyc", "203.0.113.10", weight=300, check_overrides=CheckOverrides(port=8080)),
        ),
    )
    desired = Inventory(sites=(AMS, NYC), pools=(checked,), checks=(web,))
    assert plan(CURRENT, desired).render().splitlines() == [
        "+ check web",
        "    type = http",
        "    path = /healthz",
        "    expect = [200-299]",
        "~ pool www",
        "    health_check: None -> web",
        "    check_overrides: {} -> {interval=1}",
        "    member ~ 192.0.2.10 site=ams weight=100 priority=0 state=enabled"
        " -> 192.0.2.10 site=ams weight=100 priority=0 state=enabled override=force_up",
        "    member ~ 203.0.113.10 site=nyc weight=300 priority=0 state=enabled"
        " -> 203.0.113.10 site=nyc weight=300 priority=0 state=enabled check={port=8080}",
        "plan: 1 to create, 1 to update",
    ]
    changed = Inventory(sites=(AMS, NYC), pools=(WWW,), checks=(replace(web, fall=3),))
    assert plan(desired, changed).render().splitlines()[:2] == ["~ check web", "    fall: 2 -> 3"]
    assert plan(desired, CURRENT).render().splitlines()[-2:] == [
        "- check web",
        "plan: 1 to update, 1 to delete",
    ]


def test_the_plan_is_the_store_edits_it_will_write() -> None:
    """One differ: the plan's edits are ``inventory_edits``', which the write makes or refuses."""
    desired = Inventory(sites=(AMS,), pools=(replace(WWW, members=WWW.members[:1]),))
    result = plan(CURRENT, desired)
    assert list(result.edits) == inventory_edits(CURRENT, desired)
    assert [str(e) for e in result.edits] == ["delete member www/203.0.113.10", "delete site nyc"]
