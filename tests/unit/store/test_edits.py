"""Edits: what differs between two inventories, object by object, in the order it is written."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from gslb.model import AdminState, AllDown, Inventory, Member, Pool, Site
from gslb.store import Action, Edit, ObjectType
from gslb.store.edits import inventory_edits, pool_edits

AMS = Site("ams", vips=(ipaddress.ip_address("192.0.2.1"),))
WWW = Pool(
    "www",
    names=("www.example.test.", "a.example.test."),
    members=(Member("ams", "192.0.2.1"), Member("ams", "192.0.2.2", weight=5)),
)
CURRENT = Inventory(sites=(AMS,), pools=(WWW,))


def test_the_same_content_in_another_order_is_no_edit() -> None:
    shuffled = replace(WWW, names=WWW.names[::-1], members=WWW.members[::-1])
    assert inventory_edits(CURRENT, Inventory(sites=(AMS,), pools=(shuffled,))) == []


def test_an_update_names_only_the_fields_that_changed() -> None:
    changed = replace(
        WWW,
        ttl=60,
        members=(Member("ams", "192.0.2.1", state=AdminState.DRAINED), Member("ams", "192.0.2.3")),
    )
    gone = {"site": "ams", "address": "192.0.2.2", "weight": 5, "priority": 0, "state": "enabled"}
    new = {"site": "ams", "address": "192.0.2.3", "weight": 100, "priority": 0, "state": "enabled"}
    drained = {"state": {"old": "enabled", "new": "drained"}}
    assert pool_edits(WWW, changed) == [
        Edit(Action.UPDATE, ObjectType.POOL, "www", {"ttl": {"old": 30, "new": 60}}),
        Edit(Action.UPDATE, ObjectType.MEMBER, "www/192.0.2.1", drained),
        Edit(Action.DELETE, ObjectType.MEMBER, "www/192.0.2.2", gone),
        Edit(Action.CREATE, ObjectType.MEMBER, "www/192.0.2.3", new),
    ]


def test_created_and_deleted_objects_carry_their_fields_as_json() -> None:
    created = inventory_edits(Inventory(), CURRENT)
    assert [str(e) for e in created] == [
        "create site ams",
        "create pool www",
        "create member www/192.0.2.1",
        "create member www/192.0.2.2",
    ]
    assert created[0].detail == {
        "region": "",
        "description": "",
        "subnets": [],
        "lvs_mode": None,
        "vips": ["192.0.2.1"],
    }
    assert created[1].detail["names"] == ["a.example.test.", "www.example.test."]
    assert created[1].detail["policy"] == "weighted"
    deleted = inventory_edits(CURRENT, Inventory())
    assert [str(e) for e in deleted] == [
        "delete member www/192.0.2.1",
        "delete member www/192.0.2.2",
        "delete pool www",
        "delete site ams",
    ]
    assert deleted[3].detail == created[0].detail


def test_pools_are_edited_after_their_fallback_and_deleted_before_it() -> None:
    backup = Pool("a-backup", names=())
    front = replace(WWW, name="front", all_down=AllDown.FALLBACK, fallback="a-backup", names=())
    tail = replace(backup, name="z-last", all_down=AllDown.FALLBACK, fallback="front")
    both = Inventory(pools=(tail, front, backup))

    def pools(old: Inventory, new: Inventory) -> list[str]:
        return [e.object_name for e in inventory_edits(old, new) if e.object_type == ObjectType.POOL]

    assert pools(Inventory(), both) == ["a-backup", "front", "z-last"]
    assert pools(both, Inventory()) == ["z-last", "front", "a-backup"]
