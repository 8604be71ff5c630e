"""The change feed: how a reader of the store (a snapshot follower, the supervisor, the health
process) learns that the store moved, and reads only what moved.

Every reader polls, so the poll must be nearly free while nothing is written: the store's change
marker (SQLite's ``data_version``, or PostgreSQL's change notifications, which also wake a reader's
event loop at once) answers without a query, and the revision is asked only when it moves, or once
per ``recheck`` seconds as a safety net. What moved is then read as a delta (the
pools written since the reader's revision) or, when a delta cannot say, as the whole inventory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from gslb.model import Inventory, Pool
from gslb.runtime import gcpause
from gslb.store.repository import Store

RECHECK = 1.0
"""Seconds after which the revision is asked even though the change marker did not move."""
ANNOUNCED_RECHECK = 5.0
"""The same where writes are announced (PostgreSQL's notifications): a lost announcement is a lost
connection, which the marker shows at once, so the poll is only a slow safety net; an idle node
asks the shared database a fraction of a query a second."""


@dataclass(frozen=True, slots=True)
class Changes:
    """The store at ``revision``: either the pools written since the reader's revision (``pools``,
    None for a deleted pool) or, when only a full read can say, everything (``inventory``)."""

    revision: int
    pools: Mapping[str, Pool | None] | None = None
    inventory: Inventory | None = None

    def applied_to(self, inventory: Inventory) -> Inventory:
        """``inventory`` brought to this revision (the whole inventory when there is one)."""
        if self.inventory is not None:
            return self.inventory
        pools = {pool.name: pool for pool in inventory.pools}
        for name, pool in (self.pools or {}).items():
            if pool is None:
                pools.pop(name, None)
            else:
                pools[name] = pool
        return replace(inventory, pools=tuple(pools.values()))


class ChangeFeed:
    """One reader's view of the store's changes. Not thread-safe: one per reader."""

    def __init__(self, store: Store, recheck: float | None = None, *, listen: bool = True) -> None:
        """``listen=False``: never listen for announcements (a worker, whose supervisor listens and
        relays each store move); the store's marker is then used only where it costs no connection."""
        self.store = store
        self.listen = listen or not store.notifies
        announced = store.notifies and self.listen
        self.recheck = recheck if recheck is not None else ANNOUNCED_RECHECK if announced else RECHECK
        self._marker: int | None = None  # the change marker when the revision was last asked
        self._asked = 0.0  # monotonic time of that ask

    def quiet(self) -> bool:
        """True when nothing can have been written since the last ask: no query is needed.

        When it is False the marker is taken now, before the caller asks the revision, so a
        write that lands in between shows at the next poll rather than being missed.
        """
        marker = self.store.change_marker() if self.listen else None
        now = time.monotonic()
        if marker is not None and marker == self._marker and now - self._asked < self.recheck:
            return True
        self._marker, self._asked = marker, now
        return False

    def wake_on_change(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> bool:
        """Set ``event`` (on ``loop``) as soon as any node's write is announced; False where writes
        are not announced (SQLite), and polling alone finds them."""
        listener = self.store.listener() if self.listen else None
        if listener is None:
            return False
        listener.subscribe(lambda: None if loop.is_closed() else loop.call_soon_threadsafe(event.set))
        return True

    def revision(self) -> int:
        """The store's revision (one query; blocking, so callers run it in a thread)."""
        return self.store.revision()

    def changes(self, since: int) -> Changes:
        """What changed after revision ``since``: a delta when the store can give one (a write of
        pools and members only, and not too many), else everything. Blocking; StoreError when
        unreadable."""
        delta = self.store.delta(since)
        if delta is not None:
            return Changes(delta.revision, pools=delta.pools)
        revision, inventory = self.everything()
        return Changes(revision, inventory=inventory)

    def everything(self) -> tuple[int, Inventory]:
        """The whole inventory with its revision: one consistent read (blocking)."""
        with gcpause.paused():  # a large inventory is many objects, and no cycles to collect
            return self.store.load()
