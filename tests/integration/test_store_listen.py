"""PostgreSQL's change notifications (gslb/store/listen.py): a committed write moves every other
store's marker on the same schema within a round trip, a write that changed nothing or another
schema's write does not, and the change feed stays quiet until then."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from functools import partial

import pytest

from gslb.model import Site
from gslb.store import Store, open_store
from gslb.store.feed import ChangeFeed
from tests.integration import waiting
from tests.integration.stores import postgres_schema

SETTLE = 5.0  # seconds a listener may take to connect, or a notification to arrive, on a busy machine
wait_for = partial(waiting.wait_for, timeout=SETTLE, interval=0.005)


@pytest.fixture
def schema_url() -> Iterator[str]:
    with postgres_schema() as url:
        open_store(url).dispose()
        yield url


def test_a_commit_elsewhere_moves_the_marker_and_calls_the_wake_ups(schema_url: str) -> None:
    with Store.open(schema_url) as reader, Store.open(schema_url) as writer:
        assert reader.notifies
        assert wait_for(lambda: reader.change_marker() is not None)  # connected and listening
        woken: list[float] = []
        listener = reader.listener()
        assert listener is not None
        listener.subscribe(lambda: woken.append(time.monotonic()))
        before = reader.change_marker()
        assert before is not None
        written = time.monotonic()
        writer.put_site(Site("ams"), "test")
        assert wait_for(lambda: reader.change_marker() != before)
        assert woken and woken[0] - written < SETTLE
        moved = reader.change_marker()
        writer.put_site(Site("ams"), "test")  # the same site again: nothing changes, nothing commits
        time.sleep(0.3)
        assert reader.change_marker() == moved


def test_another_schemas_writes_are_not_this_stores_changes(schema_url: str) -> None:
    with postgres_schema() as other_url:
        open_store(other_url).dispose()
        with Store.open(schema_url) as reader, Store.open(other_url) as stranger:
            assert wait_for(lambda: reader.change_marker() is not None)
            before = reader.change_marker()
            stranger.put_site(Site("ams"), "test")
            time.sleep(0.3)
            assert reader.change_marker() == before


def test_the_feed_is_quiet_until_a_write_is_announced(schema_url: str) -> None:
    with Store.open(schema_url) as reader, Store.open(schema_url) as writer:
        feed = ChangeFeed(reader, recheck=60.0)
        assert wait_for(lambda: reader.change_marker() is not None)
        assert not feed.quiet()  # the first ask
        assert feed.quiet() and feed.quiet()  # no query while nothing is announced
        writer.put_site(Site("lon"), "test")
        assert wait_for(lambda: not feed.quiet())
        assert feed.revision() == writer.revision()


def test_an_announcement_wakes_an_event_loop(schema_url: str) -> None:
    async def woken_within() -> float:
        with Store.open(schema_url) as reader, Store.open(schema_url) as writer:
            moved = asyncio.Event()
            assert ChangeFeed(reader).wake_on_change(asyncio.get_running_loop(), moved)
            await asyncio.wait_for(moved.wait(), SETTLE)  # the connect itself moves the marker
            moved.clear()
            started = time.monotonic()
            await asyncio.to_thread(writer.put_site, Site("nyc"), "test")
            await asyncio.wait_for(moved.wait(), SETTLE)
            return time.monotonic() - started

    assert asyncio.run(woken_within()) < SETTLE


def test_sqlite_stores_do_not_announce() -> None:
    loop = asyncio.new_event_loop()
    try:
        with Store.open("sqlite:///:memory:") as store:
            assert not store.notifies and store.listener() is None
            assert not ChangeFeed(store).wake_on_change(loop, asyncio.Event())
    finally:
        loop.close()


def test_a_feed_that_does_not_listen_opens_no_connection_and_always_asks(schema_url: str) -> None:
    """A worker's feed: its supervisor listens and relays, so the worker keeps no listener of its own."""
    loop = asyncio.new_event_loop()
    try:
        with Store.open(schema_url) as worker:
            feed = ChangeFeed(worker, listen=False)
            assert not feed.quiet() and not feed.quiet()  # no marker: every poll asks
            assert feed.recheck == 1.0
            assert not feed.wake_on_change(loop, asyncio.Event())
            assert worker._listener is None  # never started
    finally:
        loop.close()
