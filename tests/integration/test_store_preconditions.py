"""Conditional writes on SQLite and PostgreSQL: the precondition sees the object as stored, inside
the write transaction, so of two writers that read the same state only one can write.

The admin API's If-Match rests on this (gslb/api/etags.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from gslb.errors import PreconditionError
from gslb.model import AdminState, Check, CheckType, Member, Site
from gslb.store import Outcome, Store
from tests.integration.stores import patch_member
from tests.integration.test_store import (
    AMS,
    HTTP_ROOT,
    INVENTORY,
    LON,
    NYC,
    SORRY,
    WWW,
)

PAR = Site("par", region="eu-west")
TCP = Check("tcp", CheckType.TCP, port=443)
SETUP = replace(INVENTORY, sites=(*INVENTORY.sites, PAR), checks=(*INVENTORY.checks, TCP)).normalized()
WWW_STORED = SETUP.pools[1]
NEW_MEMBER = Member("lon", "198.51.100.2")
# Each conditional write, and the value its precondition must be shown: the object as stored.
WRITES: dict[str, tuple[Callable[[Store, Any], Outcome], object]] = {
    "put_site": (lambda s, p: s.put_site(replace(LON, region="eu"), "t", p), LON),
    "put_site (new)": (lambda s, p: s.put_site(Site("mad"), "t", p), None),
    "delete_site": (lambda s, p: s.delete_site("par", "t", p), PAR),
    "put_check": (lambda s, p: s.put_check(replace(TCP, port=80), "t", p), TCP),
    "delete_check": (lambda s, p: s.delete_check("tcp", "t", p), TCP),
    "put_pool": (lambda s, p: s.put_pool(replace(SORRY, ttl=5), "t", p), SORRY),
    "delete_pool": (lambda s, p: s.delete_pool("www", "t", p), WWW_STORED),
    "put_member (new)": (lambda s, p: s.put_member("sorry", NEW_MEMBER, "t", p), None),
    "put_member": (lambda s, p: s.put_member("sorry", replace(SORRY.members[0], weight=1), "t", p),
                   SORRY.members[0]),
    "patch_member": (lambda s, p: patch_member(s, "www", "192.0.2.10", "t", weight=7, precondition=p),
                     WWW.members[1]),
    "delete_member": (lambda s, p: s.delete_member("www", "192.0.2.10", "t", p), WWW.members[1]),
}  # fmt: skip


@pytest.mark.parametrize("name", list(WRITES))
def test_a_failed_precondition_writes_nothing(store: Store, name: str) -> None:
    store.apply_inventory(SETUP, "test")
    before = store.load()
    write, stored = WRITES[name]
    seen: list[object] = []

    def refuse(current: object) -> None:
        seen.append(current)
        raise PreconditionError("object", "x", "changed since it was read", "If-Match")

    with pytest.raises(PreconditionError):
        write(store, refuse)
    assert seen == [stored]
    assert store.load() == before
    # A passing precondition lets the same write through.
    assert write(store, lambda current: None).changed


def test_a_precondition_is_tested_after_the_lock(store: Store) -> None:
    """Two writers expect the site as they both read it; the second is tested against the first's
    committed write, even though it started while the first was still in its transaction."""
    store.apply_inventory(INVENTORY, "test")
    read = store.site("ams")
    first_inside = threading.Event()
    release_first = threading.Event()
    results: dict[str, str] = {}

    def expect_read(who: str) -> Callable[[Site | None], None]:
        def test(current: Site | None) -> None:
            if who == "first":
                first_inside.set()
                release_first.wait(5)
            if current != read:
                raise PreconditionError("site", "ams", "changed since it was read", "If-Match")

        return test

    def writer(who: str, region: str) -> None:
        assert read is not None
        try:
            store.put_site(Site("ams", region=region, vips=read.vips), who, expect_read(who))
            results[who] = "written"
        except PreconditionError:
            results[who] = "refused"

    first = threading.Thread(target=writer, args=("first", "one"))
    first.start()
    assert first_inside.wait(5)
    second = threading.Thread(target=writer, args=("second", "two"))
    second.start()
    time.sleep(0.2)  # the second is now waiting for the revision lock the first holds
    assert "second" not in results
    release_first.set()
    first.join(10)
    second.join(10)
    assert results == {"first": "written", "second": "refused"}
    stored = store.site("ams")
    assert stored is not None and stored.region == "one"
    assert [c.actor for c in store.changes()][-1] == "first"


def test_item_reads(store: Store) -> None:
    store.apply_inventory(INVENTORY, "test")
    assert store.site("ams") == AMS and store.site("nope") is None
    assert store.sites() == (AMS, LON, NYC)
    assert store.check("http-root") == HTTP_ROOT and store.checks() == (HTTP_ROOT,)
    www = store.pool("www")
    assert www is not None and www == store.load()[1].pool("www")
    assert store.pool("nope") is None
    assert {m.state for m in www.members} >= {AdminState.DRAINED}
