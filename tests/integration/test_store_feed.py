"""The change feed every store reader polls through (gslb/store/feed.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import replace

from gslb.model import Member
from gslb.store import Store
from gslb.store.feed import ChangeFeed
from tests.integration.test_store import INVENTORY, LON


def test_the_feed_is_quiet_until_a_write_and_then_reads_only_what_moved(store: Store) -> None:
    start = store.apply_inventory(INVENTORY, "test").revision
    feed = ChangeFeed(store, recheck=60.0)
    assert not feed.quiet()  # never asked: ask
    assert feed.revision() == start
    if store.change_marker() is not None:  # SQLite: the marker stands in for the query
        assert feed.quiet()
    store.put_member("sorry", Member("lon", "198.51.100.2"), "t")
    assert not feed.quiet()
    revision, everything = store.load()
    changes = feed.changes(start)
    assert changes.revision == revision and changes.inventory is None
    assert changes.pools == {"sorry": everything.pool("sorry")}
    assert changes.applied_to(INVENTORY).pool("sorry") == everything.pool("sorry")


def test_a_site_change_reads_everything(store: Store) -> None:
    start = store.apply_inventory(INVENTORY, "test").revision
    store.put_site(replace(LON, region="eu-south"), "t")
    changes = ChangeFeed(store).changes(start)
    assert changes.pools is None and changes.inventory is not None
    assert changes.revision == store.revision()
    assert changes.applied_to(INVENTORY) == changes.inventory
    assert {site.name: site.region for site in changes.inventory.sites}["lon"] == "eu-south"


def test_a_deleted_pool_leaves_the_inventory(store: Store) -> None:
    start = store.apply_inventory(INVENTORY, "test").revision
    store.delete_pool("www", "t")
    changes = ChangeFeed(store).changes(start)
    assert changes.pools == {"www": None}
    assert [pool.name for pool in changes.applied_to(INVENTORY).pools] == ["sorry"]


def test_the_feed_asks_again_after_recheck_even_when_the_marker_stands_still(store: Store) -> None:
    feed = ChangeFeed(store, recheck=0.05)
    assert not feed.quiet()
    time.sleep(0.06)
    assert not feed.quiet()  # the safety net: once per recheck whatever the marker says
